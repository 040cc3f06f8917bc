/* Connections to Redis for the cluster mode's threads, and Stream entry ids.
 *
 * redis_connect opens a blocking hiredis connection with timeouts, authenticates, selects the
 * database and checks that the server can keep cluster mode's guarantees: Redis 6.2 or newer
 * (XADD/XTRIM semantics the script relies on) and a maxmemory-policy that never evicts (an
 * evicting Redis drops history silently). */
#ifndef SSEB_STORE_REDIS_CONN_H
#define SSEB_STORE_REDIS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct redisContext redisContext;
typedef struct redisReply redisReply;

/* Where Redis is: redis://[[user]:password@]host[:port][/db]. */
struct redis_target {
    char host[256];
    int port;
    char user[128];
    char password[256];
    int db;
};

/* Returns 0, or -1 with the reason in err. */
int redis_target_parse(const char *url, struct redis_target *t, char *err, size_t errlen);

/* Redis Sentinels that know where the master is (store/redis_sentinel.h). */
#define REDIS_SENTINELS_MAX 16
struct redis_sentinels {
    int n; /* 0: no sentinel, the target is the master */
    struct {
        char host[256];
        int port;
    } addr[REDIS_SENTINELS_MAX];
};

struct redis_options {
    /* With sentinels, only the target's user, password and db are used: the host and port are
     * asked of the sentinels on every (re)connection. */
    struct redis_target target;
    struct redis_sentinels sentinels;
    const char *master;     /* the master's name in the sentinels */
    uint32_t wait_replicas; /* an append counts once on this many replicas (WAIT) */
    const char *stream;     /* the Stream's key; the id index is "<stream>:ids" */
    uint32_t timeout_ms;    /* an append not answered by then fails; also connect and read limits */
    uint32_t retain;        /* entries the Stream keeps */
    uint32_t max_lag_ms;    /* not ready while the bridge has been behind for longer */
};

enum redis_connect_status {
    RCONN_OK,
    RCONN_UNREACHABLE, /* down, refusing, not answering: try again later */
    RCONN_REFUSED,     /* reachable, but it cannot keep the guarantees: err says why */
};

/* timeout_ms bounds the connect and every later read and write. warn (may be NULL) receives a
 * caution that does not stop the node (persistence off, appendfsync not "always"). */
enum redis_connect_status redis_connect(const struct redis_target *t, uint32_t timeout_ms,
                                        redisContext **out, char *err, size_t errlen, char *warn,
                                        size_t warnlen);

/* Sets the read/write timeout of c. Returns -1 on failure. */
int redis_set_timeout(redisContext *c, uint32_t ms);

/* A Stream entry id, "<ms>-<seq>". */
struct stream_id {
    uint64_t ms, seq;
};

/* Parses "<ms>-<seq>" of len bytes. Returns false when it is not one. */
bool stream_id_parse(const char *s, size_t len, struct stream_id *out);
/* Writes "<ms>-<seq>" (NUL-terminated) into out; returns its length. */
int stream_id_format(struct stream_id id, char out[48]);
/* <0, 0, >0 as a is before, equal to, after b. */
int stream_id_cmp(struct stream_id a, struct stream_id b);

/* The value of field name in a Stream entry's flat field array; NULL when it has none. */
const redisReply *stream_entry_field(const redisReply *fields, const char *name);
/* The entry's position number (field "n"; 0 when it has none). */
uint64_t stream_entry_position(const redisReply *fields);

#endif
