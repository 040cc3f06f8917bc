#include "mercure/subscriptions.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "common/buf.h"
#include "common/hash.h"
#include "common/list.h"
#include "common/log.h"
#include "common/rand.h"
#include "core/authority.h"
#include "core/event.h"
#include "core/history.h"
#include "http/cors.h"
#include "http/form.h"
#include "http/http.h"
#include "mercure/handlers.h"
#include "mercure/context.h"
#include "mercure/resource_metadata.h"
#include "mercure/session.h"
#include "mercure/token.h"
#include "net/conn.h"
#include "server/fanout.h"
#include "server/worker.h"
#include "ssebroker/config.h"

#define HUB_PATH  "/.well-known/mercure"
#define SUBS_PATH HUB_PATH "/subscriptions"

/* What a subscription is, which decides the shape of its events and API documents (each
 * subscription in its own dialect, MERCURE-1.0.md Part B section 2 rule 9): a draft-07 topic=
 * selector gets JSON-LD on SUBS_PATH/{topic}/{subscriber} with no SSE type; a Mercure 1.0 matcher
 * gets plain JSON on SUBS_PATH/{match_type}/{match}/{subscriber} with `event: mercure`. */
enum sub_kind {
    SUB_TOPIC,      /* draft-07 topic= */
    SUB_EXACT,      /* 1.0 match= / match_exact= */
    SUB_URLPATTERN, /* 1.0 match_urlpattern= */
};
#define SUB_ANY (-1)

/* The 1.0 matcher type names, in their canonical case (the path segment and match_type). */
static const char *const kind_name[] = {
    [SUB_TOPIC] = "", [SUB_EXACT] = "exact", [SUB_URLPATTERN] = "urlpattern"};

static enum sub_kind kind_of(enum selector_syntax syntax)
{
    switch (syntax) {
    case SELECTOR_SYNTAX_EXACT:
        return SUB_EXACT;
    case SELECTOR_SYNTAX_URLPATTERN:
        return SUB_URLPATTERN;
    default:
        return SUB_TOPIC;
    }
}

/* A registry entry. The registry holds one reference while the stream lives; the API holds one
 * per record while it builds its answer outside the lock, so a record owns its strings and is
 * freed by whoever drops the last reference. */
struct sub_record {
    struct list_node link; /* in the registry, newest first */
    _Atomic unsigned refs;
    enum sub_kind kind;
    bool remote;              /* another node's (cluster presence), also in the remote table */
    struct sub_record *hnext; /* the remote table's chain */
    uint32_t hash;            /* of id, for the remote table */
    char *id;                 /* its events' topic (see enum sub_kind), percent-encoded once */
    char *match;              /* the selector or matcher text, as the subscriber gave it */
    size_t match_len;
    char *subscriber;
    char *payload; /* compact JSON, or NULL */
};

/* The mutex guards the list, its count and generation only: it is held for pointer updates and
 * a scan, never across an allocation, a free, JSON building or a publish. */
struct subscriptions {
    pthread_mutex_t lock;
    struct list_node records; /* this node's and, in cluster mode, the others' */
    size_t count;
    uint64_t gen; /* bumped by every change: part of the API's ETag (see take_snapshot) */
    /* The other nodes' records by id (cluster presence): chained, a power of two of buckets. */
    struct sub_record **remote;
    size_t remote_buckets, nremote;
    struct mercure *m; /* for the store's presence callbacks */
    struct authority_presence presence;
};

static void record_unref(struct sub_record *r)
{
    if (!r || atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1) return;
    free(r->id);
    free(r->match);
    free(r->subscriber);
    free(r->payload);
    free(r);
}

struct subscriptions *subscriptions_new(void)
{
    struct subscriptions *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    pthread_mutex_init(&s->lock, NULL);
    list_init(&s->records);
    return s;
}

