/* bound: the leanest SSE fan-out server we can write for this machine, the upper bound the
 * benchmark reports every server against (bench/run.sh target "bound").
 *
 * It speaks just enough of the Node peer's API for bench/loadgen --target node:
 *   GET  /.well-known/mercure?topic=T        -> 200 text/event-stream, then events of topic T
 *   POST /.well-known/mercure  topic=T&data=D -> 200 with the event id (keep-alive, pipelined)
 *   GET  /healthz                             -> 200
 * and nothing else: one exact topic per subscriber, no history, no auth, no limits, no
 * heartbeats. Each published event is encoded once and handed to every worker; a worker writes
 * each of its subscribers one gathered write per round (all events of the round), keeping only
 * what the socket did not take. One epoll worker thread per core with its own SO_REUSEPORT
 * listener, as ssebroker does.
 *
 * usage: bound [--port N] [--workers N]      (defaults 18083, online CPUs) */
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

#define MAX_WORKERS 64
#define BUCKETS     4096
#define RBUF        65536
#define IOV_MAX_N   64
#define FLUSH_SLICE 4 /* writes between two looks at the input during a flush */

struct event {
    _Atomic int refs;
    uint32_t hash;
    size_t topic_len, len;
    char *topic, *bytes; /* inside the allocation */
};

struct conn {
    int fd;
    bool stream;
    uint32_t hash; /* stream: its topic's */
    char *topic;
    size_t topic_len;
    char *in; /* request bytes not yet handled */
    size_t in_len;
    char *out; /* bytes the socket did not take */
    size_t out_len;
    struct conn *bucket_next; /* stream: same bucket of the worker's topic table */
    struct event **round;     /* this round's events, IOV_MAX_N slots once the first comes */
    int nround;
    struct conn *dirty_next;
    bool dirty;
};

struct worker {
    int id, lfd, ep, efd;
    pthread_t thread;
    struct conn *buckets[BUCKETS];
    pthread_mutex_t lock; /* the inbox, filled by every worker's publishers */
    struct event **inbox;
    size_t ninbox, capinbox;
    struct conn *dirty;
};

static struct worker workers[MAX_WORKERS];
static int nworkers;
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

static void queue_out(struct conn *c, const char *p, size_t n)
{
    char *o = realloc(c->out, c->out_len + n);
    if (!o) return;
    memcpy(o + c->out_len, p, n);
    c->out = o;
    c->out_len += n;
}

static void mark_dirty(struct worker *w, struct conn *c)
{
    if (c->dirty) return;
    c->dirty = true;
    c->dirty_next = w->dirty;
    w->dirty = c;
}

/* One gathered write: what the socket refused earlier, then this round's events. */
static void flush(struct conn *c)
{
    struct iovec iov[IOV_MAX_N + 1];
    int n = 0;
    size_t total = 0;
    if (c->out_len) iov[n++] = (struct iovec){c->out, c->out_len}, total += c->out_len;
    for (int i = 0; i < c->nround; i++)
        iov[n++] = (struct iovec){c->round[i]->bytes, c->round[i]->len}, total += c->round[i]->len;
    ssize_t w = n ? writev(c->fd, iov, n) : 0;
    size_t done = w > 0 ? (size_t)w : 0;
    /* Keep the tail the socket did not take, in order. */
    char *rest = NULL;
    size_t rest_len = total - done;
    if (rest_len) {
        rest = malloc(rest_len);
        size_t o = 0, skip = done;
        for (int i = 0; rest && i < n; i++) {
            size_t l = iov[i].iov_len;
            if (skip >= l) {
                skip -= l;
                continue;
            }
            memcpy(rest + o, (char *)iov[i].iov_base + skip, l - skip);
            o += l - skip;
            skip = 0;
        }
    }
    free(c->out);
    c->out = rest;
    c->out_len = rest ? rest_len : 0;
    for (int i = 0; i < c->nround; i++)
        unref(c->round[i]);
    c->nround = 0;
}

