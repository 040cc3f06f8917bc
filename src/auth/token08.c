/* Mercure 1.0 tokens: the trusted issuers and resource identifier a verifier is configured
 * with, and the claims rules of an at+jwt token (spec section "Token Validation"): "iss" is one
 * of the trusted issuers and only that issuer's keys are tried (jws.c), "aud" contains the
 * resource identifier, "exp" is required and enforced, "nbf" is enforced when present. "sub",
 * "client_id", "iat" and "jti" are issuer obligations the hub does not require (the upstream
 * conformance suite's publisher token has none of them). */
#include "auth/token08.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth.h"
#include "auth/claims.h"
#include "auth/details.h"
#include "auth/keys.h"
#include "common/utf8.h"

#define MAX_ISSUERS      64
#define MAX_ISSUER_BYTES 2048
#define MAX_URL_BYTES    2048

const char *auth_resource_identifier_problem(const char *url)
{
    if (!url) return NULL;
    size_t n = strlen(url), skip;
    if (!strncasecmp(url, "https://", 8))
        skip = 8;
    else if (!strncasecmp(url, "http://", 7))
        skip = 7;
    else
        return "must be an absolute http(s) URL, e.g. https://example.com/.well-known/mercure";
    if (n > MAX_URL_BYTES) return "is longer than 2048 bytes";
    if (!url[skip] || strchr("/?#", url[skip])) return "has no host";
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return "must be ASCII without spaces or control characters (percent-encode the rest)";
    if (strchr(url, '#')) return "must not have a fragment (#)";
    return NULL;
}

/* Calls fn on each issuer of a comma-separated list (blanks around commas dropped). Stops at
 * the first problem fn reports, or at a problem of the list itself. */
static const char *each_issuer(const char *list, const char *(*fn)(void *, const char *, size_t),
                               void *arg)
{
    size_t count = 0;
    for (const char *p = list;;) {
        p += strspn(p, " \t");
        size_t n = strcspn(p, ",");
        size_t t = n;
        while (t && (p[t - 1] == ' ' || p[t - 1] == '\t'))
            t--;
        if (!t) return "has an empty entry";
        if (t > MAX_ISSUER_BYTES) return "has an issuer longer than 2048 bytes";
        if (!utf8_protocol_text(p, t)) return "has an issuer with a control character or not UTF-8";
        if (++count > MAX_ISSUERS) return "has more than 64 issuers";
        const char *why = fn ? fn(arg, p, t) : NULL;
        if (why) return why;
        if (!p[n]) return NULL;
        p += n + 1;
    }
}

const char *auth_issuers_problem(const char *list)
{
    return list ? each_issuer(list, NULL, NULL) : NULL;
}

static const char *add_issuer(void *arg, const char *iss, size_t len)
{
    struct auth_verifier *v = arg;
    struct issuer *n = realloc(v->issuers, (v->nissuers + 1) * sizeof(*n));
    if (!n) return "out of memory";
    v->issuers = n;
    struct issuer *is = &n[v->nissuers];
    if (!(is->iss = strndup(iss, len))) return "out of memory";
    is->len = len;
    /* Every issuer is bound to the verifier's whole key set (see struct issuer). */
    is->first = 0;
    is->n = v->nkeys;
    v->nissuers++;
    return NULL;
}

int auth_verifier_set_dialects(struct auth_verifier *v, unsigned accept,
                               const char *resource_identifier, const char *issuers, char *err,
                               size_t errlen)
{
    const char *why = auth_resource_identifier_problem(resource_identifier);
    if (why) {
        snprintf(err, errlen, "resource identifier %s", why);
        return -1;
    }
    if (!(accept & (AUTH_ACCEPT_07 | AUTH_ACCEPT_08))) {
        snprintf(err, errlen, "no token dialect accepted");
        return -1;
    }
    v->accept = accept & (AUTH_ACCEPT_07 | AUTH_ACCEPT_08);
    v->generation = verifier_generation_next(); /* other rules: cached verdicts no longer hold */
    free(v->resource);
    v->resource = NULL;
    v->resource_len = 0;
    if (resource_identifier) {
        if (!(v->resource = strdup(resource_identifier))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        v->resource_len = strlen(resource_identifier);
    }
    for (size_t i = 0; i < v->nissuers; i++)
        free(v->issuers[i].iss);
    free(v->issuers);
    v->issuers = NULL;
    v->nissuers = 0;
    if (issuers && (why = each_issuer(issuers, add_issuer, v))) {
        snprintf(err, errlen, "issuer list %s", why);
        return -1;
    }
    return 0;
}

const struct issuer *token08_issuer(const struct auth_verifier *v, json_t *payload,
                                    const char **why)
{
    if (!v->resource || !v->nissuers) {
        *why = "Mercure 1.0 tokens need a resource identifier and a trusted issuer";
        return NULL;
    }
    json_t *jiss = json_object_get(payload, "iss");
    if (!json_is_string(jiss)) {
        *why = jiss ? "iss is not a string" : "no iss";
        return NULL;
    }
    const char *iss = json_string_value(jiss);
    size_t n = json_string_length(jiss);
    for (size_t i = 0; i < v->nissuers; i++)
        if (v->issuers[i].len == n && !memcmp(v->issuers[i].iss, iss, n)) return &v->issuers[i];
    *why = "untrusted issuer";
    return NULL;
}

static bool is_resource(const struct auth_verifier *v, json_t *j)
{
    return json_string_length(j) == v->resource_len &&
           !memcmp(json_string_value(j), v->resource, v->resource_len);
}

/* "aud" is a string or an array of strings (RFC 7519 section 4.1.3) containing the resource
 * identifier, compared byte for byte. */
static const char *check_audience(const struct auth_verifier *v, json_t *aud)
{
    if (!aud) return "no aud";
    if (json_is_string(aud)) return is_resource(v, aud) ? NULL : "aud is not this hub";
    if (!json_is_array(aud)) return "aud is neither a string nor an array";
    bool found = false;
    size_t i;
    json_t *item;
    json_array_foreach(aud, i, item)
    {
        if (!json_is_string(item)) return "aud holds a non-string";
        found = found || is_resource(v, item);
    }
    return found ? NULL : "aud is not this hub";
}

bool token08_read(const struct auth_verifier *v, json_t *payload, long long now,
                  struct auth_claims *out, const char **why)
{
    json_t *exp = json_object_get(payload, "exp"), *nbf = json_object_get(payload, "nbf");
    long long exp_at = 0, nbf_at = 0;
    if (!exp) {
        *why = "no exp"; /* RFC 9068 requires it, and the spec makes the hub refuse without */
        return false;
    }
    if (!claims_numeric_date(exp, &exp_at) || (nbf && !claims_numeric_date(nbf, &nbf_at))) {
        *why = "exp or nbf is not a number";
        return false;
    }
    if (now >= exp_at) {
        *why = "token expired";
        return false;
    }
    if (nbf && now < nbf_at) {
        *why = "token not valid yet";
        return false;
    }
    /* An exp of 0 or before would read as "no expiry" to the callers: it has passed anyway. */
    out->exp = exp_at;
    out->nbf = nbf ? nbf_at : 0;
    if ((*why = check_audience(v, json_object_get(payload, "aud")))) return false;
    /* Only authorization_details grant anything: a "mercure" claim is not read. */
    *why = details_read(json_object_get(payload, "authorization_details"), v->resource,
                        v->resource_len, &out->details);
    return !*why;
}
