/* base64url without padding (RFC 4648 section 5, as JWS uses it: RFC 7515 section 2). */
#ifndef SSEB_COMMON_B64URL_H
#define SSEB_COMMON_B64URL_H

#include <stdbool.h>
#include <stddef.h>

/* Decodes s strictly: no padding, no whitespace, unused trailing bits zero, so each value has
 * exactly one encoding. Returns a malloc'd buffer (NUL-terminated for convenience, *out_len bytes)
 * or NULL when malformed or out of memory. */
unsigned char *b64url_decode(const char *s, size_t n, size_t *out_len);
/* True when s could be decoded (alphabet and length), without decoding it. */
bool b64url_valid(const char *s, size_t n);

#endif
