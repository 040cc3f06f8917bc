/* Form decoding (publish bodies, query strings) and UTF-8 validation. */
#include <criterion/criterion.h>
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
