/* The client side of Redis Sentinel (store/redis_sentinel.h). */
#include "store/redis_sentinel.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "common/log.h"
#include "store/redis_conn.h"
#include "store/redis_internal.h"

#define SENTINEL_DEFAULT_PORT 26379
#define WATCH_POLL_MS         200 /* how often the watcher looks at `stopping` */

int redis_sentinels_parse(const char *list, struct redis_sentinels *out, char *err, size_t errlen)
{
    *out = (struct redis_sentinels){0};
    const char *p = list;
    for (;;) {
        const char *end = p + strcspn(p, ",");
        const char *host = p, *host_end, *rest;
        if (*p == '[') { /* [::1]:26379 */
            host = p + 1;
            host_end = memchr(host, ']', (size_t)(end - host));
            if (!host_end) {
                snprintf(err, errlen, "--redis-sentinel: unterminated [ in %s", list);
                return -1;
            }
            rest = host_end + 1;
        } else {
            host_end = memchr(p, ':', (size_t)(end - p));
            if (!host_end) host_end = end;
            rest = host_end;
        }
        size_t hlen = (size_t)(host_end - host);
        if (out->n == REDIS_SENTINELS_MAX) {
            snprintf(err, errlen, "--redis-sentinel: at most %d sentinels", REDIS_SENTINELS_MAX);
            return -1;
        }
        if (hlen == 0 || hlen >= sizeof(out->addr[0].host)) {
            snprintf(err, errlen,
                     "--redis-sentinel: expected HOST:PORT[,HOST:PORT...], got \"%s\" (a missing "
                     "or too long host)",
                     list);
            return -1;
        }
        long port = SENTINEL_DEFAULT_PORT;
        if (rest < end) {
            char *e;
            port = *rest == ':' ? strtol(rest + 1, &e, 10) : 0;
            if (*rest != ':' || e != end || rest + 1 == end || port < 1 || port > 65535) {
                snprintf(err, errlen, "--redis-sentinel: bad port in \"%.*s\"", (int)(end - p), p);
                return -1;
            }
        }
        memcpy(out->addr[out->n].host, host, hlen);
        out->addr[out->n].host[hlen] = 0;
        out->addr[out->n].port = (int)port;
        out->n++;
        if (!*end) return 0;
        p = end + 1;
    }
}

static struct timeval tv_of(uint32_t ms)
{
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

/* A connection to sentinel i, or NULL with the reason in err. */
static redisContext *sentinel_connect(const struct redis_sentinels *s, int i, uint32_t timeout_ms,
                                      char *err, size_t errlen)
{
    redisContext *c = redisConnectWithTimeout(s->addr[i].host, s->addr[i].port, tv_of(timeout_ms));
    if (!c || c->err || redis_set_timeout(c, timeout_ms)) {
        snprintf(err, errlen, "sentinel %s:%d: %s", s->addr[i].host, s->addr[i].port,
                 c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        return NULL;
    }
    return c;
}

/* Asks one connected sentinel. Returns true with host and port. */
static bool ask_master(redisContext *c, const char *where_host, int where_port, const char *master,
                       char host[256], int *port, char *err, size_t errlen)
{
    redisReply *rep = redisCommand(c, "SENTINEL get-master-addr-by-name %s", master);
    bool ok = false;
    if (!rep) {
        snprintf(err, errlen, "sentinel %s:%d: %s", where_host, where_port, c->errstr);
    } else if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
               rep->element[0]->type == REDIS_REPLY_STRING &&
               rep->element[1]->type == REDIS_REPLY_STRING && rep->element[0]->len < 256) {
        long p = strtol(rep->element[1]->str, NULL, 10);
        if (p > 0 && p < 65536) {
            memcpy(host, rep->element[0]->str, rep->element[0]->len + 1);
            *port = (int)p;
            ok = true;
        } else {
            snprintf(err, errlen, "sentinel %s:%d: bad port for %s", where_host, where_port,
                     master);
        }
    } else if (rep->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "sentinel %s:%d: %s", where_host, where_port, rep->str);
    } else {
        snprintf(err, errlen, "sentinel %s:%d does not know a master named %s", where_host,
                 where_port, master);
    }
    if (rep) freeReplyObject(rep);
    return ok;
}

