/* JWT verification: algorithms, allowlist and key confusion, time claims, malformed input, the
 * mercure claim, JWKS, topic checks and Cookie parsing.
 *
 * Tokens are made here, independently of src/auth.c: HS by hand with OpenSSL HMAC or with
 * libjwt's jwt_encode_str, RS/ES/EdDSA with keys generated at run time and signed through
 * OpenSSL EVP (and libjwt for RS and ES). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../support/jws_sign.h"
#include "auth/auth.h"

#define DEV_KEY "!ChangeThisMercureHubJWTSecretKey!"
/* The token Mercure's documentation and client examples use with the development key. */
#define DEV_TOKEN                                                                                  \
    "eyJhbGciOiJIUzI1NiJ9.eyJtZXJjdXJlIjp7InB1Ymxpc2giOlsiKiJdLCJzdWJzY3JpYmUiOlsiKiJdfX0."        \
    "bVXdlWXwfw9ySx7-iV5OpUSHo34RkjUdVzDLBcc6l_g"
#define NOW      1700000000LL
#define ALL_ALGS "HS256,HS384,HS512,RS256,RS384,RS512,ES256,ES384,ES512,EdDSA"

/* ---- helpers ------------------------------------------------------------------------------ */

static char *str_b64url(const char *s)
{
    return b64url(s, strlen(s));
}

static char *cat3(const char *a, const char *sep, const char *b)
{
    size_t n = strlen(a) + strlen(sep) + strlen(b) + 1;
    char *s = malloc(n);
    cr_assert_not_null(s);
    snprintf(s, n, "%s%s%s", a, sep, b);
    return s;
}

/* "header64.claims64" from JSON texts. */
static char *signing_input(const char *header, const char *claims)
{
    char *h = str_b64url(header), *c = str_b64url(claims);
    char *in = cat3(h, ".", c);
    free(h);
    free(c);
    return in;
}

/* Appends an HMAC signature to a signing input given as raw text. */
static char *hs_sign_raw(const char *md, const void *secret, size_t slen, const char *input)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen;
    cr_assert_not_null(HMAC(EVP_get_digestbyname(md), secret, (int)slen,
                            (const unsigned char *)input, strlen(input), mac, &maclen));
    char *sig = b64url(mac, maclen);
    char *tok = cat3(input, ".", sig);
    free(sig);
    return tok;
}

static char *hs_token(const char *md, const char *secret, const char *header, const char *claims)
{
    char *in = signing_input(header, claims);
    char *tok = hs_sign_raw(md, secret, strlen(secret), in);
    free(in);
    return tok;
}

static char *dev_token(const char *claims)
{
    return hs_token("SHA256", DEV_KEY, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims);
}

/* Signs with a private key: md NULL for EdDSA; ec_bytes > 0 turns ECDSA's DER into R || S. */
static char *pk_token(EVP_PKEY *priv, const char *md, size_t ec_bytes, const char *header,
                      const char *claims)
{
    char *in = signing_input(header, claims);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t siglen = 0;
    cr_assert_eq(EVP_DigestSignInit_ex(ctx, NULL, md, NULL, NULL, priv, NULL), 1);
    cr_assert_eq(EVP_DigestSign(ctx, NULL, &siglen, (unsigned char *)in, strlen(in)), 1);
    unsigned char *sig = malloc(siglen);
    cr_assert_eq(EVP_DigestSign(ctx, sig, &siglen, (unsigned char *)in, strlen(in)), 1);
    EVP_MD_CTX_free(ctx);
    if (ec_bytes) {
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
        cr_assert_not_null(es);
        unsigned char *raw = calloc(1, 2 * ec_bytes);
        cr_assert_eq(BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int)ec_bytes), (int)ec_bytes);
        cr_assert_eq(BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + ec_bytes, (int)ec_bytes),
                     (int)ec_bytes);
        ECDSA_SIG_free(es);
        free(sig);
        sig = raw;
        siglen = 2 * ec_bytes;
    }
    char *s64 = b64url(sig, siglen);
    char *tok = cat3(in, ".", s64);
    free(s64);
    free(sig);
    free(in);
    return tok;
}

static EVP_PKEY *gen_rsa(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    cr_assert_not_null(k);
    return k;
}

static EVP_PKEY *gen_ec(const char *curve)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
    cr_assert_not_null(k);
    return k;
}

static EVP_PKEY *gen_ed(const char *type)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, type);
    cr_assert_not_null(k);
    return k;
}

static char *bio_text(BIO *bio)
{
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    char *s = malloc((size_t)n + 1);
    memcpy(s, data, (size_t)n);
    s[n] = 0;
    BIO_free(bio);
    return s;
}

static char *pub_pem(EVP_PKEY *k)
{
    BIO *bio = BIO_new(BIO_s_mem());
    cr_assert(PEM_write_bio_PUBKEY(bio, k));
    return bio_text(bio);
}

static char *priv_pem(EVP_PKEY *k)
{
    BIO *bio = BIO_new(BIO_s_mem());
    cr_assert(PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL));
    return bio_text(bio);
}

static char *libjwt_token(jwt_alg_t alg, const char *key, const char *claims)
{
    jwt_t *jwt = NULL;
    cr_assert_eq(jwt_new(&jwt), 0);
    cr_assert_eq(jwt_add_grants_json(jwt, claims), 0);
    cr_assert_eq(jwt_set_alg(jwt, alg, (const unsigned char *)key, (int)strlen(key)), 0);
    char *tok = jwt_encode_str(jwt);
    cr_assert_not_null(tok, "libjwt could not sign with %s", jwt_alg_str(alg));
    jwt_free(jwt);
    return tok; /* malloc'd: libjwt uses the default allocator here */
}

