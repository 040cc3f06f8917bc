/* Command-line and environment configuration, table driven so --help documents every flag. */
#include "ssebroker/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "common/log.h"
#include "store/redis.h"
#include "store/redis_sentinel.h"

enum opt_type {
    OPT_LISTEN,
    OPT_INT,
    OPT_SIZE,
    OPT_DURATION,
    OPT_STRING,
    OPT_BOOL,
    OPT_LOGLEVEL,
    OPT_LOGFORMAT,
    OPT_BOTH_KEYS,
    OPT_BOTH_ALGS,
    OPT_FSYNC,
    OPT_AGE,
    OPT_DIALECTS,
    OPT_EVENT_IDS,
};

struct opt {
    const char *name; /* flag without the leading "--" */
    enum opt_type type;
    size_t offset;
    const char *help;
    /* OPT_INT, OPT_SIZE, OPT_DURATION: the values the code can honour (both 0: any). */
    unsigned long long min, max;
};

#define KIB 1024ULL
#define MIB (1024ULL * 1024)
#define GIB (1024ULL * 1024 * 1024)

#define F(field) offsetof(struct sseb_config, field)
static const struct opt options[] = {
    {"listen", OPT_LISTEN, 0, "address to listen on, HOST:PORT or :PORT (default :8080)", 0, 0},
    {"workers", OPT_INT, F(workers), "worker threads (default: online CPUs)", 0, SSEB_MAX_WORKERS},
    {"jwt-key", OPT_BOTH_KEYS, 0, "JWT key for publishers and subscribers (HMAC secret or PEM)", 0,
     0},
    {"jwt-alg", OPT_BOTH_ALGS, 0, "JWT algorithm allowlist for both (default HS256)", 0, 0},
    {"publisher-jwt-key", OPT_STRING, F(publisher_key), "publisher JWT key", 0, 0},
    {"publisher-jwt-alg", OPT_STRING, F(publisher_alg), "publisher JWT algorithms", 0, 0},
    {"publisher-jwks", OPT_STRING, F(publisher_jwks), "publisher JWKS file", 0, 0},
    {"subscriber-jwt-key", OPT_STRING, F(subscriber_key), "subscriber JWT key", 0, 0},
    {"subscriber-jwt-alg", OPT_STRING, F(subscriber_alg), "subscriber JWT algorithms", 0, 0},
    {"subscriber-jwks", OPT_STRING, F(subscriber_jwks), "subscriber JWKS file", 0, 0},
    {"require-subscriber-token", OPT_BOOL, F(require_subscriber_token),
     "refuse anonymous subscribers", 0, 0},
    {"cookie-name", OPT_STRING, F(cookie_name), "authorization cookie (mercureAuthorization)", 0,
     0},
    {"dialects", OPT_DIALECTS, 0,
     "Mercure protocol versions served: 07 (draft-07, hub 0.x), 08 (Mercure 1.0) or 07,08 "
     "(default: both)",
     0, 0},
    {"resource-identifier", OPT_STRING, F(resource_identifier),
     "Mercure 1.0: the hub's public URL, e.g. https://example.com/.well-known/mercure (the "
     "audience of 1.0 tokens, the base of relative URL patterns, the resource of the RFC 9728 "
     "metadata served at /.well-known/oauth-protected-resource<its path>; 1.0 tokens are refused "
     "without it)",
     0, 0},
    {"jwt-issuer", OPT_STRING, F(jwt_issuers),
     "Mercure 1.0: trusted token issuers (iss), comma separated, verified with the publisher and "
     "subscriber keys (1.0 tokens are refused without one)",
     0, 0},
    {"access-token-cookie", OPT_STRING, F(access_token_cookie),
     "Mercure 1.0 token cookie (__Secure-mercure_access_token)", 0, 0},
    {"cors-origin", OPT_STRING, F(cors_origins), "allowed CORS origins, comma separated, or *", 0,
     0},
    {"event-ids", OPT_EVENT_IDS, F(event_ids),
     "ids made for updates published without one: compact (default: '#' and 12 random base64url "
     "characters, a fragment as both Mercure dialects allow; 32 bytes less per event than uuid) "
     "or uuid (urn:uuid:<v4>, like the reference hub)",
     0, 0},
    {"subscriptions", OPT_BOOL, F(subscriptions), "enable the subscriptions API and events", 0, 0},
    {"io-uring", OPT_BOOL, F(io_uring),
     "batch socket writes with io_uring where available (on; off: one sendmsg each)", 0, 0},
    {"heartbeat", OPT_DURATION, F(heartbeat_ms), "comment sent on idle streams (15s, 0: off)", 0,
     0},
    {"stream-lifetime", OPT_DURATION, F(stream_lifetime_ms),
     "close streams after this long so clients rebalance (10m, 0: off)", 0, 0},
    {"header-timeout", OPT_DURATION, F(header_timeout_ms), "time to receive a request (10s)", 0, 0},
    {"keepalive-timeout", OPT_DURATION, F(keepalive_timeout_ms), "idle keep-alive (60s)", 0, 0},
    {"send-timeout", OPT_DURATION, F(send_timeout_ms),
     "close a connection whose output makes no progress this long, also one closing after its "
     "answer (60s, 0: never)",
     0, 0},
    {"drain-timeout", OPT_DURATION, F(drain_timeout_ms), "SIGTERM drain window (5s)", 0, 0},
    {"retry-hint", OPT_DURATION, F(retry_hint_ms), "retry: sent before the broker closes (2s)", 0,
     0},
    {"max-connections", OPT_INT, F(max_connections),
     "connections for the process (0: what the open-file limit allows)", 0, 100000000},
    {"max-connections-per-worker", OPT_INT, F(max_connections_per_worker),
     "connections per worker (0: no cap beyond the global one)", 0, 100000000},
    {"max-header-bytes", OPT_SIZE, F(max_header_bytes), "request line and headers (64KiB)", 1 * KIB,
     16 * MIB},
    {"max-headers", OPT_INT, F(max_headers), "header fields per request (100)", 1, 10000},
    /* An event's wire bytes are at most ~7x its data and are counted in 32 bits. */
    {"max-body-bytes", OPT_SIZE, F(max_body_bytes),
     "publish body (1MiB); with --history-dir or --redis, an update whose stored record (topics, "
     "id, and data as SSE: up to 7 bytes per line break) would exceed 512MiB is refused with 413",
     0, 256 * MIB},
    /* An event counts its topics in 16 bits. */
    {"max-topics", OPT_INT, F(max_topics), "topics per request (1000)", 1, SSEB_MAX_TOPICS},
    {"max-selector-bytes", OPT_SIZE, F(max_selector_bytes), "bytes of one topic (4KiB)", 1,
     16 * MIB},
    {"max-template-cost", OPT_INT, F(max_template_cost),
     "URI-template parts and variables per subscription (256)", 1, 1000000},
    {"max-urlpattern-cost", OPT_INT, F(max_urlpattern_cost),
     "URL Pattern automaton states (a regexp group: 256 more) per subscription (4096)", 1, 1000000},
    {"max-queued-bytes", OPT_SIZE, F(max_queued_bytes), "output budget per stream (1MiB)", 1 * KIB,
     64 * GIB},
    {"max-answer-bytes", OPT_SIZE, F(max_answer_bytes),
     "queued answers of a connection beyond which its pipelined requests are not read until the "
     "client reads them (64KiB)",
     1 * KIB, 1 * GIB},
    /* The ring and the id table of history are allocated at start (24 B per event). */
    {"history-size", OPT_INT, F(history_size),
     "updates kept for replay (10000); with --history-dir too, earliest replays at most the newest "
     "this many",
     1, SSEB_MAX_HISTORY_SIZE},
    {"history-bytes", OPT_SIZE, F(history_bytes), "bytes kept for replay (64MiB)", 1 * KIB,
     1024 * GIB},
    {"history-dir", OPT_STRING, F(history_dir),
     "keep history in an embedded log in DIR: it survives restarts and crashes (default: memory "
     "only)",
     0, 0},
    {"fsync", OPT_FSYNC, F(fsync),
     "with --history-dir, when an update is acknowledged: always (default: once on disk; a crash "
     "or power loss loses nothing acknowledged), interval (once written, synced every "
     "--fsync-interval: a process crash loses nothing, a power loss up to one interval), never "
     "(once written: a process crash loses nothing, a power loss what the kernel had not yet "
     "written back, typically up to 30s)",
     0, 0},
    {"fsync-interval", OPT_DURATION, F(fsync_interval_ms), "sync period of --fsync interval (1s)",
     1, 3600000},
    {"history-age", OPT_AGE, F(history_age_s),
     "with --history-dir, remove log segments whose updates are all older (0: no age bound)", 0, 0},
    {"history-memory", OPT_INT, F(history_memory),
     "with --history-dir or in cluster mode, updates also kept in memory; older ones are replayed "
     "from the files or the Redis Stream (10000)",
     1, SSEB_MAX_HISTORY_SIZE},
    {"history-memory-bytes", OPT_SIZE, F(history_memory_bytes),
     "with --history-dir or in cluster mode, bytes of updates also kept in memory (64MiB)", 1 * KIB,
     1024 * GIB},
    {"history-segment-bytes", OPT_SIZE, F(history_segment_bytes),
     "with --history-dir, the size at which the log starts a new file (64MiB)", 64 * KIB, 4 * GIB},
    {"redis", OPT_STRING, F(redis_url),
     "cluster mode: share one order with every node through a Redis Stream, "
     "redis://[[user]:password@]host[:port][/db] (default: single node)",
     0, 0},
    {"redis-stream", OPT_STRING, F(redis_stream),
     "with --redis, the Stream's key (ssebroker; its id index is KEY:ids, presence with "
     "--subscriptions KEY:presence:* and KEY:alive:*)",
     0, 0},
    {"redis-timeout", OPT_DURATION, F(redis_timeout_ms),
     "with --redis, a publish Redis has not answered by then gets 503 (1s)", 10, 60000},
    {"redis-retain", OPT_INT, F(redis_retain),
     "with --redis, entries the Stream keeps (0: --history-size)", 0, 100000000},
    {"redis-max-lag", OPT_DURATION, F(redis_max_lag_ms),
     "with --redis, /readyz fails while reading the Stream back lags longer (5s)", 100, 600000},
    {"redis-sentinel", OPT_STRING, F(redis_sentinel),
     "cluster mode through Redis Sentinel: HOST:PORT[,HOST:PORT...] of the sentinels that find "
     "the master (--redis then gives only user, password and db)",
     0, 0},
    {"redis-master", OPT_STRING, F(redis_master),
     "with --redis-sentinel, the master's name in the sentinels (mymaster)", 0, 0},
    {"redis-wait-replicas", OPT_INT, F(redis_wait_replicas),
     "in cluster mode, acknowledge (and deliver) an update only once this many replicas have it, "
     "else 503 (0)",
     0, 100},
    {"bus-size", OPT_INT, F(bus_size), "bus ring slots, power of two (65536)", 16,
     SSEB_MAX_BUS_SIZE},
    {"publish-wait", OPT_DURATION, F(publish_wait_ms), "wait on a full bus before 503 (200ms)", 0,
     0},
    {"log-level", OPT_LOGLEVEL, F(log_level), "debug, info, warn, error (info)", 0, 0},
    {"log-format", OPT_LOGFORMAT, F(log_json), "logfmt or json (logfmt)", 0, 0},
};
#undef F

