/* The authorization_details claim of a Mercure 1.0 token (spec sections "Authorization Details",
 * "Topic Matcher List" and "Payloads"), parsed strictly and compiled once per token.
 *
 * Entries of another RFC 9396 type are skipped (each still has to be an object with a string
 * "type"). A Mercure detail needs a non-empty "actions" array of strings (publish and subscribe
 * are known; other actions grant nothing) and a non-empty "topics" array of objects, each with a
 * non-empty "match" string (UTF-8 without control or format characters) and an optional
 * "match_type" of exact (the default) or urlpattern; "*" matches every topic whatever the type.
 * "payload", when present, is an object. Any other shape, an unknown match_type, a pattern that
 * does not compile or a limit exceeded (details.h) rejects the whole token: partial acceptance
 * would silently change what the token allows. */
#include "auth/details.h"

#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "core/urlpattern.h"

#define MERCURE_DETAIL "https://mercure.rocks/authorization-detail"

enum matcher_kind { MATCH_ANY, MATCH_EXACT, MATCH_URLPATTERN };

struct matcher {
    enum matcher_kind kind;
    char *s; /* the "match" value */
    size_t len;
    struct urlpattern *pattern; /* MATCH_URLPATTERN: compiled against the base */
};

struct detail {
    unsigned actions; /* DETAIL_* */
    size_t first, n;  /* its matchers: m[first, first + n) */
    char *payload;    /* compact JSON; NULL when absent */
};

struct auth_details {
    struct detail *d;
    size_t nd;
    struct matcher *m;
    size_t nm;
    char *base; /* the resource identifier: relative patterns and topics resolve against it */
    size_t base_len;
    size_t cost; /* urlpattern_cost summed over the URL patterns */
};

/* ---- URL Pattern matchers -------------------------------------------------------------------
 * Compiled once per token against the resource identifier (core/urlpattern.h); a pattern that
 * does not compile invalidates the token like any other malformed matcher. A topic is parsed as a
 * URL at most once per question, only when a URL pattern is asked about it; a topic that is not a
 * URL matches no pattern. */

static const char *pattern_compile(struct auth_details *d, struct matcher *m)
{
    const char *reason;
    if (!(m->pattern = urlpattern_compile(m->s, m->len, d->base, d->base_len, &reason)))
        return "a URL pattern that does not compile";
    d->cost += urlpattern_cost(m->pattern);
    return d->cost > DETAILS_MAX_PATTERN_COST ? "URL patterns too costly to evaluate" : NULL;
}

/* A topic as a URL, parsed on first use. */
struct topic_url {
    struct urlpattern_url u;
    int state; /* 0: not parsed yet; 1: a URL; -1: not a URL */
};

static bool pattern_match(const struct auth_details *d, const struct matcher *m, const char *topic,
                          size_t len, struct topic_url *t)
{
    if (!t->state)
        t->state = urlpattern_url_parse(&t->u, topic, len, d->base, d->base_len) ? 1 : -1;
    return t->state > 0 && urlpattern_test(m->pattern, &t->u);
}

static void topic_url_release(struct topic_url *t)
{
    if (t->state) urlpattern_url_release(&t->u);
}

/* ---- parsing ------------------------------------------------------------------------------ */

void details_free(struct auth_details *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->nm; i++) {
        urlpattern_free(d->m[i].pattern);
        free(d->m[i].s);
    }
    for (size_t i = 0; i < d->nd; i++)
        free(d->d[i].payload);
    free(d->m);
    free(d->d);
    free(d->base);
    free(d);
}

static bool str_is(json_t *j, const char *s)
{
    size_t n = strlen(s);
    return json_is_string(j) && json_string_length(j) == n && !memcmp(json_string_value(j), s, n);
}

static const char *read_actions(json_t *actions, unsigned *out)
{
    if (!json_is_array(actions) || !json_array_size(actions))
        return "a Mercure authorization detail without actions";
    if (json_array_size(actions) > DETAILS_MAX_ACTIONS) return "too many actions in a detail";
    size_t i;
    json_t *a;
    json_array_foreach(actions, i, a)
    {
        if (!json_is_string(a)) return "an action that is not a string";
        if (str_is(a, "publish")) *out |= DETAIL_PUBLISH;
        if (str_is(a, "subscribe")) *out |= DETAIL_SUBSCRIBE;
        /* Unknown actions grant nothing and invalidate nothing (spec: future actions). */
    }
    return NULL;
}

static const char *read_matcher(struct auth_details *d, json_t *t, struct matcher *m)
{
    if (!json_is_object(t)) return "a topic matcher that is not an object";
    json_t *match = json_object_get(t, "match"), *type = json_object_get(t, "match_type");
    if (!json_is_string(match)) return match ? "a match that is not a string" : "no match";
    const char *s = json_string_value(match);
    size_t len = json_string_length(match);
    if (!len) return "an empty match";
    if (len > DETAILS_MAX_MATCH_BYTES) return "a match longer than 4096 bytes";
    if (!utf8_protocol_text(s, len)) return "a match with a control or format character";
    enum matcher_kind kind;
    if (!type || str_is(type, "exact"))
        kind = MATCH_EXACT;
    else if (str_is(type, "urlpattern"))
        kind = MATCH_URLPATTERN;
    else
        return "an unsupported match_type";
    if (len == 1 && s[0] == '*') kind = MATCH_ANY; /* the reserved wildcard, whatever the type */
    if (!(m->s = malloc(len + 1))) return "out of memory";
    memcpy(m->s, s, len + 1);
    m->len = len;
    m->kind = kind;
    return kind == MATCH_URLPATTERN ? pattern_compile(d, m) : NULL;
}

