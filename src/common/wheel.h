/* A hashed timer wheel (Varghese and Lauck): O(1) to schedule or cancel, and a tick visits only
 * the slots whose time has come, instead of every connection. Nodes are intrusive (embedded in
 * what they time); a node due further than one rotation ahead waits in its slot for its turn.
 * Not thread-safe: one wheel per worker. */
#ifndef SSEB_COMMON_WHEEL_H
#define SSEB_COMMON_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wheel_node {
    struct wheel_node *prev, *next; /* NULL while not scheduled */
    int64_t at;                     /* ms; valid while scheduled */
};

static inline bool wheel_scheduled(const struct wheel_node *n)
{
    return n->next != NULL;
}

struct wheel {
    struct wheel_node *slots; /* circular list heads */
    uint32_t mask;
    uint32_t tick_ms;
    int64_t tick; /* the last tick processed */
    uint64_t count;
};

/* slots: a power of two. Returns -1 when out of memory. */
int wheel_init(struct wheel *w, uint32_t slots, uint32_t tick_ms, int64_t now_ms);
void wheel_free(struct wheel *w);
/* Schedules n at at_ms (moving it if it was scheduled already). */
void wheel_add(struct wheel *w, struct wheel_node *n, int64_t at_ms);
/* Cancels n (nothing when it is not scheduled). */
void wheel_remove(struct wheel *w, struct wheel_node *n);
/* Calls fire for every node due at or before now_ms, each unscheduled first (fire may schedule
 * it, or any other node, again). */
void wheel_advance(struct wheel *w, int64_t now_ms, void (*fire)(struct wheel_node *n, void *arg),
                   void *arg);

#endif
