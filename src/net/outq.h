/* Per-connection output queue: references to shared event bytes and small owned buffers,
 * written in gathered sends (the worker batches them, see sender.h), surviving partial writes,
 * with a byte count for the queue budget. */
#ifndef SSEB_NET_OUTQ_H
#define SSEB_NET_OUTQ_H

#include <stddef.h>
#include <stdint.h>

struct event;
struct iovec;

/* A worker's single reference to an event, shared by all its local holders, or the bytes of a
 * run of events copied once for all of them (the fan-out's runs: consecutive events that go to
 * the same streams, one queue entry and one iovec per stream for the whole run). The worker
 * counts holders with plain integers, so fan-out to N local subscribers costs no atomic
 * operation. */
struct shared_event {
    struct event *ev; /* NULL: the bytes are own, a copy */
    const char *p;
    uint32_t len;
    uint32_t holders;
    struct shared_event *next_free;
};

struct shared_pool {
    struct shared_event *free;
    size_t live;
    size_t nfree; /* kept for reuse, up to SHARED_POOL_KEEP: a burst's peak is given back */
};

/* Wraps ev (taking over one reference the caller owns) with zero holders. */
struct shared_event *shared_get(struct shared_pool *pool, struct event *ev);
/* A shared_event holding len bytes of its own (malloc'd, for the caller to fill through
 * *bytes), with zero holders. NULL when out of memory. */
struct shared_event *shared_get_bytes(struct shared_pool *pool, size_t len, char **bytes);
/* Drops one holder; the last one releases the event reference. */
void shared_put(struct shared_pool *pool, struct shared_event *se);
/* Releases a shared_event that never got a holder. */
void shared_put_unused(struct shared_pool *pool, struct shared_event *se);
void shared_pool_free(struct shared_pool *pool);

enum outq_kind {
    OUTQ_STATIC, /* bytes that outlive the queue (string literals, worker-owned) */
    OUTQ_OWNED,  /* malloc'd by the caller, freed when written */
    OUTQ_SHARED, /* an event's wire bytes, held through a shared_event */
    OUTQ_EVENT,  /* an event's wire bytes, held by an event reference of its own (replay) */
};

struct outq_item {
    const char *p;
    uint32_t len;
    uint32_t kind;
    union {
        struct shared_event *se; /* OUTQ_SHARED */
        struct event *ev;        /* OUTQ_EVENT */
    };
};

struct outq {
    struct outq_item *items;
    uint32_t head, count, cap;
    uint32_t head_off; /* bytes of items[head] already written */
    size_t bytes;      /* bytes still to write */
};

/* Each push returns -1 when out of memory (the item is then not queued and an OWNED buffer is
 * freed, so the caller can simply close the connection). */
int outq_push_static(struct outq *q, const char *p, size_t len);
int outq_push_owned(struct outq *q, char *p, size_t len);
int outq_push_shared(struct outq *q, struct shared_event *se);
/* Queues se's bytes from off on (a stream that had the start of a run already). */
int outq_push_shared_from(struct outq *q, struct shared_event *se, size_t off);
/* Queues ev's wire bytes, taking over one reference the caller owns (dropped on failure). */
int outq_push_event(struct outq *q, struct event *ev);

/* One send in two halves, so that the worker can batch the sends of many queues (sender.h):
 * outq_prepare fills at most max iovecs from the head of the queue and the bytes they hold;
 * outq_consume drops what a send wrote. */
int outq_prepare(const struct outq *q, struct iovec *iov, int max, size_t *asked);
/* Returns 0, or -1 (nothing dropped) when written exceeds what is queued: a send cannot have
 * written more than it was given, so the caller's bookkeeping is wrong and the connection must
 * go. */
int outq_consume(struct outq *q, struct shared_pool *pool, size_t written);

/* Drops everything queued. */
void outq_clear(struct outq *q, struct shared_pool *pool);

#endif
