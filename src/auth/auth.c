/* JWT (compact JWS) verification for Mercure publishers and subscribers.
 *
 * The algorithm is bound to the key, never taken from the token alone: a token is checked only
 * with keys of the family its "alg" names (and, for ES, of the matching curve), and only when
 * that alg is in the allowlist, so "none" and key confusion (an HS256 token "signed" with an RSA
 * public key's PEM) cannot pass. HMAC secrets and public keys are kept apart from the start: a
 * PEM value is never stored as a secret.
 *
 * Signatures are checked with OpenSSL EVP on keys parsed once, at configuration time. libjwt
 * 1.10 is not used here: its jwt_decode re-parses the PEM key on every call (about 0.5 ms on
 * OpenSSL 3.0, ten times the RSA verification itself, and free work for anyone sending junk),
 * rejects any "typ" other than "JWT" and has no EdDSA. Claims are read with jansson.
 *
 * A verifier is immutable once built; verification keeps its state on the stack and in
 * per-call OpenSSL contexts, so one verifier serves every worker thread at once. */
#include "auth/auth.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_TOKEN_BYTES (64 * 1024) /* the default limit on all request headers together */
#define MAX_KEY_FILE    (1 << 20)

enum family { FAM_HS, FAM_RS, FAM_ES, FAM_ED };
enum digest { MD_SHA256, MD_SHA384, MD_SHA512, MD_NONE };

struct alg_info {
    const char *name;
    enum family family;
    enum digest md;
    size_t ec_bytes; /* ES: size of one coordinate (R and S each), which pins the curve */
};

static const struct alg_info algs[] = {
    {"HS256", FAM_HS, MD_SHA256, 0},  {"HS384", FAM_HS, MD_SHA384, 0},
    {"HS512", FAM_HS, MD_SHA512, 0},  {"RS256", FAM_RS, MD_SHA256, 0},
    {"RS384", FAM_RS, MD_SHA384, 0},  {"RS512", FAM_RS, MD_SHA512, 0},
    {"ES256", FAM_ES, MD_SHA256, 32}, {"ES384", FAM_ES, MD_SHA384, 48},
    {"ES512", FAM_ES, MD_SHA512, 66}, {"EdDSA", FAM_ED, MD_NONE, 0},
};
#define NALGS (sizeof(algs) / sizeof(algs[0]))

static const char *const md_names[] = {"SHA256", "SHA384", "SHA512"};

struct key {
    enum family family;
    int alg;               /* index in algs when the JWK names one ("alg"), else -1 */
    size_t ec_bytes;       /* ES: coordinate size of the key's curve */
    unsigned char *secret; /* HS */
    size_t len;
    EVP_PKEY *pkey; /* RS, ES, EdDSA */
    char *kid;      /* from a JWKS, or NULL */
};

struct auth_verifier {
    unsigned allowed; /* bit i: algs[i] */
    EVP_MD *md[3];    /* fetched once: per-call implicit fetches cost a lookup and a lock */
    struct key *keys;
    size_t nkeys;
};

/* ---- base64url ---------------------------------------------------------------------------- */

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

/* Decodes unpadded base64url (RFC 7515 section 2) strictly: no padding, no whitespace, unused
 * trailing bits zero, so each value has exactly one encoding. Returns a malloc'd buffer
 * (NUL-terminated for convenience) or NULL when malformed or out of memory. */
static unsigned char *b64url_decode(const char *s, size_t n, size_t *out_len)
{
    if (n % 4 == 1) return NULL;
    unsigned char *out = malloc(n / 4 * 3 + 3);
    if (!out) return NULL;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_value((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (acc & ((1u << bits) - 1)) {
        free(out);
        return NULL;
    }
    out[o] = 0;
    *out_len = o;
    return out;
}

static bool b64url_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b64url_value((unsigned char)s[i]) < 0) return false;
    return n % 4 != 1;
}

/* ---- keys --------------------------------------------------------------------------------- */

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
    free(v);
}

static int alg_index(const char *name, size_t n)
{
    for (size_t i = 0; i < NALGS; i++)
        if (strlen(algs[i].name) == n && !memcmp(algs[i].name, name, n)) return (int)i;
    return -1;
}

/* Whether the key can check tokens of algs[ai]. */
static bool key_fits(const struct key *k, size_t ai)
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

struct auth_verifier *auth_verifier_new(const char *key, const char *alg_list,
                                        const char *jwks_path, char *err, size_t errlen)
{
    struct auth_verifier *v = calloc(1, sizeof(*v));
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
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

/* ---- verification ------------------------------------------------------------------------- */

void auth_claims_free(struct auth_claims *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->npublish; i++)
        selector_free(c->publish[i]);
    for (size_t i = 0; i < c->nsubscribe; i++)
        selector_free(c->subscribe[i]);
    free(c->publish);
    free(c->subscribe);
    free(c->payload_json);
    memset(c, 0, sizeof(*c));
}

