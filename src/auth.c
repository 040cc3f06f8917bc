/* JWT (compact JWS) verification for Mercure publishers and subscribers.
 *
 * The algorithm is bound to the key, never taken from the token alone: a token is verified only
 * by keys of the family its "alg" names, and only when that alg is in the allowlist, so "none"
 * and key confusion (an HS256 token "signed" with an RSA public key) cannot pass. HS, RS and ES
 * signatures are checked by libjwt; EdDSA (which libjwt 1.10 lacks) and JWKS key import use
 * OpenSSL directly. Claims are read with jansson. */
#include "auth.h"

#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum family { FAM_HS, FAM_RS, FAM_ES, FAM_ED };

struct alg_info {
    const char *name;
    enum family family;
    jwt_alg_t jwt;
};

static const struct alg_info algs[] = {
    {"HS256", FAM_HS, JWT_ALG_HS256}, {"HS384", FAM_HS, JWT_ALG_HS384},
    {"HS512", FAM_HS, JWT_ALG_HS512}, {"RS256", FAM_RS, JWT_ALG_RS256},
    {"RS384", FAM_RS, JWT_ALG_RS384}, {"RS512", FAM_RS, JWT_ALG_RS512},
    {"ES256", FAM_ES, JWT_ALG_ES256}, {"ES384", FAM_ES, JWT_ALG_ES384},
    {"ES512", FAM_ES, JWT_ALG_ES512}, {"EdDSA", FAM_ED, JWT_ALG_NONE},
};
#define NALGS (sizeof(algs) / sizeof(algs[0]))

struct key {
    enum family family;
    unsigned char *bytes; /* HMAC secret, or PEM text for libjwt (RS, ES) */
    size_t len;
    EVP_PKEY *pkey; /* EdDSA */
    char *kid;      /* from a JWKS, or NULL */
};

struct auth_verifier {
    unsigned allowed; /* bit i: algs[i] */
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

/* Decodes unpadded base64url; returns a malloc'd buffer or NULL when malformed. */
static unsigned char *b64url_decode(const char *s, size_t n, size_t *out_len)
{
    while (n && s[n - 1] == '=') /* tolerate padding some encoders add */
        n--;
    if (n % 4 == 1) return NULL;
    unsigned char *out = malloc(n * 3 / 4 + 1);
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
    out[o] = 0;
    *out_len = o;
    return out;
}

/* ---- keys --------------------------------------------------------------------------------- */

static void key_clear(struct key *k)
{
    free(k->bytes);
    EVP_PKEY_free(k->pkey);
    free(k->kid);
}

void auth_verifier_free(struct auth_verifier *v)
{
    if (!v) return;
    for (size_t i = 0; i < v->nkeys; i++)
        key_clear(&v->keys[i]);
    free(v->keys);
    free(v);
}

static struct key *add_key(struct auth_verifier *v)
{
    struct key *n = realloc(v->keys, (v->nkeys + 1) * sizeof(*n));
    if (!n) return NULL;
    v->keys = n;
    memset(&n[v->nkeys], 0, sizeof(*n));
    return &n[v->nkeys++];
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (16u << 20)) { /* key files are small; refuse anything absurd */
                free(buf);
                fclose(f);
                return NULL;
            }
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

/* Stores pkey as a key of the right family (PEM for libjwt, or the EVP key for EdDSA). */
static int add_public_key(struct auth_verifier *v, EVP_PKEY *pkey, const char *kid, char *err,
                          size_t errlen)
{
    int id = EVP_PKEY_get_base_id(pkey);
    struct key *k = add_key(v);
    if (!k) {
        EVP_PKEY_free(pkey);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    k->kid = kid ? strdup(kid) : NULL;
    if (id == EVP_PKEY_ED25519) {
        k->family = FAM_ED;
        k->pkey = pkey;
        return 0;
    }
    if (id == EVP_PKEY_RSA)
        k->family = FAM_RS;
    else if (id == EVP_PKEY_EC)
        k->family = FAM_ES;
    else {
        EVP_PKEY_free(pkey);
        v->nkeys--;
        key_clear(k);
        snprintf(err, errlen, "unsupported public key type");
        return -1;
    }
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem;
    long plen;
    if (!bio || !PEM_write_bio_PUBKEY(bio, pkey) || (plen = BIO_get_mem_data(bio, &pem)) <= 0 ||
        !(k->bytes = malloc((size_t)plen + 1))) {
        BIO_free(bio);
        EVP_PKEY_free(pkey);
        v->nkeys--;
        key_clear(k);
        snprintf(err, errlen, "cannot encode public key");
        return -1;
    }
    memcpy(k->bytes, pem, (size_t)plen);
    k->bytes[plen] = 0;
    k->len = (size_t)plen;
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    return 0;
}

static int add_pem(struct auth_verifier *v, const char *pem, size_t len, char *err, size_t errlen)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!pkey) {
        snprintf(err, errlen, "not a PEM public key");
        return -1;
    }
    return add_public_key(v, pkey, NULL, err, errlen);
}

