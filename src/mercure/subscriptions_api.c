/* The subscriptions API (Mercure "Active Subscriptions", both dialects): routes, authorization
 * by path, documents, the Link cursor, ETag and 304, CORS. Answers from a snapshot of the
 * registry (mercure/subscriptions.c). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "common/buf.h"
#include "http/cors.h"
#include "http/form.h"
#include "http/http.h"
#include "mercure/context.h"
#include "mercure/handlers.h"
#include "mercure/resource_metadata.h"
#include "mercure/subscription_record.h"
#include "mercure/subscriptions.h"
#include "mercure/token.h"
#include "net/conn.h"
#include "ssebroker/config.h"

#define HUB_PATH SUBS_HUB_PATH

/* The routes of the API. Segments after /subscriptions: none, one (draft-07 {topic}), two
 * (1.0 {match_type}/{match} when the first is "exact" or "urlpattern", else draft-07
 * {topic}/{subscriber}: the reference hub's rule, MERCURE-1.0.md Part B section 2 rule 10), three
 * (1.0 {match_type}/{match}/{subscriber}). */
enum api_route {
    API_ALL,       /* the whole collection, shaped by the token's dialect */
    API_07_TOPIC,  /* draft-07 /{topic} */
    API_07_ONE,    /* draft-07 /{topic}/{subscriber} */
    API_08_MATCH,  /* 1.0 /{match_type}/{match} */
    API_08_ONE,    /* 1.0 /{match_type}/{match}/{subscriber} */
    API_NOT_FOUND, /* a shape no enabled dialect has */
    API_BAD_TYPE,  /* 1.0 shape with an unknown matcher type: 400 */
    API_BAD_ENCODING,
};

#define API_MAX_SEGMENTS 3

struct api_request {
    enum api_route route;
    char *seg[API_MAX_SEGMENTS]; /* decoded, NUL-terminated (malloc'd) */
    long seg_len[API_MAX_SEGMENTS];
    size_t nseg;
    struct sub_filter filter;
};

/* Reads rest ("" or "/seg[/seg...]", each segment percent-encoded) into a route. Returns -1 when
 * out of memory. */
static int api_route_of(const struct sseb_config *cfg, const char *rest, size_t rest_len,
                        struct api_request *a)
{
    *a = (struct api_request){.route = API_ALL, .filter = {SUB_ANY, NULL, -1, NULL, -1}};
    bool d07 = cfg->dialects & SSEB_DIALECT_07, d08 = cfg->dialects & SSEB_DIALECT_08;
    if (rest_len <= 1) return 0; /* "/subscriptions" or "/subscriptions/" */
    const char *p = rest + 1, *end = rest + rest_len;
    for (;;) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        size_t n = slash ? (size_t)(slash - p) : (size_t)(end - p);
        if (a->nseg == API_MAX_SEGMENTS || n == 0) {
            a->route = API_NOT_FOUND;
            return 0;
        }
        char *dst = malloc(n + 1);
        if (!dst) return -1;
        a->seg[a->nseg] = dst; /* owned by a from here on (api_request_free) */
        long len = form_decode(dst, p, n, false);
        a->seg_len[a->nseg++] = len < 0 ? 0 : len;
        dst[len < 0 ? 0 : len] = 0;
        if (len < 0) {
            a->route = API_BAD_ENCODING;
            return 0;
        }
        if (!slash) break;
        p = slash + 1;
    }
    int kind = sub_kind_named(a->seg[0], a->seg_len[0]);
    struct sub_filter *f = &a->filter;
    switch (a->nseg) {
    case 1:
        a->route = d07 ? API_07_TOPIC : API_NOT_FOUND;
        break;
    case 2:
        a->route = kind != SUB_ANY && d08 ? API_08_MATCH : d07 ? API_07_ONE : API_BAD_TYPE;
        break;
    default:
        a->route = !d08 ? API_NOT_FOUND : kind != SUB_ANY ? API_08_ONE : API_BAD_TYPE;
        break;
    }
    if (a->route == API_07_TOPIC || a->route == API_07_ONE) {
        *f = (struct sub_filter){SUB_TOPIC, a->seg[0], a->seg_len[0], NULL, -1};
        if (a->route == API_07_ONE) f->subscriber = a->seg[1], f->sub_len = a->seg_len[1];
    } else if (a->route == API_08_MATCH || a->route == API_08_ONE) {
        *f = (struct sub_filter){kind, a->seg[1], a->seg_len[1], NULL, -1};
        if (a->route == API_08_ONE) f->subscriber = a->seg[2], f->sub_len = a->seg_len[2];
    }
    return 0;
}

