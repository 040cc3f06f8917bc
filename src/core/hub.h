/* The hub: history and bus fed in one order. Whatever decides the order of updates (an order
 * authority, core/authority.h) commits each stored update here, and from then on it is
 * replayable (history) and on its way to every worker (bus), in the same position in both. */
#ifndef SSEB_CORE_HUB_H
#define SSEB_CORE_HUB_H

#include <stdbool.h>

struct event;
struct history;
struct bus;

struct hub {
    struct history *history;
    struct bus *bus;
};

/* Appends ev to history (assigning ev->seq) and publishes it on the bus, taking the references
 * both need; the caller keeps its own. Returns false, with no effect, when the bus has no room
 * (its slowest consumer is a ring behind): the caller tries again later, never in a loop that
 * sleeps on a worker. Thread-safe: committers are serialised by the history lock. */
bool hub_commit(struct hub *h, struct event *ev);

#endif
