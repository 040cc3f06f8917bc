/* Cluster presence in Redis: heartbeat, reaping, reconciliation, loading (store/redis_presence.h).
 */
#include "store/redis_presence.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "core/authority.h"
#include "core/event.h"
#include "store/record.h"
#include "store/redis_conn.h"
#include "store/redis_internal.h"

#define BEAT_MS      1000  /* heartbeat period */
#define REAP_MS      2000  /* how often a node looks for dead ones */
#define MIN_TTL_MS   10000 /* a heartbeat lives this long at least... */
#define TTL_TIMEOUTS 4 /* ...and four --redis-timeout (a writer may wait that long on a batch) */
#define MAX_TOPICS   8 /* subscription events have one topic */
/* A reconciliation waits for the append queue to empty at most this long. */
#define RECONCILE_WAIT_MS 2000

/* The tags that announced something, whose heartbeat is gone (not this node's), lose their
 * announcements: returned (records) and deleted, all at once, so that exactly one live node
 * ends them. Keys of other nodes are derived from the prefix (one Redis, never a cluster).
 * KEYS: nodes set. ARGV: key prefix (the stream's name), own tag. */
static const char reap_script[] =
    "local out = {}\n"
    "for _, tag in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  if tag ~= ARGV[2] and redis.call('EXISTS', ARGV[1] .. ':alive:' .. tag) == 0 then\n"
    "    local h = ARGV[1] .. ':presence:' .. tag\n"
    "    for _, v in ipairs(redis.call('HVALS', h)) do out[#out + 1] = v end\n"
    "    redis.call('DEL', h)\n"
    "    redis.call('SREM', KEYS[1], tag)\n"
    "  end\n"
    "end\n"
    "return out\n";

/* Every other node's announcements and the position of the newest entry, read at one instant.
 * KEYS: nodes set, stream. ARGV: key prefix, own tag. Reply: position, then records. */
static const char load_script[] =
    "local n = 0\n"
    "local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)\n"
    "if #last > 0 and last[1][2][1] == 'n' then n = tonumber(last[1][2][2]) end\n"
    "local out = {n}\n"
    "for _, tag in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
    "  if tag ~= ARGV[2] then\n"
    "    for _, v in ipairs(redis.call('HVALS', ARGV[1] .. ':presence:' .. tag)) do\n"
    "      out[#out + 1] = v\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return out\n";

int redis_presence_keys(struct redis *r)
{
    const char *s = r->stream;
    size_t n = strlen(s) + sizeof(r->tag) + 32;
    r->presence_key = malloc(n);
    r->nodes_key = malloc(n);
    r->alive_key = malloc(n);
    if (!r->presence_key || !r->nodes_key || !r->alive_key) return -1;
    snprintf(r->presence_key, n, "%s:presence:%s", s, r->tag);
    snprintf(r->nodes_key, n, "%s:presence:nodes", s);
    snprintf(r->alive_key, n, "%s:alive:%s", s, r->tag);
    return 0;
}

void redis_presence_free_keys(struct redis *r)
{
    free(r->presence_key);
    free(r->nodes_key);
    free(r->alive_key);
}

/* An event from a stored record (a hash value), or NULL when it is not one. */
static struct event *event_of_record(const redisReply *v)
{
    struct sseb_str topics[MAX_TOPICS];
    struct log_record lr;
    size_t used;
    if (v->type != REDIS_REPLY_STRING ||
        record_decode((const uint8_t *)v->str, v->len, &lr, topics, MAX_TOPICS, &used) !=
            RECORD_OK ||
        used != v->len)
        return NULL;
    return event_new_encoded(lr.topics, lr.ntopics, lr.id, lr.wire, lr.private_);
}

static const struct authority_presence *hooks(struct redis *r)
{
    return atomic_load_explicit(&r->presence, memory_order_acquire);
}

/* Sets the heartbeat; true when it had expired (or never was): this node's announcements may
 * have been taken for a dead node's. */
static int beat(struct redis *r, redisContext *c, bool *lapsed)
{
    uint32_t ttl = r->opt.timeout_ms * TTL_TIMEOUTS;
    if (ttl < MIN_TTL_MS) ttl = MIN_TTL_MS;
    redisReply *rep = redisCommand(c, "SET %s 1 PX %u GET", r->alive_key, ttl);
    if (!rep) return -1;
    *lapsed = rep->type == REDIS_REPLY_NIL;
    freeReplyObject(rep);
    return 0;
}

