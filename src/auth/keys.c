/* Verification keys for JWT: HMAC secrets, PEM public keys (text or file) and JWKS files, each
 * bound to the algorithms it may check, parsed once at configuration time.
 *
 * The algorithm is bound to the key, never taken from the token alone: a token is checked only
 * with keys of the family its "alg" names (and, for ES, of the matching curve), and only when
 * that alg is in the allowlist, so "none" and key confusion (an HS256 token "signed" with an RSA
 * public key's PEM) cannot pass. HMAC secrets and public keys are kept apart from the start: a
 * PEM value is never stored as a secret. A verifier is immutable once built. */
#include <errno.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth.h"
#include "auth/keys.h"
#include "common/b64url.h"

#define MAX_KEY_FILE (1 << 20)

const struct alg_info algs[NALGS] = {
    {"HS256", FAM_HS, MD_SHA256, 0},  {"HS384", FAM_HS, MD_SHA384, 0},
    {"HS512", FAM_HS, MD_SHA512, 0},  {"RS256", FAM_RS, MD_SHA256, 0},
    {"RS384", FAM_RS, MD_SHA384, 0},  {"RS512", FAM_RS, MD_SHA512, 0},
    {"ES256", FAM_ES, MD_SHA256, 32}, {"ES384", FAM_ES, MD_SHA384, 48},
    {"ES512", FAM_ES, MD_SHA512, 66}, {"EdDSA", FAM_ED, MD_NONE, 0},
};

static const char *const md_names[] = {"SHA256", "SHA384", "SHA512"};

static void key_clear(struct key *k)
{
    if (k->secret) OPENSSL_cleanse(k->secret, k->len);
    free(k->secret);
    EVP_PKEY_free(k->pkey);
    free(k->kid);
}

void auth_verifier_free(struct auth_verifier *v)
{
    if (!v) return;
    for (size_t i = 0; i < v->nkeys; i++)
        key_clear(&v->keys[i]);
    for (size_t i = 0; i < 3; i++)
        EVP_MD_free(v->md[i]);
    free(v->keys);
    for (size_t i = 0; i < v->nissuers; i++)
        free(v->issuers[i].iss);
    free(v->issuers);
    free(v->resource);
    free(v);
}

int alg_index(const char *name, size_t n)
{
    for (size_t i = 0; i < NALGS; i++)
        if (strlen(algs[i].name) == n && !memcmp(algs[i].name, name, n)) return (int)i;
    return -1;
}

/* Whether the key can check tokens of algs[ai]. */
bool key_fits(const struct key *k, size_t ai)
{
    if (k->family != algs[ai].family) return false;
    if (k->alg >= 0 && (size_t)k->alg != ai) return false;
    return k->family != FAM_ES || k->ec_bytes == algs[ai].ec_bytes;
}

static bool key_usable(const struct auth_verifier *v, const struct key *k)
{
    for (size_t i = 0; i < NALGS; i++)
        if ((v->allowed & (1u << i)) && key_fits(k, i)) return true;
    return false;
}

/* Appends a zeroed key; NULL when out of memory. */
static struct key *add_key(struct auth_verifier *v)
{
    struct key *n = realloc(v->keys, (v->nkeys + 1) * sizeof(*n));
    if (!n) return NULL;
    v->keys = n;
    memset(&n[v->nkeys], 0, sizeof(*n));
    n[v->nkeys].alg = -1;
    return &n[v->nkeys++];
}

