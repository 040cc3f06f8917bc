/* Mercure 1.0 tokens (at+jwt): typ, trusted issuers and their keys, aud, exp and nbf, the
 * authorization_details claim parsed strictly with its limits, the grants and payloads they give,
 * and the binding rule beside draft-07 tokens (--dialects 07, 08, both).
 *
 * Tokens are made here with OpenSSL's HMAC (HS256, the development key), independently of
 * src/auth/. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/jws_sign.h"
#include "auth/auth.h"

#define DEV_KEY "!ChangeThisMercureHubJWTSecretKey!"
#define NOW     1700000000LL
#define HUB     "https://hub.example/.well-known/mercure"
#define APP     "https://app.example"
#define DETAIL  "\"type\":\"https://mercure.rocks/authorization-detail\""
#define AT_JWT  "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}"
#define JWT     "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* ---- helpers ------------------------------------------------------------------------------ */

/* The claims of a valid 1.0 token for the test hub, with authorization_details (a JSON text,
 * NULL: none). */
static json_t *claims08(const char *details)
{
    json_t *c =
        json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "iss", APP, "aud", HUB, "sub", "u1", "iat",
                  (json_int_t)(NOW - 10), "exp", (json_int_t)(NOW + 300), "jti", "j1");
    cr_assert_not_null(c);
    if (details) {
        json_error_t e;
        json_t *d = json_loads(details, JSON_DECODE_ANY, &e);
        cr_assert_not_null(d, "bad test JSON %s: %s", details, e.text);
        json_object_set_new(c, "authorization_details", d);
    }
    return c;
}

/* Signs claims (taking them) under header. */
static char *sign(const char *header, json_t *claims)
{
    char *text = json_dumps(claims, JSON_COMPACT);
    json_decref(claims);
    char *tok = hs256(DEV_KEY, header, text);
    free(text);
    return tok;
}

static char *tok08(const char *details)
{
    return sign(AT_JWT, claims08(details));
}

static struct auth_verifier *verifier(unsigned accept, const char *resource, const char *issuers)
{
    char err[256] = "";
    struct auth_verifier *v = auth_verifier_new(DEV_KEY, "HS256", NULL, err, sizeof(err));
    cr_assert_not_null(v, "%s", err);
    cr_assert_eq(auth_verifier_set_dialects(v, accept, resource, issuers, err, sizeof(err)), 0,
                 "%s", err);
    return v;
}

static struct auth_verifier *hub(void)
{
    return verifier(AUTH_ACCEPT_07 | AUTH_ACCEPT_08, HUB, APP);
}

static const char *last_why;
static enum auth_dialect last_dialect;

static bool ok(const struct auth_verifier *v, const char *tok)
{
    struct auth_claims c;
    last_why = NULL;
    bool r = auth_verify(v, tok, strlen(tok), NOW, &c, &last_why);
    last_dialect = c.dialect;
    auth_claims_free(&c);
    return r;
}

static void accepts(const struct auth_verifier *v, const char *tok)
{
    cr_assert(ok(v, tok), "rejected (%s): %s", last_why, tok);
}

static void rejects(const struct auth_verifier *v, const char *tok, const char *why)
{
    cr_assert_not(ok(v, tok), "accepted: %s", tok);
    cr_assert_not_null(last_why);
    if (why) cr_assert_str_eq(last_why, why, "token %s", tok);
}

/* Verifies tok (taking it) into *c, which must succeed. */
static void verified(const struct auth_verifier *v, char *tok, struct auth_claims *c)
{
    const char *why = NULL;
    cr_assert(auth_verify(v, tok, strlen(tok), NOW, c, &why), "rejected (%s): %s", why, tok);
    free(tok);
}

static bool pub(const struct auth_claims *c, const char *topic)
{
    return auth_can_publish(c, topic, strlen(topic));
}

static bool sub(const struct auth_claims *c, const char *topic)
{
    return auth_can_subscribe(c, topic, strlen(topic));
}

static const char *payload(const struct auth_claims *c, const char *match)
{
    return auth_payload_for(c, match, strlen(match));
}

#define BOOKS_SUBSCRIBE                                                                            \
    "[{" DETAIL                                                                                    \
    ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"https://example.com/books/1\"}]}]"

/* ---- typ ---------------------------------------------------------------------------------- */

Test(token08, typ_at_jwt_in_every_spelling_is_a_1_0_token)
{
    struct auth_verifier *v = hub();
    const char *headers[] = {
        "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}",
        "{\"alg\":\"HS256\",\"typ\":\"application/at+jwt\"}",
        "{\"alg\":\"HS256\",\"typ\":\"AT+JWT\"}",
        "{\"alg\":\"HS256\",\"typ\":\"Application/At+Jwt\"}",
    };
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        struct auth_claims c;
        verified(v, sign(headers[i], claims08(BOOKS_SUBSCRIBE)), &c);
        cr_assert_eq(c.dialect, AUTH_DIALECT_08, "%s", headers[i]);
        cr_assert(sub(&c, "https://example.com/books/1"), "%s", headers[i]);
        auth_claims_free(&c);
    }
    auth_verifier_free(v);
}