static bool verify_hmac(const struct auth_verifier *v, const struct key *k, size_t ai,
                        const unsigned char *in, size_t inlen, const unsigned char *sig,
                        size_t siglen)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (k->len > INT_MAX ||
        !HMAC(v->md[algs[ai].md], k->secret, (int)k->len, in, inlen, mac, &maclen))
        return false;
    /* The length is public; the bytes are compared in constant time. */
    bool ok = maclen == siglen && CRYPTO_memcmp(mac, sig, siglen) == 0;
    OPENSSL_cleanse(mac, sizeof(mac));
    return ok;
}

/* JWS carries ECDSA signatures as R || S, each the curve's coordinate size (RFC 7518
 * section 3.4); OpenSSL wants DER. Returns a DER buffer (OPENSSL_free) or NULL. */
static unsigned char *ecdsa_der(const unsigned char *sig, size_t n, int *derlen)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)n, NULL), *s = BN_bin2bn(sig + n, (int)n, NULL);
    unsigned char *der = NULL;
    if (es && r && s && ECDSA_SIG_set0(es, r, s)) {
        r = s = NULL; /* owned by es now */
        *derlen = i2d_ECDSA_SIG(es, &der);
        if (*derlen <= 0) {
            OPENSSL_free(der);
            der = NULL;
        }
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return der;
}

static bool verify_pkey(const struct auth_verifier *v, const struct key *k, size_t ai,
                        const unsigned char *in, size_t inlen, const unsigned char *sig,
                        size_t siglen)
{
    unsigned char *der = NULL;
    if (k->family == FAM_ES) {
        int derlen = 0;
        if (siglen != 2 * k->ec_bytes || !(der = ecdsa_der(sig, k->ec_bytes, &derlen)))
            return false;
        sig = der;
        siglen = (size_t)derlen;
    }
    /* EdDSA signs the message itself: no separate digest. */
    const EVP_MD *md = algs[ai].md == MD_NONE ? NULL : v->md[algs[ai].md];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, md, NULL, k->pkey) == 1 &&
              EVP_DigestVerify(ctx, sig, siglen, in, inlen) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    return ok;
}

/* Compiles a JSON array of selector strings. Returns NULL when fine, else the reason. */
static const char *compile_selectors(json_t *arr, struct selector ***out, size_t *n)
{
    if (!arr || json_is_null(arr)) return NULL; /* Go encoders write empty lists as null */
    if (!json_is_array(arr)) return "malformed mercure claim";
    size_t count = json_array_size(arr);
    if (!count) return NULL;
    if (!(*out = calloc(count, sizeof(**out)))) return "out of memory";
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item)
    {
        if (!json_is_string(item)) return "malformed mercure claim";
        if (!((*out)[i] = selector_compile(json_string_value(item), json_string_length(item))))
            return "out of memory";
        *n = i + 1;
    }
    return NULL;
}

/* A NumericDate as whole seconds. Fractions round up, so that "now < exp" and "now >= nbf"
 * compare exactly as with the fractional value; out-of-range values saturate. */
static bool numeric_date(json_t *j, long long *out)
{
    if (json_is_integer(j)) {
        *out = json_integer_value(j);
        return true;
    }
    if (!json_is_real(j)) return false;
    double d = json_real_value(j);
    if (d >= 0x1p63) {
        *out = LLONG_MAX;
    } else if (d < -0x1p63) {
        *out = LLONG_MIN;
    } else {
        *out = (long long)d; /* towards zero, then up: ceil without libm */
        if ((double)*out < d) ++*out;
    }
    return true;
}

static bool read_claims(json_t *payload, long long now, struct auth_claims *out, const char **why)
{
    json_t *exp = json_object_get(payload, "exp"), *nbf = json_object_get(payload, "nbf");
    long long exp_at = 0, nbf_at = 0;
    if ((exp && !numeric_date(exp, &exp_at)) || (nbf && !numeric_date(nbf, &nbf_at))) {
        *why = "exp or nbf is not a number";
        return false;
    }
    if (exp && now >= exp_at) {
        *why = "token expired";
        return false;
    }
    if (nbf && now < nbf_at) {
        *why = "token not valid yet";
        return false;
    }
    out->exp = exp ? exp_at : 0;

    json_t *mercure = json_object_get(payload, "mercure");
    if (!mercure || json_is_null(mercure)) return true;
    if (!json_is_object(mercure)) {
        *why = "malformed mercure claim";
        return false;
    }
    const char *bad =
        compile_selectors(json_object_get(mercure, "publish"), &out->publish, &out->npublish);
    if (!bad)
        bad = compile_selectors(json_object_get(mercure, "subscribe"), &out->subscribe,
                                &out->nsubscribe);
    if (bad) {
        *why = bad;
        return false;
    }
    json_t *pl = json_object_get(mercure, "payload");
    if (pl && !json_is_null(pl) &&
        !(out->payload_json = json_dumps(pl, JSON_COMPACT | JSON_ENCODE_ANY))) {
        *why = "out of memory";
        return false;
    }
    return true;
}