static void drop_last_key(struct auth_verifier *v)
{
    key_clear(&v->keys[--v->nkeys]);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(MAX_KEY_FILE + 1);
    size_t n = buf ? fread(buf, 1, MAX_KEY_FILE + 1, f) : 0;
    bool bad = !buf || ferror(f) || n > MAX_KEY_FILE;
    if (n > MAX_KEY_FILE) errno = EFBIG;
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* Sorts a public key into its family. Returns NULL when fine, else the reason. */
static const char *classify(EVP_PKEY *pkey, struct key *k)
{
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        /* RFC 7518 section 3.3: 2048 bits or more. */
        if (EVP_PKEY_get_bits(pkey) < 2048) return "RSA key shorter than 2048 bits";
        k->family = FAM_RS;
        return NULL;
    }
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[80];
        size_t glen;
        if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                            &glen))
            return "EC key without a named curve";
        if (!strcmp(group, "prime256v1") || !strcmp(group, "P-256"))
            k->ec_bytes = 32;
        else if (!strcmp(group, "secp384r1") || !strcmp(group, "P-384"))
            k->ec_bytes = 48;
        else if (!strcmp(group, "secp521r1") || !strcmp(group, "P-521"))
            k->ec_bytes = 66;
        else
            return "EC curve is not P-256, P-384 or P-521";
        k->family = FAM_ES;
        return NULL;
    }
    if (EVP_PKEY_is_a(pkey, "ED25519") || EVP_PKEY_is_a(pkey, "ED448")) {
        k->family = FAM_ED;
        return NULL;
    }
    return "unsupported public key type";
}

/* Takes ownership of pkey and stores it as a key. Returns 0, or -1 with err set. */
static int add_public_key(struct auth_verifier *v, EVP_PKEY *pkey, const char *kid, int alg,
                          char *err, size_t errlen)
{
    struct key *k = add_key(v);
    if (!k) {
        EVP_PKEY_free(pkey);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    k->pkey = pkey;
    k->alg = alg;
    const char *why = classify(pkey, k);
    if (!why && kid && !(k->kid = strdup(kid))) why = "out of memory";
    if (!why && alg >= 0 && algs[alg].family != k->family) why = "\"alg\" does not fit the key";
    if (!why && alg >= 0 && k->family == FAM_ES && algs[alg].ec_bytes != k->ec_bytes)
        why = "\"alg\" does not fit the key's curve";
    if (why) {
        drop_last_key(v);
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    return 0;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return 0; /* public keys are never encrypted: never prompt on the terminal */
}

/* A public key from PEM: SubjectPublicKeyInfo, PKCS#1 "RSA PUBLIC KEY" or an X.509 certificate
 * (as the reference hub accepts). Private keys are refused: they have no business here. */
static EVP_PKEY *pem_public_key(const char *pem, size_t len)
{
    if (len > INT_MAX) return NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pkey = NULL;
    if (!bio) return NULL;
    if (memmem(pem, len, "-----BEGIN CERTIFICATE-----", 27)) {
        X509 *x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
        pkey = x ? X509_get_pubkey(x) : NULL;
        X509_free(x);
    } else {
        OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, NULL,
                                                               EVP_PKEY_PUBLIC_KEY, NULL, NULL);
        if (dctx && OSSL_DECODER_CTX_set_pem_password_cb(dctx, no_passphrase, NULL))
            OSSL_DECODER_from_bio(dctx, bio);
        OSSL_DECODER_CTX_free(dctx);
    }
    BIO_free(bio);
    return pkey;
}

static int add_pem(struct auth_verifier *v, const char *pem, size_t len, char *err, size_t errlen)
{
    EVP_PKEY *pkey = pem_public_key(pem, len);
    if (!pkey) {
        snprintf(err, errlen, "key is not a PEM public key or certificate");
        return -1;
    }
    if (add_public_key(v, pkey, NULL, -1, err, errlen)) return -1;
    if (!key_usable(v, &v->keys[v->nkeys - 1])) {
        snprintf(err, errlen, "the key's type fits none of the allowed algorithms");
        return -1;
    }
    return 0;
}

/* ---- JWKS (RFC 7517, key types of RFC 7518 and RFC 8037) ---------------------------------- */

static unsigned char *jwk_bytes(json_t *jwk, const char *member, size_t *len)
{
    const char *s = json_string_value(json_object_get(jwk, member));
    return s ? b64url_decode(s, json_string_length(json_object_get(jwk, member)), len) : NULL;
}

static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM *params)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (ctx && EVP_PKEY_fromdata_init(ctx) > 0)
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

static EVP_PKEY *jwk_rsa(json_t *jwk)
{
    size_t nl = 0, el = 0;
    unsigned char *n = jwk_bytes(jwk, "n", &nl), *e = jwk_bytes(jwk, "e", &el);
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *bn = n && nl && nl <= INT_MAX ? BN_bin2bn(n, (int)nl, NULL) : NULL;
    BIGNUM *be = e && el && el <= INT_MAX ? BN_bin2bn(e, (int)el, NULL) : NULL;
    OSSL_PARAM *params = NULL;
    if (bld && bn && be && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) &&
        (params = OSSL_PARAM_BLD_to_param(bld)))
        pkey = pkey_fromdata("RSA", params);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    free(n);
    free(e);
    return pkey;
}

