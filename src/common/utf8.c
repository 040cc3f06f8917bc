#include "common/utf8.h"

#include <stdint.h>

#include "common/swar.h"

bool utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        if (len - i >= 8) { /* the common case: ASCII */
            if (swar_ascii(swar_load(s + i))) {
                i += 8;
                continue;
            }
        } else if (len >= 8 && swar_ascii(swar_load(s + len - 8))) {
            return true; /* the last 8 bytes, [i, len) among them, are ASCII */
        }
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf)
            need = 1, cp = c & 0x1f, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef)
            need = 2, cp = c & 0x0f, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4)
            need = 3, cp = c & 0x07, min = 0x10000;
        else
            return false;
        if (len - i <= need) return false;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += need + 1;
    }
    return true;
}

bool utf8_printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return false;
    return utf8_valid(s, len);
}

/* Unicode 15.1 general category Cf, as inclusive ranges. */
static const uint32_t format_chars[][2] = {
    {0x00ad, 0x00ad},   {0x0600, 0x0605},   {0x061c, 0x061c},   {0x06dd, 0x06dd},
    {0x070f, 0x070f},   {0x0890, 0x0891},   {0x08e2, 0x08e2},   {0x180e, 0x180e},
    {0x200b, 0x200f},   {0x202a, 0x202e},   {0x2060, 0x2064},   {0x2066, 0x206f},
    {0xfeff, 0xfeff},   {0xfff9, 0xfffb},   {0x110bd, 0x110bd}, {0x110cd, 0x110cd},
    {0x13430, 0x1343f}, {0x1bca0, 0x1bca3}, {0x1d173, 0x1d17a}, {0xe0001, 0xe0001},
    {0xe0020, 0xe007f},
};

static bool is_format_char(uint32_t cp)
{
    for (size_t i = 0; i < sizeof(format_chars) / sizeof(format_chars[0]); i++)
        if (cp >= format_chars[i][0] && cp <= format_chars[i][1]) return true;
    return false;
}

static bool printable_ascii(uint64_t w)
{
    return swar_ascii(w) && !swar_has_less(w, 0x20) && !swar_has(w, 0x7f);
}

bool utf8_protocol_text(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    /* Printable ASCII, the common case, is valid UTF-8 as it is: eight characters at once, the
     * last eight overlapping those before. */
    size_t start = 0;
    while (len - start >= 8 && printable_ascii(swar_load(s + start)))
        start += 8;
    if (start == len || (len - start < 8 && len >= 8 && printable_ascii(swar_load(s + len - 8))))
        return true;
    /* From the first word that is not, both checks (start is a character boundary). */
    s += start;
    len -= start;
    if (!utf8_valid((const char *)s, len)) return false;
    for (size_t i = 0; i < len;) {
        if (len - i >= 8 && printable_ascii(swar_load(s + i))) {
            i += 8;
            continue;
        }
        unsigned char c = s[i];
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f) return false;
            i++;
            continue;
        }
        /* Well-formed (checked above): decode without re-validating. */
        size_t need = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
        uint32_t cp = c & (0x3f >> need);
        for (size_t k = 1; k <= need; k++)
            cp = cp << 6 | (s[i + k] & 0x3f);
        if ((cp >= 0x80 && cp <= 0x9f) || is_format_char(cp)) return false;
        i += need + 1;
    }
    return true;
}
