/* The context every Mercure handler works from instead of a global: configuration, the order
 * authority, history, keys, the subscriptions registry and the server it runs on. */
#ifndef SSEB_MERCURE_CONTEXT_H
#define SSEB_MERCURE_CONTEXT_H

struct sseb_config;
struct authority;
struct history;
struct auth_verifier;
struct subscriptions;
struct server;
struct resource_metadata;

struct mercure {
    const struct sseb_config *cfg;
    struct authority *authority; /* orders and stores updates */
    struct history *history;     /* replay, last event id */
    struct auth_verifier *pub_auth, *sub_auth;
    struct subscriptions *subscriptions; /* NULL unless --subscriptions */
    struct server *srv;                  /* workers' stats, bus lag, the drain flag */
    /* the RFC 9728 document and the challenges that point to it; NULL: none published */
    const struct resource_metadata *metadata;
};

#endif
