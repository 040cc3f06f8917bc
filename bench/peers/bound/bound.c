/* bound: the fastest SSE fan-out server we can write for this machine and this job, the bound
 * bench/run.sh reports every server against (target "bound"). It copies nothing of ssebroker's
 * design; whatever makes it faster is fair, whatever a broker needs and a bound does not (history,
 * auth, limits, heartbeats, patterns) is left out.
 *
 * It speaks just enough of the Node peer's API for bench/loadgen --target node:
 *   GET  /.well-known/mercure?topic=T        -> 200 text/event-stream, then events of topic T
 *   POST /.well-known/mercure  topic=T&data=D -> 200 with the event id (keep-alive, pipelined)
 *   GET  /healthz                             -> 200
 *
 * How it goes fast:
 * - One worker thread per core, each with its own SO_REUSEPORT listener and epoll; a publish is
 *   encoded once and handed to every worker (a mutex'd inbox; an eventfd write only when that
 *   worker sleeps).
 * - Acknowledgements first: a publisher's answers are written before any fan-out starts.
 * - A round: the worker takes every event in its inbox and concatenates, per topic, the bytes of
 *   that topic's events once (one copy per event per worker, never per subscriber); each
 *   subscriber of the topic then gets one send of that one buffer. No per-subscriber queue, no
 *   per-delivery bookkeeping: a subscriber holds bytes only when its socket refused some.
 * - The sends of up to 256 subscribers go to the kernel in one io_uring submission (sendmsg
 *   through the ring, non-blocking); without io_uring, one sendmsg each.
 * - --slice N (default SLICE_DEFAULT): between two submissions of at most N sends, input that
 *   arrived meanwhile is served (epoll_wait with no timeout) and its answers written, so
 *   publishers keep publishing during a long round; while none arrives the submissions double,
 *   up to 256 sends; 0: input only between rounds. The default is what measured fastest
 *   (bench/RESULTS.md: 1, 2, 4, 8, 16, 64, 256 tried).
 * - Topics are an exact-match hash table of arrays of subscribers (swap-remove); a topic of the
 *   shape prefix{var}suffix is a URI template (var: one path segment), tried against every
 *   event (bench/run.sh's template scenario).
 *
 * usage: bound [--port N] [--workers N] [--slice N] [--uring 0|1]  (18083, online CPUs, ...) */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#ifdef BOUND_URING
#include <liburing.h>
#endif

#define MAX_WORKERS   64
#define BUCKETS       4096
#define RBUF          65536
#define BATCH         256 /* sends per io_uring submission */
#define SLICE_DEFAULT 4
#define MAX_IN        (1 << 20) /* request bytes a connection may have pending */

struct event {
    _Atomic int refs;
    uint32_t hash;
    uint32_t topic_len, len;
    char *topic, *bytes; /* inside the allocation */
};

struct topic {
    struct topic *next; /* same bucket */
    uint32_t hash, len;
    struct conn **subs;
    uint32_t nsubs, cap;
    /* This round: the bytes of its events, concatenated. */
    char *buf;
    size_t buf_len, buf_cap;
    struct topic *round_next;
    bool in_round;
    struct topic *template_next; /* a URI template ("{var}"): in the worker's template list */
    char name[];
};

struct conn {
    int fd;
    bool stream, dirty, closing, writable_wait;
    struct topic *topic; /* stream: its topic; idx its place in topic->subs */
    uint32_t idx;
    char *in; /* request bytes not handled yet */
    size_t in_len;
    char *out; /* bytes the socket did not take yet (answers, or a stream's backlog) */
    size_t out_len;
    struct conn *dirty_next;
};

struct slot {
    struct conn *c;
    struct iovec iov[2];
    int iovcnt;
    size_t asked;
    int res;
    struct msghdr msg;
};

