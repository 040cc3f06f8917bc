/* Event and subscriber ids: random UUIDv4 URNs. The generator (xorshift128+, seeded per thread
 * from getrandom) gives uniqueness, not secrecy: ids are predictable (docs/SECURITY.md). */
#ifndef SSEB_COMMON_RAND_H
#define SSEB_COMMON_RAND_H

#define RAND_URN_UUID_LEN 45 /* "urn:uuid:" + 36 */

/* Writes "urn:uuid:<v4>" and a NUL into out. Thread-safe (per-thread state). */
void rand_urn_uuid(char out[RAND_URN_UUID_LEN + 1]);

#endif
