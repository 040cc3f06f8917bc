#include "server/park.h"

#include <stdlib.h>

#include "net/conn.h"

void parking_init(struct parking *p)
{
    for (int i = 0; i < PARK_WAITS; i++)
        list_init(&p->queue[i]);
    list_init(&p->ready);
    p->count = 0;
    p->next_deadline_ms = INT64_MAX;
}

bool park_add(struct parking *p, struct conn *c, const struct park_ops *ops, void *ctx,
              enum park_wait wait, int64_t deadline_ms)
{
    struct park *pk = calloc(1, sizeof(*pk));
    if (!pk) return false;
    *pk =
        (struct park){.ops = ops, .ctx = ctx, .conn = c, .deadline_ms = deadline_ms, .wait = wait};
    list_push_back(&p->queue[wait], &pk->link);
    if (deadline_ms < p->next_deadline_ms) p->next_deadline_ms = deadline_ms;
    p->count++;
    c->park = pk;
    c->parked = true;
    return true;
}

void park_remove(struct parking *p, struct conn *c)
{
    struct park *pk = c->park;
    if (!pk) return;
    list_remove(&pk->link);
    p->count--;
    free(pk);
    c->park = NULL;
    c->parked = false;
}

void park_rewait(struct parking *p, struct conn *c, enum park_wait wait)
{
    struct park *pk = c->park;
    if (!pk) { /* its own callback runs now (run_detached), which requeues it by its wait */
        p->running->wait = wait;
        return;
    }
    pk->wait = wait;
    if (pk->ready) return; /* goes back to its queue when it runs */
    list_remove(&pk->link);
    list_push_back(&p->queue[wait], &pk->link);
}

void park_ready(struct parking *p, struct conn *c)
{
    struct park *pk = c->park;
    if (!pk || pk->ready) return;
    pk->ready = true;
    list_remove(&pk->link);
    list_push_back(&p->ready, &pk->link);
}

int parking_wait_ms(const struct parking *p, int64_t now_ms)
{
    if (!p->count) return -1;
    if (!list_empty(&p->ready)) return 0;
    int64_t ms = p->next_deadline_ms == INT64_MAX ? -1 : p->next_deadline_ms - now_ms;
    if (ms < -1) ms = 0;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* Runs one of pk's callbacks (resume or expire) with pk off the parking, so that the callback
 * may park the connection again (a resume that must now wait for something else). Returns
 * whether the request was answered; otherwise pk is back in its queue. */
static bool run_detached(struct parking *p, struct park *pk, struct worker *w, bool expire,
                         park_done_fn done)
{
    struct conn *c = pk->conn;
    list_remove(&pk->link);
    pk->ready = false;
    c->park = NULL;
    c->parked = false;
    p->running = pk;
    bool answered = expire ? pk->ops->expire(pk->ctx, w, c) : pk->ops->resume(pk->ctx, w, c);
    p->running = NULL;
    if (!answered) { /* first again: bus room keeps its order */
        list_push_front(&p->queue[pk->wait], &pk->link);
        c->park = pk;
        c->parked = true;
        return false;
    }
    p->count--;
    free(pk);
    if (!c->parked) done(w, c); /* else it waits again, for something new */
    return true;
}

static void expire_due(struct parking *p, struct worker *w, int64_t now_ms, bool drain,
                       park_done_fn done)
{
    int64_t next = INT64_MAX;
    for (int i = 0; i < PARK_WAITS; i++) {
        /* Only those queued now: a request parked again by a callback is looked at next time. */
        struct list_node batch, *n;
        list_init(&batch);
        if (!list_empty(&p->queue[i])) {
            batch.next = p->queue[i].next;
            batch.prev = p->queue[i].prev;
            batch.next->prev = &batch;
            batch.prev->next = &batch;
            list_init(&p->queue[i]);
        }
        while ((n = list_first(&batch))) {
            struct park *pk = list_entry(n, struct park, link);
            if (!drain && now_ms < pk->deadline_ms) {
                list_remove(n);
                list_push_back(&p->queue[pk->wait], n);
            } else if (!run_detached(p, pk, w, true, done)) {
                pk->deadline_ms = INT64_MAX; /* it waits for its outcome, however long */
            }
        }
    }
    for (int i = 0; i < PARK_WAITS; i++) {
        struct list_node *n, *tmp;
        list_for_each_safe(n, tmp, &p->queue[i])
        {
            struct park *pk = list_entry(n, struct park, link);
            if (pk->deadline_ms < next) next = pk->deadline_ms;
        }
    }
    p->next_deadline_ms = next;
}

void parking_run(struct parking *p, struct worker *w, int64_t now_ms, bool drain, park_done_fn done)
{
    /* The ready list is taken whole: a resume that parks again lands on a queue, not here. */
    struct list_node batch;
    list_init(&batch);
    if (!list_empty(&p->ready)) {
        batch.next = p->ready.next;
        batch.prev = p->ready.prev;
        batch.next->prev = &batch;
        batch.prev->next = &batch;
        list_init(&p->ready);
    }
    struct list_node *n;
    while ((n = list_first(&batch)))
        run_detached(p, list_entry(n, struct park, link), w, false, done);
    /* Bus room is freed in order: once the oldest cannot submit, the younger cannot either. A
     * request that submitted and now waits for its store leaves this queue (park_rewait). */
    while ((n = list_first(&p->queue[PARK_FOR_BUS_ROOM]))) {
        struct park *pk = list_entry(n, struct park, link);
        if (!run_detached(p, pk, w, false, done) && pk->wait == PARK_FOR_BUS_ROOM) break;
    }
    if (drain || now_ms >= p->next_deadline_ms) expire_due(p, w, now_ms, drain, done);
}
