/* GET /metrics: Prometheus text exposition, summed over the workers (and per worker where the
 * spread is what an operator looks at). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "core/authority.h"
#include "core/bus.h"
#include "core/history.h"
#include "mercure/handlers.h"
#include "mercure/context.h"
#include "mercure/subscriptions.h"
#include "net/conn.h"
#include "server/server.h"
#include "server/stats.h"
#include "server/worker.h"

/* jemalloc's control interface, when the binary links jemalloc (weak: absent otherwise). */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
    __attribute__((weak));

/* The exposition text; a failed append marks it failed and the answer becomes a 503. */
struct text {
    struct buf b;
    bool failed;
};

#define put(t, ...)                                                                                \
    do {                                                                                           \
        if (!(t)->failed && buf_printf(&(t)->b, __VA_ARGS__)) (t)->failed = true;                  \
    } while (0)

#define STAT_OFFSET(field) offsetof(struct worker_stats_snapshot, field)

static uint64_t stat_at(const struct worker_stats_snapshot *snap, size_t off)
{
    return *(const uint64_t *)((const char *)snap + off);
}

static void family(struct text *t, const struct worker_stats_snapshot *snaps, int n,
                   const char *name, const char *type, const char *help, size_t off,
                   bool per_worker)
{
    put(t, "# HELP ssebroker_%s %s\n# TYPE ssebroker_%s %s\n", name, help, name, type);
    uint64_t sum = 0;
    for (int i = 0; i < n; i++) {
        uint64_t v = stat_at(&snaps[i], off);
        sum += v;
        if (per_worker)
            put(t, "ssebroker_%s{worker=\"%d\"} %llu\n", name, i, (unsigned long long)v);
    }
    if (!per_worker) put(t, "ssebroker_%s %llu\n", name, (unsigned long long)sum);
}

/* Live heap bytes and the allocator's resident pages: a leak shows in the first, fragmentation
 * or retained free pages in the gap between the two. */
/* The subscriptions registry (--subscriptions): this node's and, in cluster mode, the others'. */
static void registry_stats(struct text *t, struct subscriptions *s)
{
    struct subscriptions_counts sc;
    subscriptions_counts(s, &sc);
    put(t,
        "# HELP ssebroker_subscriptions_listed Subscriptions the subscriptions API lists, by the "
        "node holding their stream.\n"
        "# TYPE ssebroker_subscriptions_listed gauge\n"
        "ssebroker_subscriptions_listed{node=\"this\"} %llu\n"
        "ssebroker_subscriptions_listed{node=\"others\"} %llu\n"
        "# HELP ssebroker_presence_orphans_ended_total Subscriptions of nodes that stopped "
        "answering, ended by this node (their inactive events published).\n"
        "# TYPE ssebroker_presence_orphans_ended_total counter\n"
        "ssebroker_presence_orphans_ended_total %llu\n"
        "# HELP ssebroker_presence_reconciled_total This node's subscriptions announced again or "
        "withdrawn in Redis after a lapse or an outage.\n"
        "# TYPE ssebroker_presence_reconciled_total counter\n"
        "ssebroker_presence_reconciled_total %llu\n",
        (unsigned long long)sc.local, (unsigned long long)sc.remote,
        (unsigned long long)sc.orphans_ended, (unsigned long long)sc.reconciled);
}

static void heap_stats(struct text *t)
{
    if (!mallctl) return;
    uint64_t epoch = 1;
    size_t len = sizeof(epoch);
    size_t allocated = 0, resident = 0, slen = sizeof(size_t);
    if (mallctl("epoch", &epoch, &len, &epoch, len) != 0 ||
        mallctl("stats.allocated", &allocated, &slen, NULL, 0) != 0 ||
        mallctl("stats.resident", &resident, &slen, NULL, 0) != 0)
        return;
    put(t,
        "# HELP ssebroker_heap_allocated_bytes Heap bytes in use (jemalloc).\n"
        "# TYPE ssebroker_heap_allocated_bytes gauge\nssebroker_heap_allocated_bytes %zu\n"
        "# HELP ssebroker_heap_resident_bytes Heap pages the allocator holds (jemalloc).\n"
        "# TYPE ssebroker_heap_resident_bytes gauge\nssebroker_heap_resident_bytes %zu\n",
        allocated, resident);
}