static void api_request_free(struct api_request *a)
{
    for (size_t i = 0; i < a->nseg; i++)
        free(a->seg[i]);
}

/* Appends the id as an entity-tag's etagc bytes (RFC 9110 8.8.3): what is not one is
 * percent-encoded. */
static int append_etagc(struct buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        int r = ch < 0x21 || ch == '"' || ch == '%' || ch == 0x7f ? buf_printf(b, "%%%02X", ch)
                                                                  : buf_append(b, s, 1);
        if (r) return -1;
    }
    return 0;
}

/* Appends s as the inside of an RFC 8288 quoted-string. */
static int append_quoted(struct buf *b, const char *s)
{
    for (; *s; s++)
        if (((*s == '"' || *s == '\\') && buf_append(b, "\\", 1)) || buf_append(b, s, 1)) return -1;
    return 0;
}

/* The headers every answer of the API carries (200 and 304 alike): the entity-tag (last event
 * id, registry generation, representation), the reconciliation cursor on the rel="mercure" Link
 * (Mercure 1.0 "Subscription API"; harmless for draft-07 clients, who read lastEventID in the
 * body), CORS for listed origins with Link exposed to them. Returns 0, or -1 when out of memory. */
static int api_headers(struct mercure *m, struct http_request *r, const struct sub_snapshot *snap,
                       bool v08, struct buf *h)
{
    const char *hub = m->cfg->resource_identifier ? m->cfg->resource_identifier : HUB_PATH;
    char cors[700];
    size_t cors_len;
    cors_headers(m->cfg->cors_origins, r, cors, sizeof(cors), &cors_len);
    if (buf_append(h, "ETag: \"", 7) || append_etagc(h, snap->last_id) ||
        buf_printf(h,
                   ";%llu;%s\"\r\nCache-Control: must-revalidate\r\nLink: <%s>; rel=\"mercure\"; "
                   "last-event-id=\"",
                   (unsigned long long)snap->gen, v08 ? "08" : "07", hub) ||
        append_quoted(h, snap->last_id) ||
        buf_printf(h, "\"%s\r\n",
                   v08 ? "; type=\"mercure\"; content-type=\"application/json\"" : "") ||
        buf_append(h, cors, cors_len) ||
        (cors_len && buf_printf(h, "Access-Control-Expose-Headers: Link, ETag\r\n")))
        return -1;
    return 0;
}

/* True when the If-None-Match header lists the entity-tag at the start of h ("ETag: " ...). */
static bool not_modified(struct http_request *r, const struct buf *h)
{
    size_t len;
    const char *inm = http_header_value(r, HDR_IF_NONE_MATCH, &len);
    if (!inm) return false;
    const char *tag = h->p + 6, *tag_end = memchr(tag, '\r', h->len - 6);
    size_t tag_len = (size_t)(tag_end - tag);
    if (len == 1 && inm[0] == '*') return true;
    for (const char *p = inm, *end = inm + len; p < end;) {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        if (end - p >= 2 && p[0] == 'W' && p[1] == '/') p += 2; /* weak comparison (9110 13.1.2) */
        const char *q = p;
        while (q < end && *q != ',')
            q++;
        const char *e = q;
        while (e > p && e[-1] == ' ')
            e--;
        if ((size_t)(e - p) == tag_len && !memcmp(p, tag, tag_len)) return true;
        p = q;
    }
    return false;
}

