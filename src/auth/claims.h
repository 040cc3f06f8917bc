/* Inside auth/: reading the claims of a token whose signature has been verified. */
#ifndef SSEB_AUTH_CLAIMS_H
#define SSEB_AUTH_CLAIMS_H

#include <jansson.h>
#include <stdbool.h>

struct auth_claims;

/* Reads exp, nbf (checked against now) and the "mercure" claim of payload into *out. Returns
 * false with a reason in *why when the token is expired, not yet valid, or its mercure claim is
 * malformed (which rejects the token whole); *out may then hold partial claims to free. */
/* A NumericDate as whole seconds. Fractions round up, so that "now < exp" and "now >= nbf"
 * compare exactly as with the fractional value; out-of-range values saturate. False when j is
 * not a number. */
bool claims_numeric_date(json_t *j, long long *out);

bool claims_read(json_t *payload, long long now, struct auth_claims *out, const char **why);

#endif
