/* POST /.well-known/mercure: authenticate, decode and validate the form, build the event once,
 * submit it to the order authority, answer its id once stored (parked meanwhile: a worker never
 * waits). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/auth.h"
#include "common/rand.h"
#include "common/utf8.h"
#include "core/authority.h"
#include "core/event.h"
#include "http/cors.h"
#include "http/form.h"
#include "http/http.h"
#include "mercure/handlers.h"
#include "mercure/context.h"
#include "mercure/session.h"
#include "mercure/token.h"
#include "net/conn.h"
#include "server/server.h"
#include "server/worker.h"
#include "ssebroker/config.h"

#define FORM_CONTENT_TYPE   "application/x-www-form-urlencoded"
#define RESERVED_PATH       "/.well-known/mercure"
#define PUBLISH_SMALL_PAIRS 16

static void reply(struct conn *c, int status, const char *extra, const char *text, bool keep_alive)
{
    conn_respond_text(c, status, extra, text, !keep_alive);
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

static bool content_type_is_form(const struct http_request *r)
{
    size_t len;
    const char *ct = http_header_value(r, HDR_CONTENT_TYPE, &len);
    size_t fl = sizeof(FORM_CONTENT_TYPE) - 1;
    return ct && len >= fl && strncasecmp(ct, FORM_CONTENT_TYPE, fl) == 0 &&
           (len == fl || ct[fl] == ';' || ct[fl] == ' ');
}

/* Authenticates the publisher; on failure answers and returns NULL. The claims belong to the
 * connection's session. */
static const struct auth_claims *authenticate(struct mercure *m, struct conn *c,
                                              struct http_request *r, const char *qtoken,
                                              size_t qlen, bool keep_alive)
{
    size_t tlen;
    bool from_cookie;
    const char *token = token_find(m, r, qtoken, qlen, &tlen, &from_cookie);
    if (!token) {
        reply(c, 401, "WWW-Authenticate: Bearer\r\n", "Authorization required.", keep_alive);
        return NULL;
    }
    struct session *s = session_of(c);
    if (!s) {
        reply(c, 503, NULL, "Out of memory.", false);
        return NULL;
    }
    const struct auth_claims *claims =
        token_verify_publisher(m->pub_auth, &s->pub_token, token, tlen);
    if (!claims) {
        reply(c, 401, "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n", "Invalid token.",
              keep_alive);
        return NULL;
    }
    if (from_cookie) {
        /* A cookie travels with cross-site requests: only origins listed by name may use it. */
        size_t olen;
        const char *origin = http_header_value(r, HDR_ORIGIN, &olen);
        char cors[700];
        size_t cors_len;
        if (origin && cors_headers(m->cfg->cors_origins, r, cors, sizeof(cors), &cors_len) !=
                          CORS_WITH_CREDENTIALS) {
            reply(c, 403, NULL, "Origin not allowed to publish with a cookie.", keep_alive);
            return NULL;
        }
    }
    return claims;
}

static void acknowledge(struct worker *w, struct conn *c, const struct event *ev, bool keep_alive)
{
    STAT_ADD(&w->stats, publishes, 1);
    conn_respond(c, 200, "text/plain; charset=utf-8", NULL, ev->id, ev->id_len, !keep_alive);
}

static void overloaded(struct worker *w, struct conn *c, bool keep_alive)
{
    STAT_ADD(&w->stats, publish_rejected, 1);
    reply(c, 503, "Retry-After: 1\r\n", "The hub is overloaded, retry later.", keep_alive);
}

/* The answer to a publish once its outcome is known. */
static void answer(struct worker *w, struct pending_publish *pp, enum authority_result res)
{
    if (res == AUTHORITY_STORED) {
        acknowledge(w, pp->conn, pp->ev, pp->keep_alive);
    } else if (res == AUTHORITY_FAILED) {
        /* Not stored, so not acknowledged and never delivered: the publisher may send it again. */
        STAT_ADD(&w->stats, publish_rejected, 1);
        reply(pp->conn, 503, "Retry-After: 1\r\n",
              "The update could not be stored (the store is unreachable), retry later.",
              pp->keep_alive);
    } else {
        overloaded(w, pp->conn, pp->keep_alive);
    }
}

void pending_publish_free(struct pending_publish *pp)
{
    event_unref(pp->ev);
    free(pp);
}

