/* Cluster mode's order authority: submissions, readiness, metrics, and the two threads' start
 * and stop (store/redis.h). */
#include "store/redis.h"

#include <errno.h>
#include <hiredis/hiredis.h>
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
#include "core/history.h"
#include "core/hub.h"
#include "store/record.h"
#include "store/redis_archive.h"
#include "store/redis_conn.h"
#include "store/redis_internal.h"
#include "store/redis_presence.h"
#include "store/redis_sentinel.h"

void redis_pause(struct redis *r, uint32_t ms)
{
    struct timespec until = clock_realtime_in(ms);
    pthread_mutex_lock(&r->lock);
    uint64_t epoch = atomic_load(&r->master_epoch);
    while (!r->stop && atomic_load(&r->master_epoch) == epoch &&
           pthread_cond_timedwait(&r->pause, &r->lock, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&r->lock);
}
static enum authority_result redis_submit(struct authority *a, struct event *ev,
                                          struct authority_ticket *ticket)
{
    struct redis *r = (struct redis *)a;
    if (!record_fits(ev)) return AUTHORITY_TOO_LARGE; /* the bridge could not read it back */
    /* Nothing is buffered while Redis is unreachable: the publisher hears so at once. */
    if (!atomic_load_explicit(&r->writer_up, memory_order_acquire)) {
        atomic_fetch_add_explicit(&r->n_unavailable, 1, memory_order_relaxed);
        return AUTHORITY_FAILED;
    }
    struct redis_item *it = malloc(sizeof(*it));
    if (!it) return AUTHORITY_FAILED;
    event_ref(ev);
    *it = (struct redis_item){
        .ev = ev,
        .ticket = ticket,
        .submitted_us = clock_now_us(),
        .token = atomic_fetch_add_explicit(&r->next_token, 1, memory_order_relaxed)};
    pthread_mutex_lock(&r->lock);
    if (r->tail)
        r->tail->next = it;
    else
        r->head = it;
    r->tail = it;
    pthread_mutex_unlock(&r->lock);
    pthread_cond_signal(&r->wake);
    return AUTHORITY_PENDING;
}

static bool redis_ready(struct authority *a, const char **why)
{
    struct redis *r = (struct redis *)a;
    if (!atomic_load(&r->writer_up) || !atomic_load(&r->bridge_up)) {
        *why = "redis unreachable";
        return false;
    }
    if (!atomic_load(&r->writable)) {
        *why = r->opt.wait_replicas
                   ? "the redis master has fewer replicas than --redis-wait-replicas"
                   : "the redis master refuses writes";
        return false;
    }
    if (!atomic_load(&r->loaded)) {
        *why = "loading the stream";
        return false;
    }
    if (clock_now_ms() - atomic_load(&r->caught_up_ms) > (int64_t)r->opt.max_lag_ms) {
        *why = "reading the stream back lags";
        return false;
    }
    return true;
}

/* A read that completes after the one in flight now was issued after this call: once the count
 * of completed reads is two higher, everything Redis held at the call has been read. */
static void redis_sync(struct authority *a, struct authority_ticket *t)
{
    struct redis *r = (struct redis *)a;
    pthread_mutex_lock(&r->sync_lock);
    t->mark = atomic_load_explicit(&r->reads, memory_order_acquire) + 2;
    t->next = r->sync_waiting;
    r->sync_waiting = t;
    atomic_fetch_add_explicit(&r->n_sync_waiting, 1, memory_order_release);
    pthread_mutex_unlock(&r->sync_lock);
}

void redis_sync_progress(struct redis *r, bool stopping)
{
    if (!atomic_load_explicit(&r->n_sync_waiting, memory_order_acquire)) return;
    uint64_t reads = atomic_load_explicit(&r->reads, memory_order_acquire);
    struct authority_ticket *done = NULL, **p;
    uint32_t n = 0;
    pthread_mutex_lock(&r->sync_lock);
    for (p = &r->sync_waiting; *p;) {
        struct authority_ticket *t = *p;
        if (stopping || t->mark <= reads) {
            *p = t->next;
            t->next = done;
            done = t;
            n++;
        } else {
            p = &t->next;
        }
    }
    atomic_fetch_sub_explicit(&r->n_sync_waiting, n, memory_order_release);
    pthread_mutex_unlock(&r->sync_lock);
    /* Posted after the lock: posting may write an eventfd. */
    while (done) {
        struct authority_ticket *next = done->next;
        completion_post(done, stopping ? AUTHORITY_FAILED : AUTHORITY_STORED);
        done = next;
    }
}

static void redis_stats(struct authority *a, struct authority_stats *out)
{
    struct redis *r = (struct redis *)a;
#define LOAD(x) atomic_load_explicit(&r->x, memory_order_relaxed)
    out->shared = true;
    out->connected = LOAD(writer_up) && LOAD(bridge_up);
    out->batches = LOAD(n_batches);
    out->records = LOAD(n_records);
    out->discontinuities = LOAD(n_discontinuities);
    out->reconnects = LOAD(n_reconnects);
    uint64_t acked = LOAD(acked_n), read = LOAD(read_n);
    out->lag_entries = acked > read ? acked - read : 0;
    int64_t behind = clock_now_ms() - LOAD(caught_up_ms);
    out->lag_ms = LOAD(loaded) && behind > 0 ? (uint64_t)behind : 0;
    uint64_t cumulative = 0;
    for (int i = 0; i < AUTHORITY_LATENCY_BUCKETS; i++) {
        cumulative += LOAD(lat_buckets[i]);
        out->append_latency_buckets[i] = cumulative;
    }
    out->append_latency_count = LOAD(lat_count);
    out->append_latency_sum_us = LOAD(lat_sum_us);
    out->errors_timeout = LOAD(n_timeout);
    out->errors_unavailable = LOAD(n_unavailable);
    out->errors_reply = LOAD(n_reply);
    out->errors_unreplicated = LOAD(n_unreplicated);
    if (r->archive) redis_archive_counts(r->archive, &out->archive_reads, &out->archive_events);
    out->write_errors = out->errors_timeout + out->errors_unavailable + out->errors_reply +
                        out->errors_unreplicated;
#undef LOAD
}

static void redis_free(struct authority *a)
{
    struct redis *r = (struct redis *)a;
    atomic_store(&r->stopping, true);
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    pthread_mutex_unlock(&r->lock);
    pthread_cond_broadcast(&r->wake);
    pthread_cond_broadcast(&r->pause);
    if (r->writer_started) pthread_join(r->writer, NULL); /* sends what is queued first */
    if (r->bridge_started) pthread_join(r->bridge, NULL);
    if (r->watcher_started) pthread_join(r->watcher, NULL);
    if (r->archive) { /* after the bridge, which feeds its map */
        history_set_archive(r->hub->history, NULL);
        redis_archive_stop(r->archive);
    }
    redis_sync_progress(r, true);
    pthread_mutex_destroy(&r->sync_lock);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->wake);
    pthread_cond_destroy(&r->pause);
    redis_presence_free_keys(r);
    free(r->stream);
    free(r->index);
    free(r);
}

