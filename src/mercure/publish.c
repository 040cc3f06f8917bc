/* POST /.well-known/mercure: authenticate, validate the form (publish_parse.c), build the event
 * once, submit it to the order authority, answer its id once stored (parked meanwhile: a worker
 * never waits). */
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
#include "mercure/publish_parse.h"
#include "mercure/resource_metadata.h"
#include "mercure/context.h"
#include "mercure/session.h"
#include "mercure/token.h"
#include "net/conn.h"
#include "server/server.h"
#include "server/worker.h"
#include "ssebroker/config.h"

/* Every answer carries the CORS headers of its request (c->req, kept while a publish is parked):
 * a listed origin's browser reads its whisper's id, and the 401 that makes Echo re-authenticate
 * and retry. Without an Origin or a --cors-origin list this adds nothing. */
static void respond(struct mercure *m, struct conn *c, int status, const char *extra,
                    const char *body, size_t len, bool close)
{
    char headers[700 + BEARER_CHALLENGE_MAX];
    size_t n = 0;
    /* The common case (no list, or a publisher that is not a browser) formats nothing. */
    if (m->cfg->cors_origins && c->req)
        cors_headers(m->cfg->cors_origins, c->req, headers, 700, &n);
    if (n) snprintf(headers + n, sizeof(headers) - n, "%s", extra ? extra : "");
    conn_respond(c, status, "text/plain; charset=utf-8", n ? headers : extra, body, len, close);
}

static void reply(struct mercure *m, struct conn *c, int status, const char *extra,
                  const char *text, bool keep_alive)
{
    respond(m, c, status, extra, text, strlen(text), !keep_alive);
}

/* Authenticates the publisher; on failure answers and returns NULL. The claims belong to the
 * connection's session. */
static const struct auth_claims *authenticate(struct mercure *m, struct conn *c,
                                              struct http_request *r, const char *qtoken,
                                              size_t qlen, bool keep_alive)
{
    size_t tlen;
    bool from_cookie;
    const char *malformed;
    const char *token = token_find(m, r, qtoken, qlen, &tlen, &from_cookie, &malformed);
    if (malformed) {
        reply(m, c, 400, bearer_challenge(m, BEARER_INVALID_REQUEST), malformed, keep_alive);
        return NULL;
    }
    if (!token) {
        reply(m, c, 401, bearer_challenge(m, BEARER_UNAUTHORIZED), "Authorization required.",
              keep_alive);
        return NULL;
    }
    struct session *s = session_of(c);
    if (!s) {
        reply(m, c, 503, NULL, "Out of memory.", false);
        return NULL;
    }
    const struct auth_claims *claims =
        token_verify_publisher(m->pub_auth, &s->pub_token, token, tlen, (long long)time(NULL));
    if (!claims) {
        reply(m, c, 401, bearer_challenge(m, BEARER_INVALID_TOKEN), "Invalid token.", keep_alive);
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
            reply(m, c, 403, NULL, "Origin not allowed to publish with a cookie.", keep_alive);
            return NULL;
        }
    }
    return claims;
}

static void acknowledge(struct mercure *m, struct worker *w, struct conn *c, const struct event *ev,
                        bool keep_alive)
{
    STAT_ADD(&w->stats, publishes, 1);
    respond(m, c, 200, NULL, ev->id, ev->id_len, !keep_alive);
}

static void overloaded(struct mercure *m, struct worker *w, struct conn *c, bool keep_alive)
{
    STAT_ADD(&w->stats, publish_rejected, 1);
    reply(m, c, 503, "Retry-After: 1\r\n", "The hub is overloaded, retry later.", keep_alive);
}

/* The answer to a publish once its outcome is known. */
static void answer(struct mercure *m, struct worker *w, struct pending_publish *pp,
                   enum authority_result res)
{
    if (res == AUTHORITY_STORED) {
        acknowledge(m, w, pp->conn, pp->ev, pp->keep_alive);
    } else if (res == AUTHORITY_TOO_LARGE) {
        STAT_ADD(&w->stats, publish_rejected, 1);
        reply(m, pp->conn, 413, NULL,
              "The update is too large to be stored: its record (topics, id and data as SSE, up "
              "to 7 bytes per line break) would exceed 512MiB.",
              pp->keep_alive);
    } else if (res == AUTHORITY_FAILED) {
        /* Not stored, so not acknowledged and never delivered: the publisher may send it again. */
        STAT_ADD(&w->stats, publish_rejected, 1);
        reply(m, pp->conn, 503, "Retry-After: 1\r\n",
              "The update could not be stored (the store is unreachable), retry later.",
              pp->keep_alive);
    } else if (res == AUTHORITY_UNCONFIRMED) {
        /* It may be stored, and may still be delivered once replicated. */
        STAT_ADD(&w->stats, publish_rejected, 1);
        reply(m, pp->conn, 503, "Retry-After: 1\r\n",
              "The update is not known to be replicated (--redis-wait-replicas), retry later.",
              pp->keep_alive);
    } else {
        overloaded(m, w, pp->conn, pp->keep_alive);
    }
}

