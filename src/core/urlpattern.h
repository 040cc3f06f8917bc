/* URL Pattern (the WHATWG URL Pattern standard), as Mercure 1.0's `match_urlpattern` and
 * `urlpattern` grants use it: the constructor-string form with a base URL, `test()` only, and
 * never `ignoreCase`.
 *
 * A pattern compiles into eight components (protocol, username, password, hostname, port,
 * pathname, search, hash). Components without regexp groups `(...)` become the module's own
 * automaton, matched in O(component length x states) with no backtracking; a component with
 * regexp groups is translated to PCRE2 and matched under match, depth and heap limits (hitting a
 * limit is "no match"). A pattern that cannot be compiled (bad syntax, a regexp the translator or
 * PCRE2 refuses, a lookbehind PCRE2 cannot bound) is an error the caller answers with 400.
 *
 * Threads: a compiled pattern and a parsed URL are immutable and may be read by any number of
 * threads at once; every function here is reentrant. */
#ifndef SSEB_CORE_URLPATTERN_H
#define SSEB_CORE_URLPATTERN_H

#include <stdbool.h>
#include <stddef.h>

/* The base Mercure's reference hub uses for relative patterns and topics when no resource
 * identifier is configured. */
#define URLPATTERN_DEFAULT_BASE "http://mercure.invalid"

enum urlpattern_component {
    URLPATTERN_PROTOCOL,
    URLPATTERN_USERNAME,
    URLPATTERN_PASSWORD,
    URLPATTERN_HOSTNAME,
    URLPATTERN_PORT,
    URLPATTERN_PATHNAME,
    URLPATTERN_SEARCH,
    URLPATTERN_HASH,
    URLPATTERN_COMPONENTS
};

struct urlpattern; /* compiled, immutable, shareable read-only across threads */

/* A topic parsed as a URL: its eight component strings as `URLPattern.exec` sees them (scheme
 * without ':', search without '?', hash without '#', port "" when default or absent).
 * Parse once, test against many patterns. Owned by the caller; release with
 * urlpattern_url_release. */
struct urlpattern_url {
    char *mem;                         /* one allocation holding every component */
    size_t off[URLPATTERN_COMPONENTS]; /* start of each component in mem */
    size_t len[URLPATTERN_COMPONENTS]; /* its length (components are NUL-terminated too) */
};

/* Compiles the constructor string `pattern` (UTF-8, len bytes) against `base` (an absolute URL,
 * or NULL / base_len 0 for none: then a pattern without a protocol is an error). Returns NULL on
 * error with *reason set to a static sentence (also when out of memory: "out of memory"). */
struct urlpattern *urlpattern_compile(const char *pattern, size_t len, const char *base,
                                      size_t base_len, const char **reason);
void urlpattern_free(struct urlpattern *p);

/* What testing one URL costs, in units of "per byte of the URL's components": the states of each
 * component's automaton, plus a fixed weight for each PCRE2 component (bounded by its match
 * limit). A caller caps it per subscription the way selector_cost caps URI templates. */
size_t urlpattern_cost(const struct urlpattern *p);

/* True when at least one component needs PCRE2 (has regexp groups). */
bool urlpattern_has_regexp_groups(const struct urlpattern *p);

/* The canonical pattern string of one component (what URLPattern's getters return). */
const char *urlpattern_component_pattern(const struct urlpattern *p, enum urlpattern_component c);

/* Parses `topic` (UTF-8) as a URL, relative to `base` when given. False when it is not a URL
 * (or not UTF-8, or out of memory): such a topic matches nothing; *u is then empty but may still
 * be released. */
bool urlpattern_url_parse(struct urlpattern_url *u, const char *topic, size_t len, const char *base,
                          size_t base_len);
void urlpattern_url_release(struct urlpattern_url *u);

/* True when every component of u matches the pattern. */
bool urlpattern_test(const struct urlpattern *p, const struct urlpattern_url *u);

/* How many PCRE2 matches hit their match, depth or heap limit (each counted as no match) since
 * the process started, across threads: for metrics and logs. */
unsigned long long urlpattern_limit_hits(void);

/* urlpattern_url_parse + urlpattern_test + release. */
bool urlpattern_match_topic(const struct urlpattern *p, const char *topic, size_t len,
                            const char *base, size_t base_len);

#endif
