/* The WHATWG basic URL parser (URL Standard, "URL parsing"), state by state.
 *
 * Input is decoded to code points once; every component is produced percent-encoded, so a parsed
 * URL is ASCII. Hosts: domains are lowercased when ASCII (the standard's web-compatible path) and
 * go through ICU's UTS #46 ToASCII otherwise (with the standard's options, as browsers do); IPv4
 * (with its hex and octal forms) and IPv6 are parsed and re-serialized; non-special URLs get opaque
 * hosts. */
#include "core/url.h"

#include <pthread.h>
#include <stdint.h>
#include <unicode/uidna.h>
#include <stdlib.h>
#include <string.h>

#define EOF_CP 0xFFFFFFFFu

/* --- strings ------------------------------------------------------------------------------ */

static bool ustr_reserve(struct ustr *s, size_t extra)
{
    if (s->oom) return false;
    if (s->len + extra + 1 <= s->cap) return true;
    size_t cap = s->cap ? s->cap : 32;
    while (cap < s->len + extra + 1)
        cap *= 2;
    char *p = realloc(s->p, cap);
    if (!p) {
        s->oom = true;
        return false;
    }
    s->p = p;
    s->cap = cap;
    return true;
}

void ustr_putn(struct ustr *s, const char *p, size_t n)
{
    if (!ustr_reserve(s, n)) return;
    if (n) memcpy(s->p + s->len, p, n);
    s->len += n;
    s->p[s->len] = '\0';
}

void ustr_putc(struct ustr *s, char c)
{
    if (s->len + 2 <= s->cap) { /* the common case, one byte per input code point */
        s->p[s->len++] = c;
        s->p[s->len] = '\0';
        return;
    }
    ustr_putn(s, &c, 1);
}

void ustr_puts(struct ustr *s, const char *z)
{
    ustr_putn(s, z, strlen(z));
}

void ustr_clear(struct ustr *s)
{
    s->len = 0;
    if (s->p) s->p[0] = '\0';
}

void ustr_free(struct ustr *s)
{
    free(s->p);
    memset(s, 0, sizeof(*s));
}

const char *ustr_z(const struct ustr *s)
{
    return s->p ? s->p : "";
}

static void ustr_copy(struct ustr *dst, const struct ustr *src)
{
    ustr_clear(dst);
    ustr_putn(dst, src->p, src->len);
    if (src->oom) dst->oom = true;
}

static bool ustr_eq(const struct ustr *s, const char *z)
{
    size_t n = strlen(z);
    return s->len == n && (n == 0 || memcmp(s->p, z, n) == 0);
}

/* Code point buffers (the parser's "buffer"). */
struct cpbuf {
    uint32_t *p;
    size_t len, cap;
    bool oom;
};