void subscriptions_free(struct subscriptions *s)
{
    if (!s) return;
    /* Only other nodes' records are left: this node's went with their streams. */
    struct list_node *n, *tmp;
    list_for_each_safe(n, tmp, &s->records)
    {
        struct sub_record *r = list_entry(n, struct sub_record, link);
        list_remove(&r->link);
        record_unref(r);
    }
    free(s->remote);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* Appends s percent-encoded once: everything but RFC 3986 unreserved characters (RFC 6570
 * simple expansion; a '%' the text already has is encoded too). Returns 0, or -1 when out of
 * memory. */
static int append_encoded(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool unreserved = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                          (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
                          ch == '~';
        char esc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
        if (unreserved ? buf_append(b, (const char *)&ch, 1) : buf_append(b, esc, 3)) return -1;
    }
    return 0;
}

/* The record's id, NUL-terminated, or NULL: SUBS_PATH "/" enc(topic) "/" enc(subscriber) for a
 * draft-07 subscription, SUBS_PATH "/" match_type "/" enc(match) "/" enc(subscriber) for 1.0. */
static char *record_id(enum sub_kind kind, const char *sel, size_t sel_len, const char *subscriber)
{
    struct buf id = {0};
    if (buf_append(&id, SUBS_PATH "/", sizeof(SUBS_PATH)) ||
        (kind != SUB_TOPIC && buf_printf(&id, "%s/", kind_name[kind])) ||
        append_encoded(&id, sel, sel_len) || buf_append(&id, "/", 1) ||
        append_encoded(&id, subscriber, strlen(subscriber))) {
        buf_free(&id);
        return NULL;
    }
    return id.p;
}

/* The document describing r: a 1.0 subscription's is the subscription event's body (Mercure 1.0
 * "Subscription Events"); a draft-07 one's is JSON-LD (context: with its @context, as the events
 * and single documents have it; collections carry it once at the top). */
static json_t *record_json(const struct sub_record *r, bool active, bool context)
{
    json_t *o = json_object();
    if (r->kind == SUB_TOPIC && context)
        json_object_set_new(o, "@context", json_string("https://mercure.rocks/"));
    json_object_set_new(o, "id", json_string(r->id));
    json_object_set_new(o, "type",
                        json_string(r->kind == SUB_TOPIC ? "Subscription" : "subscription"));
    if (r->kind == SUB_TOPIC) {
        json_object_set_new(o, "topic", json_stringn(r->match, r->match_len));
    } else {
        json_object_set_new(o, "match_type", json_string(kind_name[r->kind]));
        json_object_set_new(o, "match", json_stringn(r->match, r->match_len));
    }
    json_object_set_new(o, "subscriber", json_string(r->subscriber));
    json_object_set_new(o, "active", json_boolean(active));
    if (r->payload) {
        json_t *p = json_loads(r->payload, JSON_DECODE_ANY, NULL);
        if (p) json_object_set_new(o, "payload", p);
    }
    return o;
}

/* The subscription event for r (private, on its own topic; a 1.0 one dispatched with the
 * reserved SSE type "mercure", which publishers cannot use), or NULL when out of memory. */
static struct event *record_event(const struct sub_record *r, bool active)
{
    json_t *o = record_json(r, active, true);
    char *data = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!data) return NULL;
    char id[RAND_URN_UUID_LEN + 1];
    rand_urn_uuid(id);
    struct sseb_str topic = {r->id, strlen(r->id)};
    struct sseb_update u = {.topics = &topic,
                            .ntopics = 1,
                            .data = {data, strlen(data)},
                            .id = {id, strlen(id)},
                            .private_ = true};
    if (r->kind != SUB_TOPIC) u.type = (struct sseb_str){"mercure", 7};
    struct event *ev = event_new(&u);
    free(data);
    if (ev) ev->presence = active ? EVENT_PRESENCE_ANNOUNCE : EVENT_PRESENCE_WITHDRAW;
    return ev;
}

/* Publishes the subscription events[0..n) (NULL: could not be built) and releases them (w:
 * the worker publishing, NULL on the store's threads). Called
 * after the registry changed, outside its lock: an API answer taken in between lists the change
 * with a lastEventID before its event, so a client that follows on from it sees the event once
 * more (idempotent), never misses one. */
static void publish_events(struct mercure *m, struct worker *w, struct event **events, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct event *ev = events[i];
        /* Never waits: this runs on a worker (maybe the slowest bus consumer, which waiting
         * would not help). A full bus drops the event, counted and logged. Nobody waits for a
         * subscription event: no ticket, and PENDING means taken. */
        enum authority_result res =
            ev ? authority_submit(m->authority, ev, NULL) : AUTHORITY_FAILED;
        if (res != AUTHORITY_STORED && res != AUTHORITY_PENDING) {
            if (w) STAT_ADD(&w->stats, subscription_events_dropped, 1);
            log_warn("subscription event dropped", "worker=%d reason=%s", w ? w->id : -1,
                     !ev                     ? "out_of_memory"
                     : res == AUTHORITY_FULL ? "bus_full"
                                             : "store_refused");
        }
        if (ev) event_unref(ev);
    }
}

static struct sub_record *record_new(enum sub_kind kind, const char *sel, size_t sel_len,
                                     const char *subscriber, const char *payload)
{
    struct sub_record *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    atomic_init(&r->refs, 1);
    r->kind = kind;
    r->id = record_id(kind, sel, sel_len, subscriber);
    r->match = strndup(sel, sel_len);
    r->match_len = sel_len;
    r->subscriber = strdup(subscriber);
    r->payload = payload ? strdup(payload) : NULL;
    if (!r->id || !r->match || !r->subscriber || (payload && !r->payload)) {
        record_unref(r);
        return NULL;
    }
    return r;
}

