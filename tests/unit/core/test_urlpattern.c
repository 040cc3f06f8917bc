/* URL Pattern (WHATWG) as Mercure 1.0 uses it: constructor strings against the hub's URL.
 * The bulk of the proof is differential (tests/urlpattern/differential.test.mjs, against
 * urlpattern-polyfill and Chromium); these pin the cases Mercure clients depend on. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/urlpattern.h"

#define HUB "https://localhost/.well-known/mercure"

static bool m(const char *pattern, const char *base, const char *topic)
{
    const char *reason = NULL;
    struct urlpattern *p =
        urlpattern_compile(pattern, strlen(pattern), base, base ? strlen(base) : 0, &reason);
    cr_assert_not_null(p, "%s: %s", pattern, reason ? reason : "?");
    bool r = urlpattern_match_topic(p, topic, strlen(topic), base, base ? strlen(base) : 0);
    urlpattern_free(p);
    return r;
}

static const char *err(const char *pattern, const char *base)
{
    const char *reason = NULL;
    struct urlpattern *p =
        urlpattern_compile(pattern, strlen(pattern), base, base ? strlen(base) : 0, &reason);
    if (p) {
        urlpattern_free(p);
        return NULL;
    }
    cr_assert_not_null(reason);
    return reason;
}

static const char *component(const char *pattern, const char *base, enum urlpattern_component c,
                             char *buf, size_t size)
{
    const char *reason = NULL;
    struct urlpattern *p =
        urlpattern_compile(pattern, strlen(pattern), base, base ? strlen(base) : 0, &reason);
    cr_assert_not_null(p, "%s: %s", pattern, reason ? reason : "?");
    snprintf(buf, size, "%s", urlpattern_component_pattern(p, c));
    urlpattern_free(p);
    return buf;
}

Test(urlpattern, named_group_matches_one_segment)
{
    /* the conformance suite's rows */
    cr_assert(m("https://example.net/foo/:random", NULL, "https://example.net/foo/R4"));
    cr_assert_not(
        m("https://example.net/bar/:var", NULL, "https://example.net/foo/will-not-match"));
    cr_assert_not(m("https://example.net/foo/:id", NULL, "https://example.net/foo/1/2"));
    cr_assert_not(m("https://example.net/foo/:id", NULL, "https://example.net/foo/"));
}

Test(urlpattern, unspecified_components_are_wildcards)
{
    /* search, hash, username and password default to "*"; the port to "" */
    cr_assert(m("https://example.com/books/:id", NULL, "https://example.com/books/1?x=y#z"));
    cr_assert(m("https://example.com/books/:id", NULL, "https://u:p@example.com/books/1"));
    cr_assert_not(m("https://example.com/books/:id", NULL, "https://example.com:8443/books/1"));
    cr_assert(m("https://example.com:443/books/:id", NULL, "https://example.com/books/1"));
}

Test(urlpattern, braces_are_groups_not_templates)
{
    cr_assert(m("https://example.com/{selector}", NULL, "https://example.com/selector"));
    cr_assert_not(m("https://example.com/{selector}", NULL, "https://example.com/x"));
    cr_assert(m("https://example.com/a{/b}?", NULL, "https://example.com/a"));
    cr_assert(m("https://example.com/a{/b}?", NULL, "https://example.com/a/b"));
    cr_assert_not(m("https://example.com/a{/b}?", NULL, "https://example.com/a/c"));
}

Test(urlpattern, laravel_presence_pattern_relative_to_the_hub)
{
    const char *pat = "/.well-known/mercure/subscriptions/:match_type/"
                      "https%3A%2F%2Flaravel.alt%2Fecho%2Fchannel%2Fpresence-room{/:subscriber}?";
    const char *topic = "https://localhost/.well-known/mercure/subscriptions/exact/"
                        "https%3A%2F%2Flaravel.alt%2Fecho%2Fchannel%2Fpresence-room";
    cr_assert(m(pat, HUB, topic));
    char with_sub[512];
    snprintf(with_sub, sizeof(with_sub), "%s/urn:uuid:1234", topic);
    cr_assert(m(pat, HUB, with_sub));
    /* a relative topic resolves against the hub too */
    cr_assert(m(pat, HUB,
                "/.well-known/mercure/subscriptions/exact/"
                "https%3A%2F%2Flaravel.alt%2Fecho%2Fchannel%2Fpresence-room/x"));
    cr_assert_not(m(pat, HUB,
                    "/.well-known/mercure/subscriptions/exact/"
                    "https%3A%2F%2Flaravel.alt%2Fecho%2Fchannel%2Fpresence-other"));
    cr_assert_not(m(pat, HUB, "https://elsewhere/.well-known/mercure/subscriptions/exact/x"));
}