static unsigned char *jwk_bytes(json_t *jwk, const char *member, size_t *len)
{
    const char *s = json_string_value(json_object_get(jwk, member));
    return s ? b64url_decode(s, strlen(s), len) : NULL;
}

static EVP_PKEY *jwk_rsa(json_t *jwk)
{
    size_t nl, el;
    unsigned char *n = jwk_bytes(jwk, "n", &nl), *e = jwk_bytes(jwk, "e", &el);
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *bn = n ? BN_bin2bn(n, (int)nl, NULL) : NULL,
           *be = e ? BN_bin2bn(e, (int)el, NULL) : NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (bld && bn && be && ctx && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) &&
        (params = OSSL_PARAM_BLD_to_param(bld)) && EVP_PKEY_fromdata_init(ctx) > 0)
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    BN_free(bn);
    BN_free(be);
    free(n);
    free(e);
    return pkey;
}

static EVP_PKEY *jwk_ec(json_t *jwk)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    const char *group = !crv                    ? NULL
                        : !strcmp(crv, "P-256") ? "prime256v1"
                        : !strcmp(crv, "P-384") ? "secp384r1"
                        : !strcmp(crv, "P-521") ? "secp521r1"
                                                : NULL;
    size_t xl, yl;
    unsigned char *x = jwk_bytes(jwk, "x", &xl), *y = jwk_bytes(jwk, "y", &yl);
    EVP_PKEY *pkey = NULL;
    if (group && x && y && xl == yl && xl <= 66) {
        unsigned char point[1 + 2 * 66];
        point[0] = 0x04; /* uncompressed */
        memcpy(point + 1, x, xl);
        memcpy(point + 1 + xl, y, yl);
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0),
            OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * xl),
            OSSL_PARAM_construct_end()};
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        if (ctx && EVP_PKEY_fromdata_init(ctx) > 0)
            EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
        EVP_PKEY_CTX_free(ctx);
    }
    free(x);
    free(y);
    return pkey;
}

