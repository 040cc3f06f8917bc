/* Inside auth/: the authorization_details claim of a Mercure 1.0 token (RFC 9396), parsed
 * strictly: one malformed Mercure detail rejects the token whole. */
#ifndef SSEB_AUTH_DETAILS_H
#define SSEB_AUTH_DETAILS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct auth_details;

/* Limits on what one token may carry (beyond them the token is invalid, spec l.715-720). */
#define DETAILS_MAX_ENTRIES     256  /* entries of authorization_details, of any type */
#define DETAILS_MAX_MERCURE     100  /* Mercure authorization details */
#define DETAILS_MAX_TOPICS      100  /* topic matchers, summed over the Mercure details */
#define DETAILS_MAX_ACTIONS     32   /* entries of one detail's actions */
#define DETAILS_MAX_MATCH_BYTES 4096 /* one topic matcher ("match") */
/* urlpattern_cost summed over a token's URL patterns: what testing one topic against all of them
 * may cost per byte of the topic (every private update is tested against a subscriber's grants). */
#define DETAILS_MAX_PATTERN_COST 16384

#define DETAIL_PUBLISH   1u
#define DETAIL_SUBSCRIBE 2u

/* Parses the authorization_details claim (NULL when absent). base[0..base_len): the resource
 * identifier, against which relative URL patterns and topics resolve. Returns NULL and sets *out
 * (NULL when the token carries no Mercure detail), or the reason the token is invalid. */
const char *details_read(json_t *claim, const char *base, size_t base_len,
                         struct auth_details **out);
void details_free(struct auth_details *d);

/* True when a detail with the action (DETAIL_*) has a topic matcher matching the topic. */
bool details_grant(const struct auth_details *d, unsigned action, const char *topic, size_t len);

/* The payload (compact JSON) of the first subscribe detail one of whose matchers matches the
 * matcher string match[0..len) taken as a topic; NULL when none matches or it has no payload. */
const char *details_payload(const struct auth_details *d, const char *match, size_t len);

#endif
