/* Word-at-a-time byte tests (SWAR): the scans of the publish path (UTF-8 checks, SSE line
 * breaks, form escapes) look at 8 bytes per step where nothing is found. Each test answers
 * exactly whether some byte of the word qualifies; which byte, the caller finds by looking at
 * them one at a time (a borrow can mark a later byte too). */
#ifndef SSEB_COMMON_SWAR_H
#define SSEB_COMMON_SWAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SWAR_ONES 0x0101010101010101ull
#define SWAR_HIGH 0x8080808080808080ull

static inline uint64_t swar_load(const void *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof(w));
    return w;
}

/* Some byte of w is below n (n <= 128). Without one, nothing borrows and no high bit comes out;
 * the lowest such byte wraps to 128 or more from below 128, so its high bit does. */
static inline bool swar_has_less(uint64_t w, unsigned n)
{
    return ((w - SWAR_ONES * n) & ~w & SWAR_HIGH) != 0;
}

/* Some byte of w is c. */
static inline bool swar_has(uint64_t w, unsigned char c)
{
    return swar_has_less(w ^ (SWAR_ONES * c), 1);
}

/* Every byte of w is ASCII (below 0x80). */
static inline bool swar_ascii(uint64_t w)
{
    return (w & SWAR_HIGH) == 0;
}

/* The bytes of w equal to c, as their high bits: the lowest one set is the first such byte
 * (bits above it may be set by a borrow where there is none). */
static inline uint64_t swar_eq_mask(uint64_t w, unsigned char c)
{
    uint64_t x = w ^ (SWAR_ONES * c);
    return (x - SWAR_ONES) & ~x & SWAR_HIGH;
}

/* The first a or b in [p, end), or end. */
static inline const char *swar_find2(const char *p, const char *end, char a, char b)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (end - p >= 8) {
        for (;;) {
            uint64_t w = swar_load(p);
            uint64_t m = swar_eq_mask(w, (unsigned char)a) | swar_eq_mask(w, (unsigned char)b);
            if (m) return p + (__builtin_ctzll(m) >> 3); /* the first byte in memory order */
            p += 8;
            if (p == end) return end;
            if (end - p < 8) {
                /* The last 8 bytes: those before p are known to hold neither a nor b. */
                p = end - 8;
                w = swar_load(p);
                m = swar_eq_mask(w, (unsigned char)a) | swar_eq_mask(w, (unsigned char)b);
                return m ? p + (__builtin_ctzll(m) >> 3) : end;
            }
        }
    }
#else
    while (end - p >= 8) {
        uint64_t w = swar_load(p);
        if (swar_has(w, (unsigned char)a) || swar_has(w, (unsigned char)b)) break;
        p += 8;
    }
#endif
    while (p < end && *p != a && *p != b)
        p++;
    return p;
}

#endif
