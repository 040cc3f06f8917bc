/* Publish validation (publish_parse.h): what a POST to the hub must hold before it becomes an
 * event. The order of the checks is the order of the answers clients see. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth.h"
#include "common/utf8.h"
#include "mercure/publish_parse.h"
#include "ssebroker/config.h"

#define FORM_CONTENT_TYPE "application/x-www-form-urlencoded"
#define RESERVED_PATH     "/.well-known/mercure"

static bool fail(struct parse_error *err, int status, const char *header, const char *reason)
{
    *err = (struct parse_error){.status = status, .header = header, .reason = reason};
    return false;
}

static bool out_of_memory(struct parse_error *err)
{
    *err = (struct parse_error){.status = 503, .reason = "Out of memory.", .close = true};
    return false;
}

static bool has_ctl_breaking_framing(const char *s, size_t n)
{
    return memchr(s, '\r', n) || memchr(s, '\n', n) || memchr(s, 0, n);
}

/* True when the topic's path lies in the hub's reserved namespace. */
static bool topic_reserved(const char *s, size_t n)
{
    const char *path = s, *end = s + n;
    const char *scheme = memmem(s, n, "://", 3);
    if (scheme) {
        path = memchr(scheme + 3, '/', (size_t)(end - scheme - 3));
        if (!path) return false;
    }
    size_t rl = sizeof(RESERVED_PATH) - 1;
    if ((size_t)(end - path) < rl || memcmp(path, RESERVED_PATH, rl) != 0) return false;
    return path + rl == end || path[rl] == '/' || path[rl] == '?' || path[rl] == '#';
}

static bool content_type_is_form(const char *ct, size_t len)
{
    size_t fl = sizeof(FORM_CONTENT_TYPE) - 1;
    return ct && len >= fl && strncasecmp(ct, FORM_CONTENT_TYPE, fl) == 0 &&
           (len == fl || ct[fl] == ';' || ct[fl] == ' ');
}

static bool retry_valid(struct sseb_str r)
{
    bool ok = r.len > 0 && r.len <= 10;
    for (size_t i = 0; ok && i < r.len; i++)
        ok = r.p[i] >= '0' && r.p[i] <= '9';
    return ok;
}

void publish_parsed_free(struct publish_parsed *p)
{
    if (p->pairs && p->pairs != p->small_pairs) free(p->pairs);
    if (p->topics && p->topics != p->small_topics) free(p->topics);
    p->pairs = NULL;
    p->topics = NULL;
}

/* Decodes the form into pairs sized to the body (bounded by the topic limit). */
static bool decode(char *body, size_t len, const struct sseb_config *cfg,
                   struct publish_parsed *out, size_t *npairs, struct parse_error *err)
{
    /* Topics, plus a few of each other field, repeated fields being ignored. */
    size_t max_pairs = form_pairs_bound(body, len);
    if (max_pairs > (size_t)cfg->max_topics + 64) max_pairs = (size_t)cfg->max_topics + 64;
    out->pairs = out->small_pairs;
    out->topics = out->small_topics;
    if (max_pairs > PUBLISH_SMALL_PAIRS) {
        out->pairs = malloc(max_pairs * sizeof(*out->pairs));
        out->topics = malloc(max_pairs * sizeof(*out->topics));
        if (!out->pairs || !out->topics) return out_of_memory(err);
    }
    enum form_status fs = form_parse(body, len, out->pairs, max_pairs, npairs);
    if (fs == FORM_TOO_MANY) return fail(err, 400, NULL, "Too many \"topic\" parameters.");
    if (fs != FORM_OK) return fail(err, 400, NULL, "Invalid form body: bad percent-encoding.");
    return true;
}

