#include "common/wheel.h"

#include <stdlib.h>

static void link_before(struct wheel_node *head, struct wheel_node *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

static void unlink_node(struct wheel_node *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = NULL;
}

int wheel_init(struct wheel *w, uint32_t slots, uint32_t tick_ms, int64_t now_ms)
{
    w->slots = calloc(slots, sizeof(*w->slots));
    if (!w->slots) return -1;
    for (uint32_t i = 0; i < slots; i++)
        w->slots[i].prev = w->slots[i].next = &w->slots[i];
    w->mask = slots - 1;
    w->tick_ms = tick_ms ? tick_ms : 1;
    w->tick = now_ms / w->tick_ms;
    w->count = 0;
    return 0;
}

void wheel_free(struct wheel *w)
{
    free(w->slots);
    w->slots = NULL;
}

void wheel_add(struct wheel *w, struct wheel_node *n, int64_t at_ms)
{
    if (n->next)
        unlink_node(n);
    else
        w->count++;
    n->at = at_ms;
    /* A time already past goes to the next tick's slot, so it fires at the next advance. */
    int64_t t = at_ms / w->tick_ms;
    if (t <= w->tick) t = w->tick + 1;
    link_before(&w->slots[(uint64_t)t & w->mask], n);
}

void wheel_remove(struct wheel *w, struct wheel_node *n)
{
    if (!n->next) return;
    unlink_node(n);
    w->count--;
}

void wheel_advance(struct wheel *w, int64_t now_ms, void (*fire)(struct wheel_node *n, void *arg),
                   void *arg)
{
    int64_t now = now_ms / w->tick_ms;
    int64_t from = w->tick + 1;
    /* More than a rotation behind: each slot once is enough. */
    if (now - from > (int64_t)w->mask) from = now - w->mask;
    w->tick = now;
    for (int64_t t = from; t <= now; t++) {
        struct wheel_node *head = &w->slots[(uint64_t)t & w->mask];
        /* Detach the slot: fire may schedule nodes into it again. */
        struct wheel_node pending = {.prev = &pending, .next = &pending};
        if (head->next != head) {
            pending.next = head->next;
            pending.prev = head->prev;
            pending.next->prev = &pending;
            pending.prev->next = &pending;
            head->next = head->prev = head;
        }
        while (pending.next != &pending) {
            struct wheel_node *n = pending.next;
            unlink_node(n);
            if (n->at > now_ms) {
                /* Not yet: a later rotation, or later within this very tick (then the next). */
                int64_t due = n->at / w->tick_ms;
                link_before(due > now ? head : &w->slots[(uint64_t)(now + 1) & w->mask], n);
                continue;
            }
            w->count--;
            fire(n, arg);
        }
    }
}
