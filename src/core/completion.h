/* Where an asynchronous order authority posts the outcomes of a worker's submissions: a small
 * multi-producer queue owned by one worker, with an eventfd the worker polls. Posting takes a
 * mutex for two pointer writes and wakes the owner after releasing it; the owner runs each
 * ticket's done on its own thread. */
#ifndef SSEB_CORE_COMPLETION_H
#define SSEB_CORE_COMPLETION_H

#include <pthread.h>
#include <stdbool.h>

#include "core/authority.h"
#include "core/ticket_fifo.h"

struct completion_queue {
    pthread_mutex_t lock;
    struct ticket_fifo posted;
    int efd; /* readable while outcomes wait */
};

/* Returns -1 when no eventfd could be had. */
int completion_queue_init(struct completion_queue *q);
/* Runs what is still queued, then releases the queue. */
void completion_queue_free(struct completion_queue *q);
/* Any thread: sets t's result and queues t on its queue (t->queue), waking the owner. */
void completion_post(struct authority_ticket *t, enum authority_result result);
/* The owner: runs done for every queued ticket, oldest first. */
void completion_run(struct completion_queue *q);

#endif
