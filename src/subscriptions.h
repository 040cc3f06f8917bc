/* Active subscriptions (Mercure "subscriptions" feature, off by default): a registry of the
 * streams' selectors across all workers, subscription events published when a stream starts
 * and ends, and the JSON-LD web API. Not on the delivery path: only stream start/end and the
 * API touch it, under one mutex that also makes the API's lastEventID consistent with the list. */
#ifndef SSEB_SUBSCRIPTIONS_H
#define SSEB_SUBSCRIPTIONS_H

#include <stdbool.h>
#include <stddef.h>

struct sseb_broker;
struct worker;
struct conn;
struct http_request;

struct subscriptions;

struct subscriptions *subscriptions_new(void);
void subscriptions_free(struct subscriptions *s);

/* Registers c's selectors and publishes one "active" event per selector. */
void subscriptions_stream_started(struct worker *w, struct conn *c);
/* Unregisters them and publishes the matching "inactive" events. */
void subscriptions_stream_ended(struct worker *w, struct conn *c);

/* GET /.well-known/mercure/subscriptions[/{topic}[/{subscriber}]]; rest is what follows
 * "/subscriptions" in the path ("" or "/..."). */
void subscriptions_handle(struct worker *w, struct conn *c, struct http_request *r,
                          const char *rest, size_t rest_len, char *query, size_t query_len,
                          bool keep_alive);

#endif