void sseb_config_defaults(struct sseb_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->listen_port = 8080;
    cfg->publisher_alg = "HS256";
    cfg->subscriber_alg = "HS256";
    cfg->cookie_name = "mercureAuthorization";
    cfg->dialects = SSEB_DIALECT_07 | SSEB_DIALECT_08;
    cfg->access_token_cookie = "__Secure-mercure_access_token";
    cfg->heartbeat_ms = 15000;
    cfg->stream_lifetime_ms = 600000;
    cfg->header_timeout_ms = 10000;
    cfg->keepalive_timeout_ms = 60000;
    cfg->drain_timeout_ms = 5000;
    cfg->retry_hint_ms = 2000;
    cfg->send_timeout_ms = 60000;
    cfg->max_connections = 0; /* main() derives it from the open-file limit */
    cfg->max_header_bytes = 64 * 1024;
    cfg->max_headers = 100;
    cfg->max_body_bytes = 1024 * 1024;
    cfg->max_topics = 1000;
    cfg->max_selector_bytes = 4096;
    cfg->max_template_cost = 256;
    cfg->max_urlpattern_cost = 4096;
    cfg->io_uring = true;
    cfg->max_queued_bytes = 1024 * 1024;
    cfg->max_answer_bytes = 64 * 1024;
    cfg->history_size = 10000;
    cfg->history_bytes = 64 * 1024 * 1024;
    cfg->bus_size = 65536;
    cfg->publish_wait_ms = 200;
    cfg->fsync = SSEB_FSYNC_ALWAYS;
    cfg->fsync_interval_ms = 1000;
    cfg->redis_stream = "ssebroker";
    cfg->redis_timeout_ms = 1000;
    cfg->redis_max_lag_ms = 5000;
    cfg->redis_master = "mymaster";
    cfg->history_segment_bytes = 64 * 1024 * 1024;
    cfg->history_memory = 10000;
    cfg->history_memory_bytes = 64 * 1024 * 1024;
    cfg->log_level = LOG_INFO;
}

