/* The worker loop: accept, read requests, fan bus events out to local streams, flush output,
 * keep time (timeouts, heartbeats, stream lifetime), drain on shutdown. */
#include "worker.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "bus.h"
#include "conn.h"
#include "event.h"
#include "http.h"
#include "log.h"
#include "routes.h"
#include "sender.h"
#include "server.h"

/* Markers for the two non-connection descriptors in the loop. */
static char listener_marker, wake_marker;

#define READ_CHUNK      16384
#define FANOUT_BATCH    1024
#define ACCEPT_BATCH    256
#define ACCEPT_PAUSE_MS 100

static const char heartbeat_bytes[] = ":\n";
static const char overload_response[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
                                        "text/plain\r\nContent-Length: 21\r\nRetry-After: 1\r\n"
                                        "Connection: close\r\n\r\nToo many connections.";
static const char continue_response[] = "HTTP/1.1 100 Continue\r\n\r\n";

int64_t worker_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t tick_interval(const struct sseb_config *cfg)
{
    uint32_t t = 1000;
    const uint32_t periods[] = {cfg->heartbeat_ms, cfg->header_timeout_ms,
                                cfg->keepalive_timeout_ms, cfg->stream_lifetime_ms};
    for (size_t i = 0; i < sizeof(periods) / sizeof(periods[0]); i++)
        if (periods[i] && periods[i] / 4 < t) t = periods[i] / 4;
    return t < 10 ? 10 : t;
}

struct worker *worker_new(struct sseb_broker *b, int id, int listen_fd)
{
    struct worker *w = calloc(1, sizeof(*w));
    if (!w) return NULL;
    w->id = id;
    w->b = b;
    w->listen_fd = listen_fd;
    w->io = io_loop_new();
    w->sender = sender_new(b->cfg.io_uring);
    if (!w->io || !w->sender || topic_index_init(&w->index)) {
        worker_free(w);
        return NULL;
    }
    if (io_add(w->io, listen_fd, &listener_marker, IO_LEVEL_READ) ||
        io_add(w->io, bus_wake_fd(b->bus, id), &wake_marker, IO_EDGE_READ)) {
        worker_free(w);
        return NULL;
    }
    w->tick_ms = tick_interval(&b->cfg);
    w->retry_hint_len = (uint32_t)snprintf(w->retry_hint, sizeof(w->retry_hint), "retry: %u\n\n",
                                           b->cfg.retry_hint_ms);
    return w;
}

void worker_free(struct worker *w)
{
    if (!w) return;
    topic_index_free(&w->index);
    shared_pool_free(&w->pool);
    sender_free(w->sender);
    io_loop_free(w->io);
    free(w);
}

/* ---- connections ---------------------------------------------------------------------- */

void conn_mark_dirty(struct worker *w, struct conn *c)
{
    if (c->dirty) return;
    c->dirty = true;
    c->dirty_next = w->dirty;
    w->dirty = c;
}

void conn_kill(struct worker *w, struct conn *c)
{
    c->doomed = true;
    conn_mark_dirty(w, c);
}

static void conn_destroy(struct worker *w, struct conn *c)
{
    for (uint32_t i = 0; i < c->nsubs; i++)
        topic_index_remove(&w->index, &c->subs[i]);
    if (c->state == CONN_STREAM) {
        STAT_ADD(w, streams, -1);
        STAT_ADD(w, subscriptions, -(uint64_t)c->nsubs);
        routes_stream_ended(w, c);
    }
    free(c->subs);
    outq_clear(&c->out, &w->pool);
    if (c->req) {
        http_request_free(c->req);
        free(c->req);
    }
    if (c->claims) {
        auth_claims_free(c->claims);
        free(c->claims);
    }
    publisher_auth_free(c->pub_auth);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    w->nconns--;
    STAT_ADD(w, connections, -1);
    atomic_fetch_sub_explicit(&w->b->connections, 1, memory_order_relaxed);
    free(c);
}

int conn_write_copy(struct worker *w, struct conn *c, const char *p, size_t len)
{
    char *copy = malloc(len);
    if (!copy) return -1;
    memcpy(copy, p, len);
    if (outq_push_owned(&c->out, copy, len)) return -1;
    conn_mark_dirty(w, c);
    return 0;
}

void conn_respond(struct worker *w, struct conn *c, int status, const char *content_type,
                  const char *extra_headers, const char *body, size_t body_len, bool close)
{
    size_t len;
    close = close || w->draining;
    char *resp = http_response(status, content_type, extra_headers, body, body_len, close, &len);
    /* A HEAD answer carries the headers of the GET one, without its body. */
    if (resp && c->req && c->req->parser.method == HTTP_HEAD) len -= body_len;
    if (!resp || outq_push_owned(&c->out, resp, len)) {
        conn_kill(w, c);
        return;
    }
    if (close) c->close_after = true;
    conn_mark_dirty(w, c);
}

/* Accepts at most one batch, so a connection storm cannot starve the streams of this worker; the
 * listener is level-triggered, so what is left in the backlog is reported by the next wait. */
static void accept_batch(struct worker *w)
{
    const struct sseb_config *cfg = &w->b->cfg;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd = accept4(w->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                /* Out of descriptors or memory: a level-triggered listener would report the same
                 * backlog at once, so stop watching it for a moment instead of spinning. */
                log_warn("accept failed, pausing accepts", "worker=%d error=\"%s\" pause_ms=%d",
                         w->id, strerror(errno), ACCEPT_PAUSE_MS);
                if (io_del(w->io, w->listen_fd) == 0) {
                    w->accept_resume_ms = w->now_ms + ACCEPT_PAUSE_MS;
                    if (w->next_tick_ms > w->accept_resume_ms)
                        w->next_tick_ms = w->accept_resume_ms;
                }
            }
            return;
        }
        uint32_t total = atomic_fetch_add_explicit(&w->b->connections, 1, memory_order_relaxed);
        if (total >= cfg->max_connections || w->nconns >= w->b->per_worker_max || w->draining) {
            atomic_fetch_sub_explicit(&w->b->connections, 1, memory_order_relaxed);
            ssize_t sent = send(fd, overload_response, sizeof(overload_response) - 1,
                                MSG_DONTWAIT | MSG_NOSIGNAL);
            (void)sent;
            close(fd);
            STAT_ADD(w, rejected, 1);
            continue;
        }
        struct conn *c = calloc(1, sizeof(*c));
        if (!c) {
            atomic_fetch_sub_explicit(&w->b->connections, 1, memory_order_relaxed);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->fd = fd;
        c->state = CONN_HTTP;
        c->deadline_ms = w->now_ms + cfg->header_timeout_ms;
        c->next = w->conns;
        if (w->conns) w->conns->prev = c;
        w->conns = c;
        w->nconns++;
        STAT_ADD(w, accepted, 1);
        STAT_ADD(w, connections, 1);
        if (io_add(w->io, fd, c, IO_EDGE_READ_WRITE)) conn_kill(w, c);
    }
}