bool publish_parse(char *body, size_t len, const char *content_type, size_t content_type_len,
                   const struct sseb_config *cfg, const struct auth_claims *claims,
                   struct publish_parsed *out, struct parse_error *err)
{
    char empty[1];
    out->pairs = NULL;
    out->topics = NULL;
    if (!content_type_is_form(content_type, content_type_len))
        return fail(err, 400, NULL, "Content-Type must be application/x-www-form-urlencoded.");
    if (!body) body = empty, len = 0;
    size_t npairs = 0;
    if (!decode(body, len, cfg, out, &npairs, err)) return false;

    struct sseb_str *topics = out->topics;
    struct sseb_update u = {.topics = topics};
    bool have_data = false, have_id = false, have_type = false, have_retry = false;
    for (size_t i = 0; i < npairs; i++) {
        struct form_pair *p = &out->pairs[i];
        struct sseb_str v = {p->value, p->value_len};
        if (strcmp(p->key, "topic") == 0) {
            if (u.ntopics == cfg->max_topics)
                return fail(err, 400, NULL, "Too many \"topic\" parameters.");
            topics[u.ntopics++] = v;
        } else if (strcmp(p->key, "data") == 0 && !have_data) {
            u.data = v, have_data = true;
        } else if (strcmp(p->key, "id") == 0 && !have_id) {
            u.id = v, have_id = true;
        } else if (strcmp(p->key, "type") == 0 && !have_type) {
            u.type = v, have_type = true;
        } else if (strcmp(p->key, "retry") == 0 && !have_retry) {
            u.retry = v, have_retry = true;
        } else if (strcmp(p->key, "private") == 0) {
            u.private_ = true;
        }
    }

    if (u.ntopics == 0) return fail(err, 400, NULL, "Missing \"topic\" parameter.");
    for (size_t i = 0; i < u.ntopics; i++) {
        if (topics[i].len > cfg->max_selector_bytes) return fail(err, 400, NULL, "Topic too long.");
        if (topics[i].len == 0 || !utf8_printable(topics[i].p, topics[i].len))
            return fail(err, 400, NULL,
                        "Invalid topic: empty, invalid UTF-8 or control characters.");
    }
    /* An event stream is UTF-8: bytes that are not would reach browsers as U+FFFD. */
    if ((have_data && !utf8_valid(u.data.p, u.data.len)) ||
        (have_id && !utf8_valid(u.id.p, u.id.len)) ||
        (have_type && !utf8_valid(u.type.p, u.type.len)))
        return fail(err, 400, NULL, "Invalid \"data\", \"id\" or \"type\": not UTF-8.");
    if (have_id && (has_ctl_breaking_framing(u.id.p, u.id.len) || (u.id.len && u.id.p[0] == '#') ||
                    u.id.len > 1024))
        return fail(err, 400, NULL,
                    "Invalid \"id\": it must not start with # or contain CR, LF or NUL.");
    if (have_type && has_ctl_breaking_framing(u.type.p, u.type.len))
        return fail(err, 400, NULL, "Invalid \"type\": it must not contain CR, LF or NUL.");
    if (have_retry && !retry_valid(u.retry))
        return fail(err, 400, NULL, "Invalid \"retry\": it must be a number of milliseconds.");
    for (size_t i = 0; i < u.ntopics; i++) {
        if (topic_reserved(topics[i].p, topics[i].len))
            return fail(err, 403, NULL, "Topics under /.well-known/mercure are reserved.");
        if (!auth_can_publish(claims, topics[i].p, topics[i].len))
            return fail(err, 403, "WWW-Authenticate: Bearer error=\"insufficient_scope\"\r\n",
                        "This token may not publish to this topic.");
    }
    out->update = u;
    return true;
}

const char *publish_query_token(char *query, size_t len, size_t *token_len)
{
    struct form_pair pairs[32];
    size_t n = 0;
    const char *token = NULL;
    *token_len = 0;
    query[len] = 0;
    if (!len || form_parse(query, len, pairs, 32, &n) != FORM_OK) return NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(pairs[i].key, "authorization") == 0) {
            token = pairs[i].value;
            *token_len = pairs[i].value_len;
        }
    return token;
}
