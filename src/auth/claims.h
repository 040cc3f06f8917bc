/* Inside auth/: reading the claims of a token whose signature has been verified. */
#ifndef SSEB_AUTH_CLAIMS_H
#define SSEB_AUTH_CLAIMS_H

#include <jansson.h>
#include <stdbool.h>

struct auth_claims;

/* Reads exp, nbf (checked against now) and the "mercure" claim of payload into *out. Returns
 * false with a reason in *why when the token is expired, not yet valid, or its mercure claim is
 * malformed (which rejects the token whole); *out may then hold partial claims to free. */
bool claims_read(json_t *payload, long long now, struct auth_claims *out, const char **why);

#endif
