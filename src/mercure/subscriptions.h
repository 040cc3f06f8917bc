/* Active subscriptions (Mercure "subscriptions" feature, off by default): a registry of the
 * streams' selectors across all workers, subscription events published when a stream starts
 * and ends, and the web API, each subscription in its own dialect (draft-07 JSON-LD, Mercure 1.0
 * JSON). Not on the delivery path: only stream start/end and the API touch it, under one mutex that
 * also makes the API's lastEventID consistent with the list. */
#ifndef SSEB_MERCURE_SUBSCRIPTIONS_H
#define SSEB_MERCURE_SUBSCRIPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include <stdint.h>

#include "core/selector.h"

struct mercure;
struct worker;
struct conn;
struct http_request;

struct subscriptions;

struct subscriptions *subscriptions_new(void);
/* Ties the registry to m's order authority: in cluster mode, the others nodes' subscriptions are
 * listed too, and a dead node's are ended (core/authority.h struct authority_presence). Once,
 * before the workers start. */
void subscriptions_attach(struct subscriptions *s, struct mercure *m);
void subscriptions_free(struct subscriptions *s);

/* Registers the selectors of c's new stream and publishes one "active" event per selector
 * (never waiting: a full bus drops the event, counted). syntax[i] tells how the request read the
 * stream's i-th selector (topic=, match=, match_urlpattern=: the shape of its events and
 * documents); NULL: all draft-07 topic selectors. */
void subscriptions_stream_started(struct mercure *m, struct worker *w, struct conn *c,
                                  const enum selector_syntax *syntax);
/* Unregisters them and publishes the matching "inactive" events. */
void subscriptions_stream_ended(struct mercure *m, struct worker *w, struct conn *c);

struct sub_record;
/* Which records an API request asks for. */
struct sub_filter {
    int kind; /* enum sub_kind, or SUB_ANY */
    const char *match;
    long match_len; /* -1: any */
    const char *subscriber;
    long sub_len; /* -1: any */
};

/* The records the API answers with, each with a reference of its own, and the last event id
 * and registry generation they are consistent with: taken under the lock, with the room
 * allocated before it. */
struct sub_snapshot {
    struct sub_record **recs;
    size_t n;
    uint64_t gen;
    char last_id[1100]; /* ids are at most 1024 bytes (publish_parse.c) */
};

/* What /metrics says of the registry. */
struct subscriptions_counts {
    uint64_t local, remote; /* records of this node's streams, and of other nodes' (cluster) */
    uint64_t orphans_ended; /* dead nodes' subscriptions this node ended (their inactive events) */
    uint64_t reconciled; /* this node's announcements repaired in Redis (announced or withdrawn) */
};
void subscriptions_counts(struct subscriptions *s, struct subscriptions_counts *out);

/* Fills snap with the records f asks for (each with a reference) and the last event id and
 * registry generation they are consistent with. Returns -1 when out of memory. */
int subscriptions_snapshot(struct mercure *m, struct sub_snapshot *snap,
                           const struct sub_filter *f);
void sub_snapshot_free(struct sub_snapshot *snap);

#endif