static void redis_set_presence(struct authority *a, const struct authority_presence *p)
{
    struct redis *r = (struct redis *)a;
    atomic_store_explicit(&r->presence, p, memory_order_release);
    atomic_store(&r->presence_reload, true); /* the bridge may have connected already */
}

static const struct authority_ops redis_ops = {
    .name = "redis",
    .stats = redis_stats,
    .submit = redis_submit,
    .ready = redis_ready,
    .sync = redis_sync,
    .set_presence = redis_set_presence,
    .free = redis_free,
};

struct authority *authority_redis_open(struct hub *hub, const struct redis_options *o, char *err,
                                       size_t errlen)
{
    /* A reachable Redis that cannot keep the guarantees stops the start here; an unreachable one
     * does not (the node becomes ready once it is back). */
    redisContext *probe;
    char reason[256];
    struct redis_target at;
    int next = 0;
    enum redis_connect_status st =
        redis_connect_master(o, &next, &probe, &at, reason, sizeof(reason), NULL, 0);
    if (st == RCONN_REFUSED) {
        snprintf(err, errlen, "redis://%s:%d: %s", at.host, at.port, reason);
        return NULL;
    }
    if (probe) redisFree(probe);
    struct redis *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->base.ops = &redis_ops;
    r->hub = hub;
    r->opt = *o;
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->sync_lock, NULL);
    pthread_cond_init(&r->wake, NULL);
    pthread_cond_init(&r->pause, NULL);
    size_t klen = strlen(o->stream);
    r->stream = strdup(o->stream);
    r->index = malloc(klen + 5);
    if (!r->stream || !r->index) {
        snprintf(err, errlen, "out of memory");
        redis_free(&r->base);
        return NULL;
    }
    memcpy(r->index, o->stream, klen);
    memcpy(r->index + klen, ":ids", 5);
    r->opt.stream = r->stream;
    char uuid[RAND_URN_UUID_LEN + 1];
    rand_urn_uuid(uuid);
    snprintf(r->tag, sizeof(r->tag), "%s", uuid + 9); /* without "urn:uuid:" */
    if (redis_presence_keys(r)) {
        snprintf(err, errlen, "out of memory");
        redis_free(&r->base);
        return NULL;
    }
    r->archive = redis_archive_start(r);
    if (!r->archive) {
        snprintf(err, errlen, "cannot start the redis archive reader thread");
        redis_free(&r->base);
        return NULL;
    }
    history_set_archive(hub->history, redis_archive_base(r->archive));
    if (pthread_create(&r->writer, NULL, redis_writer_main, r)) {
        snprintf(err, errlen, "cannot start the redis writer thread");
        redis_free(&r->base);
        return NULL;
    }
    r->writer_started = true;
    if (pthread_create(&r->bridge, NULL, redis_bridge_main, r)) {
        snprintf(err, errlen, "cannot start the redis bridge thread");
        redis_free(&r->base);
        return NULL;
    }
    r->bridge_started = true;
    if (r->opt.sentinels.n) {
        if (pthread_create(&r->watcher, NULL, redis_sentinel_watch_main, r)) {
            snprintf(err, errlen, "cannot start the redis sentinel watcher thread");
            redis_free(&r->base);
            return NULL;
        }
        r->watcher_started = true;
    }
    return &r->base;
}
