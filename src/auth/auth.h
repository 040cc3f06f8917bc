/* JWT verification (compact JWS) for publishers and subscribers, Mercure claims: keys.c loads
 * the keys, jws.c checks signatures, claims.c reads what a token allows. Thread-safe: a verifier
 * is immutable once built. */
#ifndef SSEB_AUTH_AUTH_H
#define SSEB_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/selector.h"

/* What a verified token allows. Selectors are compiled once per token. */
struct auth_claims {
    struct selector **publish; /* mercure.publish; NULL/0 when absent */
    size_t npublish;
    struct selector **subscribe; /* mercure.subscribe; NULL/0 when absent */
    size_t nsubscribe;
    char *payload_json; /* mercure.payload serialised as compact JSON; NULL when absent */
    long long exp;      /* "exp" in seconds since the epoch; 0 when absent */
};

/* An immutable, thread-safe set of verification keys with their algorithm allowlist. */
struct auth_verifier;

/* key: an HMAC secret for HS*, or a PEM public key (the PEM text itself, or a path to a PEM
 * file) for RS*, ES*, EdDSA. algs: comma-separated allowlist, e.g. "HS256" or "RS256,ES256".
 * jwks_path: optional JWKS file whose keys are also accepted (NULL when none).
 * Returns NULL and writes a reason into err when the configuration is unusable. */
struct auth_verifier *auth_verifier_new(const char *key, const char *algs, const char *jwks_path,
                                        char *err, size_t errlen);
void auth_verifier_free(struct auth_verifier *v);

/* Verifies signature, algorithm (allowlist; "none" and key/algorithm confusion rejected), exp and
 * nbf against now (seconds since epoch), and the shape of the "mercure" claim (a malformed claim
 * rejects the token whole). On success fills *out (free with auth_claims_free) and returns true;
 * on failure returns false and leaves a short reason (never the token) in *why. */
bool auth_verify(const struct auth_verifier *v, const char *token, size_t len, long long now,
                 struct auth_claims *out, const char **why);
void auth_claims_free(struct auth_claims *c);

/* True when one of the token's publish selectors matches the topic. */
bool auth_can_publish(const struct auth_claims *c, const char *topic, size_t len);
/* True when one of the token's subscribe selectors matches the topic. */
bool auth_can_subscribe(const struct auth_claims *c, const char *topic, size_t len);

#endif
