/* How a request parser (publish_parse.h, subscribe_parse.h) says no: the status, the reason the
 * client reads, and what the answer needs besides. */
#ifndef SSEB_MERCURE_PARSE_ERROR_H
#define SSEB_MERCURE_PARSE_ERROR_H

#include <stdbool.h>

struct parse_error {
    int status;         /* 400, 403, or 503 when out of memory */
    const char *header; /* extra header lines ("Name: value\r\n"), or NULL */
    /* a valid token that does not allow the request: the answer carries the Bearer
     * insufficient_scope challenge (resource_metadata.h) */
    bool insufficient_scope;
    const char *reason; /* the plain-text body (static, or in detail) */
    bool close;         /* answer, then close (out of memory) */
    char detail[200];   /* room for a reason that names what was wrong */
};

#endif