void subscriptions_stream_started(struct mercure *m, struct worker *w, struct conn *c,
                                  const enum selector_syntax *syntax)
{
    struct subscriptions *s = m->subscriptions;
    struct session *ss = c->session;
    const struct stream *st = conn_stream(c);
    ss->subscriber_id = malloc(RAND_URN_UUID_LEN + 1);
    ss->records = calloc(st->nsubs, sizeof(*ss->records));
    struct event **events = calloc(st->nsubs, sizeof(*events));
    if (!ss->subscriber_id || !ss->records || !events) {
        free(ss->records);
        ss->records = NULL;
        free(events);
        return;
    }
    /* Generated by the hub, one per connection: never taken from the client, and two tabs with
     * one token get two (Mercure 1.0 "Subscription Events"). */
    rand_urn_uuid(ss->subscriber_id);
    /* Everything is built before the lock; under it, only links. */
    uint32_t n = 0;
    for (; n < st->nsubs; n++) {
        size_t sel_len;
        const char *sel = stream_selector(st, n, &sel_len);
        /* 1.0: the payload of the first subscribe detail matching the matcher string itself;
         * draft-07: the token's mercure.payload (the token's dialect decides, rule 13). */
        const char *payload = ss->claims ? auth_payload_for(ss->claims, sel, sel_len) : NULL;
        struct sub_record *r = record_new(syntax ? kind_of(syntax[n]) : SUB_TOPIC, sel, sel_len,
                                          ss->subscriber_id, payload);
        if (!r) break;
        ss->records[n] = r;
        events[n] = record_event(r, true);
    }
    pthread_mutex_lock(&s->lock);
    for (uint32_t i = 0; i < n; i++) {
        list_push_front(&s->records, &ss->records[i]->link);
        s->count++;
    }
    s->gen++;
    pthread_mutex_unlock(&s->lock);
    publish_events(m, w, events, n);
    free(events);
}

void subscriptions_stream_ended(struct mercure *m, struct worker *w, struct conn *c)
{
    struct subscriptions *s = m->subscriptions;
    struct session *ss = c->session;
    uint32_t n = conn_stream(c) ? conn_stream(c)->nsubs : 0;
    struct event **events = ss->records && n ? calloc(n, sizeof(*events)) : NULL;
    if (ss->records) {
        for (uint32_t i = 0; events && i < n; i++)
            if (ss->records[i]) events[i] = record_event(ss->records[i], false);
        pthread_mutex_lock(&s->lock);
        for (uint32_t i = 0; i < n; i++) {
            struct sub_record *r = ss->records[i];
            if (!r) continue;
            list_remove(&r->link);
            s->count--;
        }
        s->gen++;
        pthread_mutex_unlock(&s->lock);
        if (events) {
            publish_events(m, w, events, n);
        } else if (n) {
            STAT_ADD(&w->stats, subscription_events_dropped, n);
            log_warn("subscription event dropped", "worker=%d reason=out_of_memory", w->id);
        }
        for (uint32_t i = 0; i < n; i++)
            record_unref(ss->records[i]);
    }
    free(events);
    free(ss->records);
    ss->records = NULL;
    free(ss->subscriber_id);
    ss->subscriber_id = NULL;
}

/* Which records an API request asks for. */
struct filter {
    int kind; /* enum sub_kind, or SUB_ANY */
    const char *match;
    long match_len; /* -1: any */
    const char *subscriber;
    long sub_len; /* -1: any */
};

/* The records the API answers with, each with a reference of its own, and the last event id
 * and registry generation they are consistent with: taken under the lock, with the room
 * allocated before it. */
struct snapshot {
    struct sub_record **recs;
    size_t n;
    uint64_t gen;
    char last_id[1100]; /* ids are at most 1024 bytes (publish_parse.c) */
};

static bool record_matches(const struct sub_record *rec, const struct filter *f)
{
    if (f->kind != SUB_ANY && (int)rec->kind != f->kind) return false;
    if (f->match_len >= 0 &&
        (rec->match_len != (size_t)f->match_len || memcmp(rec->match, f->match, rec->match_len)))
        return false;
    return f->sub_len < 0 || (strlen(rec->subscriber) == (size_t)f->sub_len &&
                              !memcmp(rec->subscriber, f->subscriber, (size_t)f->sub_len));
}

static int take_snapshot(struct mercure *m, struct snapshot *snap, const struct filter *f)
{
    struct subscriptions *s = m->subscriptions;
    size_t cap = 0;
    snap->recs = NULL;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        size_t count = s->count;
        if (count <= cap) break; /* the lock is kept */
        pthread_mutex_unlock(&s->lock);
        free(snap->recs);
        cap = count + count / 8 + 16;
        snap->recs = malloc(cap * sizeof(*snap->recs));
        if (!snap->recs) return -1;
    }
    snap->n = 0;
    /* The registry changes before its events are published (publish_events): the last event id
     * alone could name two different lists, so the generation goes into the ETag too. */
    snap->gen = s->gen;
    history_last_id(m->history, snap->last_id, sizeof(snap->last_id));
    struct list_node *n, *tmp;
    list_for_each_safe(n, tmp, &s->records)
    {
        struct sub_record *rec = list_entry(n, struct sub_record, link);
        if (!record_matches(rec, f)) continue;
        atomic_fetch_add_explicit(&rec->refs, 1, memory_order_relaxed);
        snap->recs[snap->n++] = rec;
        if (f->sub_len >= 0) break; /* one record asked for */
    }
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void snapshot_free(struct snapshot *snap)
{
    for (size_t i = 0; i < snap->n; i++)
        record_unref(snap->recs[i]);
    free(snap->recs);
}

