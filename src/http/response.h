/* HTTP/1.1 responses as whole byte strings, ready to queue on a connection. */
#ifndef SSEB_HTTP_RESPONSE_H
#define SSEB_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

enum {
    HTTP_RESPONSE_CLOSE = 1, /* "Connection: close": the connection ends after this answer */
    HTTP_RESPONSE_HEAD = 2,  /* the answer to a HEAD: the headers of the GET, no body bytes */
};

/* The reason phrase of a status code ("Unknown" for codes the broker never sends). */
const char *http_status_text(int status);

/* Builds a whole response in a malloc'd buffer (*out_len bytes): status line, Content-Type,
 * Content-Length: body_len, "Connection: close" with HTTP_RESPONSE_CLOSE, extra (CRLF-terminated
 * header lines, may be NULL), then the body unless HTTP_RESPONSE_HEAD. NULL when out of memory. */
char *http_response(int status, const char *content_type, const char *extra, const char *body,
                    size_t body_len, unsigned flags, size_t *out_len);

#endif
