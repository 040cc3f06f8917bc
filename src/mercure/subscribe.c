/* GET/HEAD /.well-known/mercure: validate the selectors, authenticate, answer the stream
 * headers, replay history after Last-Event-ID, then join the live stream with no gap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "common/utf8.h"
#include "core/archive.h"
#include "core/history.h"
#include "core/selector.h"
#include "http/cors.h"
#include "http/form.h"
#include "http/http.h"
#include "mercure/handlers.h"
#include "mercure/subscribe_parse.h"
#include "mercure/context.h"
#include "mercure/resource_metadata.h"
#include "mercure/routes.h"
#include "mercure/session.h"
#include "mercure/subscriptions.h"
#include "mercure/token.h"
#include "net/conn.h"
#include "server/fanout.h"
#include "server/server.h"
#include "server/stats.h"
#include "server/worker.h"
#include "ssebroker/config.h"

static const char stream_headers[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/event-stream\r\n"
    "Cache-Control: private, no-cache, no-store, must-revalidate, max-age=0\r\n"
    "X-Accel-Buffering: no\r\n";

static void bad_request(struct conn *c, const char *reason, bool keep_alive)
{
    conn_respond_text(c, 400, NULL, reason, !keep_alive);
}

/* Writes the stream's response head; returns -1 when out of memory. */
static int send_head(struct mercure *m, struct conn *c, struct http_request *r, bool head,
                     bool keep_alive, const char *last_id, size_t last_id_len)
{
    char cors[700];
    size_t cors_len;
    cors_headers(m->cfg->cors_origins, r, cors, sizeof(cors), &cors_len);
    size_t cap = sizeof(stream_headers) + cors_len + 2 * last_id_len + 96;
    char *out = malloc(cap);
    if (!out) return -1;
    size_t n = sizeof(stream_headers) - 1;
    memcpy(out, stream_headers, n);
    memcpy(out + n, cors, cors_len);
    n += cors_len;
    if (last_id) {
        /* Mercure 1.0 names it Mercure-Last-Event-ID; draft-07 clients read Last-Event-ID. */
        n += (size_t)snprintf(out + n, cap - n,
                              "Last-Event-ID: %.*s\r\nMercure-Last-Event-ID: %.*s\r\n",
                              (int)last_id_len, last_id, (int)last_id_len, last_id);
    }
    /* A stream ends when the connection closes; a HEAD answer has no body to delimit. */
    n += (size_t)snprintf(out + n, cap - n, "%s\r\n",
                          head && keep_alive ? "Content-Length: 0\r\n" : "Connection: close\r\n");
    return conn_write_owned(c, out, n);
}

/* Before a resume knows where its replay starts, it may wait, parked:
 * - for the archive (the log's files, the Redis Stream) to look up an id memory no longer holds,
 *   on the store's reader thread (it may read a record to verify the hit: a worker never touches
 *   the disk, nor the network to the store);
 * - for a shared store to catch up, when neither memory nor the archive knows the id: it may name
 *   an update this node has not read back yet (published on another node a moment ago). Once.
 * Either posts to the worker's completion queue; the request is then handled again from the top
 * (nothing of it has been touched: the id is read without decoding the query in place). */
struct pending_resume {
    struct archive_find f; /* first: the completion casts back; a sync uses f.ticket alone */
    struct worker *w;
    struct conn *conn; /* NULL once nobody waits: the posted answer frees it */
    bool posted;
    bool sync;         /* waited for the store to catch up, not for the archive */
    bool store_waited; /* the store was waited for, now or in an earlier wait */
    char id[];         /* f.id points here */
};

static void resume_posted(struct authority_ticket *t)
{
    struct pending_resume *pr = (struct pending_resume *)t;
    pr->posted = true;
    if (pr->conn)
        worker_park_ready(pr->w, pr->conn);
    else
        free(pr);
}

void pending_resume_release(struct pending_resume *pr)
{
    if (pr->posted)
        free(pr);
    else
        pr->conn = NULL; /* the store still holds it: its answer frees it */
}

static bool resume_again(void *ctx, struct worker *w, struct conn *c)
{
    struct http_request *r = c->req; /* s->resume holds the answer for the next pass */
    routes_dispatch(ctx, w, c, r, llhttp_should_keep_alive(&r->parser));
    return true;
}

static bool resume_expire(void *ctx, struct worker *w, struct conn *c)
{
    struct session *s = c->session; /* timed out, or a drain: the id is answered as unknown */
    s->resume_given_up = true;
    return resume_again(ctx, w, c);
}

