/* Request routing and the small endpoints (health, readiness, metrics, CORS preflight). */
#ifndef SSEB_ROUTES_H
#define SSEB_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

struct worker;
struct conn;
struct http_request;

void routes_dispatch(struct worker *w, struct conn *c, struct http_request *r, bool keep_alive);
/* A stream started or ended (the subscriptions API hooks in here). */
void routes_stream_started(struct worker *w, struct conn *c);
void routes_stream_ended(struct worker *w, struct conn *c);

enum cors_grant {
    CORS_DENIED,     /* no Origin, no --cors-origin, or an origin not in the list */
    CORS_ANY_ORIGIN, /* admitted only by "*": readable by any origin, never with credentials */
    CORS_WITH_CREDENTIALS, /* listed by name: credentials (cookies) allowed */
};

/* Writes the CORS response headers for r's Origin to out (NUL-terminated, *len bytes; none when
 * denied) and says how the origin was admitted. */
enum cors_grant routes_cors_headers(const struct worker *w, const struct http_request *r, char *out,
                                    size_t cap, size_t *len);

/* Finds the request's token: Authorization: Bearer, then the `authorization` query parameter
 * (query_token, may be NULL), then the cookie. Returns NULL when none. *from_cookie tells
 * where it came from. */
const char *routes_find_token(const struct worker *w, const struct http_request *r,
                              const char *query_token, size_t query_len, size_t *len,
                              bool *from_cookie);

/* Handlers (subscribe.c, publish.c, metrics.c). query is the decoded-in-place query string. */
void subscribe_handle(struct worker *w, struct conn *c, struct http_request *r, char *query,
                      size_t query_len, bool head, bool keep_alive);
void publish_handle(struct worker *w, struct conn *c, struct http_request *r, char *query,
                    size_t query_len, bool keep_alive);
void metrics_handle(struct worker *w, struct conn *c, bool keep_alive);

struct publisher_auth;
void publisher_auth_free(struct publisher_auth *pa);

#endif