Test(token08, any_other_typ_is_a_draft_07_token_judged_only_by_draft_07_rules)
{
    struct auth_verifier *v = hub();
    /* The same 1.0 claims under another typ: the 07 rules accept the signature, but the
     * authorization_details grant nothing there. */
    const char *headers[] = {
        "{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
        "{\"alg\":\"HS256\"}",
        "{\"alg\":\"HS256\",\"typ\":\"at+jwt \"}",
        "{\"alg\":\"HS256\",\"typ\":\"application/jwt\"}",
        "{\"alg\":\"HS256\",\"typ\":\"x/at+jwt\"}",
        "{\"alg\":\"HS256\",\"typ\":\"application/\"}",
    };
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        struct auth_claims c;
        verified(v, sign(headers[i], claims08(BOOKS_SUBSCRIBE)), &c);
        cr_assert_eq(c.dialect, AUTH_DIALECT_07, "%s", headers[i]);
        cr_assert_not(sub(&c, "https://example.com/books/1"), "%s", headers[i]);
        cr_assert_null(c.details);
        auth_claims_free(&c);
    }
    char *t = sign("{\"alg\":\"HS256\",\"typ\":7}", claims08(BOOKS_SUBSCRIBE));
    rejects(v, t, "malformed token header");
    cr_assert_eq(last_dialect, AUTH_DIALECT_NONE);
    free(t);
    auth_verifier_free(v);
}

/* ---- iss and the issuer's keys ------------------------------------------------------------ */

Test(token08, iss_must_be_a_trusted_issuer)
{
    struct auth_verifier *v =
        verifier(AUTH_ACCEPT_07 | AUTH_ACCEPT_08, HUB, "https://other.example, " APP);
    json_t *c = claims08(NULL);
    char *t = sign(AT_JWT, json_incref(c));
    accepts(v, t);
    free(t);
    json_object_set_new(c, "iss", json_string("https://evil.example"));
    t = sign(AT_JWT, json_incref(c));
    rejects(v, t, "untrusted issuer");
    cr_assert_eq(last_dialect, AUTH_DIALECT_08);
    free(t);
    const char *near[] = {APP "/", "https://APP.example", "https://app.example ", ""};
    for (size_t i = 0; i < sizeof(near) / sizeof(near[0]); i++) {
        json_object_set_new(c, "iss", json_string(near[i]));
        t = sign(AT_JWT, json_incref(c));
        rejects(v, t, "untrusted issuer"); /* exact comparison, nothing normalised */
        free(t);
    }
    json_object_set_new(c, "iss", json_integer(1));
    t = sign(AT_JWT, json_incref(c));
    rejects(v, t, "iss is not a string");
    free(t);
    json_object_del(c, "iss");
    t = sign(AT_JWT, json_incref(c));
    rejects(v, t, "no iss");
    free(t);
    json_object_set_new(c, "iss", json_string("https://other.example"));
    t = sign(AT_JWT, c);
    accepts(v, t); /* the second trusted issuer */
    free(t);
    auth_verifier_free(v);
}

Test(token08, a_trusted_iss_with_a_key_that_is_not_the_issuers_fails)
{
    struct auth_verifier *v = hub();
    char *text = json_dumps(claims08(BOOKS_SUBSCRIBE), JSON_COMPACT);
    char *t = hs256("another secret, not the hub's key!!", AT_JWT, text);
    rejects(v, t, "invalid signature");
    free(t);
    /* A signature over other claims does not move. */
    char *good = hs256(DEV_KEY, AT_JWT, text);
    char *dot = strrchr(good, '.');
    dot[1] = dot[1] == 'A' ? 'B' : 'A';
    rejects(v, good, "invalid signature");
    free(good);
    free(text);
    auth_verifier_free(v);
}

Test(token08, tokens_are_refused_until_1_0_is_configured)
{
    struct auth_verifier *none = verifier(AUTH_ACCEPT_07 | AUTH_ACCEPT_08, NULL, NULL);
    struct auth_verifier *no_iss = verifier(AUTH_ACCEPT_07 | AUTH_ACCEPT_08, HUB, NULL);
    struct auth_verifier *no_aud = verifier(AUTH_ACCEPT_07 | AUTH_ACCEPT_08, NULL, APP);
    char *t = tok08(BOOKS_SUBSCRIBE);
    const char *why = "Mercure 1.0 tokens need a resource identifier and a trusted issuer";
    rejects(none, t, why);
    rejects(no_iss, t, why);
    rejects(no_aud, t, why);
    free(t);
    auth_verifier_free(none);
    auth_verifier_free(no_iss);
    auth_verifier_free(no_aud);
}

/* ---- aud ---------------------------------------------------------------------------------- */