void pending_publish_free(struct pending_publish *pp)
{
    event_unref(pp->ev);
    free(pp);
}

/* Runs on the worker when an asynchronous store has decided (core/completion.h): the parked
 * publish is answered in the loop's next pass. */
static void stored(struct authority_ticket *t)
{
    struct pending_publish *pp = (struct pending_publish *)t;
    pp->completed = true;
    if (!pp->conn) { /* the publisher left meanwhile: nobody to answer */
        pending_publish_free(pp);
        return;
    }
    worker_park_ready(pp->w, pp->conn);
}

/* A parked publish: its outcome came, or it waits for bus room (submitted again here). */
static bool parked_resume(void *ctx, struct worker *w, struct conn *c)
{
    struct mercure *m = ctx;
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
            worker_park_rewait(w, c, PARK_FOR_OUTCOME);
            return false;
        }
    }
    answer(m, w, pp, res);
    s->pending = NULL;
    pending_publish_free(pp);
    return true;
}

static bool parked_expire(void *ctx, struct worker *w, struct conn *c)
{
    struct mercure *m = ctx;
    struct session *s = c->session;
    struct pending_publish *pp = s->pending;
    if (pp->in_store) return false; /* on its way to disk or Redis: its outcome will come */
    overloaded(m, w, c, pp->keep_alive);
    s->pending = NULL;
    pending_publish_free(pp);
    return true;
}

static const struct park_ops publish_park = {.resume = parked_resume, .expire = parked_expire};

void publish_handle(struct mercure *m, struct worker *w, struct conn *c, struct http_request *r,
                    char *query, size_t query_len, bool keep_alive)
{
    size_t qtoken_len;
    const char *qtoken = publish_query_token(query, query_len, &qtoken_len);
    const struct auth_claims *claims = authenticate(m, c, r, qtoken, qtoken_len, keep_alive);
    if (!claims) return;

    size_t ct_len = 0;
    const char *ct = http_header_value(r, HDR_CONTENT_TYPE, &ct_len);
    struct publish_parsed req;
    struct parse_error err;
    if (!publish_parse(r->body.p, r->body.len, ct, ct_len, m->cfg, claims, &req, &err)) {
        respond(m, c, err.status,
                err.insufficient_scope ? bearer_challenge(m, BEARER_INSUFFICIENT_SCOPE)
                                       : err.header,
                err.reason, strlen(err.reason), err.close || !keep_alive);
        goto out;
    }

    struct sseb_update u = req.update;
    char generated[RAND_EVENT_ID_MAX + 1];
    if (u.id.len == 0) {
        u.id.len = rand_event_id(m->cfg->event_ids == SSEB_EVENT_IDS_UUID, generated);
        u.id.p = generated;
    }
    struct event *ev = event_new(&u);
    if (!ev) {
        reply(m, c, 503, NULL, "Out of memory.", false);
        goto out;
    }
    struct session *s = session_of(c);
    struct pending_publish *pp = s ? calloc(1, sizeof(*pp)) : NULL;
    if (!pp) {
        event_unref(ev);
        reply(m, c, 503, NULL, "Out of memory.", false);
        goto out;
    }
    *pp = (struct pending_publish){.ticket = {.done = stored, .queue = &w->completions},
                                   .ev = ev,
                                   .w = w,
                                   .conn = c,
                                   .keep_alive = keep_alive};
    enum authority_result res = authority_submit(m->authority, ev, &pp->ticket);
    if (res == AUTHORITY_FULL || res == AUTHORITY_PENDING) {
        /* Park it: the worker goes on serving (and consuming the bus, which makes room) and
         * answers once it is stored; without room within --publish-wait, 503. */
        pp->in_store = res == AUTHORITY_PENDING;
        s->pending = pp;
        STAT_ADD(&w->stats, publish_parked, 1);
        worker_park(w, c, &publish_park, m, pp->in_store ? PARK_FOR_OUTCOME : PARK_FOR_BUS_ROOM,
                    w->now_ms + m->cfg->publish_wait_ms);
        goto out;
    }
    answer(m, w, pp, res);
    pending_publish_free(pp);

out:
    publish_parsed_free(&req);
}
