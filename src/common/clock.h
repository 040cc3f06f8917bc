/* Monotonic milliseconds: every deadline of the broker (timeouts, heartbeats, waits). */
#ifndef SSEB_COMMON_CLOCK_H
#define SSEB_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wall-clock milliseconds since the epoch: times stored with updates (retention by age). */
static inline int64_t clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The CLOCK_REALTIME instant ms from now, as pthread_cond_timedwait wants its deadline. */
static inline struct timespec clock_realtime_in(uint32_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = (int64_t)ts.tv_nsec + (int64_t)ms * 1000000;
    ts.tv_sec += (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return ts;
}

/* Monotonic microseconds, for latencies. */
static inline int64_t clock_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The monotonic deadline (ms, from now_ms) of epoch second at_s, now being epoch second now_s;
 * saturates at now_ms (past) and INT64_MAX (too far to represent), whatever at_s holds. */
static inline int64_t clock_deadline_at_epoch(int64_t now_ms, long long at_s, int64_t now_s)
{
    if (at_s <= now_s) return now_ms;
    /* at_s > now_s >= 0 here for any real clock, so the difference cannot overflow. */
    uint64_t left_s = (uint64_t)at_s - (uint64_t)now_s;
    if (left_s > (uint64_t)(INT64_MAX - now_ms) / 1000) return INT64_MAX;
    return now_ms + (int64_t)left_s * 1000;
}

#endif
