/* A FIFO of authority tickets, linked through their own `next` field: a worker's completion
 * queue and the store threads' request queues (the archives' finds and reads) are one. Not
 * thread-safe: the owner's lock guards it. */
#ifndef SSEB_CORE_TICKET_FIFO_H
#define SSEB_CORE_TICKET_FIFO_H

#include <stdbool.h>
#include <stddef.h>

#include "core/authority.h"

struct ticket_fifo {
    struct authority_ticket *head, *tail;
};

static inline bool ticket_fifo_empty(const struct ticket_fifo *q)
{
    return !q->head;
}

static inline void ticket_fifo_push(struct ticket_fifo *q, struct authority_ticket *t)
{
    t->next = NULL;
    if (q->tail)
        q->tail->next = t;
    else
        q->head = t;
    q->tail = t;
}

/* The oldest ticket, or NULL. */
static inline struct authority_ticket *ticket_fifo_pop(struct ticket_fifo *q)
{
    struct authority_ticket *t = q->head;
    if (t && !(q->head = t->next)) q->tail = NULL;
    return t;
}

/* Every ticket, oldest first, as a chain through `next`; the queue is left empty. */
static inline struct authority_ticket *ticket_fifo_take_all(struct ticket_fifo *q)
{
    struct authority_ticket *t = q->head;
    q->head = q->tail = NULL;
    return t;
}

#endif
