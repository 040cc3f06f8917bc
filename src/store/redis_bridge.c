/* Cluster mode's bridge thread: reads the Stream back from its cursor and commits every entry to
 * the hub in Stream order (store/redis.h). It is the node's only producer on the bus. */
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "core/event.h"
#include "core/history.h"
#include "core/hub.h"
#include "store/record.h"
#include "store/redis_conn.h"
#include "store/redis_internal.h"

#define READ_PAGE     1000 /* entries per XREAD */
#define READ_BLOCK_MS 200  /* how long one XREAD waits for news: also the idle heartbeat */

struct bridge {
    struct redis *r;
    redisContext *c;
    struct stream_id cursor; /* the newest entry read ("0-0": none yet) */
    uint64_t last_n;         /* its position number (0: none, anything may follow) */
    struct sseb_str *topics; /* record_decode's scratch */
    bool ever_up, said_down;
};

static void mark_break(struct bridge *b, const char *why, uint64_t expected, uint64_t found)
{
    history_mark_break(b->r->hub->history);
    atomic_fetch_add_explicit(&b->r->n_discontinuities, 1, memory_order_relaxed);
    log_warn("history break in the redis stream: streams are cut, resumes from before it get "
             "Last-Event-ID earliest",
             "stream=%s reason=\"%s\" expected_position=%" PRIu64 " found_position=%" PRIu64,
             b->r->stream, why, expected, found);
}

static void lost(struct bridge *b, const char *reason)
{
    char why[160]; /* reason may point into the connection */
    snprintf(why, sizeof(why), "%s", reason);
    if (b->c) redisFree(b->c);
    b->c = NULL;
    atomic_store(&b->r->bridge_up, false);
    log_warn("redis connection lost", "role=bridge stream=%s reason=\"%s\"", b->r->stream, why);
    b->said_down = true;
}

/* The value of field name in an entry's flat field array. */
static const redisReply *field(const redisReply *fields, const char *name)
{
    if (fields->type != REDIS_REPLY_ARRAY) return NULL;
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING &&
            !strcmp(fields->element[i]->str, name))
            return fields->element[i + 1];
    return NULL;
}

static uint64_t position_of(const redisReply *fields)
{
    const redisReply *n = field(fields, "n");
    return n && n->type == REDIS_REPLY_STRING ? strtoull(n->str, NULL, 10) : 0;
}

/* After (re)connecting: was the Stream reset or rewound (a failover lost its tail) while this
 * node was away? Both leave the cursor beyond the Stream's end, where XREAD would wait for ever.
 * Returns -1 when the connection failed. */
static int check_continuity(struct bridge *b)
{
    if (!b->last_n) return 0;
    redisReply *rep = redisCommand(b->c, "XREVRANGE %s + - COUNT 1", b->r->stream);
    if (!rep) return -1;
    int rc = 0;
    if (rep->type != REDIS_REPLY_ARRAY) {
        rc = -1;
    } else if (rep->elements == 0) {
        mark_break(b, "the stream is gone (reset)", b->last_n + 1, 0);
        b->cursor = (struct stream_id){0, 0};
        b->last_n = 0;
    } else {
        const redisReply *e = rep->element[0];
        struct stream_id last;
        if (e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
            stream_id_parse(e->element[0]->str, e->element[0]->len, &last)) {
            uint64_t n = position_of(e->element[1]);
            int cmp = stream_id_cmp(last, b->cursor);
            if (cmp < 0 || (cmp == 0 && n != b->last_n)) {
                mark_break(b,
                           cmp < 0 ? "the stream ends before what was read (rewound)"
                                   : "the stream was replaced",
                           b->last_n, n);
                b->cursor = last;
                b->last_n = n;
            }
        }
    }
    freeReplyObject(rep);
    return rc;
}

static bool bridge_connect(struct bridge *b)
{
    char err[256];
    enum redis_connect_status st =
        redis_connect(&b->r->opt.target, b->r->opt.timeout_ms, &b->c, err, sizeof(err), NULL, 0);
    if (st != RCONN_OK) {
        if (!b->said_down) {
            log_warn("redis unreachable", "role=bridge reason=\"%s\"", err);
            b->said_down = true;
        }
        return false;
    }
    if (check_continuity(b)) {
        lost(b, b->c ? b->c->errstr : "continuity check failed");
        return false;
    }
    log_info(b->ever_up ? "redis connection back" : "redis connected", "role=bridge stream=%s",
             b->r->stream);
    b->ever_up = true;
    b->said_down = false;
    atomic_store(&b->r->bridge_up, true);
    return true;
}

