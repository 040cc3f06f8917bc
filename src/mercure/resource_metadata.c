/* GET /.well-known/oauth-protected-resource<hub path>: the hub's RFC 9728 protected resource
 * metadata, and the Bearer challenges that point to it (resource_metadata.h). */
#include "mercure/resource_metadata.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/cors.h"
#include "mercure/context.h"
#include "mercure/handlers.h"
#include "net/conn.h"
#include "ssebroker/config.h"

#define WELL_KNOWN "/.well-known/oauth-protected-resource"

/* Mercure 1.0's authorization_details type, the one this hub understands. */
#define MERCURE_DETAIL_TYPE "https://mercure.rocks/authorization-detail"

struct resource_metadata {
    char *url;  /* the document's absolute URL */
    char *path; /* its path, where this hub answers it */
    size_t path_len;
    char *body; /* the JSON document */
    size_t body_len;
    char *challenge[BEARER_NERRORS];
};

static const char *const bare_challenge[BEARER_NERRORS] = {
    [BEARER_UNAUTHORIZED] = "WWW-Authenticate: Bearer\r\n",
    [BEARER_INVALID_REQUEST] = "WWW-Authenticate: Bearer error=\"invalid_request\"\r\n",
    [BEARER_INVALID_TOKEN] = "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n",
    [BEARER_INSUFFICIENT_SCOPE] = "WWW-Authenticate: Bearer error=\"insufficient_scope\"\r\n",
};

static const char *const error_code[BEARER_NERRORS] = {
    [BEARER_UNAUTHORIZED] = NULL,
    [BEARER_INVALID_REQUEST] = "invalid_request",
    [BEARER_INVALID_TOKEN] = "invalid_token",
    [BEARER_INSUFFICIENT_SCOPE] = "insufficient_scope",
};

/* RFC 9728 section 3.1: the well-known suffix goes between the identifier's authority and its
 * path and query, a path of just "/" dropped (https://h/ -> https://h/.well-known/oauth-...).
 * The identifier is an absolute http(s) URL without a fragment (checked by the configuration). */
static int derive_url(struct resource_metadata *md, const char *id)
{
    const char *authority = strstr(id, "://");
    if (!authority) return -1;
    authority += 3;
    size_t origin_len = (size_t)(authority - id) + strcspn(authority, "/?");
    const char *rest = id + origin_len; /* path and query */
    size_t path_len = strcspn(rest, "?");
    if (path_len == 1) rest++, path_len = 0; /* the path "/" */
    size_t n = origin_len + sizeof(WELL_KNOWN) - 1 + strlen(rest);
    if (!(md->url = malloc(n + 1))) return -1;
    snprintf(md->url, n + 1, "%.*s%s%s", (int)origin_len, id, WELL_KNOWN, rest);
    md->path_len = sizeof(WELL_KNOWN) - 1 + path_len;
    if (!(md->path = strndup(md->url + origin_len, md->path_len))) return -1;
    return 0;
}

/* The challenge lines, the URL as an RFC 9110 quoted-string. */
static int build_challenges(struct resource_metadata *md)
{
    size_t n = strlen(md->url);
    char *quoted = malloc(2 * n + 1), *q = quoted;
    if (!quoted) return -1;
    for (const char *s = md->url; *s; s++) {
        if (*s == '"' || *s == '\\') *q++ = '\\';
        *q++ = *s;
    }
    *q = 0;
    int rc = 0;
    for (int e = 0; e < BEARER_NERRORS && !rc; e++) {
        char line[BEARER_CHALLENGE_MAX];
        int len =
            error_code[e]
                ? snprintf(line, sizeof(line),
                           "WWW-Authenticate: Bearer error=\"%s\", resource_metadata=\"%s\"\r\n",
                           error_code[e], quoted)
                : snprintf(line, sizeof(line),
                           "WWW-Authenticate: Bearer resource_metadata=\"%s\"\r\n", quoted);
        if (len < 0 || (size_t)len >= sizeof(line) || !(md->challenge[e] = strdup(line))) rc = -1;
    }
    free(quoted);
    return rc;
}

/* The members Mercure 1.0 lists. No authorization_servers: --jwt-issuer names the issuers this hub
 * trusts (often the application itself, which signs its own tokens), not OAuth authorization
 * servers a client could obtain a token from; the reference hub too lists only issuers flagged
 * as such. No mercure_matcher_types_supported: exact and urlpattern are the default set. */
static int build_body(struct resource_metadata *md, const struct sseb_config *cfg)
{
    json_t *doc = json_object();
    json_t *methods = json_array(), *types = json_array();
    int rc = -1;
    if (!doc || !methods || !types) goto out;
    /* The cookie is not an RFC 6750 method: it has its own member. The URL query is never
     * read for a 1.0 token. */
    json_array_append_new(methods, json_string("header"));
    json_array_append_new(types, json_string(MERCURE_DETAIL_TYPE));
    json_object_set_new(doc, "resource", json_string(cfg->resource_identifier));
    json_object_set(doc, "bearer_methods_supported", methods);
    json_object_set(doc, "authorization_details_types_supported", types);
    /* While 1.0 is served its cookie is always read (token.c). */
    if (cfg->access_token_cookie && *cfg->access_token_cookie)
        json_object_set_new(doc, "mercure_cookie", json_string(cfg->access_token_cookie));
    if (cfg->subscriptions) json_object_set_new(doc, "mercure_subscriptions", json_true());
    md->body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (md->body) {
        md->body_len = strlen(md->body);
        rc = 0;
    }
out:
    json_decref(methods);
    json_decref(types);
    json_decref(doc);
    return rc;
}

struct resource_metadata *resource_metadata_new(const struct sseb_config *cfg, const char **err)
{
    *err = NULL;
    if (!(cfg->dialects & SSEB_DIALECT_08) || !cfg->resource_identifier) return NULL;
    struct resource_metadata *md = calloc(1, sizeof(*md));
    if (!md || derive_url(md, cfg->resource_identifier) || build_challenges(md) ||
        build_body(md, cfg)) {
        resource_metadata_free(md);
        *err = "cannot build the protected resource metadata (out of memory or an unusable "
               "--resource-identifier)";
        return NULL;
    }
    return md;
}

void resource_metadata_free(struct resource_metadata *md)
{
    if (!md) return;
    free(md->url);
    free(md->path);
    free(md->body);
    for (int e = 0; e < BEARER_NERRORS; e++)
        free(md->challenge[e]);
    free(md);
}

bool resource_metadata_path_is(const struct resource_metadata *md, const char *path, size_t len)
{
    return md && len == md->path_len && memcmp(path, md->path, len) == 0;
}

const char *bearer_challenge(const struct mercure *m, enum bearer_error e)
{
    return m->metadata ? m->metadata->challenge[e] : bare_challenge[e];
}

void resource_metadata_handle(struct mercure *m, struct conn *c, struct http_request *r,
                              bool keep_alive)
{
    const struct resource_metadata *md = m->metadata;
    /* The same CORS as the rest of the hub. The answer may be cached a while (it changes only
     * with the configuration): it varies by Origin whenever a list could admit one. */
    char headers[1024];
    size_t n;
    enum cors_grant grant = cors_headers(m->cfg->cors_origins, r, headers, 700, &n);
    snprintf(headers + n, sizeof(headers) - n, "Cache-Control: max-age=300\r\n%s",
             m->cfg->cors_origins && grant != CORS_WITH_CREDENTIALS ? "Vary: Origin\r\n" : "");
    conn_respond(c, 200, "application/json", headers, md->body, md->body_len, !keep_alive);
}
