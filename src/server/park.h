/* Parked requests: a request that cannot be answered yet (its update waits for bus room or for
 * the store; a resume waits for the store to catch up or for the archive to find its id) stays on
 * its connection, which reads no further input meanwhile.
 *
 * Waits are resumed, not polled: what a request waits for posts to the worker's completion queue,
 * whose callback calls park_ready; the loop then resumes it in its next pass (Redis's
 * "unblocked clients"). Bus room is made by whichever consumer is slowest: the bus wakes the
 * worker once consumers moved on (bus_want_room), and its waits are retried oldest first. Each
 * kind of wait has its own queue, so no kind ever waits behind another. Owned by one worker: not
 * thread-safe. */
#ifndef SSEB_SERVER_PARK_H
#define SSEB_SERVER_PARK_H

#include <stdbool.h>
#include <stdint.h>

#include "common/list.h"

struct worker;
struct conn;

enum park_wait {
    PARK_FOR_OUTCOME,  /* a posted outcome (store, archive, sync): resumed by park_ready */
    PARK_FOR_BUS_ROOM, /* room on the bus: retried oldest first when consumers moved on */
    PARK_WAITS,
};

struct park_ops {
    /* The wait may be over: answer (or stream) and return true, or return false to go on
     * waiting (park_rewait may switch the kind of wait first). */
    bool (*resume)(void *ctx, struct worker *w, struct conn *c);
    /* The deadline passed, or the worker drains: answer now and return true, or return false
     * when the request cannot be abandoned (its update is on its way into the store): it then
     * waits for its outcome with no deadline. */
    bool (*expire)(void *ctx, struct worker *w, struct conn *c);
};

struct park {
    struct list_node link; /* in its wait's queue, or on the ready list */
    const struct park_ops *ops;
    void *ctx;
    struct conn *conn;
    int64_t deadline_ms; /* INT64_MAX: none */
    enum park_wait wait;
    bool ready;
};

struct parking {
    struct list_node queue[PARK_WAITS]; /* oldest first */
    struct list_node ready;             /* woken, resumed in the loop's next pass */
    uint32_t count;
    struct park *running;     /* whose callback runs now (it is off every list meanwhile) */
    int64_t next_deadline_ms; /* no deadline passes before this (INT64_MAX: none) */
};

void parking_init(struct parking *p);

/* Parks c (allocates its struct park; false when out of memory: nothing was parked). */
bool park_add(struct parking *p, struct conn *c, const struct park_ops *ops, void *ctx,
              enum park_wait wait, int64_t deadline_ms);
/* c leaves the parking and frees its struct park (c->park is NULL afterwards). */
void park_remove(struct parking *p, struct conn *c);
/* c's request now waits for something else (still parked, same deadline). */
void park_rewait(struct parking *p, struct conn *c, enum park_wait wait);
/* What c waited for has come: resume it in the loop's next pass. */
void park_ready(struct parking *p, struct conn *c);

/* Whether some parked request was made ready (its outcome came) and waits for the loop. */
static inline bool park_any_ready(const struct parking *p)
{
    return !list_empty(&p->ready);
}

/* Whether some request waits for bus room (the loop then asks the bus to wake it: bus_want_room).
 */
static inline bool parking_wants_room(const struct parking *p)
{
    return !list_empty(&p->queue[PARK_FOR_BUS_ROOM]);
}

/* How long the loop may sleep, at most, with what is parked (-1: no limit from here). */
int parking_wait_ms(const struct parking *p, int64_t now_ms);

/* Called for each request answered by parking_run, once it has left the parking. */
typedef void (*park_done_fn)(struct worker *w, struct conn *c);
/* Resumes what is ready, retries bus room, expires what is due (every request when drain).
 * done runs for each request answered. */
void parking_run(struct parking *p, struct worker *w, int64_t now_ms, bool drain,
                 park_done_fn done);

#endif
