/* Cluster mode's writer thread: appends what the workers submitted to the Stream, pipelined,
 * and completes each submission by Redis' answer (store/redis.h). */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/rand.h"
#include "core/authority.h"
#include "core/completion.h"
#include "core/event.h"
#include "store/record.h"
#include "store/redis_conn.h"
#include "store/redis_internal.h"
#include "store/redis_presence.h"
#include "store/redis_sentinel.h"

#define PIPELINE_MAX   512  /* appends sent before their replies are read */
#define IDLE_PING_MS   1000 /* an idle writer checks its connection this often */
#define WAIT_MARGIN_MS 200  /* a WAIT answers at its timeout: this long is allowed for the reply */
/* How many of the oldest entries one append may trim (the rest go with later appends), so that
 * lowering the retention never makes one script run long. */
#define TRIM_PER_APPEND "64"

/* One atomic append: the entry's position number follows on from the newest entry's (so a reader
 * recognises any gap: trimmed past it, reset, rewound), the id index points at the entry, and
 * both are trimmed to the retention (an index entry only while it still names the trimmed
 * entry: ids may repeat). The submission's token makes a resend after a lost connection
 * harmless: an entry with the same id and token is answered, not appended again.
 * A subscription event (ARGV[5] "+" announce, "-" withdraw) also updates this node's presence
 * hash with it (store/redis_presence.h) and is marked (field p) for the bridges.
 * KEYS: stream, index, presence hash, presence nodes. ARGV: id, record, retain, token, presence
 * ("" for an update), its subscription's key, the node's tag. Entry fields: n, i, t, r[, p]. */
static const char append_script[] =
    "local prev = redis.call('HGET', KEYS[2], ARGV[1])\n"
    "if prev then\n"
    "  local e = redis.call('XRANGE', KEYS[1], prev, prev)\n"
    "  if #e > 0 and e[1][2][5] == 't' and e[1][2][6] == ARGV[4] then\n"
    "    return {prev, tonumber(e[1][2][2])}\n"
    "  end\n"
    "end\n"
    "local n = 1\n"
    "local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)\n"
    "if #last > 0 and last[1][2][1] == 'n' then n = tonumber(last[1][2][2]) + 1 end\n"
    "local sid\n"
    "if ARGV[5] == '' then\n"
    "  sid = redis.call('XADD', KEYS[1], '*', 'n', n, 'i', ARGV[1], 't', ARGV[4], 'r', ARGV[2])\n"
    "else\n"
    "  sid = redis.call('XADD', KEYS[1], '*', 'n', n, 'i', ARGV[1], 't', ARGV[4], 'r', ARGV[2], "
    "'p', ARGV[5])\n"
    "  if ARGV[5] == '+' then\n"
    "    redis.call('HSET', KEYS[3], ARGV[6], ARGV[2])\n"
    "    redis.call('SADD', KEYS[4], ARGV[7])\n"
    "  else\n"
    "    redis.call('HDEL', KEYS[3], ARGV[6])\n"
    "  end\n"
    "end\n"
    "redis.call('HSET', KEYS[2], ARGV[1], sid)\n"
    "local excess = redis.call('XLEN', KEYS[1]) - tonumber(ARGV[3])\n"
    "if excess > 0 then\n"
    "  if excess > " TRIM_PER_APPEND " then excess = " TRIM_PER_APPEND " end\n"
    "  local old = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', excess)\n"
    "  for _, e in ipairs(old) do\n"
    "    local id = e[2][4]\n"
    "    if id and redis.call('HGET', KEYS[2], id) == e[1] then redis.call('HDEL', KEYS[2], id) "
    "end\n"
    "    redis.call('XDEL', KEYS[1], e[1])\n"
    "  end\n"
    "end\n"
    "return {sid, n}\n";

static void complete(struct redis_item *it, enum authority_result result)
{
    if (it->ticket) completion_post(it->ticket, result);
    event_unref(it->ev);
    free(it);
}

static void fail_all(struct redis *r, struct redis_item *items, _Atomic uint64_t *reason)
{
    while (items) {
        struct redis_item *next = items->next;
        atomic_fetch_add_explicit(reason, 1, memory_order_relaxed);
        complete(items, AUTHORITY_FAILED);
        items = next;
    }
}

