/* The per-worker topic index: exact and pattern routes, the match cache, removal. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/event.h"
#include "core/topic_index.h"

/* Connections are opaque to the index: any distinct pointers do. */
static char conn_a, conn_b, conn_c;

struct seen {
    const void *conns[16];
    int n;
};

static void record(struct sub_node *node, void *arg)
{
    struct seen *s = arg;
    s->conns[s->n++] = node->owner;
}

static struct seen visit(struct topic_index *idx, const char *topic)
{
    struct seen s = {0};
    size_t len = strlen(topic);
    topic_index_visit(idx, topic, (uint32_t)len, hash_topic(topic, len), record, &s);
    return s;
}

static bool saw(const struct seen *s, const void *conn)
{
    for (int i = 0; i < s->n; i++)
        if (s->conns[i] == conn) return true;
    return false;
}

static void add(struct topic_index *idx, struct sub_node *n, void *conn, const char *sel)
{
    cr_assert_eq(topic_index_add(idx, n, conn, sel, strlen(sel)), 0);
}

Test(topic, exact_routes_only_to_equal_topics)
{
    struct topic_index idx;
    topic_index_init(&idx);
    struct sub_node a, b;
    add(&idx, &a, &conn_a, "https://example.com/books/1");
    add(&idx, &b, &conn_b, "https://example.com/books/2");
    struct seen s = visit(&idx, "https://example.com/books/1");
    cr_assert_eq(s.n, 1);
    cr_assert(saw(&s, &conn_a));
    cr_assert_eq(visit(&idx, "https://example.com/books/3").n, 0);
    topic_index_free(&idx);
}

Test(topic, patterns_and_wildcard)
{
    struct topic_index idx;
    topic_index_init(&idx);
    struct sub_node a, b, c;
    add(&idx, &a, &conn_a, "https://example.com/books/{id}");
    add(&idx, &b, &conn_b, "*");
    add(&idx, &c, &conn_c, "https://example.com/users/{id}");
    struct seen s = visit(&idx, "https://example.com/books/42");
    cr_assert_eq(s.n, 2);
    cr_assert(saw(&s, &conn_a));
    cr_assert(saw(&s, &conn_b));
    /* second lookup comes from the cache and must agree */
    s = visit(&idx, "https://example.com/books/42");
    cr_assert_eq(s.n, 2);
    s = visit(&idx, "https://example.com/users/7");
    cr_assert(saw(&s, &conn_c) && saw(&s, &conn_b) && !saw(&s, &conn_a));
    topic_index_free(&idx);
}

Test(topic, cache_follows_pattern_changes)
{
    struct topic_index idx;
    topic_index_init(&idx);
    struct sub_node a, b;
    add(&idx, &a, &conn_a, "https://example.com/books/{id}");
    cr_assert_eq(visit(&idx, "https://example.com/books/1").n, 1);
    add(&idx, &b, &conn_b, "https://example.com/{kind}/1");
    cr_assert_eq(visit(&idx, "https://example.com/books/1").n, 2, "a new pattern is seen");
    topic_index_remove(&idx, &a);
    struct seen s = visit(&idx, "https://example.com/books/1");
    cr_assert_eq(s.n, 1);
    cr_assert(saw(&s, &conn_b));
    topic_index_remove(&idx, &b);
    cr_assert_eq(visit(&idx, "https://example.com/books/1").n, 0);
    cr_assert_eq(idx.ngroups, 0, "empty groups are freed");
    topic_index_free(&idx);
}

Test(topic, shared_group_and_removal_in_any_order)
{
    struct topic_index idx;
    topic_index_init(&idx);
    struct sub_node n[3];
    void *conns[3] = {&conn_a, &conn_b, &conn_c};
    for (int i = 0; i < 3; i++)
        add(&idx, &n[i], conns[i], "t");
    cr_assert_eq(idx.ngroups, 1);
    cr_assert_eq(visit(&idx, "t").n, 3);
    topic_index_remove(&idx, &n[1]);
    struct seen s = visit(&idx, "t");
    cr_assert_eq(s.n, 2);
    cr_assert(!saw(&s, &conn_b));
    topic_index_remove(&idx, &n[0]);
    topic_index_remove(&idx, &n[2]);
    cr_assert_eq(visit(&idx, "t").n, 0);
    topic_index_free(&idx);
}

Test(topic, many_groups_rehash)
{
    struct topic_index idx;
    topic_index_init(&idx);
    static struct sub_node nodes[5000];
    char name[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "topic-%d", i);
        add(&idx, &nodes[i], &conn_a, name);
    }
    cr_assert_gt(idx.mask, 255);
    for (int i = 0; i < 5000; i += 499) {
        snprintf(name, sizeof(name), "topic-%d", i);
        cr_assert_eq(visit(&idx, name).n, 1);
    }
    for (int i = 0; i < 5000; i++)
        topic_index_remove(&idx, &nodes[i]);
    cr_assert_eq(idx.ngroups, 0);
    topic_index_free(&idx);
}