static char *write_tmp(const char *text)
{
    char *path = strdup("/tmp/test_auth_XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static struct auth_verifier *verifier(const char *key, const char *algs, const char *jwks)
{
    char err[256] = "";
    struct auth_verifier *v = auth_verifier_new(key, algs, jwks, err, sizeof(err));
    cr_assert_not_null(v, "verifier (%s): %s", algs, err);
    return v;
}

/* Asserts that the configuration is refused, with a reason. */
static void refused(const char *key, const char *algs, const char *jwks)
{
    char err[256] = "";
    struct auth_verifier *v = auth_verifier_new(key, algs, jwks, err, sizeof(err));
    cr_assert_null(v, "configuration (%s) accepted", algs);
    cr_assert_neq(err[0], 0);
}

static const char *last_why;

static bool ok(const struct auth_verifier *v, const char *tok)
{
    struct auth_claims c;
    bool r = auth_verify(v, tok, strlen(tok), NOW, &c, &last_why);
    if (r) auth_claims_free(&c);
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

/* ---- HMAC --------------------------------------------------------------------------------- */

Test(auth, mercure_dev_token)
{
    struct auth_verifier *v = verifier(DEV_KEY, "HS256", NULL);
    struct auth_claims c;
    const char *why = NULL;
    cr_assert(auth_verify(v, DEV_TOKEN, strlen(DEV_TOKEN), NOW, &c, &why), "%s", why);
    cr_assert_eq(c.npublish, 1);
    cr_assert_eq(c.nsubscribe, 1);
    cr_assert(auth_can_publish(&c, "https://example.com/books/1", 27));
    cr_assert(auth_can_subscribe(&c, "urn:anything", 12));
    cr_assert_null(c.payload_json);
    cr_assert_eq(c.exp, 0);
    auth_claims_free(&c);
    cr_assert_null(c.publish);
    auth_claims_free(&c); /* twice is harmless */

    /* Default allowlist is HS256. */
    auth_verifier_free(v);
    v = verifier(DEV_KEY, NULL, NULL);
    accepts(v, DEV_TOKEN);
    auth_verifier_free(v);
}

Test(auth, hs256_384_512_from_libjwt)
{
    struct auth_verifier *all = verifier("a-rather-long-shared-secret-for-hmac-tests-0123456789",
                                         "HS256,HS384,HS512", NULL);
    struct auth_verifier *only256 =
        verifier("a-rather-long-shared-secret-for-hmac-tests-0123456789", " HS256 ", NULL);
    const jwt_alg_t a[] = {JWT_ALG_HS256, JWT_ALG_HS384, JWT_ALG_HS512};
    for (size_t i = 0; i < 3; i++) {
        char *tok = libjwt_token(a[i], "a-rather-long-shared-secret-for-hmac-tests-0123456789",
                                 "{\"mercure\":{\"publish\":[\"https://example.com/a\"]}}");
        accepts(all, tok);
        if (i == 0)
            accepts(only256, tok);
        else
            rejects(only256, tok, "algorithm not allowed");
        free(tok);
    }
    auth_verifier_free(all);
    auth_verifier_free(only256);
}

Test(auth, hs_by_hand_and_header_variants)
{
    struct auth_verifier *v = verifier(DEV_KEY, "HS256,HS384,HS512", NULL);
    const char *claims = "{\"mercure\":{\"subscribe\":[\"*\"]}}";
    char *t1 = hs_token("SHA384", DEV_KEY, "{\"alg\":\"HS384\"}", claims);
    char *t2 =
        hs_token("SHA512", DEV_KEY, "{\"typ\":\"JOSE\",\"alg\":\"HS512\",\"kid\":\"x\"}", claims);
    /* The header's alg decides the digest: an HS256 MAC under an HS512 header fails. */
    char *t3 = hs_token("SHA256", DEV_KEY, "{\"alg\":\"HS512\"}", claims);
    accepts(v, t1);
    accepts(v, t2);
    rejects(v, t3, "invalid signature");
    free(t1);
    free(t2);
    free(t3);
    auth_verifier_free(v);
}

Test(auth, wrong_secret_and_tampering)
{
    struct auth_verifier *v = verifier(DEV_KEY, "HS256", NULL);
    char *tok = hs_token("SHA256", "!ChangeThisMercureHubJWTSecretKey?", "{\"alg\":\"HS256\"}",
                         "{\"mercure\":{\"publish\":[\"*\"]}}");
    rejects(v, tok, "invalid signature");
    free(tok);

    /* Same signature, different claims. */
    char *good = dev_token("{\"mercure\":{\"subscribe\":[\"a\"]}}");
    char *evil = dev_token("{\"mercure\":{\"subscribe\":[\"*\"]}}");
    char *swapped = strdup(evil);
    strcpy(strrchr(swapped, '.'), strrchr(good, '.'));
    accepts(v, good);
    rejects(v, swapped, "invalid signature");

    /* A truncated or extended signature. */
    char *cut = strndup(good, strlen(good) - 4);
    rejects(v, cut, NULL);
    char *longer = cat3(good, "", "AAAA");
    rejects(v, longer, NULL);
    free(good);
    free(evil);
    free(swapped);
    free(cut);
    free(longer);
    auth_verifier_free(v);
}

/* ---- algorithm allowlist and confusion ---------------------------------------------------- */

Test(auth, alg_none_always_rejected)
{
    struct auth_verifier *v = verifier(DEV_KEY, "HS256", NULL);
    const char *claims = "{\"mercure\":{\"publish\":[\"*\"]}}";
    const char *headers[] = {"{\"alg\":\"none\"}", "{\"alg\":\"None\"}", "{\"alg\":\"NONE\"}",
                             "{\"alg\":\"none\",\"typ\":\"JWT\"}"};
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        char *in = signing_input(headers[i], claims);
        char *unsigned_tok = cat3(in, ".", "");
        rejects(v, unsigned_tok, "unsecured token (alg none)");
        /* Even with a signature that would be right under HS256. */
        char *signed_tok = hs_sign_raw("SHA256", DEV_KEY, strlen(DEV_KEY), in);
        rejects(v, signed_tok, "unsecured token (alg none)");
        free(in);
        free(unsigned_tok);
        free(signed_tok);
    }
    refused(DEV_KEY, "none", NULL);
    refused(DEV_KEY, "HS256,none", NULL);
    auth_verifier_free(v);
}

Test(auth, alg_not_in_allowlist)
{
    struct auth_verifier *v = verifier(DEV_KEY, "HS256", NULL);
    const char *claims = "{}";
    char *t512 = hs_token("SHA512", DEV_KEY, "{\"alg\":\"HS512\"}", claims);
    rejects(v, t512, "algorithm not allowed");
    char *lower = hs_token("SHA256", DEV_KEY, "{\"alg\":\"hs256\"}", claims);
    rejects(v, lower, "algorithm not allowed");
    char *ps = hs_token("SHA256", DEV_KEY, "{\"alg\":\"PS256\"}", claims);
    rejects(v, ps, "algorithm not allowed");
    char *num = hs_token("SHA256", DEV_KEY, "{\"alg\":256}", claims);
    rejects(v, num, "malformed token header");
    char *missing = hs_token("SHA256", DEV_KEY, "{\"typ\":\"JWT\"}", claims);
    rejects(v, missing, "malformed token header");
    char *crit = hs_token("SHA256", DEV_KEY, "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", claims);
    rejects(v, crit, "unsupported critical header");
    free(t512);
    free(lower);
    free(ps);
    free(num);
    free(missing);
    free(crit);
    auth_verifier_free(v);
}

Test(auth, hs256_signed_with_public_key_pem_is_rejected)
{
    EVP_PKEY *rsa = gen_rsa();
    char *pem = pub_pem(rsa);
    const char *claims = "{\"mercure\":{\"publish\":[\"*\"]}}";
    char *forged = hs_token("SHA256", pem, "{\"alg\":\"HS256\"}", claims);
    char *genuine = pk_token(rsa, "SHA256", 0, "{\"alg\":\"RS256\"}", claims);

    struct auth_verifier *rs = verifier(pem, "RS256", NULL);
    rejects(rs, forged, "algorithm not allowed");
    accepts(rs, genuine);

    /* HS256 allowed too: the PEM is still a public key, never an HMAC secret. */
    struct auth_verifier *mixed = verifier(pem, "RS256,HS256", NULL);
    rejects(mixed, forged, "invalid signature");
    accepts(mixed, genuine);

    /* A PEM given where only HS algorithms are allowed is a misconfiguration. */
    refused(pem, "HS256", NULL);

    /* An RS256 token checked against an HS-only verifier whose secret is the PEM: impossible
     * to configure, and an RS token with an HS verifier fails on the allowlist. */
    struct auth_verifier *hs = verifier(DEV_KEY, "HS256", NULL);
    rejects(hs, genuine, "algorithm not allowed");

    free(forged);
    free(genuine);
    free(pem);
    EVP_PKEY_free(rsa);
    auth_verifier_free(rs);
    auth_verifier_free(mixed);
    auth_verifier_free(hs);
}

/* ---- exp and nbf -------------------------------------------------------------------------- */

static bool claims_ok(const struct auth_verifier *v, const char *claims, struct auth_claims *c)
{
    char *tok = dev_token(claims);
    bool r = auth_verify(v, tok, strlen(tok), NOW, c, &last_why);
    free(tok);
    return r;
}

Test(auth, exp_and_nbf)
{
    struct auth_verifier *v = verifier(DEV_KEY, "HS256", NULL);
    struct auth_claims c;
    char buf[256];

    snprintf(buf, sizeof(buf), "{\"exp\":%lld}", NOW + 60);
    cr_assert(claims_ok(v, buf, &c), "%s", last_why);
    cr_assert_eq(c.exp, NOW + 60);
    cr_assert_eq(c.npublish, 0);
    cr_assert_not(auth_can_publish(&c, "x", 1));
    auth_claims_free(&c);

    snprintf(buf, sizeof(buf), "{\"exp\":%lld}", NOW - 1);
    cr_assert_not(claims_ok(v, buf, &c));
    cr_assert_str_eq(last_why, "token expired");
    snprintf(buf, sizeof(buf), "{\"exp\":%lld}", NOW); /* exp is exclusive */
    cr_assert_not(claims_ok(v, buf, &c));
    cr_assert_str_eq(last_why, "token expired");

    snprintf(buf, sizeof(buf), "{\"nbf\":%lld}", NOW + 1);
    cr_assert_not(claims_ok(v, buf, &c));
    cr_assert_str_eq(last_why, "token not valid yet");
    snprintf(buf, sizeof(buf), "{\"nbf\":%lld,\"exp\":%lld}", NOW, NOW + 1); /* nbf inclusive */
    cr_assert(claims_ok(v, buf, &c), "%s", last_why);
    auth_claims_free(&c);

    /* Fractional dates compare exactly. */
    snprintf(buf, sizeof(buf), "{\"exp\":%lld.5}", NOW);
    cr_assert(claims_ok(v, buf, &c), "%s", last_why);
    cr_assert_eq(c.exp, NOW + 1);
    auth_claims_free(&c);
    snprintf(buf, sizeof(buf), "{\"exp\":%lld.5}", NOW - 1);
    cr_assert_not(claims_ok(v, buf, &c));
    snprintf(buf, sizeof(buf), "{\"nbf\":%lld.5}", NOW);
    cr_assert_not(claims_ok(v, buf, &c));
    snprintf(buf, sizeof(buf), "{\"nbf\":%lld.5}", NOW - 1);
    cr_assert(claims_ok(v, buf, &c), "%s", last_why);
    auth_claims_free(&c);

    /* Far future saturates instead of overflowing. */
    cr_assert(claims_ok(v, "{\"exp\":1e300}", &c), "%s", last_why);
    cr_assert_eq(c.exp, LLONG_MAX);
    auth_claims_free(&c);
    cr_assert(claims_ok(v, "{\"exp\":9223372036854775807}", &c), "%s", last_why);
    auth_claims_free(&c);
    cr_assert_not(claims_ok(v, "{\"exp\":-1e300}", &c));

    /* Non-numeric dates reject the token. */
    const char *bad[] = {"{\"exp\":\"1900000000\"}", "{\"nbf\":\"0\"}", "{\"exp\":null}",
                         "{\"exp\":true}",           "{\"nbf\":[1]}",   "{\"exp\":{}}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_not(claims_ok(v, bad[i], &c), "%s", bad[i]);
        cr_assert_str_eq(last_why, "exp or nbf is not a number");
    }
    auth_verifier_free(v);
}

/* ---- malformed input ---------------------------------------------------------------------- */

Test(auth, malformed_tokens)
{
    struct auth_verifier *v = verifier(DEV_KEY, "HS256", NULL);
    const char *h = "eyJhbGciOiJIUzI1NiJ9"; /* {"alg":"HS256"} */
    char *good = dev_token("{}");
    const char *sig = strrchr(good, '.') + 1;
    char buf[1024];
    const char *junk[] = {
        "",
        ".",
        "..",
        "...",
        "abc",
        "a.b",
        "a.b.c.d",
        "eyJhbGciOiJIUzI1NiJ9..sig",
        ".e30.sig",
        "!!!.e30.c2ln",
        "eyJhbGciOiJIUzI1NiJ9.e30.c2ln=",
        "bm90IGpzb24.e30.c2ln", /* header "not json" */
        "WzFd.e30.c2ln",        /* header [1] */
        "eyJhbGciOiJIUzI1NiJ9=.e30.c2ln",
        "eyJhbGciOiJIUzI1NiJ9 .e30.c2ln",
        "eyJhbGciOiJIUzI1NiJ9.e30.c2l", /* sig length 3 mod 4 ok, but wrong */
        "eyJhbGciOiJIUzI1NiJ9.e30.c",   /* sig length 1 mod 4 */
    };
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
        rejects(v, junk[i], NULL);

    /* A valid token with one extra segment, or with a trailing dot. */
    snprintf(buf, sizeof(buf), "%s.", good);
    rejects(v, buf, "malformed token");
    snprintf(buf, sizeof(buf), "%s.%s", good, sig);
    rejects(v, buf, "malformed token");
    /* Non-canonical base64: "e31" decodes like "e30" ("{}") but with non-zero spare bits. */
    snprintf(buf, sizeof(buf), "%s.e31", h);
    char *odd = hs_sign_raw("SHA256", DEV_KEY, strlen(DEV_KEY), buf);
    rejects(v, odd, "malformed token claims");
    free(odd);
    /* Embedded NUL: the length, not strlen, is what counts. */
    char nul[512];
    size_t glen = strlen(good);
    memcpy(nul, good, glen);
    nul[glen - 3] = 0;
    struct auth_claims c;
    const char *why;
    cr_assert_not(auth_verify(v, nul, glen, NOW, &c, &why));
    /* A valid token cut by the length argument. */
    cr_assert_not(auth_verify(v, good, glen - 1, NOW, &c, &why));
    cr_assert(auth_verify(v, good, glen, NOW, &c, &why), "%s", why);
    auth_claims_free(&c);
    /* Way too long. */
    size_t big = 100 * 1024;
    char *huge = malloc(big);
    memset(huge, 'A', big);
    huge[10] = '.';
    huge[20] = '.';
    cr_assert_not(auth_verify(v, huge, big, NOW, &c, &why));
    free(huge);
    free(good);
    auth_verifier_free(v);
}

Test(auth, malformed_but_signed_claims)
{
    struct auth_verifier *v = verifier(DEV_KEY, "HS256", NULL);
    const char *h = "eyJhbGciOiJIUzI1NiJ9";
    const char *payloads[] = {"not json",          "[1,2]", "\"str\"", "42", "{\"a\":1,\"a\":2}",
                              "{\"mercure\":{},}", ""};
    for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
        char *p = str_b64url(payloads[i]);
        char *in = cat3(h, ".", p);
        char *tok = hs_sign_raw("SHA256", DEV_KEY, strlen(DEV_KEY), in);
        rejects(v, tok, NULL);
        free(p);
        free(in);
        free(tok);
    }
    /* A signature over a segment that is not base64url. */
    char *tok = hs_sign_raw("SHA256", DEV_KEY, strlen(DEV_KEY), "eyJhbGciOiJIUzI1NiJ9.e3$9");
    rejects(v, tok, "malformed token");
    free(tok);
    /* Duplicate members in the header. */
    tok = hs_token("SHA256", DEV_KEY, "{\"alg\":\"none\",\"alg\":\"HS256\"}", "{}");
    rejects(v, tok, "malformed token header");
    free(tok);
    /* kid must be a string. */
    tok = hs_token("SHA256", DEV_KEY, "{\"alg\":\"HS256\",\"kid\":1}", "{}");
    rejects(v, tok, "malformed token header");
    free(tok);
    auth_verifier_free(v);
}

/* ---- the mercure claim -------------------------------------------------------------------- */

Test(auth, mercure_claim_shape)
{
    struct auth_verifier *v = verifier(DEV_KEY, "HS256", NULL);
    struct auth_claims c;
    const char *bad[] = {
        "{\"mercure\":\"*\"}",
        "{\"mercure\":[\"*\"]}",
        "{\"mercure\":true}",
        "{\"mercure\":{\"publish\":\"*\"}}",
        "{\"mercure\":{\"publish\":{\"0\":\"*\"}}}",
        "{\"mercure\":{\"publish\":[\"*\",1]}}",
        "{\"mercure\":{\"subscribe\":[null]}}",
        "{\"mercure\":{\"subscribe\":[[\"*\"]]}}",
        "{\"mercure\":{\"publish\":[\"*\"],\"subscribe\":5}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_not(claims_ok(v, bad[i], &c), "%s", bad[i]);
        cr_assert_str_eq(last_why, "malformed mercure claim");
        cr_assert_null(c.publish);
        cr_assert_eq(c.npublish, 0);
    }

    /* Absent, null (as Go encoders write empty lists) or empty: no rights, but valid. */
    const char *empty[] = {"{}", "{\"mercure\":null}", "{\"mercure\":{}}",
                           "{\"mercure\":{\"publish\":null,\"subscribe\":[]}}",
                           "{\"mercure\":{\"payload\":null}}"};
    for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
        cr_assert(claims_ok(v, empty[i], &c), "%s: %s", empty[i], last_why);
        cr_assert_eq(c.npublish + c.nsubscribe, 0);
        cr_assert_null(c.payload_json);
        cr_assert_not(auth_can_publish(&c, "x", 1));
        cr_assert_not(auth_can_subscribe(&c, "x", 1));
        auth_claims_free(&c);
    }
    auth_verifier_free(v);
}

