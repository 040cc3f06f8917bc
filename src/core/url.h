/* The WHATWG URL Standard's basic URL parser, as much as URL Pattern needs: parsing topics
 * against a base URL, and the state overrides that URL Pattern's canonicalization callbacks run
 * on a dummy URL. Strings are UTF-8; every component of a parsed URL is ASCII.
 * Reentrant; a URL record is owned by its caller. */
#ifndef SSEB_CORE_URL_H
#define SSEB_CORE_URL_H

#include <stdbool.h>
#include <stddef.h>

/* A growable string with a sticky out-of-memory flag: append freely, check .oom once. */
struct ustr {
    char *p; /* NUL-terminated once anything was appended */
    size_t len, cap;
    bool oom;
};

void ustr_putn(struct ustr *s, const char *p, size_t n);
void ustr_putc(struct ustr *s, char c);
void ustr_puts(struct ustr *s, const char *z);
void ustr_clear(struct ustr *s);
void ustr_free(struct ustr *s);
const char *ustr_z(const struct ustr *s); /* never NULL */

enum url_state {
    URL_STATE_NONE, /* no state override: a whole URL */
    URL_STATE_HOSTNAME,
    URL_STATE_PORT,
    URL_STATE_PATH_START,
    URL_STATE_OPAQUE_PATH,
    URL_STATE_QUERY,
    URL_STATE_FRAGMENT,
};

enum url_result { URL_OK, URL_FAILURE, URL_OOM };

struct url {
    struct ustr scheme, username, password;
    bool has_host;
    struct ustr host; /* serialized (domain, IPv4, [IPv6], opaque or empty host) */
    int port;         /* -1: null */
    bool opaque_path;
    struct ustr path; /* serialized: "/a/b" for a list, the string itself when opaque */
    size_t segments;  /* path list size (when not opaque) */
    bool has_query, has_fragment;
    struct ustr query, fragment;
};

void url_init(struct url *u);
void url_release(struct url *u);

/* Runs the basic URL parser on `in` (UTF-8). Without an override, *u must be freshly
 * url_init'ed and base may be NULL; with one, *u is the URL being modified (URL Pattern's dummy
 * URL). Invalid UTF-8 is a failure. */
enum url_result url_parse(struct url *u, const char *in, size_t len, const struct url *base,
                          enum url_state override);

/* "Set the username/password": percent-encodes value with the userinfo set. */
void url_set_userinfo(struct ustr *dst, const char *value, size_t len);

bool url_is_special_scheme(const char *scheme, size_t len);
int url_default_port(const char *scheme, size_t len); /* -1 when none */

#endif
