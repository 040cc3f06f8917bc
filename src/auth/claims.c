/* The claims of a verified token: exp/nbf as NumericDates, the "mercure" claim (publish and
 * subscribe selectors, compiled once per token; payload), and what they allow. */
#include "auth/claims.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/details.h"
#include "core/selector.h"

void auth_claims_free(struct auth_claims *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->npublish; i++)
        selector_free(c->publish[i]);
    for (size_t i = 0; i < c->nsubscribe; i++)
        selector_free(c->subscribe[i]);
    free(c->publish);
    free(c->subscribe);
    free(c->payload_json);
    details_free(c->details);
    memset(c, 0, sizeof(*c));
}

static const char *compile_selectors(json_t *arr, struct selector ***out, size_t *n)
{
    if (!arr || json_is_null(arr)) return NULL; /* Go encoders write empty lists as null */
    if (!json_is_array(arr)) return "malformed mercure claim";
    size_t count = json_array_size(arr);
    if (!count) return NULL;
    if (!(*out = calloc(count, sizeof(**out)))) return "out of memory";
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item)
    {
        if (!json_is_string(item)) return "malformed mercure claim";
        if (!((*out)[i] = selector_compile(json_string_value(item), json_string_length(item))))
            return "out of memory";
        *n = i + 1;
    }
    return NULL;
}

bool claims_numeric_date(json_t *j, long long *out)
{
    if (json_is_integer(j)) {
        *out = json_integer_value(j);
        return true;
    }
    if (!json_is_real(j)) return false;
    double d = json_real_value(j);
    if (d >= 0x1p63) {
        *out = LLONG_MAX;
    } else if (d < -0x1p63) {
        *out = LLONG_MIN;
    } else {
        *out = (long long)d; /* towards zero, then up: ceil without libm */
        if ((double)*out < d) ++*out;
    }
    return true;
}

bool claims_read(json_t *payload, long long now, struct auth_claims *out, const char **why)
{
    json_t *exp = json_object_get(payload, "exp"), *nbf = json_object_get(payload, "nbf");
    long long exp_at = 0, nbf_at = 0;
    if ((exp && !claims_numeric_date(exp, &exp_at)) ||
        (nbf && !claims_numeric_date(nbf, &nbf_at))) {
        *why = "exp or nbf is not a number";
        return false;
    }
    if (exp && now >= exp_at) {
        *why = "token expired";
        return false;
    }
    if (nbf && now < nbf_at) {
        *why = "token not valid yet";
        return false;
    }
    out->exp = exp ? exp_at : 0;
    out->nbf = nbf ? nbf_at : 0;

    json_t *mercure = json_object_get(payload, "mercure");
    if (!mercure || json_is_null(mercure)) return true;
    if (!json_is_object(mercure)) {
        *why = "malformed mercure claim";
        return false;
    }
    const char *bad =
        compile_selectors(json_object_get(mercure, "publish"), &out->publish, &out->npublish);
    if (!bad)
        bad = compile_selectors(json_object_get(mercure, "subscribe"), &out->subscribe,
                                &out->nsubscribe);
    if (bad) {
        *why = bad;
        return false;
    }
    json_t *pl = json_object_get(mercure, "payload");
    if (pl && !json_is_null(pl) &&
        !(out->payload_json = json_dumps(pl, JSON_COMPACT | JSON_ENCODE_ANY))) {
        *why = "out of memory";
        return false;
    }
    return true;
}

bool auth_claims_current(const struct auth_claims *c, long long now)
{
    return (!c->exp || now < c->exp) && now >= c->nbf;
}

static bool any_match(struct selector *const *sels, size_t n, const char *topic, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (selector_match(sels[i], topic, len)) return true;
    return false;
}

/* Each dialect's claims answer only by their own rules: a 1.0 token has no selectors and a
 * draft-07 token no details, so neither can borrow the other's grants. */
bool auth_can_publish(const struct auth_claims *c, const char *topic, size_t len)
{
    if (!c) return false;
    if (c->dialect == AUTH_DIALECT_08) return details_grant(c->details, DETAIL_PUBLISH, topic, len);
    return any_match(c->publish, c->npublish, topic, len);
}

bool auth_can_subscribe(const struct auth_claims *c, const char *topic, size_t len)
{
    if (!c) return false;
    if (c->dialect == AUTH_DIALECT_08)
        return details_grant(c->details, DETAIL_SUBSCRIBE, topic, len);
    return any_match(c->subscribe, c->nsubscribe, topic, len);
}

const char *auth_payload_for(const struct auth_claims *c, const char *match, size_t len)
{
    if (!c) return NULL;
    if (c->dialect == AUTH_DIALECT_08) return details_payload(c->details, match, len);
    return c->payload_json;
}
