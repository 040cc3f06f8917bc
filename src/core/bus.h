/* The bus: a bounded ring carrying committed events from the hub to every worker.
 *
 *            claim (next position to publish)
 *                          v
 *   +----+----+----+----+----+----+----+----+
 *   | e5 | e6 | e7 | e8 |    |    | e3 | e4 |   slots[pos & mask]; positions never wrap
 *   +----+----+----+----+----+----+----+----+   (uint64_t, free-running)
 *                               ^    ^
 *          cursor of worker 1 --+    +-- cursor of worker 0 (the slowest: the "gate")
 *
 * Producer: ONE at a time. Callers serialise publishers themselves (the hub holds the history
 * lock across bus_has_room + bus_publish), so claiming a position is a plain store, not a CAS.
 * bus_publish never blocks and never makes a system call: it reports which consumers were asleep,
 * and the caller wakes them with bus_wake once it has released its lock.
 *
 * Consumers: one per worker, each with its own cursor, reading with bus_next (wait-free). The
 * slowest cursor bounds the producer: a ring that is full is reported (bus_has_room false),
 * never overwritten.
 *
 * Memory orderings (why each is enough):
 * - slot->published (release in bus_publish) pairs with its acquire in bus_next: a consumer that
 *   sees pos + 1 there sees slot->ev and the event's contents.
 * - cursor->next (release in bus_next) pairs with the acquire in min_cursor: the producer reuses
 *   a slot only after the slowest consumer is done reading it.
 * - gate is a cached, possibly stale minimum of the cursors: stale means lower, which only makes
 *   the producer refresh it (relaxed is enough: only the serialised producer reads or writes it).
 * - sleeping: bus_prepare_sleep stores 1 then reads the next slot, bus_publish stores the slot
 *   then reads sleeping, all seq_cst: a Dekker pair, so either the consumer sees the event and
 *   stays awake, or the producer sees it asleep and reports it for waking.
 * - event references are taken with relaxed increments: the producer holds its own reference
 *   for the whole call, so the count cannot reach zero meanwhile. */
#ifndef SSEB_CORE_BUS_H
#define SSEB_CORE_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ssebroker/config.h"

struct event;
struct bus;

/* Consumers to wake after a publish (filled by bus_publish, used by bus_wake). */
struct bus_wakeups {
    int n;
    uint16_t who[SSEB_MAX_WORKERS];
};

/* slots: a power of two. consumers: 1..SSEB_MAX_WORKERS. NULL when out of memory/eventfds. */
struct bus *bus_new(uint32_t slots, int consumers);
/* Releases the references of events some consumer never read. No thread may use b anymore. */
void bus_free(struct bus *b);

/* Producer side (serialised by the caller). */

/* True when a publish would succeed now. */
bool bus_has_room(struct bus *b);
/* Publishes ev to every consumer, taking one reference per consumer, and appends the consumers
 * that were asleep to wake. Returns false, without side effects, when the ring is full. */
bool bus_publish(struct bus *b, struct event *ev, struct bus_wakeups *wake);
/* Wakes the consumers bus_publish reported (one eventfd write each). Call without locks. */
void bus_wake(struct bus *b, const struct bus_wakeups *wake);

/* Consumer side (consumer c's thread only). */

/* Returns the next event for consumer c (the caller then owns one reference), or NULL when it has
 * consumed everything published so far. */
struct event *bus_next(struct bus *b, int c);
/* Before sleeping, a consumer calls bus_prepare_sleep; when it returns false there is work and
 * the consumer must not sleep. After waking through the eventfd it calls bus_woke. */
bool bus_prepare_sleep(struct bus *b, int c);
void bus_woke(struct bus *b, int c);
/* Clears the sleeping flag without touching the eventfd (after any return from the wait). */
void bus_woke_quiet(struct bus *b, int c);
/* The eventfd that wakes consumer c. */
int bus_wake_fd(struct bus *b, int c);

/* Any thread. */

/* Wakes consumer c whatever it is doing (control messages such as drain). */
void bus_kick(struct bus *b, int c);
/* Room, without polling: consumer c's worker has a publish that found the ring full; it asks to
 * be woken (kicked) once some consumer has moved on, then retries once more itself (a consumer
 * that moved on before the ask is seen by that retry). Consumer c calls bus_room_made after it
 * consumed: a store to its own cache line and one load when nobody asks. */
void bus_want_room(struct bus *b, int c);
void bus_room_made(struct bus *b, int c);
/* Events published but not yet consumed by the slowest consumer / by consumer c (gauges). */
uint64_t bus_lag(struct bus *b);
uint64_t bus_consumer_lag(struct bus *b, int c);

#endif
