/* Mercure 1.0 "Protected Resource Metadata": the hub's OAuth 2.0 protected resource metadata
 * document (RFC 9728) and the Bearer challenges (RFC 6750) that point to it with
 * resource_metadata="<its URL>". The document is published only while Mercure 1.0 is served and
 * --resource-identifier names the hub: a pre-1.0 hub publishes none, which 1.0 clients may read as
 * "this hub speaks a pre-1.0 draft". Built once at start; immutable, shared by the workers. */
#ifndef SSEB_MERCURE_RESOURCE_METADATA_H
#define SSEB_MERCURE_RESOURCE_METADATA_H

#include <stdbool.h>
#include <stddef.h>

struct sseb_config;
struct mercure;

/* The RFC 6750 outcomes a Bearer challenge reports. */
enum bearer_error {
    BEARER_UNAUTHORIZED,       /* 401, no token presented: no error code */
    BEARER_INVALID_REQUEST,    /* 400: the token's presentation is malformed */
    BEARER_INVALID_TOKEN,      /* 401: the token failed validation */
    BEARER_INSUFFICIENT_SCOPE, /* 403: a valid token that does not allow the operation */
    BEARER_NERRORS,
};

/* The longest header line bearer_challenge returns, "\r\n" included. */
#define BEARER_CHALLENGE_MAX 4400

struct resource_metadata;

/* The document cfg publishes, or NULL when it publishes none (08 off, no
 * --resource-identifier). *err (a reason, for the start-up log) is set when it cannot be built. */
struct resource_metadata *resource_metadata_new(const struct sseb_config *cfg, const char **err);
void resource_metadata_free(struct resource_metadata *md);

/* True when path (the request target before any '?') is where md is served: RFC 9728 section
 * 3.1's well-known URL of the resource identifier, e.g. /.well-known/oauth-protected-resource
 * /.well-known/mercure for https://example.com/.well-known/mercure. False when md is NULL. */
bool resource_metadata_path_is(const struct resource_metadata *md, const char *path, size_t len);

/* The "WWW-Authenticate: Bearer ...\r\n" line of an answer reporting e, carrying
 * resource_metadata="<absolute URL of the document>" while m publishes it. Static or owned by
 * m's document: never freed by the caller. */
const char *bearer_challenge(const struct mercure *m, enum bearer_error e);

#endif
