/* Token building for the unit tests: base64url (RFC 4648 section 5, no padding) and HS256
 * signing with OpenSSL, independent of the code under test. Header-only: each test binary
 * includes it once. */
#ifndef SSEB_TESTS_UNIT_SUPPORT_JWS_SIGN_H
#define SSEB_TESTS_UNIT_SUPPORT_JWS_SIGN_H

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* data[0..n) in base64url, NUL-terminated (malloc'd). */
static inline char *b64url(const void *data, size_t n)
{
    char *out = malloc(n / 3 * 4 + 8);
    cr_assert_not_null(out);
    int len = EVP_EncodeBlock((unsigned char *)out, data, (int)n);
    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = 0;
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

/* An HS256 token of header and claims (JSON texts) signed with secret (malloc'd). */
static inline char *hs256(const char *secret, const char *header, const char *claims)
{
    char *h = b64url(header, strlen(header)), *c = b64url(claims, strlen(claims));
    size_t n = strlen(h) + strlen(c) + 2;
    char *in = malloc(n);
    cr_assert_not_null(in);
    snprintf(in, n, "%s.%s", h, c);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen;
    cr_assert_not_null(HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)in,
                            strlen(in), mac, &maclen));
    char *sig = b64url(mac, maclen);
    size_t tn = strlen(in) + strlen(sig) + 2;
    char *tok = malloc(tn);
    cr_assert_not_null(tok);
    snprintf(tok, tn, "%s.%s", in, sig);
    free(h);
    free(c);
    free(in);
    free(sig);
    return tok;
}

#endif