enum redis_connect_status redis_sentinel_resolve(const struct redis_sentinels *s,
                                                 const char *master, uint32_t timeout_ms, int *next,
                                                 char host[256], int *port, char *err,
                                                 size_t errlen)
{
    snprintf(err, errlen, "no sentinel configured");
    for (int k = 0; k < s->n; k++) {
        int i = ((*next < 0 ? 0 : *next) + k) % s->n;
        redisContext *c = sentinel_connect(s, i, timeout_ms, err, errlen);
        if (!c) continue;
        bool ok = ask_master(c, s->addr[i].host, s->addr[i].port, master, host, port, err, errlen);
        redisFree(c);
        if (ok) {
            *next = i;
            return RCONN_OK;
        }
    }
    return RCONN_UNREACHABLE;
}

/* ROLE's first element: "master", "slave" or "sentinel". */
static enum redis_connect_status check_role(redisContext *c, const struct redis_target *at,
                                            char *err, size_t errlen)
{
    redisReply *rep = redisCommand(c, "ROLE");
    if (!rep) {
        snprintf(err, errlen, "ROLE: %s", c->errstr);
        return RCONN_UNREACHABLE;
    }
    enum redis_connect_status st = RCONN_OK;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
        rep->element[0]->type != REDIS_REPLY_STRING) {
        snprintf(err, errlen, "ROLE: %s",
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        st = RCONN_UNREACHABLE;
    } else if (strcmp(rep->element[0]->str, "master") != 0) {
        snprintf(err, errlen, "%s:%d is a %s, not the master (a failover under way?)", at->host,
                 at->port, rep->element[0]->str);
        st = RCONN_UNREACHABLE;
    }
    freeReplyObject(rep);
    return st;
}

enum redis_connect_status redis_connect_master(const struct redis_options *o, int *next,
                                               redisContext **out, struct redis_target *at,
                                               char *err, size_t errlen, char *warn, size_t warnlen)
{
    *out = NULL;
    *at = o->target;
    if (o->sentinels.n) {
        enum redis_connect_status st = redis_sentinel_resolve(
            &o->sentinels, o->master, o->timeout_ms, next, at->host, &at->port, err, errlen);
        if (st != RCONN_OK) return st;
    }
    redisContext *c;
    enum redis_connect_status st = redis_connect(at, o->timeout_ms, &c, err, errlen, warn, warnlen);
    if (st != RCONN_OK) return st;
    st = check_role(c, at, err, errlen);
    if (st != RCONN_OK) {
        redisFree(c);
        return st;
    }
    *out = c;
    return RCONN_OK;
}

/* The watcher: one subscriber connection to a sentinel. */
struct watch {
    struct redis *r;
    redisContext *c;
    int next;       /* the sentinel to try first */
    char host[256]; /* the master as last named by a sentinel ("": not known yet) */
    int port;
    bool said_down;
};

/* A sentinel named the master. When it moved (from what this watcher last heard, or from where
 * the writer is connected), the writer and the bridge drop their connections and resolve again,
 * and any backoff they are in ends now. */
static void master_named(struct watch *w, const char *host, int port, const char *how)
{
    struct redis *r = w->r;
    bool moved = w->host[0] && (strcmp(w->host, host) != 0 || w->port != port);
    snprintf(w->host, sizeof(w->host), "%s", host);
    w->port = port;
    pthread_mutex_lock(&r->lock);
    bool stale = r->master_host[0] && (strcmp(r->master_host, host) != 0 || r->master_port != port);
    if (moved || stale) atomic_fetch_add(&r->master_epoch, 1);
    pthread_mutex_unlock(&r->lock);
    if (!moved && !stale) return;
    log_warn("redis master changed: the writer and the bridge reconnect",
             "master=%s to=%s:%d via=%s", r->opt.master, host, port, how);
    pthread_cond_broadcast(&r->pause);
    pthread_cond_broadcast(&r->wake);
}