/* "15", "15s", "500ms", "10m", "1h" -> milliseconds. */
static int parse_duration(const char *s, uint32_t *ms)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0) return -1;
    double mult = 1000;
    if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "s") == 0 || *end == 0)
        mult = 1000;
    else if (strcmp(end, "m") == 0)
        mult = 60000;
    else if (strcmp(end, "h") == 0)
        mult = 3600000;
    else
        return -1;
    double r = v * mult;
    if (!(r <= 4e9)) return -1; /* NaN too */
    *ms = (uint32_t)r;
    return 0;
}

/* "65536", "64KiB", "64k", "1MiB", "1M" -> bytes. */
static int parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-') return -1;
    unsigned long long mult = 1;
    if (*end == 'k' || *end == 'K')
        mult = 1024;
    else if (*end == 'm' || *end == 'M')
        mult = 1024 * 1024;
    else if (*end == 'g' || *end == 'G')
        mult = 1024ULL * 1024 * 1024;
    else if (*end != 0 && strcmp(end, "B") != 0)
        return -1;
    if (mult > 1 && end[1] != 0 && strcmp(end + 1, "iB") != 0 && strcmp(end + 1, "B") != 0)
        return -1;
    if (v > SIZE_MAX / mult) return -1; /* 20000000000G does not wrap to a small budget */
    *out = (size_t)(v * mult);
    return 0;
}

