/* UTF-8 checks: what may reach an event stream. */
#include <criterion/criterion.h>

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
