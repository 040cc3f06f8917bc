#include "http/form.h"

#include <stdint.h>
#include <string.h>

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

long form_decode(char *dst, const char *src, size_t len, bool plus_is_space)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '%') {
            if (i + 2 >= len) return -1;
            int hi = hex_value((unsigned char)src[i + 1]);
            int lo = hex_value((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            dst[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            dst[o++] = ' ';
        } else {
            dst[o++] = (char)c;
        }
    }
    return (long)o;
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
        size_t end = i;
        while (end < len && buf[end] != '&')
            end++;
        if (end > i) {
            if (n == max_pairs) return FORM_TOO_MANY;
            char *seg = buf + i;
            size_t seg_len = end - i, key_len = 0;
            while (key_len < seg_len && seg[key_len] != '=')
                key_len++;
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
