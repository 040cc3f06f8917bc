#include "common/rand.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static _Thread_local uint64_t rng_state[2];

static uint64_t rng_next(void)
{
    if (!rng_state[0] && !rng_state[1]) {
        if (getrandom(rng_state, sizeof(rng_state), 0) != sizeof(rng_state)) {
            rng_state[0] = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&rng_state;
            rng_state[1] = 0x9e3779b97f4a7c15ULL;
        }
        rng_state[0] |= 1;
    }
    /* xorshift128+: ids need uniqueness, not secrecy. */
    uint64_t s1 = rng_state[0];
    const uint64_t s0 = rng_state[1];
    rng_state[0] = s0;
    s1 ^= s1 << 23;
    rng_state[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return rng_state[1] + s0;
}

/* The two lowercase hex digits of every byte value. */
#define HEX_ROW(h)                                                                                 \
    h "0" h "1" h "2" h "3" h "4" h "5" h "6" h "7" h "8" h "9" h "a" h "b" h "c" h "d" h "e" h "f"
static const char hex_pairs[] = HEX_ROW("0") HEX_ROW("1") HEX_ROW("2") HEX_ROW("3") HEX_ROW("4")
    HEX_ROW("5") HEX_ROW("6") HEX_ROW("7") HEX_ROW("8") HEX_ROW("9") HEX_ROW("a") HEX_ROW("b")
        HEX_ROW("c") HEX_ROW("d") HEX_ROW("e") HEX_ROW("f");

/* n bytes of b in hex at o, then a '-' unless last. */
static char *hex_group(char *o, const uint8_t *b, int n, bool last)
{
    for (int i = 0; i < n; i++, o += 2)
        memcpy(o, hex_pairs + 2 * b[i], 2);
    if (!last) *o++ = '-';
    return o;
}

void rand_urn_uuid(char out[RAND_URN_UUID_LEN + 1])
{
    uint8_t b[16];
    uint64_t a = rng_next(), c = rng_next();
    memcpy(b, &a, 8);
    memcpy(b + 8, &c, 8);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char *o = out;
    memcpy(o, "urn:uuid:", 9);
    o += 9;
    /* 8-4-4-4-12 hex digits: groups of 4, 2, 2, 2 and 6 bytes, unrolled by the compiler. */
    o = hex_group(o, b, 4, false);
    o = hex_group(o, b + 4, 2, false);
    o = hex_group(o, b + 6, 2, false);
    o = hex_group(o, b + 8, 2, false);
    o = hex_group(o, b + 10, 6, true);
    *o = 0;
}

void rand_fragment_id(char out[RAND_FRAGMENT_LEN + 1])
{
    static const char base64url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint64_t a = rng_next(), b = rng_next();
    out[0] = '#';
    for (int i = 1; i <= 10; i++, a >>= 6) /* 60 bits of a */
        out[i] = base64url[a & 63];
    out[11] = base64url[b & 63]; /* 12 of b: 72 in all */
    out[12] = base64url[(b >> 6) & 63];
    out[13] = 0;
}

size_t rand_event_id(bool uuid, char out[RAND_EVENT_ID_MAX + 1])
{
    if (uuid) {
        rand_urn_uuid(out);
        return RAND_URN_UUID_LEN;
    }
    rand_fragment_id(out);
    return RAND_FRAGMENT_LEN;
}
