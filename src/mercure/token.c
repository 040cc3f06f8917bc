#include "mercure/token.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth.h"
#include "http/cookie.h"
#include "http/http.h"
#include "mercure/context.h"
#include "ssebroker/config.h"

/* The last token a connection published with, verified: its bytes (compared whole, never by a
 * hash alone), the generation of the verifier that accepted it, and its claims. */
struct publisher_token {
    char *token;
    size_t len;
    unsigned long long generation;
    struct auth_claims claims;
};

const char *token_find(const struct mercure *m, const struct http_request *r,
                       const char *query_token, size_t query_len, size_t *len, bool *from_cookie,
                       const char **malformed)
{
    *from_cookie = false;
    *malformed = NULL;
    size_t alen;
    const char *auth = http_header_value(r, HDR_AUTHORIZATION, &alen);
    if (auth) {
        size_t skip = 7;
        if (alen > 7 && strncasecmp(auth, "Bearer ", 7) == 0) {
            while (skip < alen && auth[skip] == ' ')
                skip++;
        }
        if (skip == alen || alen <= 7 || strncasecmp(auth, "Bearer ", 7) != 0) {
            *malformed = "The Authorization header must be \"Bearer\" followed by a token.";
            return NULL;
        }
        *len = alen - skip;
        return auth + skip;
    }
    /* A token in the URL is draft-07 only: never a 1.0 (at+jwt) one (Mercure 1.0 hubs do not
     * accept it: the request is then anonymous), never with 07 off. */
    if (query_token && (m->cfg->dialects & SSEB_DIALECT_07) &&
        auth_token_dialect(query_token, query_len) != AUTH_DIALECT_08) {
        *len = query_len;
        return query_token;
    }
    /* The 1.0 cookie, then draft-07's: each only while its dialect is served. Whichever cookie
     * it came in, a token is judged by its own dialect's rules (auth.h). */
    size_t clen;
    const char *cookie = http_header_value(r, HDR_COOKIE, &clen);
    const char *val;
    if (cookie && (m->cfg->dialects & SSEB_DIALECT_08) &&
        cookie_find(cookie, clen, m->cfg->access_token_cookie, &val, len)) {
        *from_cookie = true;
        return val;
    }
    if (cookie && (m->cfg->dialects & SSEB_DIALECT_07) &&
        cookie_find(cookie, clen, m->cfg->cookie_name, &val, len)) {
        *from_cookie = true;
        return val;
    }
    return NULL;
}

void token_cache_free(struct publisher_token *pt)
{
    if (!pt) return;
    free(pt->token);
    auth_claims_free(&pt->claims);
    free(pt);
}

const struct auth_claims *token_verify_publisher(const struct auth_verifier *v,
                                                 struct publisher_token **cache, const char *token,
                                                 size_t len, long long now)
{
    struct publisher_token *pt = *cache;
    if (pt && pt->len == len && pt->generation == auth_verifier_generation(v) &&
        memcmp(pt->token, token, len) == 0) {
        /* The same bytes under the same keys and rules: only exp and nbf can have changed. */
        if (auth_claims_current(&pt->claims, now)) return &pt->claims;
    }
    token_cache_free(pt);
    *cache = NULL;
    pt = calloc(1, sizeof(*pt));
    const char *why;
    if (!pt || !auth_verify(v, token, len, now, &pt->claims, &why)) {
        free(pt);
        return NULL;
    }
    pt->token = malloc(len);
    if (pt->token) { /* without a copy the claims still serve this request, uncached next time */
        memcpy(pt->token, token, len);
        pt->len = len;
    }
    pt->generation = auth_verifier_generation(v);
    *cache = pt;
    return &pt->claims;
}