Test(auth, mercure_payload_is_kept_compact)
{
    struct auth_verifier *v = verifier(DEV_KEY, "HS256", NULL);
    struct auth_claims c;
    cr_assert(claims_ok(v,
                        "{\"mercure\": {\"subscribe\": [\"*\"], \"payload\": {\"user\": "
                        "\"https://example.com/users/1\", \"roles\": [ \"a\", \"b\" ], \"n\": 1}}}",
                        &c),
              "%s", last_why);
    cr_assert_str_eq(c.payload_json,
                     "{\"user\":\"https://example.com/users/1\",\"roles\":[\"a\",\"b\"],\"n\":1}");
    auth_claims_free(&c);
    cr_assert(claims_ok(v, "{\"mercure\":{\"payload\":\"just a string\"}}", &c));
    cr_assert_str_eq(c.payload_json, "\"just a string\"");
    auth_claims_free(&c);
    cr_assert(claims_ok(v, "{\"mercure\":{\"payload\":[]}}", &c));
    cr_assert_str_eq(c.payload_json, "[]");
    auth_claims_free(&c);
    auth_verifier_free(v);
}

Test(auth, publish_and_subscribe_selectors)
{
    struct auth_verifier *v = verifier(DEV_KEY, "HS256", NULL);
    struct auth_claims c;
    cr_assert(claims_ok(v,
                        "{\"mercure\":{\"publish\":[\"https://example.com/books/1\","
                        "\"https://example.com/users/{id}\"],\"subscribe\":[\"*\"]}}",
                        &c),
              "%s", last_why);
    cr_assert_eq(c.npublish, 2);
#define PUB(t) auth_can_publish(&c, t, strlen(t))
#define SUB(t) auth_can_subscribe(&c, t, strlen(t))
    cr_assert(PUB("https://example.com/books/1"));
    cr_assert_not(PUB("https://example.com/books/2"));
    cr_assert_not(PUB("https://example.com/books/1/"));
    cr_assert(PUB("https://example.com/users/42"));
    cr_assert(PUB("https://example.com/users/alice"));
    cr_assert_not(PUB("https://example.com/users/42/posts"));
    cr_assert_not(PUB("https://example.com/users"));
    cr_assert(SUB("https://example.com/books/2"));
    cr_assert(SUB(""));
    auth_claims_free(&c);

    cr_assert(
        claims_ok(v, "{\"mercure\":{\"subscribe\":[\"https://example.com/books/{id}\"]}}", &c));
    cr_assert_not(PUB("https://example.com/books/1"));
    cr_assert(SUB("https://example.com/books/1"));
    cr_assert_not(SUB("https://example.com/authors/1"));
    auth_claims_free(&c);
#undef PUB
#undef SUB
    cr_assert_not(auth_can_publish(NULL, "x", 1));
    auth_verifier_free(v);
}

