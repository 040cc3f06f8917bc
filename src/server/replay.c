/* Replay (fanout.h): a resuming stream reads history through its cursor, a chunk at a time as
 * its socket drains, up to the worker's bus position, then turns live (go_live). What memory no
 * longer holds comes from the archive (core/archive.h) in reads posted back to the worker
 * (fanout_cold_done). The states of a stream: replaying from memory; replaying and waiting for
 * the archive (cold_pending); live. A cursor that history outran is a gap: the stream is closed
 * with the retry hint unless it asked for "earliest" and has been sent nothing yet. */
#include <stdlib.h>

#include "common/log.h"
#include "core/archive.h"
#include "core/event.h"
#include "core/history.h"
#include "core/selector.h"
#include "net/conn.h"
#include "server/fanout.h"
#include "server/stats.h"

#define REPLAY_CHUNK      256          /* events read from history per lock */
#define REPLAY_HIGH_WATER (256 * 1024) /* a replaying stream's queue is topped up to this */
/* Replay from the archive: its events are read for one stream and shared with no other, so a
 * stream's queue is topped up less, a read at a time. */
#define COLD_HIGH_WATER (64 * 1024)

/* A read of the archive in flight for one stream. */
struct cold_read {
    struct archive_read r;
    struct fanout *f;
    struct conn *conn;     /* NULL once the stream is gone: the answer is then only released */
    struct list_node link; /* in the worker's reads in flight (fanout.cold_reads) */
};

static bool stream_matches(const struct stream *s, const struct event *ev)
{
    for (uint16_t t = 0; t < ev->ntopics; t++)
        for (uint32_t i = 0; i < s->nsubs; i++)
            if (selector_match(s->subs[i].group->sel, ev->topics[t].s, ev->topics[t].len))
                return true;
    return false;
}

void replay_detach(struct fanout *f, struct conn *c)
{
    if (!conn_stream(c)->cold_pending) return;
    struct list_node *n, *tmp;
    list_for_each_safe(n, tmp, &f->cold_reads)
    {
        struct cold_read *cr = list_entry(n, struct cold_read, link);
        if (cr->conn == c) cr->conn = NULL;
    }
}

void stream_written(struct conn *c, size_t written)
{
    struct stream *s = conn_stream(c);
    /* The queue is written in order and replayed bytes are queued before later live ones. */
    s->replay_unsent -= written < s->replay_unsent ? written : s->replay_unsent;
}

void stream_replay(struct fanout *f, struct conn *c, uint64_t from_seq, bool earliest)
{
    struct stream *s = conn_stream(c);
    s->replaying = true;
    s->replay_earliest = earliest;
    s->replay_next = from_seq;
    stream_refill(f, c);
}

/* The cursor reached the worker's bus position: every later event comes through the fan-out. */
static void go_live(struct fanout *f, struct stream *s)
{
    s->replaying = false;
    uint64_t seen = s->replay_next - 1;
    s->last_seq = f->bus_seq > seen ? f->bus_seq : seen;
}

/* Queues the replayed events[0..n) that s may read (taking over their references); false when c
 * had to be killed (out of memory), the rest released. */
static bool queue_replayed(struct fanout *f, struct conn *c, struct event **events, size_t n)
{
    struct stream *s = conn_stream(c);
    for (size_t i = 0; i < n; i++) {
        struct event *ev = events[i];
        s->replay_next = ev->seq + 1;
        if (!stream_matches(s, ev) || !stream_may_read(s, ev)) {
            event_unref(ev);
            continue;
        }
        /* A reference of its own per replayed event: a worker-wide holder per (stream, event)
         * would only cost memory. */
        uint32_t len = ev->wire_len;
        if (outq_push_event(&c->out, ev)) { /* it released ev */
            for (size_t j = i + 1; j < n; j++)
                event_unref(events[j]);
            conn_kill(c);
            return false;
        }
        s->replay_unsent += len;
        STAT_ADD(f->stats, replayed, 1);
    }
    if (n) {
        s->replay_earliest = false;
        conn_mark_dirty(c);
    }
    return true;
}