struct worker {
    int id, lfd, ep, efd;
    pthread_t thread;
    struct topic *buckets[BUCKETS];
    struct topic *templates; /* topics that are URI templates, tried against every event */
    pthread_mutex_t lock;    /* the inbox, filled by every worker's publishers */
    struct event **inbox;
    size_t ninbox, capinbox;
    _Atomic int sleeping;
    struct conn *dirty; /* connections with answers to write */
    struct conn *dead;  /* closed during a round: freed after it (dirty_next links them) */
    bool in_round;
    struct slot slots[BATCH];
    int nslots;
    int slice; /* sends between two looks at the input: --slice while input comes, else more */
#ifdef BOUND_URING
    bool uring;
    struct io_uring ring;
#endif
    char rbuf[RBUF];
};

static struct worker workers[MAX_WORKERS];
static int nworkers, slice = SLICE_DEFAULT, use_uring = 1;
static _Atomic uint64_t next_id;

static uint32_t fnv(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static void unref(struct event *ev)
{
    if (atomic_fetch_sub(&ev->refs, 1) == 1) free(ev);
}

static int hexv(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Percent-decodes s[0..n) in place ('+' is a space); returns the new length. */
static size_t decode(char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
            s[o++] = (char)(hexv(s[i + 1]) * 16 + hexv(s[i + 2]));
            i += 2;
        } else {
            s[o++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    return o;
}

/* Finds key=value in a form string; decodes the value in place. */
static char *form_get(char *form, size_t n, const char *key, size_t *vlen)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < n;) {
        size_t end = i;
        while (end < n && form[end] != '&')
            end++;
        if (end - i > kl && !memcmp(form + i, key, kl) && form[i + kl] == '=') {
            *vlen = decode(form + i + kl + 1, end - i - kl - 1);
            return form + i + kl + 1;
        }
        i = end + 1;
    }
    return NULL;
}

static void append(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
    if (*len + n > *cap) {
        size_t nc = *cap ? *cap : 256;
        while (nc < *len + n)
            nc *= 2;
        char *b = realloc(*buf, nc);
        if (!b) abort();
        *buf = b;
        *cap = nc;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
}

/* A connection's pending output: exact-size buffer (most have none, so no capacity field). */
static void queue_out(struct conn *c, const char *p, size_t n)
{
    char *o = realloc(c->out, c->out_len + n);
    if (!o) abort();
    memcpy(o + c->out_len, p, n);
    c->out = o;
    c->out_len += n;
}

static void drop_out(struct conn *c, size_t n)
{
    if (n >= c->out_len) {
        free(c->out);
        c->out = NULL;
        c->out_len = 0;
        return;
    }
    memmove(c->out, c->out + n, c->out_len - n);
    c->out_len -= n;
}

static void mark_dirty(struct worker *w, struct conn *c)
{
    if (c->dirty || c->closing) return;
    c->dirty = true;
    c->dirty_next = w->dirty;
    w->dirty = c;
}

/* ---- topics --------------------------------------------------------------------------------- */

static struct topic *topic_get(struct worker *w, const char *name, size_t len, uint32_t hash,
                               bool create)
{
    struct topic **b = &w->buckets[hash % BUCKETS];
    for (struct topic *t = *b; t; t = t->next)
        if (t->hash == hash && t->len == len && !memcmp(t->name, name, len)) return t;
    if (!create) return NULL;
    struct topic *t = calloc(1, sizeof(*t) + len);
    if (!t) abort();
    t->hash = hash;
    t->len = (uint32_t)len;
    memcpy(t->name, name, len);
    t->next = *b;
    *b = t;
    if (memchr(name, '{', len)) {
        t->template_next = w->templates;
        w->templates = t;
    }
    return t;
}

/* A URI template of the one shape the benchmark uses, prefix{var}suffix: var is one path
 * segment. */
static bool template_matches(const struct topic *t, const char *s, size_t n)
{
    const char *open = memchr(t->name, '{', t->len);
    const char *close = memchr(open, '}', t->len - (size_t)(open - t->name));
    if (!close) return false;
    size_t pre = (size_t)(open - t->name), suf = t->len - (size_t)(close + 1 - t->name);
    if (n <= pre + suf || memcmp(s, t->name, pre) || memcmp(s + n - suf, close + 1, suf))
        return false;
    return !memchr(s + pre, '/', n - pre - suf);
}

static void round_add(struct topic **round, struct topic *t, const struct event *ev)
{
    append(&t->buf, &t->buf_len, &t->buf_cap, ev->bytes, ev->len);
    if (!t->in_round) {
        t->in_round = true;
        t->round_next = *round;
        *round = t;
    }
}

static void subscribe(struct worker *w, struct conn *c, const char *name, size_t len)
{
    struct topic *t = topic_get(w, name, len, fnv(name, len), true);
    if (t->nsubs == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 4;
        t->subs = realloc(t->subs, t->cap * sizeof(*t->subs));
        if (!t->subs) abort();
    }
    c->topic = t;
    c->idx = t->nsubs;
    t->subs[t->nsubs++] = c;
    c->stream = true;
}

static void unsubscribe(struct conn *c)
{
    struct topic *t = c->topic;
    struct conn *last = t->subs[--t->nsubs];
    t->subs[c->idx] = last;
    last->idx = c->idx;
    c->topic = NULL;
}

/* ---- sends ---------------------------------------------------------------------------------- */

static void close_conn(struct worker *w, struct conn *c);

/* Sends slots[0..n) without blocking; each res is bytes written or -errno. */
static void send_slots(struct worker *w, struct slot *s, int n)
{
#ifdef BOUND_URING
    if (w->uring) {
        for (int i = 0; i < n; i++) {
            struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
            s[i].msg = (struct msghdr){.msg_iov = s[i].iov, .msg_iovlen = (size_t)s[i].iovcnt};
            io_uring_prep_sendmsg(sqe, s[i].c->fd, &s[i].msg, MSG_NOSIGNAL | MSG_DONTWAIT);
            io_uring_sqe_set_data64(sqe, (uint64_t)i);
        }
        int r;
        do
            r = io_uring_submit_and_wait(&w->ring, (unsigned)n);
        while (r == -EINTR);
        for (int done = 0; done < n;) {
            struct io_uring_cqe *cqe;
            if (io_uring_wait_cqe(&w->ring, &cqe) == -EINTR) continue;
            s[io_uring_cqe_get_data64(cqe)].res = cqe->res;
            io_uring_cqe_seen(&w->ring, cqe);
            done++;
        }
        return;
    }
#endif
    for (int i = 0; i < n; i++) {
        s[i].msg = (struct msghdr){.msg_iov = s[i].iov, .msg_iovlen = (size_t)s[i].iovcnt};
        ssize_t r = sendmsg(s[i].c->fd, &s[i].msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        s[i].res = r < 0 ? -errno : (int)r;
    }
}

/* What a send did to its connection: written bytes leave, the rest stays in c->out in order. */
static void sent(struct worker *w, struct slot *s)
{
    struct conn *c = s->c;
    size_t written = s->res > 0 ? (size_t)s->res : 0;
    if (s->res < 0 && s->res != -EAGAIN && s->res != -EINTR) {
        close_conn(w, c);
        return;
    }
    size_t from_out = s->iov[0].iov_base == c->out && c->out_len ? s->iov[0].iov_len : 0;
    if (from_out) {
        size_t d = written < from_out ? written : from_out;
        drop_out(c, d);
        written -= d;
    }
    for (int i = from_out ? 1 : 0; i < s->iovcnt; i++) {
        size_t l = s->iov[i].iov_len;
        if (written >= l) {
            written -= l;
            continue;
        }
        queue_out(c, (char *)s->iov[i].iov_base + written, l - written);
        written = 0;
    }
    c->writable_wait = c->out_len > 0; /* the next EPOLLOUT edge brings it back */
}

static void submit(struct worker *w)
{
    if (!w->nslots) return;
    send_slots(w, w->slots, w->nslots);
    for (int i = 0; i < w->nslots; i++)
        sent(w, &w->slots[i]);
    w->nslots = 0;
    while (w->dead && !w->in_round) {
        struct conn *c = w->dead;
        w->dead = c->dirty_next;
        free(c);
    }
}

static void add_slot(struct worker *w, struct conn *c, const char *p, size_t n)
{
    struct slot *s = &w->slots[w->nslots++];
    s->c = c;
    s->iovcnt = 0;
    if (c->out_len) s->iov[s->iovcnt++] = (struct iovec){c->out, c->out_len};
    if (n) s->iov[s->iovcnt++] = (struct iovec){(void *)p, n};
}

/* Answers (and backlogs whose socket became writable) go out: one submission for all of them. */
static void flush_answers(struct worker *w)
{
    while (w->dirty) {
        struct conn *c = w->dirty;
        w->dirty = c->dirty_next;
        c->dirty = false;
        if (c->out_len && !c->writable_wait) add_slot(w, c, NULL, 0);
        if (w->nslots == BATCH) submit(w);
    }
    submit(w);
}

/* ---- publish and fan-out -------------------------------------------------------------------- */

static void publish(const char *topic, size_t tlen, const char *data, size_t dlen, char *id_out)
{
    uint64_t id = atomic_fetch_add(&next_id, 1) + 1;
    int idn = snprintf(id_out, 32, "%llu", (unsigned long long)id);
    size_t len = 4 + (size_t)idn + 7 + dlen + 2;
    struct event *ev = malloc(sizeof(*ev) + tlen + len + 1);
    if (!ev) abort();
    ev->topic = (char *)(ev + 1);
    memcpy(ev->topic, topic, tlen);
    ev->topic_len = (uint32_t)tlen;
    ev->hash = fnv(topic, tlen);
    ev->bytes = ev->topic + tlen;
    ev->len = (uint32_t)sprintf(ev->bytes, "id: %s\ndata: %.*s\n\n", id_out, (int)dlen, data);
    atomic_init(&ev->refs, nworkers);
    for (int i = 0; i < nworkers; i++) {
        struct worker *w = &workers[i];
        pthread_mutex_lock(&w->lock);
        if (w->ninbox == w->capinbox) {
            w->capinbox = w->capinbox ? w->capinbox * 2 : 1024;
            w->inbox = realloc(w->inbox, w->capinbox * sizeof(*w->inbox));
            if (!w->inbox) abort();
        }
        w->inbox[w->ninbox++] = ev;
        pthread_mutex_unlock(&w->lock);
        /* The exchange is seq_cst (a full barrier): no fence, which ThreadSanitizer cannot model.
         */
        if (atomic_exchange(&w->sleeping, 0)) {
            uint64_t one = 1;
            ssize_t r = write(w->efd, &one, 8);
            (void)r;
        }
    }
}

static void handle(struct worker *w, const struct epoll_event *evs, int n);

/* Input that arrived during a round: read it, publish what it publishes (next round), and write
 * the answers now. While none comes, the next look is twice as far (up to a whole submission),
 * so a sparse fan-out costs one epoll_wait per submission or less. */
static void serve_input(struct worker *w)
{
    struct epoll_event evs[256];
    int n = epoll_wait(w->ep, evs, 256, 0);
    if (n <= 0) {
        w->slice = w->slice * 2 < BATCH ? w->slice * 2 : BATCH;
        return;
    }
    w->slice = slice;
    handle(w, evs, n);
    flush_answers(w); /* runs between submissions: no send of the round is pending */
}

/* One round: every event of the inbox to every subscriber of its topic. */
static void fan_out(struct worker *w)
{
    pthread_mutex_lock(&w->lock);
    struct event **evs = w->inbox;
    size_t n = w->ninbox;
    w->inbox = NULL;
    w->ninbox = w->capinbox = 0;
    pthread_mutex_unlock(&w->lock);
    if (!n) return;
    struct topic *round = NULL;
    for (size_t i = 0; i < n; i++) {
        struct event *ev = evs[i];
        struct topic *t = topic_get(w, ev->topic, ev->topic_len, ev->hash, false);
        if (t && t->nsubs) round_add(&round, t, ev);
        for (t = w->templates; t; t = t->template_next)
            if (t->nsubs && template_matches(t, ev->topic, ev->topic_len)) round_add(&round, t, ev);
        unref(ev);
    }
    free(evs);
    w->in_round = true;
    for (struct topic *t = round; t; t = t->round_next) {
        for (uint32_t i = 0; i < t->nsubs; i++) {
            struct conn *c = t->subs[i];
            if (c->writable_wait) { /* its socket is full: keep the bytes behind its backlog */
                queue_out(c, t->buf, t->buf_len);
                continue;
            }
            add_slot(w, c, t->buf, t->buf_len);
            if (w->nslots == BATCH || (slice && w->nslots >= w->slice)) {
                submit(w);
                if (slice) serve_input(w);
            }
        }
    }
    submit(w);
    w->in_round = false;
    for (struct topic *t = round; t; t = t->round_next) {
        t->in_round = false;
        t->buf_len = 0;
        if (t->buf_cap > 65536) { /* a burst's buffer is given back */
            free(t->buf);
            t->buf = NULL;
            t->buf_cap = 0;
        }
    }
    while (w->dead) {
        struct conn *c = w->dead;
        w->dead = c->dirty_next;
        free(c);
    }
}

/* ---- connections ---------------------------------------------------------------------------- */

static void close_conn(struct worker *w, struct conn *c)
{
    if (c->closing) return;
    if (c->dirty) { /* rare: a connection closing with answers pending */
        struct conn **d = &w->dirty;
        while (*d != c)
            d = &(*d)->dirty_next;
        *d = c->dirty_next;
        c->dirty = false;
    }
    c->closing = true;
    if (c->stream) unsubscribe(c);
    close(c->fd);
    free(c->in);
    free(c->out);
    c->in = c->out = NULL;
    c->in_len = c->out_len = 0;
    if (w->in_round || w->nslots) { /* a slot or the round may still point at it */
        c->dirty_next = w->dead;
        w->dead = c;
    } else {
        free(c);
    }
}

static const char sse_head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                               "Cache-Control: no-cache\r\nConnection: keep-alive\r\n\r\n";

/* Handles the complete requests in p[0..len); returns the bytes used, or -1 when c must close. */
static long requests(struct worker *w, struct conn *c, char *p, size_t len)
{
    size_t off = 0;
    while (!c->stream) {
        char *head_end = memmem(p + off, len - off, "\r\n\r\n", 4);
        if (!head_end) break;
        char *req = p + off;
        size_t head_len = (size_t)(head_end - req) + 4;
        size_t body_len = 0;
        char *cl = memmem(req, head_len, "Content-Length:", 15);
        if (!cl) cl = memmem(req, head_len, "content-length:", 15);
        if (cl) body_len = strtoul(cl + 15, NULL, 10);
        if (len - off < head_len + body_len) break;
        char *line_end = memchr(req, '\r', head_len);
        if (!strncmp(req, "POST ", 5)) {
            char *body = req + head_len;
            size_t tl = 0, dl = 0;
            char *topic = form_get(body, body_len, "topic", &tl);
            char *data = form_get(body, body_len, "data", &dl);
            char id[32] = "", resp[128];
            if (topic) publish(topic, tl, data ? data : "", data ? dl : 0, id);
            size_t idl = strlen(id);
            int n = snprintf(resp, sizeof(resp),
                             "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                             "%zu\r\n\r\n%s",
                             idl, id);
            queue_out(c, resp, (size_t)n);
            mark_dirty(w, c);
        } else if (!strncmp(req, "GET /healthz", 12)) {
            static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
            queue_out(c, ok, sizeof(ok) - 1);
            mark_dirty(w, c);
        } else if (!strncmp(req, "GET ", 4)) {
            char *q = memmem(req, (size_t)(line_end - req), "topic=", 6);
            if (!q) return -1;
            char *end = q + 6;
            while (end < line_end && *end != ' ' && *end != '&')
                end++;
            size_t tl = decode(q + 6, (size_t)(end - q - 6));
            subscribe(w, c, q + 6, tl);
            queue_out(c, sse_head, sizeof(sse_head) - 1);
            mark_dirty(w, c);
        } else {
            return -1;
        }
        off += head_len + body_len;
    }
    return (long)off;
}

static void readable(struct worker *w, struct conn *c)
{
    for (;;) {
        ssize_t n = read(c->fd, w->rbuf, RBUF);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0 || (n < 0 && errno != EAGAIN)) {
            close_conn(w, c);
            return;
        }
        if (n < 0) return;
        if (c->stream) continue; /* a stream only sends: what it sends is dropped */
        char *p = w->rbuf;
        size_t len = (size_t)n;
        if (c->in_len) { /* the rest of an earlier read comes first */
            if (c->in_len + len > MAX_IN) {
                close_conn(w, c);
                return;
            }
            char *in = realloc(c->in, c->in_len + len);
            if (!in) abort();
            memcpy(in + c->in_len, p, len);
            c->in = in;
            c->in_len += len;
            p = c->in;
            len = c->in_len;
        }
        long used = requests(w, c, p, len);
        if (used < 0) {
            close_conn(w, c);
            return;
        }
        size_t rest = c->stream ? 0 : len - (size_t)used;
        if (p == c->in) {
            memmove(c->in, c->in + used, rest);
            c->in_len = rest;
            if (!rest) {
                free(c->in);
                c->in = NULL;
            }
        } else if (rest) {
            c->in = malloc(rest);
            if (!c->in) abort();
            memcpy(c->in, p + used, rest);
            c->in_len = rest;
        }
        if ((size_t)n < RBUF) return; /* the socket is drained (edge-triggered) */
    }
}

static char listener, wake;

static void handle(struct worker *w, const struct epoll_event *evs, int n)
{
    for (int i = 0; i < n; i++) {
        if (evs[i].data.ptr == &listener) {
            for (int k = 0; k < 256; k++) {
                int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) break;
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                struct conn *c = calloc(1, sizeof(*c));
                if (!c) abort();
                c->fd = fd;
                struct epoll_event ce = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                         .data.ptr = c};
                epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ce);
            }
        } else if (evs[i].data.ptr == &wake) {
            uint64_t v;
            ssize_t r = read(w->efd, &v, 8);
            (void)r;
        } else {
            struct conn *c = evs[i].data.ptr;
            if (c->closing) continue;
            if (evs[i].events & EPOLLOUT && c->writable_wait) {
                c->writable_wait = false;
                mark_dirty(w, c);
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) readable(w, c);
        }
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event evs[256];
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = &listener};
    epoll_ctl(w->ep, EPOLL_CTL_ADD, w->lfd, &e);
    e = (struct epoll_event){.events = EPOLLIN, .data.ptr = &wake};
    epoll_ctl(w->ep, EPOLL_CTL_ADD, w->efd, &e);
    for (;;) {
        /* Sleep only when nothing is in the inbox; a publisher seeing "sleeping" wakes us. */
        atomic_store(&w->sleeping, 1); /* seq_cst, then the lock: the inbox is read after it */
        pthread_mutex_lock(&w->lock);
        int timeout = w->ninbox ? 0 : -1;
        pthread_mutex_unlock(&w->lock);
        if (!timeout) atomic_store(&w->sleeping, 0);
        int n = epoll_wait(w->ep, evs, 256, timeout);
        atomic_store(&w->sleeping, 0);
        if (n > 0) handle(w, evs, n);
        flush_answers(w); /* answers first: publishers never wait behind a fan-out */
        fan_out(w);
        flush_answers(w);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int port = 18083;
    nworkers = (int)sysconf(_SC_NPROCESSORS_ONLN);
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--workers")) nworkers = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--slice")) slice = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--uring")) use_uring = atoi(argv[i + 1]);
    }
    if (nworkers < 1 || nworkers > MAX_WORKERS) nworkers = 1;
    if (slice < 0 || slice > BATCH) slice = SLICE_DEFAULT;
    for (int i = 0; i < nworkers; i++) {
        struct worker *w = &workers[i];
        w->id = i;
        w->slice = slice;
        pthread_mutex_init(&w->lock, NULL);
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        w->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(w->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        setsockopt(w->lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (bind(w->lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(w->lfd, 4096)) {
            perror("bound: listen");
            return 1;
        }
#ifdef BOUND_URING
        w->uring = use_uring && io_uring_queue_init(BATCH, &w->ring, 0) == 0;
#endif
    }
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < nworkers; i++)
        pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
#ifdef BOUND_URING
    const char *how = workers[0].uring ? "io_uring" : "sendmsg";
#else
    const char *how = "sendmsg";
#endif
    fprintf(stderr, "bound: listening on 127.0.0.1:%d, %d workers, sends through %s, slice %d\n",
            port, nworkers, how, slice);
    pthread_join(workers[0].thread, NULL);
    return 0;
}
