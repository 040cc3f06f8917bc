/* The worker loop: wait for readiness, accept, read requests and hand them to the protocol
 * through the handler table, fan bus events out, flush output, retry parked requests, keep time.
 * It names no protocol handler: server/server.h's conn_handler is all it knows of the layer
 * above. */
#include "server/worker.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "core/bus.h"
#include "core/history.h"
#include "http/http.h"
#include "net/io.h"
#include "server/fanout.h"
#include "server/server.h"
#include "server/timer.h"
#include "ssebroker/config.h"

/* Markers for the non-connection descriptors in the loop. */
static char listener_marker, wake_marker, completion_marker;

#define READ_CHUNK 16384
/* Bytes read from one connection per readiness event: a client that keeps sending cannot hold
 * the worker; the rest is read after the others had their turn (the edge is re-armed). */
#define READ_BUDGET (4 * READ_CHUNK)
/* Bytes a stream (which only talks one way) or a connection closing after its answer may send
 * and have ignored; a stream sending more is closed, a closing connection is no longer read. */
#define IGNORED_INPUT_BUDGET 65536
/* Bus events fanned out before a flush: large enough that a flood to many topics still gives
 * each stream several events per send (s4, 1,000 topics: 1,024 -> 8,192 took it from ~240k to
 * ~340k deliveries/s and its p99 from ~600 to ~150 ms). */
#define FANOUT_BATCH    8192
#define ACCEPT_BATCH    256
#define ACCEPT_PAUSE_MS 100
#define POLL_BATCH      256
/* A flush's send batches while input keeps arriving (see serve_pending_input). */
#define FLUSH_SLICE 4
/* drain_bus hands back to the loop after this many bus batches, so timers and parked requests
 * still run while publishers keep the bus full. */
#define DRAIN_ROUNDS 4