static void cp_put(struct cpbuf *b, uint32_t c)
{
    if (b->len < b->cap) {
        b->p[b->len++] = c;
        return;
    }
    if (b->oom) return;
    {
        size_t cap = b->cap ? b->cap * 2 : 32;
        uint32_t *p = realloc(b->p, cap * sizeof(*p));
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    b->p[b->len++] = c;
}

/* --- code points and percent-encoding ----------------------------------------------------- */

static bool is_alpha(uint32_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static bool is_digit(uint32_t c)
{
    return c >= '0' && c <= '9';
}
static bool is_hex(uint32_t c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static int hex_val(uint32_t c)
{
    return is_digit(c) ? (int)(c - '0') : (int)((c | 0x20) - 'a' + 10);
}
static uint32_t lower(uint32_t c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* Decodes UTF-8; false when malformed. *out is malloc'ed (NULL when n is 0). */
static bool utf8_decode(const char *s, size_t n, uint32_t **out, size_t *outn, bool *oom)
{
    *out = NULL;
    *outn = 0;
    if (n == 0) return true;
    uint32_t *cp = malloc(n * sizeof(*cp));
    if (!cp) {
        *oom = true;
        return false;
    }
    size_t k = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t c = u[i];
        size_t extra;
        uint32_t min;
        if (c < 0x80) {
            extra = 0;
            min = 0;
        } else if ((c & 0xE0) == 0xC0) {
            extra = 1;
            c &= 0x1F;
            min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            extra = 2;
            c &= 0x0F;
            min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            extra = 3;
            c &= 0x07;
            min = 0x10000;
        } else {
            free(cp);
            return false;
        }
        if (i + extra >= n && extra) {
            free(cp);
            return false;
        }
        for (size_t j = 1; j <= extra; j++) {
            if ((u[i + j] & 0xC0) != 0x80) {
                free(cp);
                return false;
            }
            c = (c << 6) | (u[i + j] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
            free(cp);
            return false;
        }
        cp[k++] = c;
        i += extra + 1;
    }
    *out = cp;
    *outn = k;
    return true;
}

static size_t utf8_encode(uint32_t c, char out[4])
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

enum pset { SET_C0, SET_FRAGMENT, SET_QUERY, SET_SPECIAL_QUERY, SET_PATH, SET_USERINFO };

static bool in_set(uint32_t c, enum pset set)
{
    if (c < 0x20 || c > 0x7E) return true;
    switch (set) {
    case SET_USERINFO:
        if (c == '/' || c == ':' || c == ';' || c == '=' || c == '@' || (c >= '[' && c <= '^') ||
            c == '|')
            return true;
        /* fall through */
    case SET_PATH:
        if (c == '?' || c == '^' || c == '`' || c == '{' || c == '}') return true;
        /* fall through */
    case SET_QUERY:
        return c == ' ' || c == '"' || c == '#' || c == '<' || c == '>';
    case SET_SPECIAL_QUERY:
        return c == ' ' || c == '"' || c == '#' || c == '<' || c == '>' || c == '\'';
    case SET_FRAGMENT:
        return c == ' ' || c == '"' || c == '<' || c == '>' || c == '`';
    case SET_C0:
        return false;
    }
    return false;
}

static void pct_encode(struct ustr *out, uint32_t c, enum pset set)
{
    if (!in_set(c, set)) {
        ustr_putc(out, (char)c);
        return;
    }
    static const char hex[] = "0123456789ABCDEF";
    char bytes[4];
    size_t n = utf8_encode(c, bytes);
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)bytes[i];
        char e[3] = {'%', hex[b >> 4], hex[b & 15]};
        ustr_putn(out, e, 3);
    }
}

void url_set_userinfo(struct ustr *dst, const char *value, size_t len)
{
    ustr_clear(dst);
    uint32_t *cp;
    size_t n;
    bool oom = false;
    if (!utf8_decode(value, len, &cp, &n, &oom)) {
        dst->oom = dst->oom || oom;
        return;
    }
    for (size_t i = 0; i < n; i++)
        pct_encode(dst, cp[i], SET_USERINFO);
    free(cp);
}

/* --- schemes ------------------------------------------------------------------------------ */

bool url_is_special_scheme(const char *s, size_t n)
{
    /* called for every code point of a URL: no strlen, no loop over the list */
    switch (n) {
    case 2:
        return s[0] == 'w' && s[1] == 's';
    case 3:
        return !memcmp(s, "ftp", 3) || !memcmp(s, "wss", 3);
    case 4:
        return !memcmp(s, "http", 4) || !memcmp(s, "file", 4);
    case 5:
        return !memcmp(s, "https", 5);
    default:
        return false;
    }
}

int url_default_port(const char *s, size_t n)
{
    if ((n == 4 && !memcmp(s, "http", 4)) || (n == 2 && !memcmp(s, "ws", 2))) return 80;
    if ((n == 5 && !memcmp(s, "https", 5)) || (n == 3 && !memcmp(s, "wss", 3))) return 443;
    if (n == 3 && !memcmp(s, "ftp", 3)) return 21;
    return -1;
}

static bool special(const struct url *u)
{
    return url_is_special_scheme(u->scheme.p ? u->scheme.p : "", u->scheme.len);
}

/* --- hosts -------------------------------------------------------------------------------- */

static bool forbidden_host(uint32_t c)
{
    return c == 0 || c == '\t' || c == '\n' || c == '\r' || c == ' ' || c == '#' || c == '/' ||
           c == ':' || c == '<' || c == '>' || c == '?' || c == '@' || c == '[' || c == '\\' ||
           c == ']' || c == '^' || c == '|';
}

static bool forbidden_domain(uint32_t c)
{
    return forbidden_host(c) || c < 0x20 || c == '%' || c == 0x7F;
}

static bool ipv6_parse(const uint32_t *in, size_t n, uint16_t address[8])
{
    memset(address, 0, 8 * sizeof(uint16_t));
    int piece = 0, compress = -1;
    size_t p = 0;
#define C (p < n ? in[p] : EOF_CP)
    if (C == ':') {
        if (p + 1 >= n || in[p + 1] != ':') return false;
        p += 2;
        piece++;
        compress = piece;
    }
    while (C != EOF_CP) {
        if (piece == 8) return false;
        if (C == ':') {
            if (compress != -1) return false;
            p++;
            piece++;
            compress = piece;
            continue;
        }
        unsigned value = 0, length = 0;
        while (length < 4 && C != EOF_CP && is_hex(C)) {
            value = value * 16 + (unsigned)hex_val(C);
            p++;
            length++;
        }
        if (C == '.') {
            if (length == 0) return false;
            p -= length;
            if (piece > 6) return false;
            int seen = 0;
            while (C != EOF_CP) {
                int v4 = -1;
                if (seen > 0) {
                    if (C == '.' && seen < 4)
                        p++;
                    else
                        return false;
                }
                if (C == EOF_CP || !is_digit(C)) return false;
                while (C != EOF_CP && is_digit(C)) {
                    int d = (int)(C - '0');
                    if (v4 == -1)
                        v4 = d;
                    else if (v4 == 0)
                        return false;
                    else
                        v4 = v4 * 10 + d;
                    if (v4 > 255) return false;
                    p++;
                }
                address[piece] = (uint16_t)(address[piece] * 0x100 + v4);
                seen++;
                if (seen == 2 || seen == 4) piece++;
            }
            if (seen != 4) return false;
            break;
        } else if (C == ':') {
            p++;
            if (C == EOF_CP) return false;
        } else if (C != EOF_CP) {
            return false;
        }
        address[piece] = (uint16_t)value;
        piece++;
    }
#undef C
    if (compress != -1) {
        int swaps = piece - compress;
        piece = 7;
        while (piece != 0 && swaps > 0) {
            uint16_t t = address[piece];
            address[piece] = address[compress + swaps - 1];
            address[compress + swaps - 1] = t;
            piece--;
            swaps--;
        }
    } else if (piece != 8) {
        return false;
    }
    return true;
}

static void ipv6_serialize(struct ustr *out, const uint16_t a[8])
{
    int best = -1, best_len = 1;
    for (int i = 0; i < 8;) {
        if (a[i] != 0) {
            i++;
            continue;
        }
        int j = i;
        while (j < 8 && a[j] == 0)
            j++;
        if (j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = j;
    }
    ustr_putc(out, '[');
    bool ignore0 = false;
    for (int i = 0; i < 8; i++) {
        if (ignore0 && a[i] == 0) continue;
        ignore0 = false;
        if (best == i) {
            ustr_puts(out, i == 0 ? "::" : ":");
            ignore0 = true;
            continue;
        }
        static const char hex[] = "0123456789abcdef";
        char tmp[4];
        int k = 0;
        unsigned v = a[i];
        do {
            tmp[k++] = hex[v & 15];
            v >>= 4;
        } while (v);
        while (k)
            ustr_putc(out, tmp[--k]);
        if (i != 7) ustr_putc(out, ':');
    }
    ustr_putc(out, ']');
}

/* The IPv4 number parser: false on failure; values above 2^32 saturate (they fail anyway). */
static bool ipv4_number(const char *s, size_t n, uint64_t *out)
{
    if (n == 0) return false;
    unsigned radix = 10;
    if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        n -= 2;
        radix = 16;
    } else if (n >= 2 && s[0] == '0') {
        s++;
        n--;
        radix = 8;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        unsigned d;
        if (radix == 16 && is_hex(c))
            d = (unsigned)hex_val(c);
        else if (radix == 10 && is_digit(c))
            d = c - '0';
        else if (radix == 8 && c >= '0' && c <= '7')
            d = c - '0';
        else
            return false;
        if (v < (1ull << 40)) v = v * radix + d;
    }
    *out = v;
    return true;
}

static bool ends_in_number(const char *s, size_t n)
{
    if (n == 0) return false; /* one empty part */
    if (s[n - 1] == '.') n--; /* an empty last part is dropped */
    size_t start = n;
    while (start > 0 && s[start - 1] != '.')
        start--;
    const char *last = s + start;
    size_t ln = n - start;
    if (ln > 0) {
        bool digits = true;
        for (size_t i = 0; i < ln; i++)
            if (!is_digit((unsigned char)last[i])) digits = false;
        if (digits) return true;
    }
    uint64_t v;
    return ipv4_number(last, ln, &v);
}

/* Parses an IPv4 address into out (dotted decimal). False on failure. */
static bool ipv4_parse(struct ustr *out, const char *s, size_t n)
{
    uint64_t nums[5];
    size_t count = 0, start = 0;
    if (n > 0 && s[n - 1] == '.') n--; /* an empty last part is dropped */
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (count == 4) return false;
            if (!ipv4_number(s + start, i - start, &nums[count])) return false;
            count++;
            start = i + 1;
        }
    }
    for (size_t i = 0; i + 1 < count; i++)
        if (nums[i] > 255) return false;
    uint64_t limit = 1ull << (8 * (5 - count));
    if (nums[count - 1] >= limit) return false;
    uint64_t v = nums[count - 1];
    for (size_t i = 0; i + 1 < count; i++)
        v += nums[i] << (8 * (3 - i));
    char tmp[20];
    int len = 0;
    for (int k = 3; k >= 0; k--) {
        unsigned b = (unsigned)((v >> (8 * k)) & 255);
        char d[4];
        int dn = 0;
        do {
            d[dn++] = (char)('0' + b % 10);
            b /= 10;
        } while (b);
        while (dn)
            tmp[len++] = d[--dn];
        if (k) tmp[len++] = '.';
    }
    ustr_putn(out, tmp, (size_t)len);
    return true;
}

