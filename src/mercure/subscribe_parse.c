/* Subscribe validation (subscribe_parse.h): the selectors a stream may ask for and the id it
 * resumes after. The order of the checks is the order of the answers clients see. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/utf8.h"
#include "core/selector.h"
#include "core/urlpattern.h"
#include "mercure/subscribe_parse.h"
#include "ssebroker/config.h"

static bool fail(struct parse_error *err, const char *reason)
{
    *err = (struct parse_error){.status = 400, .reason = reason};
    return false;
}

static bool out_of_memory(struct parse_error *err)
{
    *err = (struct parse_error){.status = 503, .reason = "Out of memory.", .close = true};
    return false;
}

void subscribe_parsed_free(struct subscribe_parsed *p)
{
    if (p->pairs && p->pairs != p->small_pairs) free(p->pairs);
    if (p->sels && p->sels != p->small_sels) free(p->sels);
    if (p->lens && p->lens != p->small_lens) free(p->lens);
    if (p->syntax && p->syntax != p->small_syntax) free(p->syntax);
    p->pairs = NULL;
    p->sels = NULL;
    p->lens = NULL;
    p->syntax = NULL;
}

/* Decodes the query into pairs sized to it (bounded by the topic limit). */
static bool decode(char *query, size_t len, const struct sseb_config *cfg,
                   struct subscribe_parsed *out, size_t *npairs, struct parse_error *err)
{
    size_t max_pairs = form_pairs_bound(query, len);
    if (max_pairs > (size_t)cfg->max_topics + 64) max_pairs = (size_t)cfg->max_topics + 64;
    if (max_pairs > SUBSCRIBE_SMALL_PAIRS) {
        out->pairs = malloc(max_pairs * sizeof(*out->pairs));
        out->sels = malloc(max_pairs * sizeof(*out->sels));
        out->lens = malloc(max_pairs * sizeof(*out->lens));
        out->syntax = malloc(max_pairs * sizeof(*out->syntax));
        if (!out->pairs || !out->sels || !out->lens || !out->syntax) return out_of_memory(err);
    }
    query[len] = 0;
    enum form_status fs = form_parse(query, len, out->pairs, max_pairs, npairs);
    if (fs == FORM_TOO_MANY) return fail(err, "Too many \"topic\" parameters.");
    if (fs != FORM_OK) return fail(err, "Invalid query string.");
    return true;
}

/* What one subscription's patterns add to the matching of every publish, capped by the
 * configuration. */
struct parse_costs {
    size_t template, urlpattern;
};

/* A repeated selector of one matcher type is one subscription (the spec's "MAY deduplicate
 * subscriptions that have identical matcher type and pattern"); topic=x and match=x are two,
 * each in its own dialect, and a stream still receives each update once. */
static bool is_duplicate(const struct subscribe_parsed *out, const struct form_pair *p,
                         enum selector_syntax syntax)
{
    for (size_t j = 0; j < out->nsel; j++)
        if (out->syntax[j] == syntax && out->lens[j] == p->value_len &&
            memcmp(out->sels[j], p->value, p->value_len) == 0)
            return true;
    return false;
}

static void append(struct subscribe_parsed *out, const struct form_pair *p,
                   enum selector_syntax syntax)
{
    out->sels[out->nsel] = p->value;
    out->lens[out->nsel] = p->value_len;
    out->syntax[out->nsel++] = syntax;
}