static void record_latency(struct redis *r, int64_t us)
{
    static const uint32_t bounds[AUTHORITY_LATENCY_BUCKETS] = AUTHORITY_LATENCY_BOUNDS_US;
    for (int i = 0; i < AUTHORITY_LATENCY_BUCKETS; i++)
        if (us <= (int64_t)bounds[i]) {
            atomic_fetch_add_explicit(&r->lat_buckets[i], 1, memory_order_relaxed);
            break;
        }
    atomic_fetch_add_explicit(&r->lat_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->lat_sum_us, (uint64_t)(us > 0 ? us : 0), memory_order_relaxed);
}

/* The writer's connection: connected to the master, script loaded. */
struct writer_conn {
    redisContext *c;
    char sha[48];
    bool ever_up, said_down;
    struct redis_target at; /* where it is connected */
    int next_sentinel;      /* redis_connect_master's cursor */
    uint64_t epoch;         /* the master epoch it was connected in */
    char checked[264];      /* the master whose min-replicas-to-write was looked at */
    struct presence_beat beat;
};

static void writer_disconnect(struct redis *r, struct writer_conn *w, const char *reason)
{
    char why[160]; /* reason may point into the connection */
    snprintf(why, sizeof(why), "%s", reason);
    if (w->c) redisFree(w->c);
    w->c = NULL;
    atomic_store(&r->writer_up, false);
    pthread_mutex_lock(&r->lock);
    r->master_host[0] = 0;
    pthread_mutex_unlock(&r->lock);
    log_warn("redis connection lost", "role=writer stream=%s reason=\"%s\"", r->stream, why);
    w->said_down = true;
}

static void writer_ping(struct redis *r, struct writer_conn *w);

/* With --redis-wait-replicas, an old master cut off from its replicas must stop taking writes,
 * or it could acknowledge (to a writer that does not wait) what the failover then discards. */
static void check_min_replicas(struct redis *r, struct writer_conn *w)
{
    char where[264];
    snprintf(where, sizeof(where), "%s:%d", w->at.host, w->at.port);
    if (!r->opt.wait_replicas || !strcmp(where, w->checked)) return;
    snprintf(w->checked, sizeof(w->checked), "%s", where);
    redisReply *rep = redisCommand(w->c, "CONFIG GET min-replicas-to-write");
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[1]->type == REDIS_REPLY_STRING && !strcmp(rep->element[1]->str, "0"))
        log_warn("redis min-replicas-to-write is 0 while --redis-wait-replicas is set: a master "
                 "cut off from its replicas still takes writes that a failover discards (set "
                 "min-replicas-to-write 1 and min-replicas-max-lag 10 on every Redis)",
                 "master=%s wait_replicas=%u", where, r->opt.wait_replicas);
    if (rep) freeReplyObject(rep);
}

static bool writer_connect(struct redis *r, struct writer_conn *w)
{
    char err[256], warn[256];
    /* Read before resolving: a failover noticed meanwhile makes the writer look again. */
    w->epoch = atomic_load(&r->master_epoch);
    enum redis_connect_status st = redis_connect_master(&r->opt, &w->next_sentinel, &w->c, &w->at,
                                                        err, sizeof(err), warn, sizeof(warn));
    if (st == RCONN_OK) {
        redisReply *rep = redisCommand(w->c, "SCRIPT LOAD %s", append_script);
        if (rep && rep->type == REDIS_REPLY_STRING && rep->len < sizeof(w->sha)) {
            memcpy(w->sha, rep->str, rep->len + 1);
        } else {
            snprintf(err, sizeof(err), "SCRIPT LOAD: %s",
                     rep && rep->type == REDIS_REPLY_ERROR ? rep->str : w->c->errstr);
            st = rep ? RCONN_REFUSED : RCONN_UNREACHABLE;
            redisFree(w->c);
            w->c = NULL;
        }
        if (rep) freeReplyObject(rep);
    }
    if (st != RCONN_OK) {
        if (!w->said_down) {
            if (st == RCONN_REFUSED)
                log_error("redis refused", "stream=%s reason=\"%s\"", r->stream, err);
            else
                log_warn("redis unreachable", "host=%s port=%d reason=\"%s\"", w->at.host,
                         w->at.port, err);
            w->said_down = true;
        }
        return false;
    }
    if (warn[0]) log_warn("redis durability", "reason=\"%s\"", warn);
    check_min_replicas(r, w);
    writer_ping(r, w);
    if (!w->c) return false;
    log_info(w->ever_up ? "redis connection back" : "redis connected",
             "role=writer host=%s port=%d stream=%s", w->at.host, w->at.port, r->stream);
    pthread_mutex_lock(&r->lock);
    snprintf(r->master_host, sizeof(r->master_host), "%s", w->at.host);
    r->master_port = w->at.port;
    pthread_mutex_unlock(&r->lock);
    w->ever_up = true;
    w->said_down = false;
    /* What Redis holds for this node may be older than the registry (events dropped while it was
     * unreachable, a failover): compare them first thing. */
    w->beat = (struct presence_beat){.reconcile = true};
    atomic_fetch_add_explicit(&r->n_reconnects, 1, memory_order_relaxed);
    atomic_store(&r->writer_up, true);
    return true;
}

