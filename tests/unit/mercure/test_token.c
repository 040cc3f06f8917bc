/* The publisher's token cache (mercure/token.c): the same bytes under the same verifier are
 * reused, any other token is verified whole, exp and nbf are checked again on every use, and a
 * new verifier (another key set, other 1.0 rules) never answers from the cache. Both dialects.
 *
 * Tokens are made here with OpenSSL's HMAC (HS256), independently of src/auth/. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/jws_sign.h"
#include "auth/auth.h"
#include "mercure/token.h"

#define DEV_KEY   "!ChangeThisMercureHubJWTSecretKey!"
#define OTHER_KEY "another secret of at least 256 bits!"
#define NOW       1700000000LL
#define HUB       "https://hub.example/.well-known/mercure"
#define APP       "https://app.example"
#define JWT       "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define AT_JWT    "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}"

/* ---- helpers ------------------------------------------------------------------------------ */

/* A draft-07 token allowing publish on `topic`, with extra claims (JSON members, "" for none). */
static char *tok07(const char *key, const char *topic, const char *extra)
{
    char claims[512];
    snprintf(claims, sizeof(claims), "{\"mercure\":{\"publish\":[\"%s\"]}%s%s}", topic,
             *extra ? "," : "", extra);
    return hs256(key, JWT, claims);
}

/* A 1.0 token for the test hub allowing publish on `topic`, expiring at exp. */
static char *tok08(const char *topic, long long exp)
{
    char claims[1024];
    snprintf(claims, sizeof(claims),
             "{\"iss\":\"" APP "\",\"aud\":\"" HUB "\",\"exp\":%lld,\"authorization_details\":"
             "[{\"type\":\"https://mercure.rocks/authorization-detail\",\"actions\":[\"publish\"],"
             "\"topics\":[{\"match\":\"%s\"}]}]}",
             exp, topic);
    return hs256(DEV_KEY, AT_JWT, claims);
}

static struct auth_verifier *verifier(const char *key)
{
    char err[256] = "";
    struct auth_verifier *v = auth_verifier_new(key, "HS256", NULL, err, sizeof(err));
    cr_assert_not_null(v, "%s", err);
    cr_assert_eq(
        auth_verifier_set_dialects(v, AUTH_ACCEPT_07 | AUTH_ACCEPT_08, HUB, APP, err, sizeof(err)),
        0, "%s", err);
    return v;
}

static const struct auth_claims *
check(const struct auth_verifier *v, struct publisher_token **cache, const char *tok, long long now)
{
    return token_verify_publisher(v, cache, tok, strlen(tok), now);
}

/* ---- the same token ----------------------------------------------------------------------- */

Test(token_cache, the_same_token_is_reused_with_its_claims)
{
    struct auth_verifier *v = verifier(DEV_KEY);
    struct publisher_token *cache = NULL;
    char *tok = tok07(DEV_KEY, "https://t.example/a", "");
    const struct auth_claims *first = check(v, &cache, tok, NOW);
    cr_assert_not_null(first);
    cr_assert_not_null(cache);
    cr_assert(auth_can_publish(first, "https://t.example/a", 19));
    struct publisher_token *held = cache;
    /* A copy of the bytes, not the same buffer: the cache compares contents. */
    char *copy = strdup(tok);
    const struct auth_claims *again = check(v, &cache, copy, NOW + 100);
    cr_assert_eq(again, first, "the cached claims are answered");
    cr_assert_eq(cache, held);
    cr_assert(auth_can_publish(again, "https://t.example/a", 19));
    free(copy);
    free(tok);
    token_cache_free(cache);
    auth_verifier_free(v);
}

Test(token_cache, a_1_0_token_is_reused_too)
{
    struct auth_verifier *v = verifier(DEV_KEY);
    struct publisher_token *cache = NULL;
    char *tok = tok08("https://t.example/a", NOW + 60);
    const struct auth_claims *first = check(v, &cache, tok, NOW);
    cr_assert_not_null(first);
    cr_assert_eq(first->dialect, AUTH_DIALECT_08);
    cr_assert_eq(check(v, &cache, tok, NOW + 59), first);
    cr_assert(auth_can_publish(first, "https://t.example/a", 19));
    cr_assert_not(auth_can_publish(first, "https://t.example/b", 19));
    free(tok);
    token_cache_free(cache);
    auth_verifier_free(v);
}

/* ---- another token ------------------------------------------------------------------------ */

Test(token_cache, a_different_token_is_verified_and_replaces_the_cached_one)
{
    struct auth_verifier *v = verifier(DEV_KEY);
    struct publisher_token *cache = NULL;
    char *a = tok07(DEV_KEY, "https://t.example/a", ""),
         *b = tok07(DEV_KEY, "https://t.example/b", "");
    cr_assert_not_null(check(v, &cache, a, NOW));
    const struct auth_claims *cb = check(v, &cache, b, NOW);
    cr_assert_not_null(cb);
    cr_assert(auth_can_publish(cb, "https://t.example/b", 19), "b's claims, not a's");
    cr_assert_not(auth_can_publish(cb, "https://t.example/a", 19));
    free(a);
    free(b);
    token_cache_free(cache);
    auth_verifier_free(v);
}

