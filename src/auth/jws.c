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
#include "auth/token08.h"
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

/* Tries keys[first, first + n) of v on the signing input in[0..inlen). */
static bool signature_ok(const struct auth_verifier *v, size_t first, size_t n, int ai,
                         const char *kid, const unsigned char *in, size_t inlen,
                         const unsigned char *sig, size_t siglen)
{
    for (size_t i = first; i < first + n && i < v->nkeys; i++) {
        const struct key *k = &v->keys[i];
        if (!key_fits(k, (size_t)ai) || (kid && k->kid && strcmp(kid, k->kid))) continue;
        if (k->family == FAM_HS ? verify_hmac(v, k, (size_t)ai, in, inlen, sig, siglen)
                                : verify_pkey(v, k, (size_t)ai, in, inlen, sig, siglen))
            return true;
    }
    return false;
}

/* The dialect the header's "typ" names: at+jwt or application/at+jwt, compared without the
 * "application/" prefix and case-insensitively (RFC 7515 section 4.1.9, RFC 9068), is 1.0;
 * anything else, or no typ, is draft-07. NONE when typ is not a string. */
static enum auth_dialect header_dialect(json_t *header)
{
    json_t *jtyp = json_object_get(header, "typ");
    if (!jtyp) return AUTH_DIALECT_07;
    if (!json_is_string(jtyp)) return AUTH_DIALECT_NONE;
    const char *typ = json_string_value(jtyp);
    size_t n = json_string_length(jtyp);
    if (n > 12 && !strncasecmp(typ, "application/", 12)) typ += 12, n -= 12;
    return n == 6 && !strncasecmp(typ, "at+jwt", 6) && !memchr(typ, 0, n) ? AUTH_DIALECT_08
                                                                          : AUTH_DIALECT_07;
}

enum auth_dialect auth_token_dialect(const char *token, size_t len)
{
    const char *dot = token && len <= MAX_TOKEN_BYTES ? memchr(token, '.', len) : NULL;
    json_t *header = dot && dot > token ? decode_json(token, (size_t)(dot - token)) : NULL;
    enum auth_dialect d = header ? header_dialect(header) : AUTH_DIALECT_NONE;
    json_decref(header);
    return d;
}

static bool verify(const struct auth_verifier *v, const char *token, size_t len, long long now,
                   struct auth_claims *out, const char **why)
{
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
    out->dialect = header_dialect(header);
    json_t *jalg = json_object_get(header, "alg"), *jkid = json_object_get(header, "kid");
    const char *kid = json_string_value(jkid);
    int ai =
        json_is_string(jalg) ? alg_index(json_string_value(jalg), json_string_length(jalg)) : -1;
    bool bad_header = !json_is_string(jalg) || (jkid && !kid) || !out->dialect;
    /* No extension is understood, so any critical one must fail (RFC 7515 section 4.1.11). */
    bool crit = json_object_get(header, "crit") != NULL;
    bool none = json_is_string(jalg) && !strcasecmp(json_string_value(jalg), "none");
    /* The binding rule: a token is judged by its own dialect's rules or not at all. */
    bool off = !bad_header &&
               !(v->accept & (out->dialect == AUTH_DIALECT_08 ? AUTH_ACCEPT_08 : AUTH_ACCEPT_07));
    if (bad_header || crit || none || off || ai < 0 || !(v->allowed & (1u << ai))) {
        *why = bad_header                        ? "malformed token header"
               : crit                            ? "unsupported critical header"
               : none                            ? "unsecured token (alg none)"
               : !off                            ? "algorithm not allowed"
               : out->dialect == AUTH_DIALECT_08 ? "Mercure 1.0 (at+jwt) tokens are not accepted"
                                                 : "draft-07 tokens are not accepted";
        json_decref(header);
        return false;
    }

    /* A 1.0 token is checked only with the keys of its issuer, so its claims are read first
     * (still untrusted: nothing but "iss" is looked at before the signature holds). */
    json_t *payload = NULL;
    size_t first = 0, nkeys = v->nkeys;
    if (out->dialect == AUTH_DIALECT_08) {
        const struct issuer *is = NULL;
        if ((payload = decode_json(dot1 + 1, plen)))
            is = token08_issuer(v, payload, why);
        else
            *why = "malformed token claims";
        if (!is) {
            json_decref(payload);
            json_decref(header);
            return false;
        }
        first = is->first, nkeys = is->n;
    }

    size_t siglen;
    unsigned char *sig = slen ? b64url_decode(sig64, slen, &siglen) : NULL;
    bool verified = sig && signature_ok(v, first, nkeys, ai, kid, (const unsigned char *)token,
                                        (size_t)(dot2 - token), sig, siglen);
    bool sig_read = sig != NULL;
    json_decref(header);
    free(sig);
    if (!verified) {
        *why = sig_read ? "invalid signature" : "malformed token";
        json_decref(payload);
        return false;
    }

    /* Draft-07: only signed claims get parsed. */
    if (!payload && !(payload = decode_json(dot1 + 1, plen))) {
        *why = "malformed token claims";
        return false;
    }
    bool ok = out->dialect == AUTH_DIALECT_08 ? token08_read(v, payload, now, out, why)
                                              : claims_read(payload, now, out, why);
    json_decref(payload);
    return ok;
}

bool auth_verify(const struct auth_verifier *v, const char *token, size_t len, long long now,
                 struct auth_claims *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    if (verify(v, token, len, now, out, why)) return true;
    enum auth_dialect d = out->dialect;
    auth_claims_free(out);
    out->dialect = d;
    return false;
}
