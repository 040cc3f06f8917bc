#include "core/topic_index.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/selector.h"
#include "core/urlpattern.h"

#define CACHE_MAX_ENTRIES 8192

struct match_cache_entry {
    struct match_cache_entry *next;
    uint64_t gen;
    uint32_t hash, len;
    size_t ngroups;
    struct sub_group **groups;
    char topic[];
};

int topic_index_init(struct topic_index *idx)
{
    memset(idx, 0, sizeof(*idx));
    idx->mask = 255;
    idx->buckets = calloc(idx->mask + 1, sizeof(*idx->buckets));
    idx->cache_mask = 1023;
    idx->cache = calloc(idx->cache_mask + 1, sizeof(*idx->cache));
    if (!idx->buckets || !idx->cache) {
        topic_index_free(idx);
        return -1;
    }
    return 0;
}

static void cache_clear(struct topic_index *idx)
{
    for (size_t i = 0; i <= idx->cache_mask; i++) {
        struct match_cache_entry *e = idx->cache[i];
        while (e) {
            struct match_cache_entry *n = e->next;
            free(e->groups);
            free(e);
            e = n;
        }
        idx->cache[i] = NULL;
    }
    idx->cache_count = 0;
}

void topic_index_free(struct topic_index *idx)
{
    if (idx->buckets) {
        for (size_t i = 0; i <= idx->mask; i++) {
            struct sub_group *g = idx->buckets[i];
            while (g) {
                struct sub_group *n = g->hnext;
                selector_free(g->sel);
                free(g);
                g = n;
            }
        }
    }
    if (idx->cache) cache_clear(idx);
    free(idx->buckets);
    free(idx->cache);
    memset(idx, 0, sizeof(*idx));
}

static bool same_text(const struct sub_group *g, const char *s, size_t len, uint32_t hash)
{
    return g->hash == hash && selector_len(g->sel) == len &&
           memcmp(selector_text(g->sel), s, len) == 0;
}

static struct sub_group *find_group(struct topic_index *idx, const char *s, size_t len,
                                    uint32_t hash, enum selector_syntax syntax)
{
    for (struct sub_group *g = idx->buckets[hash & idx->mask]; g; g = g->hnext)
        if (g->syntax == syntax && same_text(g, s, len, hash)) return g;
    return NULL;
}

static void rehash(struct topic_index *idx)
{
    size_t nmask = idx->mask * 2 + 1;
    struct sub_group **nb = calloc(nmask + 1, sizeof(*nb));
    if (!nb) return; /* keep the longer chains: still correct */
    for (size_t i = 0; i <= idx->mask; i++) {
        struct sub_group *g = idx->buckets[i];
        while (g) {
            struct sub_group *n = g->hnext;
            g->hnext = nb[g->hash & nmask];
            nb[g->hash & nmask] = g;
            g = n;
        }
    }
    free(idx->buckets);
    idx->buckets = nb;
    idx->mask = nmask;
}

int topic_index_add(struct topic_index *idx, struct sub_node *node, void *owner, const char *s,
                    size_t len)
{
    return topic_index_add_as(idx, node, owner, s, len, SELECTOR_SYNTAX_TOPIC);
}

int topic_index_add_as(struct topic_index *idx, struct sub_node *node, void *owner, const char *s,
                       size_t len, enum selector_syntax syntax)
{
    /* One group per text and syntax, even where two syntaxes read a text alike ("*", an exact
     * topic without braces): a group tells how its subscribers asked (the subscriptions API
     * answers each in its own dialect), and visiting the exact groups of a topic finds them all. */
    uint32_t hash = hash_topic(s, len);
    struct sub_group *g = find_group(idx, s, len, hash, syntax);
    if (!g) {
        g = calloc(1, sizeof(*g));
        if (!g) return -1;
        const char *why;
        g->sel = syntax == SELECTOR_SYNTAX_URLPATTERN
                     ? selector_compile_urlpattern(s, len, idx->urlpattern_base,
                                                   idx->urlpattern_base_len, &why)
                     : selector_compile_as(s, len, syntax);
        if (!g->sel) {
            free(g);
            return -1;
        }
        g->hash = hash;
        g->syntax = (uint8_t)syntax;
        g->pattern = selector_kind(g->sel) != SELECTOR_EXACT;
        g->hnext = idx->buckets[hash & idx->mask];
        idx->buckets[hash & idx->mask] = g;
        if (++idx->ngroups > (idx->mask + 1) * 2) rehash(idx);
        if (g->pattern) {
            g->pnext = idx->patterns;
            if (idx->patterns) idx->patterns->pprev = g;
            idx->patterns = g;
            idx->npatterns++;
            idx->pattern_gen++;
        }
    }
    node->owner = owner;
    node->group = g;
    node->prev = NULL;
    node->next = g->head;
    if (g->head) g->head->prev = node;
    g->head = node;
    g->nodes++;
    return 0;
}

