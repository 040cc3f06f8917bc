#include "server/fanout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "common/clock.h"
#include "common/log.h"
#include "core/bus.h"
#include "core/event.h"
#include "core/history.h"
#include "core/selector.h"
#include "core/topic_index.h"
#include "core/urlpattern.h"
#include "net/conn.h"
#include "server/stats.h"
#include "ssebroker/config.h"

/* Deliveries queued per bus batch at most (24 B of queue entry each: 12 MiB). */
#define FANOUT_BATCH_DELIVERIES (512 * 1024)

int fanout_init(struct fanout *f, int consumer, struct bus *bus, struct history *history,
                const struct sseb_config *cfg, struct worker_stats *stats,
                struct completion_queue *completions)
{
    *f = (struct fanout){.consumer = consumer,
                         .bus = bus,
                         .history = history,
                         .cfg = cfg,
                         .stats = stats,
                         .completions = completions};
    /* History loaded before start (the embedded log) is behind the bus already: replays read it
     * from history, never from the bus. */
    f->bus_seq = history_last_seq(history);
    f->retry_hint_len = (uint32_t)snprintf(f->retry_hint, sizeof(f->retry_hint), "retry: %u\n\n",
                                           cfg->retry_hint_ms);
    if (topic_index_init(&f->index)) return -1;
    /* URL Patterns resolve against the hub's URL (the reference hub's stand-in without one). */
    const char *base =
        cfg->resource_identifier ? cfg->resource_identifier : URLPATTERN_DEFAULT_BASE;
    f->index.urlpattern_base = base;
    f->index.urlpattern_base_len = strlen(base);
    return 0;
}

void fanout_free(struct fanout *f)
{
    topic_index_free(&f->index);
    shared_pool_free(&f->pool);
}

void stream_close(struct fanout *f, struct conn *c)
{
    if (c->close_after || c->doomed) return;
    if (conn_write_static(c, f->retry_hint, f->retry_hint_len)) {
        conn_kill(c); /* out of memory: close without the hint */
        return;
    }
    c->close_after = true;
}

bool stream_may_read(const struct stream *s, const struct event *ev)
{
    if (!ev->private_) return true;
    if (!s->reader) return false;
    for (uint16_t i = 0; i < ev->ntopics; i++)
        if (auth_can_subscribe(s->reader, ev->topics[i].s, ev->topics[i].len)) return true;
    return false;
}

const char *stream_selector(const struct stream *s, uint32_t i, size_t *len)
{
    *len = selector_len(s->subs[i].group->sel);
    return selector_text(s->subs[i].group->sel);
}

int stream_start(struct fanout *f, struct conn *c, char **selectors, size_t *lens,
                 const enum selector_syntax *syntax, size_t n, const struct auth_claims *reader,
                 long long expires_at, int64_t now_ms)
{
    /* The stream lives in the room the worker's connections carry for it (server/worker.c). */
    struct stream *s = conn_extra(c);
    *s = (struct stream){0};
    s->subs = n == 1 ? &s->one : calloc(n, sizeof(*s->subs));
    if (!s->subs) return -1;
    for (size_t i = 0; i < n; i++) {
        if (topic_index_add_as(&f->index, &s->subs[i], s, selectors[i], lens[i],
                               syntax ? syntax[i] : SELECTOR_SYNTAX_TOPIC)) {
            for (size_t j = 0; j < i; j++)
                topic_index_remove(&f->index, &s->subs[j]);
            if (s->subs != &s->one) free(s->subs);
            s->subs = NULL;
            return -1;
        }
    }
    s->nsubs = (uint32_t)n;
    s->reader = reader;
    s->last_seq = history_last_seq(f->history); /* live from now, unless stream_replay follows */
    c->state = CONN_STREAM;
    c->last_write_ms = now_ms;
    const struct sseb_config *cfg = f->cfg;
    c->deadline_ms = cfg->stream_lifetime_ms ? now_ms + cfg->stream_lifetime_ms : INT64_MAX;
    if (expires_at) {
        int64_t at = clock_deadline_at_epoch(now_ms, expires_at, (int64_t)time(NULL));
        if (at < c->deadline_ms) c->deadline_ms = at;
    }
    STAT_ADD(f->stats, streams, 1);
    STAT_ADD(f->stats, subscriptions, n);
    return 0;
}