Test(token08, aud_contains_the_resource_identifier)
{
    struct auth_verifier *v = hub();
    struct {
        const char *aud; /* JSON; NULL: absent */
        const char *why; /* NULL: accepted */
    } cases[] = {
        {"\"" HUB "\"", NULL},
        {"[\"" HUB "\"]", NULL},
        {"[\"https://other.example/hub\",\"" HUB "\"]", NULL},
        {"\"https://other.example/hub\"", "aud is not this hub"},
        {"\"" HUB "/\"", "aud is not this hub"},
        {"\"HTTPS://hub.example/.well-known/mercure\"", "aud is not this hub"},
        {"[]", "aud is not this hub"},
        {"[\"https://other.example/hub\"]", "aud is not this hub"},
        {"[\"" HUB "\",7]", "aud holds a non-string"},
        {"7", "aud is neither a string nor an array"},
        {"{\"aud\":\"" HUB "\"}", "aud is neither a string nor an array"},
        {"null", "aud is neither a string nor an array"},
        {NULL, "no aud"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *c = claims08(NULL);
        json_object_del(c, "aud");
        if (cases[i].aud)
            json_object_set_new(c, "aud", json_loads(cases[i].aud, JSON_DECODE_ANY, NULL));
        char *t = sign(AT_JWT, c);
        if (cases[i].why)
            rejects(v, t, cases[i].why);
        else
            accepts(v, t);
        free(t);
    }
    auth_verifier_free(v);
}

/* ---- exp and nbf -------------------------------------------------------------------------- */

Test(token08, exp_is_required_and_enforced_nbf_is_enforced)
{
    struct auth_verifier *v = hub();
    struct {
        const char *member;
        json_t *value; /* NULL: removed */
        const char *why;
    } cases[] = {
        {"exp", NULL, "no exp"},
        {"exp", json_integer(NOW), "token expired"},
        {"exp", json_integer(NOW - 1), "token expired"},
        {"exp", json_integer(0), "token expired"},
        {"exp", json_string("4102444800"), "exp or nbf is not a number"},
        {"exp", json_null(), "exp or nbf is not a number"},
        {"exp", json_real((double)NOW + 0.5), NULL},
        {"exp", json_integer(NOW + 1), NULL},
        {"nbf", json_integer(NOW + 1), "token not valid yet"},
        {"nbf", json_integer(NOW), NULL},
        {"nbf", json_string("0"), "exp or nbf is not a number"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *c = claims08(NULL);
        if (cases[i].value)
            json_object_set_new(c, cases[i].member, cases[i].value);
        else
            json_object_del(c, cases[i].member);
        char *t = sign(AT_JWT, c);
        if (cases[i].why)
            rejects(v, t, cases[i].why);
        else
            accepts(v, t);
        free(t);
    }
    struct auth_claims c;
    verified(v, tok08(NULL), &c);
    cr_assert_eq(c.exp, NOW + 300, "the stream must close at exp");
    auth_claims_free(&c);
    auth_verifier_free(v);
}

Test(token08, sub_client_id_iat_and_jti_are_not_required)
{
    /* The upstream conformance suite's publisher token, claim for claim. */
    struct auth_verifier *v =
        verifier(AUTH_ACCEPT_07 | AUTH_ACCEPT_08, "https://localhost/.well-known/mercure",
                 "https://localhost");
    const char *claims =
        "{\"aud\":\"https://localhost/.well-known/mercure\",\"iss\":\"https://localhost\","
        "\"exp\":4102444800,\"authorization_details\":["
        "{" DETAIL ",\"actions\":[\"publish\"],\"topics\":[{\"match\":\"*\"}]},"
        "{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"*\"}]}]}";
    char *t = hs256(DEV_KEY, "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", claims);
    struct auth_claims c;
    verified(v, t, &c);
    cr_assert(pub(&c, "R0"));
    cr_assert(pub(&c, "https://example.net/foo/R4"));
    cr_assert(sub(&c, "https://example.net/foo/R4"));
    auth_claims_free(&c);
    auth_verifier_free(v);
}

/* ---- authorization_details: shapes -------------------------------------------------------- */

Test(token08, every_malformed_mercure_detail_rejects_the_whole_token)
{
    struct auth_verifier *v = hub();
    /* Each case puts one bad detail after a good one: partial acceptance is forbidden. */
    const char *good = "{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"a\"}]}";
    struct {
        const char *bad;
        const char *why;
    } cases[] = {
        /* the claim and its entries */
        {NULL, NULL}, /* marker: the claim itself, below */
        {"\"https://mercure.rocks/authorization-detail\"", "a malformed authorization detail"},
        {"[]", "a malformed authorization detail"},
        {"null", "a malformed authorization detail"},
        {"{\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"a\"}]}",
         "a malformed authorization detail"},
        {"{\"type\":7,\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"a\"}]}",
         "a malformed authorization detail"},
        /* actions */
        {"{" DETAIL ",\"topics\":[{\"match\":\"a\"}]}",
         "a Mercure authorization detail without actions"},
        {"{" DETAIL ",\"actions\":[],\"topics\":[{\"match\":\"a\"}]}",
         "a Mercure authorization detail without actions"},
        {"{" DETAIL ",\"actions\":\"subscribe\",\"topics\":[{\"match\":\"a\"}]}",
         "a Mercure authorization detail without actions"},
        {"{" DETAIL ",\"actions\":null,\"topics\":[{\"match\":\"a\"}]}",
         "a Mercure authorization detail without actions"},
        {"{" DETAIL ",\"actions\":[\"subscribe\",7],\"topics\":[{\"match\":\"a\"}]}",
         "an action that is not a string"},
        {"{" DETAIL ",\"actions\":[null],\"topics\":[{\"match\":\"a\"}]}",
         "an action that is not a string"},
        /* topics */
        {"{" DETAIL ",\"actions\":[\"subscribe\"]}",
         "a Mercure authorization detail without topics"},
        {"{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[]}",
         "a Mercure authorization detail without topics"},
        {"{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":{\"match\":\"a\"}}",
         "a Mercure authorization detail without topics"},
        {"{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[\"a\"]}",
         "a topic matcher that is not an object"},
        {"{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[null]}",
         "a topic matcher that is not an object"},
        {"{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"a\"},[\"b\"]]}",
         "a topic matcher that is not an object"},
        {"{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match_type\":\"exact\"}]}",
         "no match"},
        {"{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":null}]}",
         "a match that is not a string"},
        {"{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":[\"a\"]}]}",
         "a match that is not a string"},
        {"{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"\"}]}",
         "an empty match"},
        {"{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"a\\nb\"}]}",
         "a match with a control or format character"},
        {"{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"a\\u0085\"}]}",
         "a match with a control or format character"},
        {"{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"a\\u200bb\"}]}",
         "a match with a control or format character"},
        {"{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"a\",\"match_type\":"
         "\"regexp\"}]}",
         "an unsupported match_type"},
        {"{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"a\",\"match_type\":"
         "\"Exact\"}]}",
         "an unsupported match_type"},
        {"{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"*\",\"match_type\":"
         "\"uritemplate\"}]}",
         "an unsupported match_type"},
        {"{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"a\",\"match_type\":"
         "null}]}",
         "an unsupported match_type"},
        {"{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"a\",\"match_type\":"
         "\"\"}]}",
         "an unsupported match_type"},
        /* payload */
        {"{" DETAIL
         ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"a\"}],\"payload\":\"x\"}",
         "a payload that is not an object"},
        {"{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"a\"}],\"payload\":[1]}",
         "a payload that is not an object"},
        {"{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"a\"}],\"payload\":true}",
         "a payload that is not an object"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (!cases[i].bad) continue;
        char details[1024];
        snprintf(details, sizeof(details), "[%s,%s]", good, cases[i].bad);
        char *t = tok08(details);
        rejects(v, t, cases[i].why);
        cr_assert_eq(last_dialect, AUTH_DIALECT_08);
        free(t);
    }
    const char *claims[] = {"{}", "\"x\"", "7", "true"};
    for (size_t i = 0; i < sizeof(claims) / sizeof(claims[0]); i++) {
        char *t = tok08(claims[i]);
        rejects(v, t, "authorization_details is not an array");
        free(t);
    }
    auth_verifier_free(v);
}

Test(token08, well_formed_details_that_grant_nothing_are_still_valid)
{
    struct auth_verifier *v = hub();
    const char *valid[] = {
        NULL, /* no authorization_details */
        "null",
        "[]",
        /* RFC 9396 details of other types keep their own shapes */
        "[{\"type\":\"payment_initiation\",\"topics\":\"not ours\",\"actions\":7}]",
        "[{\"type\":\"mercure\",\"actions\":[\"subscribe\"],\"topics\":[\"a\"]}]",
        /* unknown actions are ignored, unknown members too */
        "[{" DETAIL
        ",\"actions\":[\"read\"],\"topics\":[{\"match\":\"a\"}],\"locations\":[\"x\"]}]",
        "[{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"a\",\"extra\":1}],"
        "\"payload\":null}]",
    };
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        struct auth_claims c;
        verified(v, tok08(valid[i]), &c);
        cr_assert_not(pub(&c, "b"), "%s", valid[i] ? valid[i] : "(none)");
        cr_assert_not(sub(&c, "b"), "%s", valid[i] ? valid[i] : "(none)");
        auth_claims_free(&c);
    }
    auth_verifier_free(v);
}

/* ---- authorization_details: limits -------------------------------------------------------- */

/* authorization_details of n Mercure details with k exact topics each. */
static char *details_of(size_t n, size_t k)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *topics = json_array();
        for (size_t j = 0; j < k; j++) {
            char m[48];
            snprintf(m, sizeof(m), "t%zu-%zu", i, j);
            json_array_append_new(topics, json_pack("{s:s}", "match", m));
        }
        json_array_append_new(arr, json_pack("{s:s, s:[s], s:o}", "type",
                                             "https://mercure.rocks/authorization-detail",
                                             "actions", "subscribe", "topics", topics));
    }
    char *s = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return s;
}

