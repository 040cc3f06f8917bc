/* Broker lifecycle: listeners, workers, keys, and the publish path shared by all publishers. */
#include "server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "bus.h"
#include "check.h"
#include "event.h"
#include "history.h"
#include "log.h"
#include "sender.h"
#include "subscriptions.h"
#include "worker.h"

/* ---- ids ---------------------------------------------------------------------------------- */

static _Thread_local uint64_t rng_state[2];

static uint64_t rng_next(void)
{
    if (!rng_state[0] && !rng_state[1]) {
        if (getrandom(rng_state, sizeof(rng_state), 0) != sizeof(rng_state)) {
            rng_state[0] = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&rng_state;
            rng_state[1] = 0x9e3779b97f4a7c15ULL;
        }
        rng_state[0] |= 1;
    }
    /* xorshift128+: ids need uniqueness, not secrecy. */
    uint64_t s1 = rng_state[0];
    const uint64_t s0 = rng_state[1];
    rng_state[0] = s0;
    s1 ^= s1 << 23;
    rng_state[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return rng_state[1] + s0;
}

void broker_new_id(char out[46])
{
    uint8_t b[16];
    uint64_t a = rng_next(), c = rng_next();
    memcpy(b, &a, 8);
    memcpy(b + 8, &c, 8);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    memcpy(o, "urn:uuid:", 9);
    o += 9;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 15];
    }
    *o = 0;
}

/* ---- publishing --------------------------------------------------------------------------- */

enum publish_result broker_publish_event(struct sseb_broker *b, struct event *ev,
                                         enum publish_wait wait, void (*make_room)(void *),
                                         void *arg)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        history_lock(b->history);
        if (bus_has_room(b->bus)) {
            /* Order is assigned here: history and bus see every update in the same order. */
            history_append(b->history, ev);
            bool ok = bus_publish(b->bus, ev);
            history_unlock(b->history);
            /* Room was checked under the lock and every publisher takes it: an update in history
             * but on no bus would be acknowledged and never delivered. */
            SSEB_BUG_ON(!ok);
            event_unref(ev);
            return PUBLISH_OK;
        }
        history_unlock(b->history);
        if (wait == PUBLISH_NO_WAIT) {
            event_unref(ev);
            return PUBLISH_BUSY;
        }
        if (make_room) make_room(arg);
        clock_gettime(CLOCK_MONOTONIC, &now);
        long waited_ms =
            (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (waited_ms >= (long)b->cfg.publish_wait_ms) {
            event_unref(ev);
            return PUBLISH_BUSY;
        }
        struct timespec pause = {0, 200000};
        nanosleep(&pause, NULL);
    }
}

