/* A worker thread: its own poller, listener, connections, topic index and timers. Everything in
 * struct worker belongs to that thread alone; other threads reach a worker only through the bus
 * (core/bus.h), the shared drain flag (server/server.h) and its stats (read-only snapshots). */
#ifndef SSEB_SERVER_WORKER_H
#define SSEB_SERVER_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/completion.h"
#include "net/conn.h"
#include "server/fanout.h"
#include "server/stats.h"
#include "server/timer.h"

struct server;
struct park;
struct io_loop;

struct worker {
    int id;
    struct server *srv;
    struct io_loop *io;
    int listen_fd;
    struct fanout fan;                   /* bus cursor, subscriber index shard, streams */
    struct timers timers;                /* timeouts, heartbeats, stream ends */
    struct completion_queue completions; /* outcomes of submissions to an asynchronous store */
    struct conn_list conns;
    struct park *parked_head, *parked_tail; /* requests waiting for the store, oldest first */
    int64_t now_ms;
    int64_t next_tick_ms;
    uint32_t tick_ms;
    int64_t accept_resume_ms; /* nonzero: accepts paused (descriptors ran out) until then */
    bool draining;
    int64_t drain_deadline_ms;
    uint64_t seen_breaks; /* history breaks whose streams this worker has cut */
    struct worker_stats stats;
};

/* Binds the worker to its listener. use_uring: batch sends through io_uring where the kernel
 * allows. Returns NULL when out of memory or when the poller cannot be set up. */
struct worker *worker_new(struct server *srv, int id, int listen_fd, bool use_uring);
void worker_free(struct worker *w);
/* The thread's body: runs until the server drains and the last connection is gone. */
void *worker_main(void *worker);
/* Closes c now (its session, its stream, the transport). */
void worker_close(struct worker *w, struct conn *c);
/* Writes every connection with queued output. */
void worker_flush(struct worker *w);
/* True when the worker's poller batches its sends (the io_uring backend). */
bool worker_uses_io_uring(const struct worker *w);

/* Parking: a request that cannot be answered yet (its update waits for bus room or for the
 * store) stays on its connection, which reads no further input meanwhile. */
struct park_ops {
    /* Tries again; returns true once the request is answered (c then leaves the queue). */
    bool (*retry)(struct worker *w, struct conn *c);
    /* The wait ran out (deadline, or the worker drains): answer now (a 503, say) and return
     * true, or return false when the request cannot be abandoned (its update is on its way into
     * the store) and keeps waiting for its outcome. */
    bool (*expire)(struct worker *w, struct conn *c);
};
/* Parks c's current request until retry succeeds or deadline_ms passes. Called from on_request. */
void worker_park(struct worker *w, struct conn *c, const struct park_ops *ops, int64_t deadline_ms);

#endif
