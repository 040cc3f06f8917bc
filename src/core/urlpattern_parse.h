/* URL Pattern syntax (urlpattern_parse.c): tokenizer, part parser, constructor string,
 * canonicalization callbacks. Used by urlpattern.c, which compiles the parts into matchers;
 * other modules use core/urlpattern.h. */
#ifndef SSEB_CORE_URLPATTERN_PARSE_H
#define SSEB_CORE_URLPATTERN_PARSE_H

#include "core/url.h"

#include <stdbool.h>
#include <stddef.h>

/* The eight components, in the order of enum urlpattern_component. */
enum up_component {
    UP_PROTOCOL,
    UP_USERNAME,
    UP_PASSWORD,
    UP_HOSTNAME,
    UP_PORT,
    UP_PATHNAME,
    UP_SEARCH,
    UP_HASH,
    UP_COMPONENTS
};

enum up_part_type { UP_FIXED, UP_REGEXP, UP_SEGMENT_WILDCARD, UP_FULL_WILDCARD };
enum up_modifier { UP_NONE, UP_OPTIONAL, UP_ZERO_OR_MORE, UP_ONE_OR_MORE };

struct up_part {
    enum up_part_type type;
    enum up_modifier modifier;
    struct ustr value; /* fixed text (encoded) or the regexp's source */
    struct ustr name;  /* "" for fixed text; digits for unnamed groups */
    struct ustr prefix, suffix;
};

struct up_parts {
    struct up_part *v;
    size_t n, cap;
};

struct up_options {
    char delimiter; /* 0: none */
    char prefix;    /* 0: none */
};

/* Encoding callbacks: canonicalize fixed text of one component. 0, or -1 with *reason (invalid
 * text); out of memory sets out->oom. */
typedef int (*up_encode_fn)(const char *in, size_t n, struct ustr *out, const char **reason);

/* "Parse a pattern string" (strict tokenizing). 0, or -1 with *reason. */
int up_parse_pattern(const char *in, size_t n, const struct up_options *opt, up_encode_fn enc,
                     struct up_parts *out, const char **reason);
void up_parts_free(struct up_parts *parts);

/* "Generate a pattern string". */
void up_pattern_string(const struct up_parts *parts, const struct up_options *opt,
                       struct ustr *out);

/* The processed init: one pattern string per component. */
struct up_init {
    bool has[UP_COMPONENTS];
    struct ustr v[UP_COMPONENTS];
};
void up_init_free(struct up_init *init);

/* "Protocol component matches a special scheme" for a protocol pattern string: 0 with *special
 * set, or -1 with *reason (the pattern does not compile). The matcher lives in urlpattern.c. */
typedef int (*up_special_fn)(const char *pattern, size_t n, bool *special, const char **reason);

/* The constructor string parser plus "process a URLPatternInit" (type "pattern") against base
 * (NULL: none), with every missing component set to "*" and a special scheme's default port
 * removed: what the eight components compile from. 0, or -1 with *reason. */
int up_process_constructor(const char *in, size_t n, const struct url *base,
                           up_special_fn is_special, struct up_init *init, const char **reason);

/* Encoding callbacks, one per component (the hostname and pathname ones have two forms). */
int up_canon_protocol(const char *in, size_t n, struct ustr *out, const char **reason);
int up_canon_username(const char *in, size_t n, struct ustr *out, const char **reason);
int up_canon_password(const char *in, size_t n, struct ustr *out, const char **reason);
int up_canon_hostname(const char *in, size_t n, struct ustr *out, const char **reason);
int up_canon_ipv6_hostname(const char *in, size_t n, struct ustr *out, const char **reason);
int up_canon_port(const char *in, size_t n, struct ustr *out, const char **reason);
int up_canon_pathname(const char *in, size_t n, struct ustr *out, const char **reason);
int up_canon_opaque_pathname(const char *in, size_t n, struct ustr *out, const char **reason);
int up_canon_search(const char *in, size_t n, struct ustr *out, const char **reason);
int up_canon_hash(const char *in, size_t n, struct ustr *out, const char **reason);

#endif