/* The routes of the API. Segments after /subscriptions: none, one (draft-07 {topic}), two
 * (1.0 {match_type}/{match} when the first is "exact" or "urlpattern", else draft-07
 * {topic}/{subscriber}: the reference hub's rule, MERCURE-1.0.md Part B section 2 rule 10), three
 * (1.0 {match_type}/{match}/{subscriber}). */
enum api_route {
    API_ALL,       /* the whole collection, shaped by the token's dialect */
    API_07_TOPIC,  /* draft-07 /{topic} */
    API_07_ONE,    /* draft-07 /{topic}/{subscriber} */
    API_08_MATCH,  /* 1.0 /{match_type}/{match} */
    API_08_ONE,    /* 1.0 /{match_type}/{match}/{subscriber} */
    API_NOT_FOUND, /* a shape no enabled dialect has */
    API_BAD_TYPE,  /* 1.0 shape with an unknown matcher type: 400 */
    API_BAD_ENCODING,
};

#define API_MAX_SEGMENTS 3

struct api_request {
    enum api_route route;
    char *seg[API_MAX_SEGMENTS]; /* decoded, NUL-terminated (malloc'd) */
    long seg_len[API_MAX_SEGMENTS];
    size_t nseg;
    struct filter filter;
};

static int kind_named(const char *s, long len)
{
    if (len == 5 && !memcmp(s, "exact", 5)) return SUB_EXACT;
    if (len == 10 && !memcmp(s, "urlpattern", 10)) return SUB_URLPATTERN;
    return SUB_ANY;
}

/* ---- Other nodes' subscriptions (cluster presence: core/authority.h) --------------------------
 */

/* The record a subscription event describes (its topic is the record's id), or NULL when it is
 * not one of ours or out of memory. */