static void publish(const char *topic, size_t tlen, const char *data, size_t dlen, char *id_out)
{
    uint64_t id = atomic_fetch_add(&next_id, 1) + 1;
    int idn = snprintf(id_out, 32, "%llu", (unsigned long long)id);
    size_t len = 4 + (size_t)idn + 7 + dlen + 2;
    struct event *ev = malloc(sizeof(*ev) + tlen + len + 1);
    if (!ev) return;
    ev->topic = (char *)(ev + 1);
    memcpy(ev->topic, topic, tlen);
    ev->topic_len = tlen;
    ev->hash = fnv(topic, tlen);
    ev->bytes = ev->topic + tlen;
    ev->len = (size_t)sprintf(ev->bytes, "id: %s\ndata: %.*s\n\n", id_out, (int)dlen, data);
    atomic_init(&ev->refs, nworkers);
    for (int i = 0; i < nworkers; i++) {
        struct worker *w = &workers[i];
        pthread_mutex_lock(&w->lock);
        if (w->ninbox == w->capinbox) {
            w->capinbox = w->capinbox ? w->capinbox * 2 : 1024;
            w->inbox = realloc(w->inbox, w->capinbox * sizeof(*w->inbox));
        }
        bool wake = w->ninbox == 0;
        w->inbox[w->ninbox++] = ev;
        pthread_mutex_unlock(&w->lock);
        if (wake) {
            uint64_t one = 1;
            ssize_t r = write(w->efd, &one, 8);
            (void)r;
        }
    }
}

static void handle(struct worker *w, const struct epoll_event *evs, int n);

/* What arrived since the last wait, handled without waiting. */
static void serve_input(struct worker *w)
{
    struct epoll_event evs[256];
    int n = epoll_wait(w->ep, evs, 256, 0);
    if (n > 0) handle(w, evs, n);
}

/* Writes every dirty connection, reading the input every FLUSH_SLICE writes: publishers are
 * answered within a slice rather than after the whole round, and what they publish meanwhile
 * goes out in the next round's gathered writes. */
static void flush_dirty(struct worker *w)
{
    int since_input = 0;
    while (w->dirty) {
        if (since_input == FLUSH_SLICE) {
            serve_input(w);
            since_input = 0;
            continue;
        }
        struct conn *c = w->dirty;
        w->dirty = c->dirty_next;
        c->dirty = false;
        flush(c);
        since_input++;
    }
}

static void fan_out(struct worker *w)
{
    pthread_mutex_lock(&w->lock);
    struct event **evs = w->inbox;
    size_t n = w->ninbox;
    w->inbox = NULL;
    w->ninbox = w->capinbox = 0;
    pthread_mutex_unlock(&w->lock);
    for (size_t i = 0; i < n; i++) {
        struct event *ev = evs[i];
        for (struct conn *c = w->buckets[ev->hash % BUCKETS]; c; c = c->bucket_next) {
            if (c->hash != ev->hash || c->topic_len != ev->topic_len ||
                memcmp(c->topic, ev->topic, ev->topic_len))
                continue;
            if (!c->round && !(c->round = malloc(IOV_MAX_N * sizeof(*c->round)))) continue;
            if (c->nround == IOV_MAX_N) flush(c);
            atomic_fetch_add(&ev->refs, 1);
            c->round[c->nround++] = ev;
            mark_dirty(w, c);
        }
        unref(ev); /* the worker's own reference */
    }
    free(evs);
    flush_dirty(w);
}

static void close_conn(struct worker *w, struct conn *c)
{
    if (c->dirty) { /* rare: a connection closing with output pending */
        struct conn **d = &w->dirty;
        while (*d != c)
            d = &(*d)->dirty_next;
        *d = c->dirty_next;
    }
    if (c->stream) {
        struct conn **p = &w->buckets[c->hash % BUCKETS];
        while (*p && *p != c)
            p = &(*p)->bucket_next;
        if (*p) *p = c->bucket_next;
    }
    for (int i = 0; i < c->nround; i++)
        unref(c->round[i]);
    close(c->fd);
    free(c->round);
    free(c->topic);
    free(c->in);
    free(c->out);
    free(c);
}

static const char sse_head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                               "Cache-Control: no-cache\r\nConnection: keep-alive\r\n\r\n";