static UIDNA *uts46;
static pthread_once_t uts46_once = PTHREAD_ONCE_INIT;

static void uts46_init(void)
{
    UErrorCode e = U_ZERO_ERROR;
    /* domain to ASCII with beStrict false: CheckHyphens, UseSTD3ASCIIRules and VerifyDnsLength
     * off, CheckBidi and CheckJoiners on, nontransitional */
    uts46 = uidna_openUTS46(UIDNA_CHECK_BIDI | UIDNA_CHECK_CONTEXTJ |
                                UIDNA_NONTRANSITIONAL_TO_ASCII | UIDNA_NONTRANSITIONAL_TO_UNICODE,
                            &e);
    if (U_FAILURE(e)) uts46 = NULL;
}

/* UTS #46 ToASCII of a UTF-8 domain. False on an error the standard counts. */
static bool uts46_to_ascii(struct ustr *out, const char *in, size_t n)
{
    pthread_once(&uts46_once, uts46_init);
    if (!uts46 || n > 4096) return false;
    char buf[4 * 4096 + 64];
    UErrorCode e = U_ZERO_ERROR;
    UIDNAInfo info = UIDNA_INFO_INITIALIZER;
    int32_t len =
        uidna_nameToASCII_UTF8(uts46, in, (int32_t)n, buf, (int32_t)sizeof(buf), &info, &e);
    if (U_FAILURE(e) || len < 0 || (size_t)len >= sizeof(buf)) return false;
    uint32_t ignored = UIDNA_ERROR_EMPTY_LABEL | UIDNA_ERROR_LABEL_TOO_LONG |
                       UIDNA_ERROR_DOMAIN_NAME_TOO_LONG | UIDNA_ERROR_LEADING_HYPHEN |
                       UIDNA_ERROR_TRAILING_HYPHEN | UIDNA_ERROR_HYPHEN_3_4;
    if (info.errors & ~ignored) return false;
    ustr_putn(out, buf, (size_t)len);
    return true;
}