/* ---- public keys -------------------------------------------------------------------------- */

Test(auth, rs256_384_512_pem)
{
    EVP_PKEY *rsa = gen_rsa(), *other = gen_rsa();
    char *pem = pub_pem(rsa), *priv = priv_pem(rsa);
    const char *claims = "{\"mercure\":{\"publish\":[\"*\"]}}";
    struct auth_verifier *v = verifier(pem, "RS256,RS384,RS512", NULL);
    const char *mds[] = {"SHA256", "SHA384", "SHA512"};
    const char *hdr[] = {"{\"alg\":\"RS256\"}", "{\"alg\":\"RS384\"}", "{\"alg\":\"RS512\"}"};
    for (size_t i = 0; i < 3; i++) {
        char *tok = pk_token(rsa, mds[i], 0, hdr[i], claims);
        accepts(v, tok);
        free(tok);
        tok = pk_token(other, mds[i], 0, hdr[i], claims);
        rejects(v, tok, "invalid signature");
        free(tok);
    }
    /* Signed by libjwt. */
    char *tok = libjwt_token(JWT_ALG_RS256, priv, claims);
    accepts(v, tok);
    free(tok);
    /* Digest mismatch: SHA-256 signature under an RS512 header. */
    tok = pk_token(rsa, "SHA256", 0, "{\"alg\":\"RS512\"}", claims);
    rejects(v, tok, "invalid signature");
    free(tok);
    /* ES and EdDSA headers do not reach an RSA key. */
    struct auth_verifier *wide = verifier(pem, "RS256,ES256,EdDSA", NULL);
    tok = pk_token(rsa, "SHA256", 0, "{\"alg\":\"ES256\"}", claims);
    rejects(wide, tok, "invalid signature");
    free(tok);

    /* The key as a file path, and the private key refused as a "public key". */
    char *path = write_tmp(pem);
    struct auth_verifier *fv = verifier(path, "RS256", NULL);
    tok = pk_token(rsa, "SHA256", 0, "{\"alg\":\"RS256\"}", claims);
    accepts(fv, tok);
    free(tok);
    unlink(path);
    free(path);
    refused(priv, "RS256", NULL);
    refused("/nonexistent/key.pem", "RS256", NULL);
    refused("not a key", "RS256", NULL);
    refused(pem, "ES256", NULL); /* the key fits no allowed algorithm */

    free(pem);
    free(priv);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(other);
    auth_verifier_free(v);
    auth_verifier_free(wide);
    auth_verifier_free(fv);
}

