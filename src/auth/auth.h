/* JWT verification (compact JWS) for publishers and subscribers, Mercure claims: keys.c loads
 * the keys, jws.c checks signatures, claims.c reads what a draft-07 token allows, token08.c
 * checks a Mercure 1.0 token (at+jwt) and details.c reads its authorization_details.
 * Thread-safe: a verifier is immutable once built.
 *
 * The binding rule (Mercure 1.0 beside draft-07, never relaxed): a token whose header "typ" is
 * at+jwt is judged only by the 1.0 rules (trusted iss and only its keys, aud, exp required, nbf)
 * and only its authorization_details grant anything; any other token is judged only by the
 * draft-07 rules, only its "mercure" claim grants anything, and it is accepted only while
 * draft-07 is enabled.
 *
 * Answers, for the caller (Mercure 1.0 section "Error Responses"):
 *   - no token where one is needed: 401 with a bare `WWW-Authenticate: Bearer`;
 *   - auth_verify false: 401 `error="invalid_token"` (every reason alike: the reason is for logs);
 *   - verified but auth_can_publish / auth_can_subscribe false: 403 `error="insufficient_scope"`.
 * claims.dialect tells which rules judged the token (also set when auth_verify fails, once the
 * header could be read), e.g. to pick draft-07's or 1.0's status codes. */
#ifndef SSEB_AUTH_AUTH_H
#define SSEB_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/selector.h"

/* Which rules a token is judged by: its header "typ" decides (at+jwt: 1.0). */
enum auth_dialect {
    AUTH_DIALECT_NONE = 0, /* not known: the token's header could not be read */
    AUTH_DIALECT_07,       /* draft-07 (hub 0.x): the "mercure" claim */
    AUTH_DIALECT_08,       /* draft-08 (Mercure 1.0): at+jwt with authorization_details */
};

/* The Mercure authorization details of a 1.0 token (details.c). */
struct auth_details;

/* What a verified token allows. Selectors and matchers are compiled once per token. */
struct auth_claims {
    struct selector **publish; /* 07: mercure.publish; NULL/0 when absent */
    size_t npublish;
    struct selector **subscribe; /* 07: mercure.subscribe; NULL/0 when absent */
    size_t nsubscribe;
    char *payload_json; /* 07: mercure.payload serialised as compact JSON; NULL when absent */
    long long exp;      /* "exp" in seconds since the epoch; 0 when absent (07 only) */
    long long nbf;      /* "nbf" in seconds since the epoch; 0 when absent */
    enum auth_dialect dialect;
    struct auth_details *details; /* 08: authorization_details; NULL for 07 tokens */
};

/* An immutable, thread-safe set of verification keys with their algorithm allowlist. */
struct auth_verifier;

/* key: an HMAC secret for HS*, or a PEM public key (the PEM text itself, or a path to a PEM
 * file) for RS*, ES*, EdDSA. algs: comma-separated allowlist, e.g. "HS256" or "RS256,ES256".
 * jwks_path: optional JWKS file whose keys are also accepted (NULL when none).
 * Returns NULL and writes a reason into err when the configuration is unusable.
 * A new verifier accepts draft-07 tokens only: see auth_verifier_set_dialects. */
struct auth_verifier *auth_verifier_new(const char *key, const char *algs, const char *jwks_path,
                                        char *err, size_t errlen);
void auth_verifier_free(struct auth_verifier *v);

/* A number no other verifier of this process has had: what a cache of verified tokens binds its
 * entries to, so that a new key set (another verifier, a reload) never answers from them. It also
 * changes with auth_verifier_set_dialects (other issuers, another audience). */
unsigned long long auth_verifier_generation(const struct auth_verifier *v);

#define AUTH_ACCEPT_07 1u /* draft-07 tokens (any "typ" but at+jwt) */
#define AUTH_ACCEPT_08 2u /* Mercure 1.0 tokens (at+jwt) */

/* Configures which token dialects v accepts (AUTH_ACCEPT_* bits), before v is shared.
 * resource_identifier: the hub's public URL, which the "aud" of a 1.0 token must contain and the
 * base of relative URL patterns. issuers: the trusted "iss" values, comma separated. 1.0 tokens
 * are refused (invalid_token) while either is NULL. Every trusted issuer is bound to the keys of
 * v (its key, PEM file and JWKS): with one key set per verifier, the issuers share it, and only
 * a token whose "iss" is one of them is tried at all. Returns 0, or -1 with err set. */
int auth_verifier_set_dialects(struct auth_verifier *v, unsigned accept,
                               const char *resource_identifier, const char *issuers, char *err,
                               size_t errlen);

/* What is wrong with a --resource-identifier (an absolute http(s) URL without a fragment) or a
 * --jwt-issuer list; NULL when it is fine or NULL. For the configuration's start-up checks. */
const char *auth_resource_identifier_problem(const char *url);
const char *auth_issuers_problem(const char *list);

/* Verifies signature, algorithm (allowlist; "none" and key/algorithm confusion rejected), then
 * the claims by the token's dialect (see the binding rule above): draft-07 exp and nbf when
 * present and the shape of the "mercure" claim; 1.0 typ, iss, aud, exp, nbf and
 * authorization_details (a malformed claim or detail rejects the token whole). now: seconds since
 * the epoch. On success fills *out (free with auth_claims_free) and returns true; on failure
 * returns false, leaves out->dialect set (NONE when the header was unreadable) and a short reason
 * (never the token) in *why. */
bool auth_verify(const struct auth_verifier *v, const char *token, size_t len, long long now,
                 struct auth_claims *out, const char **why);
void auth_claims_free(struct auth_claims *c);

/* The time-dependent part of auth_verify for claims it accepted earlier: false once "exp" has
 * passed or while "nbf" is still ahead (a clock set back). Everything else auth_verify checks
 * depends only on the token's bytes and the verifier, so a cache may reuse it for the same bytes
 * and the same verifier generation. */
bool auth_claims_current(const struct auth_claims *c, long long now);

/* The dialect a token's header names ("typ"), read without verifying anything: where a token was
 * found decides whether it may be used before it is verified (a 1.0 token is never taken from
 * the URL). NONE when the header cannot be read. */
enum auth_dialect auth_token_dialect(const char *token, size_t len);

/* True when the token allows publishing to the topic: for draft-07 claims one of the
 * mercure.publish selectors matches it; for 1.0 claims a Mercure authorization detail with the
 * "publish" action has a topic matcher (exact, urlpattern or "*") that matches it. An update
 * needs this for every one of its topics. */
bool auth_can_publish(const struct auth_claims *c, const char *topic, size_t len);
/* The same with mercure.subscribe / the "subscribe" action: private updates (live and replayed,
 * for any of the update's topics) and the subscriptions API (its path as the topic, 1.0). */
bool auth_can_subscribe(const struct auth_claims *c, const char *topic, size_t len);

/* The payload to publish with a subscription (compact JSON, owned by c; NULL: none, write null).
 * 1.0: the payload of the first "subscribe" detail one of whose topic matchers matches the
 * subscription's own matcher string (match, given as if it were a topic). draft-07: the token's
 * mercure.payload, whatever match is. */
const char *auth_payload_for(const struct auth_claims *c, const char *match, size_t len);

#endif
