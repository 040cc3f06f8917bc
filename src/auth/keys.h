/* Inside auth/: the algorithm table and the verifier's keys, shared by key loading (keys.c) and
 * signature checking (jws.c). */
#ifndef SSEB_AUTH_KEYS_H
#define SSEB_AUTH_KEYS_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>

#define MAX_TOKEN_BYTES (64 * 1024) /* the default limit on all request headers together */

enum family { FAM_HS, FAM_RS, FAM_ES, FAM_ED };
enum digest { MD_SHA256, MD_SHA384, MD_SHA512, MD_NONE };

struct alg_info {
    const char *name;
    enum family family;
    enum digest md;
    size_t ec_bytes; /* ES: size of one coordinate (R and S each), which pins the curve */
};

/* Every algorithm the broker knows, in a fixed order: a verifier's allowlist is a bit set over it.
 */
extern const struct alg_info algs[];
#define NALGS 10

struct key {
    enum family family;
    int alg;               /* index in algs when the JWK names one ("alg"), else -1 */
    size_t ec_bytes;       /* ES: coordinate size of the key's curve */
    unsigned char *secret; /* HS */
    size_t len;
    EVP_PKEY *pkey; /* RS, ES, EdDSA */
    char *kid;      /* from a JWKS, or NULL */
};

/* A trusted issuer of 1.0 tokens and the keys bound to it: keys[first, first + n) of its
 * verifier. With today's configuration every issuer is bound to all of the verifier's keys; a
 * per-issuer key set (its own JWKS) only has to append its keys and narrow the range. */
struct issuer {
    char *iss;
    size_t len;
    size_t first, n;
};

struct auth_verifier {
    unsigned allowed; /* bit i: algs[i] */
    EVP_MD *md[3];    /* fetched once: per-call implicit fetches cost a lookup and a lock */
    struct key *keys;
    size_t nkeys;
    unsigned accept; /* AUTH_ACCEPT_* */
    char *resource;  /* 1.0: the resource identifier (aud, URL pattern base); NULL: none */
    size_t resource_len;
    struct issuer *issuers; /* 1.0: the trusted issuers */
    size_t nissuers;
    unsigned long long generation; /* auth_verifier_generation */
};

/* A fresh verifier generation (process-wide counter, thread-safe). */
unsigned long long verifier_generation_next(void);

/* The index in algs of the algorithm named name[0..n), or -1. */
int alg_index(const char *name, size_t n);
/* True when key k may check a token signed with algs[ai] (family, and curve for ES). */
bool key_fits(const struct key *k, size_t ai);

#endif
