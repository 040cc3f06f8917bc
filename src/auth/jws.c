/* JWS compact serialisation (RFC 7515): split, decode and check the signature of a token with
 * the verifier's keys, then hand the signed claims to claims.c.
 *
 * Signatures are checked with OpenSSL EVP on keys parsed once (keys.c). libjwt 1.10 is not used
 * here: its jwt_decode re-parses the PEM key on every call (about 0.5 ms on OpenSSL 3.0, ten
 * times the RSA verification itself, and free work for anyone sending junk), rejects any "typ"
 * other than "JWT" and has no EdDSA. Verification keeps its state on the stack and in per-call
 * OpenSSL contexts, so one verifier serves every worker thread at once. */
#include <jansson.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth.h"
#include "auth/claims.h"
#include "auth/keys.h"
#include "common/b64url.h"

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
    bool ok = claims_read(payload, now, out, why);
    json_decref(payload);
    if (!ok) auth_claims_free(out);
    return ok;
}
