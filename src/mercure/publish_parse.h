/* Publish validation as a pure function: the form body, its Content-Type, the configuration and
 * the publisher's claims in; the validated update out, or the status and reason to answer. No
 * connection, no worker: the handler (publish.c) and the fuzzer (tests/fuzz/fuzz_event.c) call
 * the same code. */
#ifndef SSEB_MERCURE_PUBLISH_PARSE_H
#define SSEB_MERCURE_PUBLISH_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "http/form.h"
#include "mercure/parse_error.h"
#include "ssebroker/event.h"

#define PUBLISH_SMALL_PAIRS 16

struct sseb_config;
struct auth_claims;

struct publish_parsed {
    /* Fields point into the body. id.len == 0: the publisher sent none, the hub picks one. */
    struct sseb_update update;
    /* Scratch sized to the request: small publishes (most of them) use these. */
    struct form_pair small_pairs[PUBLISH_SMALL_PAIRS], *pairs;
    struct sseb_str small_topics[PUBLISH_SMALL_PAIRS], *topics;
};

/* Decodes body[0..len) in place (body[len] must be writable; body may be NULL when empty) and
 * validates it as a publish: content_type (NULL: absent) must be a form, topics within
 * cfg's limits, UTF-8 fields, an id, type and retry that cannot break an event stream's framing,
 * no reserved topic, every topic allowed by claims. Returns true with *out filled, or false with
 * *err filled. Either way call publish_parsed_free(out) afterwards. */
bool publish_parse(char *body, size_t len, const char *content_type, size_t content_type_len,
                   const struct sseb_config *cfg, const struct auth_claims *claims,
                   struct publish_parsed *out, struct parse_error *err);
void publish_parsed_free(struct publish_parsed *p);

/* The draft-07 `authorization` query parameter of a publish (its last occurrence), decoding
 * query[0..len) in place (query[len] must be writable). NULL when absent or malformed. */
const char *publish_query_token(char *query, size_t len, size_t *token_len);

#endif
