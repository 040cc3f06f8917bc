/* GET/HEAD /.well-known/mercure: validate the selectors, authenticate, answer the stream
 * headers, replay history after Last-Event-ID, then join the live stream with no gap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "conn.h"
#include "event.h"
#include "form.h"
#include "history.h"
#include "http.h"
#include "routes.h"
#include "selector.h"
#include "server.h"
#include "worker.h"

#define SUBSCRIBE_SMALL_PAIRS 16

static const char stream_headers[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/event-stream\r\n"
    "Cache-Control: private, no-cache, no-store, must-revalidate, max-age=0\r\n"
    "X-Accel-Buffering: no\r\n";

static void bad_request(struct worker *w, struct conn *c, const char *reason, bool keep_alive)
{
    conn_respond(w, c, 400, "text/plain; charset=utf-8", NULL, reason, strlen(reason), !keep_alive);
}

static bool topic_matches_conn(const struct conn *c, const struct event *ev)
{
    for (uint16_t t = 0; t < ev->ntopics; t++)
        for (uint32_t i = 0; i < c->nsubs; i++)
            if (selector_match(c->subs[i].group->sel, ev->topics[t].s, ev->topics[t].len))
                return true;
    return false;
}

/* Writes the stream's response head; returns -1 when out of memory. */
static int send_head(struct worker *w, struct conn *c, struct http_request *r, bool head,
                     bool keep_alive, const char *last_id, size_t last_id_len)
{
    char cors[700];
    size_t cors_len;
    routes_cors_headers(w, r, cors, sizeof(cors), &cors_len);
    size_t cap = sizeof(stream_headers) + cors_len + last_id_len + 64;
    char *out = malloc(cap);
    if (!out) return -1;
    size_t n = sizeof(stream_headers) - 1;
    memcpy(out, stream_headers, n);
    memcpy(out + n, cors, cors_len);
    n += cors_len;
    if (last_id) {
        n += (size_t)snprintf(out + n, cap - n, "Last-Event-ID: %.*s\r\n", (int)last_id_len,
                              last_id);
    }
    /* A stream ends when the connection closes; a HEAD answer has no body to delimit. */
    n += (size_t)snprintf(out + n, cap - n, "%s\r\n",
                          head && keep_alive ? "Content-Length: 0\r\n" : "Connection: close\r\n");
    if (outq_push_owned(&c->out, out, n)) return -1;
    conn_mark_dirty(w, c);
    return 0;
}

