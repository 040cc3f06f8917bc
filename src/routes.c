#include "routes.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "conn.h"
#include "http.h"
#include "server.h"
#include "subscriptions.h"
#include "worker.h"

#define HUB_PATH "/.well-known/mercure"

static void respond_text(struct worker *w, struct conn *c, int status, const char *text,
                         const char *extra, bool keep_alive)
{
    conn_respond(w, c, status, "text/plain; charset=utf-8", extra, text, strlen(text), !keep_alive);
}

/* How the configured list (comma or space separated) admits origin: by name, which allows
 * credentials, or only through "*", which never does (any web site could otherwise read a
 * logged-in user's private updates through their cookie). */
static enum cors_grant origin_grant(const char *list, const char *origin, size_t len)
{
    enum cors_grant grant = CORS_DENIED;
    const char *p = list;
    while (*p) {
        while (*p == ',' || *p == ' ')
            p++;
        const char *start = p;
        while (*p && *p != ',' && *p != ' ')
            p++;
        size_t n = (size_t)(p - start);
        if (n == len && memcmp(start, origin, len) == 0) return CORS_WITH_CREDENTIALS;
        if (n == 1 && *start == '*') grant = CORS_ANY_ORIGIN;
    }
    return grant;
}

enum cors_grant routes_cors_headers(const struct worker *w, const struct http_request *r, char *out,
                                    size_t cap, size_t *len)
{
    out[0] = 0;
    *len = 0;
    const char *list = w->b->cfg.cors_origins;
    size_t olen;
    const char *origin = http_header_value(r, HDR_ORIGIN, &olen);
    if (!list || !origin || olen == 0 || olen > 512 || memchr(origin, '\r', olen) ||
        memchr(origin, '\n', olen))
        return CORS_DENIED;
    enum cors_grant grant = origin_grant(list, origin, olen);
    int n = 0;
    if (grant == CORS_WITH_CREDENTIALS)
        n = snprintf(out, cap,
                     "Access-Control-Allow-Origin: %.*s\r\nAccess-Control-Allow-Credentials: "
                     "true\r\nVary: Origin\r\n",
                     (int)olen, origin);
    else if (grant == CORS_ANY_ORIGIN)
        n = snprintf(out, cap, "Access-Control-Allow-Origin: *\r\n");
    if (n <= 0 || (size_t)n >= cap) {
        out[0] = 0;
        return CORS_DENIED;
    }
    *len = (size_t)n;
    return grant;
}

const char *routes_find_token(const struct worker *w, const struct http_request *r,
                              const char *query_token, size_t query_len, size_t *len,
                              bool *from_cookie)
{
    *from_cookie = false;
    size_t alen;
    const char *auth = http_header_value(r, HDR_AUTHORIZATION, &alen);
    if (auth) {
        if (alen > 7 && strncasecmp(auth, "Bearer ", 7) == 0) {
            *len = alen - 7;
            return auth + 7;
        }
        *len = alen; /* another scheme: verification fails with a clear invalid_token */
        return auth;
    }
    if (query_token) {
        *len = query_len;
        return query_token;
    }
    size_t clen;
    const char *cookie = http_header_value(r, HDR_COOKIE, &clen);
    const char *val;
    if (cookie && auth_cookie_find(cookie, clen, w->b->cfg.cookie_name, &val, len)) {
        *from_cookie = true;
        return val;
    }
    return NULL;
}

static void preflight(struct worker *w, struct conn *c, struct http_request *r, bool keep_alive)
{
    char cors[700];
    size_t n;
    routes_cors_headers(w, r, cors, sizeof(cors), &n);
    if (n)
        snprintf(cors + n, sizeof(cors) - n,
                 "Access-Control-Allow-Methods: GET, POST, HEAD, OPTIONS\r\n"
                 "Access-Control-Allow-Headers: Authorization, Content-Type, Last-Event-ID, "
                 "Cache-Control\r\nAccess-Control-Max-Age: 3600\r\n");
    conn_respond(w, c, n ? 204 : 403, "text/plain", cors, NULL, 0, !keep_alive);
}

void routes_dispatch(struct worker *w, struct conn *c, struct http_request *r, bool keep_alive)
{
    char *target = r->target.p ? r->target.p : (char *)"";
    size_t tlen = r->target.len;
    char *q = memchr(target, '?', tlen);
    size_t plen = q ? (size_t)(q - target) : tlen;
    char *query = q ? q + 1 : target + tlen;
    size_t qlen = q ? tlen - plen - 1 : 0;
    int method = r->parser.method;

#define PATH_IS(s) (plen == sizeof(s) - 1 && memcmp(target, s, plen) == 0)
    if (PATH_IS(HUB_PATH)) {
        if (method == HTTP_GET || method == HTTP_HEAD)
            subscribe_handle(w, c, r, query, qlen, method == HTTP_HEAD, keep_alive);
        else if (method == HTTP_POST)
            publish_handle(w, c, r, query, qlen, keep_alive);
        else if (method == HTTP_OPTIONS)
            preflight(w, c, r, keep_alive);
        else
            respond_text(w, c, 405, "Method not allowed.", "Allow: GET, HEAD, POST, OPTIONS\r\n",
                         keep_alive);
        return;
    }
    bool get = method == HTTP_GET || method == HTTP_HEAD;
    size_t sl = sizeof(HUB_PATH "/subscriptions") - 1;
    if (plen >= sl && memcmp(target, HUB_PATH "/subscriptions", sl) == 0 &&
        (plen == sl || target[sl] == '/')) {
        if (get)
            subscriptions_handle(w, c, r, target + sl, plen - sl, query, qlen, keep_alive);
        else
            respond_text(w, c, 405, "Method not allowed.", "Allow: GET, HEAD\r\n", keep_alive);
        return;
    }
    if (PATH_IS("/") && get) {
        extern const unsigned char sseb_page_html[];
        extern const size_t sseb_page_html_len;
        conn_respond(w, c, 200, "text/html; charset=utf-8",
                     "X-Content-Type-Options: nosniff\r\nCache-Control: no-cache\r\n",
                     (const char *)sseb_page_html, sseb_page_html_len, !keep_alive);
    } else if (PATH_IS("/healthz") && get) {
        respond_text(w, c, 200, "ok\n", NULL, keep_alive);
    } else if (PATH_IS("/readyz") && get) {
        if (atomic_load_explicit(&w->b->draining, memory_order_relaxed))
            respond_text(w, c, 503, "draining\n", NULL, keep_alive);
        else
            respond_text(w, c, 200, "ready\n", NULL, keep_alive);
    } else if (PATH_IS("/metrics") && get) {
        metrics_handle(w, c, keep_alive);
    } else if (PATH_IS("/") || PATH_IS("/healthz") || PATH_IS("/readyz") || PATH_IS("/metrics")) {
        respond_text(w, c, 405, "Method not allowed.", "Allow: GET, HEAD\r\n", keep_alive);
    } else {
        respond_text(w, c, 404, "Not found.", NULL, keep_alive);
    }
#undef PATH_IS
}

void routes_stream_started(struct worker *w, struct conn *c)
{
    if (w->b->subscriptions) subscriptions_stream_started(w, c);
}

void routes_stream_ended(struct worker *w, struct conn *c)
{
    if (w->b->subscriptions) subscriptions_stream_ended(w, c);
}
