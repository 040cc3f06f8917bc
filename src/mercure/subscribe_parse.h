/* Subscribe validation as a pure function: the query string and the Last-Event-ID header in; the
 * selectors, the id to resume after and the token given in the URL out, or the status and reason
 * to answer. No connection, no worker: the handler (subscribe.c) and the fuzzer
 * (tests/fuzz/fuzz_query.c) call the same code.
 *
 * Both Mercure dialects are read per parameter: `topic` is draft-07 (URI templates, "*", exact),
 * `match` / `match_exact` is Mercure 1.0's exact matcher ("*", else byte for byte), and a request
 * that mixes them subscribes to the union. `lastEventID`, `Last-Event-ID` (draft-07) and
 * `last_event_id` (1.0) name the id to resume after; the header wins over all of them. */
#ifndef SSEB_MERCURE_SUBSCRIBE_PARSE_H
#define SSEB_MERCURE_SUBSCRIBE_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/selector.h"
#include "http/form.h"
#include "mercure/parse_error.h"

#define SUBSCRIBE_SMALL_PAIRS 16

struct sseb_config;

struct subscribe_parsed {
    /* The distinct selectors in request order (they point into the query), each with the syntax
     * its parameter reads it with. */
    char **sels;
    size_t *lens;
    enum selector_syntax *syntax;
    size_t nsel;
    /* The id to resume after: the Last-Event-ID header, else the query's; NULL or empty when
     * none was asked for. */
    const char *last_id;
    size_t last_id_len;
    /* The answer says where the stream starts (Last-Event-ID, Mercure-Last-Event-ID): an id was
     * given, or, in a request with a 1.0 parameter, the header or an id parameter was there even
     * empty (draft-07 answered an empty id with no header, and still does). */
    bool id_asked;
    /* The draft-07 `authorization` query parameter, NULL when absent. */
    const char *query_token;
    size_t query_token_len;
    /* Scratch sized to the request: a few selectors (most subscriptions) use these. */
    struct form_pair small_pairs[SUBSCRIBE_SMALL_PAIRS], *pairs;
    char *small_sels[SUBSCRIBE_SMALL_PAIRS];
    size_t small_lens[SUBSCRIBE_SMALL_PAIRS];
    enum selector_syntax small_syntax[SUBSCRIBE_SMALL_PAIRS];
};

/* Decodes query[0..len) in place (query[len] must be writable) and validates it as a subscribe
 * under cfg's limits and dialects (cfg->dialects: a dialect switched off makes its selector
 * parameters a 400); header_id (NULL: absent) is the request's Last-Event-ID header. Returns
 * true with *out filled, or false with *err filled. Either way call subscribe_parsed_free(out)
 * afterwards. */
bool subscribe_parse(char *query, size_t len, const char *header_id, size_t header_id_len,
                     const struct sseb_config *cfg, struct subscribe_parsed *out,
                     struct parse_error *err);
void subscribe_parsed_free(struct subscribe_parsed *p);

/* The id a subscribe will resume after, as subscribe_parse reads it (the Last-Event-ID header,
 * else the query's last id parameter), without decoding query in place: for a wait that happens
 * before the request is parsed (the handler may run again on the same bytes). When the id comes
 * from the query it is decoded into *scratch (free it). NULL or *len 0 when none is given. */
const char *subscribe_resume_id(const char *query, size_t len, const char *header_id,
                                size_t header_id_len, char **scratch, size_t *id_len);

#endif
