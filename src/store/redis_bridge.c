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
#include "store/redis_archive.h"
#include "store/redis_conn.h"
#include "store/redis_internal.h"
#include "store/redis_presence.h"
#include "store/redis_sentinel.h"

#define READ_PAGE     1000 /* entries per XREAD */
#define READ_BLOCK_MS 200  /* how long one XREAD waits for news: also the idle heartbeat */

struct bridge {
    struct redis *r;
    redisContext *c;
    struct stream_id cursor; /* the newest entry read ("0-0": none yet) */
    uint64_t last_n;         /* its position number (0: none, anything may follow) */
    struct sseb_str *topics; /* record_decode's scratch */
    uint64_t presence_from;  /* presence entries up to this position are in the registry already */
    bool ever_up, said_down, said_held;
    struct redis_target at; /* where it is connected */
    int next_sentinel;      /* redis_connect_master's cursor */
    uint64_t epoch;         /* the master epoch it was connected in */
};

static void mark_break(struct bridge *b, const char *why, uint64_t expected, uint64_t found)
{
    /* Positions may start again: the presence registry is read again, not followed across. */
    atomic_store(&b->r->presence_reload, true);
    history_mark_break(b->r->hub->history);
    redis_archive_break(b->r->archive);
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

/* The id and position of the single entry of an XRANGE/XREVRANGE reply. False when empty. */
static bool only_entry(const redisReply *rep, struct stream_id *id, uint64_t *n)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements == 0) return false;
    const redisReply *e = rep->element[0];
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING ||
        !stream_id_parse(e->element[0]->str, e->element[0]->len, id))
        return false;
    *n = stream_entry_position(e->element[1]);
    return true;
}

/* After (re)connecting: is the entry last read still there, with the same position? A failover
 * that lost the tail (the new master never had it), a reset or a replaced Stream all take it
 * away while older entries stay, or change its position; trimming takes the oldest first, so it
 * never leaves an older entry behind the cursor (a trim past the cursor shows as a gap in the
 * positions read next). Returns -1 when the connection failed. */
static int check_continuity(struct bridge *b)
{
    if (!b->last_n) return 0;
    char cursor[48];
    stream_id_format(b->cursor, cursor);
    redisReply *rep = redisCommand(b->c, "XRANGE %s %s %s", b->r->stream, cursor, cursor);
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        if (rep) freeReplyObject(rep);
        return -1;
    }
    struct stream_id id;
    uint64_t n;
    bool found = only_entry(rep, &id, &n);
    freeReplyObject(rep);
    if (found) {
        if (n != b->last_n) {
            mark_break(b, "the stream was replaced", b->last_n, n);
            b->last_n = n;
        }
        return 0;
    }
    rep = redisCommand(b->c, "XREVRANGE %s %s - COUNT 1", b->r->stream, cursor);
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        if (rep) freeReplyObject(rep);
        return -1;
    }
    found = only_entry(rep, &id, &n);
    freeReplyObject(rep);
    if (found) {
        mark_break(b, "the entry last read is gone (a failover lost the tail, or a reset)",
                   b->last_n, n);
        b->cursor = id;
        b->last_n = n;
        return 0;
    }
    rep = redisCommand(b->c, "XLEN %s", b->r->stream);
    if (!rep || rep->type != REDIS_REPLY_INTEGER) {
        if (rep) freeReplyObject(rep);
        return -1;
    }
    if (rep->integer == 0) {
        mark_break(b, "the stream is gone (reset)", b->last_n + 1, 0);
        b->cursor = (struct stream_id){0, 0};
        b->last_n = 0;
    }
    freeReplyObject(rep);
    return 0;
}