/* Runs on the worker when an asynchronous store has decided (core/completion.h). */
static void stored(struct authority_ticket *t)
{
    struct pending_publish *pp = (struct pending_publish *)t;
    if (!pp->conn) { /* the publisher left meanwhile: nobody to answer */
        pending_publish_free(pp);
        return;
    }
    pp->completed = true; /* the loop's next retry of the parked request answers it */
}

/* A parked publish: it waits for bus room (submitted again here), or for the store's outcome. */
static bool parked_retry(struct worker *w, struct conn *c)
{
    struct mercure *m = w->srv->handler_ctx;
    struct session *s = c->session;
    struct pending_publish *pp = s->pending;
    enum authority_result res;
    if (pp->in_store) {
        if (!pp->completed) return false;
        res = pp->ticket.result;
    } else {
        res = authority_submit(m->authority, pp->ev, &pp->ticket);
        if (res == AUTHORITY_FULL) return false;
        if (res == AUTHORITY_PENDING) {
            pp->in_store = true;
            return false;
        }
    }
    answer(w, pp, res);
    s->pending = NULL;
    pending_publish_free(pp);
    return true;
}

static bool parked_expire(struct worker *w, struct conn *c)
{
    struct session *s = c->session;
    struct pending_publish *pp = s->pending;
    if (pp->in_store) return false; /* on its way to disk or Redis: its outcome will come */
    overloaded(w, c, pp->keep_alive);
    s->pending = NULL;
    pending_publish_free(pp);
    return true;
}

static const struct park_ops publish_park = {.retry = parked_retry, .expire = parked_expire};

