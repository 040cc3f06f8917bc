/* CORS for the hub (--cors-origin): which origins may read answers, and with credentials. */
#ifndef SSEB_HTTP_CORS_H
#define SSEB_HTTP_CORS_H

#include <stddef.h>

struct http_request;

enum cors_grant {
    CORS_DENIED,     /* no Origin, no list, or an origin not in the list */
    CORS_ANY_ORIGIN, /* admitted only by "*": readable by any origin, never with credentials */
    CORS_WITH_CREDENTIALS, /* listed by name: credentials (cookies) allowed */
};

/* How the list (comma or space separated origins, "*" for any; NULL: CORS off) admits r's Origin.
 * Writes the response headers that say so to out (NUL-terminated, *len bytes, none when denied).
 * "*" never grants credentials: any web site could otherwise read a logged-in user's private
 * updates through their cookie. */
enum cors_grant cors_headers(const char *list, const struct http_request *r, char *out, size_t cap,
                             size_t *len);

/* The headers a granted preflight adds (methods, headers, max age). */
extern const char cors_preflight_headers[];

#endif