void subscribe_handle(struct worker *w, struct conn *c, struct http_request *r, char *query,
                      size_t query_len, bool head, bool keep_alive)
{
    const struct sseb_config *cfg = &w->b->cfg;
    /* Scratch sized to the request: a few selectors (most subscriptions) use the stack. */
    struct form_pair small_pairs[SUBSCRIBE_SMALL_PAIRS], *pairs = small_pairs;
    char *small_sels[SUBSCRIBE_SMALL_PAIRS], **sels = small_sels;
    size_t small_lens[SUBSCRIBE_SMALL_PAIRS], *lens = small_lens;
    struct auth_claims *claims = NULL;
    size_t max_pairs = form_pairs_bound(query, query_len);
    if (max_pairs > (size_t)cfg->max_topics + 64) max_pairs = (size_t)cfg->max_topics + 64;
    if (max_pairs > SUBSCRIBE_SMALL_PAIRS) {
        pairs = malloc(max_pairs * sizeof(*pairs));
        sels = malloc(max_pairs * sizeof(*sels));
        lens = malloc(max_pairs * sizeof(*lens));
        if (!pairs || !sels || !lens) {
            conn_respond(w, c, 503, "text/plain", NULL, "Out of memory.", 14, true);
            goto out;
        }
    }
    size_t npairs = 0;
    query[query_len] = 0; /* the target buffer always has room for it */
    enum form_status fs = form_parse(query, query_len, pairs, max_pairs, &npairs);
    if (fs == FORM_TOO_MANY) {
        bad_request(w, c, "Too many \"topic\" parameters.", keep_alive);
        goto out;
    }
    if (fs != FORM_OK) {
        bad_request(w, c, "Invalid query string.", keep_alive);
        goto out;
    }

    size_t nsel = 0, template_cost = 0;
    const char *query_id = NULL, *query_token = NULL;
    size_t query_id_len = 0, query_token_len = 0;
    for (size_t i = 0; i < npairs; i++) {
        struct form_pair *p = &pairs[i];
        if (strcmp(p->key, "topic") == 0) {
            if (nsel == cfg->max_topics) {
                bad_request(w, c, "Too many \"topic\" parameters.", keep_alive);
                goto out;
            }
            if (p->value_len == 0) continue;
            if (p->value_len > cfg->max_selector_bytes) {
                bad_request(w, c, "Topic selector too long.", keep_alive);
                goto out;
            }
            if (!utf8_printable(p->value, p->value_len)) {
                bad_request(w, c, "Invalid topic selector: invalid UTF-8 or control characters.",
                            keep_alive);
                goto out;
            }
            bool dup = false;
            for (size_t j = 0; j < nsel && !dup; j++)
                dup = lens[j] == p->value_len && memcmp(sels[j], p->value, p->value_len) == 0;
            if (dup) continue;
            /* Templates are matched against every new topic: bound the work one subscriber may
             * add to each publish. */
            if (memchr(p->value, '{', p->value_len)) {
                struct selector *sel = selector_compile(p->value, p->value_len);
                if (!sel) {
                    conn_respond(w, c, 503, "text/plain", NULL, "Out of memory.", 14, true);
                    goto out;
                }
                template_cost += selector_cost(sel);
                selector_free(sel);
                if (template_cost > cfg->max_template_cost) {
                    bad_request(w, c, "Topic selectors too complex.", keep_alive);
                    goto out;
                }
            }
            sels[nsel] = p->value;
            lens[nsel++] = p->value_len;
        } else if (strcmp(p->key, "lastEventID") == 0 || strcmp(p->key, "Last-Event-ID") == 0) {
            /* draft-07 names the query parameter Last-Event-ID; the reference hub lastEventID */
            query_id = p->value;
            query_id_len = p->value_len;
        } else if (strcmp(p->key, "authorization") == 0) {
            query_token = p->value;
            query_token_len = p->value_len;
        }
    }
    if (nsel == 0) {
        bad_request(w, c, "Missing \"topic\" parameter.", keep_alive);
        goto out;
    }

    size_t tlen;
    bool from_cookie;
    const char *token = routes_find_token(w, r, query_token, query_token_len, &tlen, &from_cookie);
    if (token) {
        const char *why;
        claims = calloc(1, sizeof(*claims));
        if (!claims ||
            !auth_verify(w->b->sub_auth, token, tlen, (long long)time(NULL), claims, &why)) {
            free(claims);
            claims = NULL;
            conn_respond(w, c, 401, "text/plain; charset=utf-8",
                         "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n", "Invalid token.",
                         14, !keep_alive);
            goto out;
        }
    } else if (cfg->require_subscriber_token) {
        conn_respond(w, c, 401, "text/plain; charset=utf-8", "WWW-Authenticate: Bearer\r\n",
                     "Authorization required.", 23, !keep_alive);
        goto out;
    }

    /* Replay: the header wins over the query parameter; an empty id asks for nothing. */
    size_t id_len = 0;
    const char *id = http_header_value(r, HDR_LAST_EVENT_ID, &id_len);
    if (!id || id_len == 0) {
        id = query_id;
        id_len = query_id_len;
    }
    bool want_replay = id && id_len > 0;

    struct replay rp = {0};
    if (want_replay) {
        bool earliest = id_len == 8 && memcmp(id, "earliest", 8) == 0;
        if (history_replay(w->b->history, earliest ? REPLAY_EARLIEST : REPLAY_AFTER_ID, id, id_len,
                           &rp)) {
            conn_respond(w, c, 503, "text/plain", NULL, "Out of memory.", 14, true);
            goto out;
        }
    } else {
        rp.upto = history_last_seq(w->b->history);
    }
    /* Never echo an id the client did not send; an unknown one becomes "earliest". */
    const char *answer_id =
        rp.found && !(id_len == 8 && !memcmp(id, "earliest", 8)) ? id : "earliest";
    size_t answer_len = answer_id == id ? id_len : 8;
    if (memchr(id ? id : "", '\r', id_len) || memchr(id ? id : "", '\n', id_len))
        answer_id = "earliest", answer_len = 8;
    if (head) {
        /* The same Last-Event-ID as the GET would answer: never the raw id (CR/LF injection). */
        replay_release(&rp);
        if (send_head(w, c, r, true, keep_alive, want_replay ? answer_id : NULL, answer_len)) {
            conn_kill(w, c);
            goto out;
        }
        if (!keep_alive) c->close_after = true;
        goto out;
    }
    if (send_head(w, c, r, false, false, want_replay ? answer_id : NULL, answer_len)) {
        replay_release(&rp);
        conn_kill(w, c);
        goto out;
    }
    c->claims = claims;
    claims = NULL;
    uint64_t start = rp.n ? rp.events[0]->seq - 1 : rp.upto;
    if (worker_start_stream(w, c, sels, lens, nsel, start)) {
        replay_release(&rp);
        conn_kill(w, c);
        goto out;
    }
    for (size_t i = 0; i < rp.n; i++)
        if (topic_matches_conn(c, rp.events[i])) worker_deliver_replayed(w, c, rp.events[i]);
    if (c->last_seq < rp.upto) c->last_seq = rp.upto;
    replay_release(&rp);
    routes_stream_started(w, c);

out:
    if (claims) {
        auth_claims_free(claims);
        free(claims);
    }
    if (pairs != small_pairs) free(pairs);
    if (sels != small_sels) free(sels);
    if (lens != small_lens) free(lens);
}