/* The host parser: writes the serialized host into out. */
static enum url_result host_parse(struct ustr *out, const uint32_t *in, size_t n, bool opaque)
{
    ustr_clear(out);
    if (n > 0 && in[0] == '[') {
        if (in[n - 1] != ']' || n < 2) return URL_FAILURE;
        uint16_t a[8];
        if (!ipv6_parse(in + 1, n - 2, a)) return URL_FAILURE;
        ipv6_serialize(out, a);
        return out->oom ? URL_OOM : URL_OK;
    }
    if (opaque) {
        for (size_t i = 0; i < n; i++)
            if (forbidden_host(in[i])) return URL_FAILURE;
        for (size_t i = 0; i < n; i++)
            pct_encode(out, in[i], SET_C0);
        return out->oom ? URL_OOM : URL_OK;
    }
    /* UTF-8, then percent-decoded bytes */
    struct ustr raw = {0}, dec = {0};
    for (size_t i = 0; i < n; i++) {
        char b[4];
        ustr_putn(&raw, b, utf8_encode(in[i], b));
    }
    for (size_t i = 0; i < raw.len; i++) {
        if (raw.p[i] == '%' && i + 2 < raw.len && is_hex((unsigned char)raw.p[i + 1]) &&
            is_hex((unsigned char)raw.p[i + 2])) {
            ustr_putc(&dec, (char)(hex_val((unsigned char)raw.p[i + 1]) * 16 +
                                   hex_val((unsigned char)raw.p[i + 2])));
            i += 2;
        } else {
            ustr_putc(&dec, raw.p[i]);
        }
    }
    enum url_result r = URL_OK;
    if (raw.oom || dec.oom) {
        r = URL_OOM;
        goto done;
    }
    bool ascii = true;
    for (size_t i = 0; i < dec.len; i++)
        if ((unsigned char)dec.p[i] >= 0x80) ascii = false;
    struct ustr domain = {0};
    if (ascii) {
        for (size_t i = 0; i < dec.len; i++)
            ustr_putc(&domain, (char)lower((unsigned char)dec.p[i]));
    } else {
        uint32_t *cp;
        size_t cn;
        bool oom = false;
        if (!utf8_decode(dec.p, dec.len, &cp, &cn, &oom)) {
            r = oom ? URL_OOM : URL_FAILURE;
            goto done;
        }
        free(cp);
        if (!uts46_to_ascii(&domain, dec.p, dec.len)) {
            r = domain.oom ? URL_OOM : URL_FAILURE;
            ustr_free(&domain);
            goto done;
        }
    }
    if (domain.oom) {
        r = URL_OOM;
    } else if (domain.len == 0) {
        r = URL_FAILURE;
    } else {
        for (size_t i = 0; i < domain.len; i++)
            if (forbidden_domain((unsigned char)domain.p[i])) r = URL_FAILURE;
        if (r == URL_OK) {
            if (ends_in_number(domain.p, domain.len)) {
                if (!ipv4_parse(out, domain.p, domain.len)) r = URL_FAILURE;
            } else {
                ustr_putn(out, domain.p, domain.len);
            }
            if (out->oom) r = URL_OOM;
        }
    }
    ustr_free(&domain);
done:
    ustr_free(&raw);
    ustr_free(&dec);
    return r;
}

/* --- paths -------------------------------------------------------------------------------- */

static bool is_drive(const uint32_t *c, size_t n, bool normalized)
{
    return n == 2 && is_alpha(c[0]) && (c[1] == ':' || (!normalized && c[1] == '|'));
}

