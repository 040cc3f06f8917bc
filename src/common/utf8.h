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

/* True when s is well-formed UTF-8 without C0 (U+0000-001F) or C1 (U+0080-009F) control
 * characters, DEL or Unicode format characters (category Cf, e.g. U+200B, U+202E, U+FEFF): what
 * Mercure 1.0 allows in matcher values (spec l.171-183), ids and types. */
bool utf8_protocol_text(const char *s, size_t len);

#endif
