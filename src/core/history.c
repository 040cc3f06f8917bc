#include "core/history.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "core/archive.h"
#include "core/event.h"

/* Retained events live in a ring indexed by seq; a linear-probing table maps ids to events.
 * The table is sized at twice the ring, so it is at most half full and probes stay short; a
 * deletion shifts the following entries of its cluster back (Knuth's algorithm R), which keeps
 * every lookup exact without tombstones. */
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
    uint64_t break_seq;      /* events older than this came before the newest break */
    _Atomic uint64_t breaks; /* breaks marked so far */

    const struct event **ids;
    size_t ids_mask;
    struct archive *archive; /* older events than memory holds, or NULL */
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
    if (max_events == 0) return NULL;
    struct history *h = calloc(1, sizeof(*h));
    if (!h) return NULL;
    pthread_mutex_init(&h->lock, NULL);
    h->ring_mask = pow2_at_least(max_events) - 1;
    h->ring = calloc(h->ring_mask + 1, sizeof(*h->ring));
    h->ids_mask = pow2_at_least((uint64_t)max_events * 2) - 1;
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

static size_t id_home(const struct history *h, const char *id, size_t len)
{
    return hash_words(id, len) & h->ids_mask;
}

/* The slot holding id, or the empty slot where it would go. */
static size_t ids_slot(const struct history *h, const char *id, size_t len)
{
    size_t i = id_home(h, id, len);
    while (h->ids[i] && !(h->ids[i]->id_len == len && memcmp(h->ids[i]->id, id, len) == 0))
        i = (i + 1) & h->ids_mask;
    return i;
}

static void ids_put(struct history *h, const struct event *ev)
{
    /* A later event reusing an id takes the entry over. */
    h->ids[ids_slot(h, ev->id, ev->id_len)] = ev;
}

static void ids_delete(struct history *h, size_t i)
{
    h->ids[i] = NULL;
    /* Shift back every later entry of the cluster that may no longer be reachable from its home
     * slot across the hole at i. */
    for (size_t j = (i + 1) & h->ids_mask; h->ids[j]; j = (j + 1) & h->ids_mask) {
        size_t home = id_home(h, h->ids[j]->id, h->ids[j]->id_len);
        /* The entry at j stays when its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays) continue;
        h->ids[i] = h->ids[j];
        h->ids[j] = NULL;
        i = j;
    }
}

static struct event *evict_oldest(struct history *h)
{
    struct event *ev = h->ring[h->first & h->ring_mask];
    h->ring[h->first & h->ring_mask] = NULL;
    h->first++;
    h->bytes -= ev->mem;
    h->evicted++;
    size_t i = ids_slot(h, ev->id, ev->id_len);
    if (h->ids[i] == ev) ids_delete(h, i); /* else a later event owns the id now */
    return ev;
}

void history_append(struct history *h, struct event *ev, struct event **evicted)
{
    ev->seq = h->next;
    while (h->next - h->first >= h->max_events ||
           (h->next > h->first && h->bytes + ev->mem > h->max_bytes)) {
        struct event *old = evict_oldest(h);
        old->evicted_next = *evicted;
        *evicted = old;
    }
    event_ref(ev);
    h->ring[h->next & h->ring_mask] = ev;
    h->next++;
    h->bytes += ev->mem;
    ids_put(h, ev);
    atomic_store_explicit(&h->last_seq, ev->seq, memory_order_release);
}

void history_release_evicted(struct event *ev)
{
    while (ev) {
        struct event *next = ev->evicted_next;
        event_unref(ev);
        ev = next;
    }
}

void history_set_archive(struct history *h, struct archive *a)
{
    h->archive = a;
}

struct archive *history_archive(const struct history *h)
{
    return h->archive;
}

enum history_start history_replay_lookup(struct history *h, const char *id, size_t id_len,
                                         uint64_t *from_seq)
{
    pthread_mutex_lock(&h->lock);
    const struct event *ev = NULL;
    if (!id) {
        *from_seq = h->first;
    } else {
        ev = h->ids[ids_slot(h, id, id_len)];
        if (ev) *from_seq = ev->seq + 1;
    }
    uint64_t break_seq = h->break_seq;
    pthread_mutex_unlock(&h->lock);
    if (!id) {
        uint64_t oldest = h->archive ? archive_oldest(h->archive) : 0;
        if (oldest && oldest < *from_seq) *from_seq = oldest;
        return HISTORY_START_FOUND;
    }
    if (!ev) return h->archive ? HISTORY_START_ARCHIVE : HISTORY_START_UNKNOWN;
    /* An id from before a break cannot resume gap-free: answer it as unknown. */
    return *from_seq - 1 < break_seq ? HISTORY_START_UNKNOWN : HISTORY_START_FOUND;
}

bool history_replay_after(struct history *h, uint64_t seq, uint64_t *from_seq)
{
    pthread_mutex_lock(&h->lock);
    uint64_t break_seq = h->break_seq;
    pthread_mutex_unlock(&h->lock);
    if (seq < break_seq) return false;
    *from_seq = seq + 1;
    return true;
}

size_t history_read(struct history *h, uint64_t from, uint64_t upto, struct event **out, size_t max,
                    bool *gap, uint64_t *oldest)
{
    size_t n = 0;
    pthread_mutex_lock(&h->lock);
    *gap = from < h->first;
    if (oldest) *oldest = h->first;
    if (!*gap) {
        if (upto >= h->next) upto = h->next - 1;
        for (uint64_t s = from; s <= upto && n < max; s++) {
            struct event *ev = h->ring[s & h->ring_mask];
            event_ref(ev);
            out[n++] = ev;
        }
    }
    pthread_mutex_unlock(&h->lock);
    return n;
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

void history_mark_break(struct history *h)
{
    pthread_mutex_lock(&h->lock);
    h->break_seq = h->next;
    pthread_mutex_unlock(&h->lock);
    atomic_fetch_add_explicit(&h->breaks, 1, memory_order_release);
}

uint64_t history_breaks(struct history *h)
{
    return atomic_load_explicit(&h->breaks, memory_order_acquire);
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