/* Runs the requests contained in data. Returns false when the connection stops reading. */
static bool process_input(struct worker *w, struct conn *c, const char *data, size_t len)
{
    const struct sseb_config *cfg = &w->b->cfg;
    while (len) {
        if (!c->req) {
            c->req = malloc(sizeof(*c->req));
            if (!c->req) {
                conn_kill(w, c);
                return false;
            }
            http_request_init(c->req, cfg);
        }
        struct http_request *r = c->req;
        bool was_started = r->started, error;
        size_t used = http_request_feed(r, data, len, &error);
        data += used;
        len -= used;
        if (!was_started && r->started) c->deadline_ms = w->now_ms + cfg->header_timeout_ms;
        if (error) {
            int status = r->status ? r->status : 400;
            const char *reason = r->reason ? r->reason : "Malformed HTTP request.";
            if (!r->status && llhttp_get_errno(&r->parser) == HPE_INVALID_VERSION)
                status = 505, reason = "HTTP version not supported.";
            conn_respond(w, c, status, "text/plain", NULL, reason, strlen(reason), true);
            return false;
        }
        if (!r->complete) {
            size_t elen;
            const char *expect = http_header_value(r, HDR_EXPECT, &elen);
            if (expect && !r->continue_sent && elen == 12 &&
                strncasecmp(expect, "100-continue", 12) == 0) {
                r->continue_sent = true;
                if (outq_push_static(&c->out, continue_response, sizeof(continue_response) - 1)) {
                    conn_kill(w, c);
                    return false;
                }
                conn_mark_dirty(w, c);
            }
            return true;
        }
        STAT_ADD(w, requests, 1);
        bool keep_alive = llhttp_should_keep_alive(&r->parser);
        routes_dispatch(w, c, r, keep_alive);
        if (c->state == CONN_STREAM) {
            http_request_free(c->req);
            free(c->req);
            c->req = NULL;
            return false;
        }
        http_request_reset(r);
        c->deadline_ms = w->now_ms + cfg->keepalive_timeout_ms;
        if (c->close_after || c->doomed) return false;
    }
    return true;
}

