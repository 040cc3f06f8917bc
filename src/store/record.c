#include "store/record.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/crc32c.h"
#include "core/event.h"

#define BODY_FIXED 20 /* time, flags, pad, topic count, id and wire lengths */

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

size_t record_size(const struct event *ev)
{
    size_t n = LOG_RECORD_HEADER + BODY_FIXED + 4 * (size_t)ev->ntopics;
    for (size_t i = 0; i < ev->ntopics; i++)
        n += ev->topics[i].len;
    return n + ev->id_len + ev->wire_len;
}

bool record_fits(const struct event *ev)
{
    return record_size(ev) - LOG_RECORD_HEADER <= LOG_RECORD_MAX_BODY;
}

size_t record_encode(uint8_t *out, const struct event *ev, uint64_t time_ms)
{
    uint8_t *b = out + LOG_RECORD_HEADER;
    put64(b, time_ms);
    b[8] = ev->private_ ? 1 : 0;
    b[9] = 0;
    b[10] = (uint8_t)ev->ntopics;
    b[11] = (uint8_t)(ev->ntopics >> 8);
    put32(b + 12, ev->id_len);
    put32(b + 16, ev->wire_len);
    uint8_t *p = b + BODY_FIXED;
    for (size_t i = 0; i < ev->ntopics; i++, p += 4)
        put32(p, ev->topics[i].len);
    for (size_t i = 0; i < ev->ntopics; i++) {
        memcpy(p, ev->topics[i].s, ev->topics[i].len);
        p += ev->topics[i].len;
    }
    memcpy(p, ev->id, ev->id_len);
    p += ev->id_len;
    memcpy(p, ev->wire, ev->wire_len);
    p += ev->wire_len;
    size_t body = (size_t)(p - b);
    put32(out, (uint32_t)body);
    put32(out + 4, crc32c(0, b, body));
    return (size_t)(p - out);
}

enum record_status record_decode(const uint8_t *p, size_t avail, struct log_record *out,
                                 struct sseb_str *topics, size_t max_topics, size_t *used)
{
    if (avail < LOG_RECORD_HEADER) return RECORD_TRUNCATED;
    uint32_t body = get32(p);
    if (body < BODY_FIXED || body > LOG_RECORD_MAX_BODY) return RECORD_CORRUPT;
    if (avail - LOG_RECORD_HEADER < body) return RECORD_TRUNCATED;
    const uint8_t *b = p + LOG_RECORD_HEADER;
    if (crc32c(0, b, body) != get32(p + 4)) return RECORD_CORRUPT;
    size_t ntopics = (size_t)b[10] | (size_t)b[11] << 8;
    if (b[9] != 0 || b[8] > 1 || ntopics == 0 || ntopics > max_topics) return RECORD_CORRUPT;
    uint64_t id_len = get32(b + 12), wire_len = get32(b + 16);
    uint64_t total = BODY_FIXED + 4 * (uint64_t)ntopics;
    if (total > body) return RECORD_CORRUPT;
    total += id_len + wire_len;
    const uint8_t *tl = b + BODY_FIXED;
    for (size_t i = 0; i < ntopics; i++)
        total += get32(tl + 4 * i);
    if (total != body) return RECORD_CORRUPT;
    const char *q = (const char *)(tl + 4 * ntopics);
    for (size_t i = 0; i < ntopics; i++) {
        topics[i] = (struct sseb_str){q, get32(tl + 4 * i)};
        q += topics[i].len;
    }
    out->id = (struct sseb_str){q, (size_t)id_len};
    out->wire = (struct sseb_str){q + id_len, (size_t)wire_len};
    if (id_len == 0 || wire_len == 0) return RECORD_CORRUPT;
    out->time_ms = get64(b);
    out->topics = topics;
    out->ntopics = ntopics;
    out->private_ = b[8] == 1;
    *used = LOG_RECORD_HEADER + body;
    return RECORD_OK;
}

void segment_header_encode(uint8_t out[LOG_SEGMENT_HEADER], uint64_t first_record)
{
    memcpy(out, LOG_SEGMENT_MAGIC, 8);
    put64(out + 8, first_record);
}

bool segment_header_decode(const uint8_t *p, size_t avail, uint64_t *first_record)
{
    if (avail < LOG_SEGMENT_HEADER || memcmp(p, LOG_SEGMENT_MAGIC, 8) != 0) return false;
    *first_record = get64(p + 8);
    return true;
}

void segment_name(char out[LOG_SEGMENT_NAME_LEN], uint64_t first, const char *suffix)
{
    snprintf(out, LOG_SEGMENT_NAME_LEN, "%020" PRIu64 "%s", first, suffix);
}
