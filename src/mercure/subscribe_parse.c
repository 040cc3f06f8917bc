/* Subscribe validation (subscribe_parse.h): the selectors a stream may ask for and the id it
 * resumes after. The order of the checks is the order of the answers clients see. */
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "core/selector.h"
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
    p->pairs = NULL;
    p->sels = NULL;
    p->lens = NULL;
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
        if (!out->pairs || !out->sels || !out->lens) return out_of_memory(err);
    }
    query[len] = 0;
    enum form_status fs = form_parse(query, len, out->pairs, max_pairs, npairs);
    if (fs == FORM_TOO_MANY) return fail(err, "Too many \"topic\" parameters.");
    if (fs != FORM_OK) return fail(err, "Invalid query string.");
    return true;
}

/* Adds one topic selector unless it repeats one; *template_cost sums what the templates cost. */
static bool add_topic(struct subscribe_parsed *out, const struct form_pair *p,
                      const struct sseb_config *cfg, size_t *template_cost, struct parse_error *err)
{
    if (out->nsel == cfg->max_topics) return fail(err, "Too many \"topic\" parameters.");
    if (p->value_len == 0) return true;
    if (p->value_len > cfg->max_selector_bytes) return fail(err, "Topic selector too long.");
    if (!utf8_printable(p->value, p->value_len))
        return fail(err, "Invalid topic selector: invalid UTF-8 or control characters.");
    for (size_t j = 0; j < out->nsel; j++)
        if (out->lens[j] == p->value_len && memcmp(out->sels[j], p->value, p->value_len) == 0)
            return true;
    /* Templates are matched against every new topic: bound the work one subscriber may add to
     * each publish. */
    if (memchr(p->value, '{', p->value_len)) {
        struct selector *sel = selector_compile(p->value, p->value_len);
        if (!sel) return out_of_memory(err);
        *template_cost += selector_cost(sel);
        selector_free(sel);
        if (*template_cost > cfg->max_template_cost)
            return fail(err, "Topic selectors too complex.");
    }
    out->sels[out->nsel] = p->value;
    out->lens[out->nsel++] = p->value_len;
    return true;
}

bool subscribe_parse(char *query, size_t len, const char *header_id, size_t header_id_len,
                     const struct sseb_config *cfg, struct subscribe_parsed *out,
                     struct parse_error *err)
{
    *out = (struct subscribe_parsed){0};
    out->pairs = out->small_pairs;
    out->sels = out->small_sels;
    out->lens = out->small_lens;
    size_t npairs = 0;
    if (!decode(query, len, cfg, out, &npairs, err)) return false;

    size_t template_cost = 0;
    const char *query_id = NULL;
    size_t query_id_len = 0;
    for (size_t i = 0; i < npairs; i++) {
        struct form_pair *p = &out->pairs[i];
        if (strcmp(p->key, "topic") == 0) {
            if (!add_topic(out, p, cfg, &template_cost, err)) return false;
        } else if (strcmp(p->key, "lastEventID") == 0 || strcmp(p->key, "Last-Event-ID") == 0) {
            /* draft-07 names the query parameter Last-Event-ID; the reference hub lastEventID */
            query_id = p->value;
            query_id_len = p->value_len;
        } else if (strcmp(p->key, "authorization") == 0) {
            out->query_token = p->value;
            out->query_token_len = p->value_len;
        }
    }
    if (out->nsel == 0) return fail(err, "Missing \"topic\" parameter.");

    /* The header wins over the query parameter; an empty header asks for nothing. */
    out->last_id = header_id;
    out->last_id_len = header_id_len;
    if (!header_id || header_id_len == 0) {
        out->last_id = query_id;
        out->last_id_len = query_id_len;
    }
    return true;
}