static void handle_readable(struct worker *w, struct conn *c)
{
    char buf[READ_CHUNK];
    for (;;) {
        ssize_t n = read(c->fd, buf, sizeof(buf));
        if (n > 0) {
            if (c->state == CONN_STREAM || c->close_after)
                continue; /* streams only talk one way; drain and ignore */
            if (!process_input(w, c, buf, (size_t)n) && c->state != CONN_STREAM) return;
            continue;
        }
        if (n == 0) {
            if (c->close_after && c->out.bytes) return; /* the answer is on its way out */
            if (c->state == CONN_HTTP && c->req && c->req->started) {
                /* A half-close in the middle of a request: the peer may still read why. */
                static const char msg[] = "Request cut short: the connection was closed before "
                                          "the whole request arrived.";
                conn_respond(w, c, 400, "text/plain", NULL, msg, sizeof(msg) - 1, true);
                return;
            }
            conn_kill(w, c);
            return;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) conn_kill(w, c);
        return;
    }
}

/* Accounts one send's result for c. */
static void sent(struct worker *w, struct conn *c, const struct sender_slot *slot)
{
    if (slot->result < 0) {
        if (slot->result == -EAGAIN || slot->result == -EWOULDBLOCK)
            c->blocked = true; /* EPOLLOUT will bring it back */
        else if (slot->result == -EINTR)
            conn_mark_dirty(w, c);
        else
            conn_destroy(w, c);
        return;
    }
    size_t written = (size_t)slot->result;
    if (written) {
        STAT_ADD(w, bytes_out, written);
        c->last_write_ms = w->now_ms;
        /* The queue is written in order, so the replay (queued first) leaves first. */
        c->replay_unsent -= written < c->replay_unsent ? written : c->replay_unsent;
        if (outq_consume(&c->out, &w->pool, written)) {
            log_error("send reported more bytes than were queued; closing", "worker=%d", w->id);
            conn_destroy(w, c);
            return;
        }
    }
    if (written < slot->asked)
        c->blocked = true; /* a short write: the socket buffer is full */
    else if (c->out.count || c->close_after)
        conn_mark_dirty(w, c); /* more than one send's worth, or close once all is out */
}

/* Writes every dirty connection's queue: one gathered send per connection, a batch of them per
 * system call where io_uring is available. */
static void flush_dirty(struct worker *w)
{
    struct sender_slot *slots = sender_slots(w->sender);
    struct conn *batch[SENDER_BATCH];
    while (w->dirty) {
        int n = 0;
        while (w->dirty && n < SENDER_BATCH) {
            struct conn *c = w->dirty;
            w->dirty = c->dirty_next;
            c->dirty = false;
            if (c->doomed || (!c->out.count && c->close_after)) {
                conn_destroy(w, c);
                continue;
            }
            if (c->blocked || !c->out.count) continue;
            slots[n].fd = c->fd;
            slots[n].iovcnt = outq_prepare(&c->out, slots[n].iov, SENDER_IOV_MAX, &slots[n].asked);
            batch[n++] = c;
        }
        if (!n) break;
        sender_send(w->sender, n);
        for (int i = 0; i < n; i++)
            sent(w, batch[i], &slots[i]);
    }
}

/* ---- fan-out -------------------------------------------------------------------------- */

bool conn_may_read(const struct conn *c, const struct event *ev)
{
    if (!ev->private_) return true;
    if (!c->claims) return false;
    for (uint16_t i = 0; i < ev->ntopics; i++)
        if (auth_can_subscribe(c->claims, ev->topics[i].s, ev->topics[i].len)) return true;
    return false;
}

struct fanout {
    struct worker *w;
    struct event *ev;
    struct shared_event *se;
    uint64_t delivered;
};

/* True when ev is next for c: newer than what it has, readable by it, and c still open.
 * Marks ev as c's newest. */
static bool take_next(struct conn *c, const struct event *ev)
{
    if (c->last_seq >= ev->seq || c->doomed || c->close_after) return false;
    if (!conn_may_read(c, ev)) return false;
    c->last_seq = ev->seq;
    return true;
}

static void deliver(struct worker *w, struct conn *c, struct fanout *f)
{
    struct event *ev = f->ev;
    if (!take_next(c, ev)) return;
    /* Replayed bytes are history's own; only live output counts against the budget, so a
     * client resuming far behind is not cut while its replay is still on the way out. */
    if (c->out.bytes - c->replay_unsent + ev->wire_len > w->b->cfg.max_queued_bytes) {
        STAT_ADD(w, slow_consumers, 1);
        log_info("slow consumer disconnected", "worker=%d queued=%zu", w->id, c->out.bytes);
        conn_kill(w, c);
        return;
    }
    if (!f->se) {
        f->se = shared_get(&w->pool, ev);
        if (!f->se) {
            conn_kill(w, c);
            return;
        }
    }
    if (outq_push_shared(&c->out, f->se)) {
        conn_kill(w, c);
        return;
    }
    f->delivered++;
    conn_mark_dirty(w, c);
}