enum sseb_publish_status sseb_broker_publish(struct sseb_broker *b, const struct sseb_update *u,
                                             char *id_out, size_t id_cap)
{
    if (u->ntopics == 0 || u->ntopics > b->cfg.max_topics) return SSEB_INVALID;
    char generated[46];
    struct sseb_update copy = *u;
    if (!copy.id.len) {
        broker_new_id(generated);
        copy.id.p = generated;
        copy.id.len = strlen(generated);
    }
    struct event *ev = event_new(&copy);
    if (!ev) return SSEB_NOMEM;
    if (id_out && id_cap) snprintf(id_out, id_cap, "%.*s", (int)copy.id.len, copy.id.p);
    return broker_publish_event(b, ev, PUBLISH_MAY_WAIT, NULL, NULL) == PUBLISH_OK ? SSEB_PUBLISHED
                                                                                   : SSEB_BUSY;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static int open_listener(const struct sseb_config *cfg, uint16_t port, char *err, size_t errlen,
                         uint16_t *bound_port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%u", port);
    struct addrinfo *res;
    const char *host = cfg->listen_host[0] ? cfg->listen_host : NULL;
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "cannot resolve listen address %s: %s", host ? host : "*",
                 gai_strerror(rc));
        return -1;
    }
    /* With no host, prefer the IPv6 wildcard in dual-stack mode, then IPv4. */
    int fd = -1;
    for (int pass = 0; pass < 2 && fd < 0; pass++) {
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
            if (!host && (pass == 0) != (ai->ai_family == AF_INET6)) continue;
            if (host && pass == 1) break;
            fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) continue;
            int one = 1, zero = 0;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
            if (ai->ai_family == AF_INET6)
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
            if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4096) == 0) break;
            snprintf(err, errlen, "cannot listen on %s:%u: %s", host ? host : "*", port,
                     strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) return -1;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
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
    b->started_at = (long long)time(NULL);
    int n = cfg->workers > 0 ? cfg->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    if (n > 256) n = 256;
    b->nworkers = n;
    /* The kernel's SO_REUSEPORT hashing is not exactly even: no per-worker cap unless asked. */
    b->per_worker_max =
        cfg->max_connections_per_worker ? cfg->max_connections_per_worker : b->cfg.max_connections;

    /* The development key only when nothing is configured: never next to a JWKS. Subscribers
     * without keys of their own use the publishers' ones. */
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
        goto fail;
    }
    b->sub_auth = auth_verifier_new(skey, cfg->subscriber_alg, sjwks, kerr, sizeof(kerr));
    if (!b->sub_auth) {
        snprintf(err, errlen, "subscriber key: %s", kerr);
        goto fail;
    }
    b->history = history_new(cfg->history_size, cfg->history_bytes);
    b->bus = bus_new(cfg->bus_size, n);
    b->workers = calloc((size_t)n, sizeof(*b->workers));
    b->threads = calloc((size_t)n, sizeof(*b->threads));
    if (cfg->subscriptions) b->subscriptions = subscriptions_new();
    if (!b->history || !b->bus || !b->workers || !b->threads ||
        (cfg->subscriptions && !b->subscriptions)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    uint16_t port = cfg->listen_port;
    for (int i = 0; i < n; i++) {
        uint16_t bound;
        int fd = open_listener(cfg, port, err, errlen, &bound);
        if (fd < 0) goto fail;
        port = bound; /* with port 0 every worker shares the first one's ephemeral port */
        b->cfg.listen_port = bound;
        b->workers[i] = worker_new(b, i, fd);
        if (!b->workers[i]) {
            close(fd);
            snprintf(err, errlen, "cannot create worker %d", i);
            goto fail;
        }
    }
    return b;
fail:
    sseb_broker_free(b);
    return NULL;
}

bool sseb_broker_uses_io_uring(const struct sseb_broker *b)
{
    return sender_uses_uring(b->workers[0]->sender);
}

int sseb_broker_start(struct sseb_broker *b)
{
    for (int i = 0; i < b->nworkers; i++) {
        if (pthread_create(&b->threads[i], NULL, worker_main, b->workers[i])) {
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
    atomic_store_explicit(&b->draining, 1, memory_order_release);
    for (int i = 0; i < b->nworkers; i++)
        bus_kick(b->bus, i);
}

void sseb_broker_wait(struct sseb_broker *b)
{
    if (!b->started) return;
    for (int i = 0; i < b->nworkers; i++)
        pthread_join(b->threads[i], NULL);
    b->started = false;
}

void sseb_broker_free(struct sseb_broker *b)
{
    if (!b) return;
    if (b->workers) {
        for (int i = 0; i < b->nworkers; i++) {
            if (!b->workers[i]) continue;
            if (b->workers[i]->listen_fd >= 0) close(b->workers[i]->listen_fd);
            worker_free(b->workers[i]);
        }
    }
    free(b->workers);
    free(b->threads);
    bus_free(b->bus);
    history_free(b->history);
    subscriptions_free(b->subscriptions);
    auth_verifier_free(b->pub_auth);
    auth_verifier_free(b->sub_auth);
    free(b);
}