static bool bridge_connect(struct bridge *b)
{
    char err[256];
    b->epoch = atomic_load(&b->r->master_epoch);
    enum redis_connect_status st = redis_connect_master(&b->r->opt, &b->next_sentinel, &b->c,
                                                        &b->at, err, sizeof(err), NULL, 0);
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
    log_info(b->ever_up ? "redis connection back" : "redis connected",
             "role=bridge host=%s port=%d stream=%s", b->at.host, b->at.port, b->r->stream);
    b->ever_up = true;
    b->said_down = false;
    /* Announcements made while this connection was down (or lost by a failover) are read whole. */
    atomic_store(&b->r->presence_reload, true);
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
    uint64_t n = stream_entry_position(fields);
    if (b->last_n && n != b->last_n + 1)
        mark_break(b,
                   n > b->last_n ? "entries missing (trimmed past the cursor, or reset)"
                                 : "positions start again (the stream was reset)",
                   b->last_n + 1, n);
    b->cursor = id;
    b->last_n = n;
    atomic_store_explicit(&r->read_n, n, memory_order_relaxed);
    const redisReply *rec = stream_entry_field(fields, "r");
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
    /* A subscription announced or withdrawn: the registry learns it before history does. */
    const redisReply *op = stream_entry_field(fields, "p");
    const struct authority_presence *p = atomic_load_explicit(&r->presence, memory_order_acquire);
    if (op && p && n > b->presence_from && op->type == REDIS_REPLY_STRING && op->len == 1) {
        const redisReply *token = stream_entry_field(fields, "t");
        size_t tag_len = strlen(r->tag);
        bool own = token && token->type == REDIS_REPLY_STRING && token->len > tag_len &&
                   !memcmp(token->str, r->tag, tag_len) && token->str[tag_len] == '-';
        p->event(p->ctx, ev, op->str[0] == '+', own);
    }
    /* The bridge is not a worker: waiting for bus room here is a short pause, never a loss. */
    struct timespec pause = {0, 100000};
    bool committed;
    while (!(committed = hub_commit(r->hub, ev)) && !atomic_load(&r->stopping))
        nanosleep(&pause, NULL);
    if (committed) redis_archive_committed(r->archive, ev->seq, id, n);
    event_unref(ev);
}

/* With --redis-wait-replicas N: waits until what was just read is on N replicas, so that no
 * subscriber is shown an entry that a failover could take back. WAIT counts the replicas that have
 * everything this connection wrote, so a PUBLISH (replicated, no key touched) first moves this
 * connection's replication offset past the entries read. Returns -1 to drop what was read (the
 * connection failed, the master changed, or the broker stops): it is read again from the cursor,
 * if the master still has it. */
static int wait_replicated(struct bridge *b)
{
    struct redis *r = b->r;
    redisReply *rep = redisCommand(b->c, "PUBLISH %s:replicated 1", r->stream);
    if (!rep) return -1;
    freeReplyObject(rep);
    for (;;) {
        rep = redisCommand(b->c, "WAIT %u %u", r->opt.wait_replicas, r->opt.timeout_ms);
        if (!rep) return -1;
        bool ok =
            rep->type == REDIS_REPLY_INTEGER && rep->integer >= (long long)r->opt.wait_replicas;
        freeReplyObject(rep);
        if (ok) {
            if (b->said_held)
                log_info("redis replicas caught up: delivering again", "stream=%s", r->stream);
            b->said_held = false;
            return 0;
        }
        if (!b->said_held)
            log_warn("redis entries read are not on enough replicas yet: held back from "
                     "subscribers",
                     "stream=%s wait_replicas=%u", r->stream, r->opt.wait_replicas);
        b->said_held = true;
        if (atomic_load(&r->stopping) || atomic_load(&r->master_epoch) != b->epoch) return -1;
    }
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
        if (r->opt.wait_replicas && entries->type == REDIS_REPLY_ARRAY && entries->elements &&
            wait_replicated(b)) {
            freeReplyObject(rep);
            return -1;
        }
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
    redis_sync_progress(r, false);
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
        if (atomic_exchange(&b.r->presence_reload, false) &&
            redis_presence_load(b.r, b.c, &b.presence_from)) {
            atomic_store(&b.r->presence_reload, true);
            lost(&b, b.c->err ? b.c->errstr : "presence registry unreadable");
            continue;
        }
        if (read_once(&b))
            lost(&b, b.c->err ? b.c->errstr
                     : atomic_load(&b.r->master_epoch) != b.epoch
                         ? "the sentinels name another master"
                         : "bad reply");
        else if (atomic_load(&b.r->master_epoch) != b.epoch)
            lost(&b, "the sentinels name another master");
    }
    if (b.c) redisFree(b.c);
    free(b.topics);
    return NULL;
}