Test(token08, limits_on_details_topics_actions_and_match_length)
{
    struct auth_verifier *v = hub();
    char *d = details_of(100, 1);
    char *t = tok08(d);
    struct auth_claims c;
    verified(v, t, &c);
    cr_assert(sub(&c, "t99-0"));
    auth_claims_free(&c);
    free(d);
    d = details_of(101, 1);
    t = tok08(d);
    rejects(v, t, "too many Mercure authorization details");
    free(t);
    free(d);
    d = details_of(2, 50);
    accepts(v, t = tok08(d));
    free(t);
    free(d);
    d = details_of(3, 34); /* 102 topics across details */
    t = tok08(d);
    rejects(v, t, "too many topic matchers");
    free(t);
    free(d);

    /* 257 entries, even of other types */
    json_t *many = json_array();
    for (int i = 0; i < 257; i++)
        json_array_append_new(many, json_pack("{s:s}", "type", "other"));
    d = json_dumps(many, JSON_COMPACT);
    json_decref(many);
    t = tok08(d);
    rejects(v, t, "too many authorization details");
    free(t);
    free(d);

    /* 32 actions, then 33 */
    char actions[600] = "";
    for (int i = 0; i < 33; i++)
        strcat(actions, i ? ",\"x\"" : "\"subscribe\"");
    char buf[1024];
    snprintf(buf, sizeof(buf), "[{" DETAIL ",\"actions\":[%s],\"topics\":[{\"match\":\"a\"}]}]",
             actions);
    t = tok08(buf);
    rejects(v, t, "too many actions in a detail");
    free(t);
    *strrchr(actions, ',') = 0;
    snprintf(buf, sizeof(buf), "[{" DETAIL ",\"actions\":[%s],\"topics\":[{\"match\":\"a\"}]}]",
             actions);
    accepts(v, t = tok08(buf));
    free(t);

    /* a match of 4096 bytes, then 4097 */
    char *big = malloc(4098 + 200);
    char *m = malloc(4098);
    memset(m, 'm', 4097);
    m[4097] = 0;
    sprintf(big, "[{" DETAIL ",\"actions\":[\"publish\"],\"topics\":[{\"match\":\"%s\"}]}]", m);
    t = tok08(big);
    rejects(v, t, "a match longer than 4096 bytes");
    free(t);
    m[4096] = 0;
    sprintf(big, "[{" DETAIL ",\"actions\":[\"publish\"],\"topics\":[{\"match\":\"%s\"}]}]", m);
    verified(v, tok08(big), &c);
    cr_assert(pub(&c, m));
    auth_claims_free(&c);
    free(m);
    free(big);
    auth_verifier_free(v);
}

