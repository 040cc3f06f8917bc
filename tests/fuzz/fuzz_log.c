/* libFuzzer target: the embedded log's reader (src/store/record.c) on arbitrary bytes, read the
 * way recovery reads a segment file: a header, then records until the first that is not valid.
 *
 * Odd-length inputs get their records' checksums repaired before reading, so that mutations also
 * reach the structure checks behind the checksum.
 *
 * Checked besides the sanitizers: a decoded record lies inside the input and its fields inside
 * the record; a truncated record is a prefix the reader never reads past; every valid record
 * rebuilds into an event whose record encodes back to the very same bytes (so recovery loads
 * exactly what was written, and a checksum guards every byte). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "core/event.h"
#include "store/record.h"

static struct sseb_str topics[LOG_RECORD_MAX_TOPICS];

static void check_inside(const struct sseb_str *s, const uint8_t *lo, const uint8_t *hi)
{
    if (s->len && ((const uint8_t *)s->p < lo || (const uint8_t *)s->p + s->len > hi)) abort();
}

/* Gives every record of buf a correct checksum, so that mutations reach the structure checks
 * behind it (the checksum alone would stop almost all of them). */
static void fix_checksums(uint8_t *buf, size_t size, size_t off)
{
    while (off + LOG_RECORD_HEADER <= size) {
        uint32_t body = (uint32_t)buf[off] | (uint32_t)buf[off + 1] << 8 |
                        (uint32_t)buf[off + 2] << 16 | (uint32_t)buf[off + 3] << 24;
        if (body > size - off - LOG_RECORD_HEADER) break;
        uint32_t c = crc32c(0, buf + off + LOG_RECORD_HEADER, body);
        for (int i = 0; i < 4; i++)
            buf[off + 4 + i] = (uint8_t)(c >> (8 * i));
        off += LOG_RECORD_HEADER + body;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t size)
{
    /* Odd-length inputs are read with their checksums repaired first. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) abort();
    memcpy(copy, input, size);
    const uint8_t *data = copy;
    uint64_t first;
    size_t off = 0;
    if (size & 1) fix_checksums(copy, size, segment_header_decode(copy, size, &first) ? 16 : 0);
    if (segment_header_decode(data, size, &first)) off = LOG_SEGMENT_HEADER;
    while (off < size) {
        struct log_record r;
        size_t used = 0;
        enum record_status st =
            record_decode(data + off, size - off, &r, topics, LOG_RECORD_MAX_TOPICS, &used);
        if (st != RECORD_OK) break;
        if (used < LOG_RECORD_HEADER || used > size - off) abort();
        const uint8_t *lo = data + off, *hi = data + off + used;
        check_inside(&r.id, lo, hi);
        check_inside(&r.wire, lo, hi);
        for (size_t i = 0; i < r.ntopics; i++)
            check_inside(&r.topics[i], lo, hi);
        struct event *ev = event_new_encoded(r.topics, r.ntopics, r.id, r.wire, r.private_);
        if (ev) {
            size_t n = record_size(ev);
            if (n != used) abort();
            uint8_t *again = malloc(n);
            if (!again) abort();
            if (record_encode(again, ev, r.time_ms) != n || memcmp(again, lo, n) != 0) abort();
            free(again);
            event_unref(ev);
        }
        off += used;
    }
    free(copy);
    return 0;
}
