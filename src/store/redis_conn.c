#include "store/redis_conn.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

int redis_target_parse(const char *url, struct redis_target *t, char *err, size_t errlen)
{
    *t = (struct redis_target){.port = 6379};
    const char *p = url;
    if (strncmp(p, "redis://", 8) != 0) {
        snprintf(err, errlen,
                 "--redis: expected redis://[[user]:password@]host[:port][/db], got %s", url);
        return -1;
    }
    p += 8;
    const char *end = p + strcspn(p, "/");
    /* Credentials end at the last '@' before the path (a password may hold '@'). */
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@') at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        size_t ulen = colon ? (size_t)(colon - p) : 0;
        const char *pw = colon ? colon + 1 : p;
        size_t plen = (size_t)(at - pw);
        if (ulen >= sizeof(t->user) || plen >= sizeof(t->password)) {
            snprintf(err, errlen, "--redis: user name or password too long");
            return -1;
        }
        memcpy(t->user, p, ulen);
        memcpy(t->password, pw, plen);
        p = at + 1;
    }
    const char *host = p, *host_end;
    if (*p == '[') { /* [::1]:6379 */
        host = p + 1;
        host_end = memchr(host, ']', (size_t)(end - host));
        if (!host_end) {
            snprintf(err, errlen, "--redis: unterminated [ in %s", url);
            return -1;
        }
        p = host_end + 1;
    } else {
        host_end = memchr(p, ':', (size_t)(end - p));
        if (!host_end) host_end = end;
        p = host_end;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0 || hlen >= sizeof(t->host)) {
        snprintf(err, errlen, "--redis: missing or too long host in %s", url);
        return -1;
    }
    memcpy(t->host, host, hlen);
    if (p < end && *p == ':') {
        char *e;
        long port = strtol(p + 1, &e, 10);
        if (e != end || port < 1 || port > 65535) {
            snprintf(err, errlen, "--redis: bad port in %s", url);
            return -1;
        }
        t->port = (int)port;
    } else if (p != end) {
        snprintf(err, errlen, "--redis: unexpected text after the host in %s", url);
        return -1;
    }
    if (*end == '/' && end[1]) {
        char *e;
        long db = strtol(end + 1, &e, 10);
        if (*e || db < 0 || db > 1000000) {
            snprintf(err, errlen, "--redis: bad database number in %s", url);
            return -1;
        }
        t->db = (int)db;
    }
    return 0;
}

static struct timeval tv_of(uint32_t ms)
{
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

int redis_set_timeout(redisContext *c, uint32_t ms)
{
    return redisSetTimeout(c, tv_of(ms ? ms : 1)) == REDIS_OK ? 0 : -1;
}

/* The value of "field:" in an INFO reply, copied into out. */
static bool info_field(const char *info, const char *field, char *out, size_t cap)
{
    size_t flen = strlen(field);
    for (const char *p = info; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, field, flen) == 0 && p[flen] == ':') {
            const char *v = p + flen + 1;
            size_t n = strcspn(v, "\r\n");
            if (n >= cap) n = cap - 1;
            memcpy(out, v, n);
            out[n] = 0;
            return true;
        }
    }
    return false;
}

