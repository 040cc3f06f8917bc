/* Topic selectors: "*", an exact topic, or an RFC 6570 URI template (Mercure draft-07; Mercure
 * 1.0's exact matchers are the first two).
 * A selector matches a topic when it is "*", when it equals the topic byte for byte, or when it
 * is a URI template whose expansion can produce the topic; tried in that order. */
#ifndef SSEB_CORE_SELECTOR_H
#define SSEB_CORE_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

struct urlpattern;

enum selector_kind {
    SELECTOR_ANY,        /* "*" */
    SELECTOR_EXACT,      /* no template expression: compared byte for byte */
    SELECTOR_TEMPLATE,   /* contains at least one {expression} */
    SELECTOR_URLPATTERN, /* a WHATWG URL Pattern (core/urlpattern.h), Mercure 1.0 */
};

struct selector;

/* How a selector's text is read: a draft-07 topic selector ("*", a URI template, else exact) or
 * a Mercure 1.0 exact matcher (match=, match_exact=: "*", else byte for byte, braces are text). */
enum selector_syntax {
    SELECTOR_SYNTAX_TOPIC,
    SELECTOR_SYNTAX_EXACT,
    SELECTOR_SYNTAX_URLPATTERN, /* match_urlpattern=: compiled by selector_compile_urlpattern */
};

/* Compiles a selector. Text that is not a well-formed template (unbalanced braces, unknown
 * operator...) compiles as an exact selector. Returns NULL only when out of memory. */
struct selector *selector_compile(const char *text, size_t len);
/* The same, read with the given syntax (selector_compile reads topic selectors; a URL Pattern
 * needs selector_compile_urlpattern). */
struct selector *selector_compile_as(const char *text, size_t len, enum selector_syntax syntax);
/* Compiles a URL Pattern matcher ("*" matches everything) against base (the hub's URL, which
 * relative patterns and topics are resolved against; it must outlive the selector). NULL when the
 * pattern is not one or out of memory, with *reason a static sentence saying why. */
struct selector *selector_compile_urlpattern(const char *text, size_t len, const char *base,
                                             size_t base_len, const char **reason);
/* A URL Pattern selector's compiled pattern and base, for callers that parse a topic once and
 * test it against many patterns; NULL for other kinds. */
const struct urlpattern *selector_urlpattern(const struct selector *sel, const char **base,
                                             size_t *base_len);
void selector_free(struct selector *sel);

enum selector_kind selector_kind(const struct selector *sel);
const char *selector_text(const struct selector *sel); /* NUL-terminated copy */
size_t selector_len(const struct selector *sel);

/* What matching this selector against one topic costs, in units of topic length: the template's
 * literal parts plus the variables of its expressions (0 for "*" and exact selectors); a URL
 * Pattern's urlpattern_cost. */
size_t selector_cost(const struct selector *sel);

/* True when the selector matches the topic (see above). */
bool selector_match(const struct selector *sel, const char *topic, size_t len);

#endif