/* Cluster mode: Redis reachability, read-back lag, append latency and errors by reason. */
static void shared_store_stats(struct text *t, const struct authority_stats *as)
{
    put(t,
        "# HELP ssebroker_redis_up 1 while both the writer and the bridge reach Redis.\n"
        "# TYPE ssebroker_redis_up gauge\nssebroker_redis_up %d\n"
        "# HELP ssebroker_redis_connects_total Connections to Redis (re)established.\n"
        "# TYPE ssebroker_redis_connects_total counter\nssebroker_redis_connects_total %llu\n"
        "# HELP ssebroker_redis_bridge_lag_entries Updates acknowledged by this node that its "
        "bridge has not read back yet.\n"
        "# TYPE ssebroker_redis_bridge_lag_entries gauge\n"
        "ssebroker_redis_bridge_lag_entries %llu\n"
        "# HELP ssebroker_redis_bridge_lag_seconds Since the bridge last had read the whole "
        "Stream.\n"
        "# TYPE ssebroker_redis_bridge_lag_seconds gauge\n"
        "ssebroker_redis_bridge_lag_seconds %.3f\n"
        "# HELP ssebroker_redis_append_errors_total Publishes answered 503, by reason.\n"
        "# TYPE ssebroker_redis_append_errors_total counter\n"
        "ssebroker_redis_append_errors_total{reason=\"timeout\"} %llu\n"
        "ssebroker_redis_append_errors_total{reason=\"unavailable\"} %llu\n"
        "ssebroker_redis_append_errors_total{reason=\"reply\"} %llu\n"
        "ssebroker_redis_append_errors_total{reason=\"unreplicated\"} %llu\n"
        "# HELP ssebroker_redis_append_seconds Time from submission to Redis' answer.\n"
        "# TYPE ssebroker_redis_append_seconds histogram\n",
        as->connected, (unsigned long long)as->reconnects, (unsigned long long)as->lag_entries,
        (double)as->lag_ms / 1000.0, (unsigned long long)as->errors_timeout,
        (unsigned long long)as->errors_unavailable, (unsigned long long)as->errors_reply,
        (unsigned long long)as->errors_unreplicated);
    static const uint32_t bounds[AUTHORITY_LATENCY_BUCKETS] = AUTHORITY_LATENCY_BOUNDS_US;
    for (int i = 0; i < AUTHORITY_LATENCY_BUCKETS; i++)
        put(t, "ssebroker_redis_append_seconds_bucket{le=\"%g\"} %llu\n", bounds[i] / 1e6,
            (unsigned long long)as->append_latency_buckets[i]);
    put(t,
        "ssebroker_redis_append_seconds_bucket{le=\"+Inf\"} %llu\n"
        "ssebroker_redis_append_seconds_sum %.6f\nssebroker_redis_append_seconds_count %llu\n",
        (unsigned long long)as->append_latency_count, (double)as->append_latency_sum_us / 1e6,
        (unsigned long long)as->append_latency_count);
}