Test(auth, rsa_key_too_short)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    char *pem = pub_pem(k);
    refused(pem, "RS256", NULL);
    free(pem);
    EVP_PKEY_free(k);
}

Test(auth, es256_384_512_pem)
{
    const char *curves[] = {"P-256", "P-384", "P-521"};
    const char *mds[] = {"SHA256", "SHA384", "SHA512"};
    const char *hdr[] = {"{\"alg\":\"ES256\"}", "{\"alg\":\"ES384\"}", "{\"alg\":\"ES512\"}"};
    const size_t bytes[] = {32, 48, 66};
    const char *claims = "{\"mercure\":{\"subscribe\":[\"*\"]}}";
    for (size_t i = 0; i < 3; i++) {
        EVP_PKEY *ec = gen_ec(curves[i]);
        char *pem = pub_pem(ec);
        struct auth_verifier *v = verifier(pem, "ES256,ES384,ES512", NULL);
        char *tok = pk_token(ec, mds[i], bytes[i], hdr[i], claims);
        accepts(v, tok);
        free(tok);
        /* The curve pins the algorithm: a P-256 key does not check "ES384" tokens. */
        size_t j = (i + 1) % 3;
        tok = pk_token(ec, mds[j], bytes[i], hdr[j], claims);
        rejects(v, tok, "invalid signature");
        free(tok);
        /* DER signatures (OpenSSL's native form) are not JWS signatures. */
        tok = pk_token(ec, mds[i], 0, hdr[i], claims);
        rejects(v, tok, "invalid signature");
        free(tok);
        free(pem);
        EVP_PKEY_free(ec);
        auth_verifier_free(v);
    }
    /* libjwt-signed ES256. */
    EVP_PKEY *ec = gen_ec("P-256");
    char *pem = pub_pem(ec), *priv = priv_pem(ec);
    struct auth_verifier *v = verifier(pem, "ES256", NULL);
    char *tok = libjwt_token(JWT_ALG_ES256, priv, claims);
    accepts(v, tok);
    free(tok);
    /* Another key's signature. */
    EVP_PKEY *other = gen_ec("P-256");
    tok = pk_token(other, "SHA256", 32, "{\"alg\":\"ES256\"}", claims);
    rejects(v, tok, "invalid signature");
    free(tok);
    refused(pem, "ES384", NULL);
    free(pem);
    free(priv);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(other);
    auth_verifier_free(v);
}