/* Commits one entry to the hub. An entry that is not an update of ours is skipped, but the
 * cursor and the position still move past it, so that it is never read again. */
static void take_entry(struct bridge *b, const redisReply *e)
{
    struct redis *r = b->r;
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING)
        return;
    struct stream_id id;
    if (!stream_id_parse(e->element[0]->str, e->element[0]->len, &id)) return;
    const redisReply *fields = e->element[1];
    uint64_t n = position_of(fields);
    if (b->last_n && n != b->last_n + 1)
        mark_break(b,
                   n > b->last_n ? "entries missing (trimmed past the cursor, or reset)"
                                 : "positions start again (the stream was reset)",
                   b->last_n + 1, n);
    b->cursor = id;
    b->last_n = n;
    atomic_store_explicit(&r->read_n, n, memory_order_relaxed);
    const redisReply *rec = field(fields, "r");
    struct log_record lr;
    size_t used;
    if (!rec || rec->type != REDIS_REPLY_STRING ||
        record_decode((const uint8_t *)rec->str, rec->len, &lr, b->topics, LOG_RECORD_MAX_TOPICS,
                      &used) != RECORD_OK ||
        used != rec->len) {
        log_warn("redis stream entry is not an update; skipped", "stream=%s entry=%.*s", r->stream,
                 (int)e->element[0]->len, e->element[0]->str);
        return;
    }
    struct event *ev = event_new_encoded(lr.topics, lr.ntopics, lr.id, lr.wire, lr.private_);
    if (!ev) {
        log_error("out of memory reading the redis stream; update skipped", "stream=%s", r->stream);
        return;
    }
    /* The bridge is not a worker: waiting for bus room here is a short pause, never a loss. */
    struct timespec pause = {0, 100000};
    while (!hub_commit(r->hub, ev) && !atomic_load(&r->stopping))
        nanosleep(&pause, NULL);
    event_unref(ev);
}

/* One XREAD from the cursor. Returns -1 when the connection failed. */
static int read_once(struct bridge *b)
{
    struct redis *r = b->r;
    char cursor[48];
    stream_id_format(b->cursor, cursor);
    redis_set_timeout(b->c, READ_BLOCK_MS + r->opt.timeout_ms);
    redisReply *rep = redisCommand(b->c, "XREAD COUNT %d BLOCK %d STREAMS %s %s", READ_PAGE,
                                   READ_BLOCK_MS, r->stream, cursor);
    if (!rep) return -1;
    size_t taken = 0;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
        rep->element[0]->type == REDIS_REPLY_ARRAY && rep->element[0]->elements == 2) {
        const redisReply *entries = rep->element[0]->element[1];
        for (size_t i = 0; entries->type == REDIS_REPLY_ARRAY && i < entries->elements; i++)
            take_entry(b, entries->element[i]);
        taken = entries->elements;
    } else if (rep->type == REDIS_REPLY_ERROR) {
        log_warn("redis refused a read", "stream=%s reply=\"%s\"", r->stream, rep->str);
        freeReplyObject(rep);
        return -1;
    }
    freeReplyObject(rep);
    atomic_fetch_add_explicit(&r->reads, 1, memory_order_release);
    if (taken < READ_PAGE) { /* nothing more waiting: caught up */
        atomic_store(&r->caught_up_ms, clock_now_ms());
        atomic_store(&r->loaded, true);
    }
    return 0;
}

void *redis_bridge_main(void *arg)
{
    struct bridge b = {.r = arg};
    pthread_setname_np(pthread_self(), "sseb-bridge");
    b.topics = malloc(LOG_RECORD_MAX_TOPICS * sizeof(*b.topics));
    if (!b.topics) {
        log_error("out of memory: the redis bridge cannot start", "stream=%s", b.r->stream);
        return NULL;
    }
    uint32_t backoff = REDIS_BACKOFF_MIN_MS;
    while (!atomic_load(&b.r->stopping)) {
        if (!b.c) {
            if (!bridge_connect(&b)) {
                redis_pause(b.r, backoff);
                backoff = backoff * 2 > REDIS_BACKOFF_MAX_MS ? REDIS_BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            backoff = REDIS_BACKOFF_MIN_MS;
        }
        if (read_once(&b)) lost(&b, b.c->err ? b.c->errstr : "bad reply");
    }
    if (b.c) redisFree(b.c);
    free(b.topics);
    return NULL;
}
