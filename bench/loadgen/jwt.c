/* The publisher token: HS256 JWT (RFC 7519) over the given claims, signed with OpenSSL's HMAC,
 * the same library the broker verifies with. */
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "loadgen.h"

static size_t b64url(char *out, const uint8_t *in, size_t len)
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len) v |= in[i + 2];
        out[o++] = A[(v >> 18) & 63];
        out[o++] = A[(v >> 12) & 63];
        if (i + 1 < len) out[o++] = A[(v >> 6) & 63];
        if (i + 2 < len) out[o++] = A[v & 63];
    }
    out[o] = '\0';
    return o;
}

char *make_jwt(const char *key, const char *claims)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    size_t cl = strlen(claims);
    char *tok = malloc(sizeof header * 2 + cl * 2 + 64);
    if (!tok) die("out of memory");
    size_t n = b64url(tok, (const uint8_t *)header, sizeof header - 1);
    tok[n++] = '.';
    n += b64url(tok + n, (const uint8_t *)claims, cl);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (!HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)tok, n, mac, &mac_len))
        die("HMAC-SHA256 failed");
    tok[n++] = '.';
    b64url(tok + n, mac, mac_len);
    return tok;
}
