/* Topic selectors: "*", exact topics, RFC 6570 URI templates (as Mercure subscribers use them). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/selector.h"

static bool m(const char *sel, const char *topic)
{
    struct selector *s = selector_compile(sel, strlen(sel));
    cr_assert_not_null(s);
    bool r = selector_match(s, topic, strlen(topic));
    selector_free(s);
    return r;
}

static enum selector_kind kind(const char *sel)
{
    struct selector *s = selector_compile(sel, strlen(sel));
    enum selector_kind k = selector_kind(s);
    selector_free(s);
    return k;
}

Test(selector, wildcard_matches_everything)
{
    cr_assert(m("*", "https://example.com/books/1"));
    cr_assert(m("*", ""));
    cr_assert_eq(kind("*"), SELECTOR_ANY);
}

Test(selector, exact_topics)
{
    cr_assert(m("https://example.com/books/1", "https://example.com/books/1"));
    cr_assert_not(m("https://example.com/books/1", "https://example.com/books/10"));
    cr_assert_not(m("https://example.com/books/1", "https://example.com/books/"));
    cr_assert_eq(kind("https://example.com/books/1"), SELECTOR_EXACT);
}

Test(selector, simple_expansion_stays_in_one_segment)
{
    const char *t = "https://example.com/books/{id}";
    cr_assert_eq(kind(t), SELECTOR_TEMPLATE);
    cr_assert(m(t, "https://example.com/books/1"));
    cr_assert(m(t, "https://example.com/books/abc-DEF_1.2~x"));
    cr_assert(m(t, "https://example.com/books/caf%C3%A9"));
    cr_assert_not(m(t, "https://example.com/books/1/reviews"));
    cr_assert_not(m(t, "https://example.com/users/1"));
    cr_assert_not(m(t, "https://example.com/books/1?x=2"));
    cr_assert_not(m(t, "http://example.com/books/1"));
}

Test(selector, several_expressions)
{
    const char *t = "https://example.com/users/{uid}/books/{isbn}";
    cr_assert(m(t, "https://example.com/users/7/books/978-3"));
    cr_assert_not(m(t, "https://example.com/users/7/books"));
    cr_assert_not(m(t, "https://example.com/users/7/8/books/9"));
}

Test(selector, reserved_expansion_crosses_segments)
{
    cr_assert(m("https://example.com/{+path}", "https://example.com/a/b/c?d=e"));
    cr_assert_not(m("https://example.com/{path}", "https://example.com/a/b"));
    cr_assert(m("{+all}", "https://anything.example/x"));
}

Test(selector, operators)
{
    cr_assert(m("https://example.com{/seg}", "https://example.com/a"));
    cr_assert(m("https://example.com{/a,b}", "https://example.com/x/y"));
    cr_assert_not(m("https://example.com{/a,b}", "https://example.com/x/y/z"));
    cr_assert(m("https://example.com{/segs*}", "https://example.com/x/y/z"));
    cr_assert(m("https://example.com/search{?q,lang}", "https://example.com/search?q=cat&lang=en"));
    cr_assert(m("https://example.com/search{?q}", "https://example.com/search"));
    cr_assert_not(m("https://example.com/search{?q}", "https://example.com/search?q=a/b"));
    cr_assert(m("https://example.com/page{#section}", "https://example.com/page#intro"));
    cr_assert(m("https://example.com/file{.ext}", "https://example.com/file.json"));
    cr_assert(m("https://example.com/m{;x,y}", "https://example.com/m;x=1;y=2"));
}

Test(selector, exact_comparison_comes_first)
{
    /* A topic may literally contain a template: the subscriber to that exact string gets it. */
    cr_assert(m("https://example.com/books/{id}", "https://example.com/books/{id}"));
}

Test(selector, malformed_templates_are_exact)
{
    const char *bad[] = {"https://example.com/{id", "https://example.com/id}", "https://x/{}",
                         "https://x/{=x}",          "https://x/{a b}",         "https://x/{a:0}",
                         "https://x/{{a}}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(kind(bad[i]), SELECTOR_EXACT, "%s", bad[i]);
        cr_assert(m(bad[i], bad[i]));
    }
    cr_assert_not(m("https://example.com/{id", "https://example.com/1"));
}

