/* What every worker shares: configuration, the bus it consumes, the process-wide connection
 * count, the drain flag, and the handler table through which the loop calls the protocol above
 * without naming it (the way libuv and h2o hand callbacks down). Built by broker.c. */
#ifndef SSEB_SERVER_SERVER_H
#define SSEB_SERVER_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "http/http.h"

struct sseb_config;
struct bus;
struct history;
struct conn;
struct worker;
struct http_request;

/* The protocol's entry points. Each runs on the worker that owns the connection. */
struct conn_handler {
    /* A complete request on c. The handler answers with conn_respond, turns c into a stream
     * (stream_start), or parks it (worker_park). */
    void (*on_request)(void *ctx, struct worker *w, struct conn *c, struct http_request *r,
                       bool keep_alive);
    /* c is about to be freed: release c->session. Runs for every connection, once. */
    void (*on_close)(void *ctx, struct worker *w, struct conn *c);
};

struct server {
    const struct sseb_config *cfg;
    struct http_limits http_limits; /* from cfg: what one request may be */
    struct bus *bus;
    struct history *history; /* read by replaying streams */
    const struct conn_handler *handler;
    void *handler_ctx;
    struct worker **workers;
    int nworkers;
    uint32_t max_connections, per_worker_max;
    _Atomic uint32_t connections; /* open client connections, all workers */
    _Atomic int draining;
};

#endif