static void visit_node(struct sub_node *node, void *arg)
{
    struct fanout *f = arg;
    deliver(f->w, node->conn, f);
}

/* Takes over the worker's bus reference to ev. */
static void fanout(struct worker *w, struct event *ev)
{
    struct fanout f = {.w = w, .ev = ev};
    for (uint16_t i = 0; i < ev->ntopics; i++)
        topic_index_visit(&w->index, ev->topics[i].s, ev->topics[i].len, ev->topics[i].hash,
                          visit_node, &f);
    if (f.delivered) STAT_ADD(w, deliveries, f.delivered);
    if (!f.se)
        event_unref(ev); /* no local holder */
    else if (f.se->holders == 0)
        shared_put_unused(&w->pool, f.se);
}

void worker_deliver_replayed(struct worker *w, struct conn *c, struct event *ev)
{
    if (!take_next(c, ev)) return;
    /* A reference of its own per replayed event: replay is not the hot path, and a worker-wide
     * holder per (stream, event) would only cost memory. */
    event_ref(ev);
    if (outq_push_event(&c->out, ev)) {
        conn_kill(w, c);
        return;
    }
    c->replay_unsent += ev->wire_len;
    STAT_ADD(w, replayed, 1);
    conn_mark_dirty(w, c);
}

static void drain_bus(struct worker *w, bool flush_batches)
{
    struct event *ev;
    int n = 0;
    while ((ev = bus_next(w->b->bus, w->id))) {
        fanout(w, ev);
        if (flush_batches && ++n == FANOUT_BATCH) {
            /* Keep latency bounded under a flood: write what we have, then go on. */
            flush_dirty(w);
            n = 0;
        }
    }
}

void worker_drain_bus(void *arg)
{
    /* Called by a publisher waiting for room, in the middle of a request: queue only, never
     * flush, since a flush may close connections (the publisher's own among them). */
    drain_bus(arg, false);
}

/* The monotonic deadline of an instant given in epoch seconds (a token's exp), saturating: any
 * exp a token carries, however large or small, gives a deadline in [now_ms, INT64_MAX]. */
int64_t deadline_at_epoch(int64_t now_ms, long long at_s, int64_t now_s)
{
    if (at_s <= now_s) return now_ms;
    /* at_s > now_s >= 0 here for any real clock, so the difference cannot overflow. */
    uint64_t left_s = (uint64_t)at_s - (uint64_t)now_s;
    if (left_s > (uint64_t)(INT64_MAX - now_ms) / 1000) return INT64_MAX;
    return now_ms + (int64_t)left_s * 1000;
}

int worker_start_stream(struct worker *w, struct conn *c, char **selectors, size_t *lens, size_t n,
                        uint64_t after_seq)
{
    c->subs = calloc(n, sizeof(*c->subs));
    if (!c->subs) return -1;
    for (size_t i = 0; i < n; i++) {
        if (topic_index_add(&w->index, &c->subs[i], c, selectors[i], lens[i])) {
            for (size_t j = 0; j < i; j++)
                topic_index_remove(&w->index, &c->subs[j]);
            free(c->subs);
            c->subs = NULL;
            return -1;
        }
    }
    c->nsubs = (uint32_t)n;
    c->state = CONN_STREAM;
    publisher_auth_free(c->pub_auth); /* a stream publishes nothing more */
    c->pub_auth = NULL;
    c->last_seq = after_seq;
    c->last_write_ms = w->now_ms;
    const struct sseb_config *cfg = &w->b->cfg;
    c->deadline_ms = cfg->stream_lifetime_ms ? w->now_ms + cfg->stream_lifetime_ms : INT64_MAX;
    if (c->claims && c->claims->exp) {
        int64_t at = deadline_at_epoch(w->now_ms, c->claims->exp, (int64_t)time(NULL));
        if (at < c->deadline_ms) c->deadline_ms = at;
    }
    STAT_ADD(w, streams, 1);
    STAT_ADD(w, subscriptions, n);
    return 0;
}

/* ---- time and shutdown ------------------------------------------------------------------ */

static void close_stream_politely(struct worker *w, struct conn *c)
{
    if (c->close_after || c->doomed) return;
    if (outq_push_static(&c->out, w->retry_hint, w->retry_hint_len)) {
        conn_kill(w, c); /* out of memory: close without the hint */
        return;
    }
    c->close_after = true;
    conn_mark_dirty(w, c);
}

