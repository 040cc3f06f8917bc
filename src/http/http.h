/* HTTP/1.1 request front on top of llhttp: collects what the broker needs from a request
 * (method, target, a few headers, body) under strict limits. Responses: http/response.h. */
#ifndef SSEB_HTTP_HTTP_H
#define SSEB_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "common/buf.h"

/* What one request may be: the HTTP front's only configuration (from --max-header-bytes,
 * --max-headers, --max-body-bytes). */
struct http_limits {
    size_t max_header_bytes; /* request line and headers */
    uint32_t max_headers;
    size_t max_body_bytes;
};

/* Headers the broker reads; anything else is only counted against the limits. */
enum http_header {
    HDR_AUTHORIZATION,
    HDR_COOKIE,
    HDR_LAST_EVENT_ID,
    HDR_CONTENT_TYPE,
    HDR_ORIGIN,
    HDR_ACCESS_CONTROL_REQUEST_METHOD,
    HDR_EXPECT,
    HDR_IF_NONE_MATCH,
    HDR_ACCEPT,
    HDR_COUNT,
    HDR_NONE = HDR_COUNT,
};

struct http_span {
    uint32_t off, len;
    bool present;
};

struct http_request {
    llhttp_t parser;
    const struct http_limits *limits;
    struct buf target;  /* request-target as sent: path and query */
    struct buf headers; /* values of the headers the broker reads, at spans */
    struct buf body;
    char field[40]; /* current header name as sent; longer names are irrelevant */
    size_t field_len;
    enum http_header current;
    struct http_span hdr[HDR_COUNT];
    size_t header_bytes;
    uint32_t nheaders;
    int status;         /* a limit was hit: the status to answer (413, 431, 414...) */
    const char *reason; /* and why */
    bool started;       /* the first byte of a request arrived */
    bool complete;      /* a whole request is ready for dispatch */
    bool chunked_body;
    bool continue_sent; /* "100 Continue" answered to Expect */
    /* Input read past the current request and not fed yet (kept by the connection's owner while
     * the request waits or the answers are over budget); survives http_request_reset. */
    struct buf unread;
};

void http_request_init(struct http_request *r, const struct http_limits *limits);
void http_request_free(struct http_request *r);
/* Forgets the previous request's data, keeping the buffers for the next one. */
void http_request_reset(struct http_request *r);

/* Feeds bytes; returns the number consumed. Stops early when a request is complete (then
 * r->complete is set; call again with the rest after dispatching it) or on an error (then
 * *error is set, with r->status/r->reason when a limit was hit, else a parse error). */
size_t http_request_feed(struct http_request *r, const char *data, size_t len, bool *error);

/* An answer the HTTP front decides on its own: status 0 means none (close without a word). */
struct http_refusal {
    int status;
    const char *reason; /* text/plain body */
};

/* After http_request_feed reported an error: a limit's status (413, 414, 431...), 505 for an
 * unsupported version, else 400. */
struct http_refusal http_request_refusal(const struct http_request *r);
/* The request stopped coming: the peer half-closed (timed_out false) or --header-timeout passed
 * (true). A request that had started gets 400 or 408 (the peer may still read why); none, a
 * quiet close. */
struct http_refusal http_request_abandoned(const struct http_request *r, bool timed_out);

/* The interim answer an incomplete request asking "Expect: 100-continue" is owed, once: true
 * (and marks it sent) when the caller must write HTTP_CONTINUE now. */
#define HTTP_CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"
bool http_request_continue_due(struct http_request *r);

static inline const char *http_header_value(const struct http_request *r, enum http_header h,
                                            size_t *len)
{
    if (!r->hdr[h].present) return NULL;
    *len = r->hdr[h].len;
    /* Present but empty, before any value was stored: no buffer yet (NULL + 0 is undefined). */
    return r->headers.p ? r->headers.p + r->hdr[h].off : "";
}

#endif