Test(selector, modifiers_are_accepted)
{
    cr_assert(m("https://x/{id:3}", "https://x/abc"));
    cr_assert(m("https://x/{list*}", "https://x/a,b,c"));
}

Test(selector, hostile_input_is_linear, .timeout = 10)
{
    /* 60 adjacent expressions against a long non-matching topic: backtracking would explode. */
    char tmpl[1024] = "https://x/";
    for (int i = 0; i < 60; i++)
        strcat(tmpl, "{a}");
    strcat(tmpl, "/end");
    char *topic = malloc(20001);
    memcpy(topic, "https://x/", 10);
    memset(topic + 10, 'a', 19990);
    topic[20000] = 0;
    for (int i = 0; i < 20; i++)
        cr_assert_not(m(tmpl, topic));
    strcpy(topic + 19996, "/end");
    cr_assert(m(tmpl, topic));
    free(topic);
}

Test(selector, text_is_kept)
{
    struct selector *s = selector_compile("abc{x}", 6);
    cr_assert_str_eq(selector_text(s), "abc{x}");
    cr_assert_eq(selector_len(s), 6);
    selector_free(s);
}

Test(selector, cost_counts_literal_parts_and_variables)
{
    const char *cases[][2] = {
        {"*", "0"},
        {"https://x/a", "0"},
        {"https://x/{id}", "2"},
        {"https://x/{a}/b/{c}", "4"},
        {"{a,b,c}", "3"},
        {"https://x/{?q,r}{#f}", "4"},
        {"https://x/{a", "0"}, /* malformed: an exact selector */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct selector *s = selector_compile(cases[i][0], strlen(cases[i][0]));
        cr_assert_eq(selector_cost(s), (size_t)atoi(cases[i][1]), "%s", cases[i][0]);
        selector_free(s);
    }
}

Test(selector, exact_syntax_reads_braces_as_text)
{
    const char *tmpl = "https://x/{id}";
    struct selector *s = selector_compile_as(tmpl, strlen(tmpl), SELECTOR_SYNTAX_EXACT);
    cr_assert_eq(selector_kind(s), SELECTOR_EXACT);
    cr_assert_eq(selector_cost(s), 0);
    cr_assert(selector_match(s, tmpl, strlen(tmpl)));
    cr_assert_not(selector_match(s, "https://x/1", 11), "not a template in Mercure 1.0");
    cr_assert_not(selector_match(s, "https://X/{id}", 14), "byte for byte");
    selector_free(s);
    s = selector_compile_as("*", 1, SELECTOR_SYNTAX_EXACT);
    cr_assert_eq(selector_kind(s), SELECTOR_ANY, "* is reserved: it matches everything");
    cr_assert(selector_match(s, "anything", 8));
    selector_free(s);
    s = selector_compile_as(tmpl, strlen(tmpl), SELECTOR_SYNTAX_TOPIC);
    cr_assert_eq(selector_kind(s), SELECTOR_TEMPLATE, "the draft-07 reading of the same text");
    selector_free(s);
}

Test(selector, urlpattern_matches_by_components_against_the_base)
{
    static const char base[] = "https://hub.example/.well-known/mercure";
    const char *why = NULL;
    const char *pat = "/books/:id";
    struct selector *s =
        selector_compile_urlpattern(pat, strlen(pat), base, sizeof(base) - 1, &why);
    cr_assert_not_null(s, "%s", why);
    cr_assert_eq(selector_kind(s), SELECTOR_URLPATTERN);
    cr_assert_gt(selector_cost(s), 0);
    cr_assert(selector_match(s, "https://hub.example/books/1", 27));
    cr_assert(selector_match(s, "/books/1", 8), "a relative topic resolves against the base");
    cr_assert_not(selector_match(s, "https://other.example/books/1", 29));
    cr_assert_not(selector_match(s, "http://[::1/books/1", 19), "not a URL: no match");
    selector_free(s);
    s = selector_compile_urlpattern("*", 1, base, sizeof(base) - 1, &why);
    cr_assert_eq(selector_kind(s), SELECTOR_ANY);
    selector_free(s);
    why = NULL;
    cr_assert_null(selector_compile_urlpattern("https://x/(", 11, base, sizeof(base) - 1, &why));
    cr_assert_not_null(why);
}