static bool starts_with_drive(const uint32_t *c, size_t n)
{
    if (n < 2 || !is_alpha(c[0]) || (c[1] != ':' && c[1] != '|')) return false;
    return n == 2 || c[2] == '/' || c[2] == '\\' || c[2] == '?' || c[2] == '#';
}

static void path_append(struct url *u, const char *seg, size_t n)
{
    ustr_putc(&u->path, '/');
    ustr_putn(&u->path, seg, n);
    u->segments++;
}

static bool first_segment_is_normalized_drive(const struct url *u)
{
    if (u->segments < 1 || u->path.len < 3) return false;
    const char *p = u->path.p;
    return is_alpha((unsigned char)p[1]) && p[2] == ':' && (u->path.len == 3 || p[3] == '/');
}

static void path_shorten(struct url *u)
{
    if (ustr_eq(&u->scheme, "file") && u->segments == 1 && first_segment_is_normalized_drive(u))
        return;
    if (u->segments == 0 || u->path.len == 0) return; /* (empty only after out of memory) */
    size_t i = u->path.len;
    while (i > 0 && u->path.p[i - 1] != '/')
        i--;
    u->path.len = i - 1;
    u->path.p[u->path.len] = '\0';
    u->segments--;
}

static bool ieq(const struct ustr *s, const char *z)
{
    size_t n = strlen(z);
    if (s->len != n) return false;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s->p[i]) != (unsigned char)z[i]) return false;
    return true;
}

static bool single_dot(const struct ustr *s)
{
    return ieq(s, ".") || ieq(s, "%2e");
}

static bool double_dot(const struct ustr *s)
{
    return ieq(s, "..") || ieq(s, ".%2e") || ieq(s, "%2e.") || ieq(s, "%2e%2e");
}

/* --- records ------------------------------------------------------------------------------ */

void url_init(struct url *u)
{
    memset(u, 0, sizeof(*u));
    u->port = -1;
}

void url_release(struct url *u)
{
    ustr_free(&u->scheme);
    ustr_free(&u->username);
    ustr_free(&u->password);
    ustr_free(&u->host);
    ustr_free(&u->path);
    ustr_free(&u->query);
    ustr_free(&u->fragment);
    url_init(u);
}

static bool url_oom(const struct url *u)
{
    return u->scheme.oom || u->username.oom || u->password.oom || u->host.oom || u->path.oom ||
           u->query.oom || u->fragment.oom;
}

/* --- the state machine -------------------------------------------------------------------- */

enum state {
    S_SCHEME_START,
    S_SCHEME,
    S_NO_SCHEME,
    S_SPECIAL_RELATIVE_OR_AUTHORITY,
    S_PATH_OR_AUTHORITY,
    S_RELATIVE,
    S_RELATIVE_SLASH,
    S_SPECIAL_AUTHORITY_SLASHES,
    S_SPECIAL_AUTHORITY_IGNORE_SLASHES,
    S_AUTHORITY,
    S_HOST,
    S_PORT,
    S_FILE,
    S_FILE_SLASH,
    S_FILE_HOST,
    S_PATH_START,
    S_PATH,
    S_OPAQUE_PATH,
    S_QUERY,
    S_FRAGMENT,
};

static enum url_result run(struct url *u, const uint32_t *in, long n, const struct url *base,
                           enum url_state ov)
{
    enum state state = S_SCHEME_START;
    switch (ov) {
    case URL_STATE_NONE:
        state = S_SCHEME_START;
        break;
    case URL_STATE_HOSTNAME:
        state = S_HOST;
        break;
    case URL_STATE_PORT:
        state = S_PORT;
        break;
    case URL_STATE_PATH_START:
        state = S_PATH_START;
        break;
    case URL_STATE_OPAQUE_PATH:
        state = S_OPAQUE_PATH;
        break;
    case URL_STATE_QUERY:
        state = S_QUERY;
        break;
    case URL_STATE_FRAGMENT:
        state = S_FRAGMENT;
        break;
    }
    struct cpbuf buf = {0};
    struct ustr seg = {0}; /* the path state's buffer */
    bool at_seen = false, inside_brackets = false, password_seen = false;
    enum url_result r = URL_OK;
    long p = 0;

#define FAIL(x)                                                                                    \
    do {                                                                                           \
        r = (x);                                                                                   \
        goto out;                                                                                  \
    } while (0)
#define REMAINING_STARTS(ch) (p + 1 < n && in[p + 1] == (ch))