void publish_handle(struct mercure *m, struct worker *w, struct conn *c, struct http_request *r,
                    char *query, size_t query_len, bool keep_alive)
{
    const struct sseb_config *cfg = m->cfg;
    const char *qtoken = NULL;
    size_t qtoken_len = 0;
    struct form_pair qpairs[32];
    size_t nq = 0;
    query[query_len] = 0;
    if (query_len && form_parse(query, query_len, qpairs, 32, &nq) == FORM_OK) {
        for (size_t i = 0; i < nq; i++)
            if (strcmp(qpairs[i].key, "authorization") == 0) {
                qtoken = qpairs[i].value;
                qtoken_len = qpairs[i].value_len;
            }
    }

    const struct auth_claims *claims = authenticate(m, c, r, qtoken, qtoken_len, keep_alive);
    if (!claims) return;

    /* Scratch sized to the request: small publishes (most of them) use the stack. */
    struct form_pair small_pairs[PUBLISH_SMALL_PAIRS], *pairs = small_pairs;
    struct sseb_str small_topics[PUBLISH_SMALL_PAIRS], *topics = small_topics;
    if (!content_type_is_form(r)) {
        reply(c, 400, NULL, "Content-Type must be application/x-www-form-urlencoded.", keep_alive);
        goto out;
    }
    size_t npairs = 0;
    if (!r->body.p && buf_append(&r->body, "", 0)) {
        reply(c, 503, NULL, "Out of memory.", false);
        goto out;
    }
    /* Topics, plus a few of each other field, repeated fields being ignored. */
    size_t max_pairs = form_pairs_bound(r->body.p, r->body.len);
    if (max_pairs > (size_t)cfg->max_topics + 64) max_pairs = (size_t)cfg->max_topics + 64;
    if (max_pairs > PUBLISH_SMALL_PAIRS) {
        pairs = malloc(max_pairs * sizeof(*pairs));
        topics = malloc(max_pairs * sizeof(*topics));
        if (!pairs || !topics) {
            reply(c, 503, NULL, "Out of memory.", false);
            goto out;
        }
    }
    enum form_status fs = form_parse(r->body.p, r->body.len, pairs, max_pairs, &npairs);
    if (fs == FORM_TOO_MANY) {
        reply(c, 400, NULL, "Too many \"topic\" parameters.", keep_alive);
        goto out;
    }
    if (fs != FORM_OK) {
        reply(c, 400, NULL, "Invalid form body: bad percent-encoding.", keep_alive);
        goto out;
    }

    struct sseb_update u = {.topics = topics};
    bool have_data = false, have_id = false, have_type = false, have_retry = false;
    for (size_t i = 0; i < npairs; i++) {
        struct form_pair *p = &pairs[i];
        struct sseb_str v = {p->value, p->value_len};
        if (strcmp(p->key, "topic") == 0) {
            if (u.ntopics == cfg->max_topics) {
                reply(c, 400, NULL, "Too many \"topic\" parameters.", keep_alive);
                goto out;
            }
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

    if (u.ntopics == 0) {
        reply(c, 400, NULL, "Missing \"topic\" parameter.", keep_alive);
        goto out;
    }
    for (size_t i = 0; i < u.ntopics; i++) {
        if (topics[i].len > cfg->max_selector_bytes) {
            reply(c, 400, NULL, "Topic too long.", keep_alive);
            goto out;
        }
        if (topics[i].len == 0 || !utf8_printable(topics[i].p, topics[i].len)) {
            reply(c, 400, NULL, "Invalid topic: empty, invalid UTF-8 or control characters.",
                  keep_alive);
            goto out;
        }
    }
    /* An event stream is UTF-8: bytes that are not would reach browsers as U+FFFD. */
    if ((have_data && !utf8_valid(u.data.p, u.data.len)) ||
        (have_id && !utf8_valid(u.id.p, u.id.len)) ||
        (have_type && !utf8_valid(u.type.p, u.type.len))) {
        reply(c, 400, NULL, "Invalid \"data\", \"id\" or \"type\": not UTF-8.", keep_alive);
        goto out;
    }
    if (have_id && (has_ctl_breaking_framing(u.id.p, u.id.len) || (u.id.len && u.id.p[0] == '#') ||
                    u.id.len > 1024)) {
        reply(c, 400, NULL, "Invalid \"id\": it must not start with # or contain CR, LF or NUL.",
              keep_alive);
        goto out;
    }
    if (have_type && has_ctl_breaking_framing(u.type.p, u.type.len)) {
        reply(c, 400, NULL, "Invalid \"type\": it must not contain CR, LF or NUL.", keep_alive);
        goto out;
    }
    if (have_retry) {
        bool ok = u.retry.len > 0 && u.retry.len <= 10;
        for (size_t i = 0; ok && i < u.retry.len; i++)
            ok = u.retry.p[i] >= '0' && u.retry.p[i] <= '9';
        if (!ok) {
            reply(c, 400, NULL, "Invalid \"retry\": it must be a number of milliseconds.",
                  keep_alive);
            goto out;
        }
    }
    for (size_t i = 0; i < u.ntopics; i++) {
        if (topic_reserved(topics[i].p, topics[i].len)) {
            reply(c, 403, NULL, "Topics under /.well-known/mercure are reserved.", keep_alive);
            goto out;
        }
        if (!auth_can_publish(claims, topics[i].p, topics[i].len)) {
            reply(c, 403, "WWW-Authenticate: Bearer error=\"insufficient_scope\"\r\n",
                  "This token may not publish to this topic.", keep_alive);
            goto out;
        }
    }

    char generated[RAND_URN_UUID_LEN + 1];
    if (u.id.len == 0) {
        rand_urn_uuid(generated);
        u.id.p = generated;
        u.id.len = RAND_URN_UUID_LEN;
    }
    struct event *ev = event_new(&u);
    if (!ev) {
        reply(c, 503, NULL, "Out of memory.", false);
        goto out;
    }
    struct session *s = session_of(c);
    struct pending_publish *pp = s ? calloc(1, sizeof(*pp)) : NULL;
    if (!pp) {
        event_unref(ev);
        reply(c, 503, NULL, "Out of memory.", false);
        goto out;
    }
    *pp = (struct pending_publish){.ticket = {.done = stored, .queue = &w->completions},
                                   .ev = ev,
                                   .conn = c,
                                   .keep_alive = keep_alive};
    enum authority_result res = authority_submit(m->authority, ev, &pp->ticket);
    if (res == AUTHORITY_FULL || res == AUTHORITY_PENDING) {
        /* Park it: the worker goes on serving (and consuming the bus, which makes room) and
         * answers once it is stored; without room within --publish-wait, 503. */
        pp->in_store = res == AUTHORITY_PENDING;
        s->pending = pp;
        STAT_ADD(&w->stats, publish_parked, 1);
        worker_park(w, c, &publish_park, w->now_ms + cfg->publish_wait_ms);
        goto out;
    }
    answer(w, pp, res);
    pending_publish_free(pp);

out:
    if (pairs != small_pairs) free(pairs);
    if (topics != small_topics) free(topics);
}
