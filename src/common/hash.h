/* The one string hash of the broker (topic tables, the history id index): FNV-1a, 32 bits. */
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

#endif