static struct sub_record *record_of_event(const struct event *ev)
{
    if (!ev->ntopics || ev->topics[0].len < sizeof(SUBS_PATH)) return NULL;
    const char *data = memmem(ev->wire, ev->wire_len, "\ndata: ", 7);
    if (!data) return NULL;
    data += 7;
    const char *end = memchr(data, '\n', (size_t)(ev->wire + ev->wire_len - data));
    if (!end) return NULL;
    json_t *o = json_loadb(data, (size_t)(end - data), 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    const char *type = json_string_value(json_object_get(o, "match_type"));
    json_t *match = json_object_get(o, type ? "match" : "topic");
    const char *subscriber = json_string_value(json_object_get(o, "subscriber"));
    json_t *payload = json_object_get(o, "payload");
    int kind = !type ? SUB_TOPIC : kind_named(type, (long)strlen(type));
    char *payload_text = payload ? json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    struct sub_record *r = NULL;
    if (kind != SUB_ANY && json_is_string(match) && subscriber && (!payload || payload_text))
        r = record_new((enum sub_kind)kind, json_string_value(match), json_string_length(match),
                       subscriber, payload_text);
    free(payload_text);
    json_decref(o);
    /* Its id is made from its parts again: it must name the same subscription as the event. */
    if (r &&
        (strlen(r->id) != ev->topics[0].len || memcmp(r->id, ev->topics[0].s, ev->topics[0].len))) {
        record_unref(r);
        return NULL;
    }
    return r;
}

static struct sub_record **remote_slot(struct subscriptions *s, const char *id, size_t len,
                                       uint32_t hash)
{
    struct sub_record **p = &s->remote[hash & (s->remote_buckets - 1)];
    for (; *p; p = &(*p)->hnext)
        if ((*p)->hash == hash && strlen((*p)->id) == len && !memcmp((*p)->id, id, len)) break;
    return p;
}

/* Takes the remote record named id out of the registry (under the lock); NULL when none. */
static struct sub_record *remote_take(struct subscriptions *s, const char *id, size_t len)
{
    if (!s->nremote) return NULL;
    struct sub_record **p = remote_slot(s, id, len, hash_fnv1a(id, len)), *r = *p;
    if (!r) return NULL;
    *p = r->hnext;
    list_remove(&r->link);
    s->nremote--;
    s->count--;
    return r;
}

/* Moves the remote records into a table of size buckets (under the lock, with the array
 * allocated before it); returns the old array, to be freed after the lock. */
static struct sub_record **remote_rehash(struct subscriptions *s, struct sub_record **bigger,
                                         size_t size)
{
    for (size_t i = 0; i < s->remote_buckets; i++)
        for (struct sub_record *r = s->remote[i], *next; r; r = next) {
            next = r->hnext;
            r->hnext = bigger[r->hash & (size - 1)];
            bigger[r->hash & (size - 1)] = r;
        }
    struct sub_record **old = s->remote;
    s->remote = bigger;
    s->remote_buckets = size;
    return old;
}

static void presence_reset(void *ctx)
{
    struct subscriptions *s = ctx;
    struct list_node gone;
    list_init(&gone);
    pthread_mutex_lock(&s->lock);
    struct list_node *n, *tmp;
    list_for_each_safe(n, tmp, &s->records)
    {
        struct sub_record *r = list_entry(n, struct sub_record, link);
        if (!r->remote) continue;
        list_remove(&r->link);
        list_push_front(&gone, &r->link);
        s->count--;
    }
    if (s->remote) memset(s->remote, 0, s->remote_buckets * sizeof(*s->remote));
    s->nremote = 0;
    s->gen++;
    pthread_mutex_unlock(&s->lock);
    list_for_each_safe(n, tmp, &gone)
    {
        list_remove(n);
        record_unref(list_entry(n, struct sub_record, link));
    }
}

static void presence_event(void *ctx, const struct event *ev, bool announce, bool own)
{
    struct subscriptions *s = ctx;
    if (own && announce) return; /* this node's records are its streams' */
    if (!ev->ntopics) return;
    const char *id = ev->topics[0].s;
    size_t id_len = ev->topics[0].len;
    struct sub_record *add = NULL;
    struct sub_record **bigger = NULL;
    size_t bigger_size = 0;
    if (announce) {
        if (!(add = record_of_event(ev))) {
            log_warn("subscription event from another node not understood; not listed",
                     "topic=%.*s", (int)(id_len > 200 ? 200 : id_len), id);
            return;
        }
        add->remote = true;
        add->hash = hash_fnv1a(id, id_len);
        pthread_mutex_lock(&s->lock);
        size_t want = s->nremote + 1 > s->remote_buckets
                          ? (s->remote_buckets ? s->remote_buckets * 2 : 64)
                          : 0;
        pthread_mutex_unlock(&s->lock);
        if (want && (bigger = calloc(want, sizeof(*bigger)))) bigger_size = want;
    }
    pthread_mutex_lock(&s->lock);
    struct sub_record *old = remote_take(s, id, id_len);
    if (bigger && bigger_size > s->remote_buckets) /* the table doubles when as full as wide */
        bigger = remote_rehash(s, bigger, bigger_size);
    if (add && s->remote_buckets) {
        struct sub_record **slot = &s->remote[add->hash & (s->remote_buckets - 1)];
        add->hnext = *slot;
        *slot = add;
        list_push_front(&s->records, &add->link);
        s->nremote++;
        s->count++;
        add = NULL;
    }
    s->gen++;
    pthread_mutex_unlock(&s->lock);
    free(bigger);
    record_unref(old);
    if (add) { /* no table: out of memory */
        log_warn("out of memory listing another node's subscription", "topic=%.*s",
                 (int)(id_len > 200 ? 200 : id_len), id);
        record_unref(add);
    }
}

static void presence_orphaned(void *ctx, const struct event *ev)
{
    struct subscriptions *s = ctx;
    struct sub_record *r = record_of_event(ev);
    struct event *end = r ? record_event(r, false) : NULL;
    record_unref(r);
    publish_events(s->m, NULL, &end, 1);
}

static int compare_ids(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Announces this node's records that Redis lacks and withdraws those it holds that are gone. */
static void presence_reconcile(void *ctx, struct event *const *stored, size_t nstored)
{
    struct subscriptions *s = ctx;
    size_t cap = 0;
    struct sub_record **mine = NULL;
    for (;;) { /* the room is allocated outside the lock, as take_snapshot does */
        pthread_mutex_lock(&s->lock);
        if (s->count - s->nremote <= cap) break;
        size_t want = s->count - s->nremote + 16;
        pthread_mutex_unlock(&s->lock);
        free(mine);
        if (!(mine = malloc(want * sizeof(*mine)))) return;
        cap = want;
    }
    size_t nmine = 0;
    struct list_node *n, *tmp;
    list_for_each_safe(n, tmp, &s->records)
    {
        struct sub_record *r = list_entry(n, struct sub_record, link);
        if (r->remote) continue;
        atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
        mine[nmine++] = r;
    }
    pthread_mutex_unlock(&s->lock);
    /* Both sides sorted by id, then merged. */
    const char **have = malloc((nstored ? nstored : 1) * sizeof(*have));
    const char **want_ids = malloc((nmine ? nmine : 1) * sizeof(*want_ids));
    struct event **events = calloc(nmine + nstored + 1, sizeof(*events));
    size_t nev = 0, announced = 0, withdrawn = 0;
    if (have && want_ids && events) {
        for (size_t i = 0; i < nstored; i++)
            have[i] = stored[i]->topics[0].s;
        qsort(have, nstored, sizeof(*have), compare_ids);
        for (size_t i = 0; i < nmine; i++) {
            want_ids[i] = mine[i]->id;
            if (!bsearch(&mine[i]->id, have, nstored, sizeof(*have), compare_ids)) {
                events[nev++] = record_event(mine[i], true);
                announced++;
            }
        }
        qsort(want_ids, nmine, sizeof(*want_ids), compare_ids);
        for (size_t i = 0; i < nstored; i++) {
            const char *id = stored[i]->topics[0].s;
            if (bsearch(&id, want_ids, nmine, sizeof(*want_ids), compare_ids)) continue;
            struct sub_record *r = record_of_event(stored[i]);
            events[nev++] = r ? record_event(r, false) : NULL;
            record_unref(r);
            withdrawn++;
        }
    }
    for (size_t i = 0; i < nmine; i++)
        record_unref(mine[i]);
    free(mine);
    free(have);
    free(want_ids);
    if (announced || withdrawn)
        log_info("redis presence: this node's subscriptions announced again",
                 "announced=%zu withdrawn=%zu", announced, withdrawn);
    if (events) publish_events(s->m, NULL, events, nev);
    free(events);
}

void subscriptions_attach(struct subscriptions *s, struct mercure *m)
{
    s->m = m;
    s->presence = (struct authority_presence){.ctx = s,
                                              .reset = presence_reset,
                                              .event = presence_event,
                                              .orphaned = presence_orphaned,
                                              .reconcile = presence_reconcile};
    authority_set_presence(m->authority, &s->presence);
}

/* Reads rest ("" or "/seg[/seg...]", each segment percent-encoded) into a route. Returns -1 when
 * out of memory. */
static int api_route_of(const struct sseb_config *cfg, const char *rest, size_t rest_len,
                        struct api_request *a)
{
    *a = (struct api_request){.route = API_ALL, .filter = {SUB_ANY, NULL, -1, NULL, -1}};
    bool d07 = cfg->dialects & SSEB_DIALECT_07, d08 = cfg->dialects & SSEB_DIALECT_08;
    if (rest_len <= 1) return 0; /* "/subscriptions" or "/subscriptions/" */
    const char *p = rest + 1, *end = rest + rest_len;
    for (;;) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        size_t n = slash ? (size_t)(slash - p) : (size_t)(end - p);
        if (a->nseg == API_MAX_SEGMENTS || n == 0) {
            a->route = API_NOT_FOUND;
            return 0;
        }
        char *dst = malloc(n + 1);
        if (!dst) return -1;
        a->seg[a->nseg] = dst; /* owned by a from here on (api_request_free) */
        long len = form_decode(dst, p, n, false);
        a->seg_len[a->nseg++] = len < 0 ? 0 : len;
        dst[len < 0 ? 0 : len] = 0;
        if (len < 0) {
            a->route = API_BAD_ENCODING;
            return 0;
        }
        if (!slash) break;
        p = slash + 1;
    }
    int kind = kind_named(a->seg[0], a->seg_len[0]);
    struct filter *f = &a->filter;
    switch (a->nseg) {
    case 1:
        a->route = d07 ? API_07_TOPIC : API_NOT_FOUND;
        break;
    case 2:
        a->route = kind != SUB_ANY && d08 ? API_08_MATCH : d07 ? API_07_ONE : API_BAD_TYPE;
        break;
    default:
        a->route = !d08 ? API_NOT_FOUND : kind != SUB_ANY ? API_08_ONE : API_BAD_TYPE;
        break;
    }
    if (a->route == API_07_TOPIC || a->route == API_07_ONE) {
        *f = (struct filter){SUB_TOPIC, a->seg[0], a->seg_len[0], NULL, -1};
        if (a->route == API_07_ONE) f->subscriber = a->seg[1], f->sub_len = a->seg_len[1];
    } else if (a->route == API_08_MATCH || a->route == API_08_ONE) {
        *f = (struct filter){kind, a->seg[1], a->seg_len[1], NULL, -1};
        if (a->route == API_08_ONE) f->subscriber = a->seg[2], f->sub_len = a->seg_len[2];
    }
    return 0;
}

static void api_request_free(struct api_request *a)
{
    for (size_t i = 0; i < a->nseg; i++)
        free(a->seg[i]);
}

/* Appends the id as an entity-tag's etagc bytes (RFC 9110 8.8.3): what is not one is
 * percent-encoded. */
static int append_etagc(struct buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        int r = ch < 0x21 || ch == '"' || ch == '%' || ch == 0x7f ? buf_printf(b, "%%%02X", ch)
                                                                  : buf_append(b, s, 1);
        if (r) return -1;
    }
    return 0;
}

