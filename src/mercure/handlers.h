/* The endpoint handlers the router calls. Each answers on c (or turns it into a stream, or parks
 * it); query is the request's query string, decoded in place by the handler. */
#ifndef SSEB_MERCURE_HANDLERS_H
#define SSEB_MERCURE_HANDLERS_H

#include <stdbool.h>
#include <stddef.h>

struct mercure;
struct worker;
struct conn;
struct http_request;

/* POST /.well-known/mercure (publish.c). */
void publish_handle(struct mercure *m, struct worker *w, struct conn *c, struct http_request *r,
                    char *query, size_t query_len, bool keep_alive);
/* GET and HEAD /.well-known/mercure (subscribe.c). */
void subscribe_handle(struct mercure *m, struct worker *w, struct conn *c, struct http_request *r,
                      char *query, size_t query_len, bool head, bool keep_alive);
/* GET /.well-known/mercure/subscriptions[/{topic}[/{subscriber}]] (subscriptions.c); rest is
 * what follows "/subscriptions" in the path ("" or "/..."). */
void subscriptions_handle(struct mercure *m, struct worker *w, struct conn *c,
                          struct http_request *r, const char *rest, size_t rest_len, char *query,
                          size_t query_len, bool keep_alive);
/* GET and HEAD of the protected resource metadata (resource_metadata.c), while m->metadata is
 * published and the path is its own (resource_metadata_path_is). */
void resource_metadata_handle(struct mercure *m, struct conn *c, struct http_request *r,
                              bool keep_alive);
/* GET /metrics (metrics.c). */
void metrics_handle(struct mercure *m, struct conn *c, bool keep_alive);
/* GET / (page.c): the page to try the hub in a browser. */
void page_handle(struct conn *c, bool keep_alive);

#endif