/* Adds one topic selector unless it repeats one; costs sums what the templates cost. */
static bool add_topic(struct subscribe_parsed *out, const struct form_pair *p,
                      const struct sseb_config *cfg, struct parse_costs *costs,
                      struct parse_error *err)
{
    if (out->nsel == cfg->max_topics) return fail(err, "Too many \"topic\" parameters.");
    if (p->value_len == 0) return true;
    if (p->value_len > cfg->max_selector_bytes) return fail(err, "Topic selector too long.");
    if (!utf8_printable(p->value, p->value_len))
        return fail(err, "Invalid topic selector: invalid UTF-8 or control characters.");
    if (is_duplicate(out, p, SELECTOR_SYNTAX_TOPIC)) return true;
    /* Templates are matched against every new topic: bound the work one subscriber may add to
     * each publish. */
    if (memchr(p->value, '{', p->value_len)) {
        struct selector *sel = selector_compile(p->value, p->value_len);
        if (!sel) return out_of_memory(err);
        costs->template += selector_cost(sel);
        selector_free(sel);
        if (costs->template > cfg->max_template_cost)
            return fail(err, "Topic selectors too complex.");
    }
    append(out, p, SELECTOR_SYNTAX_TOPIC);
    return true;
}

/* Compiles a URL Pattern to check it and add its cost (the index compiles its own copy). */
static bool check_urlpattern(const struct form_pair *p, const struct sseb_config *cfg, size_t *cost,
                             struct parse_error *err)
{
    const char *base =
        cfg->resource_identifier ? cfg->resource_identifier : URLPATTERN_DEFAULT_BASE;
    const char *why = "out of memory";
    struct selector *sel =
        selector_compile_urlpattern(p->value, p->value_len, base, strlen(base), &why);
    if (!sel) {
        fail(err, err->detail);
        snprintf(err->detail, sizeof(err->detail), "Invalid \"match_urlpattern\" value: %s.", why);
        return false;
    }
    *cost += selector_cost(sel);
    selector_free(sel);
    if (*cost > cfg->max_urlpattern_cost) return fail(err, "URL patterns too complex.");
    return true;
}

/* Adds one Mercure 1.0 matcher (match=, match_exact=, match_urlpattern=) unless it repeats a
 * selector. */
static bool add_exact(struct subscribe_parsed *out, const struct form_pair *p,
                      const struct sseb_config *cfg, enum selector_syntax syntax,
                      struct parse_costs *costs, struct parse_error *err)
{
    if (out->nsel == cfg->max_topics) return fail(err, "Too many \"match\" parameters.");
    if (p->value_len == 0) return fail(err, "Invalid \"match\" value: empty.");
    if (p->value_len > cfg->max_selector_bytes) return fail(err, "Matcher value too long.");
    if (!utf8_protocol_text(p->value, p->value_len))
        return fail(err, "Invalid \"match\" value: invalid UTF-8, control or format characters.");
    if (is_duplicate(out, p, syntax)) return true;
    if (syntax == SELECTOR_SYNTAX_URLPATTERN && !check_urlpattern(p, cfg, &costs->urlpattern, err))
        return false;
    append(out, p, syntax);
    return true;
}

/* Reads one parameter whose name starts with "match" (any case). */
static bool add_matcher(struct subscribe_parsed *out, const struct form_pair *p,
                        const struct sseb_config *cfg, struct parse_costs *costs,
                        struct parse_error *err)
{
    bool exact = strcmp(p->key, "match") == 0 || strcmp(p->key, "match_exact") == 0;
    bool urlpattern = strcmp(p->key, "match_urlpattern") == 0;
    /* The spec reserves the whole prefix: a misspelt matcher type fails loudly. */
    if (!exact && !urlpattern)
        return fail(err, "Unknown matcher parameter: use \"match\", \"match_exact\" or "
                         "\"match_urlpattern\".");
    if (!(cfg->dialects & SSEB_DIALECT_08))
        return fail(err, "Mercure 1.0 \"match\" parameters are switched off on this hub "
                         "(--dialects 07): use \"topic\".");
    return add_exact(out, p, cfg, urlpattern ? SELECTOR_SYNTAX_URLPATTERN : SELECTOR_SYNTAX_EXACT,
                     costs, err);
}

static bool is_id_parameter(const char *key)
{
    /* draft-07 names the query parameter Last-Event-ID, its reference hub lastEventID, Mercure
     * 1.0 last_event_id */
    return strcmp(key, "lastEventID") == 0 || strcmp(key, "Last-Event-ID") == 0 ||
           strcmp(key, "last_event_id") == 0;
}

