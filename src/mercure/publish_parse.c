/* Publish validation (publish_parse.h): what a POST to the hub must hold before it becomes an
 * event. The order of the checks is the order of the answers clients see. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth.h"
#include "common/utf8.h"
#include "core/url.h"
#include "mercure/publish_parse.h"
#include "ssebroker/config.h"

#define FORM_CONTENT_TYPE "application/x-www-form-urlencoded"
#define RESERVED_PATH     "/.well-known/mercure"
/* The hub's URL when --resource-identifier is not set: its path is where the hub answers. */
#define DEFAULT_HUB_URL "http://mercure.invalid" RESERVED_PATH

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

/* memmem for the short needles here: glibc's sets up a two-way search first, which costs more
 * than the whole scan of a topic. */
static const char *find(const char *hay, size_t n, const char *needle, size_t m)
{
    if (!m) return hay;
    for (const char *p = hay, *end = hay + n; (size_t)(end - p) >= m;) {
        p = memchr(p, needle[0], (size_t)(end - p) - m + 1);
        if (!p) return NULL;
        if (memcmp(p + 1, needle + 1, m - 1) == 0) return p;
        p++;
    }
    return NULL;
}

/* draft-07's reserved-namespace test on the raw topic: its path (after "://" and the authority)
 * is /.well-known/mercure or under it, up to a '/', '?' or '#'. */
static bool topic_reserved(const char *s, size_t n)
{
    const char *path = s, *end = s + n;
    const char *scheme = find(s, n, "://", 3);
    if (scheme) {
        path = memchr(scheme + 3, '/', (size_t)(end - scheme - 3));
        if (!path) return false;
    }
    size_t rl = sizeof(RESERVED_PATH) - 1;
    if ((size_t)(end - path) < rl || memcmp(path, RESERVED_PATH, rl) != 0) return false;
    return path + rl == end || path[rl] == '/' || path[rl] == '?' || path[rl] == '#';
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9'                     ? c - '0'
           : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10
                                                    : -1;
}

/* RFC 3986 normalization of a path: percent-encoded unreserved characters decoded (dot segments
 * are gone already: the URL parser removes them, %2e spellings included). */
static void decode_unreserved(struct ustr *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hex_value(s[i + 1])) >= 0 &&
            (lo = hex_value(s[i + 2])) >= 0) {
            char c = (char)(hi << 4 | lo);
            bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                              (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                              c == '~';
            if (unreserved) {
                ustr_putc(out, c);
                i += 2;
                continue;
            }
        }
        ustr_putc(out, s[i]);
    }
}

/* Mercure 1.0's reserved-namespace test: the topic, resolved against the hub's URL, has a path
 * equal to the hub's or under it, whatever its scheme and authority. A topic that is not a URL
 * reference cannot name a hub path. */