static const char *read_detail(struct auth_details *d, json_t *e, struct detail *out)
{
    const char *why = read_actions(json_object_get(e, "actions"), &out->actions);
    if (why) return why;
    json_t *topics = json_object_get(e, "topics");
    if (!json_is_array(topics) || !json_array_size(topics))
        return "a Mercure authorization detail without topics";
    out->first = d->nm;
    size_t i;
    json_t *t;
    json_array_foreach(topics, i, t)
    {
        /* d->m was sized for every topic of every Mercure detail (counted first). */
        struct matcher *m = &d->m[d->nm];
        memset(m, 0, sizeof(*m));
        why = read_matcher(d, t, m);
        if (m->s) d->nm++, out->n++; /* kept for details_free, even when it failed */
        if (why) return why;
    }
    json_t *payload = json_object_get(e, "payload");
    if (payload && !json_is_null(payload)) {
        if (!json_is_object(payload)) return "a payload that is not an object";
        if (!(out->payload = json_dumps(payload, JSON_COMPACT))) return "out of memory";
    }
    return NULL;
}

/* Counts the Mercure details and their topics, checking the limits before anything compiles. */
static const char *count(json_t *claim, size_t *nd, size_t *nm)
{
    if (json_array_size(claim) > DETAILS_MAX_ENTRIES) return "too many authorization details";
    size_t i;
    json_t *e;
    json_array_foreach(claim, i, e)
    {
        /* RFC 9396 section 2: every detail is an object whose "type" is a string. */
        json_t *type = json_object_get(e, "type");
        if (!json_is_object(e) || !json_is_string(type)) return "a malformed authorization detail";
        if (!str_is(type, MERCURE_DETAIL)) continue;
        if (++*nd > DETAILS_MAX_MERCURE) return "too many Mercure authorization details";
        *nm += json_array_size(json_object_get(e, "topics")); /* 0 for a non-array */
        if (*nm > DETAILS_MAX_TOPICS) return "too many topic matchers";
    }
    return NULL;
}

const char *details_read(json_t *claim, const char *base, size_t base_len,
                         struct auth_details **out)
{
    *out = NULL;
    /* Absent or null (a Go encoder's empty list): a valid token that grants nothing. */
    if (!claim || json_is_null(claim)) return NULL;
    if (!json_is_array(claim)) return "authorization_details is not an array";
    size_t nd = 0, nm = 0;
    const char *why = count(claim, &nd, &nm);
    if (why || !nd) return why;
    struct auth_details *d = calloc(1, sizeof(*d));
    if (!d || !(d->d = calloc(nd, sizeof(*d->d))) || !(d->m = calloc(nm, sizeof(*d->m))) ||
        (base && !(d->base = strndup(base, base_len)))) {
        details_free(d);
        return "out of memory";
    }
    d->base_len = base ? base_len : 0;
    size_t i;
    json_t *e;
    json_array_foreach(claim, i, e)
    {
        if (!str_is(json_object_get(e, "type"), MERCURE_DETAIL)) continue;
        why = read_detail(d, e, &d->d[d->nd++]);
        if (why) break;
    }
    if (why) {
        details_free(d);
        return why;
    }
    *out = d;
    return NULL;
}

/* ---- grants ------------------------------------------------------------------------------- */

static bool matches(const struct auth_details *d, const struct matcher *m, const char *topic,
                    size_t len, struct topic_url *t)
{
    switch (m->kind) {
    case MATCH_ANY:
        return true;
    case MATCH_EXACT:
        return m->len == len && !memcmp(m->s, topic, len);
    case MATCH_URLPATTERN:
        return pattern_match(d, m, topic, len, t);
    }
    return false;
}

/* The first detail with the action (DETAIL_*) one of whose matchers matches the topic. */
static const struct detail *first_match(const struct auth_details *d, unsigned action,
                                        const char *topic, size_t len)
{
    struct topic_url t = {0};
    const struct detail *found = NULL;
    for (size_t i = 0; i < d->nd && !found; i++) {
        const struct detail *e = &d->d[i];
        if (!(e->actions & action)) continue;
        for (size_t j = e->first; j < e->first + e->n && !found; j++)
            if (matches(d, &d->m[j], topic, len, &t)) found = e;
    }
    topic_url_release(&t);
    return found;
}

bool details_grant(const struct auth_details *d, unsigned action, const char *topic, size_t len)
{
    return d && topic && first_match(d, action, topic, len);
}

const char *details_payload(const struct auth_details *d, const char *match, size_t len)
{
    const struct detail *e = d && match ? first_match(d, DETAIL_SUBSCRIBE, match, len) : NULL;
    return e ? e->payload : NULL;
}