static int load_jwks(struct auth_verifier *v, const char *path, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    json_t *keys = root ? json_object_get(root, "keys") : NULL;
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
        const char *kid = json_string_value(json_object_get(jwk, "kid"));
        int rc = -1;
        if (kty && !strcmp(kty, "oct")) {
            size_t len;
            unsigned char *secret = jwk_bytes(jwk, "k", &len);
            struct key *k = secret ? add_key(v) : NULL;
            if (k) {
                k->family = FAM_HS;
                k->bytes = secret;
                k->len = len;
                k->kid = kid ? strdup(kid) : NULL;
                rc = 0;
            } else {
                free(secret);
            }
        } else if (kty && (!strcmp(kty, "RSA") || !strcmp(kty, "EC") || !strcmp(kty, "OKP"))) {
            EVP_PKEY *pkey = NULL;
            if (!strcmp(kty, "RSA")) {
                pkey = jwk_rsa(jwk);
            } else if (!strcmp(kty, "EC")) {
                pkey = jwk_ec(jwk);
            } else {
                const char *crv = json_string_value(json_object_get(jwk, "crv"));
                size_t xl;
                unsigned char *x = jwk_bytes(jwk, "x", &xl);
                if (crv && !strcmp(crv, "Ed25519") && x && xl == 32)
                    pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xl);
                free(x);
            }
            if (pkey) rc = add_public_key(v, pkey, kid, err, errlen);
        }
        if (rc) {
            snprintf(err, errlen, "JWKS %s: key %zu is invalid or unsupported", path, i);
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
    bool hmac_only = true;
    const char *p = alg_list ? alg_list : "HS256";
    while (*p) {
        while (*p == ',' || *p == ' ')
            p++;
        size_t n = strcspn(p, ", ");
        if (!n) break;
        size_t i;
        for (i = 0; i < NALGS; i++)
            if (strlen(algs[i].name) == n && !strncmp(algs[i].name, p, n)) break;
        if (i == NALGS) {
            snprintf(err, errlen, "unsupported JWT algorithm \"%.*s\"", (int)n, p);
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
        if (hmac_only) {
            struct key *k = add_key(v);
            if (!k || !(k->bytes = (unsigned char *)strdup(key))) goto oom;
            k->family = FAM_HS;
            k->len = strlen(key);
        } else if (!strncmp(key, "-----BEGIN", 10)) {
            if (add_pem(v, key, strlen(key), err, errlen)) goto fail;
        } else {
            size_t len;
            char *pem = read_file(key, &len);
            if (!pem) {
                snprintf(err, errlen, "cannot read key file %s: %s", key, strerror(errno));
                goto fail;
            }
            int rc = add_pem(v, pem, len, err, errlen);
            free(pem);
            if (rc) goto fail;
        }
    }
    if (jwks_path && *jwks_path && load_jwks(v, jwks_path, err, errlen)) goto fail;
    if (!v->nkeys) {
        snprintf(err, errlen, "no JWT key configured");
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
    for (size_t i = 0; i < c->npublish; i++)
        selector_free(c->publish[i]);
    for (size_t i = 0; i < c->nsubscribe; i++)
        selector_free(c->subscribe[i]);
    free(c->publish);
    free(c->subscribe);
    free(c->payload_json);
    memset(c, 0, sizeof(*c));
}

static bool verify_eddsa(EVP_PKEY *pkey, const char *input, size_t input_len, const char *sig64,
                         size_t sig64_len)
{
    size_t sig_len;
    unsigned char *sig = b64url_decode(sig64, sig64_len, &sig_len);
    if (!sig) return false;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
              EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)input, input_len) == 1;
    EVP_MD_CTX_free(ctx);
    free(sig);
    return ok;
}

/* Compiles a JSON array of selector strings; false when the claim has the wrong shape. */
static bool compile_selectors(json_t *arr, struct selector ***out, size_t *n)
{
    if (!json_is_array(arr)) return false;
    size_t count = json_array_size(arr);
    *out = count ? calloc(count, sizeof(**out)) : NULL;
    if (count && !*out) return false;
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item)
    {
        if (!json_is_string(item)) return false;
        (*out)[i] = selector_compile(json_string_value(item), json_string_length(item));
        if (!(*out)[i]) return false;
        *n = i + 1;
    }
    return true;
}

static bool read_claims(json_t *payload, long long now, struct auth_claims *out, const char **why)
{
    json_t *exp = json_object_get(payload, "exp"), *nbf = json_object_get(payload, "nbf");
    if ((exp && !json_is_number(exp)) || (nbf && !json_is_number(nbf))) {
        *why = "exp or nbf is not a number";
        return false;
    }
    if (exp && json_number_value(exp) <= (double)now) {
        *why = "token expired";
        return false;
    }
    if (nbf && json_number_value(nbf) > (double)now) {
        *why = "token not valid yet";
        return false;
    }
    out->exp = exp ? (long long)json_number_value(exp) : 0;
    json_t *mercure = json_object_get(payload, "mercure");
    if (!mercure) return true;
    if (!json_is_object(mercure)) {
        *why = "mercure claim is not an object";
        return false;
    }
    json_t *pub = json_object_get(mercure, "publish"), *sub = json_object_get(mercure, "subscribe");
    if ((pub && !compile_selectors(pub, &out->publish, &out->npublish)) ||
        (sub && !compile_selectors(sub, &out->subscribe, &out->nsubscribe))) {
        *why = "mercure.publish or mercure.subscribe is not an array of strings";
        return false;
    }
    json_t *pl = json_object_get(mercure, "payload");
    if (pl && !(out->payload_json = json_dumps(pl, JSON_COMPACT | JSON_ENCODE_ANY))) {
        *why = "out of memory";
        return false;
    }
    return true;
}

