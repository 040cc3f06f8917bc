/* Inside auth/: the Mercure 1.0 rules of an at+jwt token (RFC 9068 as profiled by the Mercure
 * specification, section "Token Validation"), used by jws.c. */
#ifndef SSEB_AUTH_TOKEN08_H
#define SSEB_AUTH_TOKEN08_H

#include <jansson.h>
#include <stdbool.h>

struct auth_verifier;
struct auth_claims;
struct issuer;

/* The trusted issuer named by the (not yet verified) claims' "iss", whose keys alone may check
 * the signature; NULL with a reason in *why when there is none. */
const struct issuer *token08_issuer(const struct auth_verifier *v, json_t *payload,
                                    const char **why);

/* Reads the verified claims of a 1.0 token: exp (required) and nbf against now, aud (must
 * contain the resource identifier), authorization_details. False with a reason in *why when any
 * of them fails; *out may then hold partial claims to free. */
bool token08_read(const struct auth_verifier *v, json_t *payload, long long now,
                  struct auth_claims *out, const char **why);

#endif
