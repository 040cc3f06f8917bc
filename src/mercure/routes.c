#include "mercure/routes.h"

#include <stdio.h>
#include <string.h>

#include "core/authority.h"
#include "http/cors.h"
#include "http/http.h"
#include "mercure/handlers.h"
#include "mercure/context.h"
#include "mercure/resource_metadata.h"
#include "net/conn.h"
#include "server/server.h"
#include "ssebroker/config.h"

#define HUB_PATH "/.well-known/mercure"

static void preflight(struct mercure *m, struct conn *c, struct http_request *r, bool keep_alive)
{
    char cors[700];
    size_t n;
    cors_headers(m->cfg->cors_origins, r, cors, sizeof(cors), &n);
    if (n) snprintf(cors + n, sizeof(cors) - n, "%s", cors_preflight_headers);
    conn_respond(c, n ? 204 : 403, "text/plain", cors, NULL, 0, !keep_alive);
}

void routes_dispatch(struct mercure *m, struct worker *w, struct conn *c, struct http_request *r,
                     bool keep_alive)
{
    char *target = r->target.p ? r->target.p : (char *)"";
    size_t tlen = r->target.len;
    char *q = memchr(target, '?', tlen);
    size_t plen = q ? (size_t)(q - target) : tlen;
    char *query = q ? q + 1 : target + tlen;
    size_t qlen = q ? tlen - plen - 1 : 0;
    int method = r->parser.method;
    bool get = method == HTTP_GET || method == HTTP_HEAD;

#define PATH_IS(s) (plen == sizeof(s) - 1 && memcmp(target, s, plen) == 0)
    if (PATH_IS(HUB_PATH)) {
        if (get)
            subscribe_handle(m, w, c, r, query, qlen, method == HTTP_HEAD, keep_alive);
        else if (method == HTTP_POST)
            publish_handle(m, w, c, r, query, qlen, keep_alive);
        else if (method == HTTP_OPTIONS)
            preflight(m, c, r, keep_alive);
        else
            conn_respond_text(c, 405, "Allow: GET, HEAD, POST, OPTIONS\r\n", "Method not allowed.",
                              !keep_alive);
        return;
    }
    size_t sl = sizeof(HUB_PATH "/subscriptions") - 1;
    if (plen >= sl && memcmp(target, HUB_PATH "/subscriptions", sl) == 0 &&
        (plen == sl || target[sl] == '/')) {
        if (get)
            subscriptions_handle(m, w, c, r, target + sl, plen - sl, query, qlen, keep_alive);
        else if (method == HTTP_OPTIONS)
            preflight(m, c, r, keep_alive); /* a cross-origin reader sending Authorization */
        else
            conn_respond_text(c, 405, "Allow: GET, HEAD, OPTIONS\r\n", "Method not allowed.",
                              !keep_alive);
        return;
    }
    if (resource_metadata_path_is(m->metadata, target, plen)) {
        if (get)
            resource_metadata_handle(m, c, r, keep_alive);
        else if (method == HTTP_OPTIONS)
            preflight(m, c, r, keep_alive);
        else
            conn_respond_text(c, 405, "Allow: GET, HEAD, OPTIONS\r\n", "Method not allowed.",
                              !keep_alive);
        return;
    }
    if (PATH_IS("/") && get) {
        page_handle(c, keep_alive);
    } else if (PATH_IS("/healthz") && get) {
        conn_respond_text(c, 200, NULL, "ok\n", !keep_alive);
    } else if (PATH_IS("/readyz") && get) {
        const char *why = NULL;
        if (atomic_load_explicit(&m->srv->draining, memory_order_relaxed)) {
            conn_respond_text(c, 503, NULL, "draining\n", !keep_alive);
        } else if (!authority_ready(m->authority, &why)) {
            char body[96];
            snprintf(body, sizeof(body), "not ready: %s\n", why ? why : "store unavailable");
            conn_respond_text(c, 503, NULL, body, !keep_alive);
        } else {
            conn_respond_text(c, 200, NULL, "ready\n", !keep_alive);
        }
    } else if (PATH_IS("/metrics") && get) {
        metrics_handle(m, c, keep_alive);
    } else if (PATH_IS("/") || PATH_IS("/healthz") || PATH_IS("/readyz") || PATH_IS("/metrics")) {
        conn_respond_text(c, 405, "Allow: GET, HEAD\r\n", "Method not allowed.", !keep_alive);
    } else {
        conn_respond_text(c, 404, NULL, "Not found.", !keep_alive);
    }
#undef PATH_IS
}