void topic_index_remove(struct topic_index *idx, struct sub_node *node)
{
    struct sub_group *g = node->group;
    if (!g) return;
    if (node->prev)
        node->prev->next = node->next;
    else
        g->head = node->next;
    if (node->next) node->next->prev = node->prev;
    node->group = NULL;
    if (--g->nodes) return;

    struct sub_group **pp = &idx->buckets[g->hash & idx->mask];
    while (*pp != g)
        pp = &(*pp)->hnext;
    *pp = g->hnext;
    idx->ngroups--;
    if (g->pattern) {
        if (g->pprev)
            g->pprev->pnext = g->pnext;
        else
            idx->patterns = g->pnext;
        if (g->pnext) g->pnext->pprev = g->pprev;
        idx->npatterns--;
        idx->pattern_gen++;
    }
    selector_free(g->sel);
    free(g);
}

/* Returns the pattern groups matching topic, computing and caching them when needed. */
static struct match_cache_entry *cached_matches(struct topic_index *idx, const char *topic,
                                                uint32_t len, uint32_t hash)
{
    struct match_cache_entry **slot = &idx->cache[hash & idx->cache_mask];
    struct match_cache_entry *e;
    for (e = *slot; e; e = e->next)
        if (e->hash == hash && e->len == len && memcmp(e->topic, topic, len) == 0) break;
    if (e && e->gen == idx->pattern_gen) return e;
    if (!e) {
        if (idx->cache_count >= CACHE_MAX_ENTRIES) cache_clear(idx);
        e = calloc(1, sizeof(*e) + len);
        if (!e) return NULL;
        memcpy(e->topic, topic, len);
        e->hash = hash;
        e->len = len;
        e->next = *slot;
        *slot = e;
        idx->cache_count++;
    }
    free(e->groups);
    e->groups = NULL;
    e->ngroups = 0;
    size_t cap = 0;
    /* URL Patterns test the topic parsed as a URL: parsed once for all of them, when needed. */
    struct urlpattern_url url = {0};
    int parsed = -1; /* -1: not yet; then 0 (not a URL: matches no pattern) or 1 */
    for (struct sub_group *g = idx->patterns; g; g = g->pnext) {
        const char *base;
        size_t base_len;
        const struct urlpattern *up = selector_urlpattern(g->sel, &base, &base_len);
        if (up) {
            if (parsed < 0) parsed = urlpattern_url_parse(&url, topic, len, base, base_len);
            if (!parsed || !urlpattern_test(up, &url)) continue;
        } else if (!selector_match(g->sel, topic, len)) {
            continue;
        }
        if (e->ngroups == cap) {
            cap = cap ? cap * 2 : 4;
            struct sub_group **n = realloc(e->groups, cap * sizeof(*n));
            if (!n) break; /* out of memory: deliver to the groups found so far */
            e->groups = n;
        }
        e->groups[e->ngroups++] = g;
    }
    urlpattern_url_release(&url);
    e->gen = idx->pattern_gen;
    return e;
}

static void visit_group(struct sub_group *g, topic_visit_fn visit, void *arg)
{
    for (struct sub_node *n = g->head; n; n = n->next)
        visit(n, arg);
}

void topic_index_visit(struct topic_index *idx, const char *topic, uint32_t len, uint32_t hash,
                       topic_visit_fn visit, void *arg)
{
    /* Exact groups of this text: one per syntax that reads it as exact. */
    for (struct sub_group *g = idx->buckets[hash & idx->mask]; g; g = g->hnext)
        if (!g->pattern && same_text(g, topic, len, hash)) visit_group(g, visit, arg);
    if (!idx->npatterns) return;
    struct match_cache_entry *e = cached_matches(idx, topic, len, hash);
    if (!e) return;
    for (size_t i = 0; i < e->ngroups; i++)
        visit_group(e->groups[i], visit, arg);
}
