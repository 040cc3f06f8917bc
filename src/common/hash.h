/* The string hashes of the broker: FNV-1a, 32 bits (topic tables, the history id index) and 64
 * bits (the embedded log's id index, which keeps hashes instead of ids). */
#ifndef SSEB_COMMON_HASH_H
#define SSEB_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t hash_fnv1a(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static inline uint64_t hash_fnv1a64(const char *s, size_t len)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

#endif