/* Handles the complete requests in c->in; returns false when c must close. */
static bool requests(struct worker *w, struct conn *c)
{
    size_t off = 0;
    while (!c->stream) {
        char *head_end = memmem(c->in + off, c->in_len - off, "\r\n\r\n", 4);
        if (!head_end) break;
        char *req = c->in + off;
        size_t head_len = (size_t)(head_end - req) + 4;
        size_t body_len = 0;
        char *cl = memmem(req, head_len, "Content-Length:", 15);
        if (!cl) cl = memmem(req, head_len, "content-length:", 15);
        if (cl) body_len = strtoul(cl + 15, NULL, 10);
        if (c->in_len - off < head_len + body_len) break;
        char *line_end = memchr(req, '\r', head_len);
        if (!strncmp(req, "POST ", 5)) {
            char *body = req + head_len;
            size_t tl = 0, dl = 0;
            char *topic = form_get(body, body_len, "topic", &tl);
            char *data = form_get(body, body_len, "data", &dl);
            char id[32], resp[128];
            if (topic) publish(topic, tl, data ? data : "", data ? dl : 0, id);
            int n = snprintf(resp, sizeof(resp),
                             "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                             "%zu\r\n\r\n%s",
                             topic ? strlen(id) : 0, topic ? id : "");
            queue_out(c, resp, (size_t)n);
            mark_dirty(w, c);
        } else if (!strncmp(req, "GET /healthz", 12)) {
            static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
            queue_out(c, ok, sizeof(ok) - 1);
            mark_dirty(w, c);
        } else if (!strncmp(req, "GET ", 4)) {
            char *q = memmem(req, (size_t)(line_end - req), "topic=", 6);
            if (!q) return false;
            char *end = q + 6;
            while (end < line_end && *end != ' ' && *end != '&')
                end++;
            c->topic_len = (size_t)(end - q - 6);
            c->topic = malloc(c->topic_len + 1);
            memcpy(c->topic, q + 6, c->topic_len);
            c->topic_len = decode(c->topic, c->topic_len);
            c->hash = fnv(c->topic, c->topic_len);
            c->stream = true;
            c->bucket_next = w->buckets[c->hash % BUCKETS];
            w->buckets[c->hash % BUCKETS] = c;
            queue_out(c, sse_head, sizeof(sse_head) - 1);
            mark_dirty(w, c);
        } else {
            return false;
        }
        off += head_len + body_len;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return true;
}

static void readable(struct worker *w, struct conn *c)
{
    for (;;) {
        if (c->stream) { /* a stream only sends: what it sends is drained and dropped */
            char sink[512];
            ssize_t n = read(c->fd, sink, sizeof(sink));
            if (n > 0) continue;
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) close_conn(w, c);
            return;
        }
        if (c->in_len + 4096 > RBUF * 4) {
            close_conn(w, c);
            return;
        }
        char *in = realloc(c->in, c->in_len + RBUF);
        if (!in) return;
        c->in = in;
        ssize_t n = read(c->fd, c->in + c->in_len, RBUF);
        if (n > 0) {
            c->in_len += (size_t)n;
            if (!requests(w, c)) {
                close_conn(w, c);
                return;
            }
            if (c->stream) { /* it just became one: no more request bytes to keep */
                free(c->in);
                c->in = NULL;
                c->in_len = 0;
            }
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) close_conn(w, c);
        return;
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
                c->fd = fd;
                struct epoll_event ce = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
                epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ce);
            }
        } else if (evs[i].data.ptr == &wake) {
            uint64_t v;
            ssize_t r = read(w->efd, &v, 8);
            (void)r;
        } else {
            struct conn *c = evs[i].data.ptr;
            if (evs[i].events & EPOLLOUT && c->out_len) mark_dirty(w, c);
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) readable(w, c);
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
        /* A wake-up read during a flush may have been for events still in the inbox. */
        pthread_mutex_lock(&w->lock);
        int timeout = w->ninbox ? 0 : -1;
        pthread_mutex_unlock(&w->lock);
        int n = epoll_wait(w->ep, evs, 256, timeout);
        handle(w, evs, n);
        flush_dirty(w); /* answers first: publishers never wait behind a fan-out */
        fan_out(w);
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
    }
    if (nworkers < 1 || nworkers > MAX_WORKERS) nworkers = 1;
    for (int i = 0; i < nworkers; i++) {
        struct worker *w = &workers[i];
        w->id = i;
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
    }
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < nworkers; i++)
        pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
    fprintf(stderr, "bound: listening on 127.0.0.1:%d, %d workers\n", port, nworkers);
    pthread_join(workers[0].thread, NULL);
    return 0;
}
