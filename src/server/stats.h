/* Per-worker counters. Only the owning worker writes them (relaxed atomics: a plain load and
 * store, no read-modify-write), so counting costs nothing on the hot path; any thread reads a
 * snapshot for /metrics. */
#ifndef SSEB_SERVER_STATS_H
#define SSEB_SERVER_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#define WORKER_STATS(X)                                                                            \
    X(accepted)                                                                                    \
    X(rejected)                                                                                    \
    X(connections)                                                                                 \
    X(streams)                                                                                     \
    X(subscriptions)                                                                               \
    X(publishes)                                                                                   \
    X(publish_rejected)                                                                            \
    X(publish_parked)                                                                              \
    X(resume_waits)                                                                                \
    X(deliveries)                                                                                  \
    X(bytes_out)                                                                                   \
    X(slow_consumers)                                                                              \
    X(send_timeouts)                                                                               \
    X(input_held)                                                                                  \
    X(stream_input_closes)                                                                         \
    X(heartbeats)                                                                                  \
    X(requests)                                                                                    \
    X(replayed)                                                                                    \
    X(replay_cut)                                                                                  \
    X(archive_reads)                                                                               \
    X(subscription_events_dropped)

struct worker_stats {
#define X(name) _Atomic uint64_t name;
    WORKER_STATS(X)
#undef X
};

/* The same counters, read once: what /metrics works from. */
struct worker_stats_snapshot {
#define X(name) uint64_t name;
    WORKER_STATS(X)
#undef X
};

#define STAT_ADD(stats, field, n)                                                                  \
    atomic_store_explicit(&(stats)->field,                                                         \
                          atomic_load_explicit(&(stats)->field, memory_order_relaxed) + (n),       \
                          memory_order_relaxed)
#define STAT_SUB(stats, field, n)                                                                  \
    atomic_store_explicit(&(stats)->field,                                                         \
                          atomic_load_explicit(&(stats)->field, memory_order_relaxed) - (n),       \
                          memory_order_relaxed)

static inline void worker_stats_read(const struct worker_stats *s,
                                     struct worker_stats_snapshot *out)
{
#define X(name) out->name = atomic_load_explicit(&s->name, memory_order_relaxed);
    WORKER_STATS(X)
#undef X
}

#endif
