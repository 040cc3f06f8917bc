/* A client connection and what the layers above may do with it: queue bytes or a whole HTTP
 * answer, close it now or once its output is written. A connection lives and dies on the worker
 * that accepted it (its conn_list): nothing here is thread-safe, and nothing needs to be.
 *
 * The transport owns the fields below; the protocol keeps its per-connection state behind
 * `session` (freed by the protocol's close hook), the fan-out its stream state in the room after
 * the struct (conn_extra). */
#ifndef SSEB_NET_CONN_H
#define SSEB_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/list.h"
#include "common/wheel.h"
#include "net/outq.h"

struct http_request;
struct park;

enum conn_state {
    CONN_HTTP,   /* reading requests (publishers, probes, subscribe handshakes) */
    CONN_STREAM, /* an event stream: only output from now on */
};

struct conn {
    int fd;
    uint8_t state;
    bool dirty;            /* on the list's flush list */
    bool close_after;      /* close once the output queue is written */
    bool doomed;           /* close at the next flush, discarding output (slow consumer, errors) */
    bool blocked;          /* the socket buffer is full: wait for write readiness */
    bool parked;           /* a request waits (server/park.h): input is not read meanwhile */
    bool held;             /* queued answers over budget: input is not read until they drain */
    bool warned;           /* a limit was logged for this connection (once per connection) */
    uint32_t ignored;      /* input bytes read and ignored (a stream's, a closing connection's) */
    int64_t deadline_ms;   /* HTTP: header/keep-alive timeout; stream: lifetime/token expiry */
    int64_t last_write_ms; /* for heartbeats */
    /* Output is stuck (a short or refused send) and must progress by then (0: not stuck). */
    int64_t send_deadline_ms;
    struct outq out;          /* what is still to be written */
    struct http_request *req; /* allocated while the connection speaks HTTP */
    struct conn_list *list;   /* the owning worker's connections */
    void *session;            /* the protocol's per-connection state, or NULL */
    struct park *park;        /* while parked: the loop's state for it (server/park.h) */
    struct list_node link;    /* in the list's connections */
    struct conn *dirty_next;
    struct wheel_node timer; /* the worker's timers (server/timer.h) */
};

/* One worker's connections and those waiting to be written. */
struct conn_list {
    struct list_node all; /* every connection (conn_list_init) */
    uint32_t count;
    struct conn *dirty;
    bool closing;       /* draining: every answer closes its connection */
    size_t extra_bytes; /* room allocated after each struct conn for the layer above (its stream
                         * state), so a delivery touches one allocation, not two */
};

/* An empty list whose connections get extra_bytes of room each (conn_extra). */
void conn_list_init(struct conn_list *list, size_t extra_bytes);
/* The list's connection after c (NULL: c is the last; c NULL: the first). */
static inline struct conn *conn_list_next(const struct conn_list *list, const struct conn *c)
{
    const struct list_node *n = c ? c->link.next : list->all.next;
    return n == &list->all ? NULL : list_entry(n, struct conn, link);
}

/* A new connection on fd, linked into list, with list->extra_bytes of zeroed room after it
 * (conn_extra). NULL when out of memory; fd is not closed. */
struct conn *conn_new(struct conn_list *list, int fd);
/* The room after c (aligned for any type). */
static inline void *conn_extra(struct conn *c)
{
    return c + 1;
}
/* Unlinks c, closes its descriptor and frees it with its output and request. The protocol's
 * session and the stream must already be released. */
void conn_free(struct conn *c);

/* Schedules c for the next flush. */
void conn_mark_dirty(struct conn *c);
/* Closes c at the next flush, discarding its output. */
void conn_kill(struct conn *c);

/* Queues a complete HTTP answer to c's current request (the headers only for a HEAD). close (or
 * a draining list) closes the connection once it is written. Out of memory kills c. */
void conn_respond(struct conn *c, int status, const char *content_type, const char *extra_headers,
                  const char *body, size_t body_len, bool close);
/* conn_respond with a text/plain UTF-8 body. */
void conn_respond_text(struct conn *c, int status, const char *extra_headers, const char *text,
                       bool close);
/* Queues bytes that outlive the queue (literals) / a copy of p. Return -1 when out of memory. */
int conn_write_static(struct conn *c, const char *p, size_t len);
int conn_write_copy(struct conn *c, const char *p, size_t len);
/* Queues a malloc'd buffer, freed once written (or at once on failure). Returns -1 on OOM. */
int conn_write_owned(struct conn *c, char *p, size_t len);

#endif