/* Takes at most PIPELINE_MAX queued submissions; NULL when none came within IDLE_PING_MS or
 * when stopping with none left. */
static struct redis_item *take_batch(struct redis *r, bool *stop)
{
    struct timespec until = clock_realtime_in(IDLE_PING_MS);
    pthread_mutex_lock(&r->lock);
    while (!r->head && !r->stop)
        if (pthread_cond_timedwait(&r->wake, &r->lock, &until) == ETIMEDOUT) break;
    struct redis_item *batch = r->head, *last = NULL;
    size_t n = 0;
    for (struct redis_item *it = r->head; it && n < PIPELINE_MAX; it = it->next, n++)
        last = it;
    if (last) {
        r->head = last->next;
        if (!r->head) r->tail = NULL;
        last->next = NULL;
    }
    *stop = r->stop && !r->head;
    pthread_mutex_unlock(&r->lock);
    return last ? batch : NULL;
}

/* Completes an append Redis has stored (and, with --redis-wait-replicas, replicated). */
static void stored(struct redis *r, struct redis_item *it)
{
    atomic_store_explicit(&r->acked_n, it->n, memory_order_relaxed);
    record_latency(r, clock_now_us() - it->submitted_us);
    atomic_fetch_add_explicit(&r->n_records, 1, memory_order_relaxed);
    complete(it, AUTHORITY_STORED);
}

/* Stored on the master, not known to be on --redis-wait-replicas replicas: 503, and a failover
 * may yet take it back (the bridges hold it until it is replicated). */
static void unconfirmed(struct redis *r, struct redis_item *items)
{
    while (items) {
        struct redis_item *next = items->next;
        atomic_fetch_add_explicit(&r->n_unreplicated, 1, memory_order_relaxed);
        complete(items, AUTHORITY_UNCONFIRMED);
        items = next;
    }
}

/* Sends items pipelined, followed by one WAIT for the whole batch with --redis-wait-replicas,
 * and completes each by its reply. Returns the items left unanswered when the connection failed,
 * with *timed_out telling whether Redis merely did not answer in time (then they must fail: they
 * may yet be applied) or the connection broke. */
