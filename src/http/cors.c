#include "http/cors.h"

#include <stdio.h>
#include <string.h>

#include "http/http.h"

/* How the configured list (comma or space separated) admits origin: by name, which allows
 * credentials, or only through "*", which never does (any web site could otherwise read a
 * logged-in user's private updates through their cookie). */
static enum cors_grant origin_grant(const char *list, const char *origin, size_t len)
{
    enum cors_grant grant = CORS_DENIED;
    const char *p = list;
    while (*p) {
        while (*p == ',' || *p == ' ')
            p++;
        const char *start = p;
        while (*p && *p != ',' && *p != ' ')
            p++;
        size_t n = (size_t)(p - start);
        if (n == len && memcmp(start, origin, len) == 0) return CORS_WITH_CREDENTIALS;
        if (n == 1 && *start == '*') grant = CORS_ANY_ORIGIN;
    }
    return grant;
}

enum cors_grant cors_headers(const char *list, const struct http_request *r, char *out, size_t cap,
                             size_t *len)
{
    out[0] = 0;
    *len = 0;
    size_t olen;
    const char *origin = http_header_value(r, HDR_ORIGIN, &olen);
    if (!list || !origin || olen == 0 || olen > 512 || memchr(origin, '\r', olen) ||
        memchr(origin, '\n', olen))
        return CORS_DENIED;
    enum cors_grant grant = origin_grant(list, origin, olen);
    int n = 0;
    if (grant == CORS_WITH_CREDENTIALS)
        n = snprintf(out, cap,
                     "Access-Control-Allow-Origin: %.*s\r\nAccess-Control-Allow-Credentials: "
                     "true\r\nVary: Origin\r\n",
                     (int)olen, origin);
    else if (grant == CORS_ANY_ORIGIN)
        n = snprintf(out, cap, "Access-Control-Allow-Origin: *\r\n");
    if (n <= 0 || (size_t)n >= cap) {
        out[0] = 0;
        return CORS_DENIED;
    }
    *len = (size_t)n;
    return grant;
}

const char cors_preflight_headers[] =
    "Access-Control-Allow-Methods: GET, POST, HEAD, OPTIONS\r\n"
    "Access-Control-Allow-Headers: Authorization, Content-Type, Last-Event-ID, Cache-Control\r\n"
    "Access-Control-Max-Age: 3600\r\n";