Test(urlpattern, relative_pattern_resolves_against_the_base_path)
{
    char buf[256];
    cr_assert_str_eq(component("foo", HUB, URLPATTERN_PATHNAME, buf, sizeof(buf)),
                     "/.well-known/foo");
    cr_assert_str_eq(component("/authors/:id", HUB, URLPATTERN_HOSTNAME, buf, sizeof(buf)),
                     "localhost");
    cr_assert(m("/authors/:id", HUB, "https://localhost/authors/7"));
    cr_assert(m("/authors/:id", HUB, "/authors/7"));
    cr_assert(m("/authors/:id", URLPATTERN_DEFAULT_BASE, "/authors/7"));
    cr_assert_not(m("/authors/:id", URLPATTERN_DEFAULT_BASE, "https://localhost/authors/7"));
}

Test(urlpattern, wildcards_and_modifiers)
{
    cr_assert(m("https://*.example.org", NULL, "https://a.example.org/anything"));
    cr_assert_not(m("https://*.example.org", NULL, "https://example.org/"));
    cr_assert(m("https://e.com/files/*", NULL, "https://e.com/files/a/b/c"));
    cr_assert(m("https://e.com/a/:x*", NULL, "https://e.com/a"));
    cr_assert(m("https://e.com/a/:x*", NULL, "https://e.com/a/b/c"));
    cr_assert_not(m("https://e.com/a/:x+", NULL, "https://e.com/a"));
    cr_assert(m("https://e.com/a/:x+", NULL, "https://e.com/a/b/c"));
}

Test(urlpattern, regexp_groups_go_to_pcre2)
{
    cr_assert(m("https://e.com/books/(\\d+)", NULL, "https://e.com/books/12"));
    cr_assert_not(m("https://e.com/books/(\\d+)", NULL, "https://e.com/books/1a"));
    cr_assert(m("https://e.com/:id(\\d+)", NULL, "https://e.com/42"));
    cr_assert(m("(https?)://e.com/*", NULL, "http://e.com/x"));
    cr_assert_not(m("(https?)://e.com/*", NULL, "ftp://e.com/x"));
}

Test(urlpattern, escapes_and_canonical_components)
{
    char buf[256];
    cr_assert(m("https://e.com/a\\:b", NULL, "https://e.com/a:b"));
    cr_assert(m("https://e.com/p\\?a=1", NULL, "https://e.com/p?a=1"));
    cr_assert_not(m("https://e.com/p\\?a=1", NULL, "https://e.com/p?a=2"));
    cr_assert_str_eq(
        component("HTTPS://EXAMPLE.com/a/./b/../c", NULL, URLPATTERN_PATHNAME, buf, sizeof(buf)),
        "/a/c");
    cr_assert_str_eq(component("HTTPS://EXAMPLE.com/", NULL, URLPATTERN_HOSTNAME, buf, sizeof(buf)),
                     "example.com");
    cr_assert(m("https://e.com/caf\xc3\xa9", NULL, "https://e.com/caf%C3%A9"));
}

Test(urlpattern, bad_patterns_are_errors)
{
    cr_assert_not_null(err("/relative", NULL));
    cr_assert_not_null(err("https://e.com/(", NULL));
    cr_assert_not_null(err("https://e.com/:", NULL));
    cr_assert_not_null(err("https://e.com/{a", NULL));
    cr_assert_not_null(err("https://e.com/:a/:a", NULL));
    cr_assert_not_null(err("https://e.com/(a(b))", NULL));
    cr_assert_not_null(err("https://e.com/([a&&b])", NULL));
    cr_assert_not_null(err("https://e.com/(a**)", NULL));
    cr_assert_not_null(err("https://e.com/x", "not a url"));
    cr_assert_not_null(err("https://e.com/\xff", NULL));
}

Test(urlpattern, a_topic_that_is_not_a_url_matches_nothing)
{
    cr_assert_not(m("*://*/*", NULL, "not a url"));
    cr_assert_not(m("https://e.com/*", NULL, "https://exa mple.com/"));
    cr_assert_not(m("https://e.com/*", NULL, "https://e.com/\xff"));
    struct urlpattern_url u;
    cr_assert_not(urlpattern_url_parse(&u, "x", 1, NULL, 0));
    urlpattern_url_release(&u);
}

Test(urlpattern, one_parsed_url_tests_many_patterns)
{
    const char *t = "https://example.com/books/1";
    struct urlpattern_url u;
    cr_assert(urlpattern_url_parse(&u, t, strlen(t), NULL, 0));
    const char *yes[] = {"https://example.com/books/:id", "https://example.com/*", "*://*/books/1"};
    const char *no[] = {"https://example.com/authors/:id", "http://example.com/*"};
    for (size_t i = 0; i < 3; i++) {
        struct urlpattern *p = urlpattern_compile(yes[i], strlen(yes[i]), NULL, 0, NULL);
        cr_assert(urlpattern_test(p, &u), "%s", yes[i]);
        urlpattern_free(p);
    }
    for (size_t i = 0; i < 2; i++) {
        struct urlpattern *p = urlpattern_compile(no[i], strlen(no[i]), NULL, 0, NULL);
        cr_assert_not(urlpattern_test(p, &u), "%s", no[i]);
        urlpattern_free(p);
    }
    urlpattern_url_release(&u);
}

