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
#include "common/log.h"
#include "common/rand.h"
#include "core/authority.h"
#include "core/event.h"
#include "core/history.h"
#include "http/form.h"
#include "http/http.h"
#include "mercure/handlers.h"
#include "mercure/context.h"
#include "mercure/session.h"
#include "mercure/token.h"
#include "net/conn.h"
#include "server/fanout.h"
#include "server/worker.h"

#define SUBS_PATH "/.well-known/mercure/subscriptions"

/* A registry entry. The registry holds one reference while the stream lives; the API holds one
 * per record while it builds its answer outside the lock, so a record owns its strings and is
 * freed by whoever drops the last reference. */
struct sub_record {
    struct sub_record *prev, *next;
    _Atomic unsigned refs;
    char *id; /* SUBS_PATH "/" enc(topic) "/" enc(subscriber): also its events' topic */
    char *topic;
    char *subscriber;
    char *payload; /* compact JSON, or NULL */
};

/* The mutex guards the list and its count only: it is held for pointer updates and a scan,
 * never across an allocation, a free, JSON building or a publish. */
struct subscriptions {
    pthread_mutex_t lock;
    struct sub_record *head;
    size_t count;
};

static void record_unref(struct sub_record *r)
{
    if (!r || atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1) return;
    free(r->id);
    free(r->topic);
    free(r->subscriber);
    free(r->payload);
    free(r);
}

struct subscriptions *subscriptions_new(void)
{
    struct subscriptions *s = calloc(1, sizeof(*s));
    if (s) pthread_mutex_init(&s->lock, NULL);
    return s;
}

void subscriptions_free(struct subscriptions *s)
{
    if (!s) return;
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* Appends s percent-encoded: everything but RFC 3986 unreserved characters (RFC 6570
 * expansion). Returns 0, or -1 when out of memory. */
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

/* The record's id: SUBS_PATH "/" enc(selector) "/" enc(subscriber), NUL-terminated, or NULL. */
static char *record_id(const char *sel, size_t sel_len, const char *subscriber)
{
    struct buf id = {0};
    if (buf_append(&id, SUBS_PATH "/", sizeof(SUBS_PATH)) || append_encoded(&id, sel, sel_len) ||
        buf_append(&id, "/", 1) || append_encoded(&id, subscriber, strlen(subscriber))) {
        buf_free(&id);
        return NULL;
    }
    return id.p;
}

static json_t *record_json(const struct sub_record *r, bool active, bool context)
{
    json_t *o = json_object();
    if (context) json_object_set_new(o, "@context", json_string("https://mercure.rocks/"));
    json_object_set_new(o, "id", json_string(r->id));
    json_object_set_new(o, "type", json_string("Subscription"));
    json_object_set_new(o, "topic", json_string(r->topic));
    json_object_set_new(o, "subscriber", json_string(r->subscriber));
    json_object_set_new(o, "active", json_boolean(active));
    if (r->payload) {
        json_t *p = json_loads(r->payload, JSON_DECODE_ANY, NULL);
        if (p) json_object_set_new(o, "payload", p);
    }
    return o;
}

/* The subscription event for r (private, on its own topic), or NULL when out of memory. */
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
    struct event *ev = event_new(&u);
    free(data);
    return ev;
}

/* Publishes the subscription events[0..n) (NULL: could not be built) and releases them. Called
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
            STAT_ADD(&w->stats, subscription_events_dropped, 1);
            log_warn("subscription event dropped", "worker=%d reason=%s", w->id,
                     !ev                     ? "out_of_memory"
                     : res == AUTHORITY_FULL ? "bus_full"
                                             : "store_refused");
        }
        if (ev) event_unref(ev);
    }
}

static struct sub_record *record_new(const char *sel, size_t sel_len, const char *subscriber,
                                     const char *payload)
{
    struct sub_record *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    atomic_init(&r->refs, 1);
    r->id = record_id(sel, sel_len, subscriber);
    r->topic = strndup(sel, sel_len);
    r->subscriber = strdup(subscriber);
    r->payload = payload ? strdup(payload) : NULL;
    if (!r->id || !r->topic || !r->subscriber || (payload && !r->payload)) {
        record_unref(r);
        return NULL;
    }
    return r;
}

void subscriptions_stream_started(struct mercure *m, struct worker *w, struct conn *c)
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
    rand_urn_uuid(ss->subscriber_id);
    /* Everything is built before the lock; under it, only links. */
    uint32_t n = 0;
    for (; n < st->nsubs; n++) {
        size_t sel_len;
        const char *sel = stream_selector(st, n, &sel_len);
        struct sub_record *r = record_new(sel, sel_len, ss->subscriber_id,
                                          ss->claims ? ss->claims->payload_json : NULL);
        if (!r) break;
        ss->records[n] = r;
        events[n] = record_event(r, true);
    }
    pthread_mutex_lock(&s->lock);
    for (uint32_t i = 0; i < n; i++) {
        struct sub_record *r = ss->records[i];
        r->next = s->head;
        if (s->head) s->head->prev = r;
        s->head = r;
        s->count++;
    }
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
            if (r->prev)
                r->prev->next = r->next;
            else
                s->head = r->next;
            if (r->next) r->next->prev = r->prev;
            s->count--;
        }
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

/* The records the API answers with, each with a reference of its own, and the lastEventID they
 * are consistent with: taken under the lock, with the room allocated before it. */
struct snapshot {
    struct sub_record **recs;
    size_t n;
    char last_id[512];
};

