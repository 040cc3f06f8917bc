/* The Cookie header: how a browser's EventSource token is found. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "http/cookie.h"

static const char *cookie(const char *header, const char *name)
{
    static char out[256];
    const char *val;
    size_t vlen;
    if (!cookie_find(header, strlen(header), name, &val, &vlen)) return NULL;
    cr_assert(val >= header && val + vlen <= header + strlen(header));
    snprintf(out, sizeof(out), "%.*s", (int)vlen, val);
    return out;
}

Test(cookie, parsing)
{
    const char *n = "mercureAuthorization";
    cr_assert_str_eq(cookie("a=1; mercureAuthorization=xyz; b=2", n), "xyz");
    cr_assert_str_eq(cookie("mercureAuthorization=xyz", n), "xyz");
    cr_assert_str_eq(cookie("a=1;mercureAuthorization=xyz;b=2", n), "xyz");
    cr_assert_str_eq(cookie("a=1 ;  mercureAuthorization = xyz ; b=2", n), "xyz");
    cr_assert_str_eq(cookie("a=1; mercureAuthorization=\"x.y.z\"", n), "x.y.z");
    cr_assert_str_eq(cookie("a=1; mercureAuthorization=", n), "");
    cr_assert_str_eq(cookie("a=1; mercureAuthorization=\"\"", n), "");
    cr_assert_str_eq(cookie("mercureAuthorization=a=b=c; x=1", n), "a=b=c");
    cr_assert_str_eq(cookie("mercureAuthorization=first; mercureAuthorization=second", n), "first");
    cr_assert_str_eq(cookie("\tmercureAuthorization=tab\t", n), "tab");
    cr_assert_str_eq(cookie("foo; bar=1; mercureAuthorization=after-flag", n), "after-flag");
    cr_assert_str_eq(cookie(";;; mercureAuthorization=x;;", n), "x");
    cr_assert_str_eq(cookie("a=1; mercureAuthorization=\"unterminated", n), "\"unterminated");

    /* Exact, case-sensitive names. */
    cr_assert_null(cookie("a=1; b=2", n));
    cr_assert_null(cookie("", n));
    cr_assert_null(cookie("mercureauthorization=x", n));
    cr_assert_null(cookie("xmercureAuthorization=x", n));
    cr_assert_null(cookie("mercureAuthorizationX=x", n));
    cr_assert_null(cookie("a=mercureAuthorization=x", n));
    cr_assert_null(cookie("mercureAuthorization", n));
    cr_assert_null(cookie("a=1; mercureAuthorization", n));
    cr_assert_null(cookie("a=1", ""));

    /* The length bounds the search, not a NUL. */
    const char *h = "a=1; mercureAuthorization=xyz";
    const char *val;
    size_t vlen;
    cr_assert_not(cookie_find(h, 10, n, &val, &vlen));
    cr_assert(cookie_find(h, strlen(h) - 1, n, &val, &vlen));
    cr_assert_eq(vlen, 2);

    /* Custom cookie names. */
    cr_assert_str_eq(cookie("session=s; auth=tok", "auth"), "tok");
}
