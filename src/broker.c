/* The embeddable broker (include/ssebroker/broker.h): builds the layers bottom up (history and
 * bus, the hub and its order authority, the keys, the Mercure context, the workers with their
 * listeners), wires the protocol's handler table into the server, and runs the lifecycle. */
#include "ssebroker/broker.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "common/rand.h"
#include "core/authority.h"
#include "core/completion.h"
#include "core/bus.h"
#include "core/event.h"
#include "core/history.h"
#include "core/hub.h"
#include "mercure/context.h"
#include "mercure/mercure.h"
#include "mercure/resource_metadata.h"
#include "mercure/subscriptions.h"
#include "common/clock.h"
#include "common/log.h"
#include "net/listener.h"
#include "store/log.h"
#include "store/redis.h"
#include "store/redis_sentinel.h"
#include "server/server.h"
#include "server/worker.h"

struct sseb_broker {
    struct sseb_config cfg;
    struct history *history;
    struct bus *bus;
    struct hub hub;
    struct authority *authority;
    struct auth_verifier *pub_auth, *sub_auth;
    struct subscriptions *subscriptions;
    struct resource_metadata *metadata; /* NULL: none published */
    struct server srv;
    struct mercure mercure;
    pthread_t *threads;
    bool started;
};

/* The embedder's wait for its one ticket: done marks it by clearing its queue pointer. */
static void ticket_done(struct authority_ticket *t)
{
    t->queue = NULL;
}

static bool ticket_is_done(const struct authority_ticket *t)
{
    return t->queue == NULL;
}

enum sseb_publish_status sseb_broker_publish(struct sseb_broker *b, const struct sseb_update *u,
                                             char *id_out, size_t id_cap)
{
    if (u->ntopics == 0 || u->ntopics > b->cfg.max_topics) return SSEB_INVALID;
    char generated[RAND_EVENT_ID_MAX + 1];
    struct sseb_update copy = *u;
    if (!copy.id.len) {
        copy.id.len = rand_event_id(b->cfg.event_ids == SSEB_EVENT_IDS_UUID, generated);
        copy.id.p = generated;
    }
    struct event *ev = event_new(&copy);
    if (!ev) return SSEB_NOMEM;
    if (id_out && id_cap) snprintf(id_out, id_cap, "%.*s", (int)copy.id.len, copy.id.p);
    /* Not a worker: this thread may wait, for room (--publish-wait at most) and for the store. */
    struct completion_queue q;
    if (completion_queue_init(&q)) {
        event_unref(ev);
        return SSEB_NOMEM;
    }
    struct authority_ticket ticket = {.done = ticket_done, .queue = &q};
    struct timespec pause = {0, 200000};
    int64_t deadline = clock_now_ms() + b->cfg.publish_wait_ms;
    enum authority_result res;
    while ((res = authority_submit(b->authority, ev, &ticket)) == AUTHORITY_FULL &&
           clock_now_ms() < deadline)
        nanosleep(&pause, NULL);
    if (res == AUTHORITY_PENDING) {
        struct pollfd p = {.fd = q.efd, .events = POLLIN};
        while (!ticket_is_done(&ticket)) {
            poll(&p, 1, 1000);
            completion_run(&q);
        }
        res = ticket.result;
    }
    completion_queue_free(&q);
    event_unref(ev);
    return res == AUTHORITY_STORED      ? SSEB_PUBLISHED
           : res == AUTHORITY_TOO_LARGE ? SSEB_INVALID
                                        : SSEB_BUSY;
}

/* The development key only when nothing is configured: never next to a JWKS. Subscribers
 * without keys of their own use the publishers' ones. */
static int load_keys(struct sseb_broker *b, char *err, size_t errlen)
{
    const struct sseb_config *cfg = &b->cfg;
    const char *pkey = cfg->publisher_key    ? cfg->publisher_key
                       : cfg->publisher_jwks ? NULL
                                             : SSEB_DEV_JWT_KEY;
    bool sub_own = cfg->subscriber_key || cfg->subscriber_jwks;
    const char *skey = sub_own ? cfg->subscriber_key : pkey;
    const char *sjwks = sub_own ? cfg->subscriber_jwks : cfg->publisher_jwks;
    char kerr[256];
    b->pub_auth =
        auth_verifier_new(pkey, cfg->publisher_alg, cfg->publisher_jwks, kerr, sizeof(kerr));
    if (!b->pub_auth) {
        snprintf(err, errlen, "publisher key: %s", kerr);
        return -1;
    }
    b->sub_auth = auth_verifier_new(skey, cfg->subscriber_alg, sjwks, kerr, sizeof(kerr));
    if (!b->sub_auth) {
        snprintf(err, errlen, "subscriber key: %s", kerr);
        return -1;
    }
    /* Both verifiers judge each token by its own dialect's rules, the enabled ones only. */
    unsigned accept = ((cfg->dialects & SSEB_DIALECT_07) ? AUTH_ACCEPT_07 : 0) |
                      ((cfg->dialects & SSEB_DIALECT_08) ? AUTH_ACCEPT_08 : 0);
    if (auth_verifier_set_dialects(b->pub_auth, accept, cfg->resource_identifier, cfg->jwt_issuers,
                                   kerr, sizeof(kerr)) ||
        auth_verifier_set_dialects(b->sub_auth, accept, cfg->resource_identifier, cfg->jwt_issuers,
                                   kerr, sizeof(kerr))) {
        snprintf(err, errlen, "tokens: %s", kerr);
        return -1;
    }
    if ((cfg->dialects & SSEB_DIALECT_08) && cfg->jwt_issuers && strchr(cfg->jwt_issuers, ','))
        log_info(
            "Mercure 1.0 issuers share the keys",
            "reason=\"every --jwt-issuer is checked with the same publisher and subscriber keys: "
            "each may sign as another\"%s",
            "");
    if ((cfg->dialects & SSEB_DIALECT_08) && (!cfg->resource_identifier || !cfg->jwt_issuers))
        log_info("Mercure 1.0 tokens refused",
                 "reason=\"set --resource-identifier and --jwt-issuer to accept them\"%s", "");
    return 0;
}