const char *subscribe_resume_id(const char *query, size_t len, const char *header_id,
                                size_t header_id_len, char **scratch, size_t *id_len)
{
    *scratch = NULL;
    *id_len = header_id_len;
    if (header_id && header_id_len) return header_id;
    *id_len = 0;
    char *copy = malloc(len + 1);
    if (!copy) return NULL;
    memcpy(copy, query, len);
    const char *id = NULL;
    /* The last id parameter wins, as in subscribe_parse; segments are decoded one by one. */
    for (size_t at = 0; at < len;) {
        char *seg = copy + at, *end = memchr(seg, '&', len - at);
        size_t n = end ? (size_t)(end - seg) : len - at;
        at += n + 1;
        char *eq = memchr(seg, '=', n);
        size_t key_len = eq ? (size_t)(eq - seg) : n; /* no '=': an empty value */
        long klen = form_decode(seg, seg, key_len, true);
        if (klen < 0) continue;
        seg[klen] = 0;
        if (!is_id_parameter(seg)) continue;
        long vlen = eq ? form_decode(eq + 1, eq + 1, n - key_len - 1, true) : 0;
        if (vlen < 0) continue;
        id = eq ? eq + 1 : "";
        *id_len = (size_t)vlen;
    }
    if (!id) {
        free(copy);
        *id_len = 0;
        return NULL;
    }
    *scratch = copy;
    return id;
}

bool subscribe_parse(char *query, size_t len, const char *header_id, size_t header_id_len,
                     const struct sseb_config *cfg, struct subscribe_parsed *out,
                     struct parse_error *err)
{
    *out = (struct subscribe_parsed){0};
    out->pairs = out->small_pairs;
    out->sels = out->small_sels;
    out->lens = out->small_lens;
    out->syntax = out->small_syntax;
    size_t npairs = 0;
    if (!decode(query, len, cfg, out, &npairs, err)) return false;

    struct parse_costs costs = {0};
    bool speaks_08 = false; /* a 1.0 parameter: match*, last_event_id */
    const char *query_id = NULL;
    size_t query_id_len = 0;
    for (size_t i = 0; i < npairs; i++) {
        struct form_pair *p = &out->pairs[i];
        if (strcmp(p->key, "topic") == 0) {
            if (!(cfg->dialects & SSEB_DIALECT_07))
                return fail(err, "The draft-07 \"topic\" parameter is switched off on this hub "
                                 "(--dialects 08): use \"match\".");
            if (!add_topic(out, p, cfg, &costs, err)) return false;
        } else if (strncasecmp(p->key, "match", 5) == 0) {
            if (!add_matcher(out, p, cfg, &costs, err)) return false;
        } else if (is_id_parameter(p->key)) {
            query_id = p->value;
            query_id_len = p->value_len;
            if (strcmp(p->key, "last_event_id") == 0) speaks_08 = true;
        } else if (strcmp(p->key, "authorization") == 0) {
            out->query_token = p->value;
            out->query_token_len = p->value_len;
        }
    }
    if (out->nsel == 0)
        return fail(err, cfg->dialects & SSEB_DIALECT_07 ? "Missing \"topic\" parameter."
                                                         : "Missing \"match\" parameter.");
    /* Mercure 1.0 answers where the stream starts whenever an id was given, even empty; draft-07
     * only when it is not empty (as before 1.0). */
    for (size_t i = 0; i < out->nsel && !speaks_08; i++)
        speaks_08 = out->syntax[i] != SELECTOR_SYNTAX_TOPIC;

    /* The header wins over the query parameter; an empty header asks for nothing. */
    out->last_id = header_id;
    out->last_id_len = header_id_len;
    if (!header_id || header_id_len == 0) {
        out->last_id = query_id;
        out->last_id_len = query_id_len;
    }
    out->id_asked = out->last_id_len || (speaks_08 && (header_id || query_id));
    return true;
}