static struct redis_item *send_batch(struct redis *r, struct writer_conn *w,
                                     struct redis_item *items, int64_t oldest_us, uint8_t **buf,
                                     size_t *bufcap, bool *timed_out)
{
    *timed_out = false;
    char retain[16];
    snprintf(retain, sizeof(retain), "%u", r->opt.retain);
    for (struct redis_item *it = items; it; it = it->next) {
        size_t need = record_size(it->ev);
        if (need > *bufcap) {
            uint8_t *b = realloc(*buf, need);
            if (!b) return items;
            *buf = b;
            *bufcap = need;
        }
        size_t len = record_encode(*buf, it->ev, (uint64_t)clock_wall_ms());
        char token[80];
        int tlen = snprintf(token, sizeof(token), "%s-%llu", r->tag, (unsigned long long)it->token);
        const struct event *ev = it->ev;
        const char *op = ev->presence == EVENT_PRESENCE_ANNOUNCE   ? "+"
                         : ev->presence == EVENT_PRESENCE_WITHDRAW ? "-"
                                                                   : "";
        const char *sub = ev->presence && ev->ntopics ? ev->topics[0].s : "";
        const char *argv[] = {"EVALSHA",    w->sha,   "4",
                              r->stream,    r->index, r->presence_key,
                              r->nodes_key, ev->id,   (const char *)*buf,
                              retain,       token,    op,
                              sub,          r->tag};
        size_t lens[] = {7,
                         strlen(w->sha),
                         1,
                         strlen(r->stream),
                         strlen(r->index),
                         strlen(r->presence_key),
                         strlen(r->nodes_key),
                         ev->id_len,
                         len,
                         strlen(retain),
                         (size_t)tlen,
                         strlen(op),
                         strlen(sub),
                         strlen(r->tag)};
        /* hiredis copies the arguments into its output buffer. */
        if (redisAppendCommandArgv(w->c, 14, argv, lens) != REDIS_OK) return items;
    }
    /* Replies must come before the oldest item's deadline; WAIT gives up just then, and answers
     * within the margin. */
    int64_t left_ms = (oldest_us + (int64_t)r->opt.timeout_ms * 1000 - clock_now_us()) / 1000;
    if (left_ms < 1) left_ms = 1;
    bool wait = r->opt.wait_replicas > 0;
    if (wait && redisAppendCommand(w->c, "WAIT %u %lld", r->opt.wait_replicas,
                                   (long long)left_ms) != REDIS_OK)
        return items;
    redis_set_timeout(w->c, (uint32_t)left_ms + (wait ? WAIT_MARGIN_MS : 0));
    bool script_missing = false, readonly = false;
    struct redis_item *waiting = NULL, **wtail = &waiting;
    while (items) {
        struct redis_item *next = items->next;
        redisReply *rep = NULL;
        if (redisGetReply(w->c, (void **)&rep) != REDIS_OK || !rep) {
            *timed_out = w->c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
            writer_disconnect(r, w, *timed_out ? "no answer within --redis-timeout" : w->c->errstr);
            unconfirmed(r, waiting);
            return items;
        }
        items->next = NULL;
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
            rep->element[1]->type == REDIS_REPLY_INTEGER) {
            items->n = (uint64_t)rep->element[1]->integer;
            if (wait) {
                *wtail = items;
                wtail = &items->next;
            } else {
                atomic_store(&r->writable, true);
                stored(r, items);
            }
        } else {
            if (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0)
                script_missing = true;
            /* The master was demoted under us (a failover): find the new one. */
            if (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "READONLY", 8) == 0)
                readonly = true;
            /* min-replicas-to-write: the master refuses appends until its replicas are back. */
            if (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOREPLICAS", 10) == 0)
                atomic_store(&r->writable, false);
            log_warn("redis refused an append", "stream=%s reply=\"%s\"", r->stream,
                     rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
            atomic_fetch_add_explicit(&r->n_reply, 1, memory_order_relaxed);
            complete(items, AUTHORITY_FAILED);
        }
        freeReplyObject(rep);
        items = next;
    }
    if (wait) {
        redisReply *rep = NULL;
        if (redisGetReply(w->c, (void **)&rep) != REDIS_OK || !rep) {
            writer_disconnect(r, w, w->c->errstr);
            unconfirmed(r, waiting);
            return NULL;
        }
        bool replicated =
            rep->type == REDIS_REPLY_INTEGER && rep->integer >= (long long)r->opt.wait_replicas;
        freeReplyObject(rep);
        atomic_store(&r->writable, replicated);
        if (replicated) {
            while (waiting) {
                struct redis_item *next = waiting->next;
                stored(r, waiting);
                waiting = next;
            }
        } else {
            unconfirmed(r, waiting);
        }
    }
    atomic_fetch_add_explicit(&r->n_batches, 1, memory_order_relaxed);
    /* The script cache was flushed: connect again, which loads it. */
    if (script_missing) writer_disconnect(r, w, "script not loaded");
    if (readonly && w->c) writer_disconnect(r, w, "the server is a replica now (READONLY)");
    return NULL;
}

/* Appends one batch. A connection found broken (Redis restarted while the writer was idle, say)
 * is replaced once and the unanswered items sent again: the script recognises any that did get
 * in. Items past their deadline are answered 503, never sent late. */