    for (;;) {
        uint32_t c = (p >= 0 && p < n) ? in[p] : EOF_CP;
        /* out of memory: appends have stopped; checked once at the end */
        switch (state) {
        case S_SCHEME_START:
            if (c != EOF_CP && is_alpha(c)) {
                cp_put(&buf, lower(c));
                state = S_SCHEME;
            } else if (ov == URL_STATE_NONE) {
                state = S_NO_SCHEME;
                p--;
            } else {
                FAIL(URL_FAILURE);
            }
            break;
        case S_SCHEME:
            if (c != EOF_CP && (is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.')) {
                cp_put(&buf, lower(c));
            } else if (c == ':') {
                ustr_clear(&u->scheme);
                for (size_t i = 0; i < buf.len; i++)
                    ustr_putc(&u->scheme, (char)buf.p[i]);
                buf.len = 0;
                if (ustr_eq(&u->scheme, "file")) {
                    state = S_FILE;
                } else if (special(u) && base && base->scheme.len == u->scheme.len &&
                           memcmp(ustr_z(&base->scheme), ustr_z(&u->scheme), u->scheme.len) == 0) {
                    state = S_SPECIAL_RELATIVE_OR_AUTHORITY;
                } else if (special(u)) {
                    state = S_SPECIAL_AUTHORITY_SLASHES;
                } else if (REMAINING_STARTS('/')) {
                    state = S_PATH_OR_AUTHORITY;
                    p++;
                } else {
                    u->opaque_path = true;
                    ustr_clear(&u->path);
                    state = S_OPAQUE_PATH;
                }
            } else if (ov == URL_STATE_NONE) {
                buf.len = 0;
                state = S_NO_SCHEME;
                p = -1;
            } else {
                FAIL(URL_FAILURE);
            }
            break;
        case S_NO_SCHEME:
            if (!base || (base->opaque_path && c != '#')) FAIL(URL_FAILURE);
            if (base->opaque_path && c == '#') {
                ustr_copy(&u->scheme, &base->scheme);
                ustr_copy(&u->path, &base->path);
                u->opaque_path = true;
                u->has_query = base->has_query;
                ustr_copy(&u->query, &base->query);
                u->has_fragment = true;
                ustr_clear(&u->fragment);
                state = S_FRAGMENT;
            } else if (!ustr_eq(&base->scheme, "file")) {
                state = S_RELATIVE;
                p--;
            } else {
                state = S_FILE;
                p--;
            }
            break;
        case S_SPECIAL_RELATIVE_OR_AUTHORITY:
            if (c == '/' && REMAINING_STARTS('/')) {
                state = S_SPECIAL_AUTHORITY_IGNORE_SLASHES;
                p++;
            } else {
                state = S_RELATIVE;
                p--;
            }
            break;
        case S_PATH_OR_AUTHORITY:
            if (c == '/') {
                state = S_AUTHORITY;
            } else {
                state = S_PATH;
                p--;
            }
            break;
        case S_RELATIVE:
            ustr_copy(&u->scheme, &base->scheme);
            if (c == '/' || (special(u) && c == '\\')) {
                state = S_RELATIVE_SLASH;
            } else {
                ustr_copy(&u->username, &base->username);
                ustr_copy(&u->password, &base->password);
                u->has_host = base->has_host;
                ustr_copy(&u->host, &base->host);
                u->port = base->port;
                ustr_copy(&u->path, &base->path);
                u->segments = base->segments;
                u->opaque_path = base->opaque_path;
                u->has_query = base->has_query;
                ustr_copy(&u->query, &base->query);
                if (c == '?') {
                    u->has_query = true;
                    ustr_clear(&u->query);
                    state = S_QUERY;
                } else if (c == '#') {
                    u->has_fragment = true;
                    ustr_clear(&u->fragment);
                    state = S_FRAGMENT;
                } else if (c != EOF_CP) {
                    u->has_query = false;
                    ustr_clear(&u->query);
                    path_shorten(u);
                    state = S_PATH;
                    p--;
                }
            }
            break;
        case S_RELATIVE_SLASH:
            if (special(u) && (c == '/' || c == '\\')) {
                state = S_SPECIAL_AUTHORITY_IGNORE_SLASHES;
            } else if (c == '/') {
                state = S_AUTHORITY;
            } else {
                ustr_copy(&u->username, &base->username);
                ustr_copy(&u->password, &base->password);
                u->has_host = base->has_host;
                ustr_copy(&u->host, &base->host);
                u->port = base->port;
                state = S_PATH;
                p--;
            }
            break;
        case S_SPECIAL_AUTHORITY_SLASHES:
            if (c == '/' && REMAINING_STARTS('/')) {
                state = S_SPECIAL_AUTHORITY_IGNORE_SLASHES;
                p++;
            } else {
                state = S_SPECIAL_AUTHORITY_IGNORE_SLASHES;
                p--;
            }
            break;
        case S_SPECIAL_AUTHORITY_IGNORE_SLASHES:
            if (c != '/' && c != '\\') {
                state = S_AUTHORITY;
                p--;
            }
            break;
        case S_AUTHORITY:
            if (c == '@') {
                if (at_seen) {
                    /* prepend "%40": re-encode what is already there after it */
                    struct cpbuf nb = {0};
                    cp_put(&nb, '%');
                    cp_put(&nb, '4');
                    cp_put(&nb, '0');
                    for (size_t i = 0; i < buf.len; i++)
                        cp_put(&nb, buf.p[i]);
                    free(buf.p);
                    buf = nb;
                    if (buf.oom) FAIL(URL_OOM);
                }
                at_seen = true;
                for (size_t i = 0; i < buf.len; i++) {
                    if (buf.p[i] == ':' && !password_seen) {
                        password_seen = true;
                        continue;
                    }
                    pct_encode(password_seen ? &u->password : &u->username, buf.p[i], SET_USERINFO);
                }
                buf.len = 0;
            } else if (c == EOF_CP || c == '/' || c == '?' || c == '#' ||
                       (special(u) && c == '\\')) {
                if (at_seen && buf.len == 0) FAIL(URL_FAILURE);
                p -= (long)buf.len + 1;
                buf.len = 0;
                state = S_HOST;
            } else {
                cp_put(&buf, c);
            }
            break;
        case S_HOST:
            if (ov != URL_STATE_NONE && ustr_eq(&u->scheme, "file")) {
                p--;
                state = S_FILE_HOST;
            } else if (c == ':' && !inside_brackets) {
                if (buf.len == 0) FAIL(URL_FAILURE);
                if (ov == URL_STATE_HOSTNAME) FAIL(URL_FAILURE);
                enum url_result hr = host_parse(&u->host, buf.p, buf.len, !special(u));
                if (hr != URL_OK) FAIL(hr);
                u->has_host = true;
                buf.len = 0;
                state = S_PORT;
            } else if (c == EOF_CP || c == '/' || c == '?' || c == '#' ||
                       (special(u) && c == '\\')) {
                p--;
                if (special(u) && buf.len == 0) FAIL(URL_FAILURE);
                if (ov != URL_STATE_NONE && buf.len == 0 &&
                    (u->username.len || u->password.len || u->port != -1))
                    FAIL(URL_FAILURE);
                enum url_result hr = host_parse(&u->host, buf.p, buf.len, !special(u));
                if (hr != URL_OK) FAIL(hr);
                u->has_host = true;
                buf.len = 0;
                state = S_PATH_START;
                if (ov != URL_STATE_NONE) goto out;
            } else {
                if (c == '[') inside_brackets = true;
                if (c == ']') inside_brackets = false;
                cp_put(&buf, c);
            }
            break;
        case S_PORT:
            if (c != EOF_CP && is_digit(c)) {
                cp_put(&buf, c);
            } else if (c == EOF_CP || c == '/' || c == '?' || c == '#' ||
                       (special(u) && c == '\\') || ov != URL_STATE_NONE) {
                if (buf.len) {
                    uint32_t port = 0;
                    for (size_t i = 0; i < buf.len; i++) {
                        port = port * 10 + (buf.p[i] - '0');
                        if (port > 65535) FAIL(URL_FAILURE);
                    }
                    int def = url_default_port(ustr_z(&u->scheme), u->scheme.len);
                    u->port = ((int)port == def) ? -1 : (int)port;
                    buf.len = 0;
                    if (ov != URL_STATE_NONE) goto out;
                }
                if (ov != URL_STATE_NONE) FAIL(URL_FAILURE);
                state = S_PATH_START;
                p--;
            } else {
                FAIL(URL_FAILURE);
            }
            break;
        case S_FILE:
            ustr_clear(&u->scheme);
            ustr_puts(&u->scheme, "file");
            u->has_host = true;
            ustr_clear(&u->host);
            if (c == '/' || c == '\\') {
                state = S_FILE_SLASH;
            } else if (base && ustr_eq(&base->scheme, "file")) {
                u->has_host = base->has_host;
                ustr_copy(&u->host, &base->host);
                ustr_copy(&u->path, &base->path);
                u->segments = base->segments;
                u->has_query = base->has_query;
                ustr_copy(&u->query, &base->query);
                if (c == '?') {
                    u->has_query = true;
                    ustr_clear(&u->query);
                    state = S_QUERY;
                } else if (c == '#') {
                    u->has_fragment = true;
                    ustr_clear(&u->fragment);
                    state = S_FRAGMENT;
                } else if (c != EOF_CP) {
                    u->has_query = false;
                    ustr_clear(&u->query);
                    if (!starts_with_drive(in + p, (size_t)(n - p))) {
                        path_shorten(u);
                    } else {
                        ustr_clear(&u->path);
                        u->segments = 0;
                    }
                    state = S_PATH;
                    p--;
                }
            } else {
                state = S_PATH;
                p--;
            }
            break;
        case S_FILE_SLASH:
            if (c == '/' || c == '\\') {
                state = S_FILE_HOST;
            } else {
                if (base && ustr_eq(&base->scheme, "file")) {
                    u->has_host = base->has_host;
                    ustr_copy(&u->host, &base->host);
                    if (!starts_with_drive(in + p, (size_t)(n - p)) &&
                        first_segment_is_normalized_drive(base))
                        path_append(u, base->path.p + 1, 2);
                }
                state = S_PATH;
                p--;
            }
            break;
        case S_FILE_HOST:
            if (c == EOF_CP || c == '/' || c == '\\' || c == '?' || c == '#') {
                p--;
                if (ov == URL_STATE_NONE && is_drive(buf.p, buf.len, false)) {
                    /* the buffer carries over into the path state */
                    for (size_t i = 0; i < buf.len; i++)
                        pct_encode(&seg, buf.p[i], SET_PATH);
                    buf.len = 0;
                    state = S_PATH;
                } else if (buf.len == 0) {
                    u->has_host = true;
                    ustr_clear(&u->host);
                    if (ov != URL_STATE_NONE) goto out;
                    state = S_PATH_START;
                } else {
                    enum url_result hr = host_parse(&u->host, buf.p, buf.len, !special(u));
                    if (hr != URL_OK) FAIL(hr);
                    if (ustr_eq(&u->host, "localhost")) ustr_clear(&u->host);
                    u->has_host = true;
                    if (ov != URL_STATE_NONE) goto out;
                    buf.len = 0;
                    state = S_PATH_START;
                }
            } else {
                cp_put(&buf, c);
            }
            break;
        case S_PATH_START:
            if (special(u)) {
                state = S_PATH;
                if (c != '/' && c != '\\') p--;
            } else if (ov == URL_STATE_NONE && c == '?') {
                u->has_query = true;
                ustr_clear(&u->query);
                state = S_QUERY;
            } else if (ov == URL_STATE_NONE && c == '#') {
                u->has_fragment = true;
                ustr_clear(&u->fragment);
                state = S_FRAGMENT;
            } else if (c != EOF_CP) {
                state = S_PATH;
                if (c != '/') p--;
            } else if (ov != URL_STATE_NONE && !u->has_host) {
                path_append(u, "", 0);
            }
            break;
        case S_PATH:
            if (c == EOF_CP || c == '/' || (special(u) && c == '\\') ||
                (ov == URL_STATE_NONE && (c == '?' || c == '#'))) {
                bool slash = c == '/' || (special(u) && c == '\\');
                if (double_dot(&seg)) {
                    path_shorten(u);
                    if (!slash) path_append(u, "", 0);
                } else if (single_dot(&seg) && !slash) {
                    path_append(u, "", 0);
                } else if (!single_dot(&seg)) {
                    if (ustr_eq(&u->scheme, "file") && u->segments == 0 && seg.len == 2 &&
                        is_alpha((unsigned char)seg.p[0]) && (seg.p[1] == ':' || seg.p[1] == '|'))
                        seg.p[1] = ':';
                    path_append(u, ustr_z(&seg), seg.len);
                }
                ustr_clear(&seg);
                if (c == '?') {
                    u->has_query = true;
                    ustr_clear(&u->query);
                    state = S_QUERY;
                }
                if (c == '#') {
                    u->has_fragment = true;
                    ustr_clear(&u->fragment);
                    state = S_FRAGMENT;
                }
            } else {
                pct_encode(&seg, c, SET_PATH);
            }
            break;
        case S_OPAQUE_PATH:
            if (c == '?') {
                u->has_query = true;
                ustr_clear(&u->query);
                state = S_QUERY;
            } else if (c == '#') {
                u->has_fragment = true;
                ustr_clear(&u->fragment);
                state = S_FRAGMENT;
            } else if (c == ' ') {
                if (REMAINING_STARTS('?') || REMAINING_STARTS('#'))
                    ustr_puts(&u->path, "%20");
                else
                    ustr_putc(&u->path, ' ');
            } else if (c != EOF_CP) {
                pct_encode(&u->path, c, SET_C0);
            }
            break;
        case S_QUERY:
            if ((ov == URL_STATE_NONE && c == '#') || c == EOF_CP) {
                if (c == '#') {
                    u->has_fragment = true;
                    ustr_clear(&u->fragment);
                    state = S_FRAGMENT;
                }
            } else {
                pct_encode(&u->query, c, special(u) ? SET_SPECIAL_QUERY : SET_QUERY);
            }
            break;
        case S_FRAGMENT:
            if (c != EOF_CP) pct_encode(&u->fragment, c, SET_FRAGMENT);
            break;
        }
        if (p >= n) break;
        p++;
    }
out:
    if (r == URL_OK && (buf.oom || seg.oom || url_oom(u))) r = URL_OOM;
    free(buf.p);
    ustr_free(&seg);
    return r;
#undef FAIL
#undef REMAINING_STARTS
}

enum url_result url_parse(struct url *u, const char *in, size_t len, const struct url *base,
                          enum url_state ov)
{
    uint32_t *cp;
    size_t n;
    bool oom = false;
    if (!utf8_decode(in, len, &cp, &n, &oom)) return oom ? URL_OOM : URL_FAILURE;
    size_t start = 0, end = n;
    if (ov == URL_STATE_NONE) {
        while (start < end && cp[start] <= 0x20)
            start++;
        while (end > start && cp[end - 1] <= 0x20)
            end--;
    }
    size_t k = 0;
    for (size_t i = start; i < end; i++)
        if (cp[i] != '\t' && cp[i] != '\n' && cp[i] != '\r') cp[k++] = cp[i];
    if (ov == URL_STATE_NONE) {
        url_release(u);
        /* every component exists as a string from the start */
        ustr_puts(&u->scheme, "");
    }
    enum url_result r = run(u, cp, (long)k, base, ov);
    free(cp);
    return r;
}
