/* The order authority: the one place that decides the order of updates and makes them durable
 * (DESIGN.md section 2). A worker submits a validated, encoded event and goes on serving; the
 * update is acknowledged to its publisher only once the authority says it is stored, and it
 * reaches subscribers only after that (through core/hub.h), so no subscriber ever sees an update
 * that a crash could un-write.
 *
 * Implementations: memory (authority_memory.c; history in RAM only), the embedded log
 * (store/log.c), and later the Redis Stream. The last two answer AUTHORITY_PENDING and complete
 * through the ticket: its outcome is posted to the submitter's completion queue
 * (core/completion.h) and `done` runs on the submitting worker's thread.
 *
 * Threads: submit may be called from any worker at once; it never blocks and never sleeps. */
#ifndef SSEB_CORE_AUTHORITY_H
#define SSEB_CORE_AUTHORITY_H

#include <stdbool.h>
#include <stdint.h>

struct event;
struct authority;

enum authority_result {
    AUTHORITY_STORED,    /* ordered (ev->seq set) and stored: acknowledge it now */
    AUTHORITY_FULL,      /* no room right now: submit the same event again later, or give up */
    AUTHORITY_PENDING,   /* taken; the outcome comes through the ticket's done callback */
    AUTHORITY_FAILED,    /* refused (the store is unreachable or broken): answer 503 */
    AUTHORITY_TOO_LARGE, /* refused at once: the store could not read it back: answer 413 */
    /* Written, but not known to be as durable as configured (Redis: not confirmed on
     * --redis-wait-replicas replicas in time): answer 503; a failover may still take it back. */
    AUTHORITY_UNCONFIRMED,
};

/* A submission's outcome, for an authority that completes later (AUTHORITY_PENDING). The
 * submitter owns the ticket's memory until done has run; done runs on the thread that owns
 * `queue` (the submitting worker), never on the authority's. */
struct completion_queue;
struct authority_ticket {
    void (*done)(struct authority_ticket *t); /* t->result is set when it runs */
    struct completion_queue *queue;           /* where the outcome is posted */
    enum authority_result result;
    struct authority_ticket *next; /* the queue's link */
    uint64_t mark;                 /* the authority's own use while it holds the ticket */
};

/* Upper bounds (microseconds) of the append latency histogram's buckets. */
#define AUTHORITY_LATENCY_BOUNDS_US                                                                \
    {                                                                                              \
        250, 500, 1000, 2500, 5000, 10000, 50000, 250000, 1000000                                  \
    }
#define AUTHORITY_LATENCY_BUCKETS 9

/* What an authority reports for /metrics (zero where it does not apply). */
struct authority_stats {
    uint64_t batches, records, syncs, write_errors; /* writes to its store */
    uint64_t disk_bytes, segments;                  /* what it holds on disk */
    uint64_t discontinuities; /* breaks found in its history (damaged segments set aside, ...) */
    uint64_t archive_reads,
        archive_events;     /* replay read back from its files (older than memory) */
    uint64_t archive_finds; /* Last-Event-IDs older than memory looked up in its files */
    /* A shared store (Redis): its reachability, how far behind the read-back is, appends. */
    bool shared;
    bool connected;       /* the writer and the reader both reach it */
    uint64_t lag_entries; /* acknowledged by this node, not read back yet */
    uint64_t lag_ms;      /* since the reader last had everything */
    uint64_t reconnects;  /* connections (re)established */
    uint64_t append_latency_buckets[AUTHORITY_LATENCY_BUCKETS]; /* cumulative, by bound */
    uint64_t append_latency_count, append_latency_sum_us;
    uint64_t errors_timeout;      /* not answered within the timeout */
    uint64_t errors_unavailable;  /* refused at once: not connected */
    uint64_t errors_reply;        /* the store answered with an error */
    uint64_t errors_unreplicated; /* stored, not confirmed on enough replicas in time */
};

/* Cluster presence: with the subscriptions feature, a shared store (Redis) keeps what each node
 * announced (EVENT_PRESENCE_* events) so that every node can list the subscriptions held by the
 * others, and ends those of a node that died. The layer above (mercure/subscriptions.c) keeps
 * the registry; the store calls these on its own threads, never on a worker. */
struct authority_presence {
    void *ctx;
    /* Forget every other node's subscription: the registry is read again (announcements follow).
     * Reader thread. */
    void (*reset)(void *ctx);
    /* A subscription announced or withdrawn in the shared order (or, after reset, one that is
     * announced now). own: this node appended it. Reader thread, before the event reaches
     * history, so the list is never older than the events a client has seen. */
    void (*event)(void *ctx, const struct event *ev, bool announce, bool own);
    /* A subscription of a node that stopped answering, taken over by this node: publish its
     * end. Writer thread. */
    void (*orphaned)(void *ctx, const struct event *ev);
    /* What the store holds as this node's announcements (stored[0..n)): it may have lost some
     * (an outage dropped events, a reset, a failover, this node was taken for dead); announce
     * what is missing, withdraw what is stale. Writer thread. */
    void (*reconcile)(void *ctx, struct event *const *stored, size_t n);
};

struct authority_ops {
    const char *name; /* "memory", ... (logged at start, shown in /metrics) */
    /* Fills *out; may be NULL (nothing to report). Any thread. */
    void (*stats)(struct authority *a, struct authority_stats *out);
    /* Submits ev; the caller keeps its reference (the authority takes what it needs). ticket
     * NULL: nobody waits for the outcome (the authority then never answers PENDING's result). */
    enum authority_result (*submit)(struct authority *a, struct event *ev,
                                    struct authority_ticket *ticket);
    /* NULL or true: it can take and deliver updates now. False with a one-line reason for
     * /readyz (the store is unreachable, the read-back lags). Any thread. */
    bool (*ready)(struct authority *a, const char **why);
    /* A store whose updates reach history later than they are acknowledged (Redis: read back
     * by the bridge) may be asked to catch up: sync posts t (AUTHORITY_STORED) once everything
     * it had stored before the call is in history, or AUTHORITY_FAILED when it stops first.
     * NULL: history is always current. Any worker. */
    void (*sync)(struct authority *a, struct authority_ticket *t);
    /* Registers the presence callbacks (p outlives the authority). NULL: one node sees only its
     * own subscriptions, which then are all there are. */
    void (*set_presence)(struct authority *a, const struct authority_presence *p);
    void (*free)(struct authority *a);
};

struct authority {
    const struct authority_ops *ops;
};

static inline enum authority_result authority_submit(struct authority *a, struct event *ev,
                                                     struct authority_ticket *ticket)
{
    return a->ops->submit(a, ev, ticket);
}

static inline const char *authority_name(const struct authority *a)
{
    return a->ops->name;
}

static inline void authority_stats(struct authority *a, struct authority_stats *out)
{
    *out = (struct authority_stats){0};
    if (a->ops->stats) a->ops->stats(a, out);
}

static inline bool authority_ready(struct authority *a, const char **why)
{
    return !a->ops->ready || a->ops->ready(a, why);
}

static inline bool authority_can_sync(const struct authority *a)
{
    return a->ops->sync != NULL;
}

static inline void authority_sync(struct authority *a, struct authority_ticket *t)
{
    a->ops->sync(a, t);
}

static inline void authority_set_presence(struct authority *a, const struct authority_presence *p)
{
    if (a->ops->set_presence) a->ops->set_presence(a, p);
}

static inline void authority_free(struct authority *a)
{
    if (a) a->ops->free(a);
}

struct hub;
/* The memory authority: the order is the hub's commit order, history is RAM only. */
struct authority *authority_memory_new(struct hub *hub);

#endif
