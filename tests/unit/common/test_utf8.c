/* UTF-8 checks: what may reach an event stream. */
#include <criterion/criterion.h>

#include <string.h>

#include "common/utf8.h"

Test(utf8, well_formed_and_not)
{
    cr_assert(utf8_valid("plain", 5));
    cr_assert(utf8_valid("caf\xc3\xa9", 5));
    cr_assert(utf8_valid("\xf0\x9f\x98\x80", 4));
    cr_assert_not(utf8_valid("\xc3", 1), "truncated");
    cr_assert_not(utf8_valid("\xc0\xaf", 2), "overlong");
    cr_assert_not(utf8_valid("\xe0\x80\xaf", 3), "overlong 3-byte");
    cr_assert_not(utf8_valid("\xed\xa0\x80", 3), "surrogate");
    cr_assert_not(utf8_valid("\xf4\x90\x80\x80", 4), "above U+10FFFF");
    cr_assert_not(utf8_valid("\xff", 1));
    cr_assert_not(utf8_valid("a\x80", 2), "lone continuation");
}

Test(utf8, printable_refuses_controls)
{
    cr_assert(utf8_printable("https://example.com/b\xc3\xa9/1", 24));
    cr_assert_not(utf8_printable("a\x01"
                                 "b",
                                 3));
    cr_assert_not(utf8_printable("a\x7f", 2), "DEL");
    cr_assert_not(utf8_printable("a\nb", 3));
    cr_assert_not(utf8_printable("a\0b", 3));
    cr_assert_not(utf8_printable("\xc3", 1), "not UTF-8");
}

Test(utf8, protocol_text_refuses_c0_c1_del_and_format_characters)
{
    cr_assert(utf8_protocol_text("https://example.com/b\xc3\xa9/1", 24));
    cr_assert(utf8_protocol_text("\xf0\x9f\x98\x80", 4), "emoji (So) is fine");
    cr_assert(utf8_protocol_text("\xc2\xa0", 2), "U+00A0 (Zs) is fine");
    cr_assert(utf8_protocol_text("", 0));
    cr_assert_not(utf8_protocol_text("a\tb", 3), "C0");
    cr_assert_not(utf8_protocol_text("a\x7f", 2), "DEL");
    cr_assert_not(utf8_protocol_text("\xc2\x80", 2), "U+0080 (C1)");
    cr_assert_not(utf8_protocol_text("\xc2\x9f", 2), "U+009F (C1)");
    cr_assert_not(utf8_protocol_text("\xc2\xad", 2), "U+00AD soft hyphen (Cf)");
    cr_assert_not(utf8_protocol_text("a\xe2\x80\x8b", 4), "U+200B zero width space (Cf)");
    cr_assert_not(utf8_protocol_text("\xe2\x80\xae", 3), "U+202E right-to-left override (Cf)");
    cr_assert_not(utf8_protocol_text("\xef\xbb\xbf", 3), "U+FEFF (Cf)");
    cr_assert_not(utf8_protocol_text("\xf3\xa0\x80\x81", 4), "U+E0001 language tag (Cf)");
    cr_assert(utf8_protocol_text("\xe2\x80\xaf", 3), "U+202F (Zs), next to the Cf run");
    cr_assert_not(utf8_protocol_text("\xc3", 1), "not UTF-8");
}

/* The checks look at 8 bytes at a time: a bad byte is found at every offset of a longer text,
 * and a good multi-byte character at every offset is accepted. */
Test(utf8, every_offset_of_a_long_text)
{
    for (size_t len = 1; len <= 40; len++) {
        for (size_t at = 0; at < len; at++) {
            char s[48];
            memset(s, 'a', len);
            const unsigned char bad[] = {0x00, 0x01, 0x1f, 0x7f, 0x80, 0xc3, 0xff};
            for (size_t b = 0; b < sizeof(bad); b++) {
                s[at] = (char)bad[b];
                bool valid = bad[b] < 0x80;
                cr_assert_eq(utf8_valid(s, len), valid, "byte %02x at %zu of %zu", bad[b], at, len);
                cr_assert_not(utf8_protocol_text(s, len), "byte %02x at %zu of %zu", bad[b], at,
                              len);
                cr_assert_eq(utf8_printable(s, len), false, "byte %02x at %zu of %zu", bad[b], at,
                             len);
            }
            s[at] = ' ';
            cr_assert(utf8_protocol_text(s, len));
            if (at + 2 <= len) { /* U+00E9 */
                memcpy(s + at, "\xc3\xa9", 2);
                cr_assert(utf8_valid(s, len));
                cr_assert(utf8_protocol_text(s, len));
            }
            if (at + 3 <= len) { /* U+200B, a format character */
                memcpy(s + at, "\xe2\x80\x8b", 3);
                cr_assert(utf8_valid(s, len));
                cr_assert_not(utf8_protocol_text(s, len));
            }
        }
    }
}