/* ---- grants ------------------------------------------------------------------------------- */

Test(token08, grants_follow_actions_and_exact_matchers)
{
    struct auth_verifier *v = hub();
    struct auth_claims c;
    verified(v,
             tok08("[{" DETAIL ",\"actions\":[\"publish\"],\"topics\":[{\"match\":"
                   "\"https://example.com/books/1\",\"match_type\":\"exact\"}]},"
                   "{" DETAIL ",\"actions\":[\"subscribe\",\"publish\"],\"topics\":[{\"match\":"
                   "\"/chat/{room}\"},{\"match\":\"B\"}]},"
                   "{" DETAIL ",\"actions\":[\"future\"],\"topics\":[{\"match\":\"*\"}]}]"),
             &c);
    cr_assert_eq(c.dialect, AUTH_DIALECT_08);
    cr_assert(pub(&c, "https://example.com/books/1"));
    cr_assert_not(sub(&c, "https://example.com/books/1"), "publish does not give subscribe");
    cr_assert_not(pub(&c, "https://example.com/books/10"));
    cr_assert_not(pub(&c, "https://example.com/books/"));
    cr_assert_not(pub(&c, "https://example.com/books/1 "));
    cr_assert(pub(&c, "B"));
    cr_assert(sub(&c, "B"));
    cr_assert_not(sub(&c, "b"), "case-sensitive");
    /* exact means exact: a URI template is a plain string in 1.0, never expanded */
    cr_assert(sub(&c, "/chat/{room}"));
    cr_assert_not(sub(&c, "/chat/1"));
    cr_assert_not(auth_can_subscribe(&c, "B\0", 2), "byte length counts");
    cr_assert_not(sub(&c, "anything"), "an unknown action with * grants nothing");
    cr_assert_not(pub(&c, "anything"));
    auth_claims_free(&c);
    auth_verifier_free(v);
}

Test(token08, the_star_wildcard_matches_every_topic_whatever_its_match_type)
{
    struct auth_verifier *v = hub();
    const char *types[] = {"", ",\"match_type\":\"exact\"", ",\"match_type\":\"urlpattern\""};
    for (size_t i = 0; i < 3; i++) {
        char d[256];
        snprintf(d, sizeof(d),
                 "[{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"*\"%s}]}]",
                 types[i]);
        struct auth_claims c;
        verified(v, tok08(d), &c);
        cr_assert(sub(&c, "https://example.com/books/1"), "%s", d);
        cr_assert(sub(&c, "urn:x"), "%s", d);
        cr_assert(sub(&c, "/.well-known/mercure/subscriptions/exact/a/b"), "%s", d);
        cr_assert_not(pub(&c, "urn:x"), "%s", d);
        auth_claims_free(&c);
    }
    auth_verifier_free(v);
}