/* An error answer, readable by listed origins (Echo reads a snapshot's status). */
static void api_error(struct mercure *m, struct conn *c, struct http_request *r, int status,
                      const char *extra, const char *text, bool keep_alive)
{
    char headers[700 + BEARER_CHALLENGE_MAX];
    size_t n;
    cors_headers(m->cfg->cors_origins, r, headers, 700, &n);
    snprintf(headers + n, sizeof(headers) - n, "%s", extra ? extra : "");
    conn_respond_text(c, status, headers, text, !keep_alive);
}

/* The answer's body: doc, and for a collection (snap not NULL) its "subscriptions" member, the
 * records' documents made when they were (sub_record_new), joined. Returns -1 when out of memory.
 */
static int document_body(json_t *doc, const struct sub_snapshot *snap, struct buf *out)
{
    char *head = json_dumps(doc, JSON_COMPACT);
    if (!head) return -1;
    size_t len = strlen(head);
    int rc = 0;
    if (!snap) {
        rc = buf_append(out, head, len);
    } else {
        /* head is "{...}" with at least id and type: its "}" gives way to the list. */
        rc = buf_append(out, head, len - 1) || buf_append(out, ",\"subscriptions\":[", 18);
        for (size_t i = 0; !rc && i < snap->n; i++)
            rc = (i && buf_append(out, ",", 1)) ||
                 buf_append(out, snap->recs[i]->doc, snap->recs[i]->doc_len);
        rc = rc || buf_append(out, "]}", 2);
    }
    free(head);
    return rc ? -1 : 0;
}