void metrics_handle(struct mercure *m, struct conn *c, bool keep_alive)
{
    const struct server *srv = m->srv;
    int n = srv->nworkers;
    struct worker_stats_snapshot snaps[SSEB_MAX_WORKERS];
    for (int i = 0; i < n; i++)
        worker_stats_read(&srv->workers[i]->stats, &snaps[i]);
    struct text t = {0};
    family(&t, snaps, n, "connections", "gauge", "Open client connections.",
           STAT_OFFSET(connections), true);
    family(&t, snaps, n, "streams", "gauge", "Open event streams.", STAT_OFFSET(streams), true);
    family(&t, snaps, n, "subscriptions", "gauge", "Selectors of the open streams.",
           STAT_OFFSET(subscriptions), false);
    family(&t, snaps, n, "connections_accepted_total", "counter", "Accepted connections.",
           STAT_OFFSET(accepted), false);
    family(&t, snaps, n, "connections_rejected_total", "counter",
           "Connections refused by the limits.", STAT_OFFSET(rejected), false);
    family(&t, snaps, n, "requests_total", "counter", "HTTP requests handled.",
           STAT_OFFSET(requests), false);
    family(&t, snaps, n, "publishes_total", "counter", "Updates accepted.", STAT_OFFSET(publishes),
           false);
    family(&t, snaps, n, "publishes_rejected_total", "counter",
           "Updates refused with 503 (no bus room within --publish-wait, or the store failed).",
           STAT_OFFSET(publish_rejected), false);
    family(&t, snaps, n, "publishes_parked_total", "counter",
           "Updates answered later: they waited for bus room or for the store (never in a sleeping "
           "worker).",
           STAT_OFFSET(publish_parked), false);
    family(&t, snaps, n, "resume_waits_total", "counter",
           "Resumes whose Last-Event-ID this node had not read back from Redis yet: they waited "
           "for the bridge to catch up.",
           STAT_OFFSET(resume_waits), false);
    family(&t, snaps, n, "send_timeouts_total", "counter",
           "Connections closed because their output made no progress for --send-timeout.",
           STAT_OFFSET(send_timeouts), false);
    family(&t, snaps, n, "input_held_total", "counter",
           "Connections whose pipelined requests waited unread because their queued answers "
           "exceeded --max-answer-bytes.",
           STAT_OFFSET(input_held), false);
    family(&t, snaps, n, "stream_input_closes_total", "counter",
           "Streams closed because the client kept sending data into them.",
           STAT_OFFSET(stream_input_closes), false);
    family(&t, snaps, n, "replay_cut_total", "counter",
           "Replaying streams closed because history evicted what they had still to read.",
           STAT_OFFSET(replay_cut), false);
    family(&t, snaps, n, "deliveries_total", "counter", "Events queued to subscribers.",
           STAT_OFFSET(deliveries), true);
    family(&t, snaps, n, "replayed_total", "counter", "Events replayed from history.",
           STAT_OFFSET(replayed), false);
    family(&t, snaps, n, "bytes_written_total", "counter", "Bytes written to clients.",
           STAT_OFFSET(bytes_out), false);
    family(&t, snaps, n, "slow_consumers_total", "counter",
           "Streams cut for exceeding their budget.", STAT_OFFSET(slow_consumers), false);
    family(&t, snaps, n, "heartbeats_total", "counter", "Heartbeat comments sent.",
           STAT_OFFSET(heartbeats), false);
    family(&t, snaps, n, "subscription_events_dropped_total", "counter",
           "Subscription events not published (bus full or out of memory).",
           STAT_OFFSET(subscription_events_dropped), false);

    put(&t, "# HELP ssebroker_bus_lag Events published but not yet read by a worker.\n"
            "# TYPE ssebroker_bus_lag gauge\n");
    for (int i = 0; i < n; i++)
        put(&t, "ssebroker_bus_lag{worker=\"%d\"} %llu\n", i,
            (unsigned long long)bus_consumer_lag(srv->bus, i));
    struct history_stats hs;
    history_stats(m->history, &hs);
    put(&t,
        "# HELP ssebroker_history_events Updates kept for replay.\n"
        "# TYPE ssebroker_history_events gauge\nssebroker_history_events %llu\n"
        "# HELP ssebroker_history_bytes Bytes kept for replay.\n"
        "# TYPE ssebroker_history_bytes gauge\nssebroker_history_bytes %llu\n"
        "# HELP ssebroker_history_evicted_total Updates dropped from history by its bounds.\n"
        "# TYPE ssebroker_history_evicted_total counter\nssebroker_history_evicted_total %llu\n"
        "# HELP ssebroker_workers Worker threads.\n# TYPE ssebroker_workers gauge\n"
        "ssebroker_workers %d\n"
        "# HELP ssebroker_draining 1 while the broker drains for shutdown.\n"
        "# TYPE ssebroker_draining gauge\nssebroker_draining %d\n",
        (unsigned long long)hs.events, (unsigned long long)hs.bytes, (unsigned long long)hs.evicted,
        n, atomic_load_explicit(&srv->draining, memory_order_relaxed));
    struct authority_stats as;
    authority_stats(m->authority, &as);
    put(&t,
        "# HELP ssebroker_store_info The order authority that stores updates (memory or log).\n"
        "# TYPE ssebroker_store_info gauge\nssebroker_store_info{store=\"%s\"} 1\n"
        "# HELP ssebroker_store_batches_total Group commits written to the store.\n"
        "# TYPE ssebroker_store_batches_total counter\nssebroker_store_batches_total %llu\n"
        "# HELP ssebroker_store_records_total Updates written to the store.\n"
        "# TYPE ssebroker_store_records_total counter\nssebroker_store_records_total %llu\n"
        "# HELP ssebroker_store_syncs_total fdatasync calls of the store.\n"
        "# TYPE ssebroker_store_syncs_total counter\nssebroker_store_syncs_total %llu\n"
        "# HELP ssebroker_store_write_errors_total Batches the store failed to write (answered "
        "503).\n"
        "# TYPE ssebroker_store_write_errors_total counter\n"
        "ssebroker_store_write_errors_total %llu\n"
        "# HELP ssebroker_store_disk_bytes Bytes of the store's files.\n"
        "# TYPE ssebroker_store_disk_bytes gauge\nssebroker_store_disk_bytes %llu\n"
        "# HELP ssebroker_store_segments Files of the store.\n"
        "# TYPE ssebroker_store_segments gauge\nssebroker_store_segments %llu\n"
        "# HELP ssebroker_history_discontinuities_total Breaks found in stored history (damaged "
        "segments set aside at start, ...).\n"
        "# TYPE ssebroker_history_discontinuities_total counter\n"
        "ssebroker_history_discontinuities_total %llu\n"
        "# HELP ssebroker_store_replay_reads_total Reads of the store (files, Redis) for replays "
        "older "
        "than the history kept in memory.\n"
        "# TYPE ssebroker_store_replay_reads_total counter\n"
        "ssebroker_store_replay_reads_total %llu\n"
        "# HELP ssebroker_store_replay_events_total Events those reads brought back.\n"
        "# TYPE ssebroker_store_replay_events_total counter\n"
        "ssebroker_store_replay_events_total %llu\n"
        "# HELP ssebroker_store_replay_finds_total Last-Event-IDs older than the history kept in "
        "memory, looked up in the store's files (on its reader thread, the subscribe parked).\n"
        "# TYPE ssebroker_store_replay_finds_total counter\n"
        "ssebroker_store_replay_finds_total %llu\n",
        authority_name(m->authority), (unsigned long long)as.batches,
        (unsigned long long)as.records, (unsigned long long)as.syncs,
        (unsigned long long)as.write_errors, (unsigned long long)as.disk_bytes,
        (unsigned long long)as.segments, (unsigned long long)as.discontinuities,
        (unsigned long long)as.archive_reads, (unsigned long long)as.archive_events,
        (unsigned long long)as.archive_finds);
    if (as.shared) shared_store_stats(&t, &as);
    if (m->subscriptions) registry_stats(&t, m->subscriptions);
    heap_stats(&t);
    if (t.failed) {
        buf_free(&t.b);
        conn_respond(c, 503, "text/plain", NULL, "Out of memory.", 14, true);
        return;
    }
    conn_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, t.b.p, t.b.len,
                 !keep_alive);
    buf_free(&t.b);
}