static int parse_listen(struct sseb_config *cfg, const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon) return -1;
    size_t hlen = (size_t)(colon - s);
    if (hlen >= sizeof(cfg->listen_host)) return -1;
    /* [::1]:8080 */
    if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
        memcpy(cfg->listen_host, s + 1, hlen - 2);
        cfg->listen_host[hlen - 2] = 0;
    } else {
        memcpy(cfg->listen_host, s, hlen);
        cfg->listen_host[hlen] = 0;
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || end == colon + 1) return -1;
    cfg->listen_port = (uint16_t)port;
    return 0;
}

static int apply(struct sseb_config *cfg, const struct opt *o, const char *val)
{
    char *base = (char *)cfg;
    switch (o->type) {
    case OPT_LISTEN:
        return parse_listen(cfg, val);
    case OPT_INT: {
        char *end;
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno || *end || end == val || v < 0 || v > UINT32_MAX) return -1;
        if (o->offset == offsetof(struct sseb_config, workers))
            *(int *)(base + o->offset) = (int)v;
        else
            *(uint32_t *)(base + o->offset) = (uint32_t)v;
        return 0;
    }
    case OPT_SIZE:
        return parse_size(val, (size_t *)(base + o->offset));
    case OPT_DURATION:
        return parse_duration(val, (uint32_t *)(base + o->offset));
    case OPT_STRING:
        /* An empty --history-dir, --redis, --redis-sentinel, --resource-identifier or --jwt-issuer
         * means "off" (an image's default unset by an environment: docker/compose.yml). */
        if (!*val && (o->offset == offsetof(struct sseb_config, history_dir) ||
                      o->offset == offsetof(struct sseb_config, redis_url) ||
                      o->offset == offsetof(struct sseb_config, redis_sentinel) ||
                      o->offset == offsetof(struct sseb_config, resource_identifier) ||
                      o->offset == offsetof(struct sseb_config, jwt_issuers)))
            val = NULL;
        *(const char **)(base + o->offset) = val;
        return 0;
    case OPT_BOOL:
        if (!strcmp(val, "1") || !strcmp(val, "true") || !strcmp(val, "yes") || !strcmp(val, "on"))
            *(bool *)(base + o->offset) = true;
        else if (!strcmp(val, "0") || !strcmp(val, "false") || !strcmp(val, "no") ||
                 !strcmp(val, "off"))
            *(bool *)(base + o->offset) = false;
        else
            return -1;
        return 0;
    case OPT_LOGLEVEL: {
        enum log_level l;
        if (log_level_parse(val, &l)) return -1;
        cfg->log_level = (int)l;
        return 0;
    }
    case OPT_LOGFORMAT:
        if (strcmp(val, "json") == 0)
            cfg->log_json = true;
        else if (strcmp(val, "logfmt") == 0)
            cfg->log_json = false;
        else
            return -1;
        return 0;
    case OPT_FSYNC:
        if (!strcmp(val, "always"))
            cfg->fsync = SSEB_FSYNC_ALWAYS;
        else if (!strcmp(val, "interval"))
            cfg->fsync = SSEB_FSYNC_INTERVAL;
        else if (!strcmp(val, "never"))
            cfg->fsync = SSEB_FSYNC_NEVER;
        else
            return -1;
        return 0;
    case OPT_EVENT_IDS:
        if (!strcmp(val, "compact"))
            cfg->event_ids = SSEB_EVENT_IDS_COMPACT;
        else if (!strcmp(val, "uuid"))
            cfg->event_ids = SSEB_EVENT_IDS_UUID;
        else
            return -1;
        return 0;
    case OPT_AGE: {
        /* "90d", "12h", "30m", "3600s" or seconds -> seconds */
        char *end;
        errno = 0;
        double v = strtod(val, &end);
        if (errno || end == val || !(v >= 0)) return -1;
        double mult = !strcmp(end, "d")              ? 86400
                      : !strcmp(end, "h")            ? 3600
                      : !strcmp(end, "m")            ? 60
                      : (!strcmp(end, "s") || !*end) ? 1
                                                     : -1;
        if (mult < 0 || !(v * mult <= 4e9)) return -1;
        *(uint32_t *)(base + o->offset) = (uint32_t)(v * mult);
        return 0;
    }
    case OPT_DIALECTS: {
        /* "07", "08", "07,08" (either order) */
        unsigned d = 0;
        for (const char *p = val;; p++) {
            if (!strncmp(p, "07", 2))
                d |= SSEB_DIALECT_07;
            else if (!strncmp(p, "08", 2))
                d |= SSEB_DIALECT_08;
            else
                return -1;
            p += 2;
            if (!*p) break;
            if (*p != ',') return -1;
        }
        cfg->dialects = d;
        return 0;
    }
    case OPT_BOTH_KEYS:
        cfg->publisher_key = cfg->subscriber_key = val;
        return 0;
    case OPT_BOTH_ALGS:
        cfg->publisher_alg = cfg->subscriber_alg = val;
        return 0;
    }
    return -1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: ssebroker [options]\n"
               "       ssebroker health [--ready] [options]\n\n"
               "A Mercure-compatible Server-Sent Events broker.\n\n"
               "health: asks GET /healthz (--ready: /readyz) of the broker that these options and\n"
               "the environment configure (on loopback for a wildcard address); exits 0 when it\n"
               "answers 200, else 1. The container image's health check.\n\n"
               "Every option also reads SSEBROKER_<NAME> from the environment "
               "(e.g. SSEBROKER_LISTEN=:8080).\n\n");
    for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
        const struct opt *o = &options[i];
        if (o->min || o->max)
            fprintf(f, "  --%-28s %s [%llu..%llu]\n", o->name, o->help, o->min, o->max);
        else
            fprintf(f, "  --%-28s %s\n", o->name, o->help);
    }
    fprintf(f, "  --%-28s %s\n", "help", "print this help");
}

