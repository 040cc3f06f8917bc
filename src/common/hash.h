/* The string hashes of the broker: FNV-1a, 32 bits (the subscriptions registry) and 64 bits (the
 * embedded log's id index, which keeps hashes instead of ids), and a word-at-a-time one (the
 * history id index, topics). */
#ifndef SSEB_COMMON_HASH_H
#define SSEB_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

/* For in-memory tables keyed by long strings (event ids: a generated urn:uuid is 45 bytes, which
 * FNV-1a takes a multiply per byte for): 8 bytes per multiply, then a final mix (MurmurHash3's)
 * so that the low bits, the table index, depend on every byte. Kept nowhere: free to change. */
static inline uint32_t hash_words(const char *s, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
    for (; len >= 8; s += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 29;
    }
    uint64_t tail = 0;
    for (size_t i = 0; i < len; i++)
        tail |= (uint64_t)(unsigned char)s[i] << (8 * i);
    h = (h ^ tail) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return (uint32_t)h;
}

/* The hash of a topic's text: an event's topics (core/event.c) and the topic index's groups
 * (core/topic_index.c) must agree on it. */
static inline uint32_t hash_topic(const char *s, size_t len)
{
    return hash_words(s, len);
}

#endif