/* Appends s as the inside of an RFC 8288 quoted-string. */
static int append_quoted(struct buf *b, const char *s)
{
    for (; *s; s++)
        if (((*s == '"' || *s == '\\') && buf_append(b, "\\", 1)) || buf_append(b, s, 1)) return -1;
    return 0;
}

/* The headers every answer of the API carries (200 and 304 alike): the entity-tag (last event
 * id, registry generation, representation), the reconciliation cursor on the rel="mercure" Link
 * (Mercure 1.0 "Subscription API"; harmless for draft-07 clients, who read lastEventID in the
 * body), CORS for listed origins with Link exposed to them. Returns 0, or -1 when out of memory. */
static int api_headers(struct mercure *m, struct http_request *r, const struct snapshot *snap,
                       bool v08, struct buf *h)
{
    const char *hub = m->cfg->resource_identifier ? m->cfg->resource_identifier : HUB_PATH;
    char cors[700];
    size_t cors_len;
    cors_headers(m->cfg->cors_origins, r, cors, sizeof(cors), &cors_len);
    if (buf_append(h, "ETag: \"", 7) || append_etagc(h, snap->last_id) ||
        buf_printf(h,
                   ";%llu;%s\"\r\nCache-Control: must-revalidate\r\nLink: <%s>; rel=\"mercure\"; "
                   "last-event-id=\"",
                   (unsigned long long)snap->gen, v08 ? "08" : "07", hub) ||
        append_quoted(h, snap->last_id) ||
        buf_printf(h, "\"%s\r\n",
                   v08 ? "; type=\"mercure\"; content-type=\"application/json\"" : "") ||
        buf_append(h, cors, cors_len) ||
        (cors_len && buf_printf(h, "Access-Control-Expose-Headers: Link, ETag\r\n")))
        return -1;
    return 0;
}

