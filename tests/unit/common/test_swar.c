/* Word-at-a-time byte tests (common/swar.h) against byte-by-byte answers, at every offset and
 * length around the 8-byte words. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/swar.h"

Test(swar, find2_finds_the_first_of_two_bytes_at_every_offset)
{
    char buf[64];
    for (size_t len = 0; len <= 40; len++) {
        for (size_t at = 0; at <= len; at++) {
            for (size_t second = at; second <= len; second++) {
                memset(buf, 'x', sizeof(buf));
                if (at < len) buf[at] = (char)(at % 2 ? '\r' : '\n');
                if (second < len) buf[second] = '\n';
                /* Bytes one borrow away from a match, and high bytes, around the matches. */
                if (at + 1 < len && second != at + 1) buf[at + 1] = '\x0b';
                if (at > 0) buf[at - 1] = (char)0xff;
                size_t want = 0;
                while (want < len && buf[want] != '\n' && buf[want] != '\r')
                    want++;
                const char *got = swar_find2(buf, buf + len, '\n', '\r');
                cr_assert_eq((size_t)(got - buf), want, "len %zu, at %zu, second %zu: %zu", len, at,
                             second, (size_t)(got - buf));
            }
        }
    }
}

Test(swar, the_word_tests_match_byte_by_byte_answers)
{
    const unsigned char samples[] = {0x00, 0x01, 0x1f, 0x20, 0x21, 0x7e, 0x7f, 0x80, 0x9f, 0xff};
    for (size_t i = 0; i < sizeof(samples); i++) {
        for (int pos = 0; pos < 8; pos++) {
            unsigned char bytes[8];
            memset(bytes, 'a', 8);
            bytes[pos] = samples[i];
            uint64_t w = swar_load(bytes);
            unsigned char c = samples[i];
            cr_assert_eq(swar_ascii(w), c < 0x80);
            cr_assert_eq(swar_has_less(w, 0x20), c < 0x20);
            cr_assert_eq(swar_has(w, 0x7f), c == 0x7f);
            cr_assert_eq(swar_has(w, 'a'), true);
            cr_assert_eq(swar_has(w, 'b'), false);
        }
    }
}
