/* libFuzzer target: JWT verification (src/auth.c) with an HS256 verifier.
 *
 * Each input is used three ways: as a token, as is; as the claims of a token this harness signs
 * with the verifier's key, so that claim parsing (exp/nbf, the mercure claim, selectors, the
 * payload) is reached past the signature; and as a Cookie header.
 *
 * Checked besides the sanitizers: a rejected token leaves empty claims and a reason; accepted
 * claims are consistent (counts and arrays agree, the payload parses back as JSON, "*" grants
 * everything); a cookie value lies inside the header. */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "http/cookie.h"

#define KEY    "!ChangeThisMercureHubJWTSecretKey!"
#define HEADER "eyJhbGciOiJIUzI1NiJ9" /* {"alg":"HS256"} */
#define NOW    1700000000LL

static const char *const topics[] = {"https://example.com/books/1", "*", "", "urn:x:y"};

static void check_claims(const struct auth_claims *c)
{
    if (!c->npublish != !c->publish || !c->nsubscribe != !c->subscribe) abort();
    bool any_pub = false, any_sub = false;
    for (size_t i = 0; i < c->npublish; i++) {
        if (!c->publish[i]) abort();
        any_pub |= selector_kind(c->publish[i]) == SELECTOR_ANY;
    }
    for (size_t i = 0; i < c->nsubscribe; i++) {
        if (!c->subscribe[i]) abort();
        any_sub |= selector_kind(c->subscribe[i]) == SELECTOR_ANY;
    }
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
        bool p = auth_can_publish(c, topics[i], strlen(topics[i]));
        bool s = auth_can_subscribe(c, topics[i], strlen(topics[i]));
        if ((any_pub && !p) || (any_sub && !s)) abort();
        if (c->dialect != AUTH_DIALECT_08 && ((p && !c->npublish) || (s && !c->nsubscribe)))
            abort();
    }
    if (c->payload_json) {
        json_t *j = json_loads(c->payload_json, JSON_DECODE_ANY, NULL);
        if (!j) abort();
        json_decref(j);
    }
}

static void verify(const struct auth_verifier *v, const char *tok, size_t len)
{
    struct auth_claims c;
    const char *why = NULL;
    if (auth_verify(v, tok, len, NOW, &c, &why)) {
        check_claims(&c);
        auth_claims_free(&c);
    } else if (!why || c.publish || c.subscribe || c.npublish || c.nsubscribe || c.payload_json ||
               c.details) {
        abort();
    }
}

/* Base64url without padding at out; returns the length written. */
static size_t b64url(char *out, const uint8_t *in, size_t n)
{
    size_t o = (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    while (o && out[o - 1] == '=')
        o--;
    for (size_t i = 0; i < o; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    return o;
}

/* HEADER "." base64url(claims) "." base64url(HMAC-SHA256) */
static char *sign(const uint8_t *claims, size_t n, size_t *len)
{
    size_t o = strlen(HEADER);
    char *tok = malloc(o + 1 + (n + 2) / 3 * 4 + 1 + 64 + 1);
    if (!tok) abort();
    memcpy(tok, HEADER, o);
    tok[o++] = '.';
    o += b64url(tok + o, claims, n);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (!HMAC(EVP_sha256(), KEY, (int)strlen(KEY), (unsigned char *)tok, o, mac, &maclen)) abort();
    tok[o++] = '.';
    o += b64url(tok + o, mac, maclen);
    tok[o] = 0;
    *len = o;
    return tok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct auth_verifier *v;
    if (!v) {
        char err[256];
        /* Both dialects, so that a raw at+jwt input reaches the 1.0 rules too (fuzz_authz
         * covers what follows a valid 1.0 signature). */
        if (!(v = auth_verifier_new(KEY, "HS256", NULL, err, sizeof(err))) ||
            auth_verifier_set_dialects(v, AUTH_ACCEPT_07 | AUTH_ACCEPT_08,
                                       "https://hub.example/.well-known/mercure",
                                       "https://app.example", err, sizeof(err)))
            abort();
    }
    if (size > 1 << 16) return 0;

    /* Exactly size bytes on the heap, so ASan sees any read past the end. */
    char *tok = malloc(size ? size : 1);
    if (!tok) abort();
    memcpy(tok, data, size);
    verify(v, tok, size);

    size_t slen;
    char *signed_tok = sign(data, size, &slen);
    verify(v, signed_tok, slen);
    free(signed_tok);

    const char *val;
    size_t vlen;
    if (cookie_find(tok, size, "mercureAuthorization", &val, &vlen) &&
        (val < tok || val + vlen > tok + size))
        abort();
    free(tok);
    return 0;
}
