/* Where a request's token comes from (header, query, cookie), and the per-connection cache of a
 * publisher's verified token. */
#ifndef SSEB_MERCURE_TOKEN_H
#define SSEB_MERCURE_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

struct mercure;
struct http_request;
struct auth_claims;
struct auth_verifier;
struct publisher_token;

/* The request's token: Authorization: Bearer, then the `authorization` query parameter
 * (query_token, may be NULL; draft-07 only: ignored when its header says at+jwt or 07 is off),
 * then the 1.0 cookie (--access-token-cookie, while 08 is on), then the draft-07 cookie
 * (--cookie-name, while 07 is on). NULL when none. *from_cookie tells where it came from (a
 * cookie travels with cross-site requests: callers check the origin). NULL with *malformed set
 * (a reason) when the token's presentation is wrong (an Authorization header that is not
 * "Bearer <token>"; a 1.0 token in the URL is not read at all). The caller answers 400 with
 * bearer_challenge(m, BEARER_INVALID_REQUEST) (RFC 6750; Mercure 1.0's error rules). */
const char *token_find(const struct mercure *m, const struct http_request *r,
                       const char *query_token, size_t query_len, size_t *len, bool *from_cookie,
                       const char **malformed);

/* Verifies a publisher's token at now (seconds since the epoch), reusing the claims of the last
 * one this connection presented when it has the same bytes and the verifier the same generation
 * (publishers send the same token with every update, and verifying it costs more than the rest
 * of a publish): then only exp and nbf are checked again. Any other token is verified whole and
 * replaces the cached one; a refused token empties the cache. Returns the claims, owned by
 * *cache, or NULL when the token is invalid. */
const struct auth_claims *token_verify_publisher(const struct auth_verifier *v,
                                                 struct publisher_token **cache, const char *token,
                                                 size_t len, long long now);
/* Frees a cache (NULL: nothing); the connection's session does when it closes. */
void token_cache_free(struct publisher_token *cache);

#endif