/* Connects to a sentinel, notes where it says the master is, and subscribes. */
static bool watch_connect(struct watch *w)
{
    const struct redis_options *o = &w->r->opt;
    char err[256] = "";
    for (int k = 0; k < o->sentinels.n; k++) {
        int i = (w->next + k) % o->sentinels.n;
        redisContext *c = sentinel_connect(&o->sentinels, i, o->timeout_ms, err, sizeof(err));
        if (!c) continue;
        char host[256];
        int port;
        redisReply *rep = NULL;
        if (ask_master(c, o->sentinels.addr[i].host, o->sentinels.addr[i].port, o->master, host,
                       &port, err, sizeof(err)) &&
            (rep = redisCommand(c, "SUBSCRIBE +switch-master")) != NULL &&
            rep->type == REDIS_REPLY_ARRAY) {
            freeReplyObject(rep);
            master_named(w, host, port, "sentinel");
            w->c = c;
            w->next = i;
            if (w->said_down)
                log_info("redis sentinel watcher connected", "sentinel=%s:%d",
                         o->sentinels.addr[i].host, o->sentinels.addr[i].port);
            w->said_down = false;
            return true;
        }
        if (rep) freeReplyObject(rep);
        redisFree(c);
    }
    if (!w->said_down)
        log_warn("no redis sentinel answers; failovers are followed on reconnection only",
                 "reason=\"%s\"", err);
    w->said_down = true;
    return false;
}

/* A "+switch-master" message: "<name> <old-ip> <old-port> <new-ip> <new-port>". */
static void on_message(struct watch *w, const redisReply *m)
{
    if (m->type != REDIS_REPLY_ARRAY || m->elements != 3 ||
        m->element[0]->type != REDIS_REPLY_STRING || strcmp(m->element[0]->str, "message") ||
        m->element[2]->type != REDIS_REPLY_STRING)
        return;
    char name[256], oldh[256], newh[256];
    int oldp, newp;
    if (sscanf(m->element[2]->str, "%255s %255s %d %255s %d", name, oldh, &oldp, newh, &newp) != 5)
        return;
    if (strcmp(name, w->r->opt.master) != 0) return;
    master_named(w, newh, newp, "+switch-master");
}

void *redis_sentinel_watch_main(void *arg)
{
    struct watch w = {.r = arg};
    pthread_setname_np(pthread_self(), "sseb-sentinel");
    uint32_t backoff = REDIS_BACKOFF_MIN_MS;
    while (!atomic_load(&w.r->stopping)) {
        if (!w.c) {
            if (!watch_connect(&w)) {
                redis_pause(w.r, backoff);
                backoff = backoff * 2 > REDIS_BACKOFF_MAX_MS ? REDIS_BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            backoff = REDIS_BACKOFF_MIN_MS;
        }
        /* Wait for a message without a read timeout (which would spoil the connection). */
        struct pollfd p = {.fd = w.c->fd, .events = POLLIN};
        int n = poll(&p, 1, WATCH_POLL_MS);
        if (n < 0 && errno != EINTR) break;
        if (n <= 0) continue;
        bool broken = redisBufferRead(w.c) != REDIS_OK;
        void *reply = NULL;
        while (!broken && redisGetReplyFromReader(w.c, &reply) == REDIS_OK && reply) {
            on_message(&w, reply);
            freeReplyObject(reply);
            reply = NULL;
        }
        if (broken || w.c->err) {
            log_warn("redis sentinel watcher lost its sentinel", "reason=\"%s\"",
                     w.c->err ? w.c->errstr : "read failed");
            redisFree(w.c);
            w.c = NULL;
            w.said_down = true;
            w.next = (w.next + 1) % w.r->opt.sentinels.n;
        }
    }
    if (w.c) redisFree(w.c);
    return NULL;
}