bool auth_verify(const struct auth_verifier *v, const char *token, size_t len, long long now,
                 struct auth_claims *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    *why = "malformed token";
    if (len == 0 || len > 16384) return false;
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot1 || !dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) ||
        dot2 + 1 == token + len || dot1 == token || dot2 == dot1 + 1)
        return false;

    size_t hlen, plen;
    unsigned char *hbytes = b64url_decode(token, (size_t)(dot1 - token), &hlen);
    json_t *header = hbytes ? json_loadb((const char *)hbytes, hlen, 0, NULL) : NULL;
    free(hbytes);
    const char *alg = json_string_value(json_object_get(header, "alg"));
    const char *kid = json_string_value(json_object_get(header, "kid"));
    size_t ai = NALGS;
    for (size_t i = 0; alg && i < NALGS; i++)
        if (!strcmp(algs[i].name, alg)) ai = i;
    if (ai == NALGS || !(v->allowed & (1u << ai))) {
        json_decref(header);
        *why = "algorithm not allowed";
        return false;
    }

    char *copy = strndup(token, len); /* libjwt wants a C string */
    bool verified = false;
    for (size_t k = 0; copy && k < v->nkeys && !verified; k++) {
        const struct key *key = &v->keys[k];
        if (key->family != algs[ai].family || (kid && key->kid && strcmp(kid, key->kid))) continue;
        if (key->family == FAM_ED) {
            verified = verify_eddsa(key->pkey, token, (size_t)(dot2 - token), dot2 + 1,
                                    len - (size_t)(dot2 + 1 - token));
        } else {
            jwt_t *jwt = NULL;
            verified = jwt_decode(&jwt, copy, key->bytes, (int)key->len) == 0 && jwt &&
                       jwt_get_alg(jwt) == algs[ai].jwt;
            jwt_free(jwt);
        }
    }
    free(copy);
    json_decref(header);
    if (!verified) {
        *why = "invalid signature";
        return false;
    }

    unsigned char *pbytes = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &plen);
    json_t *payload = pbytes ? json_loadb((const char *)pbytes, plen, 0, NULL) : NULL;
    free(pbytes);
    bool ok = json_is_object(payload) && read_claims(payload, now, out, why);
    json_decref(payload);
    if (!ok) auth_claims_free(out);
    return ok;
}

static bool any_match(struct selector **sels, size_t n, const char *topic, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (selector_match(sels[i], topic, len)) return true;
    return false;
}

bool auth_can_publish(const struct auth_claims *c, const char *topic, size_t len)
{
    return any_match(c->publish, c->npublish, topic, len);
}

bool auth_can_subscribe(const struct auth_claims *c, const char *topic, size_t len)
{
    return any_match(c->subscribe, c->nsubscribe, topic, len);
}

bool auth_cookie_find(const char *header, size_t len, const char *name, const char **val,
                      size_t *vlen)
{
    size_t nlen = strlen(name);
    const char *p = header, *end = header + len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ';' || *p == '\t'))
            p++;
        const char *eq = memchr(p, '=', (size_t)(end - p));
        const char *semi = memchr(p, ';', (size_t)(end - p));
        if (!semi) semi = end;
        if (eq && eq < semi) {
            const char *kend = eq;
            while (kend > p && (kend[-1] == ' ' || kend[-1] == '\t'))
                kend--;
            if ((size_t)(kend - p) == nlen && !memcmp(p, name, nlen)) {
                const char *v = eq + 1, *vend = semi;
                while (v < vend && *v == ' ')
                    v++;
                while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
                    vend--;
                if (vend - v >= 2 && *v == '"' && vend[-1] == '"') v++, vend--;
                *val = v;
                *vlen = (size_t)(vend - v);
                return true;
            }
        }
        p = semi + 1;
    }
    return false;
}
