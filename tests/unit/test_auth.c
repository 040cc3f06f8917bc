/* JWT verification: algorithms bound to keys, claims, expiry, and the token sources. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"

#define DEV_KEY "!ChangeThisMercureHubJWTSecretKey!"

static char *b64url(const unsigned char *in, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = malloc(n * 4 / 3 + 4), *o = out;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *o++ = tbl[v >> 18], *o++ = tbl[(v >> 12) & 63], *o++ = tbl[(v >> 6) & 63],
        *o++ = tbl[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *o++ = tbl[v >> 18], *o++ = tbl[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *o++ = tbl[v >> 18], *o++ = tbl[(v >> 12) & 63], *o++ = tbl[(v >> 6) & 63];
    }
    *o = 0;
    return out;
}

/* header.payload for the given alg and claims JSON. */
static char *signing_input(const char *alg, const char *claims)
{
    char header[64];
    snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
    char *h = b64url((const unsigned char *)header, strlen(header));
    char *p = b64url((const unsigned char *)claims, strlen(claims));
    char *out = malloc(strlen(h) + strlen(p) + 2);
    sprintf(out, "%s.%s", h, p);
    free(h);
    free(p);
    return out;
}

static char *join(char *input, const unsigned char *sig, size_t n)
{
    char *s = b64url(sig, n);
    char *out = malloc(strlen(input) + strlen(s) + 2);
    sprintf(out, "%s.%s", input, s);
    free(s);
    free(input);
    return out;
}

static char *hs_token(const char *alg, const char *claims, const void *key, size_t keylen)
{
    const EVP_MD *md = !strcmp(alg, "HS384")   ? EVP_sha384()
                       : !strcmp(alg, "HS512") ? EVP_sha512()
                                               : EVP_sha256();
    char *input = signing_input(alg, claims);
    unsigned char mac[64];
    unsigned int len;
    HMAC(md, key, (int)keylen, (unsigned char *)input, strlen(input), mac, &len);
    return join(input, mac, len);
}

/* Signs with an EVP key; ES signatures are converted from DER to JOSE's raw r||s. */
static char *pk_token(const char *alg, const char *claims, EVP_PKEY *key)
{
    char *input = signing_input(alg, claims);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    const EVP_MD *md = !strcmp(alg, "EdDSA") ? NULL : EVP_sha256();
    cr_assert_eq(EVP_DigestSignInit(ctx, NULL, md, NULL, key), 1);
    size_t len = 0;
    EVP_DigestSign(ctx, NULL, &len, (unsigned char *)input, strlen(input));
    unsigned char *sig = malloc(len);
    cr_assert_eq(EVP_DigestSign(ctx, sig, &len, (unsigned char *)input, strlen(input)), 1);
    EVP_MD_CTX_free(ctx);
    if (!strncmp(alg, "ES", 2)) {
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
        unsigned char raw[64] = {0};
        BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
        ECDSA_SIG_free(es);
        char *out = join(input, raw, 64);
        free(sig);
        return out;
    }
    char *out = join(input, sig, len);
    free(sig);
    return out;
}

static char *public_pem(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, key);
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    char *out = strndup(data, (size_t)n);
    BIO_free(bio);
    return out;
}

static struct auth_verifier *verifier(const char *key, const char *algs)
{
    char err[256] = "";
    struct auth_verifier *v = auth_verifier_new(key, algs, NULL, err, sizeof(err));
    cr_assert_not_null(v, "verifier: %s", err);
    return v;
}

static bool verify(struct auth_verifier *v, const char *token, struct auth_claims *c)
{
    const char *why;
    return auth_verify(v, token, strlen(token), (long long)time(NULL), c, &why);
}

#define ALL_CLAIMS                                                                                 \
    "{\"mercure\":{\"publish\":[\"*\"],\"subscribe\":[\"https://example.com/"                      \
    "{x}\"],\"payload\":{\"user\":42}}}"

Test(auth, mercure_dev_token_verifies_with_claims)
{
    struct auth_verifier *v = verifier(DEV_KEY, "HS256");
    char *tok = hs_token("HS256", ALL_CLAIMS, DEV_KEY, strlen(DEV_KEY));
    struct auth_claims c;
    cr_assert(verify(v, tok, &c));
    cr_assert(auth_can_publish(&c, "anything", 8));
    cr_assert(auth_can_subscribe(&c, "https://example.com/1", 21));
    cr_assert_not(auth_can_subscribe(&c, "https://other.example/1", 23));
    cr_assert_str_eq(c.payload_json, "{\"user\":42}");
    auth_claims_free(&c);
    free(tok);
    auth_verifier_free(v);
}