static void on_tick(struct worker *w)
{
    const struct sseb_config *cfg = &w->b->cfg;
    for (struct conn *c = w->conns; c; c = c->next) {
        if (c->doomed) continue;
        if (c->state == CONN_HTTP) {
            if (w->now_ms < c->deadline_ms) continue;
            if (c->req && c->req->started && !c->close_after) {
                static const char msg[] = "Request timeout.";
                conn_respond(w, c, 408, "text/plain", NULL, msg, sizeof(msg) - 1, true);
                c->deadline_ms = w->now_ms + cfg->header_timeout_ms;
            } else {
                conn_kill(w, c);
            }
            continue;
        }
        if (w->now_ms >= c->deadline_ms) {
            close_stream_politely(w, c);
            continue;
        }
        if (cfg->heartbeat_ms && !c->out.bytes &&
            w->now_ms - c->last_write_ms >= (int64_t)cfg->heartbeat_ms) {
            if (outq_push_static(&c->out, heartbeat_bytes, sizeof(heartbeat_bytes) - 1)) {
                conn_kill(w, c);
                continue;
            }
            STAT_ADD(w, heartbeats, 1);
            conn_mark_dirty(w, c);
        }
    }
}

static void start_drain(struct worker *w)
{
    w->draining = true;
    w->drain_deadline_ms = w->now_ms + w->b->cfg.drain_timeout_ms;
    if (!w->accept_resume_ms && io_del(w->io, w->listen_fd)) /* else already unwatched */
        log_warn("cannot unwatch the listener", "worker=%d error=\"%s\"", w->id, strerror(errno));
    w->accept_resume_ms = 0;
    close(w->listen_fd);
    w->listen_fd = -1;
    for (struct conn *c = w->conns; c; c = c->next) {
        if (c->state == CONN_STREAM)
            close_stream_politely(w, c);
        else if ((!c->req || !c->req->started) && !c->out.bytes)
            conn_kill(w, c); /* idle keep-alive; requests in flight finish with a close */
    }
}

void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct io_event evs[256];
    w->now_ms = worker_now_ms();
    w->next_tick_ms = w->now_ms + w->tick_ms;
    for (;;) {
        int timeout = (int)(w->next_tick_ms - w->now_ms);
        if (timeout < 0) timeout = 0;
        if (timeout && !bus_prepare_sleep(w->b->bus, w->id)) timeout = 0;
        int n = io_wait(w->io, evs, 256, timeout);
        w->now_ms = worker_now_ms();
        for (int i = 0; i < n; i++) {
            void *p = evs[i].ptr;
            if (p == &listener_marker) {
                if (!w->draining) accept_batch(w);
                continue;
            }
            if (p == &wake_marker) {
                bus_woke(w->b->bus, w->id);
                continue;
            }
            struct conn *c = p;
            if (c->doomed) continue;
            if (evs[i].events & IO_WRITE && c->blocked) {
                c->blocked = false;
                conn_mark_dirty(w, c);
            }
            if (evs[i].events & (IO_READ | IO_HUP | IO_ERR)) handle_readable(w, c);
        }
        /* Answers first (publish acknowledgements above all), so that publishers are not kept
         * waiting behind the fan-out of the events they just sent. */
        flush_dirty(w);
        bus_woke_quiet(w->b->bus, w->id);
        drain_bus(w, true);
        flush_dirty(w);
        if (w->accept_resume_ms && w->now_ms >= w->accept_resume_ms && !w->draining) {
            w->accept_resume_ms = 0;
            if (io_add(w->io, w->listen_fd, &listener_marker, IO_LEVEL_READ))
                log_error("cannot watch the listener again", "worker=%d error=\"%s\"", w->id,
                          strerror(errno));
        }
        if (w->now_ms >= w->next_tick_ms) {
            w->next_tick_ms = w->now_ms + w->tick_ms;
            on_tick(w);
            flush_dirty(w);
        }
        if (!w->draining && atomic_load_explicit(&w->b->draining, memory_order_acquire)) {
            start_drain(w);
            flush_dirty(w);
        }
        if (w->draining) {
            if (!w->nconns) break;
            if (w->now_ms >= w->drain_deadline_ms) {
                w->dirty = NULL;
                while (w->conns)
                    conn_destroy(w, w->conns);
                break;
            }
            if (w->next_tick_ms > w->now_ms + 50) w->next_tick_ms = w->now_ms + 50;
        }
    }
    /* Release what the bus still holds for this worker (no connections are left). */
    drain_bus(w, false);
    return NULL;
}