static void env_name(const char *flag, char *out, size_t cap)
{
    size_t o = (size_t)snprintf(out, cap, "SSEBROKER_");
    for (; *flag && o + 1 < cap; flag++)
        out[o++] = *flag == '-' ? '_' : (char)toupper((unsigned char)*flag);
    out[o] = 0;
}

int sseb_config_load(struct sseb_config *cfg, int argc, char **argv)
{
    size_t nopts = sizeof(options) / sizeof(options[0]);
    for (size_t i = 0; i < nopts; i++) {
        char name[80];
        env_name(options[i].name, name, sizeof(name));
        const char *v = getenv(name);
        if (v && apply(cfg, &options[i], v)) {
            fprintf(stderr, "ssebroker: invalid value for %s: %s\n", name, v);
            return -1;
        }
    }
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            usage(stdout);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "ssebroker: unexpected argument: %s\n", arg);
            return -1;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt *o = NULL;
        for (size_t i = 0; i < nopts; i++)
            if (strlen(options[i].name) == nlen && !strncmp(options[i].name, name, nlen))
                o = &options[i];
        if (!o) {
            fprintf(stderr, "ssebroker: unknown option: %s (see --help)\n", arg);
            return -1;
        }
        const char *val = eq ? eq + 1 : NULL;
        if (!val && o->type == OPT_BOOL) val = "true";
        if (!val) {
            if (a + 1 >= argc) {
                fprintf(stderr, "ssebroker: %s needs a value\n", arg);
                return -1;
            }
            val = argv[++a];
        }
        if (apply(cfg, o, val)) {
            fprintf(stderr, "ssebroker: invalid value for --%s: %s\n", o->name, val);
            return -1;
        }
    }
    char err[256];
    if (sseb_config_validate(cfg, err, sizeof(err))) {
        fprintf(stderr, "ssebroker: %s\n", err);
        return -1;
    }
    return 0;
}

