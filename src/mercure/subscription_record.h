/* One active subscription as the subscriptions feature describes it (mercure/subscriptions.h):
 * its kind and dialect, its id (the topic of its events), its document and its subscription
 * event, and the record read back from another node's event (cluster presence). Records are
 * reference-counted and own their strings: the registry holds one reference, an API answer one
 * per record while it writes JSON outside the registry's lock. */
#ifndef SSEB_MERCURE_SUBSCRIPTION_RECORD_H
#define SSEB_MERCURE_SUBSCRIPTION_RECORD_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/list.h"
#include "core/selector.h"

struct event;

#define SUBS_HUB_PATH "/.well-known/mercure"
#define SUBS_PATH     SUBS_HUB_PATH "/subscriptions"

/* What a subscription is, which decides the shape of its events and API documents (each
 * subscription in its own dialect, MERCURE-1.0.md Part B section 2 rule 9): a draft-07 topic=
 * selector gets JSON-LD on SUBS_PATH/{topic}/{subscriber} with no SSE type; a Mercure 1.0 matcher
 * gets plain JSON on SUBS_PATH/{match_type}/{match}/{subscriber} with `event: mercure`. */
enum sub_kind {
    SUB_TOPIC,      /* draft-07 topic= */
    SUB_EXACT,      /* 1.0 match= / match_exact= */
    SUB_URLPATTERN, /* 1.0 match_urlpattern= */
};
#define SUB_ANY (-1)

/* The 1.0 matcher type names, in their canonical case (the path segment and match_type). */
extern const char *const sub_kind_name[];

/* The kind a subscribe request's selector syntax makes. */
enum sub_kind sub_kind_of(enum selector_syntax syntax);
/* The 1.0 matcher type named s[0..len), or SUB_ANY. */
int sub_kind_named(const char *s, long len);

/* A registry entry. The registry holds one reference while the stream lives; the API holds one
 * per record while it builds its answer outside the lock, so a record owns its strings and is
 * freed by whoever drops the last reference. */
struct sub_record {
    struct list_node link; /* in the registry, newest first */
    _Atomic unsigned refs;
    enum sub_kind kind;
    bool remote;              /* another node's (cluster presence), also in the remote table */
    struct sub_record *hnext; /* the remote table's chain */
    uint32_t hash;            /* of id, for the remote table */
    char *id;                 /* its events' topic (see enum sub_kind), percent-encoded once */
    char *match;              /* the selector or matcher text, as the subscriber gave it */
    size_t match_len;
    char *subscriber;
    char *payload; /* compact JSON, or NULL */
    char *doc;     /* as listed in a collection (active, no @context): compact JSON, made once */
    size_t doc_len;
};

/* A record with one reference, or NULL when out of memory. payload: compact JSON or NULL. */
struct sub_record *sub_record_new(enum sub_kind kind, const char *sel, size_t sel_len,
                                  const char *subscriber, const char *payload);
static inline void sub_record_ref(struct sub_record *r)
{
    atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}
/* Drops a reference (r may be NULL); the last frees the record. */
void sub_record_unref(struct sub_record *r);

/* The document describing r (see the .c file); NULL when out of memory. */
json_t *sub_record_json(const struct sub_record *r, bool active, bool context);
/* r's subscription event (private, on its own topic, a presence event), or NULL when out of
 * memory. Its id: a generated one of --event-ids' form (uuid_id: a URN). */
struct event *sub_record_event(const struct sub_record *r, bool active, bool uuid_id);
/* The record a subscription event describes (its topic is the record's id), or NULL when it is
 * not one or out of memory. */
struct sub_record *sub_record_of_event(const struct event *ev);

#endif
