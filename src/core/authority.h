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

#include <stdint.h>

struct event;
struct authority;

enum authority_result {
    AUTHORITY_STORED,  /* ordered (ev->seq set) and stored: acknowledge it now */
    AUTHORITY_FULL,    /* no room right now: submit the same event again later, or give up */
    AUTHORITY_PENDING, /* taken; the outcome comes through the ticket's done callback */
    AUTHORITY_FAILED,  /* refused (the store is unreachable or broken): answer 503 */
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
};

/* What an authority reports for /metrics (zero where it does not apply). */
struct authority_stats {
    uint64_t batches, records, syncs, write_errors; /* writes to its store */
    uint64_t disk_bytes, segments;                  /* what it holds on disk */
    uint64_t discontinuities; /* breaks found in its history (damaged segments set aside, ...) */
};

struct authority_ops {
    const char *name; /* "memory", ... (logged at start, shown in /metrics) */
    /* Fills *out; may be NULL (nothing to report). Any thread. */
    void (*stats)(struct authority *a, struct authority_stats *out);
    /* Submits ev; the caller keeps its reference (the authority takes what it needs). ticket
     * NULL: nobody waits for the outcome (the authority then never answers PENDING's result). */
    enum authority_result (*submit)(struct authority *a, struct event *ev,
                                    struct authority_ticket *ticket);
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

static inline void authority_free(struct authority *a)
{
    if (a) a->ops->free(a);
}

struct hub;
/* The memory authority: the order is the hub's commit order, history is RAM only. */
struct authority *authority_memory_new(struct hub *hub);

#endif
