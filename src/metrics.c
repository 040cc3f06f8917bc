/* GET /metrics: Prometheus text exposition, summed over the workers (and per worker where the
 * spread is what an operator looks at). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "conn.h"
#include "history.h"
#include "http.h"
#include "routes.h"
#include "server.h"
#include "worker.h"

/* jemalloc's control interface, when the binary links jemalloc (weak: absent otherwise). */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
    __attribute__((weak));

struct text {
    char *p;
    size_t len, cap;
    bool failed;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = t->cap - t->len;
        int n = vsnprintf(t->p ? t->p + t->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if ((size_t)n < room) {
            t->len += (size_t)n;
            return;
        }
        size_t ncap = t->cap ? t->cap * 2 : 4096;
        while (ncap - t->len <= (size_t)n)
            ncap *= 2;
        char *p = realloc(t->p, ncap);
        if (!p) {
            t->failed = true;
            return;
        }
        t->p = p;
        t->cap = ncap;
    }
}

#define STAT_OFFSET(field) offsetof(struct worker_stats, field)

static uint64_t stat_at(const struct worker *w, size_t off)
{
    return atomic_load_explicit((_Atomic uint64_t *)((char *)&w->stats + off),
                                memory_order_relaxed);
}

static void family(struct text *t, struct sseb_broker *b, const char *name, const char *type,
                   const char *help, size_t off, bool per_worker)
{
    put(t, "# HELP ssebroker_%s %s\n# TYPE ssebroker_%s %s\n", name, help, name, type);
    uint64_t sum = 0;
    for (int i = 0; i < b->nworkers; i++) {
        uint64_t v = stat_at(b->workers[i], off);
        sum += v;
        if (per_worker)
            put(t, "ssebroker_%s{worker=\"%d\"} %llu\n", name, i, (unsigned long long)v);
    }
    if (!per_worker) put(t, "ssebroker_%s %llu\n", name, (unsigned long long)sum);
}

/* Live heap bytes and the allocator's resident pages: a leak shows in the first, fragmentation
 * or retained free pages in the gap between the two. */
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

void metrics_handle(struct worker *w, struct conn *c, bool keep_alive)
{
    struct sseb_broker *b = w->b;
    struct text t = {0};
    family(&t, b, "connections", "gauge", "Open client connections.", STAT_OFFSET(connections),
           true);
    family(&t, b, "streams", "gauge", "Open event streams.", STAT_OFFSET(streams), true);
    family(&t, b, "subscriptions", "gauge", "Selectors of the open streams.",
           STAT_OFFSET(subscriptions), false);
    family(&t, b, "connections_accepted_total", "counter", "Accepted connections.",
           STAT_OFFSET(accepted), false);
    family(&t, b, "connections_rejected_total", "counter", "Connections refused by the limits.",
           STAT_OFFSET(rejected), false);
    family(&t, b, "requests_total", "counter", "HTTP requests handled.", STAT_OFFSET(requests),
           false);
    family(&t, b, "publishes_total", "counter", "Updates accepted.", STAT_OFFSET(publishes), false);
    family(&t, b, "publishes_rejected_total", "counter", "Updates refused with 503 (bus full).",
           STAT_OFFSET(publish_rejected), false);
    family(&t, b, "deliveries_total", "counter", "Events queued to subscribers.",
           STAT_OFFSET(deliveries), true);
    family(&t, b, "replayed_total", "counter", "Events replayed from history.",
           STAT_OFFSET(replayed), false);
    family(&t, b, "bytes_written_total", "counter", "Bytes written to clients.",
           STAT_OFFSET(bytes_out), false);
    family(&t, b, "slow_consumers_total", "counter", "Streams cut for exceeding their budget.",
           STAT_OFFSET(slow_consumers), false);
    family(&t, b, "heartbeats_total", "counter", "Heartbeat comments sent.",
           STAT_OFFSET(heartbeats), false);
    family(&t, b, "subscription_events_dropped_total", "counter",
           "Subscription events not published (bus full or out of memory).",
           STAT_OFFSET(subscription_events_dropped), false);

    put(&t, "# HELP ssebroker_bus_lag Events published but not yet read by a worker.\n"
            "# TYPE ssebroker_bus_lag gauge\n");
    for (int i = 0; i < b->nworkers; i++)
        put(&t, "ssebroker_bus_lag{worker=\"%d\"} %llu\n", i,
            (unsigned long long)bus_consumer_lag(b->bus, i));
    struct history_stats hs;
    history_stats(b->history, &hs);
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
        b->nworkers, atomic_load_explicit(&b->draining, memory_order_relaxed));
    heap_stats(&t);
    if (t.failed) {
        free(t.p);
        conn_respond(w, c, 503, "text/plain", NULL, "Out of memory.", 14, true);
        return;
    }
    conn_respond(w, c, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, t.p, t.len,
                 !keep_alive);
    free(t.p);
}
