/* application/x-www-form-urlencoded decoding (request bodies and query strings), UTF-8 checks. */
#ifndef SSEB_FORM_H
#define SSEB_FORM_H

#include <stdbool.h>
#include <stddef.h>

struct form_pair {
    char *key; /* decoded, NUL-terminated, points into the caller's buffer */
    size_t key_len;
    char *value; /* decoded, NUL-terminated (may contain NUL bytes: use value_len) */
    size_t value_len;
};

enum form_status {
    FORM_OK = 0,
    FORM_BAD_ENCODING = -1, /* a '%' not followed by two hex digits */
    FORM_TOO_MANY = -2,     /* more pairs than the caller allowed */
};

/* Decodes buf[0..len) in place ('+' is a space, %XX a byte) into at most max_pairs pairs.
 * Empty segments ("a=1&&b=2") are skipped; a segment without '=' is a key with an empty value.
 * buf must have one spare byte at buf[len] (for the last NUL). */
enum form_status form_parse(char *buf, size_t len, struct form_pair *pairs, size_t max_pairs,
                            size_t *npairs);

/* How many pairs form_parse can find in buf[0..len) at most (segments between '&'), so that a
 * caller sizes its pair array to the request rather than to the configured maximum. */
size_t form_pairs_bound(const char *buf, size_t len);

/* Percent-decodes src into dst (which may be src itself); returns the decoded length or -1 on a
 * bad escape. plus_is_space selects form ('+' -> ' ') or plain URI decoding. */
long form_decode(char *dst, const char *src, size_t len, bool plus_is_space);

#endif