/* Checks what the server is: version and eviction policy (refusals), persistence (warnings). */
static enum redis_connect_status check_server(redisContext *c, char *err, size_t errlen, char *warn,
                                              size_t warnlen)
{
    redisReply *r = redisCommand(c, "INFO");
    if (!r) {
        snprintf(err, errlen, "INFO: %s", c->errstr);
        return RCONN_UNREACHABLE;
    }
    if (r->type != REDIS_REPLY_STRING) {
        snprintf(err, errlen, "INFO: %s", r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
        freeReplyObject(r);
        return RCONN_UNREACHABLE;
    }
    char version[64] = "", policy[64] = "", aof[16] = "", saves[32] = "";
    info_field(r->str, "redis_version", version, sizeof(version));
    info_field(r->str, "maxmemory_policy", policy, sizeof(policy));
    info_field(r->str, "aof_enabled", aof, sizeof(aof));
    info_field(r->str, "rdb_changes_since_last_save", saves, sizeof(saves));
    freeReplyObject(r);
    int major = 0, minor = 0;
    if (sscanf(version, "%d.%d", &major, &minor) != 2 || major < 6 || (major == 6 && minor < 2)) {
        snprintf(err, errlen,
                 "Redis %s is too old: cluster mode needs Redis 6.2 or newer (XADD and XTRIM as "
                 "it uses them)",
                 version[0] ? version : "(unknown version)");
        return RCONN_REFUSED;
    }
    if (policy[0] && strcmp(policy, "noeviction") != 0) {
        snprintf(err, errlen,
                 "Redis maxmemory-policy is %s: an evicting Redis loses history silently; set "
                 "maxmemory-policy noeviction",
                 policy);
        return RCONN_REFUSED;
    }
    if (warn && warnlen) {
        warn[0] = 0;
        if (strcmp(aof, "1") != 0) {
            /* appendfsync is not in INFO; ask CONFIG where it is allowed. */
            snprintf(warn, warnlen,
                     "Redis has no append-only file: a Redis crash or restart loses updates "
                     "acknowledged since its last snapshot (enable appendonly yes, appendfsync "
                     "always)");
        } else {
            redisReply *f = redisCommand(c, "CONFIG GET appendfsync");
            if (f && f->type == REDIS_REPLY_ARRAY && f->elements == 2 &&
                f->element[1]->type == REDIS_REPLY_STRING && strcmp(f->element[1]->str, "always"))
                snprintf(warn, warnlen,
                         "Redis appendfsync is %s: a Redis crash can lose updates acknowledged "
                         "within the last second (appendfsync always loses none)",
                         f->element[1]->str);
            if (f) freeReplyObject(f);
        }
    }
    return RCONN_OK;
}

enum redis_connect_status redis_connect(const struct redis_target *t, uint32_t timeout_ms,
                                        redisContext **out, char *err, size_t errlen, char *warn,
                                        size_t warnlen)
{
    *out = NULL;
    if (warn && warnlen) warn[0] = 0;
    redisContext *c = redisConnectWithTimeout(t->host, t->port, tv_of(timeout_ms));
    if (!c || c->err) {
        snprintf(err, errlen, "%s", c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        return RCONN_UNREACHABLE;
    }
    if (redis_set_timeout(c, timeout_ms)) {
        snprintf(err, errlen, "cannot set timeouts");
        redisFree(c);
        return RCONN_UNREACHABLE;
    }
    enum redis_connect_status st = RCONN_OK;
    redisReply *r = NULL;
    if (t->password[0]) {
        r = t->user[0] ? redisCommand(c, "AUTH %s %s", t->user, t->password)
                       : redisCommand(c, "AUTH %s", t->password);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "AUTH: %s", r ? r->str : c->errstr);
            st = r ? RCONN_REFUSED : RCONN_UNREACHABLE;
            goto done;
        }
        freeReplyObject(r);
        r = NULL;
    }
    if (t->db) {
        r = redisCommand(c, "SELECT %d", t->db);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "SELECT %d: %s", t->db, r ? r->str : c->errstr);
            st = r ? RCONN_REFUSED : RCONN_UNREACHABLE;
            goto done;
        }
        freeReplyObject(r);
        r = NULL;
    }
    st = check_server(c, err, errlen, warn, warnlen);
done:
    if (r) freeReplyObject(r);
    if (st != RCONN_OK) {
        redisFree(c);
        return st;
    }
    *out = c;
    return st;
}

bool stream_id_parse(const char *s, size_t len, struct stream_id *out)
{
    char buf[48];
    if (len == 0 || len >= sizeof(buf)) return false;
    memcpy(buf, s, len);
    buf[len] = 0;
    char *dash = strchr(buf, '-');
    if (!dash || dash == buf || !dash[1]) return false;
    *dash = 0;
    char *e1, *e2;
    errno = 0;
    unsigned long long ms = strtoull(buf, &e1, 10), seq = strtoull(dash + 1, &e2, 10);
    if (errno || *e1 || *e2 || buf[0] == '-' || dash[1] == '-') return false;
    *out = (struct stream_id){ms, seq};
    return true;
}

int stream_id_format(struct stream_id id, char out[48])
{
    return snprintf(out, 48, "%" PRIu64 "-%" PRIu64, id.ms, id.seq);
}

int stream_id_cmp(struct stream_id a, struct stream_id b)
{
    if (a.ms != b.ms) return a.ms < b.ms ? -1 : 1;
    if (a.seq != b.seq) return a.seq < b.seq ? -1 : 1;
    return 0;
}

const redisReply *stream_entry_field(const redisReply *fields, const char *name)
{
    if (fields->type != REDIS_REPLY_ARRAY) return NULL;
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING &&
            !strcmp(fields->element[i]->str, name))
            return fields->element[i + 1];
    return NULL;
}

uint64_t stream_entry_position(const redisReply *fields)
{
    const redisReply *n = stream_entry_field(fields, "n");
    return n && n->type == REDIS_REPLY_STRING ? strtoull(n->str, NULL, 10) : 0;
}