/* True when the If-None-Match header lists the entity-tag at the start of h ("ETag: " ...). */
static bool not_modified(struct http_request *r, const struct buf *h)
{
    size_t len;
    const char *inm = http_header_value(r, HDR_IF_NONE_MATCH, &len);
    if (!inm) return false;
    const char *tag = h->p + 6, *tag_end = memchr(tag, '\r', h->len - 6);
    size_t tag_len = (size_t)(tag_end - tag);
    if (len == 1 && inm[0] == '*') return true;
    for (const char *p = inm, *end = inm + len; p < end;) {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        if (end - p >= 2 && p[0] == 'W' && p[1] == '/') p += 2; /* weak comparison (9110 13.1.2) */
        const char *q = p;
        while (q < end && *q != ',')
            q++;
        const char *e = q;
        while (e > p && e[-1] == ' ')
            e--;
        if ((size_t)(e - p) == tag_len && !memcmp(p, tag, tag_len)) return true;
        p = q;
    }
    return false;
}

/* An error answer, readable by listed origins (Echo reads a snapshot's status). */
static void api_error(struct mercure *m, struct conn *c, struct http_request *r, int status,
                      const char *extra, const char *text, bool keep_alive)
{
    char headers[700 + BEARER_CHALLENGE_MAX];
    size_t n;
    cors_headers(m->cfg->cors_origins, r, headers, 700, &n);
    snprintf(headers + n, sizeof(headers) - n, "%s", extra ? extra : "");
    conn_respond_text(c, status, headers, text, !keep_alive);
}