static EVP_PKEY *jwk_ec(json_t *jwk)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    const char *group = NULL;
    size_t coord = 0;
    if (crv && !strcmp(crv, "P-256"))
        group = "prime256v1", coord = 32;
    else if (crv && !strcmp(crv, "P-384"))
        group = "secp384r1", coord = 48;
    else if (crv && !strcmp(crv, "P-521"))
        group = "secp521r1", coord = 66;
    size_t xl = 0, yl = 0;
    unsigned char *x = jwk_bytes(jwk, "x", &xl), *y = jwk_bytes(jwk, "y", &yl);
    EVP_PKEY *pkey = NULL;
    /* RFC 7518 section 6.2.1.2: each coordinate is the full size of the curve's field. */
    if (group && x && y && xl == coord && yl == coord) {
        unsigned char point[1 + 2 * 66];
        point[0] = 0x04; /* uncompressed; OpenSSL checks that the point is on the curve */
        memcpy(point + 1, x, xl);
        memcpy(point + 1 + xl, y, yl);
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0),
            OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * coord),
            OSSL_PARAM_construct_end()};
        pkey = pkey_fromdata("EC", params);
    }
    free(x);
    free(y);
    return pkey;
}

static EVP_PKEY *jwk_okp(json_t *jwk)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    size_t xl = 0;
    unsigned char *x = jwk_bytes(jwk, "x", &xl);
    EVP_PKEY *pkey = NULL;
    if (x && crv && !strcmp(crv, "Ed25519") && xl == 32)
        pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xl);
    else if (x && crv && !strcmp(crv, "Ed448") && xl == 57)
        pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED448, NULL, x, xl);
    free(x);
    return pkey;
}

static int add_jwk_secret(struct auth_verifier *v, json_t *jwk, const char *kid, int alg)
{
    size_t len = 0;
    unsigned char *secret = jwk_bytes(jwk, "k", &len);
    struct key *k = secret && len ? add_key(v) : NULL;
    if (!k) {
        free(secret);
        return -1;
    }
    k->family = FAM_HS;
    k->secret = secret;
    k->len = len;
    k->alg = alg;
    if (alg >= 0 && algs[alg].family != FAM_HS) {
        drop_last_key(v);
        return -1;
    }
    if (kid && !(k->kid = strdup(kid))) {
        drop_last_key(v);
        return -1;
    }
    return 0;
}

/* Loads every signature key of a JWK Set. Keys of a type this verifier does not know, for
 * another use ("use" other than "sig") or for an algorithm it does not implement are skipped,
 * as RFC 7517 section 5 asks; a malformed key of a known type is a configuration error. */
static int load_jwks(struct auth_verifier *v, const char *path, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    json_t *keys = json_object_get(root, "keys");
    if (!json_is_array(keys)) {
        snprintf(err, errlen, "JWKS %s: %s", path, root ? "no \"keys\" array" : jerr.text);
        json_decref(root);
        return -1;
    }
    size_t i;
    json_t *jwk;
    json_array_foreach(keys, i, jwk)
    {
        const char *kty = json_string_value(json_object_get(jwk, "kty"));
        const char *use = json_string_value(json_object_get(jwk, "use"));
        json_t *jkid = json_object_get(jwk, "kid"), *jalg = json_object_get(jwk, "alg");
        const char *kid = json_string_value(jkid);
        int alg = -1;
        if (!json_is_object(jwk) || (jkid && !kid) || (jalg && !json_is_string(jalg))) {
            snprintf(err, errlen, "JWKS %s: key %zu is malformed", path, i);
            json_decref(root);
            return -1;
        }
        if (jalg && (alg = alg_index(json_string_value(jalg), json_string_length(jalg))) < 0)
            continue; /* e.g. PS256 or an encryption algorithm */
        if (!kty || (use && strcmp(use, "sig"))) continue;
        int rc;
        char why[128] = "invalid or unsupported";
        if (!strcmp(kty, "oct")) {
            rc = add_jwk_secret(v, jwk, kid, alg);
        } else if (!strcmp(kty, "RSA") || !strcmp(kty, "EC") || !strcmp(kty, "OKP")) {
            EVP_PKEY *pkey = kty[0] == 'R'   ? jwk_rsa(jwk)
                             : kty[0] == 'E' ? jwk_ec(jwk)
                                             : jwk_okp(jwk);
            rc = pkey ? add_public_key(v, pkey, kid, alg, why, sizeof(why)) : -1;
        } else {
            continue;
        }
        if (rc) {
            snprintf(err, errlen, "JWKS %s: key %zu (%s): %s", path, i, kty, why);
            json_decref(root);
            return -1;
        }
    }
    json_decref(root);
    return 0;
}

