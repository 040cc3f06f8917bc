/* Request routing: which handler answers which method and path. */
#ifndef SSEB_MERCURE_ROUTES_H
#define SSEB_MERCURE_ROUTES_H

#include <stdbool.h>

struct mercure;
struct worker;
struct conn;
struct http_request;

void routes_dispatch(struct mercure *m, struct worker *w, struct conn *c, struct http_request *r,
                     bool keep_alive);

#endif
