#include "http/cookie.h"

#include <string.h>

static bool is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* Cookie: name=value pairs separated by ";" (RFC 6265 section 5.4), read the way browsers
 * write them and leniently about spaces; a pair without "=" is skipped. */
bool cookie_find(const char *header, size_t len, const char *name, const char **val, size_t *vlen)
{
    if (!header || !name || !*name) return false;
    size_t nlen = strlen(name);
    const char *p = header, *end = header + len;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *pend = semi ? semi : end;
        const char *eq = memchr(p, '=', (size_t)(pend - p));
        if (eq) {
            const char *k = p, *kend = eq, *v = eq + 1, *vend = pend;
            while (k < kend && is_ws(*k))
                k++;
            while (kend > k && is_ws(kend[-1]))
                kend--;
            if ((size_t)(kend - k) == nlen && !memcmp(k, name, nlen)) {
                while (v < vend && is_ws(*v))
                    v++;
                while (vend > v && is_ws(vend[-1]))
                    vend--;
                if (vend - v >= 2 && *v == '"' && vend[-1] == '"') v++, vend--;
                *val = v;
                *vlen = (size_t)(vend - v);
                return true;
            }
        }
        if (!semi) break;
        p = semi + 1;
    }
    return false;
}