static const struct park_ops resume_park = {.resume = resume_again, .expire = resume_expire};

/* What the waits decided, for the replay: nothing (look it up now), or found at seq, or not. */
struct resume_answer {
    bool decided, found;
    uint64_t seq; /* of the event with the id */
};

/* Parks c until the archive has looked id up (sync false) or the store has caught up. False when
 * out of memory: nothing was parked. */
static bool park_resume(struct mercure *m, struct worker *w, struct conn *c, const char *id,
                        size_t id_len, bool sync, bool store_waited)
{
    struct session *s;
    struct pending_resume *pr;
    if (!(s = session_of(c)) || !(pr = malloc(sizeof(*pr) + id_len))) return false;
    *pr = (struct pending_resume){.f = {.ticket = {.done = resume_posted, .queue = &w->completions},
                                        .id = pr->id,
                                        .id_len = id_len},
                                  .w = w,
                                  .conn = c,
                                  .sync = sync,
                                  .store_waited = store_waited || sync};
    memcpy(pr->id, id, id_len);
    s->resume = pr;
    if (sync) {
        STAT_ADD(&w->stats, resume_waits, 1);
        authority_sync(m->authority, &pr->f.ticket);
        worker_park(w, c, &resume_park, m, PARK_FOR_OUTCOME, w->now_ms + m->cfg->redis_timeout_ms);
    } else {
        archive_find(history_archive(m->history), &pr->f);
        worker_park(w, c, &resume_park, m, PARK_FOR_OUTCOME, INT64_MAX);
    }
    return true;
}

/* True when the request was parked (it comes back once what it waits for is there); otherwise
 * *ans says what earlier waits decided. */
static bool resume_wait(struct mercure *m, struct worker *w, struct conn *c, struct http_request *r,
                        const char *query, size_t query_len, struct resume_answer *ans)
{
    struct session *s = c->session;
    bool store_waited = false;
    if (s && s->resume && (s->resume->posted || s->resume_given_up)) { /* handled again */
        struct pending_resume *pr = s->resume;
        bool given_up = s->resume_given_up, sync = pr->sync;
        s->resume = NULL;
        s->resume_given_up = false;
        store_waited = pr->store_waited;
        *ans = (struct resume_answer){.decided = given_up || !sync,
                                      .found = !given_up && !sync && pr->f.found &&
                                               pr->f.ticket.result == AUTHORITY_STORED,
                                      .seq = pr->f.seq};
        bool parked = false;
        if (!given_up && !sync && !ans->found && !store_waited &&
            authority_can_sync(m->authority)) {
            /* The archive does not know it either: perhaps the store does, not read back yet. */
            parked = park_resume(m, w, c, pr->id, pr->f.id_len, true, true);
            if (parked) *ans = (struct resume_answer){0};
        }
        pending_resume_release(pr);
        if (parked || ans->decided) return parked;
        /* The store caught up: look again (memory, or the archive once more). */
    }
    size_t header_len = 0, len;
    const char *header = http_header_value(r, HDR_LAST_EVENT_ID, &header_len);
    char *scratch;
    const char *id = subscribe_resume_id(query, query_len, header, header_len, &scratch, &len);
    bool parked = false;
    if (id && len && !(len == 8 && !memcmp(id, "earliest", 8))) {
        uint64_t seq;
        switch (history_replay_lookup(m->history, id, len, &seq)) {
        case HISTORY_START_FOUND:
            break;
        case HISTORY_START_UNKNOWN:
            if (!store_waited && authority_can_sync(m->authority))
                parked = park_resume(m, w, c, id, len, true, true);
            break;
        case HISTORY_START_ARCHIVE:
            parked = park_resume(m, w, c, id, len, false, store_waited);
            break;
        }
    }
    free(scratch);
    return parked;
}