void stream_stop(struct fanout *f, struct conn *c)
{
    struct stream *s = conn_stream(c);
    replay_detach(f, c);
    for (uint32_t i = 0; i < s->nsubs; i++)
        topic_index_remove(&f->index, &s->subs[i]);
    STAT_SUB(f->stats, streams, 1);
    STAT_SUB(f->stats, subscriptions, s->nsubs);
    if (s->subs != &s->one) free(s->subs);
    s->subs = NULL;
}

/* ---- live ------------------------------------------------------------------------------- */

struct delivery {
    struct fanout *f;
    struct event *ev;
    struct shared_event *se;
    uint64_t delivered;
};

/* True when ev is next for s: newer than what it has, readable by it, and s still open. Marks
 * ev as s's newest. */
static bool take_next(struct stream *s, const struct event *ev)
{
    struct conn *c = stream_conn(s);
    if (s->replaying || s->last_seq >= ev->seq || c->doomed || c->close_after) return false;
    if (!stream_may_read(s, ev)) return false;
    s->last_seq = ev->seq;
    return true;
}

static void deliver(struct stream *s, struct delivery *d)
{
    struct fanout *f = d->f;
    struct conn *c = stream_conn(s);
    struct event *ev = d->ev;
    if (!take_next(s, ev)) return;
    /* Replayed bytes are history's own; only live output counts against the budget, so a
     * client resuming far behind is not cut while its replay is still on the way out. */
    if (c->out.bytes - s->replay_unsent + ev->wire_len > f->cfg->max_queued_bytes) {
        STAT_ADD(f->stats, slow_consumers, 1);
        log_info("slow consumer disconnected", "worker=%d queued=%zu", f->consumer, c->out.bytes);
        conn_kill(c);
        return;
    }
    if (!d->se) {
        d->se = shared_get(&f->pool, ev);
        if (!d->se) {
            conn_kill(c);
            return;
        }
    }
    if (outq_push_shared(&c->out, d->se)) {
        conn_kill(c);
        return;
    }
    d->delivered++;
    conn_mark_dirty(c);
}

static void visit_node(struct sub_node *node, void *arg)
{
    deliver(node->owner, arg);
}

/* Takes over the worker's bus reference to ev. Returns the deliveries queued. */
static uint64_t fan_out(struct fanout *f, struct event *ev)
{
    struct delivery d = {.f = f, .ev = ev};
    for (uint16_t i = 0; i < ev->ntopics; i++)
        topic_index_visit(&f->index, ev->topics[i].s, ev->topics[i].len, ev->topics[i].hash,
                          visit_node, &d);
    if (d.delivered) STAT_ADD(f->stats, deliveries, d.delivered);
    if (!d.se)
        event_unref(ev); /* no local holder */
    else if (d.se->holders == 0)
        shared_put_unused(&f->pool, d.se);
    return d.delivered;
}

bool fanout_drain_bus(struct fanout *f, int max)
{
    struct event *ev;
    uint64_t deliveries = 0;
    size_t bytes = 0;
    for (int n = 0; n < max; n++) {
        if (!(ev = bus_next(f->bus, f->consumer))) return false;
        /* Replaying streams read up to here from history: set before the fan-out skips them. */
        f->bus_seq = ev->seq;
        uint32_t len = ev->wire_len;
        uint64_t d = fan_out(f, ev);
        if (!d) continue;
        /* A batch is written before the next is taken: its queue entries (24 B a delivery) and
         * what one stream may receive of it (at most all of its bytes) stay bounded, and a
         * stream is never over its budget for events merely not written yet. */
        deliveries += d;
        bytes += len;
        if (deliveries >= FANOUT_BATCH_DELIVERIES || bytes >= f->cfg->max_queued_bytes / 2)
            return true;
    }
    return true;
}
