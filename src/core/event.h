/* Immutable, reference-counted published event holding its SSE wire bytes, encoded once. */
#ifndef SSEB_CORE_EVENT_H
#define SSEB_CORE_EVENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hash.h"
#include "ssebroker/event.h"

struct event_topic {
    const char *s; /* NUL-terminated, inside the event's allocation */
    uint32_t len;
    uint32_t hash;
};

/* What an event says about the subscriptions registry (the subscriptions feature): a shared
 * store keeps each node's announced subscriptions beside its order, so that every node can list
 * the others' (see struct authority_presence). */
enum event_presence {
    EVENT_PRESENCE_NONE,     /* an update */
    EVENT_PRESENCE_ANNOUNCE, /* a subscription event with active: true */
    EVENT_PRESENCE_WITHDRAW, /* a subscription event with active: false */
};

struct event {
    _Atomic uint32_t refs;
    bool private_;
    uint8_t presence; /* enum event_presence (0 from event_new) */
    uint16_t ntopics;
    uint64_t seq; /* total order, assigned by history_append */
    const char *id;
    uint32_t id_len;
    uint32_t wire_len;
    const char *wire;           /* "id: ...\n[event: ...\n][retry: ...\n]data: ...\n\n" */
    size_t mem;                 /* bytes of the whole allocation, for history accounting */
    struct event *evicted_next; /* history's list of events to release after its lock */
    struct event_topic topics[];
};

/* Builds an event from a validated update (one allocation, refs = 1). id must be non-empty.
 * NULL when out of memory or when a count or length exceeds what an event can hold. */
struct event *event_new(const struct sseb_update *u);
/* The same from bytes already encoded (the embedded log's records). */
struct event *event_new_encoded(const struct sseb_str *topics, size_t ntopics, struct sseb_str id,
                                struct sseb_str wire, bool private_);

static inline void event_ref(struct event *ev)
{
    atomic_fetch_add_explicit(&ev->refs, 1, memory_order_relaxed);
}
static inline void event_ref_n(struct event *ev, uint32_t n)
{
    atomic_fetch_add_explicit(&ev->refs, n, memory_order_relaxed);
}
void event_unref(struct event *ev);

#endif