Test(auth, eddsa_pem)
{
    const char *claims = "{\"mercure\":{\"publish\":[\"*\"]}}";
    const char *types[] = {"ED25519", "ED448"};
    for (size_t i = 0; i < 2; i++) {
        EVP_PKEY *ed = gen_ed(types[i]), *other = gen_ed(types[i]);
        char *pem = pub_pem(ed);
        struct auth_verifier *v = verifier(pem, "EdDSA", NULL);
        char *tok = pk_token(ed, NULL, 0, "{\"alg\":\"EdDSA\"}", claims);
        accepts(v, tok);
        /* Tampered claims under the same signature. */
        char *evil = pk_token(ed, NULL, 0, "{\"alg\":\"EdDSA\"}", "{\"mercure\":{}}");
        strcpy(strrchr(evil, '.'), strrchr(tok, '.'));
        rejects(v, evil, "invalid signature");
        free(evil);
        free(tok);
        tok = pk_token(other, NULL, 0, "{\"alg\":\"EdDSA\"}", claims);
        rejects(v, tok, "invalid signature");
        free(tok);
        /* An HS256 token made with the PEM text as the secret. */
        tok = hs_token("SHA256", pem, "{\"alg\":\"HS256\"}", claims);
        rejects(v, tok, "algorithm not allowed");
        free(tok);
        free(pem);
        EVP_PKEY_free(ed);
        EVP_PKEY_free(other);
        auth_verifier_free(v);
    }
}

static char *encode_pem(EVP_PKEY *k, const char *structure)
{
    BIO *bio = BIO_new(BIO_s_mem());
    OSSL_ENCODER_CTX *ctx =
        OSSL_ENCODER_CTX_new_for_pkey(k, EVP_PKEY_PUBLIC_KEY, "PEM", structure, NULL);
    cr_assert_not_null(ctx);
    cr_assert(OSSL_ENCODER_to_bio(ctx, bio));
    OSSL_ENCODER_CTX_free(ctx);
    return bio_text(bio);
}

Test(auth, certificate_and_pkcs1_pem)
{
    EVP_PKEY *rsa = gen_rsa();
    char *tok = pk_token(rsa, "SHA256", 0, "{\"alg\":\"RS256\"}", "{}");

    /* PKCS#1 "RSA PUBLIC KEY". */
    char *pkcs1 = encode_pem(rsa, "type-specific");
    cr_assert(strstr(pkcs1, "-----BEGIN RSA PUBLIC KEY-----"));
    struct auth_verifier *v = verifier(pkcs1, "RS256", NULL);
    accepts(v, tok);
    auth_verifier_free(v);
    free(pkcs1);

    /* A self-signed certificate carrying the key. */
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, rsa);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"test", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    cr_assert(X509_sign(x, rsa, EVP_sha256()));
    BIO *bio = BIO_new(BIO_s_mem());
    cr_assert(PEM_write_bio_X509(bio, x));
    char *cert = bio_text(bio);
    X509_free(x);
    v = verifier(cert, "RS256", NULL);
    accepts(v, tok);
    auth_verifier_free(v);
    free(cert);
    free(tok);
    EVP_PKEY_free(rsa);
}

/* ---- JWKS --------------------------------------------------------------------------------- */

static char *bn_param_b64(EVP_PKEY *k, const char *name)
{
    BIGNUM *bn = NULL;
    cr_assert(EVP_PKEY_get_bn_param(k, name, &bn));
    unsigned char buf[1024];
    int n = BN_bn2bin(bn, buf);
    BN_free(bn);
    return b64url(buf, (size_t)n);
}

