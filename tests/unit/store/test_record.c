/* The log's record format: what is written reads back byte for byte; a cut or a flipped bit is
 * recognised as such. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "store/record.h"

static struct event *sample(void)
{
    struct sseb_str topics[2] = {{"https://ex/a", 12}, {"alt", 3}};
    struct sseb_update u = {.topics = topics,
                            .ntopics = 2,
                            .id = {"id-1", 4},
                            .data = {"hello\nworld", 11},
                            .type = {"t", 1},
                            .private_ = true};
    return event_new(&u);
}

Test(record, round_trip)
{
    struct event *ev = sample();
    size_t n = record_size(ev);
    uint8_t *buf = malloc(n);
    cr_assert_eq(record_encode(buf, ev, 1234567), n);
    struct log_record r;
    struct sseb_str topics[4];
    size_t used;
    cr_assert_eq(record_decode(buf, n, &r, topics, 4, &used), RECORD_OK);
    cr_assert_eq(used, n);
    cr_assert_eq(r.time_ms, 1234567);
    cr_assert(r.private_);
    cr_assert_eq(r.ntopics, 2);
    cr_assert_eq(r.topics[1].len, 3);
    cr_assert(!memcmp(r.topics[0].p, "https://ex/a", 12));
    cr_assert_eq(r.id.len, 4);
    cr_assert_eq(r.wire.len, ev->wire_len);
    cr_assert(!memcmp(r.wire.p, ev->wire, ev->wire_len));
    /* Rebuilt from the record, the event is the same. */
    struct event *back = event_new_encoded(r.topics, r.ntopics, r.id, r.wire, r.private_);
    cr_assert_eq(back->wire_len, ev->wire_len);
    cr_assert(!memcmp(back->wire, ev->wire, ev->wire_len));
    cr_assert_eq(back->topics[0].hash, ev->topics[0].hash);
    event_unref(back);
    event_unref(ev);
    free(buf);
}

Test(record, torn_and_damaged)
{
    struct event *ev = sample();
    size_t n = record_size(ev);
    uint8_t *buf = malloc(n);
    record_encode(buf, ev, 1);
    struct log_record r;
    struct sseb_str topics[4];
    size_t used;
    for (size_t cut = 0; cut < n; cut++)
        cr_assert_eq(record_decode(buf, cut, &r, topics, 4, &used), RECORD_TRUNCATED, "cut %zu",
                     cut);
    for (size_t i = 8; i < n; i++) {
        buf[i] ^= 0x04;
        cr_assert_eq(record_decode(buf, n, &r, topics, 4, &used), RECORD_CORRUPT, "bit at %zu", i);
        buf[i] ^= 0x04;
    }
    cr_assert_eq(record_decode(buf, n, &r, topics, 1, &used), RECORD_CORRUPT, "too many topics");
    event_unref(ev);
    free(buf);
}

Test(record, segment_header)
{
    uint8_t h[LOG_SEGMENT_HEADER];
    segment_header_encode(h, 987654321);
    uint64_t first;
    cr_assert(segment_header_decode(h, sizeof(h), &first));
    cr_assert_eq(first, 987654321);
    cr_assert_not(segment_header_decode(h, sizeof(h) - 1, &first));
    h[0] = 'X';
    cr_assert_not(segment_header_decode(h, sizeof(h), &first));
}
