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
#include "server/park.h"
#include "server/stats.h"
#include "server/timer.h"

struct server;
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
    struct parking parking; /* requests waiting for the store, bus room... */
    int64_t now_ms;
    int64_t next_tick_ms;
    uint32_t tick_ms;
    int slice; /* sends per batch of a flush: small while input arrives (worker_flush) */
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

/* Parks c's current request (called from on_request; see server/park.h): it is resumed once
 * worker_park_ready is called for it (PARK_FOR_OUTCOME) or bus room appears (PARK_FOR_BUS_ROOM),
 * and expired at deadline_ms. */
void worker_park(struct worker *w, struct conn *c, const struct park_ops *ops, void *ctx,
                 enum park_wait wait, int64_t deadline_ms);
/* What c's parked request waited for has come (a completion callback calls this). */
static inline void worker_park_ready(struct worker *w, struct conn *c)
{
    park_ready(&w->parking, c);
}
/* c's parked request now waits for something else. */
static inline void worker_park_rewait(struct worker *w, struct conn *c, enum park_wait wait)
{
    park_rewait(&w->parking, c, wait);
}

#endif