static json_t *jwk_rsa(EVP_PKEY *k, const char *kid)
{
    char *n = bn_param_b64(k, OSSL_PKEY_PARAM_RSA_N), *e = bn_param_b64(k, OSSL_PKEY_PARAM_RSA_E);
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "kid", kid, "use", "sig", "n",
                          n, "e", e);
    free(n);
    free(e);
    return j;
}

static json_t *jwk_ec(EVP_PKEY *k, const char *crv, size_t coord, const char *kid)
{
    unsigned char pt[1 + 2 * 66];
    size_t len = 0;
    cr_assert(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &len));
    cr_assert_eq(len, 1 + 2 * coord);
    char *x = b64url(pt + 1, coord), *y = b64url(pt + 1 + coord, coord);
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "kid", kid, "crv", crv, "x", x, "y", y);
    free(x);
    free(y);
    return j;
}

static json_t *jwk_okp(EVP_PKEY *k, const char *kid)
{
    unsigned char raw[64];
    size_t len = sizeof(raw);
    cr_assert(EVP_PKEY_get_raw_public_key(k, raw, &len));
    char *x = b64url(raw, len);
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:s}", "kty", "OKP", "kid", kid, "crv", "Ed25519", "x", x);
    free(x);
    return j;
}

static json_t *jwk_oct(const char *secret, const char *kid)
{
    char *k = str_b64url(secret);
    json_t *j = json_pack("{s:s, s:s, s:s}", "kty", "oct", "kid", kid, "k", k);
    free(k);
    return j;
}

static char *jwks_file(json_t *keys)
{
    json_t *root = json_pack("{s:o}", "keys", keys);
    char *text = json_dumps(root, 0);
    json_decref(root);
    char *path = write_tmp(text);
    free(text);
    return path;
}

Test(auth, jwks_oct_and_rsa)
{
    EVP_PKEY *rsa = gen_rsa();
    const char *secret = "jwks-shared-secret-of-a-reasonable-length!!";
    json_t *keys = json_array();
    json_array_append_new(keys, jwk_oct(secret, "hmac-1"));
    json_array_append_new(keys, jwk_rsa(rsa, "rsa-1"));
    json_array_append_new(keys, json_pack("{s:s, s:s}", "kty", "unknown", "kid", "skipped"));
    json_array_append_new(
        keys, json_pack("{s:s, s:s, s:s}", "kty", "oct", "use", "enc", "k", "c2tpcHBlZA"));
    char *path = jwks_file(keys);
    const char *claims = "{\"mercure\":{\"publish\":[\"*\"]}}";

    /* No key of its own: the JWKS alone. */
    struct auth_verifier *v = verifier(NULL, "HS256,RS256", path);
    char *hs = hs_token("SHA256", secret, "{\"alg\":\"HS256\",\"kid\":\"hmac-1\"}", claims);
    char *hs_nokid = hs_token("SHA256", secret, "{\"alg\":\"HS256\"}", claims);
    char *hs_wrongkid = hs_token("SHA256", secret, "{\"alg\":\"HS256\",\"kid\":\"rsa-1\"}", claims);
    char *rs = pk_token(rsa, "SHA256", 0, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", claims);
    char *rs_nokid = pk_token(rsa, "SHA256", 0, "{\"alg\":\"RS256\"}", claims);
    char *rs_wrongkid = pk_token(rsa, "SHA256", 0, "{\"alg\":\"RS256\",\"kid\":\"nope\"}", claims);
    /* The skipped "enc" key must not verify anything. */
    char *enc = hs_token("SHA256", "skipped", "{\"alg\":\"HS256\"}", claims);
    accepts(v, hs);
    accepts(v, hs_nokid);
    rejects(v, hs_wrongkid, "invalid signature");
    accepts(v, rs);
    accepts(v, rs_nokid);
    rejects(v, rs_wrongkid, "invalid signature");
    rejects(v, enc, "invalid signature");

    /* An HS256 token signed with the RSA JWK's PEM: no oct key is that PEM. */
    char *pem = pub_pem(rsa);
    char *forged = hs_token("SHA256", pem, "{\"alg\":\"HS256\",\"kid\":\"rsa-1\"}", claims);
    rejects(v, forged, "invalid signature");

    /* Key and JWKS together. */
    struct auth_verifier *both = verifier(DEV_KEY, "HS256", path);
    char *dev = dev_token(claims);
    accepts(both, dev);
    accepts(both, hs);
    rejects(both, rs, "algorithm not allowed");

    unlink(path);
    free(path);
    free(pem);
    free(forged);
    free(dev);
    free(hs);
    free(hs_nokid);
    free(hs_wrongkid);
    free(rs);
    free(rs_nokid);
    free(rs_wrongkid);
    free(enc);
    EVP_PKEY_free(rsa);
    auth_verifier_free(v);
    auth_verifier_free(both);
}

Test(auth, jwks_ec_okp_and_alg_binding)
{
    EVP_PKEY *ec = gen_ec("P-256"), *ed = gen_ed("ED25519");
    json_t *keys = json_array();
    json_array_append_new(keys, jwk_ec(ec, "P-256", 32, "ec"));
    json_array_append_new(keys, jwk_okp(ed, "ed"));
    json_t *bound = jwk_oct("bound-secret-0123456789abcdef0123456789", "bound");
    json_object_set_new(bound, "alg", json_string("HS384"));
    json_array_append_new(keys, bound);
    json_t *ps = jwk_oct("ps-secret", "ps");
    json_object_set_new(ps, "alg", json_string("PS256")); /* unknown alg: skipped */
    json_array_append_new(keys, ps);
    char *path = jwks_file(keys);
    const char *claims = "{}";
    struct auth_verifier *v = verifier(NULL, ALL_ALGS, path);

    char *t = pk_token(ec, "SHA256", 32, "{\"alg\":\"ES256\",\"kid\":\"ec\"}", claims);
    accepts(v, t);
    free(t);
    t = pk_token(ed, NULL, 0, "{\"alg\":\"EdDSA\",\"kid\":\"ed\"}", claims);
    accepts(v, t);
    free(t);
    t = hs_token("SHA384", "bound-secret-0123456789abcdef0123456789", "{\"alg\":\"HS384\"}",
                 claims);
    accepts(v, t);
    free(t);
    /* The JWK says HS384: the same secret does not check HS256 tokens. */
    t = hs_token("SHA256", "bound-secret-0123456789abcdef0123456789", "{\"alg\":\"HS256\"}",
                 claims);
    rejects(v, t, "invalid signature");
    free(t);
    t = hs_token("SHA256", "ps-secret", "{\"alg\":\"HS256\"}", claims);
    rejects(v, t, "invalid signature");
    free(t);
    unlink(path);
    free(path);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ed);
    auth_verifier_free(v);
}

