#include "server/timer.h"

#include <stddef.h>
#include <string.h>

#include "common/log.h"
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
                                cfg->keepalive_timeout_ms, cfg->stream_lifetime_ms,
                                cfg->send_timeout_ms};
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
    if (c->doomed) return INT64_MAX;
    int64_t at = c->send_deadline_ms ? c->send_deadline_ms : INT64_MAX;
    /* Closing after its output, waiting for its request's outcome, or for its answers to be
     * read: only output that makes no progress is due. */
    if (c->close_after || c->parked || c->held) return at;
    if (c->deadline_ms < at) at = c->deadline_ms;
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
    if (c->doomed) return;
    if (c->send_deadline_ms && now_ms >= c->send_deadline_ms) {
        /* The client stopped reading: whatever the connection was doing, it is over. */
        STAT_ADD(t->fan->stats, send_timeouts, 1);
        if (!c->warned)
            log_info("connection closed: its output made no progress", "fd=%d queued_bytes=%zu",
                     c->fd, c->out.bytes);
        c->warned = true;
        conn_kill(c);
        return;
    }
    if (c->close_after || c->parked || c->held) { /* only the send deadline counts meanwhile */
        timers_arm(t, c);
        return;
    }
    if (c->state == CONN_HTTP) {
        if (now_ms >= c->deadline_ms) {
            struct http_refusal no = http_request_abandoned(c->req, true);
            if (no.status) {
                conn_respond(c, no.status, "text/plain", NULL, no.reason, strlen(no.reason), true);
            } else {
                conn_kill(c);
                return;
            }
        }
    } else if (now_ms >= c->deadline_ms) {
        stream_close(t->fan, c); /* closes after its output, which has a send deadline */
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
            int64_t at = now_ms + cfg->heartbeat_ms / 4 + 1;
            if (c->send_deadline_ms && c->send_deadline_ms < at) at = c->send_deadline_ms;
            wheel_add(&t->wheel, &c->timer, at);
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
