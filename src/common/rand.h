/* Event and subscriber ids: random UUIDv4 URNs, and compact event ids. The generator (xorshift128+,
 * seeded per thread from getrandom) gives uniqueness, not secrecy: ids are predictable
 * (docs/SECURITY.md). */
#ifndef SSEB_COMMON_RAND_H
#define SSEB_COMMON_RAND_H

#include <stdbool.h>
#include <stddef.h>

#define RAND_URN_UUID_LEN 45 /* "urn:uuid:" + 36 */
#define RAND_FRAGMENT_LEN 13 /* "#" + 12 */
/* Room for either. */
#define RAND_EVENT_ID_MAX RAND_URN_UUID_LEN

/* Writes "urn:uuid:<v4>" and a NUL into out. Thread-safe (per-thread state). */
void rand_urn_uuid(char out[RAND_URN_UUID_LEN + 1]);
/* Writes "#" and 12 base64url characters (72 random bits) and a NUL into out: a hub-generated
 * event id as a fragment, which both Mercure dialects allow for the hub and forbid to
 * publishers (so it never equals a publisher's id), 32 bytes shorter on every delivery than a
 * URN. Thread-safe. */
void rand_fragment_id(char out[RAND_FRAGMENT_LEN + 1]);
/* An event id of either form (uuid: the URN); returns its length. */
size_t rand_event_id(bool uuid, char out[RAND_EVENT_ID_MAX + 1]);

#endif