void subscribe_handle(struct mercure *m, struct worker *w, struct conn *c, struct http_request *r,
                      char *query, size_t query_len, bool head, bool keep_alive)
{
    struct resume_answer ans = {0};
    if (resume_wait(m, w, c, r, query, query_len, &ans)) return;
    const struct sseb_config *cfg = m->cfg;
    struct auth_claims *claims = NULL;
    size_t header_id_len = 0;
    const char *header_id = http_header_value(r, HDR_LAST_EVENT_ID, &header_id_len);
    struct subscribe_parsed req;
    struct parse_error err;
    if (!subscribe_parse(query, query_len, header_id, header_id_len, cfg, &req, &err)) {
        if (err.close)
            conn_respond(c, err.status, "text/plain", NULL, err.reason, strlen(err.reason), true);
        else
            bad_request(c, err.reason, keep_alive);
        goto out;
    }
    char **sels = req.sels;
    size_t *lens = req.lens, nsel = req.nsel;
    const char *query_token = req.query_token;
    size_t query_token_len = req.query_token_len;

    size_t tlen;
    bool from_cookie;
    const char *malformed;
    const char *token =
        token_find(m, r, query_token, query_token_len, &tlen, &from_cookie, &malformed);
    if (malformed) {
        conn_respond(c, 400, "text/plain; charset=utf-8",
                     bearer_challenge(m, BEARER_INVALID_REQUEST), malformed, strlen(malformed),
                     !keep_alive);
        goto out;
    }
    if (token) {
        const char *why;
        claims = calloc(1, sizeof(*claims));
        if (!claims ||
            !auth_verify(m->sub_auth, token, tlen, (long long)time(NULL), claims, &why)) {
            free(claims);
            claims = NULL;
            conn_respond(c, 401, "text/plain; charset=utf-8",
                         bearer_challenge(m, BEARER_INVALID_TOKEN), "Invalid token.", 14,
                         !keep_alive);
            goto out;
        }
    } else if (cfg->require_subscriber_token) {
        conn_respond(c, 401, "text/plain; charset=utf-8", bearer_challenge(m, BEARER_UNAUTHORIZED),
                     "Authorization required.", 23, !keep_alive);
        goto out;
    }

    /* Replay: an empty id asks for nothing. */
    const char *id = req.last_id;
    size_t id_len = req.last_id_len;
    bool want_replay = id && id_len > 0;

    bool earliest = want_replay && id_len == 8 && memcmp(id, "earliest", 8) == 0;
    uint64_t from_seq = 0;
    bool found = false;
    if (want_replay && !earliest && ans.decided)
        found = ans.found && history_replay_after(m->history, ans.seq, &from_seq);
    else if (want_replay) /* an id the archive has, when it could not be asked: unknown */
        found = history_replay_lookup(m->history, earliest ? NULL : id, earliest ? 0 : id_len,
                                      &from_seq) == HISTORY_START_FOUND;
    /* Never echo an id the client did not send; an unknown one becomes "earliest". */
    const char *answer_id = found && !earliest ? id : "earliest";
    size_t answer_len = answer_id == id ? id_len : 8;
    if (memchr(id ? id : "", '\r', id_len) || memchr(id ? id : "", '\n', id_len))
        answer_id = "earliest", answer_len = 8;
    /* An empty id asks for no replay: the stream starts after the newest update. */
    char newest[1100];
    if (req.id_asked && !want_replay) {
        history_last_id(m->history, newest, sizeof(newest)); /* "earliest" when empty */
        answer_id = newest;
        answer_len = strlen(newest);
    }
    bool answer_id_header = want_replay || req.id_asked;
    if (head) {
        /* The same Last-Event-ID as the GET would answer: never the raw id (CR/LF injection). */
        if (send_head(m, c, r, true, keep_alive, answer_id_header ? answer_id : NULL, answer_len)) {
            conn_kill(c);
            goto out;
        }
        if (!keep_alive) c->close_after = true;
        goto out;
    }
    /* Anonymous streams without the subscriptions API keep no session: an idle stream costs
     * its connection and nothing else. */
    struct session *s = c->session;
    if ((claims || m->subscriptions) && !(s = session_of(c))) {
        conn_kill(c);
        goto out;
    }
    if (send_head(m, c, r, false, false, answer_id_header ? answer_id : NULL, answer_len)) {
        conn_kill(c);
        goto out;
    }
    const struct auth_claims *reader = NULL;
    if (s) {
        token_cache_free(s->pub_token); /* a stream publishes nothing more */
        s->pub_token = NULL;
        s->claims = claims;
        claims = NULL;
        reader = s->claims;
    }
    if (stream_start(&w->fan, c, sels, lens, req.syntax, nsel, reader, reader ? reader->exp : 0,
                     w->now_ms)) {
        conn_kill(c);
        goto out;
    }
    if (found) stream_replay(&w->fan, c, from_seq, earliest);
    if (m->subscriptions) subscriptions_stream_started(m, w, c, req.syntax);

out:
    if (claims) {
        auth_claims_free(claims);
        free(claims);
    }
    subscribe_parsed_free(&req);
}