Test(auth, jwks_errors)
{
    const char *bad[] = {
        "not json",
        "{}",
        "{\"keys\":{}}",
        "{\"keys\":[1]}",
        "{\"keys\":[{\"kty\":\"oct\"}]}",                /* no k */
        "{\"keys\":[{\"kty\":\"oct\",\"k\":\"\"}]}",     /* empty secret */
        "{\"keys\":[{\"kty\":\"oct\",\"k\":\"a b\"}]}",  /* not base64url */
        "{\"keys\":[{\"kty\":\"RSA\",\"e\":\"AQAB\"}]}", /* no n */
        "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}]}",
        "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AA\"}]}",
        "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"kid\":7}]}",
        "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"alg\":\"RS256\"}]}", /* alg vs kty */
        "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"kid\":\"a\",\"kid\":\"b\"}]}",
        "{\"keys\":[{\"kty\":\"unknown\"}]}", /* nothing usable */
        "{\"keys\":[]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *path = write_tmp(bad[i]);
        char err[256] = "";
        struct auth_verifier *v =
            auth_verifier_new(NULL, "HS256,RS256,ES256,EdDSA", path, err, sizeof(err));
        cr_assert_null(v, "JWKS accepted: %s", bad[i]);
        cr_assert_neq(err[0], 0);
        unlink(path);
        free(path);
    }
    refused(NULL, "HS256", "/nonexistent/jwks.json");
    /* Only an oct key while only RS256 is allowed. */
    char *path = write_tmp("{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}");
    refused(NULL, "RS256", path);
    unlink(path);
    free(path);
}

Test(auth, configuration_errors)
{
    refused(NULL, "HS256", NULL);
    refused("", "HS256", NULL);
    refused(DEV_KEY, "", NULL);
    refused(DEV_KEY, " , ", NULL);
    refused(DEV_KEY, "HS257", NULL);
    refused(DEV_KEY, "hs256", NULL);
    refused(DEV_KEY, "PS256", NULL);
    /* An HMAC secret where public keys are expected. */
    refused(DEV_KEY, "HS256,RS256", NULL);
    struct auth_verifier *v = verifier(DEV_KEY, "HS256,HS512", NULL);
    auth_verifier_free(v);
    auth_verifier_free(NULL);
}

/* ---- many threads, one verifier ----------------------------------------------------------- */

struct thread_arg {
    const struct auth_verifier *v;
    char *const *tokens;
    size_t ntokens;
    int failures;
};

static void *hammer(void *p)
{
    struct thread_arg *a = p;
    for (int round = 0; round < 50; round++)
        for (size_t i = 0; i < a->ntokens; i++) {
            struct auth_claims c;
            const char *why;
            const char *t = a->tokens[i];
            bool want = i % 2 == 0; /* even: genuine, odd: tampered */
            bool got = auth_verify(a->v, t, strlen(t), NOW, &c, &why);
            if (got) {
                if (!auth_can_publish(&c, "https://example.com/x", 21)) a->failures++;
                auth_claims_free(&c);
            }
            if (got != want) a->failures++;
        }
    return NULL;
}

Test(auth, concurrent_verification)
{
    EVP_PKEY *rsa = gen_rsa(), *ec = gen_ec("P-256"), *ed = gen_ed("ED25519");
    const char *secret = "threads-secret-threads-secret-threads!";
    json_t *keys = json_array();
    json_array_append_new(keys, jwk_oct(secret, "h"));
    json_array_append_new(keys, jwk_rsa(rsa, "r"));
    json_array_append_new(keys, jwk_ec(ec, "P-256", 32, "e"));
    json_array_append_new(keys, jwk_okp(ed, "d"));
    char *path = jwks_file(keys);
    struct auth_verifier *v = verifier(NULL, ALL_ALGS, path);
    const char *claims = "{\"mercure\":{\"publish\":[\"https://example.com/{x}\"]}}";
    char *tokens[8];
    tokens[0] = hs_token("SHA256", secret, "{\"alg\":\"HS256\"}", claims);
    tokens[2] = pk_token(rsa, "SHA256", 0, "{\"alg\":\"RS256\"}", claims);
    tokens[4] = pk_token(ec, "SHA256", 32, "{\"alg\":\"ES256\"}", claims);
    tokens[6] = pk_token(ed, NULL, 0, "{\"alg\":\"EdDSA\"}", claims);
    for (size_t i = 0; i < 8; i += 2) {
        tokens[i + 1] = strdup(tokens[i]);
        char *last = tokens[i + 1] + strlen(tokens[i + 1]) - 2;
        *last = *last == 'A' ? 'B' : 'A'; /* flips signature bits, stays canonical base64 */
    }
    pthread_t th[8];
    struct thread_arg args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (struct thread_arg){v, tokens, 8, 0};
        cr_assert_eq(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(args[i].failures, 0, "thread %d: %d failures", i, args[i].failures);
    }
    for (size_t i = 0; i < 8; i++)
        free(tokens[i]);
    unlink(path);
    free(path);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ed);
    auth_verifier_free(v);
}
