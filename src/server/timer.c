#include "server/timer.h"

#include <stddef.h>

#include "http/http.h"
#include "net/conn.h"
#include "server/fanout.h"
#include "server/stats.h"
#include "ssebroker/config.h"

#define WHEEL_SLOTS 4096

static const char heartbeat_bytes[] = ":\n";

uint32_t timer_tick_interval(const struct sseb_config *cfg)
{
    uint32_t t = 1000;
    const uint32_t periods[] = {cfg->heartbeat_ms, cfg->header_timeout_ms,
                                cfg->keepalive_timeout_ms, cfg->stream_lifetime_ms};
    for (size_t i = 0; i < sizeof(periods) / sizeof(periods[0]); i++)
        if (periods[i] && periods[i] / 4 < t) t = periods[i] / 4;
    return t < 10 ? 10 : t;
}

int timers_init(struct timers *t, const struct sseb_config *cfg, struct fanout *fan, int64_t now_ms)
{
    t->fan = fan;
    t->cfg = cfg;
    return wheel_init(&t->wheel, WHEEL_SLOTS, timer_tick_interval(cfg), now_ms);
}

void timers_free(struct timers *t)
{
    wheel_free(&t->wheel);
}

/* The next moment something may be due for c, or INT64_MAX. */
static int64_t next_due(const struct timers *t, const struct conn *c)
{
    if (c->doomed || c->close_after || c->parked) return INT64_MAX; /* closing, or its own wait */
    int64_t at = c->deadline_ms;
    if (c->state == CONN_STREAM && t->cfg->heartbeat_ms) {
        int64_t hb = c->last_write_ms + (int64_t)t->cfg->heartbeat_ms;
        if (hb < at) at = hb;
    }
    return at;
}

void timers_arm(struct timers *t, struct conn *c)
{
    int64_t at = next_due(t, c);
    if (at == INT64_MAX) return;
    if (!wheel_scheduled(&c->timer) || at < c->timer.at) wheel_add(&t->wheel, &c->timer, at);
}

void timers_cancel(struct timers *t, struct conn *c)
{
    wheel_remove(&t->wheel, &c->timer);
}

struct run {
    struct timers *t;
    int64_t now_ms;
};

static void fire(struct wheel_node *n, void *arg)
{
    struct run *run = arg;
    struct timers *t = run->t;
    int64_t now_ms = run->now_ms;
    const struct sseb_config *cfg = t->cfg;
    struct conn *c = (struct conn *)((char *)n - offsetof(struct conn, timer));
    if (c->doomed || c->parked) return; /* a parked request has a deadline of its own */
    if (c->state == CONN_HTTP) {
        if (now_ms >= c->deadline_ms) {
            if (c->req && c->req->started && !c->close_after) {
                static const char msg[] = "Request timeout.";
                conn_respond(c, 408, "text/plain", NULL, msg, sizeof(msg) - 1, true);
                c->deadline_ms = now_ms + cfg->header_timeout_ms;
            } else {
                conn_kill(c);
                return;
            }
        }
    } else if (now_ms >= c->deadline_ms) {
        stream_close(t->fan, c);
        return;
    } else if (cfg->heartbeat_ms && now_ms - c->last_write_ms >= (int64_t)cfg->heartbeat_ms) {
        if (!c->out.bytes) {
            if (conn_write_static(c, heartbeat_bytes, sizeof(heartbeat_bytes) - 1)) {
                conn_kill(c);
                return;
            }
            STAT_ADD(t->fan->stats, heartbeats, 1);
            c->last_write_ms = now_ms; /* the next one counts from here even if not yet sent */
        } else {
            /* Output is queued (the socket is full): look again in a quarter period. */
            wheel_add(&t->wheel, &c->timer, now_ms + cfg->heartbeat_ms / 4 + 1);
            return;
        }
    }
    timers_arm(t, c);
}

void timers_run(struct timers *t, int64_t now_ms)
{
    struct run run = {.t = t, .now_ms = now_ms};
    wheel_advance(&t->wheel, now_ms, fire, &run);
}
