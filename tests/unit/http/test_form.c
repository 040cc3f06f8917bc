/* Form decoding (publish bodies, query strings) and UTF-8 validation. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "http/form.h"

static size_t parse(const char *in, struct form_pair *pairs, size_t max, enum form_status *st)
{
    static char buf[4096];
    size_t len = strlen(in);
    memcpy(buf, in, len + 1);
    size_t n = 99;
    *st = form_parse(buf, len, pairs, max, &n);
    return n;
}

Test(form, decodes_pairs_in_order)
{
    struct form_pair p[8];
    enum form_status st;
    size_t n = parse("topic=https%3A%2F%2Fexample.com%2Fa&data=hello+world&topic=b", p, 8, &st);
    cr_assert_eq(st, FORM_OK);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(p[0].key, "topic");
    cr_assert_str_eq(p[0].value, "https://example.com/a");
    cr_assert_str_eq(p[1].value, "hello world");
    cr_assert_str_eq(p[2].value, "b");
}

Test(form, empty_segments_and_missing_values)
{
    struct form_pair p[8];
    enum form_status st;
    size_t n = parse("&a=1&&private&b=&", p, 8, &st);
    cr_assert_eq(st, FORM_OK);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(p[1].key, "private");
    cr_assert_eq(p[1].value_len, 0);
    cr_assert_str_eq(p[2].key, "b");
    cr_assert_eq(p[2].value_len, 0);
}

Test(form, bad_percent_encoding)
{
    struct form_pair p[8];
    enum form_status st;
    parse("a=%zz", p, 8, &st);
    cr_assert_eq(st, FORM_BAD_ENCODING);
    parse("a=%4", p, 8, &st);
    cr_assert_eq(st, FORM_BAD_ENCODING);
    parse("a=%", p, 8, &st);
    cr_assert_eq(st, FORM_BAD_ENCODING);
    parse("%g1=x", p, 8, &st);
    cr_assert_eq(st, FORM_BAD_ENCODING);
}

Test(form, nul_and_newlines_survive_with_lengths)
{
    struct form_pair p[2];
    enum form_status st;
    size_t n = parse("data=a%00b%0D%0Ac", p, 2, &st);
    cr_assert_eq(st, FORM_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(p[0].value_len, 6);
    cr_assert(memcmp(p[0].value, "a\0b\r\nc", 6) == 0);
}

Test(form, too_many_pairs)
{
    struct form_pair p[2];
    enum form_status st;
    parse("a=1&b=2&c=3", p, 2, &st);
    cr_assert_eq(st, FORM_TOO_MANY);
}

Test(form, plain_uri_decoding_keeps_plus)
{
    char out[16];
    cr_assert_eq(form_decode(out, "a+b%2Bc", 7, false), 5);
    cr_assert(memcmp(out, "a+b+c", 5) == 0);
    cr_assert_eq(form_decode(out, "a+b", 3, true), 3);
    cr_assert(memcmp(out, "a b", 3) == 0);
}

/* A reference decoder, byte by byte, to compare with: escapes are looked for 8 bytes at a time
 * and the runs between them moved whole, so every offset and mix is tried. */
static long reference_decode(char *dst, const char *src, size_t len, bool plus)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '%') {
            unsigned v;
            if (i + 2 >= len || !strchr("0123456789abcdefABCDEF", src[i + 1]) || !src[i + 1] ||
                !strchr("0123456789abcdefABCDEF", src[i + 2]) || !src[i + 2] ||
                sscanf(src + i + 1, "%2x", &v) != 1)
                return -1;
            dst[o++] = (char)v;
            i += 2;
        } else {
            dst[o++] = plus && src[i] == '+' ? ' ' : src[i];
        }
    }
    return (long)o;
}

Test(form, decoding_matches_a_byte_by_byte_reference_at_every_offset)
{
    const char *inserts[] = {"%41", "%e9", "+", "%2B", "%", "%4", "%zz", "%0A%0d", "++", "%%41"};
    for (size_t len = 0; len <= 24; len++) {
        for (size_t at = 0; at <= len; at++) {
            for (size_t k = 0; k < sizeof(inserts) / sizeof(*inserts); k++) {
                for (int plus = 0; plus < 2; plus++) {
                    char src[64], in_place[64], ref[64];
                    size_t il = strlen(inserts[k]);
                    memset(src, 'a', len);
                    memmove(src + at + il, src + at, len - at);
                    memcpy(src + at, inserts[k], il);
                    size_t n = len + il;
                    memcpy(in_place, src, n);
                    long want = reference_decode(ref, src, n, plus);
                    long got = form_decode(in_place, in_place, n, plus);
                    cr_assert_eq(got, want, "%.*s (plus %d): %ld, want %ld", (int)n, src, plus, got,
                                 want);
                    if (want >= 0)
                        cr_assert(memcmp(in_place, ref, (size_t)want) == 0, "%.*s", (int)n, src);
                }
            }
        }
    }
}
