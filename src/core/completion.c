#include "core/completion.h"

#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/authority.h"

int completion_queue_init(struct completion_queue *q)
{
    q->posted = (struct ticket_fifo){0};
    q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->efd < 0) return -1;
    pthread_mutex_init(&q->lock, NULL);
    return 0;
}

void completion_queue_free(struct completion_queue *q)
{
    if (q->efd < 0) return;
    completion_run(q);
    close(q->efd);
    q->efd = -1;
    pthread_mutex_destroy(&q->lock);
}

void completion_post(struct authority_ticket *t, enum authority_result result)
{
    struct completion_queue *q = t->queue;
    t->result = result;
    pthread_mutex_lock(&q->lock);
    bool was_empty = ticket_fifo_empty(&q->posted);
    ticket_fifo_push(&q->posted, t);
    pthread_mutex_unlock(&q->lock);
    if (was_empty) {
        uint64_t one = 1;
        ssize_t w = write(q->efd, &one, sizeof(one));
        (void)w; /* EAGAIN: the counter is already non-zero, the owner will wake */
    }
}

void completion_run(struct completion_queue *q)
{
    uint64_t v;
    ssize_t r = read(q->efd, &v, sizeof(v));
    (void)r; /* nothing to read is fine: the list is what counts */
    pthread_mutex_lock(&q->lock);
    struct authority_ticket *t = ticket_fifo_take_all(&q->posted);
    pthread_mutex_unlock(&q->lock);
    while (t) {
        struct authority_ticket *next = t->next;
        t->done(t);
        t = next;
    }
}
