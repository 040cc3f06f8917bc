/* The bus: a bounded lock-free ring (Disruptor style) carrying events from publishers to every
 * worker. A publisher claims a position with one compare-and-swap, stores the event and marks
 * the slot published; each worker reads with its own cursor. A full ring is reported to the
 * publisher (never overwritten); sleeping workers are woken through their eventfd, only when
 * they declared themselves idle. */
#ifndef SSEB_BUS_H
#define SSEB_BUS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event;
struct bus;

struct bus *bus_new(uint32_t slots, int consumers);
void bus_free(struct bus *b);

/* Publishes ev to every consumer, taking one reference per consumer. Returns false, without
 * side effects, when the slowest consumer is a full ring behind. */
bool bus_publish(struct bus *b, struct event *ev);

/* Consumer side. Returns the next event for consumer c (the caller then owns one reference), or
 * NULL when it has consumed everything published so far. */
struct event *bus_next(struct bus *b, int c);

/* Before sleeping, a consumer calls bus_prepare_sleep; when it returns false there is work and
 * the consumer must not sleep. After waking it calls bus_woke. */
bool bus_prepare_sleep(struct bus *b, int c);
void bus_woke(struct bus *b, int c);
/* Clears the sleeping flag without touching the eventfd (after any return from the wait). */
void bus_woke_quiet(struct bus *b, int c);
/* True when a publish would succeed now. Publishers serialised by the history lock use it to
 * reserve room before assigning an order. */
bool bus_has_room(struct bus *b);
/* The eventfd that wakes consumer c. */
int bus_wake_fd(struct bus *b, int c);
/* Wakes consumer c whatever it is doing (used for control messages such as drain). */
void bus_kick(struct bus *b, int c);

/* Events published but not yet consumed by the slowest consumer (a gauge for metrics). */
uint64_t bus_lag(struct bus *b);
uint64_t bus_consumer_lag(struct bus *b, int c);

#endif