Test(auth, hs384_hs512_and_the_allowlist)
{
    struct auth_verifier *v = verifier("k", "HS384,HS512");
    struct auth_claims c;
    char *t384 = hs_token("HS384", "{}", "k", 1), *t512 = hs_token("HS512", "{}", "k", 1),
         *t256 = hs_token("HS256", "{}", "k", 1);
    cr_assert(verify(v, t384, &c));
    auth_claims_free(&c);
    cr_assert(verify(v, t512, &c));
    auth_claims_free(&c);
    cr_assert_not(verify(v, t256, &c), "HS256 is not in the allowlist");
    free(t384), free(t512), free(t256);
    auth_verifier_free(v);
}

Test(auth, rejects_wrong_key_none_and_tampering)
{
    struct auth_verifier *v = verifier(DEV_KEY, "HS256");
    struct auth_claims c;
    char *wrong = hs_token("HS256", "{}", "other", 5);
    cr_assert_not(verify(v, wrong, &c));
    char *none = signing_input("none", "{\"mercure\":{\"publish\":[\"*\"]}}");
    char *none_tok = malloc(strlen(none) + 2);
    sprintf(none_tok, "%s.", none);
    cr_assert_not(verify(v, none_tok, &c));
    char *good = hs_token("HS256", "{\"mercure\":{\"publish\":[\"a\"]}}", DEV_KEY, strlen(DEV_KEY));
    char *dot = strchr(good, '.');
    dot[2] ^= 1; /* flip a payload character */
    cr_assert_not(verify(v, good, &c));
    const char *garbage[] = {"", "a", "a.b", "a.b.c.d", "..", "!!!.???.***", "eyJ.eyJ.", ".x.y"};
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
        cr_assert_not(verify(v, garbage[i], &c), "%s", garbage[i]);
    free(wrong), free(none), free(none_tok), free(good);
    auth_verifier_free(v);
}

Test(auth, exp_and_nbf)
{
    struct auth_verifier *v = verifier(DEV_KEY, "HS256");
    struct auth_claims c;
    char claims[128];
    long long now = (long long)time(NULL);
    snprintf(claims, sizeof(claims), "{\"exp\":%lld}", now - 1);
    char *expired = hs_token("HS256", claims, DEV_KEY, strlen(DEV_KEY));
    cr_assert_not(verify(v, expired, &c));
    snprintf(claims, sizeof(claims), "{\"exp\":%lld,\"nbf\":%lld}", now + 60, now - 5);
    char *valid = hs_token("HS256", claims, DEV_KEY, strlen(DEV_KEY));
    cr_assert(verify(v, valid, &c));
    cr_assert_eq(c.exp, now + 60);
    auth_claims_free(&c);
    snprintf(claims, sizeof(claims), "{\"nbf\":%lld}", now + 60);
    char *early = hs_token("HS256", claims, DEV_KEY, strlen(DEV_KEY));
    cr_assert_not(verify(v, early, &c));
    char *text_exp = hs_token("HS256", "{\"exp\":\"tomorrow\"}", DEV_KEY, strlen(DEV_KEY));
    cr_assert_not(verify(v, text_exp, &c));
    free(expired), free(valid), free(early), free(text_exp);
    auth_verifier_free(v);
}

Test(auth, malformed_mercure_claim_rejects_the_token)
{
    struct auth_verifier *v = verifier(DEV_KEY, "HS256");
    struct auth_claims c;
    const char *bad[] = {"{\"mercure\":[]}", "{\"mercure\":{\"publish\":\"*\"}}",
                         "{\"mercure\":{\"subscribe\":[1]}}", "{\"mercure\":\"x\"}", "[1,2]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *t = hs_token("HS256", bad[i], DEV_KEY, strlen(DEV_KEY));
        cr_assert_not(verify(v, t, &c), "%s", bad[i]);
        free(t);
    }
    /* No mercure claim: a valid token that allows nothing. */
    char *t = hs_token("HS256", "{\"sub\":\"x\"}", DEV_KEY, strlen(DEV_KEY));
    cr_assert(verify(v, t, &c));
    cr_assert_not(auth_can_publish(&c, "a", 1));
    auth_claims_free(&c);
    free(t);
    auth_verifier_free(v);
}

static EVP_PKEY *keygen(const char *type, const char *param)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *key = NULL;
    EVP_PKEY_keygen_init(ctx);
    if (param && !strcmp(type, "EC")) EVP_PKEY_CTX_set_group_name(ctx, param);
    if (!strcmp(type, "RSA")) EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048);
    EVP_PKEY_keygen(ctx, &key);
    EVP_PKEY_CTX_free(ctx);
    cr_assert_not_null(key);
    return key;
}

