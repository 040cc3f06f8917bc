#include "history.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

/* Retained events live in a ring indexed by seq; an open-addressing table maps ids to seqs. */
struct id_slot {
    const struct event *ev; /* NULL: empty; TOMBSTONE: deleted */
};
#define TOMBSTONE ((const struct event *)1)

struct history {
    pthread_mutex_t lock;
    struct event **ring;
    uint64_t ring_mask;
    uint64_t first; /* seq of the oldest retained event */
    uint64_t next;  /* seq the next append gets; seqs start at 1 */
    size_t bytes, max_bytes;
    uint32_t max_events;
    uint64_t evicted;
    _Atomic uint64_t last_seq;

    struct id_slot *ids;
    size_t ids_mask, ids_used; /* used counts tombstones too */
};

static uint64_t pow2_at_least(uint64_t v)
{
    uint64_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

struct history *history_new(uint32_t max_events, size_t max_bytes)
{
    struct history *h = calloc(1, sizeof(*h));
    if (!h) return NULL;
    pthread_mutex_init(&h->lock, NULL);
    h->ring_mask = pow2_at_least(max_events) - 1;
    h->ring = calloc(h->ring_mask + 1, sizeof(*h->ring));
    h->ids_mask = pow2_at_least((uint64_t)max_events * 2 + 16) - 1;
    h->ids = calloc(h->ids_mask + 1, sizeof(*h->ids));
    if (!h->ring || !h->ids) {
        history_free(h);
        return NULL;
    }
    h->first = h->next = 1;
    h->max_events = max_events;
    h->max_bytes = max_bytes;
    return h;
}

void history_free(struct history *h)
{
    if (!h) return;
    if (h->ring)
        for (uint64_t s = h->first; s < h->next; s++)
            event_unref(h->ring[s & h->ring_mask]);
    free(h->ring);
    free(h->ids);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

void history_lock(struct history *h)
{
    pthread_mutex_lock(&h->lock);
}

void history_unlock(struct history *h)
{
    pthread_mutex_unlock(&h->lock);
}

static uint32_t id_hash(const char *s, size_t len)
{
    return topic_hash(s, len);
}

/* Finds the slot holding id, or NULL. */
static struct id_slot *ids_find(struct history *h, const char *id, size_t len)
{
    for (size_t i = id_hash(id, len) & h->ids_mask;; i = (i + 1) & h->ids_mask) {
        struct id_slot *s = &h->ids[i];
        if (!s->ev) return NULL;
        if (s->ev != TOMBSTONE && s->ev->id_len == len && memcmp(s->ev->id, id, len) == 0) return s;
    }
}

/* Rebuilds the table without tombstones from the retained events. */
static void ids_rebuild(struct history *h)
{
    memset(h->ids, 0, (h->ids_mask + 1) * sizeof(*h->ids));
    h->ids_used = 0;
    for (uint64_t s = h->first; s < h->next; s++) {
        const struct event *ev = h->ring[s & h->ring_mask];
        struct id_slot *old = ids_find(h, ev->id, ev->id_len);
        if (old) { /* a later event reusing an id wins */
            old->ev = ev;
            continue;
        }
        size_t i = id_hash(ev->id, ev->id_len) & h->ids_mask;
        while (h->ids[i].ev)
            i = (i + 1) & h->ids_mask;
        h->ids[i].ev = ev;
        h->ids_used++;
    }
}

static void ids_put(struct history *h, const struct event *ev)
{
    struct id_slot *old = ids_find(h, ev->id, ev->id_len);
    if (old) {
        old->ev = ev;
        return;
    }
    /* Table sized at twice the events: keep it at most 3/4 full, tombstones included. */
    if ((h->ids_used + 1) * 4 > (h->ids_mask + 1) * 3) {
        ids_rebuild(h); /* ev is already in the ring, so the rebuild indexes it */
        return;
    }
    size_t i = id_hash(ev->id, ev->id_len) & h->ids_mask;
    while (h->ids[i].ev && h->ids[i].ev != TOMBSTONE)
        i = (i + 1) & h->ids_mask;
    if (!h->ids[i].ev) h->ids_used++;
    h->ids[i].ev = ev;
}

static void evict_oldest(struct history *h)
{
    struct event *ev = h->ring[h->first & h->ring_mask];
    h->ring[h->first & h->ring_mask] = NULL;
    h->first++;
    h->bytes -= ev->mem;
    h->evicted++;
    struct id_slot *s = ids_find(h, ev->id, ev->id_len);
    if (s && s->ev == ev) s->ev = TOMBSTONE;
    event_unref(ev);
}

void history_append(struct history *h, struct event *ev)
{
    ev->seq = h->next;
    while (h->next - h->first >= h->max_events ||
           (h->next > h->first && h->bytes + ev->mem > h->max_bytes))
        evict_oldest(h);
    event_ref(ev);
    h->ring[h->next & h->ring_mask] = ev;
    h->next++;
    h->bytes += ev->mem;
    ids_put(h, ev);
    atomic_store_explicit(&h->last_seq, ev->seq, memory_order_release);
}

int history_replay(struct history *h, enum replay_from from, const char *id, size_t id_len,
                   struct replay *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&h->lock);
    out->upto = h->next - 1;
    uint64_t start = h->first;
    if (from == REPLAY_AFTER_ID) {
        struct id_slot *s = ids_find(h, id, id_len);
        if (!s) {
            pthread_mutex_unlock(&h->lock);
            return 0;
        }
        start = s->ev->seq + 1;
    }
    out->found = true;
    size_t n = (size_t)(h->next - start);
    if (n) {
        out->events = malloc(n * sizeof(*out->events));
        if (!out->events) {
            pthread_mutex_unlock(&h->lock);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            struct event *ev = h->ring[(start + i) & h->ring_mask];
            event_ref(ev);
            out->events[i] = ev;
        }
        out->n = n;
    }
    pthread_mutex_unlock(&h->lock);
    return 0;
}

void replay_release(struct replay *r)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->events[i]) event_unref(r->events[i]);
    free(r->events);
    memset(r, 0, sizeof(*r));
}

void history_last_id(struct history *h, char *out, size_t cap)
{
    pthread_mutex_lock(&h->lock);
    if (h->next > h->first) {
        const struct event *ev = h->ring[(h->next - 1) & h->ring_mask];
        snprintf(out, cap, "%.*s", (int)ev->id_len, ev->id);
    } else {
        snprintf(out, cap, "earliest");
    }
    pthread_mutex_unlock(&h->lock);
}

uint64_t history_last_seq(struct history *h)
{
    return atomic_load_explicit(&h->last_seq, memory_order_acquire);
}

void history_stats(struct history *h, struct history_stats *out)
{
    pthread_mutex_lock(&h->lock);
    out->events = h->next - h->first;
    out->bytes = h->bytes;
    out->evicted = h->evicted;
    pthread_mutex_unlock(&h->lock);
}
