/* A worker's time: request and keep-alive timeouts, heartbeats, stream lifetime and token
 * expiry, on a timer wheel (common/wheel.h): each connection is scheduled at the next moment
 * something may be due for it, so a tick costs what is due, not a walk over every connection.
 * Times only ever move later lazily: when a connection's timer fires early (its deadline was
 * pushed back since), it is simply scheduled again. */
#ifndef SSEB_SERVER_TIMER_H
#define SSEB_SERVER_TIMER_H

#include <stdint.h>

#include "common/wheel.h"

struct conn;
struct fanout;
struct sseb_config;

struct timers {
    struct wheel wheel;
    struct fanout *fan; /* for streams: the retry hint, heartbeat stats */
    const struct sseb_config *cfg;
};

/* How often a worker ticks: a quarter of the shortest period configured, 10 ms to 1 s. */
uint32_t timer_tick_interval(const struct sseb_config *cfg);
/* Returns -1 when out of memory. */
int timers_init(struct timers *t, const struct sseb_config *cfg, struct fanout *fan,
                int64_t now_ms);
void timers_free(struct timers *t);
/* Schedules c at its next due moment, when that is earlier than its current schedule (a request
 * started, a stream began): call after changing c->deadline_ms or c->state. */
void timers_arm(struct timers *t, struct conn *c);
void timers_cancel(struct timers *t, struct conn *c);
/* Runs what is due at now_ms. */
void timers_run(struct timers *t, int64_t now_ms);

#endif