void subscriptions_handle(struct mercure *m, struct worker *w, struct conn *c,
                          struct http_request *r, const char *rest, size_t rest_len, char *query,
                          size_t query_len, bool keep_alive)
{
    (void)w;
    struct subscriptions *s = m->subscriptions;
    if (!s) {
        api_error(m, c, r, 404, NULL, "Subscriptions API not enabled.", keep_alive);
        return;
    }
    struct api_request a;
    if (api_route_of(m->cfg, rest, rest_len, &a)) {
        api_request_free(&a);
        conn_respond_text(c, 503, NULL, "Out of memory.", true);
        return;
    }
    if (a.route >= API_NOT_FOUND) {
        api_request_free(&a);
        if (a.route == API_NOT_FOUND)
            api_error(m, c, r, 404, NULL, "Not found.", keep_alive);
        else if (a.route == API_BAD_TYPE)
            api_error(m, c, r, 400, NULL, "Unknown matcher type: use \"exact\" or \"urlpattern\".",
                      keep_alive);
        else
            api_error(m, c, r, 400, NULL, "Invalid percent-encoding in the path.", keep_alive);
        return;
    }

    /* The draft-07 `authorization` query parameter (token_find ignores it for 1.0 tokens). */
    const char *qtoken = NULL;
    size_t qtoken_len = 0;
    struct buf target_copy = {0};
    if (buf_append(&target_copy, r->target.p, r->target.len)) {
        api_request_free(&a);
        conn_respond_text(c, 503, NULL, "Out of memory.", true);
        return;
    }
    struct form_pair qp[16];
    size_t nq = 0;
    if (query_len && form_parse(query, query_len, qp, 16, &nq) == FORM_OK)
        for (size_t i = 0; i < nq; i++)
            if (!strcmp(qp[i].key, "authorization"))
                qtoken = qp[i].value, qtoken_len = qp[i].value_len;
    size_t tlen;
    bool from_cookie;
    const char *malformed;
    const char *token = token_find(m, r, qtoken, qtoken_len, &tlen, &from_cookie, &malformed);
    struct auth_claims claims = {0};
    const char *why;
    if (malformed) {
        api_error(m, c, r, 400, bearer_challenge(m, BEARER_INVALID_REQUEST), malformed, keep_alive);
        buf_free(&target_copy);
        api_request_free(&a);
        return;
    }
    if (!token || !auth_verify(m->sub_auth, token, tlen, (long long)time(NULL), &claims, &why)) {
        api_error(m, c, r, 401,
                  bearer_challenge(m, token ? BEARER_INVALID_TOKEN : BEARER_UNAUTHORIZED),
                  "Unauthorized.", keep_alive);
        buf_free(&target_copy);
        api_request_free(&a);
        return;
    }
    /* Authorization follows the token's dialect (rule 12): a 1.0 token needs a subscribe grant on
     * the request's path alone, in relative form, as received (the same form as the event
     * topics, so one matcher covers both); a draft-07 token one of its selectors matching the
     * requested URL (with or without its query). */
    bool v08_token = claims.dialect == AUTH_DIALECT_08;
    size_t plen = target_copy.p ? strcspn(target_copy.p, "?") : 0;
    bool allowed = target_copy.p &&
                   (auth_can_subscribe(&claims, target_copy.p, plen) ||
                    (!v08_token && auth_can_subscribe(&claims, target_copy.p, target_copy.len)));
    auth_claims_free(&claims);
    if (!allowed) {
        api_error(m, c, r, 403, bearer_challenge(m, BEARER_INSUFFICIENT_SCOPE), "Forbidden.",
                  keep_alive);
        buf_free(&target_copy);
        api_request_free(&a);
        return;
    }
    /* The representation: the route's dialect; for the whole collection, the token's, unless
     * the client asks for JSON-LD (rule 11). */
    size_t accept_len;
    const char *accept = http_header_value(r, HDR_ACCEPT, &accept_len);
    bool wants_ld = accept && memmem(accept, accept_len, "application/ld+json", 19);
    bool v08 = a.route == API_08_MATCH || a.route == API_08_ONE ||
               (a.route == API_ALL && v08_token && !wants_ld);

    struct snapshot snap;
    if (take_snapshot(m, &snap, &a.filter)) {
        buf_free(&target_copy);
        api_request_free(&a);
        conn_respond_text(c, 503, NULL, "Out of memory.", true);
        return;
    }
    json_t *doc = NULL;
    bool single = a.route == API_07_ONE || a.route == API_08_ONE;
    if (single) {
        if (snap.n) {
            doc = record_json(snap.recs[0], true, true);
            if (!v08) json_object_set_new(doc, "lastEventID", json_string(snap.last_id));
        }
    } else {
        /* Each subscription keeps its own dialect's shape (rule 9), also in a collection. */
        doc = json_object();
        if (!v08) json_object_set_new(doc, "@context", json_string("https://mercure.rocks/"));
        json_object_set_new(doc, "id", json_stringn(target_copy.p, plen));
        json_object_set_new(doc, "type", json_string(v08 ? "subscriptions" : "Subscriptions"));
        if (!v08) json_object_set_new(doc, "lastEventID", json_string(snap.last_id));
        json_t *list = json_array();
        for (size_t i = 0; i < snap.n; i++)
            json_array_append_new(list, record_json(snap.recs[i], true, false));
        json_object_set_new(doc, "subscriptions", list);
    }
    buf_free(&target_copy);
    api_request_free(&a);
    if (!doc) {
        snapshot_free(&snap);
        api_error(m, c, r, 404, NULL, "Not found.", keep_alive);
        return;
    }
    struct buf h = {0};
    char *body = NULL;
    if (api_headers(m, r, &snap, v08, &h) || !(body = json_dumps(doc, JSON_COMPACT))) {
        json_decref(doc);
        snapshot_free(&snap);
        buf_free(&h);
        conn_respond_text(c, 503, NULL, "Out of memory.", true);
        return;
    }
    json_decref(doc);
    snapshot_free(&snap);
    if (not_modified(r, &h)) {
        /* No body and no Content-Length: a 304 says the stored answer still holds. */
        struct buf out = {0};
        if (buf_printf(&out, "HTTP/1.1 304 Not Modified\r\n%s%s\r\n", h.p,
                       keep_alive ? "" : "Connection: close\r\n")) {
            buf_free(&out);
            conn_kill(c);
        } else if (conn_write_owned(c, out.p, out.len)) { /* it freed out */
            conn_kill(c);
        } else if (!keep_alive) {
            c->close_after = true;
        }
    } else {
        conn_respond(c, 200, v08 ? "application/json" : "application/ld+json", h.p, body,
                     strlen(body), !keep_alive);
    }
    free(body);
    buf_free(&h);
}