struct sseb_broker *sseb_broker_new(const struct sseb_config *cfg, char *err, size_t errlen)
{
    if (sseb_config_validate(cfg, err, errlen)) return NULL;
    struct sseb_broker *b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    b->cfg = *cfg;
    if (!b->cfg.max_connections) /* embedders that set no cap: the system's limits apply */
        b->cfg.max_connections = UINT32_MAX;
    int n = cfg->workers > 0 ? cfg->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    if (n > SSEB_MAX_WORKERS) n = SSEB_MAX_WORKERS;
    if (load_keys(b, err, errlen)) goto fail;

    /* With the embedded log, memory holds the newest part of history and the files the rest; in
     * cluster mode, memory the newest part and the Stream the rest. */
    uint32_t hot_events = cfg->history_size;
    size_t hot_bytes = cfg->history_bytes;
    if (cfg->history_dir || cfg->redis_url || cfg->redis_sentinel) {
        if (cfg->history_memory < hot_events) hot_events = cfg->history_memory;
        if (cfg->history_memory_bytes < hot_bytes) hot_bytes = cfg->history_memory_bytes;
    }
    b->history = history_new(hot_events, hot_bytes);
    b->bus = bus_new(cfg->bus_size, n);
    b->hub = (struct hub){.history = b->history, .bus = b->bus};
    if (!b->history || !b->bus) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (cfg->history_dir) {
        struct log_options lo = {.dir = cfg->history_dir,
                                 .fsync = cfg->fsync == SSEB_FSYNC_INTERVAL ? LOG_FSYNC_INTERVAL
                                          : cfg->fsync == SSEB_FSYNC_NEVER  ? LOG_FSYNC_NEVER
                                                                            : LOG_FSYNC_ALWAYS,
                                 .fsync_interval_ms = cfg->fsync_interval_ms,
                                 .segment_bytes = cfg->history_segment_bytes,
                                 .max_records = cfg->history_size,
                                 .max_bytes = cfg->history_bytes,
                                 .max_age_s = cfg->history_age_s};
        struct log_report rep;
        b->authority = authority_log_open(&b->hub, &lo, &rep, err, errlen);
        if (!b->authority) goto fail;
        log_info("history recovered",
                 "dir=\"%s\" records=%llu segments=%llu truncated_bytes=%llu "
                 "quarantined=%llu discontinuities=%llu fsync=%s",
                 cfg->history_dir, (unsigned long long)rep.records,
                 (unsigned long long)rep.segments, (unsigned long long)rep.truncated_bytes,
                 (unsigned long long)rep.quarantined, (unsigned long long)rep.discontinuities,
                 lo.fsync == LOG_FSYNC_ALWAYS     ? "always"
                 : lo.fsync == LOG_FSYNC_INTERVAL ? "interval"
                                                  : "never");
    } else if (cfg->redis_url || cfg->redis_sentinel) {
        struct redis_options ro = {.stream = cfg->redis_stream,
                                   .timeout_ms = cfg->redis_timeout_ms,
                                   .retain =
                                       cfg->redis_retain ? cfg->redis_retain : cfg->history_size,
                                   .max_lag_ms = cfg->redis_max_lag_ms,
                                   .master = cfg->redis_master,
                                   .wait_replicas = cfg->redis_wait_replicas};
        /* With sentinels, --redis gives only the credentials and the database. */
        if (cfg->redis_url && redis_target_parse(cfg->redis_url, &ro.target, err, errlen))
            goto fail;
        if (cfg->redis_sentinel &&
            redis_sentinels_parse(cfg->redis_sentinel, &ro.sentinels, err, errlen))
            goto fail;
        b->authority = authority_redis_open(&b->hub, &ro, err, errlen);
        if (!b->authority) goto fail;
        if (ro.sentinels.n)
            log_info("cluster mode",
                     "sentinels=%s master=%s db=%d stream=%s retain=%u "
                     "timeout_ms=%u wait_replicas=%u",
                     cfg->redis_sentinel, ro.master, ro.target.db, ro.stream, ro.retain,
                     ro.timeout_ms, ro.wait_replicas);
        else
            log_info("cluster mode",
                     "redis=%s:%d db=%d stream=%s retain=%u timeout_ms=%u wait_replicas=%u",
                     ro.target.host, ro.target.port, ro.target.db, ro.stream, ro.retain,
                     ro.timeout_ms, ro.wait_replicas);
    } else {
        b->authority = authority_memory_new(&b->hub);
    }
    b->threads = calloc((size_t)n, sizeof(*b->threads));
    b->srv.workers = calloc((size_t)n, sizeof(*b->srv.workers));
    if (cfg->subscriptions) b->subscriptions = subscriptions_new();
    if (!b->history || !b->bus || !b->authority || !b->threads || !b->srv.workers ||
        (cfg->subscriptions && !b->subscriptions)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    const char *why;
    b->metadata = resource_metadata_new(&b->cfg, &why);
    if (why) {
        snprintf(err, errlen, "%s", why);
        goto fail;
    }
    b->mercure = (struct mercure){.cfg = &b->cfg,
                                  .authority = b->authority,
                                  .history = b->history,
                                  .pub_auth = b->pub_auth,
                                  .sub_auth = b->sub_auth,
                                  .subscriptions = b->subscriptions,
                                  .metadata = b->metadata,
                                  .srv = &b->srv};
    if (b->subscriptions) subscriptions_attach(b->subscriptions, &b->mercure);
    b->srv.cfg = &b->cfg;
    b->srv.http_limits = (struct http_limits){.max_header_bytes = b->cfg.max_header_bytes,
                                              .max_headers = b->cfg.max_headers,
                                              .max_body_bytes = b->cfg.max_body_bytes};
    b->srv.bus = b->bus;
    b->srv.history = b->history;
    b->srv.handler = &mercure_handler;
    b->srv.handler_ctx = &b->mercure;
    b->srv.max_connections = b->cfg.max_connections;
    /* The kernel's SO_REUSEPORT hashing is not exactly even: no per-worker cap unless asked. */
    b->srv.per_worker_max =
        cfg->max_connections_per_worker ? cfg->max_connections_per_worker : b->cfg.max_connections;

    uint16_t port = cfg->listen_port;
    for (int i = 0; i < n; i++) {
        uint16_t bound;
        int fd = listener_open(cfg->listen_host, port, i == 0, err, errlen, &bound);
        if (fd < 0) goto fail;
        port = bound; /* with port 0 every worker shares the first one's ephemeral port */
        b->cfg.listen_port = bound;
        b->srv.workers[i] = worker_new(&b->srv, i, fd, cfg->io_uring);
        if (!b->srv.workers[i]) {
            close(fd);
            snprintf(err, errlen, "cannot create worker %d", i);
            goto fail;
        }
        b->srv.nworkers = i + 1;
    }
    return b;
fail:
    sseb_broker_free(b);
    return NULL;
}

bool sseb_broker_uses_io_uring(const struct sseb_broker *b)
{
    return worker_uses_io_uring(b->srv.workers[0]);
}

/* Named first thing, so that top -H and a test can tell the workers from the store's threads. */
static void *worker_thread(void *arg)
{
    struct worker *w = arg;
    char name[16];
    snprintf(name, sizeof(name), "sseb-worker-%u", (unsigned)w->id % 1000u);
    pthread_setname_np(pthread_self(), name);
    return worker_main(w);
}

int sseb_broker_start(struct sseb_broker *b)
{
    for (int i = 0; i < b->srv.nworkers; i++) {
        if (pthread_create(&b->threads[i], NULL, worker_thread, b->srv.workers[i])) {
            sseb_broker_drain(b);
            for (int j = 0; j < i; j++)
                pthread_join(b->threads[j], NULL);
            return -1;
        }
    }
    b->started = true;
    return 0;
}

void sseb_broker_drain(struct sseb_broker *b)
{
    atomic_store_explicit(&b->srv.draining, 1, memory_order_release);
    for (int i = 0; i < b->srv.nworkers; i++)
        bus_kick(b->bus, i);
}

void sseb_broker_wait(struct sseb_broker *b)
{
    if (!b->started) return;
    for (int i = 0; i < b->srv.nworkers; i++)
        pthread_join(b->threads[i], NULL);
    b->started = false;
}

void sseb_broker_free(struct sseb_broker *b)
{
    if (!b) return;
    /* The store first: its writer finishes and posts its last outcomes to the workers' queues,
     * which worker_free then runs (freeing what closed connections left in flight). */
    authority_free(b->authority);
    if (b->srv.workers) {
        for (int i = 0; i < b->srv.nworkers; i++) {
            if (b->srv.workers[i]->listen_fd >= 0) close(b->srv.workers[i]->listen_fd);
            worker_free(b->srv.workers[i]);
        }
    }
    free(b->srv.workers);
    free(b->threads);
    bus_free(b->bus);
    history_free(b->history);
    subscriptions_free(b->subscriptions);
    resource_metadata_free(b->metadata);
    auth_verifier_free(b->pub_auth);
    auth_verifier_free(b->sub_auth);
    free(b);
}
