/* A worker's time: request and keep-alive timeouts, heartbeats, stream lifetime and token
 * expiry. */
#ifndef SSEB_SERVER_TIMER_H
#define SSEB_SERVER_TIMER_H

#include <stdint.h>

struct conn_list;
struct fanout;
struct sseb_config;

/* How often a worker ticks: a quarter of the shortest period configured, 10 ms to 1 s. */
uint32_t timer_tick_interval(const struct sseb_config *cfg);
/* Runs what is due at now_ms on the connections of one worker (f: its fan-out, for streams). */
void timer_tick(struct conn_list *conns, struct fanout *f, int64_t now_ms);

#endif
