/* libFuzzer target: the authorization_details claim of a Mercure 1.0 token (src/auth/details.c)
 * past a valid signature, iss, aud and exp.
 *
 * The input is the claim's JSON text, placed in the claims of an at+jwt token this harness signs
 * with the verifier's key; the input is also tried as the whole claims of such a token.
 *
 * Checked besides the sanitizers, against the input read independently with jansson: a rejected
 * token leaves no details and says it was judged as 1.0; a token is rejected when a Mercure
 * detail holds a topic that is not an object, an action that is not a string, or a match_type
 * other than exact or urlpattern; an accepted token grants every action it names on every exact
 * match it carries ("*": on everything), and its payloads parse back as JSON objects. */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"

#define KEY    "!ChangeThisMercureHubJWTSecretKey!"
#define HEADER "eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9" /* {"alg":"HS256","typ":"at+jwt"} */
#define HUB    "https://hub.example/.well-known/mercure"
#define APP    "https://app.example"
#define NOW    1700000000LL
#define PREFIX                                                                                     \
    "{\"iss\":\"" APP "\",\"aud\":\"" HUB "\",\"exp\":1700000300,\"authorization_details\":"
#define MERCURE "https://mercure.rocks/authorization-detail"

static const char *const probes[] = {"https://example.com/books/1", "*", "urn:x:y", "/a"};

static bool is(json_t *j, const char *s)
{
    return json_is_string(j) && json_string_length(j) == strlen(s) &&
           !memcmp(json_string_value(j), s, strlen(s));
}

static void check_payload(const struct auth_claims *c, const char *m, size_t n)
{
    const char *p = auth_payload_for(c, m, n);
    if (!p) return;
    json_t *j = json_loads(p, 0, NULL);
    if (!json_is_object(j)) abort();
    json_decref(j);
}

/* What the claim itself says must follow, for a token verification accepted or not. */
static void oracle(json_t *claim, const struct auth_claims *c, bool accepted)
{
    if (!json_is_array(claim)) return;
    size_t i;
    json_t *d;
    json_array_foreach(claim, i, d)
    {
        if (!is(json_object_get(d, "type"), MERCURE)) continue;
        json_t *actions = json_object_get(d, "actions"), *topics = json_object_get(d, "topics");
        size_t k;
        json_t *a, *t;
        json_array_foreach(actions, k, a) if (!json_is_string(a) && accepted) abort();
        json_array_foreach(topics, k, t)
        {
            json_t *type = json_object_get(t, "match_type");
            bool bad_type = type && !is(type, "exact") && !is(type, "urlpattern");
            if ((!json_is_object(t) || bad_type) && accepted) abort();
        }
        if (!accepted) continue;
        bool pub = false, sub = false;
        json_array_foreach(actions, k, a) pub |= is(a, "publish"), sub |= is(a, "subscribe");
        json_array_foreach(topics, k, t)
        {
            json_t *match = json_object_get(t, "match"), *type = json_object_get(t, "match_type");
            const char *m = json_string_value(match);
            size_t n = json_string_length(match);
            check_payload(c, m, n);
            bool star = n == 1 && m[0] == '*';
            if (!star && type && !is(type, "exact")) continue;
            if ((pub && !auth_can_publish(c, m, n)) || (sub && !auth_can_subscribe(c, m, n)))
                abort();
            for (size_t p = 0; star && p < sizeof(probes) / sizeof(probes[0]); p++)
                if ((pub && !auth_can_publish(c, probes[p], strlen(probes[p]))) ||
                    (sub && !auth_can_subscribe(c, probes[p], strlen(probes[p]))))
                    abort();
        }
    }
}

static size_t b64url(char *out, const uint8_t *in, size_t n)
{
    size_t o = (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    while (o && out[o - 1] == '=')
        o--;
    for (size_t i = 0; i < o; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    return o;
}

/* HEADER "." base64url(claims) "." base64url(HMAC-SHA256), and checks its verification. */
static void signed_token(const struct auth_verifier *v, const char *claims, size_t n, json_t *claim)
{
    size_t o = strlen(HEADER);
    char *tok = malloc(o + 1 + (n + 2) / 3 * 4 + 1 + 64 + 1);
    if (!tok) abort();
    memcpy(tok, HEADER, o);
    tok[o++] = '.';
    o += b64url(tok + o, (const uint8_t *)claims, n);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (!HMAC(EVP_sha256(), KEY, (int)strlen(KEY), (unsigned char *)tok, o, mac, &maclen)) abort();
    tok[o++] = '.';
    o += b64url(tok + o, mac, maclen);

    struct auth_claims c;
    const char *why = NULL;
    bool ok = auth_verify(v, tok, o, NOW, &c, &why);
    if (n && c.dialect != AUTH_DIALECT_08) abort(); /* empty claims: not a token at all */
    if (!ok && (!why || c.details)) abort();
    if (ok) {
        if (c.exp <= NOW || c.publish || c.subscribe || c.payload_json) abort();
        for (size_t p = 0; p < sizeof(probes) / sizeof(probes[0]); p++) {
            auth_can_publish(&c, probes[p], strlen(probes[p]));
            auth_can_subscribe(&c, probes[p], strlen(probes[p]));
            check_payload(&c, probes[p], strlen(probes[p]));
        }
    }
    oracle(claim, &c, ok);
    auth_claims_free(&c);
    free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct auth_verifier *v;
    if (!v) {
        char err[256];
        if (!(v = auth_verifier_new(KEY, "HS256", NULL, err, sizeof(err))) ||
            auth_verifier_set_dialects(v, AUTH_ACCEPT_07 | AUTH_ACCEPT_08, HUB, APP, err,
                                       sizeof(err)))
            abort();
    }
    if (size > 1 << 15) return 0;

    /* The input as the authorization_details claim. */
    size_t plen = strlen(PREFIX), n = plen + size + 1;
    char *claims = malloc(n);
    if (!claims) abort();
    memcpy(claims, PREFIX, plen);
    memcpy(claims + plen, data, size);
    claims[n - 1] = '}';
    json_t *doc = json_loadb(claims, n, JSON_REJECT_DUPLICATES, NULL);
    signed_token(v, claims, n, json_object_get(doc, "authorization_details"));
    json_decref(doc);
    free(claims);

    /* The input as the whole claims. */
    doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    signed_token(v, (const char *)data, size, json_object_get(doc, "authorization_details"));
    json_decref(doc);
    return 0;
}