static void write_batch(struct redis *r, struct writer_conn *w, struct redis_item *items,
                        uint8_t **buf, size_t *bufcap)
{
    for (int attempt = 0; items; attempt++) {
        int64_t now = clock_now_us(), timeout_us = (int64_t)r->opt.timeout_ms * 1000;
        struct redis_item *keep = NULL, **tail = &keep;
        int64_t oldest = now;
        while (items) {
            struct redis_item *next = items->next;
            items->next = NULL;
            if (now - items->submitted_us >= timeout_us) {
                atomic_fetch_add_explicit(&r->n_timeout, 1, memory_order_relaxed);
                complete(items, AUTHORITY_FAILED);
            } else {
                if (items->submitted_us < oldest) oldest = items->submitted_us;
                *tail = items;
                tail = &items->next;
            }
            items = next;
        }
        if (!keep) return;
        if (!w->c && (attempt > 1 || !writer_connect(r, w))) {
            fail_all(r, keep, &r->n_unavailable);
            return;
        }
        bool timed_out;
        items = send_batch(r, w, keep, oldest, buf, bufcap, &timed_out);
        if (items && (timed_out || attempt > 0)) {
            fail_all(r, items, timed_out ? &r->n_timeout : &r->n_unavailable);
            return;
        }
        if (items && w->c) writer_disconnect(r, w, "out of memory");
    }
}

/* Idle: checks that the connection still works and that the server is still a master with
 * enough replicas for --redis-wait-replicas, so that readiness tells the truth before the next
 * publish finds out. */
static void writer_ping(struct redis *r, struct writer_conn *w)
{
    redis_set_timeout(w->c, r->opt.timeout_ms);
    redisReply *rep = redisCommand(w->c, "ROLE");
    if (!rep) {
        writer_disconnect(r, w, w->c->errstr);
        return;
    }
    bool master = rep->type == REDIS_REPLY_ARRAY && rep->elements >= 3 &&
                  rep->element[0]->type == REDIS_REPLY_STRING &&
                  !strcmp(rep->element[0]->str, "master");
    size_t replicas =
        master && rep->element[2]->type == REDIS_REPLY_ARRAY ? rep->element[2]->elements : 0;
    freeReplyObject(rep);
    if (!master) {
        writer_disconnect(r, w, "the server is not a master any more");
        return;
    }
    atomic_store(&r->writable, replicas >= r->opt.wait_replicas);
}

void *redis_writer_main(void *arg)
{
    struct redis *r = arg;
    pthread_setname_np(pthread_self(), "sseb-redis-wr");
    struct writer_conn w = {0};
    uint8_t *buf = NULL;
    size_t bufcap = 0;
    uint32_t backoff = REDIS_BACKOFF_MIN_MS;
    for (;;) {
        if (!w.c) {
            if (atomic_load(&r->stopping)) {
                /* Unreachable at shutdown: answer what is left. */
                pthread_mutex_lock(&r->lock);
                struct redis_item *left = r->head;
                r->head = r->tail = NULL;
                pthread_mutex_unlock(&r->lock);
                fail_all(r, left, &r->n_unavailable);
                break;
            }
            if (!writer_connect(r, &w)) {
                /* Submissions fail at once meanwhile (writer_up is false); answer any that
                 * came in before it went down. */
                pthread_mutex_lock(&r->lock);
                struct redis_item *left = r->head;
                r->head = r->tail = NULL;
                pthread_mutex_unlock(&r->lock);
                fail_all(r, left, &r->n_unavailable);
                redis_pause(r, backoff);
                backoff = backoff * 2 > REDIS_BACKOFF_MAX_MS ? REDIS_BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            backoff = REDIS_BACKOFF_MIN_MS;
        }
        if (w.c && atomic_load(&r->master_epoch) != w.epoch) {
            writer_disconnect(r, &w, "the sentinels name another master");
            continue;
        }
        bool stop;
        struct redis_item *batch = take_batch(r, &stop);
        if (batch && w.c && redis_presence_tick(r, w.c, &w.beat, true))
            writer_disconnect(r, &w, w.c->errstr); /* write_batch connects again */
        if (batch)
            write_batch(r, &w, batch, &buf, &bufcap);
        else if (!stop && w.c)
            writer_ping(r, &w);
        if (!stop && w.c && redis_presence_tick(r, w.c, &w.beat, false))
            writer_disconnect(r, &w, w.c->errstr);
        if (stop) break;
    }
    if (w.c) redis_presence_leave(r, w.c);
    if (w.c) redisFree(w.c);
    free(buf);
    return NULL;
}