Test(token_cache, a_forged_token_after_a_valid_one_is_refused_and_empties_the_cache)
{
    struct auth_verifier *v = verifier(DEV_KEY);
    struct publisher_token *cache = NULL;
    char *tok = tok07(DEV_KEY, "*", "");
    cr_assert_not_null(check(v, &cache, tok, NOW));
    /* Same length, same header and claims, one signature character changed. */
    char *forged = strdup(tok);
    size_t n = strlen(forged);
    forged[n - 2] = forged[n - 2] == 'A' ? 'B' : 'A';
    cr_assert_null(check(v, &cache, forged, NOW));
    cr_assert_null(cache);
    /* The same claims signed with another key, after the valid token was cached again. */
    char *other = tok07(OTHER_KEY, "*", "");
    cr_assert_not_null(check(v, &cache, tok, NOW));
    cr_assert_null(check(v, &cache, other, NOW));
    cr_assert_null(cache);
    /* The valid one is verified again and cached again. */
    cr_assert_not_null(check(v, &cache, tok, NOW));
    cr_assert_not_null(cache);
    free(tok);
    free(forged);
    free(other);
    token_cache_free(cache);
    auth_verifier_free(v);
}

/* ---- time --------------------------------------------------------------------------------- */

Test(token_cache, an_expired_token_is_refused_even_when_cached)
{
    struct auth_verifier *v = verifier(DEV_KEY);
    struct publisher_token *cache = NULL;
    char *tok = tok07(DEV_KEY, "*", "\"exp\":1700000010");
    cr_assert_not_null(check(v, &cache, tok, NOW));
    cr_assert_not_null(check(v, &cache, tok, NOW + 9));
    cr_assert_null(check(v, &cache, tok, NOW + 10));
    cr_assert_null(cache);
    free(tok);
    auth_verifier_free(v);
}

Test(token_cache, an_expired_1_0_token_is_refused_even_when_cached)
{
    struct auth_verifier *v = verifier(DEV_KEY);
    struct publisher_token *cache = NULL;
    char *tok = tok08("*", NOW + 10);
    cr_assert_not_null(check(v, &cache, tok, NOW));
    cr_assert_null(check(v, &cache, tok, NOW + 10));
    cr_assert_null(check(v, &cache, tok, NOW + 11));
    free(tok);
    auth_verifier_free(v);
}

Test(token_cache, nbf_is_checked_again_when_the_clock_goes_back)
{
    struct auth_verifier *v = verifier(DEV_KEY);
    struct publisher_token *cache = NULL;
    char *tok = tok07(DEV_KEY, "*", "\"nbf\":1699999990");
    cr_assert_null(check(v, &cache, tok, NOW - 20), "not valid yet");
    cr_assert_not_null(check(v, &cache, tok, NOW));
    cr_assert_null(check(v, &cache, tok, NOW - 11), "the clock was set back before nbf");
    cr_assert_not_null(check(v, &cache, tok, NOW - 10));
    free(tok);
    auth_verifier_free(v);
}

/* ---- the key set -------------------------------------------------------------------------- */

Test(token_cache, a_new_key_set_is_never_answered_from_the_cache)
{
    struct auth_verifier *old = verifier(DEV_KEY), *rotated = verifier(OTHER_KEY);
    cr_assert_neq(auth_verifier_generation(old), auth_verifier_generation(rotated));
    struct publisher_token *cache = NULL;
    char *tok = tok07(DEV_KEY, "*", "");
    cr_assert_not_null(check(old, &cache, tok, NOW));
    /* The key that signed the token is gone: the cached verdict must not survive it. */
    cr_assert_null(check(rotated, &cache, tok, NOW));
    cr_assert_null(cache);
    free(tok);
    auth_verifier_free(old);
    auth_verifier_free(rotated);
}

Test(token_cache, the_same_keys_in_a_new_verifier_verify_again)
{
    struct auth_verifier *a = verifier(DEV_KEY), *b = verifier(DEV_KEY);
    struct publisher_token *cache = NULL;
    char *tok = tok07(DEV_KEY, "*", "");
    cr_assert_not_null(check(a, &cache, tok, NOW));
    struct publisher_token *held = cache;
    cr_assert_not_null(check(b, &cache, tok, NOW));
    cr_assert_neq(cache, held, "verified again under the new generation");
    free(tok);
    token_cache_free(cache);
    auth_verifier_free(a);
    auth_verifier_free(b);
}

Test(token_cache, other_1_0_rules_change_the_generation)
{
    struct auth_verifier *v = verifier(DEV_KEY);
    struct publisher_token *cache = NULL;
    char *tok = tok08("*", NOW + 60);
    cr_assert_not_null(check(v, &cache, tok, NOW));
    unsigned long long g = auth_verifier_generation(v);
    char err[256];
    /* The token's issuer is no longer trusted. */
    cr_assert_eq(auth_verifier_set_dialects(v, AUTH_ACCEPT_07 | AUTH_ACCEPT_08, HUB,
                                            "https://other.example", err, sizeof(err)),
                 0);
    cr_assert_neq(auth_verifier_generation(v), g);
    cr_assert_null(check(v, &cache, tok, NOW));
    free(tok);
    auth_verifier_free(v);
}
