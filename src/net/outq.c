#include "net/outq.h"

#include <stdlib.h>
#include <sys/uio.h>

#include "core/event.h"

#define SHARED_POOL_KEEP 4096

struct shared_event *shared_get(struct shared_pool *pool, struct event *ev)
{
    struct shared_event *se = pool->free;
    if (se) {
        pool->free = se->next_free;
        pool->nfree--;
    } else if (!(se = malloc(sizeof(*se))))
        return NULL;
    se->ev = ev;
    se->p = ev->wire;
    se->len = ev->wire_len;
    se->holders = 0;
    pool->live++;
    return se;
}

struct shared_event *shared_get_bytes(struct shared_pool *pool, size_t len, char **bytes)
{
    if (len > UINT32_MAX) return NULL;
    char *own = malloc(len ? len : 1);
    if (!own) return NULL;
    struct shared_event *se = pool->free;
    if (se) {
        pool->free = se->next_free;
        pool->nfree--;
    } else if (!(se = malloc(sizeof(*se)))) {
        free(own);
        return NULL;
    }
    se->ev = NULL;
    se->p = own;
    se->len = (uint32_t)len;
    se->holders = 0;
    pool->live++;
    *bytes = own;
    return se;
}

void shared_put(struct shared_pool *pool, struct shared_event *se)
{
    if (--se->holders) return;
    if (se->ev)
        event_unref(se->ev);
    else
        free((void *)se->p);
    pool->live--;
    if (pool->nfree >= SHARED_POOL_KEEP) {
        free(se);
        return;
    }
    se->ev = NULL;
    se->next_free = pool->free;
    pool->free = se;
    pool->nfree++;
}

void shared_put_unused(struct shared_pool *pool, struct shared_event *se)
{
    se->holders = 1;
    shared_put(pool, se);
}

void shared_pool_free(struct shared_pool *pool)
{
    while (pool->free) {
        struct shared_event *se = pool->free;
        pool->free = se->next_free;
        free(se);
    }
    pool->nfree = 0;
}

/* The capacity is a power of two (4, doubling), so positions wrap with a mask. */
static int grow(struct outq *q)
{
    uint32_t ncap = q->cap ? q->cap * 2 : 4;
    struct outq_item *n = malloc(ncap * sizeof(*n));
    if (!n) return -1;
    for (uint32_t i = 0; i < q->count; i++)
        n[i] = q->items[(q->head + i) & (q->cap - 1)];
    free(q->items);
    q->items = n;
    q->cap = ncap;
    q->head = 0;
    return 0;
}

static struct outq_item *push(struct outq *q, const char *p, size_t len, uint32_t kind)
{
    if (q->count == q->cap && grow(q)) return NULL;
    struct outq_item *it = &q->items[(q->head + q->count) & (q->cap - 1)];
    it->p = p;
    it->len = (uint32_t)len;
    it->kind = kind;
    it->se = NULL;
    q->count++;
    q->bytes += len;
    return it;
}

int outq_push_static(struct outq *q, const char *p, size_t len)
{
    return push(q, p, len, OUTQ_STATIC) ? 0 : -1;
}

int outq_push_owned(struct outq *q, char *p, size_t len)
{
    if (!push(q, p, len, OUTQ_OWNED)) {
        free(p);
        return -1;
    }
    return 0;
}

int outq_push_shared(struct outq *q, struct shared_event *se)
{
    return outq_push_shared_from(q, se, 0);
}

int outq_push_shared_from(struct outq *q, struct shared_event *se, size_t off)
{
    struct outq_item *it = push(q, se->p + off, se->len - off, OUTQ_SHARED);
    if (!it) return -1;
    it->se = se;
    se->holders++;
    return 0;
}

int outq_push_event(struct outq *q, struct event *ev)
{
    struct outq_item *it = push(q, ev->wire, ev->wire_len, OUTQ_EVENT);
    if (!it) {
        event_unref(ev);
        return -1;
    }
    it->ev = ev;
    return 0;
}

static void release(struct outq_item *it, struct shared_pool *pool)
{
    if (it->kind == OUTQ_OWNED)
        free((void *)it->p);
    else if (it->kind == OUTQ_SHARED)
        shared_put(pool, it->se);
    else if (it->kind == OUTQ_EVENT)
        event_unref(it->ev);
}

static void pop(struct outq *q, struct shared_pool *pool)
{
    release(&q->items[q->head], pool);
    q->head = (q->head + 1) & (q->cap - 1);
    q->count--;
    q->head_off = 0;
}

int outq_prepare(const struct outq *q, struct iovec *iov, int max, size_t *asked)
{
    int n = 0;
    *asked = 0;
    for (uint32_t i = 0; i < q->count && n < max; i++) {
        const struct outq_item *it = &q->items[(q->head + i) & (q->cap - 1)];
        size_t off = i == 0 ? q->head_off : 0;
        iov[n].iov_base = (void *)(it->p + off);
        iov[n].iov_len = it->len - off;
        *asked += iov[n].iov_len;
        n++;
    }
    return n;
}

int outq_consume(struct outq *q, struct shared_pool *pool, size_t written)
{
    if (written > q->bytes) return -1;
    q->bytes -= written;
    while (written) {
        struct outq_item *it = &q->items[q->head];
        size_t rest = it->len - q->head_off;
        if (written < rest) {
            q->head_off += (uint32_t)written;
            break;
        }
        written -= rest;
        pop(q, pool);
    }
    /* An empty queue keeps no array: most streams are idle most of the time, and an idle stream
     * should cost its connection and nothing else (a malloc per busy round is cheap next to the
     * send it comes with). */
    if (!q->count && q->cap) {
        free(q->items);
        q->items = NULL;
        q->cap = q->head = 0;
    }
    return 0;
}

void outq_clear(struct outq *q, struct shared_pool *pool)
{
    while (q->count)
        pop(q, pool);
    free(q->items);
    q->items = NULL;
    q->cap = q->head = q->count = q->head_off = 0;
    q->bytes = 0;
}
