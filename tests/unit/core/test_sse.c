/* SSE encoding: exact bytes on the wire, and no payload can break the framing. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/event.h"
#include "core/sse.h"

static struct event *encode(const char *data, const char *type, const char *retry)
{
    struct sseb_str topic = {"https://example.com/a", 21};
    struct sseb_update u = {.topics = &topic, .ntopics = 1, .id = {"id-1", 4}};
    u.data = (struct sseb_str){data, strlen(data)};
    if (type) u.type = (struct sseb_str){type, strlen(type)};
    if (retry) u.retry = (struct sseb_str){retry, strlen(retry)};
    struct event *ev = event_new(&u);
    cr_assert_not_null(ev);
    return ev;
}

static void expect_wire(struct event *ev, const char *want)
{
    cr_assert_eq(ev->wire_len, strlen(want), "length %u, want %zu: %.*s", ev->wire_len,
                 strlen(want), (int)ev->wire_len, ev->wire);
    cr_assert(memcmp(ev->wire, want, ev->wire_len) == 0, "got: %.*s", (int)ev->wire_len, ev->wire);
    event_unref(ev);
}

Test(sse, single_line)
{
    expect_wire(encode("hello", NULL, NULL), "id: id-1\ndata: hello\n\n");
}

Test(sse, all_fields)
{
    expect_wire(encode("x", "update", "5000"), "id: id-1\nevent: update\nretry: 5000\ndata: x\n\n");
}

Test(sse, empty_data_still_dispatches)
{
    expect_wire(encode("", NULL, NULL), "id: id-1\ndata: \n\n");
}

Test(sse, every_line_ending_starts_a_data_line)
{
    expect_wire(encode("a\nb\rc\r\nd", NULL, NULL),
                "id: id-1\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
}

Test(sse, trailing_and_consecutive_newlines)
{
    expect_wire(encode("a\n\n", NULL, NULL), "id: id-1\ndata: a\ndata: \ndata: \n\n");
    expect_wire(encode("\r\n\r", NULL, NULL), "id: id-1\ndata: \ndata: \ndata: \n\n");
}

Test(sse, injection_attempt_stays_inside_data)
{
    expect_wire(encode("x\n\nid: evil\ndata: y", NULL, NULL),
                "id: id-1\ndata: x\ndata: \ndata: id: evil\ndata: data: y\n\n");
}

Test(sse, event_keeps_topics_and_sizes)
{
    struct sseb_str topics[2] = {{"a", 1}, {"bb", 2}};
    struct sseb_update u = {.topics = topics, .ntopics = 2, .id = {"i", 1}, .private_ = true};
    struct event *ev = event_new(&u);
    cr_assert_eq(ev->ntopics, 2);
    cr_assert_str_eq(ev->topics[1].s, "bb");
    cr_assert_eq(ev->topics[1].hash, hash_topic("bb", 2));
    cr_assert(ev->private_);
    cr_assert_eq(ev->wire_len, sse_encoded_size(&u, 1));
    event_unref(ev);
}

/* Line breaks are found 8 bytes at a time: a break at every offset of a longer text. */
Test(sse, a_line_break_at_every_offset)
{
    const char *breaks[] = {"\n", "\r", "\r\n"};
    for (size_t len = 1; len <= 30; len++) {
        for (size_t at = 0; at < len; at++) {
            for (size_t b = 0; b < 3; b++) {
                char data[40], want[128];
                memset(data, 'x', len);
                size_t bl = strlen(breaks[b]);
                if (at + bl > len) continue;
                memcpy(data + at, breaks[b], bl);
                data[len] = 0;
                snprintf(want, sizeof(want), "id: id-1\ndata: %.*s\ndata: %.*s\n\n", (int)at, data,
                         (int)(len - at - bl), data + at + bl);
                expect_wire(encode(data, NULL, NULL), want);
            }
        }
    }
}
