#include "http/form.h"

#include <stdint.h>
#include <string.h>

#include "common/swar.h"

/* A hex digit's value plus one; 0 for anything else. */
static const uint8_t hex_plus_one[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

long form_decode(char *dst, const char *src, size_t len, bool plus_is_space)
{
    if (!len) return 0;
    const char *p = src, *end = src + len;
    char *o = dst;
    if (dst == src) { /* in place: nothing to write before the first escape */
        p = plus_is_space ? swar_find2(p, end, '%', '+') : memchr(p, '%', len);
        if (!p) return (long)len;
        o = dst + (p - src);
    }
    while (p < end) {
        char c = *p;
        if (c == '%') {
            if (end - p < 3) return -1;
            int hi = hex_plus_one[(unsigned char)p[1]], lo = hex_plus_one[(unsigned char)p[2]];
            if (!hi || !lo) return -1;
            *o++ = (char)((hi - 1) << 4 | (lo - 1));
            p += 3;
        } else {
            *o++ = c == '+' && plus_is_space ? ' ' : c;
            p++;
        }
    }
    return (long)(o - dst);
}

size_t form_pairs_bound(const char *buf, size_t len)
{
    size_t n = 1;
    for (const char *p = buf, *end = buf + len; (p = memchr(p, '&', (size_t)(end - p))); p++)
        n++;
    return n;
}

enum form_status form_parse(char *buf, size_t len, struct form_pair *pairs, size_t max_pairs,
                            size_t *npairs)
{
    size_t n = 0, i = 0;
    *npairs = 0;
    while (i < len) {
        const char *amp = memchr(buf + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - buf) : len;
        if (end > i) {
            if (n == max_pairs) return FORM_TOO_MANY;
            char *seg = buf + i;
            size_t seg_len = end - i;
            const char *eq = memchr(seg, '=', seg_len);
            size_t key_len = eq ? (size_t)(eq - seg) : seg_len;
            char *val = key_len < seg_len ? seg + key_len + 1 : seg + seg_len;
            size_t val_len = key_len < seg_len ? seg_len - key_len - 1 : 0;
            /* Decoding only shrinks, so each part decodes in place without overlap issues. */
            long k = form_decode(seg, seg, key_len, true);
            long v = form_decode(val, val, val_len, true);
            if (k < 0 || v < 0) return FORM_BAD_ENCODING;
            pairs[n].key = seg;
            pairs[n].key_len = (size_t)k;
            pairs[n].value = val;
            pairs[n].value_len = (size_t)v;
            n++;
        }
        i = end + 1;
    }
    /* NUL-terminate last: a terminator written earlier could land inside a later part. */
    for (size_t p = 0; p < n; p++) {
        pairs[p].key[pairs[p].key_len] = 0;
        pairs[p].value[pairs[p].value_len] = 0;
    }
    *npairs = n;
    return FORM_OK;
}