static bool record_matches(const struct sub_record *rec, const char *topic, long topic_len,
                           const char *subscriber, long sub_len)
{
    if (topic_len >= 0 &&
        (strlen(rec->topic) != (size_t)topic_len || memcmp(rec->topic, topic, (size_t)topic_len)))
        return false;
    return sub_len < 0 || (strlen(rec->subscriber) == (size_t)sub_len &&
                           !memcmp(rec->subscriber, subscriber, (size_t)sub_len));
}

static int take_snapshot(struct mercure *m, struct snapshot *snap, const char *topic,
                         long topic_len, const char *subscriber, long sub_len)
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
    history_last_id(m->history, snap->last_id, sizeof(snap->last_id));
    for (struct sub_record *rec = s->head; rec; rec = rec->next) {
        if (!record_matches(rec, topic, topic_len, subscriber, sub_len)) continue;
        atomic_fetch_add_explicit(&rec->refs, 1, memory_order_relaxed);
        snap->recs[snap->n++] = rec;
        if (sub_len >= 0) break; /* one record asked for */
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

static void respond_json(struct conn *c, json_t *doc, const char *etag, bool keep_alive)
{
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!body) {
        conn_respond(c, 503, "text/plain", NULL, "Out of memory.", 14, true);
        return;
    }
    char extra[200];
    snprintf(extra, sizeof(extra), "ETag: \"%.100s\"\r\nCache-Control: must-revalidate\r\n", etag);
    conn_respond(c, 200, "application/ld+json", extra, body, strlen(body), !keep_alive);
    free(body);
}

void subscriptions_handle(struct mercure *m, struct worker *w, struct conn *c,
                          struct http_request *r, const char *rest, size_t rest_len, char *query,
                          size_t query_len, bool keep_alive)
{
    (void)w;
    struct subscriptions *s = m->subscriptions;
    if (!s) {
        conn_respond(c, 404, "text/plain", NULL, "Subscriptions API not enabled.", 30, !keep_alive);
        return;
    }
    /* Authorization: the requested URL must match one of the token's subscribe selectors. */
    const char *qtoken = NULL;
    size_t qtoken_len = 0;
    struct buf target_copy = {0};
    if (buf_append(&target_copy, r->target.p, r->target.len)) {
        conn_respond(c, 503, "text/plain", NULL, "Out of memory.", 14, true);
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
    const char *token = token_find(m, r, qtoken, qtoken_len, &tlen, &from_cookie);
    struct auth_claims claims = {0};
    const char *why;
    if (!token || !auth_verify(m->sub_auth, token, tlen, (long long)time(NULL), &claims, &why)) {
        conn_respond(c, 401, "text/plain",
                     token ? "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n"
                           : "WWW-Authenticate: Bearer\r\n",
                     "Unauthorized.", 13, !keep_alive);
        buf_free(&target_copy);
        return;
    }
    size_t plen = target_copy.p ? strcspn(target_copy.p, "?") : 0;
    bool allowed = target_copy.p && (auth_can_subscribe(&claims, target_copy.p, target_copy.len) ||
                                     auth_can_subscribe(&claims, target_copy.p, plen));
    auth_claims_free(&claims);
    if (!allowed) {
        conn_respond(c, 403, "text/plain",
                     "WWW-Authenticate: Bearer error=\"insufficient_scope\"\r\n", "Forbidden.", 10,
                     !keep_alive);
        buf_free(&target_copy);
        return;
    }

    /* rest: "" | "/{topic}" | "/{topic}/{subscriber}" (each percent-encoded). */
    char topic[4096], subscriber[512];
    long topic_len = -1, sub_len = -1;
    if (rest_len > 1) {
        const char *p = rest + 1, *end = rest + rest_len;
        const char *slash = memchr(p, '/', (size_t)(end - p));
        size_t tl = slash ? (size_t)(slash - p) : (size_t)(end - p);
        if (tl < sizeof(topic)) topic_len = form_decode(topic, p, tl, false);
        if (slash && (size_t)(end - slash - 1) < sizeof(subscriber))
            sub_len = form_decode(subscriber, slash + 1, (size_t)(end - slash - 1), false);
        if (topic_len < 0 || (slash && sub_len < 0) ||
            memchr(slash ? slash + 1 : end, '/', (size_t)(end - (slash ? slash + 1 : end)))) {
            conn_respond(c, 404, "text/plain", NULL, "Not found.", 10, !keep_alive);
            buf_free(&target_copy);
            return;
        }
    }

    struct snapshot snap;
    if (take_snapshot(m, &snap, topic, topic_len, subscriber, sub_len)) {
        buf_free(&target_copy);
        conn_respond(c, 503, "text/plain", NULL, "Out of memory.", 14, true);
        return;
    }
    json_t *doc = NULL;
    if (sub_len >= 0) {
        if (snap.n) {
            doc = record_json(snap.recs[0], true, true);
            json_object_set_new(doc, "lastEventID", json_string(snap.last_id));
        }
    } else {
        doc = json_object();
        json_object_set_new(doc, "@context", json_string("https://mercure.rocks/"));
        json_object_set_new(doc, "id", json_stringn(target_copy.p, plen));
        json_object_set_new(doc, "type", json_string("Subscriptions"));
        json_object_set_new(doc, "lastEventID", json_string(snap.last_id));
        json_t *list = json_array();
        for (size_t i = 0; i < snap.n; i++)
            json_array_append_new(list, record_json(snap.recs[i], true, false));
        json_object_set_new(doc, "subscriptions", list);
    }
    snapshot_free(&snap);
    buf_free(&target_copy);
    if (!doc) {
        conn_respond(c, 404, "text/plain", NULL, "Not found.", 10, !keep_alive);
        return;
    }
    respond_json(c, doc, snap.last_id, keep_alive);
}