Test(urlpattern, cost_grows_with_the_pattern_and_regexps_cost_more)
{
    struct urlpattern *a = urlpattern_compile("https://e.com/a", 15, NULL, 0, NULL);
    struct urlpattern *b = urlpattern_compile("https://e.com/a/:b/:c*", 22, NULL, 0, NULL);
    struct urlpattern *c = urlpattern_compile("https://e.com/(a|b)", 19, NULL, 0, NULL);
    cr_assert(urlpattern_cost(a) < urlpattern_cost(b));
    cr_assert(urlpattern_cost(b) < urlpattern_cost(c));
    cr_assert(urlpattern_has_regexp_groups(c));
    cr_assert_not(urlpattern_has_regexp_groups(b));
    urlpattern_free(a);
    urlpattern_free(b);
    urlpattern_free(c);
}

Test(urlpattern, catastrophic_regexps_are_bounded)
{
    /* (a+)+b against a long run of a's: PCRE2's match limit turns it into "no match" */
    char topic[200] = "https://e.com/";
    size_t n = strlen(topic);
    memset(topic + n, 'a', 100);
    topic[n + 100] = '\0';
    unsigned long long before = urlpattern_limit_hits();
    cr_assert_not(m("https://e.com/((?:a+)+b)", NULL, topic)); /* PCRE2 sees 'b' is missing */
    cr_assert_not(m("https://e.com/((?:a|a)*[bc])", NULL, topic));
    cr_assert_not(m("https://e.com/((?:a+)+[bc])", NULL, topic));
    cr_assert_geq(urlpattern_limit_hits(), before + 2, "the exponential ones gave up at a limit");
}

Test(urlpattern, hosts_are_canonicalized_on_both_sides)
{
    char buf[256];
    /* IPv4 in any of its forms, IPv6 compressed, IDNA through UTS #46 (as browsers) */
    cr_assert(m("https://127.0.0.1/", NULL, "https://127.1/"));
    cr_assert(m("https://127.0.0.1/", NULL, "https://0x7f.0.0.1/"));
    cr_assert(m("https://127.0.0.1/", NULL, "https://2130706433/"));
    /* ':' is syntax: an IPv6 pattern escapes it ("[::1]" would be a ':' with no group name) */
    cr_assert(m("https://[\\:\\:1]/", NULL, "https://[0:0::1]/"));
    cr_assert_not_null(err("https://[::1]/", NULL));
    cr_assert_str_eq(
        component("https://[2001\\:DB8\\:\\:1]/", NULL, URLPATTERN_HOSTNAME, buf, sizeof(buf)),
        "[2001\\:db8\\:\\:1]"); /* lowercased; the pattern string keeps ':' escaped */
    cr_assert_str_eq(
        component("https://caf\xc3\xa9.com/", NULL, URLPATTERN_HOSTNAME, buf, sizeof(buf)),
        "xn--caf-dma.com");
    cr_assert(m("https://xn--caf-dma.com/", NULL, "https://caf\xc3\xa9.com/"));
    cr_assert(m("https://\xe2\x98\x83.com/", NULL, "https://xn--n3h.com/")); /* U+2603 */
    cr_assert_not_null(err("https://999.999.999.999/", NULL));
    cr_assert_not_null(err("https://a%20b.com/", NULL));
    /* not a URL: a space in a special host, an unclosed IPv6 address, an out-of-range port */
    cr_assert_not(m("*://*/*", NULL, "https://exa mple.com/"));
    cr_assert_not(m("*://*/*", NULL, "https://[::1/"));
    cr_assert_not(m("*://*/*", NULL, "https://e.com:65536/"));
}

Test(urlpattern, ports_drop_the_protocols_default)
{
    char buf[64];
    cr_assert_str_eq(component("http://e.com:80/", NULL, URLPATTERN_PORT, buf, sizeof(buf)), "");
    cr_assert_str_eq(component("http://e.com:0080/", NULL, URLPATTERN_PORT, buf, sizeof(buf)), "");
    cr_assert_str_eq(component("http://e.com:443/", NULL, URLPATTERN_PORT, buf, sizeof(buf)),
                     "443");
    cr_assert_str_eq(component("foo://e.com:21/", NULL, URLPATTERN_PORT, buf, sizeof(buf)), "21");
    cr_assert(m("http://e.com:0080/", NULL, "http://e.com:80/"));
    cr_assert_not_null(err("https://e.com:99999/", NULL));
}

Test(urlpattern, non_special_urls_keep_their_own_rules)
{
    cr_assert(m("foo\\:bar", NULL, "foo:bar")); /* unescaped, ":bar" is a group name */
    cr_assert_not_null(err("foo:bar", NULL));
    cr_assert_not(m("foo://h/p", NULL, "foo://H/p")); /* opaque hosts keep their case */
    cr_assert(m("foo://h/a|b", NULL, "foo://h/a|b"));
    cr_assert(m("urn\\:uuid\\:*", NULL, "urn:uuid:5f0e2c1e"));
    cr_assert(m("file:///etc/:f", NULL, "file://localhost/etc/x")); /* localhost is "" for file */
}