static void add_as(struct topic_index *idx, struct sub_node *n, void *conn, const char *sel,
                   enum selector_syntax syntax)
{
    cr_assert_eq(topic_index_add_as(idx, n, conn, sel, strlen(sel), syntax), 0);
}

Test(topic, one_text_two_syntaxes_two_groups_each_routed_by_its_own_reading)
{
    struct topic_index idx;
    topic_index_init(&idx);
    struct sub_node t, e, m;
    add_as(&idx, &t, &conn_a, "https://x/{id}", SELECTOR_SYNTAX_TOPIC); /* a URI template */
    add_as(&idx, &e, &conn_b, "https://x/{id}", SELECTOR_SYNTAX_EXACT); /* byte for byte */
    add_as(&idx, &m, &conn_c, "https://x/{id", SELECTOR_SYNTAX_TOPIC);  /* malformed: exact */
    cr_assert_eq(idx.ngroups, 3);
    struct seen s = visit(&idx, "https://x/1");
    cr_assert_eq(s.n, 1);
    cr_assert(saw(&s, &conn_a));
    s = visit(&idx, "https://x/{id}");
    cr_assert(saw(&s, &conn_a), "a template matches its own text");
    cr_assert(saw(&s, &conn_b));
    cr_assert_not(saw(&s, &conn_c));
    topic_index_remove(&idx, &e);
    s = visit(&idx, "https://x/{id}");
    cr_assert_not(saw(&s, &conn_b));
    cr_assert(saw(&s, &conn_a));
    topic_index_remove(&idx, &t);
    topic_index_remove(&idx, &m);
    cr_assert_eq(idx.ngroups, 0);
    topic_index_free(&idx);
}

Test(topic, each_syntax_its_own_group_even_where_they_read_alike)
{
    struct topic_index idx;
    topic_index_init(&idx);
    struct sub_node a, b, c, d;
    add_as(&idx, &a, &conn_a, "https://x/1", SELECTOR_SYNTAX_TOPIC);
    add_as(&idx, &b, &conn_b, "https://x/1", SELECTOR_SYNTAX_EXACT);
    add_as(&idx, &c, &conn_a, "*", SELECTOR_SYNTAX_TOPIC);
    add_as(&idx, &d, &conn_b, "*", SELECTOR_SYNTAX_EXACT);
    cr_assert_eq(idx.ngroups, 4, "a group tells how its subscribers asked");
    cr_assert_eq(a.group->syntax, SELECTOR_SYNTAX_TOPIC);
    cr_assert_eq(b.group->syntax, SELECTOR_SYNTAX_EXACT);
    struct seen s = visit(&idx, "https://x/1");
    cr_assert_eq(s.n, 4, "both exact groups and both wildcards");
    s = visit(&idx, "other");
    cr_assert_eq(s.n, 2, "* of both syntaxes");
    topic_index_remove(&idx, &a);
    s = visit(&idx, "https://x/1");
    cr_assert_eq(s.n, 3);
    topic_index_remove(&idx, &b);
    topic_index_remove(&idx, &c);
    topic_index_remove(&idx, &d);
    cr_assert_eq(idx.ngroups, 0);
    topic_index_free(&idx);
}

Test(topic, urlpattern_groups_are_patterns_matched_through_the_cache)
{
    static const char base[] = "https://hub.example/.well-known/mercure";
    struct topic_index idx;
    topic_index_init(&idx);
    idx.urlpattern_base = base;
    idx.urlpattern_base_len = sizeof(base) - 1;
    struct sub_node a, b, c;
    add_as(&idx, &a, &conn_a, "/books/:id", SELECTOR_SYNTAX_URLPATTERN);
    add_as(&idx, &b, &conn_b, "/books/:id", SELECTOR_SYNTAX_EXACT); /* the same text, exact */
    add_as(&idx, &c, &conn_c, "https://hub.example/:shelf/*", SELECTOR_SYNTAX_URLPATTERN);
    cr_assert_eq(idx.npatterns, 2);
    for (int round = 0; round < 2; round++) { /* the second round is served by the cache */
        struct seen s = visit(&idx, "https://hub.example/books/1");
        cr_assert_eq(s.n, 2);
        cr_assert(saw(&s, &conn_a) && saw(&s, &conn_c));
        s = visit(&idx, "/books/:id");
        cr_assert(saw(&s, &conn_b), "the exact matcher of the same text");
        cr_assert(saw(&s, &conn_a), "and the pattern, whose :id matches the segment \":id\"");
        cr_assert_eq(visit(&idx, "http://[::1/books/1").n, 0, "not a URL: no pattern matches");
    }
    struct sub_node bad;
    cr_assert_eq(
        topic_index_add_as(&idx, &bad, &conn_a, "https://x/(", 11, SELECTOR_SYNTAX_URLPATTERN), -1);
    topic_index_remove(&idx, &a);
    cr_assert_eq(visit(&idx, "https://hub.example/books/1").n, 1);
    topic_index_remove(&idx, &b);
    topic_index_remove(&idx, &c);
    cr_assert_eq(idx.ngroups, 0);
    topic_index_free(&idx);
}