/* An RFC 6265 cookie-name (an RFC 7230 token). */
static bool cookie_name_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (!n || n > 256) return false;
    for (; *s; s++)
        if (*s <= 0x20 || *s >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", *s)) return false;
    return true;
}

/* A numeric field's value, whatever its C type. */
static unsigned long long field_value(const struct sseb_config *cfg, const struct opt *o, bool *neg)
{
    const char *base = (const char *)cfg;
    *neg = false;
    if (o->offset == offsetof(struct sseb_config, workers)) {
        int v = cfg->workers;
        *neg = v < 0;
        return v < 0 ? 0 : (unsigned long long)v;
    }
    if (o->type == OPT_SIZE) return *(const size_t *)(base + o->offset);
    return *(const uint32_t *)(base + o->offset);
}

int sseb_config_validate(const struct sseb_config *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
        const struct opt *o = &options[i];
        if (o->type != OPT_INT && o->type != OPT_SIZE && o->type != OPT_DURATION) continue;
        if (!o->min && !o->max) continue;
        bool neg;
        unsigned long long v = field_value(cfg, o, &neg);
        if (neg) {
            snprintf(err, errlen, "--%s must be between %llu and %llu (got %d)", o->name, o->min,
                     o->max, cfg->workers);
            return -1;
        }
        if (v < o->min || v > o->max) {
            snprintf(err, errlen, "--%s must be between %llu and %llu (got %llu)", o->name, o->min,
                     o->max, v);
            return -1;
        }
    }
    if (cfg->bus_size & (cfg->bus_size - 1)) {
        snprintf(err, errlen, "--bus-size must be a power of two (got %u)", cfg->bus_size);
        return -1;
    }
    if ((cfg->redis_url || cfg->redis_sentinel) && cfg->history_dir) {
        snprintf(err, errlen,
                 "--redis and --history-dir cannot be used together: in cluster mode Redis "
                 "holds the history");
        return -1;
    }
    if (cfg->redis_wait_replicas && !cfg->redis_url && !cfg->redis_sentinel) {
        snprintf(err, errlen, "--redis-wait-replicas needs --redis or --redis-sentinel");
        return -1;
    }
    if (cfg->redis_sentinel) {
        struct redis_sentinels s;
        if (redis_sentinels_parse(cfg->redis_sentinel, &s, err, errlen)) return -1;
        if (!cfg->redis_master || !cfg->redis_master[0] || strlen(cfg->redis_master) > 200) {
            snprintf(err, errlen, "--redis-master must be a name of 1 to 200 bytes");
            return -1;
        }
    }
    if (cfg->redis_url || cfg->redis_sentinel) {
        struct redis_target t;
        if (cfg->redis_url && redis_target_parse(cfg->redis_url, &t, err, errlen)) return -1;
        if (!cfg->redis_stream || !cfg->redis_stream[0] || strlen(cfg->redis_stream) > 512) {
            snprintf(err, errlen, "--redis-stream must be a key of 1 to 512 bytes");
            return -1;
        }
    }
    if (!cfg->dialects || (cfg->dialects & ~(SSEB_DIALECT_07 | SSEB_DIALECT_08))) {
        snprintf(err, errlen, "--dialects must be 07, 08 or 07,08");
        return -1;
    }
    const char *why = auth_resource_identifier_problem(cfg->resource_identifier);
    if (why) {
        snprintf(err, errlen, "--resource-identifier %s (got \"%.200s\")", why,
                 cfg->resource_identifier);
        return -1;
    }
    if ((why = auth_issuers_problem(cfg->jwt_issuers))) {
        snprintf(err, errlen, "--jwt-issuer %s", why);
        return -1;
    }
    if (!cookie_name_valid(cfg->access_token_cookie)) {
        snprintf(err, errlen,
                 "--access-token-cookie must be a cookie name: 1 to 256 visible ASCII characters "
                 "without separators");
        return -1;
    }
    if (!memchr(cfg->listen_host, 0, sizeof(cfg->listen_host))) {
        snprintf(err, errlen, "--listen: host name too long");
        return -1;
    }
    return 0;
}