unsigned long long verifier_generation_next(void)
{
    static _Atomic unsigned long long last;
    return ++last;
}

unsigned long long auth_verifier_generation(const struct auth_verifier *v)
{
    return v->generation;
}

struct auth_verifier *auth_verifier_new(const char *key, const char *alg_list,
                                        const char *jwks_path, char *err, size_t errlen)
{
    struct auth_verifier *v = calloc(1, sizeof(*v));
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    v->accept = AUTH_ACCEPT_07;
    v->generation = verifier_generation_next();
    /* Seed jansson's hash tables now, on the configuring thread, not in a worker's first call. */
    json_object_seed(0);
    for (size_t i = 0; i < 3; i++)
        if (!(v->md[i] = EVP_MD_fetch(NULL, md_names[i], NULL))) {
            snprintf(err, errlen, "OpenSSL lacks %s", md_names[i]);
            goto fail;
        }

    bool hmac_only = true;
    const char *p = alg_list ? alg_list : "HS256";
    for (;;) {
        p += strspn(p, ", \t");
        size_t n = strcspn(p, ", \t");
        if (!n) break;
        int i = alg_index(p, n);
        if (i < 0) {
            snprintf(err, errlen, "unsupported JWT algorithm \"%.*s\"", (int)(n > 32 ? 32 : n), p);
            goto fail;
        }
        v->allowed |= 1u << i;
        hmac_only = hmac_only && algs[i].family == FAM_HS;
        p += n;
    }
    if (!v->allowed) {
        snprintf(err, errlen, "empty JWT algorithm list");
        goto fail;
    }

    if (key && *key) {
        bool pem = !strncmp(key, "-----BEGIN", 10);
        if (hmac_only) {
            /* A PEM "secret" is a public key by mistake: as an HMAC secret anyone could sign
             * with it, which is exactly the algorithm confusion attack. */
            if (pem) {
                snprintf(err, errlen, "key is PEM but only HS algorithms are allowed");
                goto fail;
            }
            struct key *k = add_key(v);
            if (!k || !(k->secret = (unsigned char *)strdup(key))) goto oom;
            k->family = FAM_HS;
            k->len = strlen(key);
        } else if (pem) {
            if (add_pem(v, key, strlen(key), err, errlen)) goto fail;
        } else {
            size_t len;
            char *text = read_file(key, &len);
            if (!text) {
                /* The value is not echoed: it may be a secret given by mistake. */
                snprintf(err, errlen,
                         "key is neither PEM nor a readable file (%s); with RS, ES or EdDSA "
                         "allowed it must be a PEM public key or a path to one, and HMAC "
                         "secrets go in a JWKS",
                         strerror(errno));
                goto fail;
            }
            int rc = add_pem(v, text, len, err, errlen);
            free(text);
            if (rc) goto fail;
        }
    }
    if (jwks_path && *jwks_path && load_jwks(v, jwks_path, err, errlen)) goto fail;
    bool usable = false;
    for (size_t i = 0; i < v->nkeys && !usable; i++)
        usable = key_usable(v, &v->keys[i]);
    if (!usable) {
        snprintf(err, errlen,
                 v->nkeys ? "no key fits the allowed JWT algorithms" : "no JWT key configured");
        goto fail;
    }
    return v;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    auth_verifier_free(v);
    return NULL;
}
