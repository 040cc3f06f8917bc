/* Active subscriptions (Mercure "subscriptions" feature, off by default): a registry of the
 * streams' selectors across all workers, subscription events published when a stream starts
 * and ends, and the web API, each subscription in its own dialect (draft-07 JSON-LD, Mercure 1.0
 * JSON). Not on the delivery path: only stream start/end and the API touch it, under one mutex that
 * also makes the API's lastEventID consistent with the list. */
#ifndef SSEB_MERCURE_SUBSCRIPTIONS_H
#define SSEB_MERCURE_SUBSCRIPTIONS_H

#include <stdbool.h>
#include <stddef.h>

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

#endif