static const char overload_response[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
                                        "text/plain\r\nContent-Length: 21\r\nRetry-After: 1\r\n"
                                        "Connection: close\r\n\r\nToo many connections.";

struct worker *worker_new(struct server *srv, int id, int listen_fd, bool use_uring)
{
    struct worker *w = calloc(1, sizeof(*w));
    if (!w) return NULL;
    w->id = id;
    w->srv = srv;
    w->completions.efd = -1; /* not set up yet: worker_free leaves it alone */
    w->listen_fd = listen_fd;
    conn_list_init(&w->conns, sizeof(struct stream));
    parking_init(&w->parking);
    w->slice = FLUSH_SLICE;
    w->io = io_loop_new(use_uring);
    if (!w->io ||
        fanout_init(&w->fan, id, srv->bus, srv->history, srv->cfg, &w->stats, &w->completions) ||
        timers_init(&w->timers, srv->cfg, &w->fan, clock_now_ms()) ||
        completion_queue_init(&w->completions)) {
        worker_free(w);
        return NULL;
    }
    if (io_add(w->io, listen_fd, &listener_marker, IO_LEVEL_READ) ||
        io_add(w->io, bus_wake_fd(srv->bus, id), &wake_marker, IO_EDGE_READ) ||
        io_add(w->io, w->completions.efd, &completion_marker, IO_EDGE_READ)) {
        worker_free(w);
        return NULL;
    }
    w->tick_ms = timer_tick_interval(srv->cfg);
    w->seen_breaks = history_breaks(srv->history);
    return w;
}

void worker_free(struct worker *w)
{
    if (!w) return;
    fanout_free(&w->fan);
    timers_free(&w->timers);
    completion_queue_free(&w->completions);
    io_loop_free(w->io);
    free(w);
}

bool worker_uses_io_uring(const struct worker *w)
{
    return io_loop_backend(w->io)->caps & IO_CAP_BATCH_SEND;
}

/* ---- connections ---------------------------------------------------------------------- */

/* Closes c now: the protocol releases its session, the fan-out its stream, then the transport
 * the rest. */
void worker_close(struct worker *w, struct conn *c)
{
    if (c->parked) park_remove(&w->parking, c);
    timers_cancel(&w->timers, c);
    w->srv->handler->on_close(w->srv->handler_ctx, w, c);
    if (conn_stream(c)) stream_stop(&w->fan, c);
    outq_clear(&c->out, &w->fan.pool);
    /* Counted out before the descriptor closes: a client that has seen the close never finds
     * its connection still in the gauge or under the cap. */
    STAT_SUB(&w->stats, connections, 1);
    atomic_fetch_sub_explicit(&w->srv->connections, 1, memory_order_relaxed);
    conn_free(c);
}

/* Accepts at most one batch, so a connection storm cannot starve the streams of this worker; the
 * listener is level-triggered, so what is left in the backlog is reported by the next wait. */
static void accept_batch(struct worker *w)
{
    const struct server *srv = w->srv;
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
        uint32_t total = atomic_fetch_add_explicit(&w->srv->connections, 1, memory_order_relaxed);
        if (total >= srv->max_connections || w->conns.count >= srv->per_worker_max || w->draining) {
            atomic_fetch_sub_explicit(&w->srv->connections, 1, memory_order_relaxed);
            ssize_t sent = send(fd, overload_response, sizeof(overload_response) - 1,
                                MSG_DONTWAIT | MSG_NOSIGNAL);
            (void)sent; /* best effort: the client is refused either way */
            close(fd);
            STAT_ADD(&w->stats, rejected, 1);
            continue;
        }
        struct conn *c = conn_new(&w->conns, fd);
        if (!c) {
            atomic_fetch_sub_explicit(&w->srv->connections, 1, memory_order_relaxed);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->deadline_ms = w->now_ms + srv->cfg->header_timeout_ms;
        timers_arm(&w->timers, c);
        STAT_ADD(&w->stats, accepted, 1);
        STAT_ADD(&w->stats, connections, 1);
        if (io_add(w->io, fd, c, IO_EDGE_READ_WRITE)) conn_kill(c);
    }
}

/* Keeps the input that follows a request that waits (parked, or answers over budget), to be
 * handled once it goes on. */
static void keep_unread(struct conn *c, const char *data, size_t len)
{
    if (len && buf_append(&c->req->unread, data, len)) conn_kill(c);
}

/* Logs a limit once per connection, never per byte. */
static void warn_once(struct worker *w, struct conn *c, const char *what)
{
    if (c->warned) return;
    c->warned = true;
    log_info(what, "worker=%d fd=%d queued_bytes=%zu", w->id, c->fd, c->out.bytes);
}

/* The answers queued on c exceed its budget: read no more of its requests until the client has
 * read them (nginx answers one pipelined request at a time; Redis caps a client's output). */
static void hold_input(struct worker *w, struct conn *c, const char *data, size_t len)
{
    c->held = true;
    keep_unread(c, data, len);
    STAT_ADD(&w->stats, input_held, 1);
    warn_once(w, c, "pipelined requests wait: their answers are not being read");
}

/* Runs the requests contained in data. Returns false when the connection stops reading. */
static void handle_readable(struct worker *w, struct conn *c, bool edge);

static bool process_input(struct worker *w, struct conn *c, const char *data, size_t len)
{
    const struct sseb_config *cfg = w->srv->cfg;
    while (len) {
        if (!c->req) {
            c->req = malloc(sizeof(*c->req));
            if (!c->req) {
                conn_kill(c);
                return false;
            }
            http_request_init(c->req, &w->srv->http_limits);
        }
        if (c->out.bytes > cfg->max_answer_bytes) {
            hold_input(w, c, data, len);
            return false;
        }
        struct http_request *r = c->req;
        bool was_started = r->started, error;
        size_t used = http_request_feed(r, data, len, &error);
        data += used;
        len -= used;
        if (!was_started && r->started) {
            c->deadline_ms = w->now_ms + cfg->header_timeout_ms;
            timers_arm(&w->timers, c);
        }
        if (error) {
            struct http_refusal no = http_request_refusal(r);
            conn_respond(c, no.status, "text/plain", NULL, no.reason, strlen(no.reason), true);
            return false;
        }
        if (!r->complete) {
            if (http_request_continue_due(r) &&
                conn_write_static(c, HTTP_CONTINUE, sizeof(HTTP_CONTINUE) - 1)) {
                conn_kill(c);
                return false;
            }
            return true;
        }
        STAT_ADD(&w->stats, requests, 1);
        bool keep_alive = llhttp_should_keep_alive(&r->parser);
        w->srv->handler->on_request(w->srv->handler_ctx, w, c, r, keep_alive);
        if (c->state == CONN_STREAM) {
            http_request_free(c->req);
            free(c->req);
            c->req = NULL;
            timers_arm(&w->timers, c);
            return false;
        }
        if (c->parked) {
            keep_unread(c, data, len);
            return false;
        }
        http_request_reset(r);
        c->deadline_ms = w->now_ms + cfg->keepalive_timeout_ms;
        timers_arm(&w->timers, c);
        if (c->close_after || c->doomed) return false;
    }
    return true;
}

/* c may read again (its request was answered, or its answers drained): first what it had sent
 * already, then the socket. */
static void resume_input(struct worker *w, struct conn *c)
{
    if (c->doomed || c->close_after || c->state != CONN_HTTP) return;
    struct buf unread = c->req ? c->req->unread : (struct buf){0};
    if (c->req) c->req->unread = (struct buf){0};
    bool more = !unread.len || process_input(w, c, unread.p, unread.len);
    buf_free(&unread);
    if (more) handle_readable(w, c, false); /* bytes may wait that no edge will announce */
}

/* Reads what c sent, at most READ_BUDGET bytes this time. edge: called for a readiness edge
 * that reported no hang-up, so a short read took everything there was: what comes next (bytes or
 * the end) brings a new edge, and the read that would only answer EAGAIN is not made (one
 * system call per publish: the bound does without it too). */
static void handle_readable(struct worker *w, struct conn *c, bool edge)
{
    char buf[READ_CHUNK];
    size_t budget = READ_BUDGET;
    for (;;) {
        /* Waiting: the socket keeps the rest until the request is answered or the answers read. */
        if (c->parked || c->held || c->doomed) return;
        bool ignoring = c->state == CONN_STREAM || c->close_after;
        if (ignoring && c->ignored > IGNORED_INPUT_BUDGET) {
            if (c->state == CONN_STREAM) {
                STAT_ADD(&w->stats, stream_input_closes, 1);
                warn_once(w, c, "stream closed: the client kept sending data into it");
                conn_kill(c);
            }
            return; /* closing after its answer: the rest is not read */
        }
        if (!budget) {
            /* Fair turns: another edge once the others were served (if input is still there). */
            if (io_mod(w->io, c->fd, c, IO_EDGE_READ_WRITE)) conn_kill(c);
            return;
        }
        ssize_t n = read(c->fd, buf, sizeof(buf));
        if (n > 0) {
            budget -= (size_t)n < budget ? (size_t)n : budget;
            if (ignoring) { /* streams only talk one way; a closing connection has said enough */
                c->ignored += (uint32_t)n;
            } else if (!process_input(w, c, buf, (size_t)n) && c->state != CONN_STREAM) {
                return;
            }
            if (edge && (size_t)n < sizeof(buf)) return;
            continue;
        }
        if (n == 0) {
            if (c->close_after && c->out.bytes) return; /* the answer is on its way out */
            struct http_refusal no = c->state == CONN_HTTP ? http_request_abandoned(c->req, false)
                                                           : (struct http_refusal){0, NULL};
            if (no.status) { /* a half-close in the middle of a request: the peer may still read why
                              */
                conn_respond(c, no.status, "text/plain", NULL, no.reason, strlen(no.reason), true);
                return;
            }
            conn_kill(c);
            return;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) conn_kill(c);
        return;
    }
}

/* Output stuck on c must progress within --send-timeout (nginx's send_timeout). */
static void arm_send_deadline(struct worker *w, struct conn *c, bool progressed)
{
    uint32_t timeout = w->srv->cfg->send_timeout_ms;
    if (!timeout || (c->send_deadline_ms && !progressed)) return;
    c->send_deadline_ms = w->now_ms + timeout;
    timers_arm(&w->timers, c);
}

/* Accounts one send's result for c. */
static void sent(struct worker *w, struct conn *c, const struct io_send_slot *slot)
{
    if (slot->result < 0) {
        if (slot->result == -EAGAIN || slot->result == -EWOULDBLOCK) {
            c->blocked = true; /* write readiness will bring it back */
            arm_send_deadline(w, c, false);
        } else if (slot->result == -EINTR)
            conn_mark_dirty(c);
        else
            worker_close(w, c);
        return;
    }
    size_t written = (size_t)slot->result;
    if (written) {
        STAT_ADD(&w->stats, bytes_out, written);
        c->last_write_ms = w->now_ms;
        if (conn_stream(c)) stream_written(c, written);
        if (outq_consume(&c->out, &w->fan.pool, written)) {
            log_error("send reported more bytes than were queued; closing", "worker=%d", w->id);
            worker_close(w, c);
            return;
        }
    }
    if (written < slot->asked) {
        c->blocked = true; /* a short write: the socket buffer is full */
        arm_send_deadline(w, c, written > 0);
    } else {
        c->send_deadline_ms = 0;
        if (c->out.count || c->close_after)
            conn_mark_dirty(c); /* more than one send's worth, or close once all is out */
    }
    if (conn_stream(c) && !c->blocked) stream_refill(&w->fan, c);
    /* Its answers drained to half the budget: read its pipelined requests again. */
    if (c->held && c->out.bytes <= w->srv->cfg->max_answer_bytes / 2) {
        c->held = false;
        resume_input(w, c);
    }
}

static void handle_events(struct worker *w, const struct io_event *evs, int n);
static void run_parked(struct worker *w);

/* Reads and answers what arrived since the last wait, without waiting. Returns how many
 * descriptors were ready. */
static int serve_input(struct worker *w)
{
    struct io_event evs[POLL_BATCH];
    int n = io_wait(w->io, evs, POLL_BATCH, 0);
    if (n > 0) handle_events(w, evs, n);
    return n > 0 ? n : 0;
}

/* Between two send batches of a long flush: serve what arrived meanwhile, if anything did. The
 * batches stay small (FLUSH_SLICE sends) while requests keep arriving, so that publishers are
 * answered within a slice rather than after the whole fan-out round, and what they publish
 * meanwhile rides in the next round's gathered writes; they double while none has arrived in
 * this flush, up to a whole io_uring batch, so that a sparse fan-out costs the same system calls
 * with idle keep-alive connections open as without (REVIEW D7). Once one has arrived during the
 * flush, the publishers are busy: a check that finds nothing new keeps the small batches (each
 * one waits for its answer, one round trip; doubling then held every ack behind up to 256 sends,
 * and fanout-topics' publishers at half the bound's rate). requests_at_start: the count when
 * the flush began. */
static void serve_pending_input(struct worker *w, uint64_t requests_at_start)
{
    uint64_t requests = atomic_load_explicit(&w->stats.requests, memory_order_relaxed);
    if (io_input(w->io) != IO_INPUT_NO) serve_input(w);
    /* Outcomes that came meanwhile (a store's, an archive lookup's) are answered now too, not
     * after the whole flush. */
    if (park_any_ready(&w->parking)) run_parked(w);
    /* Requests, not any readiness: a publisher closing its connection, or a stream's socket
     * taking more (an edge after every send to it), is no reason to slice. */
    uint64_t now = atomic_load_explicit(&w->stats.requests, memory_order_relaxed);
    if (now != requests)
        w->slice = FLUSH_SLICE;
    else if (now == requests_at_start && w->slice < IO_SEND_BATCH)
        w->slice = w->slice * 2 < IO_SEND_BATCH ? w->slice * 2 : IO_SEND_BATCH;
}

/* Writes every dirty connection's queue: one gathered send per connection, a batch of them per
 * system call where io_uring is available, input served between batches when there is some
 * (serve_pending_input). */
void worker_flush(struct worker *w)
{
    struct io_send_slot *slots = io_send_slots(w->io);
    struct conn *batch[IO_SEND_BATCH];
    bool sliced = false;
    uint64_t requests_at_start = atomic_load_explicit(&w->stats.requests, memory_order_relaxed);
    io_input_watch(w->io);
    while (w->conns.dirty) {
        if (sliced && !w->draining) serve_pending_input(w, requests_at_start);
        int n = 0, max = w->draining ? IO_SEND_BATCH : w->slice;
        while (w->conns.dirty && n < max) {
            struct conn *c = w->conns.dirty;
            w->conns.dirty = c->dirty_next;
            c->dirty = false;
            if (c->doomed || (!c->out.count && c->close_after)) {
                worker_close(w, c);
                continue;
            }
            if (c->blocked || !c->out.count) continue;
            slots[n].fd = c->fd;
            slots[n].iovcnt = outq_prepare(&c->out, slots[n].iov, IO_SEND_IOV_MAX, &slots[n].asked);
            batch[n++] = c;
        }
        if (!n) break;
        io_send(w->io, n);
        for (int i = 0; i < n; i++)
            sent(w, batch[i], &slots[i]);
        sliced = true;
    }
}

/* ---- parked requests --------------------------------------------------------------------- */

void worker_park(struct worker *w, struct conn *c, const struct park_ops *ops, void *ctx,
                 enum park_wait wait, int64_t deadline_ms)
{
    if (park_add(&w->parking, c, ops, ctx, wait, deadline_ms)) return;
    if (!ops->expire(ctx, w, c)) conn_kill(c); /* no memory to wait with: answer now */
}

/* A parked request was answered: the connection goes on with what it sent after it. */
static void parked_done(struct worker *w, struct conn *c)
{
    if (c->doomed || c->close_after) return;
    if (c->state == CONN_STREAM) { /* the parked request became a stream: no more input */
        http_request_free(c->req);
        free(c->req);
        c->req = NULL;
        timers_arm(&w->timers, c);
        return;
    }
    http_request_reset(c->req);
    c->deadline_ms = w->now_ms + w->srv->cfg->keepalive_timeout_ms;
    timers_arm(&w->timers, c);
    resume_input(w, c);
}

/* ---- the loop ---------------------------------------------------------------------------- */

static void drain_bus(struct worker *w)
{
    /* Keep latency bounded under a flood: write each batch before taking the next. */
    for (int i = 0; i < DRAIN_ROUNDS; i++) {
        bool more = fanout_drain_bus(&w->fan, FANOUT_BATCH);
        bus_room_made(w->srv->bus,
                      w->id); /* what this worker took may be the room a publish waits for */
        if (!more) break;
        worker_flush(w);
    }
}

/* Resumes, retries and expires parked requests. Publishes still waiting for bus room ask the bus
 * to wake this worker when consumers move on, then try once more: room made before the ask is
 * found by that try, room made after it by the wake-up. */
static void run_parked(struct worker *w)
{
    if (!w->parking.count) return;
    parking_run(&w->parking, w, w->now_ms, w->draining, parked_done);
    if (!parking_wants_room(&w->parking)) return;
    bus_want_room(w->srv->bus, w->id);
    parking_run(&w->parking, w, w->now_ms, w->draining, parked_done);
}

/* History broke (the store lost or reset part of the order): end every stream with a retry hint,
 * so that each client resumes and learns from its Last-Event-ID answer what it may have missed. */
static void cut_streams_at_break(struct worker *w)
{
    uint64_t breaks = history_breaks(w->srv->history);
    if (breaks == w->seen_breaks) return;
    w->seen_breaks = breaks;
    for (struct conn *c = conn_list_next(&w->conns, NULL); c; c = conn_list_next(&w->conns, c))
        if (c->state == CONN_STREAM) stream_close(&w->fan, c);
}

/* The server drains: stop accepting, end streams with a retry hint, close idle connections. */
static void start_drain(struct worker *w)
{
    w->draining = true;
    w->conns.closing = true;
    w->drain_deadline_ms = w->now_ms + w->srv->cfg->drain_timeout_ms;
    if (!w->accept_resume_ms && io_del(w->io, w->listen_fd)) /* else already unwatched */
        log_warn("cannot unwatch the listener", "worker=%d error=\"%s\"", w->id, strerror(errno));
    w->accept_resume_ms = 0;
    close(w->listen_fd);
    w->listen_fd = -1;
    for (struct conn *c = conn_list_next(&w->conns, NULL); c; c = conn_list_next(&w->conns, c)) {
        if (c->state == CONN_STREAM)
            stream_close(&w->fan, c);
        else if ((!c->req || !c->req->started) && !c->out.bytes && !c->parked)
            conn_kill(c); /* idle keep-alive; requests in flight finish with a close */
    }
}

/* Dispatches what one wait reported. Connections are only marked doomed here (conn_kill), never
 * freed, so a later event of the same batch never points at freed memory. */
static void handle_events(struct worker *w, const struct io_event *evs, int n)
{
    for (int i = 0; i < n; i++) {
        void *p = evs[i].ptr;
        if (p == &listener_marker) {
            if (!w->draining) accept_batch(w);
            continue;
        }
        if (p == &wake_marker) {
            bus_woke(w->srv->bus, w->id);
            continue;
        }
        if (p == &completion_marker) {
            completion_run(&w->completions);
            continue;
        }
        struct conn *c = p;
        if (c->doomed) continue;
        if (evs[i].events & IO_WRITE && c->blocked) {
            c->blocked = false;
            conn_mark_dirty(c);
        }
        if (evs[i].events & (IO_READ | IO_HUP | IO_ERR))
            handle_readable(w, c, !(evs[i].events & (IO_HUP | IO_ERR)));
    }
}

void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct bus *bus = w->srv->bus;
    struct io_event evs[POLL_BATCH];
    w->now_ms = clock_now_ms();
    w->next_tick_ms = w->now_ms + w->tick_ms;
    for (;;) {
        int timeout = (int)(w->next_tick_ms - w->now_ms);
        if (timeout < 0) timeout = 0;
        int parked_ms = parking_wait_ms(&w->parking, w->now_ms);
        if (parked_ms >= 0 && timeout > parked_ms) timeout = parked_ms;
        if (timeout && !bus_prepare_sleep(bus, w->id)) timeout = 0;
        int n = io_wait(w->io, evs, POLL_BATCH, timeout);
        if (n < 0) {
            log_error("poller wait failed", "worker=%d error=\"%s\"", w->id, strerror(errno));
            n = 0;
        }
        w->now_ms = clock_now_ms();
        handle_events(w, evs, n);
        /* Completions ran: what they made ready is answered in this pass. */
        run_parked(w);
        /* Answers first (publish acknowledgements above all), so that publishers are not kept
         * waiting behind the fan-out of the events they just sent. */
        worker_flush(w);
        bus_woke_quiet(bus, w->id);
        drain_bus(w);
        cut_streams_at_break(w);
        run_parked(w);
        worker_flush(w);
        if (w->accept_resume_ms && w->now_ms >= w->accept_resume_ms && !w->draining) {
            w->accept_resume_ms = 0;
            if (io_add(w->io, w->listen_fd, &listener_marker, IO_LEVEL_READ))
                log_error("cannot watch the listener again", "worker=%d error=\"%s\"", w->id,
                          strerror(errno));
        }
        if (w->now_ms >= w->next_tick_ms) {
            w->next_tick_ms = w->now_ms + w->tick_ms;
            timers_run(&w->timers, w->now_ms);
            worker_flush(w);
        }
        if (!w->draining && atomic_load_explicit(&w->srv->draining, memory_order_acquire)) {
            start_drain(w);
            worker_flush(w);
        }
        if (w->draining) {
            if (!w->conns.count) break;
            if (w->now_ms >= w->drain_deadline_ms) {
                w->conns.dirty = NULL;
                while (w->conns.count)
                    worker_close(w, conn_list_next(&w->conns, NULL));
                break;
            }
            if (w->next_tick_ms > w->now_ms + 50) w->next_tick_ms = w->now_ms + 50;
        }
    }
    /* Release what the bus still holds for this worker (no connections are left). */
    while (fanout_drain_bus(&w->fan, FANOUT_BATCH))
        ;
    return NULL;
}