static json_t *decode_json(const char *s, size_t n)
{
    size_t len;
    unsigned char *bytes = b64url_decode(s, n, &len);
    /* Duplicate members are refused: two parsers must never read two different claims. */
    json_error_t err;
    json_t *j = bytes ? json_loadb((const char *)bytes, len, JSON_REJECT_DUPLICATES, &err) : NULL;
    /* An integer beyond 64 bits (an exp of 1e19 written out) is still a JSON number: read such a
     * document with numbers as doubles, which NumericDate handling saturates. */
    if (bytes && !j && strstr(err.text, "too big"))
        j = json_loadb((const char *)bytes, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL,
                       NULL);
    free(bytes);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

bool auth_verify(const struct auth_verifier *v, const char *token, size_t len, long long now,
                 struct auth_claims *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    *why = "malformed token";
    if (!v || !token || len == 0 || len > MAX_TOKEN_BYTES) return false;
    const char *end = token + len;
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1))) return false;
    const char *sig64 = dot2 + 1;
    size_t hlen = (size_t)(dot1 - token), plen = (size_t)(dot2 - dot1 - 1);
    size_t slen = (size_t)(end - sig64);
    if (!hlen || !plen || !b64url_valid(dot1 + 1, plen)) return false;

    json_t *header = decode_json(token, hlen);
    if (!header) {
        *why = "malformed token header";
        return false;
    }
    json_t *jalg = json_object_get(header, "alg"), *jkid = json_object_get(header, "kid");
    const char *kid = json_string_value(jkid);
    int ai =
        json_is_string(jalg) ? alg_index(json_string_value(jalg), json_string_length(jalg)) : -1;
    bool bad_header = !json_is_string(jalg) || (jkid && !kid);
    /* No extension is understood, so any critical one must fail (RFC 7515 section 4.1.11). */
    bool crit = json_object_get(header, "crit") != NULL;
    bool none = json_is_string(jalg) && !strcasecmp(json_string_value(jalg), "none");
    if (bad_header || crit || none || ai < 0 || !(v->allowed & (1u << ai))) {
        *why = bad_header ? "malformed token header"
               : crit     ? "unsupported critical header"
               : none     ? "unsecured token (alg none)"
                          : "algorithm not allowed";
        json_decref(header);
        return false;
    }

    size_t siglen;
    unsigned char *sig = slen ? b64url_decode(sig64, slen, &siglen) : NULL;
    bool verified = false;
    for (size_t i = 0; sig && i < v->nkeys && !verified; i++) {
        const struct key *k = &v->keys[i];
        if (!key_fits(k, (size_t)ai) || (kid && k->kid && strcmp(kid, k->kid))) continue;
        const unsigned char *in = (const unsigned char *)token;
        size_t inlen = (size_t)(dot2 - token);
        verified = k->family == FAM_HS ? verify_hmac(v, k, (size_t)ai, in, inlen, sig, siglen)
                                       : verify_pkey(v, k, (size_t)ai, in, inlen, sig, siglen);
    }
    json_decref(header);
    if (!sig) {
        *why = "malformed token";
        return false;
    }
    free(sig);
    if (!verified) {
        *why = "invalid signature";
        return false;
    }

    /* Only signed claims get parsed. */
    json_t *payload = decode_json(dot1 + 1, plen);
    if (!payload) {
        *why = "malformed token claims";
        return false;
    }
    bool ok = read_claims(payload, now, out, why);
    json_decref(payload);
    if (!ok) auth_claims_free(out);
    return ok;
}

static bool any_match(struct selector *const *sels, size_t n, const char *topic, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (selector_match(sels[i], topic, len)) return true;
    return false;
}

bool auth_can_publish(const struct auth_claims *c, const char *topic, size_t len)
{
    return c && any_match(c->publish, c->npublish, topic, len);
}

bool auth_can_subscribe(const struct auth_claims *c, const char *topic, size_t len)
{
    return c && any_match(c->subscribe, c->nsubscribe, topic, len);
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* Cookie: name=value pairs separated by ";" (RFC 6265 section 5.4), read the way browsers
 * write them and leniently about spaces; a pair without "=" is skipped. */
bool auth_cookie_find(const char *header, size_t len, const char *name, const char **val,
                      size_t *vlen)
{
    if (!header || !name || !*name) return false;
    size_t nlen = strlen(name);
    const char *p = header, *end = header + len;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *pend = semi ? semi : end;
        const char *eq = memchr(p, '=', (size_t)(pend - p));
        if (eq) {
            const char *k = p, *kend = eq, *v = eq + 1, *vend = pend;
            while (k < kend && is_ws(*k))
                k++;
            while (kend > k && is_ws(kend[-1]))
                kend--;
            if ((size_t)(kend - k) == nlen && !memcmp(k, name, nlen)) {
                while (v < vend && is_ws(*v))
                    v++;
                while (vend > v && is_ws(vend[-1]))
                    vend--;
                if (vend - v >= 2 && *v == '"' && vend[-1] == '"') v++, vend--;
                *val = v;
                *vlen = (size_t)(vend - v);
                return true;
            }
        }
        if (!semi) break;
        p = semi + 1;
    }
    return false;
}
