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
    list_init(&f->cold_reads);
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

/* Deliveries queued per bus batch at most, counted in queue entries (24 B each: 12 MiB). */
#define FANOUT_BATCH_ENTRIES (512 * 1024)
/* Events in one run at most (a run: see fanout_drain_bus). */
#define FANOUT_RUN_MAX 1024

/* One run of bus events on its way to the streams that take it. */
struct delivery {
    struct fanout *f;
    struct event **evs; /* the run, in bus order: same topics, same visibility */
    uint32_t n;
    size_t bytes;            /* wire bytes of the whole run */
    struct shared_event *se; /* made at the first delivery: the event, or the run's bytes */
    uint64_t delivered;      /* events queued, over every stream */
    uint64_t entries;        /* queue entries made (one per stream) */
};

/* The run's bytes, held once for every stream of this worker: the event itself for a run of one,
 * else one copy of the run's bytes (one copy per worker, however many streams take it). */
static struct shared_event *run_bytes(struct fanout *f, struct delivery *d)
{
    if (d->n == 1) return shared_get(&f->pool, d->evs[0]);
    char *p;
    struct shared_event *se = shared_get_bytes(&f->pool, d->bytes, &p);
    if (!se) return NULL;
    for (uint32_t i = 0; i < d->n; i++) {
        memcpy(p, d->evs[i]->wire, d->evs[i]->wire_len);
        p += d->evs[i]->wire_len;
    }
    return se;
}

static void deliver(struct stream *s, struct delivery *d)
{
    struct fanout *f = d->f;
    struct conn *c = stream_conn(s);
    const struct event *first = d->evs[0], *last = d->evs[d->n - 1];
    if (s->replaying || s->last_seq >= last->seq || c->doomed || c->close_after) return;
    if (!stream_may_read(s, first)) return; /* the whole run has first's topics and visibility */
    /* A stream that has the start of the run already (rare: it went live in the middle of it)
     * takes the rest. */
    uint32_t from = 0;
    size_t off = 0;
    while (d->evs[from]->seq <= s->last_seq)
        off += d->evs[from++]->wire_len;
    s->last_seq = last->seq;
    /* Replayed bytes are history's own; only live output counts against the budget, so a
     * client resuming far behind is not cut while its replay is still on the way out. */
    if (c->out.bytes - s->replay_unsent + (d->bytes - off) > f->cfg->max_queued_bytes) {
        STAT_ADD(f->stats, slow_consumers, 1);
        log_info("slow consumer disconnected", "worker=%d queued=%zu", f->consumer, c->out.bytes);
        conn_kill(c);
        return;
    }
    if (!d->se && !(d->se = run_bytes(f, d))) {
        conn_kill(c);
        return;
    }
    if (outq_push_shared_from(&c->out, d->se, off)) {
        conn_kill(c);
        return;
    }
    d->delivered += d->n - from;
    d->entries++;
    conn_mark_dirty(c);
}

static void visit_node(struct sub_node *node, void *arg)
{
    deliver(node->owner, arg);
}

/* Takes over the worker's bus references to the run's events. */
static void fan_out(struct fanout *f, struct delivery *d)
{
    const struct event *ev = d->evs[0];
    for (uint16_t i = 0; i < ev->ntopics; i++)
        topic_index_visit(&f->index, ev->topics[i].s, ev->topics[i].len, ev->topics[i].hash,
                          visit_node, d);
    if (d->delivered) STAT_ADD(f->stats, deliveries, d->delivered);
    bool copied = d->se && d->n > 1;
    if (!d->se || copied) /* no local holder of the events themselves */
        for (uint32_t i = 0; i < d->n; i++)
            event_unref(d->evs[i]);
    if (d->se && d->se->holders == 0) shared_put_unused(&f->pool, d->se);
}

/* Whether ev goes to exactly the streams first goes to: the same topics, the same visibility. */
static bool same_run(const struct event *first, const struct event *ev)
{
    if (ev->private_ != first->private_ || ev->ntopics != first->ntopics) return false;
    for (uint16_t i = 0; i < ev->ntopics; i++) {
        const struct event_topic *a = &first->topics[i], *b = &ev->topics[i];
        if (a->hash != b->hash || a->len != b->len || memcmp(a->s, b->s, a->len)) return false;
    }
    return true;
}

struct drain {
    uint64_t entries;
    size_t bytes;
};

static void fan_out_run(struct fanout *f, struct event **evs, uint32_t n, size_t bytes,
                        struct drain *dr)
{
    if (!n) return;
    /* Replaying streams read up to here from history: set before the fan-out skips them. */
    f->bus_seq = evs[n - 1]->seq;
    struct delivery d = {.f = f, .evs = evs, .n = n, .bytes = bytes};
    fan_out(f, &d);
    if (!d.entries) return;
    dr->entries += d.entries;
    dr->bytes += bytes;
}

/* Consecutive bus events with the same topics and visibility form a run: every stream that takes
 * one takes all of them, so the run is queued to each as one entry (its bytes copied once per
 * worker), one iovec of the stream's next send, instead of one per event. A flood to one topic
 * becomes one entry per stream per batch (s1: the bound's per-topic round buffer); events to
 * varied topics stay runs of one, queued as themselves. */
bool fanout_drain_bus(struct fanout *f, int max)
{
    struct event *run[FANOUT_RUN_MAX];
    uint32_t n = 0;
    size_t run_len = 0;
    struct drain dr = {0};
    /* A batch is written before the next is taken: its queue entries (24 B each) and what one
     * stream may receive of it (at most all of its bytes) stay bounded, and a stream is never
     * over its budget for events merely not written yet. */
    size_t budget = f->cfg->max_queued_bytes / 2;
    for (int taken = 0; taken < max; taken++) {
        struct event *ev = bus_next(f->bus, f->consumer);
        if (!ev) {
            fan_out_run(f, run, n, run_len, &dr);
            return false;
        }
        if (n && (n == FANOUT_RUN_MAX || dr.bytes + run_len + ev->wire_len > budget ||
                  !same_run(run[0], ev))) {
            fan_out_run(f, run, n, run_len, &dr);
            n = 0;
            run_len = 0;
            if (dr.entries >= FANOUT_BATCH_ENTRIES || dr.bytes >= budget) {
                fan_out_run(f, &ev, 1, ev->wire_len, &dr);
                return true;
            }
        }
        run[n++] = ev;
        run_len += ev->wire_len;
    }
    fan_out_run(f, run, n, run_len, &dr);
    return true;
}
