/* UTF-8 checks for everything that reaches an event stream (which is UTF-8 by definition). */
#ifndef SSEB_COMMON_UTF8_H
#define SSEB_COMMON_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when s is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF). */
bool utf8_valid(const char *s, size_t len);

/* True when s is well-formed UTF-8 without C0 control characters or DEL: what a topic or a
 * selector may hold. */
bool utf8_printable(const char *s, size_t len);

#endif
