/* The Cookie request header (RFC 6265 section 5.4): where a browser's EventSource carries its
 * token (mercureAuthorization by default). */
#ifndef SSEB_HTTP_COOKIE_H
#define SSEB_HTTP_COOKIE_H

#include <stdbool.h>
#include <stddef.h>

/* Finds cookie `name` in a Cookie header value; sets *val and *vlen (quotes removed), returns true
 * when present. Read the way browsers write it, lenient about spaces; a pair without "=" is
 * skipped. */
bool cookie_find(const char *header, size_t len, const char *name, const char **val, size_t *vlen);

#endif