Test(auth, rs256_es256_eddsa_with_pem_keys)
{
    struct {
        const char *type, *param, *alg;
    } cases[] = {{"RSA", NULL, "RS256"}, {"EC", "prime256v1", "ES256"}, {"ED25519", NULL, "EdDSA"}};
    for (size_t i = 0; i < 3; i++) {
        EVP_PKEY *key = keygen(cases[i].type, cases[i].param);
        char *pem = public_pem(key);
        struct auth_verifier *v = verifier(pem, cases[i].alg);
        char *tok = pk_token(cases[i].alg, ALL_CLAIMS, key);
        struct auth_claims c;
        cr_assert(verify(v, tok, &c), "%s", cases[i].alg);
        cr_assert(auth_can_publish(&c, "x", 1));
        auth_claims_free(&c);
        /* Another key of the same type must not verify it. */
        EVP_PKEY *other = keygen(cases[i].type, cases[i].param);
        char *forged = pk_token(cases[i].alg, ALL_CLAIMS, other);
        cr_assert_not(verify(v, forged, &c), "%s with another key", cases[i].alg);
        free(forged);
        EVP_PKEY_free(other);
        free(tok);
        auth_verifier_free(v);
        free(pem);
        EVP_PKEY_free(key);
    }
}

Test(auth, algorithm_confusion_is_rejected)
{
    /* The classic attack: HMAC-sign with the RSA public key's PEM as the secret. */
    EVP_PKEY *key = keygen("RSA", NULL);
    char *pem = public_pem(key);
    struct auth_verifier *v = verifier(pem, "RS256");
    char *forged = hs_token("HS256", ALL_CLAIMS, pem, strlen(pem));
    struct auth_claims c;
    cr_assert_not(verify(v, forged, &c));
    /* Even with HS256 allowed next to RS256, the PEM key is never an HMAC secret. */
    struct auth_verifier *v2 = verifier(pem, "RS256,HS256");
    cr_assert_not(verify(v2, forged, &c));
    free(forged);
    auth_verifier_free(v);
    auth_verifier_free(v2);
    free(pem);
    EVP_PKEY_free(key);
}

Test(auth, jwks_file_with_oct_and_rsa_keys)
{
    EVP_PKEY *key = keygen("RSA", NULL);
    BIGNUM *n = NULL, *e = NULL;
    EVP_PKEY_get_bn_param(key, "n", &n);
    EVP_PKEY_get_bn_param(key, "e", &e);
    unsigned char nb[512], eb[8];
    int nl = BN_bn2bin(n, nb), el = BN_bn2bin(e, eb);
    char *n64 = b64url(nb, (size_t)nl), *e64 = b64url(eb, (size_t)el);
    char *k64 = b64url((const unsigned char *)"jwks-secret", 11);
    char path[] = "/tmp/sseb-jwks-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fprintf(f,
            "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"h\",\"k\":\"%s\"},"
            "{\"kty\":\"RSA\",\"kid\":\"r\",\"n\":\"%s\",\"e\":\"%s\"}]}",
            k64, n64, e64);
    fclose(f);
    char err[256];
    struct auth_verifier *v = auth_verifier_new(NULL, "HS256,RS256", path, err, sizeof(err));
    cr_assert_not_null(v, "%s", err);
    struct auth_claims c;
    char *hs = hs_token("HS256", "{}", "jwks-secret", 11);
    cr_assert(verify(v, hs, &c));
    auth_claims_free(&c);
    char *rs = pk_token("RS256", "{}", key);
    cr_assert(verify(v, rs, &c));
    auth_claims_free(&c);
    unlink(path);
    free(hs), free(rs), free(n64), free(e64), free(k64);
    BN_free(n), BN_free(e);
    EVP_PKEY_free(key);
    auth_verifier_free(v);
}

Test(auth, bad_configuration_is_reported)
{
    char err[256];
    cr_assert_null(auth_verifier_new("k", "HS999", NULL, err, sizeof(err)));
    cr_assert(strstr(err, "HS999"));
    cr_assert_null(auth_verifier_new("not a pem", "RS256", NULL, err, sizeof(err)));
    cr_assert_null(auth_verifier_new(NULL, "HS256", NULL, err, sizeof(err)));
}

Test(auth, cookie_parsing)
{
    const char *v;
    size_t n;
    const char *h = "a=1; mercureAuthorization=tok.en.x; b=\"2\"";
    cr_assert(auth_cookie_find(h, strlen(h), "mercureAuthorization", &v, &n));
    cr_assert_eq(n, 8);
    cr_assert(!strncmp(v, "tok.en.x", 8));
    cr_assert(auth_cookie_find(h, strlen(h), "b", &v, &n));
    cr_assert(n == 1 && *v == '2');
    cr_assert_not(auth_cookie_find(h, strlen(h), "mercure", &v, &n));
    cr_assert_not(auth_cookie_find("", 0, "a", &v, &n));
}