Test(token08, laravel_shaped_tokens)
{
    /* What Laravel's MercureBroadcaster issues for a presence channel, a private channel and a
     * whisper topic. */
    struct auth_verifier *v =
        verifier(AUTH_ACCEPT_07 | AUTH_ACCEPT_08, "http://localhost:3000/.well-known/mercure",
                 "http://localhost");
    const char *claims =
        "{\"iss\":\"http://localhost\",\"client_id\":\"http://localhost\","
        "\"aud\":\"http://localhost:3000/.well-known/mercure\",\"sub\":\"1\",\"iat\":1699999990,"
        "\"jti\":\"6f1c\",\"exp\":1700000290,\"authorization_details\":["
        "{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":["
        "{\"match\":\"https://laravel.alt/echo/channel/presence-room.1\",\"match_type\":\"exact\"},"
        "{\"match\":\"/.well-known/mercure/subscriptions/:match_type/"
        "https%3A%2F%2Flaravel.alt%2Fecho%2Fchannel%2Fpresence-room.1{/:subscriber}?\","
        "\"match_type\":\"urlpattern\"}],"
        "\"payload\":{\"user_id\":1,\"user_info\":{\"name\":\"Ada\"}}},"
        "{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":["
        "{\"match\":\"https://laravel.alt/echo/channel/private-orders.1\"}]},"
        "{" DETAIL ",\"actions\":[\"subscribe\",\"publish\"],\"topics\":["
        "{\"match\":\"https://laravel.alt/echo/channel/private-orders.1/whisper\"}]}]}";
    char *t = hs256(DEV_KEY, AT_JWT, claims);
    struct auth_claims c;
    verified(v, t, &c);
    cr_assert(sub(&c, "https://laravel.alt/echo/channel/presence-room.1"));
    cr_assert(sub(&c, "https://laravel.alt/echo/channel/private-orders.1"));
    cr_assert_not(pub(&c, "https://laravel.alt/echo/channel/private-orders.1"));
    cr_assert(pub(&c, "https://laravel.alt/echo/channel/private-orders.1/whisper"));
    cr_assert_str_eq(payload(&c, "https://laravel.alt/echo/channel/presence-room.1"),
                     "{\"user_id\":1,\"user_info\":{\"name\":\"Ada\"}}");
    cr_assert_null(payload(&c, "https://laravel.alt/echo/channel/private-orders.1"));
    cr_assert_eq(c.exp, 1700000290);
    auth_claims_free(&c);
    auth_verifier_free(v);
}

/* ---- payloads ----------------------------------------------------------------------------- */

Test(token08, payload_of_the_first_matching_subscribe_detail)
{
    struct auth_verifier *v = hub();
    struct auth_claims c;
    verified(v,
             tok08("[{" DETAIL ",\"actions\":[\"publish\"],\"topics\":[{\"match\":\"*\"}],"
                   "\"payload\":{\"p\":\"publish only\"}},"
                   "{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"foo\"}],"
                   "\"payload\":{\"custom1\":\"foo\"}},"
                   "{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"bare\"}]},"
                   "{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"foo\"},"
                   "{\"match\":\"bar\"}],\"payload\":{\"custom2\":[1,2]}},"
                   "{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"*\"}],"
                   "\"payload\":{\"custom3\":\"default\"}}]"),
             &c);
    cr_assert_str_eq(payload(&c, "foo"), "{\"custom1\":\"foo\"}", "the first match wins");
    cr_assert_str_eq(payload(&c, "bar"), "{\"custom2\":[1,2]}");
    cr_assert_null(payload(&c, "bare"), "the first match has no payload: none, not the next");
    cr_assert_str_eq(payload(&c, "other"), "{\"custom3\":\"default\"}", "* is the default");
    auth_claims_free(&c);

    verified(v, tok08(BOOKS_SUBSCRIBE), &c);
    cr_assert_null(payload(&c, "https://example.com/books/2"));
    cr_assert_null(payload(&c, "https://example.com/books/1"));
    auth_claims_free(&c);
    auth_verifier_free(v);
}

/* ---- the binding rule --------------------------------------------------------------------- */

#define CLAIMS07                                                                                   \
    "{\"mercure\":{\"publish\":[\"p07\"],\"subscribe\":[\"s07\"],\"payload\":{\"v\":7}},"          \
    "\"authorization_details\":[{" DETAIL ",\"actions\":[\"publish\",\"subscribe\"],"              \
    "\"topics\":[{\"match\":\"*\"}]}]}"

Test(token08, each_dialect_grants_only_by_its_own_claim)
{
    struct auth_verifier *v = hub();
    struct auth_claims c;
    /* draft-07: the mercure claim counts, authorization_details do not */
    verified(v, hs256(DEV_KEY, JWT, CLAIMS07), &c);
    cr_assert_eq(c.dialect, AUTH_DIALECT_07);
    cr_assert(pub(&c, "p07"));
    cr_assert(sub(&c, "s07"));
    cr_assert_not(pub(&c, "x"));
    cr_assert_not(sub(&c, "x"));
    cr_assert_str_eq(payload(&c, "whatever"), "{\"v\":7}");
    auth_claims_free(&c);

    /* 1.0: authorization_details count, the mercure claim does not */
    json_t *j =
        claims08("[{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"s08\"}]}]");
    json_object_set_new(
        j, "mercure",
        json_pack("{s:[s], s:[s], s:{s:i}}", "publish", "*", "subscribe", "*", "payload", "v", 7));
    verified(v, sign(AT_JWT, j), &c);
    cr_assert(sub(&c, "s08"));
    cr_assert_not(sub(&c, "s07"));
    cr_assert_not(pub(&c, "p07"));
    cr_assert_null(payload(&c, "s08"));
    cr_assert_null(c.publish);
    cr_assert_null(c.payload_json);
    auth_claims_free(&c);
    auth_verifier_free(v);
}

Test(token08, a_draft_07_token_never_passes_for_a_1_0_one)
{
    /* A token that would pass draft-07 (no exp, no aud, no iss) with at+jwt: judged by 1.0. */
    struct auth_verifier *v = hub();
    char *t = hs256(DEV_KEY, AT_JWT, "{\"mercure\":{\"publish\":[\"*\"]}}");
    rejects(v, t, "no iss");
    free(t);
    t = hs256(DEV_KEY, AT_JWT,
              "{\"iss\":\"" APP "\",\"aud\":\"" HUB "\",\"mercure\":{\"publish\":[\"*\"]}}");
    rejects(v, t, "no exp");
    free(t);
    auth_verifier_free(v);
}

Test(token08, dialects_07_08_and_both)
{
    struct auth_verifier *only07 = verifier(AUTH_ACCEPT_07, HUB, APP);
    struct auth_verifier *only08 = verifier(AUTH_ACCEPT_08, HUB, APP);
    struct auth_verifier *both = hub();
    char *t07 = hs256(DEV_KEY, JWT, CLAIMS07);
    char *t08 = tok08(BOOKS_SUBSCRIBE);

    accepts(only07, t07);
    cr_assert_eq(last_dialect, AUTH_DIALECT_07);
    rejects(only07, t08, "Mercure 1.0 (at+jwt) tokens are not accepted");
    cr_assert_eq(last_dialect, AUTH_DIALECT_08, "the caller knows which rules refused it");

    rejects(only08, t07, "draft-07 tokens are not accepted");
    cr_assert_eq(last_dialect, AUTH_DIALECT_07);
    accepts(only08, t08);
    cr_assert_eq(last_dialect, AUTH_DIALECT_08);

    accepts(both, t07);
    accepts(both, t08);

    /* A verifier that was never configured accepts draft-07 only (what it did before 1.0). */
    char err[128];
    struct auth_verifier *plain = auth_verifier_new(DEV_KEY, "HS256", NULL, err, sizeof(err));
    accepts(plain, t07);
    rejects(plain, t08, "Mercure 1.0 (at+jwt) tokens are not accepted");

    free(t07);
    free(t08);
    auth_verifier_free(only07);
    auth_verifier_free(only08);
    auth_verifier_free(both);
    auth_verifier_free(plain);
}

Test(token08, dialect_is_none_for_an_unreadable_header)
{
    struct auth_verifier *v = hub();
    rejects(v, "bm90IGpzb24.e30.c2ln", "malformed token header");
    cr_assert_eq(last_dialect, AUTH_DIALECT_NONE);
    rejects(v, "garbage", "malformed token");
    cr_assert_eq(last_dialect, AUTH_DIALECT_NONE);
    auth_verifier_free(v);
}

Test(token08, the_configuration_is_checked)
{
    char err[256];
    struct auth_verifier *v = auth_verifier_new(DEV_KEY, "HS256", NULL, err, sizeof(err));
    cr_assert_eq(
        auth_verifier_set_dialects(v, AUTH_ACCEPT_08, "hub.example", APP, err, sizeof(err)), -1);
    cr_assert(strstr(err, "resource identifier"), "%s", err);
    cr_assert_eq(auth_verifier_set_dialects(v, AUTH_ACCEPT_08, HUB, "a,,b", err, sizeof(err)), -1);
    cr_assert(strstr(err, "issuer"), "%s", err);
    cr_assert_eq(auth_verifier_set_dialects(v, 0, HUB, APP, err, sizeof(err)), -1);
    cr_assert_null(auth_resource_identifier_problem(NULL));
    cr_assert_null(auth_resource_identifier_problem(HUB));
    cr_assert_not_null(auth_resource_identifier_problem("https://hub.example/#x"));
    cr_assert_null(auth_issuers_problem(NULL));
    cr_assert_null(auth_issuers_problem(APP ", https://b.example"));
    cr_assert_not_null(auth_issuers_problem(""));
    auth_verifier_free(v);
}

Test(token08, the_dialect_of_an_unverified_token_is_read_from_its_header)
{
    char *t08 = tok08(NULL), *t07 = hs256(DEV_KEY, JWT, "{}");
    char *app = sign("{\"alg\":\"HS256\",\"typ\":\"application/AT+JWT\"}", claims08(NULL));
    cr_assert_eq(auth_token_dialect(t08, strlen(t08)), AUTH_DIALECT_08);
    cr_assert_eq(auth_token_dialect(app, strlen(app)), AUTH_DIALECT_08);
    cr_assert_eq(auth_token_dialect(t07, strlen(t07)), AUTH_DIALECT_07);
    cr_assert_eq(auth_token_dialect("garbage", 7), AUTH_DIALECT_NONE);
    cr_assert_eq(auth_token_dialect(".e30.x", 6), AUTH_DIALECT_NONE);
    cr_assert_eq(auth_token_dialect(t08, 10), AUTH_DIALECT_NONE, "a header cut short");
    cr_assert_eq(auth_token_dialect(NULL, 0), AUTH_DIALECT_NONE);
    free(t08);
    free(t07);
    free(app);
}

/* ---- URL pattern grants ------------------------------------------------------------------- */

#define PRESENCE_TOPIC "https%3A%2F%2Flaravel.alt%2Fecho%2Fchannel%2Fpresence-room.1"

Test(token08, url_pattern_grants_match_topics_resolved_against_the_resource_identifier)
{
    struct auth_verifier *v =
        verifier(AUTH_ACCEPT_07 | AUTH_ACCEPT_08, "http://localhost:3000/.well-known/mercure", APP);
    char *t = sign(
        AT_JWT,
        json_pack("{s:s, s:s, s:I, s:o}", "iss", APP, "aud",
                  "http://localhost:3000/.well-known/mercure", "exp", (json_int_t)(NOW + 60),
                  "authorization_details",
                  json_loads("[{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":["
                             "{\"match\":\"/.well-known/mercure/subscriptions/:match_type/"
                             "" PRESENCE_TOPIC "{/:subscriber}?\",\"match_type\":\"urlpattern\"}],"
                             "\"payload\":{\"user_id\":1}},"
                             "{" DETAIL ",\"actions\":[\"publish\"],\"topics\":["
                             "{\"match\":\"https://example.com/books/:id\",\"match_type\":"
                             "\"urlpattern\"}]}]",
                             0, NULL)));
    struct auth_claims c;
    verified(v, t, &c);
    /* relative pattern, relative and absolute topics (subscription events and the API path) */
    cr_assert(sub(&c, "/.well-known/mercure/subscriptions/exact/" PRESENCE_TOPIC));
    cr_assert(
        sub(&c, "/.well-known/mercure/subscriptions/exact/" PRESENCE_TOPIC "/urn%3Auuid%3A1"));
    cr_assert(
        sub(&c, "http://localhost:3000/.well-known/mercure/subscriptions/urlpattern/" PRESENCE_TOPIC
                "/s1"));
    cr_assert_not(sub(&c, "https://elsewhere.example/.well-known/mercure/subscriptions/exact/"
                          "" PRESENCE_TOPIC));
    cr_assert_not(sub(&c, "/.well-known/mercure/subscriptions/exact/" PRESENCE_TOPIC "/s1/more"));
    cr_assert_not(sub(&c, "/.well-known/mercure/subscriptions/exact/other-room"));
    cr_assert_not(sub(&c, "http://[::1"), "a topic that is not a URL matches no pattern");
    cr_assert_not(pub(&c, "/.well-known/mercure/subscriptions/exact/" PRESENCE_TOPIC));
    /* absolute pattern */
    cr_assert(pub(&c, "https://example.com/books/1"));
    cr_assert(pub(&c, "https://example.com/books/1?x=y#z"));
    cr_assert_not(pub(&c, "https://example.com/books/1/2"));
    cr_assert_not(pub(&c, "https://example.com:8443/books/1"));
    cr_assert_not(pub(&c, "https://example.com/books/"));
    cr_assert_not(sub(&c, "https://example.com/books/1"));
    /* payloads: the subscription's matcher string taken as a topic */
    cr_assert_str_eq(
        payload(&c, "/.well-known/mercure/subscriptions/exact/" PRESENCE_TOPIC "/someone"),
        "{\"user_id\":1}");
    cr_assert_null(payload(&c, "https://example.com/books/1"), "a publish grant gives no payload");
    auth_claims_free(&c);
    auth_verifier_free(v);
}

Test(token08, a_url_pattern_that_does_not_compile_or_costs_too_much_rejects_the_token)
{
    struct auth_verifier *v = hub();
    const char *bad[] = {"https://example.com/:", "/books/(", "/books/{a", "/books/:id("};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *details =
            json_pack("[{s:s, s:[s], s:[{s:s}, {s:s, s:s}]}]", "type",
                      "https://mercure.rocks/authorization-detail", "actions", "subscribe",
                      "topics", "match", "ok", "match", bad[i], "match_type", "urlpattern");
        char *d = json_dumps(details, JSON_COMPACT);
        json_decref(details);
        char *t = tok08(d);
        rejects(v, t, "a URL pattern that does not compile");
        free(t);
        free(d);
    }
    /* The same invalid string as an exact matcher is fine: it is only compared. */
    char *t =
        tok08("[{" DETAIL ",\"actions\":[\"subscribe\"],\"topics\":[{\"match\":\"/books/(\"}]}]");
    accepts(v, t);
    free(t);

    /* Many regexp patterns: too costly to test on every private update. */
    json_t *topics = json_array();
    for (int i = 0; i < 100; i++) {
        char m[64];
        snprintf(m, sizeof(m), "/r%d/(\\d+)/(a|b)+", i);
        json_array_append_new(topics,
                              json_pack("{s:s, s:s}", "match", m, "match_type", "urlpattern"));
    }
    json_t *details =
        json_pack("[{s:s, s:[s], s:o}]", "type", "https://mercure.rocks/authorization-detail",
                  "actions", "subscribe", "topics", topics);
    char *d = json_dumps(details, JSON_COMPACT);
    json_decref(details);
    t = tok08(d);
    rejects(v, t, "URL patterns too costly to evaluate");
    free(t);
    free(d);
    auth_verifier_free(v);
}
