#include "server/timer.h"

#include <stddef.h>

#include "http/http.h"
#include "net/conn.h"
#include "server/fanout.h"
#include "server/stats.h"
#include "ssebroker/config.h"

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

void timer_tick(struct conn_list *conns, struct fanout *f, int64_t now_ms)
{
    const struct sseb_config *cfg = f->cfg;
    for (struct conn *c = conns->head; c; c = c->next) {
        if (c->doomed || c->parked) continue; /* a parked request has a deadline of its own */
        if (c->state == CONN_HTTP) {
            if (now_ms < c->deadline_ms) continue;
            if (c->req && c->req->started && !c->close_after) {
                static const char msg[] = "Request timeout.";
                conn_respond(c, 408, "text/plain", NULL, msg, sizeof(msg) - 1, true);
                c->deadline_ms = now_ms + cfg->header_timeout_ms;
            } else {
                conn_kill(c);
            }
            continue;
        }
        if (now_ms >= c->deadline_ms) {
            stream_close(f, c);
            continue;
        }
        if (cfg->heartbeat_ms && !c->out.bytes &&
            now_ms - c->last_write_ms >= (int64_t)cfg->heartbeat_ms) {
            if (conn_write_static(c, heartbeat_bytes, sizeof(heartbeat_bytes) - 1)) {
                conn_kill(c);
                continue;
            }
            STAT_ADD(f->stats, heartbeats, 1);
        }
    }
}