void subscriptions_handle(struct mercure *m, struct worker *w, struct conn *c,
                          struct http_request *r, const char *rest, size_t rest_len, char *query,
                          size_t query_len, bool keep_alive)
{
    (void)w;
    struct subscriptions *s = m->subscriptions;
    if (!s) {
        api_error(m, c, r, 404, NULL, "Subscriptions API not enabled.", keep_alive);
        return;
    }
    struct api_request a;
    if (api_route_of(m->cfg, rest, rest_len, &a)) {
        api_request_free(&a);
        conn_respond_text(c, 503, NULL, "Out of memory.", true);
        return;
    }
    if (a.route >= API_NOT_FOUND) {
        api_request_free(&a);
        if (a.route == API_NOT_FOUND)
            api_error(m, c, r, 404, NULL, "Not found.", keep_alive);
        else if (a.route == API_BAD_TYPE)
            api_error(m, c, r, 400, NULL, "Unknown matcher type: use \"exact\" or \"urlpattern\".",
                      keep_alive);
        else
            api_error(m, c, r, 400, NULL, "Invalid percent-encoding in the path.", keep_alive);
        return;
    }

    /* The draft-07 `authorization` query parameter (token_find ignores it for 1.0 tokens). */
    const char *qtoken = NULL;
    size_t qtoken_len = 0;
    struct buf target_copy = {0};
    if (buf_append(&target_copy, r->target.p, r->target.len)) {
        api_request_free(&a);
        conn_respond_text(c, 503, NULL, "Out of memory.", true);
        return;
    }
    struct form_pair qp[16];
    size_t nq = 0;
    if (query_len && form_parse(query, query_len, qp, 16, &nq) == FORM_OK)
        for (size_t i = 0; i < nq; i++)
            if (!strcmp(qp[i].key, "authorization"))
                qtoken = qp[i].value, qtoken_len = qp[i].value_len;
    size_t tlen;
    bool from_cookie;
    const char *malformed;
    const char *token = token_find(m, r, qtoken, qtoken_len, &tlen, &from_cookie, &malformed);
    struct auth_claims claims = {0};
    const char *why;
    if (malformed) {
        api_error(m, c, r, 400, bearer_challenge(m, BEARER_INVALID_REQUEST), malformed, keep_alive);
        buf_free(&target_copy);
        api_request_free(&a);
        return;
    }
    if (!token || !auth_verify(m->sub_auth, token, tlen, (long long)time(NULL), &claims, &why)) {
        api_error(m, c, r, 401,
                  bearer_challenge(m, token ? BEARER_INVALID_TOKEN : BEARER_UNAUTHORIZED),
                  "Unauthorized.", keep_alive);
        buf_free(&target_copy);
        api_request_free(&a);
        return;
    }
    /* Authorization follows the token's dialect (rule 12): a 1.0 token needs a subscribe grant on
     * the request's path alone, in relative form, as received (the same form as the event
     * topics, so one matcher covers both); a draft-07 token one of its selectors matching the
     * requested URL (with or without its query). */
    bool v08_token = claims.dialect == AUTH_DIALECT_08;
    size_t plen = target_copy.p ? strcspn(target_copy.p, "?") : 0;
    bool allowed = target_copy.p &&
                   (auth_can_subscribe(&claims, target_copy.p, plen) ||
                    (!v08_token && auth_can_subscribe(&claims, target_copy.p, target_copy.len)));
    auth_claims_free(&claims);
    if (!allowed) {
        api_error(m, c, r, 403, bearer_challenge(m, BEARER_INSUFFICIENT_SCOPE), "Forbidden.",
                  keep_alive);
        buf_free(&target_copy);
        api_request_free(&a);
        return;
    }
    /* The representation: the route's dialect; for the whole collection, the token's, unless
     * the client asks for JSON-LD (rule 11). */
    size_t accept_len;
    const char *accept = http_header_value(r, HDR_ACCEPT, &accept_len);
    bool wants_ld = accept && memmem(accept, accept_len, "application/ld+json", 19);
    bool v08 = a.route == API_08_MATCH || a.route == API_08_ONE ||
               (a.route == API_ALL && v08_token && !wants_ld);

    struct sub_snapshot snap;
    if (subscriptions_snapshot(m, &snap, &a.filter)) {
        buf_free(&target_copy);
        api_request_free(&a);
        conn_respond_text(c, 503, NULL, "Out of memory.", true);
        return;
    }
    json_t *doc = NULL;
    bool single = a.route == API_07_ONE || a.route == API_08_ONE;
    if (single) {
        if (snap.n) {
            doc = sub_record_json(snap.recs[0], true, true);
            if (!v08) json_object_set_new(doc, "lastEventID", json_string(snap.last_id));
        }
    } else {
        /* Each subscription keeps its own dialect's shape (rule 9), also in a collection. */
        doc = json_object();
        if (!v08) json_object_set_new(doc, "@context", json_string("https://mercure.rocks/"));
        json_object_set_new(doc, "id", json_stringn(target_copy.p, plen));
        json_object_set_new(doc, "type", json_string(v08 ? "subscriptions" : "Subscriptions"));
        if (!v08) json_object_set_new(doc, "lastEventID", json_string(snap.last_id));
        /* "subscriptions" comes last: spliced in from the records' documents (collection_body). */
    }
    buf_free(&target_copy);
    api_request_free(&a);
    if (!doc) {
        sub_snapshot_free(&snap);
        api_error(m, c, r, 404, NULL, "Not found.", keep_alive);
        return;
    }
    struct buf h = {0}, body = {0};
    if (api_headers(m, r, &snap, v08, &h)) {
        json_decref(doc);
        sub_snapshot_free(&snap);
        buf_free(&h);
        conn_respond_text(c, 503, NULL, "Out of memory.", true);
        return;
    }
    if (not_modified(r, &h)) {
        /* No body and no Content-Length: a 304 says the stored answer still holds. */
        struct buf out = {0};
        if (buf_printf(&out, "HTTP/1.1 304 Not Modified\r\n%s%s\r\n", h.p,
                       keep_alive ? "" : "Connection: close\r\n")) {
            buf_free(&out);
            conn_kill(c);
        } else if (conn_write_owned(c, out.p, out.len)) { /* it freed out */
            conn_kill(c);
        } else if (!keep_alive) {
            c->close_after = true;
        }
    } else if (document_body(doc, single ? NULL : &snap, &body)) {
        conn_respond_text(c, 503, NULL, "Out of memory.", true);
    } else {
        conn_respond(c, 200, v08 ? "application/json" : "application/ld+json", h.p, body.p,
                     body.len, !keep_alive);
    }
    json_decref(doc);
    sub_snapshot_free(&snap);
    buf_free(&body);
    buf_free(&h);
}