static bool topic_reserved_resolved(const char *topic, size_t n, const char *hub)
{
    /* Most topics cannot reach the hub's path: they hold neither its last segment nor a
     * percent-escape that could spell it. */
    const char *last = strrchr(hub, '/');
    size_t last_len = last ? strlen(last + 1) : 0;
    if (last_len && !memchr(topic, '%', n) && !find(topic, n, last + 1, last_len)) return false;
    struct url base, url;
    url_init(&base);
    url_init(&url);
    struct ustr path = {0}, hub_path = {0};
    bool reserved = false;
    if (url_parse(&base, hub, strlen(hub), NULL, URL_STATE_NONE) == URL_OK &&
        url_parse(&url, topic, n, &base, URL_STATE_NONE) == URL_OK && !url.opaque_path) {
        decode_unreserved(&path, ustr_z(&url.path), url.path.len);
        decode_unreserved(&hub_path, ustr_z(&base.path), base.path.len);
        const char *p = ustr_z(&path), *h = ustr_z(&hub_path);
        size_t hl = strlen(h);
        reserved =
            !path.oom && !hub_path.oom && strncmp(p, h, hl) == 0 && (p[hl] == 0 || p[hl] == '/');
    }
    ustr_free(&path);
    ustr_free(&hub_path);
    url_release(&url);
    url_release(&base);
    return reserved;
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
static bool decode(char *body, size_t len, const struct sseb_config *cfg, int limit_status,
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
    if (fs == FORM_TOO_MANY) return fail(err, limit_status, NULL, "Too many \"topic\" parameters.");
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
    /* The rules are the union of both drafts for every publisher (updates are shared by both
     * kinds of subscriber); the status codes follow the token's dialect: Mercure 1.0 answers a
     * limit with 413 and a reserved topic with 400, draft-07 with 400 and 403. */
    bool d08 = claims && claims->dialect == AUTH_DIALECT_08;
    int limit_status = d08 ? 413 : 400;
    size_t npairs = 0;
    if (!decode(body, len, cfg, limit_status, out, &npairs, err)) return false;

    struct sseb_str *topics = out->topics;
    struct sseb_update u = {.topics = topics};
    bool have_data = false, have_id = false, have_type = false, have_retry = false;
    for (size_t i = 0; i < npairs; i++) {
        struct form_pair *p = &out->pairs[i];
        struct sseb_str v = {p->value, p->value_len};
        if (strcmp(p->key, "topic") == 0) {
            if (u.ntopics == cfg->max_topics)
                return fail(err, limit_status, NULL, "Too many \"topic\" parameters.");
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
        if (topics[i].len > cfg->max_selector_bytes)
            return fail(err, limit_status, NULL, "Topic too long.");
        if (topics[i].len == 0 || !utf8_protocol_text(topics[i].p, topics[i].len))
            return fail(err, 400, NULL,
                        "Invalid topic: empty, invalid UTF-8, control or format characters.");
        if (topics[i].len == 1 && topics[i].p[0] == '*')
            return fail(err, 400, NULL,
                        "Invalid topic: \"*\" is reserved (it matches every topic).");
    }
    /* An event stream is UTF-8: bytes that are not would reach browsers as U+FFFD. */
    if ((have_data && !utf8_valid(u.data.p, u.data.len)) ||
        (have_id && !utf8_valid(u.id.p, u.id.len)) ||
        (have_type && !utf8_valid(u.type.p, u.type.len)))
        return fail(err, 400, NULL, "Invalid \"data\", \"id\" or \"type\": not UTF-8.");
    if (have_id && d08 && u.id.len > 1024)
        return fail(err, 413, NULL, "Invalid \"id\": longer than 1024 bytes.");
    if (have_id && (has_ctl_breaking_framing(u.id.p, u.id.len) || (u.id.len && u.id.p[0] == '#') ||
                    u.id.len > 1024))
        return fail(err, 400, NULL,
                    "Invalid \"id\": it must not start with # or contain CR, LF or NUL.");
    if (have_id && u.id.len == 8 && memcmp(u.id.p, "earliest", 8) == 0)
        return fail(err, 400, NULL, "Invalid \"id\": \"earliest\" is reserved for replay.");
    if (have_id && !utf8_protocol_text(u.id.p, u.id.len))
        return fail(err, 400, NULL, "Invalid \"id\": control or format characters.");
    if (have_type && has_ctl_breaking_framing(u.type.p, u.type.len))
        return fail(err, 400, NULL, "Invalid \"type\": it must not contain CR, LF or NUL.");
    if (have_type && u.type.len == 7 && memcmp(u.type.p, "mercure", 7) == 0)
        return fail(err, 400, NULL,
                    "Invalid \"type\": \"mercure\" is reserved for the hub's events.");
    if (have_type && !utf8_protocol_text(u.type.p, u.type.len))
        return fail(err, 400, NULL, "Invalid \"type\": control or format characters.");
    if (have_retry && !retry_valid(u.retry))
        return fail(err, 400, NULL, "Invalid \"retry\": it must be a number of milliseconds.");
    const char *hub = cfg->resource_identifier ? cfg->resource_identifier : DEFAULT_HUB_URL;
    for (size_t i = 0; i < u.ntopics; i++) {
        if (topic_reserved(topics[i].p, topics[i].len) ||
            topic_reserved_resolved(topics[i].p, topics[i].len, hub))
            return fail(err, d08 ? 400 : 403, NULL,
                        "Topics under /.well-known/mercure are reserved.");
        if (!auth_can_publish(claims, topics[i].p, topics[i].len)) {
            fail(err, 403, NULL, "This token may not publish to this topic.");
            err->insufficient_scope = true;
            return false;
        }
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
