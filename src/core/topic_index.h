/* A worker's topic index: its local subscriptions, grouped by selector (text and syntax). Exact
 * selectors are found by hashing the event's topic; pattern selectors ("*", URI templates) sit in a
 * list, and a per-worker cache remembers which pattern groups match a topic. Only the owning worker
 * ever reads or writes it. */
#ifndef SSEB_CORE_TOPIC_INDEX_H
#define SSEB_CORE_TOPIC_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "core/selector.h"

struct sub_group;

/* One selector of one subscriber. */
struct sub_node {
    struct sub_node *next, *prev;
    void *owner; /* the subscriber (the fan-out's stream) */
    struct sub_group *group;
};

struct sub_group {
    struct selector *sel;
    uint32_t hash;
    uint32_t nodes;
    struct sub_node *head;
    struct sub_group *hnext;         /* hash chain */
    struct sub_group *pnext, *pprev; /* pattern list */
    int pattern;
    uint8_t syntax; /* enum selector_syntax: how its subscribers asked */
};

struct match_cache_entry;

struct topic_index {
    struct sub_group **buckets;
    size_t mask, ngroups;
    struct sub_group *patterns;
    size_t npatterns;
    uint64_t pattern_gen; /* bumped when the pattern list changes: stale cache entries */
    struct match_cache_entry **cache;
    size_t cache_mask, cache_count;
    /* What URL Pattern selectors resolve relative patterns and topics against (the hub's URL);
     * set by the owner after topic_index_init, must outlive the index. */
    const char *urlpattern_base;
    size_t urlpattern_base_len;
};

int topic_index_init(struct topic_index *idx);
void topic_index_free(struct topic_index *idx);

/* Adds node for owner under the selector text (a draft-07 topic selector). Returns -1 when out
 * of memory. */
int topic_index_add(struct topic_index *idx, struct sub_node *node, void *owner,
                    const char *selector, size_t len);
/* The same for a selector read with the given syntax (core/selector.h). -1 also when a URL Pattern
 * does not compile (callers validate patterns before they subscribe). */
int topic_index_add_as(struct topic_index *idx, struct sub_node *node, void *owner,
                       const char *selector, size_t len, enum selector_syntax syntax);
void topic_index_remove(struct topic_index *idx, struct sub_node *node);

typedef void (*topic_visit_fn)(struct sub_node *node, void *arg);
/* Calls visit for every node whose selector matches topic (a node may be visited once per
 * matching route: exact and pattern; the caller deduplicates per subscriber). */
void topic_index_visit(struct topic_index *idx, const char *topic, uint32_t len, uint32_t hash,
                       topic_visit_fn visit, void *arg);

#endif
