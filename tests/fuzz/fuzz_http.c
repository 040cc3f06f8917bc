/* libFuzzer target: the HTTP request front (src/http.c on top of llhttp).
 *
 * Input: byte 0 chooses how the rest is cut into reads (0: one read; otherwise a pseudo-random
 * cut pattern seeded by it; bit 7 also tightens the limits), bytes 1.. are what a client sends on
 * one connection. The rest is fed the way worker.c's process_input does: request after request
 * on one http_request, reset between them, stopping at an error, at a stream (GET on the hub)
 * or at a request that does not keep the connection alive.
 *
 * Checked besides the sanitizers: the front always makes progress (no spin), reports a status the
 * broker can send on an error, keeps every header span inside its buffer, and completes the very
 * same requests (method, target, headers read, body) whether the bytes come in one read or in
 * many: a split point must never change what the broker sees. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http.h"
#include "http/response.h"
#include "ssebroker/config.h"

#define HUB_PATH "/.well-known/mercure"

struct transcript {
    uint64_t hash;
    unsigned requests;
    bool error;
};

static void mix(struct transcript *t, const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = t->hash ? t->hash : 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ULL;
    /* The length too, so that ("ab","c") and ("a","bc") differ. */
    for (size_t i = 0; i < sizeof(n); i++)
        h = (h ^ ((n >> (8 * i)) & 0xff)) * 1099511628211ULL;
    t->hash = h;
}

static void check_spans(const struct http_request *r)
{
    for (int h = 0; h < HDR_COUNT; h++) {
        if (!r->hdr[h].present) continue;
        if ((size_t)r->hdr[h].off + r->hdr[h].len > r->headers.len) abort();
        size_t len;
        const char *v = http_header_value(r, (enum http_header)h, &len);
        if (len && !v) abort();
    }
}

static bool status_ok(int status)
{
    switch (status) {
    case 0: /* a parse error: the worker answers 400 or 505 */
    case 413:
    case 414:
    case 431:
    case 503:
        return true;
    default:
        return false;
    }
}

/* One connection's worth of input, cut into reads of the given sizes (NULL: one read). */
static void run(const struct http_limits *lim, const uint8_t *data, size_t size, uint8_t seed,
                struct transcript *t)
{
    memset(t, 0, sizeof(*t));
    struct http_request *req = NULL;
    uint32_t rng = seed * 2654435761u + 1;
    size_t pos = 0;
    bool open = true;
    while (open && pos < size) {
        size_t chunk = size - pos;
        if (seed) {
            rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
            size_t max = (seed & 0x40) ? 4 : 64;
            size_t want = 1 + rng % max;
            if (want < chunk) chunk = want;
        }
        const char *p = (const char *)data + pos;
        size_t len = chunk;
        pos += chunk;
        /* process_input(w, c, p, len) */
        while (len) {
            if (!req) {
                req = malloc(sizeof(*req));
                if (!req) abort();
                http_request_init(req, lim);
            }
            bool error;
            size_t used = http_request_feed(req, p, len, &error);
            if (used > len) abort();
            p += used;
            len -= used;
            check_spans(req);
            if (error) {
                if (!status_ok(req->status)) abort();
                if (req->status && !req->reason) abort();
                /* The worker answers what the front decides; make sure that works too. */
                struct http_refusal no = http_request_refusal(req);
                if (!no.status || !no.reason) abort();
                size_t out_len;
                char *resp = http_response(no.status, "text/plain", NULL, no.reason,
                                           strlen(no.reason), HTTP_RESPONSE_CLOSE, &out_len);
                free(resp);
                t->error = true;
                open = false;
                break;
            }
            if (!req->complete) {
                /* Waiting for more: everything must have been consumed, or the loop spins. */
                if (len) abort();
                http_request_continue_due(req);
                break;
            }
            if (req->status) abort(); /* complete, yet a limit was hit */
            if (req->body.len > lim->max_body_bytes) abort();
            if (req->target.len > lim->max_header_bytes) abort();
            /* A completed request: what routes_dispatch would look at. */
            t->requests++;
            int method = req->parser.method;
            bool keep_alive = llhttp_should_keep_alive(&req->parser);
            mix(t, &method, sizeof(method));
            mix(t, &keep_alive, sizeof(keep_alive));
            mix(t, req->target.p ? req->target.p : "", req->target.len);
            for (int h = 0; h < HDR_COUNT; h++) {
                size_t hl = 0;
                const char *v = http_header_value(req, (enum http_header)h, &hl);
                mix(t, &h, sizeof(h));
                mix(t, v ? v : "", v ? hl : 0);
            }
            mix(t, req->body.p ? req->body.p : "", req->body.len);
            /* The handlers write a NUL after the query, inside the target buffer. */
            if (req->target.p && req->target.len >= req->target.cap) abort();
            if (req->target.p) req->target.p[req->target.len] = 0;
            size_t tlen = req->target.len;
            const char *target = req->target.p ? req->target.p : "";
            const char *q = memchr(target, '?', tlen);
            size_t plen = q ? (size_t)(q - target) : tlen;
            if ((method == HTTP_GET || method == HTTP_HEAD) && plen == sizeof(HUB_PATH) - 1 &&
                memcmp(target, HUB_PATH, plen) == 0 && method == HTTP_GET) {
                /* Became a stream: the request is freed, later bytes are ignored. */
                http_request_free(req);
                free(req);
                req = NULL;
                open = false;
                break;
            }
            http_request_reset(req);
            if (!keep_alive) {
                open = false;
                break;
            }
        }
    }
    if (req) {
        http_request_free(req);
        free(req);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static struct http_limits defaults;
    static const struct http_limits tight = {
        .max_header_bytes = 200, .max_headers = 6, .max_body_bytes = 40};
    static int ready;
    if (!ready) { /* the broker's own defaults */
        struct sseb_config cfg;
        sseb_config_defaults(&cfg);
        defaults = (struct http_limits){.max_header_bytes = cfg.max_header_bytes,
                                        .max_headers = cfg.max_headers,
                                        .max_body_bytes = cfg.max_body_bytes};
        ready = 1;
    }
    uint8_t seed = data[0];
    const struct http_limits *cfg = (seed & 0x80) ? &tight : &defaults;
    struct transcript whole, split;
    run(cfg, data + 1, size - 1, 0, &whole);
    if (seed & 0x7f) {
        run(cfg, data + 1, size - 1, seed & 0x7f, &split);
        if (whole.requests != split.requests || whole.hash != split.hash ||
            whole.error != split.error) {
            fprintf(stderr, "split-dependent parse: whole %u req err=%d, split %u req err=%d\n",
                    whole.requests, whole.error, split.requests, split.error);
            abort();
        }
    }
    return 0;
}
