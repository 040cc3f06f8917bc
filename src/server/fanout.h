/* Fan-out: a worker's event streams, fed from the bus (live) and from history (replay).
 *
 * Live (fanout.c): each event the worker takes from the bus is matched against its topic index
 * and queued, by one shared reference, to every stream that may read it. Replay (replay.c): a
 * stream that resumes (Last-Event-ID) reads history through a cursor, a chunk at a time as its
 * socket drains, up to the worker's bus position, then turns live; so a replay costs bounded
 * memory however deep it goes, and arrives with no gap and no duplicate. What memory no longer
 * holds comes from the history's archive (core/archive.h: the embedded log's files), read off
 * the worker's thread in bounded chunks that the completion queue brings back. */
#ifndef SSEB_SERVER_FANOUT_H
#define SSEB_SERVER_FANOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/topic_index.h"
#include "net/conn.h"
#include "net/outq.h"

struct conn;
struct event;
struct auth_claims;
struct sub_node;
struct bus;
struct history;
struct cold_read;
struct completion_queue;
struct authority_ticket;
struct sseb_config;
struct worker_stats;

/* One worker's fan-out: its bus cursor, its shard of the subscriber index, its event holders. */
struct fanout {
    int consumer; /* the worker's bus cursor */
    struct bus *bus;
    struct history *history;
    const struct sseb_config *cfg;
    struct worker_stats *stats;
    struct topic_index index;
    struct shared_pool pool;
    uint64_t bus_seq;            /* seq of the newest event taken from the bus */
    struct list_node cold_reads; /* reads of the archive in flight for this worker's streams */
    struct completion_queue *completions; /* the worker's: where those reads come back */
    char retry_hint[48];
    uint32_t retry_hint_len;
};

/* Returns -1 when out of memory. */
int fanout_init(struct fanout *f, int consumer, struct bus *bus, struct history *history,
                const struct sseb_config *cfg, struct worker_stats *stats,
                struct completion_queue *completions);
void fanout_free(struct fanout *f);

struct stream {
    struct sub_node *subs; /* one node per distinct selector (&one when there is one) */
    struct sub_node one;
    uint32_t nsubs;
    bool replaying;       /* reading history: live events come from the cursor meanwhile */
    bool replay_earliest; /* replaying "earliest" and nothing read yet */
    bool cold_pending;    /* waiting for a read of the archive (older than memory) */
    union {
        uint64_t last_seq;    /* live: the newest seq delivered or skipped */
        uint64_t replay_next; /* replaying: the next seq the cursor reads */
    };
    size_t replay_unsent;             /* replayed bytes still queued, outside the live budget */
    const struct auth_claims *reader; /* borrowed from the protocol: who may read private updates */
};

/* Turns c into an event stream on the worker's topic index, live from now on: n selectors, each
 * read with its syntax (NULL: all draft-07 topic selectors). The stream is kept in c's extra
 * room (conn_extra: the worker sizes it to struct stream). reader (NULL: anonymous) must outlive
 * the stream. The stream ends at epoch second expires_at (0: never) or at --stream-lifetime,
 * whichever comes first. Returns -1 when out of memory. */
int stream_start(struct fanout *f, struct conn *c, char **selectors, size_t *lens,
                 const enum selector_syntax *syntax, size_t n, const struct auth_claims *reader,
                 long long expires_at, int64_t now_ms);
/* Replays history from seq on (what it may read of it), then goes live (replay.c, like the
 * other stream_ functions about replay below). earliest: from_seq is "the oldest retained", which
 * may move forward before the first chunk is read. */
void stream_replay(struct fanout *f, struct conn *c, uint64_t from_seq, bool earliest);
/* Leaves the topic index and frees the stream (the worker's close path). */
void stream_stop(struct fanout *f, struct conn *c);
/* c's stream while it is one (it sits in the connection's extra room), else NULL. */
static inline struct stream *conn_stream(struct conn *c)
{
    return c->state == CONN_STREAM ? (struct stream *)conn_extra(c) : NULL;
}

/* The connection a stream lives in. */
static inline struct conn *stream_conn(struct stream *s)
{
    return (struct conn *)s - 1;
}

/* The selector text of the stream's i-th subscription. */
const char *stream_selector(const struct stream *s, uint32_t i, size_t *len);

/* After a send: written bytes left c's queue. */
void stream_written(struct conn *c, size_t written);
/* Tops up a replaying stream's queue from history while it is short. */
void stream_refill(struct fanout *f, struct conn *c);
/* Forgets c's read of the archive in flight, if any (its answer is then only released): the
 * stream is stopping. */
void replay_detach(struct fanout *f, struct conn *c);

/* True when the stream's subscriber may read ev (public, or a topic its token allows). */
bool stream_may_read(const struct stream *s, const struct event *ev);

/* Ends a stream with the retry hint (the client reconnects, resuming by Last-Event-ID). */
void stream_close(struct fanout *f, struct conn *c);

/* A read of the archive came back (run by the completion queue on the worker's thread). */
void fanout_cold_done(struct authority_ticket *t);
/* Fans out at most max events from the bus, fewer when they make many deliveries or many bytes
 * (see fanout.c); returns true when more may be waiting. */
bool fanout_drain_bus(struct fanout *f, int max);

#endif
