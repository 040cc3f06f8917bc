/* ssebroker configuration: every field has a command-line flag and an environment twin
 * (SSEBROKER_<FLAG_IN_UPPER_SNAKE_CASE>); flags win over the environment. */
#ifndef SSEBROKER_CONFIG_H
#define SSEBROKER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --fsync */
enum sseb_fsync { SSEB_FSYNC_ALWAYS, SSEB_FSYNC_INTERVAL, SSEB_FSYNC_NEVER };

/* --event-ids: the ids the hub makes for updates published without one. */
enum sseb_event_ids {
    SSEB_EVENT_IDS_COMPACT, /* "#" and 12 base64url characters (72 random bits) */
    SSEB_EVENT_IDS_UUID,    /* "urn:uuid:" and a version 4 UUID (the reference hub's form) */
};

/* Bounds of what the broker can honour; sseb_config_validate refuses anything beyond. */
#define SSEB_MAX_WORKERS      256
#define SSEB_MAX_TOPICS       65535    /* an event counts its topics in 16 bits */
#define SSEB_MAX_HISTORY_SIZE 10000000 /* ring and id table are allocated at start */
#define SSEB_MAX_BUS_SIZE     (1u << 24)

/* --dialects: the Mercure protocol versions served (a bit set). */
#define SSEB_DIALECT_07 1u /* draft-07 (hub 0.x): topic=, the "mercure" claim */
#define SSEB_DIALECT_08 2u /* draft-08 (Mercure 1.0): match*, at+jwt and authorization_details */

/* The well-known development key of the Mercure hub, used when no key is configured. */
#define SSEB_DEV_JWT_KEY "!ChangeThisMercureHubJWTSecretKey!"

struct sseb_config {
    char listen_host[256]; /* empty: all addresses */
    uint16_t listen_port;
    int workers; /* 0: online CPUs */

    const char *publisher_key, *publisher_alg, *publisher_jwks;
    const char *subscriber_key, *subscriber_alg, *subscriber_jwks;
    bool require_subscriber_token;
    const char *cookie_name; /* the draft-07 cookie */
    unsigned dialects;       /* SSEB_DIALECT_07 | SSEB_DIALECT_08 */
    /* Mercure 1.0: the hub's public URL (the "aud" of 1.0 tokens, the base of relative URL
     * patterns and topics) and the trusted issuers ("iss"), comma separated; 1.0 tokens are
     * refused while either is NULL. */
    const char *resource_identifier;
    const char *jwt_issuers;
    const char *access_token_cookie; /* the 1.0 cookie */
    const char *cors_origins;        /* space or comma separated; "*" for any; NULL: no CORS */
    bool subscriptions;              /* subscriptions API and events */
    int event_ids;                   /* enum sseb_event_ids */

    uint32_t heartbeat_ms;       /* 0: none */
    uint32_t stream_lifetime_ms; /* 0: unlimited */
    uint32_t header_timeout_ms;
    uint32_t keepalive_timeout_ms;
    uint32_t drain_timeout_ms;
    uint32_t retry_hint_ms;   /* retry: sent to streams closed by the broker */
    uint32_t send_timeout_ms; /* output that makes no progress this long closes (0: never) */

    uint32_t max_connections;            /* whole process; 0: the open-file limit allows */
    uint32_t max_connections_per_worker; /* 0: no per-worker cap */
    size_t max_header_bytes;             /* request line + headers */
    uint32_t max_headers;                /* header count */
    size_t max_body_bytes;
    uint32_t max_topics;       /* topic parameters per subscribe and per publish */
    size_t max_selector_bytes; /* one selector or topic */
    /* literal parts + variables of one subscription's URI templates */
    uint32_t max_template_cost;
    uint32_t max_urlpattern_cost; /* urlpattern_cost of one subscription's URL Patterns */
    /* batch socket writes through io_uring when the kernel allows it */
    bool io_uring;
    size_t max_queued_bytes; /* per stream output budget (live events) */
    /* queued answers of an HTTP connection beyond which its pipelined requests wait unread */
    size_t max_answer_bytes;

    uint32_t history_size; /* events kept for replay (with history_dir: on disk, and the window
                            * earliest replays from; see below) */
    size_t history_bytes;
    const char *history_dir;      /* NULL: history in memory only; else the embedded log's dir */
    int fsync;                    /* enum sseb_fsync: when the log reaches the disk */
    uint32_t fsync_interval_ms;   /* with SSEB_FSYNC_INTERVAL */
    uint32_t history_age_s;       /* log retention by age (0: none) */
    size_t history_segment_bytes; /* the log rolls to a new file at this size */
    /* With history_dir or in cluster mode, the in-memory hot tier (older history is read from the
     * files or the Redis Stream): at most this many events and bytes, and never more than
     * history_size / history_bytes. */
    uint32_t history_memory;
    size_t history_memory_bytes;
    /* Cluster mode (DESIGN.md 2.1): NULL, or redis://[[user]:password@]host[:port][/db] */
    const char *redis_url;
    const char *redis_stream;  /* the Stream's key */
    uint32_t redis_timeout_ms; /* an append Redis has not answered by then gets 503 */
    uint32_t redis_retain;     /* entries the Stream keeps (0: history_size) */
    uint32_t redis_max_lag_ms; /* /readyz fails while reading the Stream back lags longer */
    /* High availability (DESIGN.md 2.1): NULL, or HOST:PORT[,HOST:PORT...] of Redis Sentinels
     * that name the master `redis_master`; redis_url (optional then) gives only the user,
     * password and db. */
    const char *redis_sentinel;
    const char *redis_master;
    uint32_t redis_wait_replicas; /* an append is acknowledged once on this many replicas */
    uint32_t bus_size;            /* ring slots, a power of two */
    uint32_t publish_wait_ms;     /* how long a publish waits on a full bus before 503 */

    int log_level; /* enum log_level */
    bool log_json;
};

/* Fills cfg with the defaults. */
void sseb_config_defaults(struct sseb_config *cfg);

/* Checks that every field holds a value the broker can honour (ranges, a power-of-two bus).
 * Returns 0, or -1 with a message naming the flag in err. sseb_config_load and sseb_broker_new
 * both call it. */
int sseb_config_validate(const struct sseb_config *cfg, char *err, size_t errlen);

/* Applies the environment, then argv, then validates. Returns 0 to go on, 1 when --help was
 * printed, -1 on an error (already reported on stderr). */
int sseb_config_load(struct sseb_config *cfg, int argc, char **argv);

#endif