static int reap(struct redis *r, redisContext *c, const struct authority_presence *p)
{
    redisReply *rep =
        redisCommand(c, "EVAL %s 1 %s %s %s", reap_script, r->nodes_key, r->stream, r->tag);
    if (!rep) return -1;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements) {
        log_warn("redis presence: ending the subscriptions of nodes that stopped answering",
                 "stream=%s subscriptions=%zu", r->stream, rep->elements);
        for (size_t i = 0; i < rep->elements; i++) {
            struct event *ev = event_of_record(rep->element[i]);
            if (!ev) continue;
            p->orphaned(p->ctx, ev);
            event_unref(ev);
        }
    } else if (rep->type == REDIS_REPLY_ERROR) {
        log_warn("redis presence: reaping refused", "stream=%s reply=\"%s\"", r->stream, rep->str);
    }
    freeReplyObject(rep);
    return 0;
}

static int reconcile(struct redis *r, redisContext *c, const struct authority_presence *p)
{
    redisReply *rep = redisCommand(c, "HVALS %s", r->presence_key);
    if (!rep) return -1;
    size_t n = rep->type == REDIS_REPLY_ARRAY ? rep->elements : 0;
    struct event **stored = calloc(n ? n : 1, sizeof(*stored));
    if (!stored) {
        freeReplyObject(rep);
        return 0; /* tried again on the next lapse */
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if ((stored[k] = event_of_record(rep->element[i]))) k++;
    freeReplyObject(rep);
    p->reconcile(p->ctx, stored, k);
    for (size_t i = 0; i < k; i++)
        event_unref(stored[i]);
    free(stored);
    return 0;
}

/* Nothing waits to be appended: a reconciliation now does not announce again what a worker
 * just submitted. */
static bool queue_empty(struct redis *r)
{
    pthread_mutex_lock(&r->lock);
    bool empty = !r->head;
    pthread_mutex_unlock(&r->lock);
    return empty;
}

int redis_presence_tick(struct redis *r, redisContext *c, struct presence_beat *pb,
                        bool batch_pending)
{
    const struct authority_presence *p = hooks(r);
    if (!p || atomic_load(&r->stopping)) return 0;
    int64_t now = clock_now_ms();
    redis_set_timeout(c, r->opt.timeout_ms);
    if (now >= pb->next_beat_ms) {
        bool lapsed;
        if (beat(r, c, &lapsed)) return -1;
        pb->next_beat_ms = now + BEAT_MS;
        if (lapsed && !pb->reconcile) pb->reconcile = true, pb->reconcile_by_ms = 0;
    }
    /* Before a batch: only the heartbeat (a node's first announcement must not find it
     * missing, or a survivor takes the node for dead); comparing with Redis waits until what
     * the batch announces is there. */
    if (batch_pending) return 0;
    if (pb->reconcile) {
        if (!pb->reconcile_by_ms) pb->reconcile_by_ms = now + RECONCILE_WAIT_MS;
        if (queue_empty(r) || now >= pb->reconcile_by_ms) {
            pb->reconcile = false;
            pb->reconcile_by_ms = 0;
            if (reconcile(r, c, p)) return -1;
        }
    }
    if (now >= pb->next_reap_ms) {
        pb->next_reap_ms = now + REAP_MS;
        if (reap(r, c, p)) return -1;
    }
    return 0;
}

void redis_presence_leave(struct redis *r, redisContext *c)
{
    if (!hooks(r)) return;
    redis_set_timeout(c, r->opt.timeout_ms);
    /* Streams ended before the writer's last batch: what is left was never withdrawn (an event
     * dropped), and nobody would end it now that the heartbeat goes. */
    redisReply *rep = redisCommand(c, "HLEN %s", r->presence_key);
    bool empty = rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 0;
    if (rep) freeReplyObject(rep);
    if (empty) {
        rep = redisCommand(c, "SREM %s %s", r->nodes_key, r->tag);
        if (rep) freeReplyObject(rep);
    }
    rep = redisCommand(c, "DEL %s", r->alive_key);
    if (rep) freeReplyObject(rep);
}

int redis_presence_load(struct redis *r, redisContext *c, uint64_t *from_n)
{
    const struct authority_presence *p = hooks(r);
    if (!p) return 0;
    redis_set_timeout(c, r->opt.timeout_ms);
    redisReply *rep = redisCommand(c, "EVAL %s 2 %s %s %s %s", load_script, r->nodes_key, r->stream,
                                   r->stream, r->tag);
    if (!rep) return -1;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
        rep->element[0]->type != REDIS_REPLY_INTEGER) {
        log_warn("redis presence: the registry could not be read", "stream=%s reply=\"%s\"",
                 r->stream, rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        freeReplyObject(rep);
        return -1;
    }
    *from_n = (uint64_t)rep->element[0]->integer;
    p->reset(p->ctx);
    for (size_t i = 1; i < rep->elements; i++) {
        struct event *ev = event_of_record(rep->element[i]);
        if (!ev) continue;
        p->event(p->ctx, ev, true, false);
        event_unref(ev);
    }
    freeReplyObject(rep);
    return 0;
}
