/* A worker thread: its own epoll loop, listener, connections, topic index and timers. */
#ifndef SSEB_WORKER_H
#define SSEB_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "io.h"
#include "outq.h"
#include "topic.h"

struct sseb_broker;
struct conn;
struct http_request;

/* Counters written by the worker only (relaxed atomics so /metrics can read them anywhere). */
struct worker_stats {
    _Atomic uint64_t accepted, rejected, connections, streams, subscriptions;
    _Atomic uint64_t publishes, publish_rejected, deliveries, bytes_out, slow_consumers, heartbeats,
        requests, replayed, subscription_events_dropped;
};

#define STAT_ADD(w, field, n)                                                                      \
    atomic_store_explicit(&(w)->stats.field,                                                       \
                          atomic_load_explicit(&(w)->stats.field, memory_order_relaxed) + (n),     \
                          memory_order_relaxed)
#define STAT_GET(w, field) atomic_load_explicit(&(w)->stats.field, memory_order_relaxed)

struct sender;

struct worker {
    int id;
    struct sseb_broker *b;
    struct io_loop *io;
    int listen_fd;
    struct topic_index index;
    struct shared_pool pool;
    struct sender *sender; /* batched socket writes */
    struct conn *conns;
    uint32_t nconns;
    struct conn *dirty;
    int64_t now_ms;
    int64_t next_tick_ms;
    uint32_t tick_ms;
    char retry_hint[48];
    uint32_t retry_hint_len;
    int64_t accept_resume_ms; /* nonzero: accepts paused (descriptors ran out) until then */
    bool draining;
    int64_t drain_deadline_ms;
    struct worker_stats stats;
};

struct worker *worker_new(struct sseb_broker *b, int id, int listen_fd);
void worker_free(struct worker *w);
void *worker_main(void *arg);

/* Used by the request handlers (routes, publish, subscribe). */
int64_t worker_now_ms(void);
/* The worker-clock deadline (ms, from now_ms) of epoch second at_s, now being epoch second now_s;
 * saturates at now_ms (past) and INT64_MAX (too far to represent). */
int64_t deadline_at_epoch(int64_t now_ms, long long at_s, int64_t now_s);
/* Queues a complete response; close set: the connection closes once it is written. */
void conn_respond(struct worker *w, struct conn *c, int status, const char *content_type,
                  const char *extra_headers, const char *body, size_t body_len, bool close);
/* Queues bytes (copied) on c and schedules a flush. Returns -1 when out of memory. */
int conn_write_copy(struct worker *w, struct conn *c, const char *p, size_t len);
void conn_mark_dirty(struct worker *w, struct conn *c);
/* Closes c at the next flush, discarding its output. */
void conn_kill(struct worker *w, struct conn *c);
/* Consumes this worker's bus backlog into its subscribers' queues without writing them: the
 * publish path calls it to make room on a full bus. */
void worker_drain_bus(void *worker);
/* Turns c into an event stream: registers its selectors and remembers from which seq it reads. */
int worker_start_stream(struct worker *w, struct conn *c, char **selectors, size_t *lens, size_t n,
                        uint64_t after_seq);
/* Queues a replayed event to c only (respecting c's private-update rights), outside its live
 * output budget. */
void worker_deliver_replayed(struct worker *w, struct conn *c, struct event *ev);
/* True when c's subscriber may receive ev (public, or a topic allowed by its token). */
bool conn_may_read(const struct conn *c, const struct event *ev);

#endif