/* The cursor is older than memory: asks the archive for [replay_next, hot_oldest). False when
 * there is no archive, it does not have the cursor either, or no memory for the request. */
static bool cold_read_start(struct fanout *f, struct conn *c, uint64_t hot_oldest)
{
    struct stream *s = conn_stream(c);
    struct archive *a = history_archive(f->history);
    uint64_t oldest = a ? archive_oldest(a) : 0;
    if (!oldest || oldest >= hot_oldest) return false;
    if (s->replay_next < oldest) {
        if (!s->replay_earliest) return false; /* evicted from the files too: a real gap */
        s->replay_next = oldest;
    }
    if (c->out.bytes >= COLD_HIGH_WATER) return true; /* asked again as the socket drains */
    struct cold_read *cr = malloc(sizeof(*cr));
    if (!cr) return false;
    cr->r.ticket = (struct authority_ticket){.done = fanout_cold_done, .queue = f->completions};
    cr->r.from = s->replay_next;
    cr->r.upto = hot_oldest - 1;
    cr->r.max_bytes = COLD_HIGH_WATER;
    cr->f = f;
    cr->conn = c;
    list_push_back(&f->cold_reads, &cr->link);
    s->cold_pending = true;
    STAT_ADD(f->stats, archive_reads, 1);
    archive_read(a, &cr->r);
    return true;
}

void fanout_cold_done(struct authority_ticket *t)
{
    struct cold_read *cr = (struct cold_read *)t;
    struct fanout *f = cr->f;
    list_remove(&cr->link);
    struct conn *c = cr->conn;
    struct archive_read *r = &cr->r;
    size_t taken = 0;
    if (c && !c->doomed && !c->close_after) {
        struct stream *s = conn_stream(c);
        s->cold_pending = false;
        if (t->result != AUTHORITY_STORED) {
            log_warn("replay from the history files failed; stream closed", "worker=%d",
                     f->consumer);
            stream_close(f, c);
        } else if (r->gap && !s->replay_earliest) {
            STAT_ADD(f->stats, replay_cut, 1);
            log_info("replay overtaken by history retention; stream closed", "worker=%d",
                     f->consumer);
            stream_close(f, c);
        } else {
            if (r->gap) s->replay_next = r->next;
            taken = r->nevents;
            if (queue_replayed(f, c, r->events, r->nevents)) {
                if (r->next > s->replay_next) s->replay_next = r->next; /* skipped, not lost */
                stream_refill(f, c);
            }
        }
    } else if (c) {
        conn_stream(c)->cold_pending = false;
    }
    for (size_t i = taken; i < r->nevents; i++)
        event_unref(r->events[i]);
    free(cr);
}

void stream_refill(struct fanout *f, struct conn *c)
{
    struct stream *s = conn_stream(c);
    struct event *chunk[REPLAY_CHUNK];
    while (s->replaying && !s->cold_pending && c->out.bytes < REPLAY_HIGH_WATER && !c->doomed &&
           !c->close_after) {
        if (s->replay_next > f->bus_seq) {
            go_live(f, s);
            return;
        }
        bool gap;
        uint64_t oldest;
        size_t n = history_read(f->history, s->replay_next, f->bus_seq, chunk, REPLAY_CHUNK, &gap,
                                &oldest);
        if (gap && cold_read_start(f, c, oldest)) return;
        if (gap && s->replay_earliest) {
            /* "All retained history" and nothing sent yet: retained now starts later. */
            s->replay_next = oldest;
            continue;
        }
        if (gap) {
            /* History moved past the cursor (the subscriber read slower than updates were
             * evicted): the rest cannot come gap-free. It resumes by Last-Event-ID. */
            STAT_ADD(f->stats, replay_cut, 1);
            log_info("replay overtaken by history eviction; stream closed", "worker=%d",
                     f->consumer);
            stream_close(f, c);
            return;
        }
        if (!queue_replayed(f, c, chunk, n)) return;
    }
}
