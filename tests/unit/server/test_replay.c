/* The replay state machine (src/server/replay.c), driven as the worker drives it: a stream starts,
 * replays from a seq, its queue is written out (stream_written + stream_refill, as the worker's
 * send path does), archive reads come back through their ticket. What the client would receive
 * is read from the connection's output queue. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include "core/archive.h"
#include "core/event.h"
#include "core/history.h"
#include "net/conn.h"
#include "server/fanout.h"
#include "server/stats.h"
#include "ssebroker/config.h"

#define MAX_EVENTS 400

static struct sseb_config cfg;
static struct worker_stats stats;
static struct history *hist;
static struct fanout fan;
static struct conn_list list;
static struct conn *conn;
static struct event *all[MAX_EVENTS + 1]; /* by seq, one reference each */
static uint64_t last_seq;

/* A fake archive holding every event published (all[]); reads wait in `pending` until the test
 * answers them. */
static uint64_t archive_oldest_seq;
static struct archive_read *pending;
static uint64_t fake_oldest(struct archive *a)
{
    (void)a;
    return archive_oldest_seq;
}
static void fake_find(struct archive *a, struct archive_find *f)
{
    (void)a, (void)f;
    cr_assert_fail("replay never looks an id up: the subscribe did, before the stream started");
}
static void fake_read(struct archive *a, struct archive_read *r)
{
    (void)a;
    cr_assert_null(pending, "one archive read at a time per stream");
    pending = r;
}
static const struct archive_ops fake_ops = {
    .find = fake_find, .oldest = fake_oldest, .read = fake_read};
static struct archive fake = {.ops = &fake_ops};

/* Answers the pending read: at most n events from r->from on (or a gap, or a failure). */
static void answer_read(size_t n, bool gap, enum authority_result result)
{
    struct archive_read *r = pending;
    cr_assert_not_null(r);
    pending = NULL;
    r->nevents = 0;
    r->gap = gap;
    if (gap) {
        r->next = archive_oldest_seq;
    } else {
        uint64_t s = r->from;
        for (; s <= r->upto && r->nevents < n; s++) {
            event_ref(all[s]);
            r->events[r->nevents++] = all[s];
        }
        r->next = s;
    }
    r->ticket.result = result;
    r->ticket.done(&r->ticket);
}

static void publish(const char *topic, const char *id, size_t data_len, bool private_)
{
    static char data[128 * 1024];
    memset(data, 'x', sizeof(data));
    struct sseb_str t = {topic, strlen(topic)};
    struct sseb_update u = {.topics = &t,
                            .ntopics = 1,
                            .id = {id, strlen(id)},
                            .data = {data, data_len},
                            .private_ = private_};
    struct event *ev = event_new(&u);
    cr_assert_not_null(ev);
    struct event *evicted = NULL;
    history_lock(hist);
    history_append(hist, ev, &evicted);
    history_unlock(hist);
    history_release_evicted(evicted);
    cr_assert_lt(ev->seq, MAX_EVENTS + 1);
    all[ev->seq] = ev; /* keeps event_new's reference */
    last_seq = ev->seq;
}

static void setup_with(uint32_t memory_events, bool with_archive)
{
    sseb_config_defaults(&cfg);
    memset(&stats, 0, sizeof(stats));
    hist = history_new(memory_events, 64 << 20);
    cr_assert_not_null(hist);
    if (with_archive) history_set_archive(hist, &fake);
    cr_assert_eq(fanout_init(&fan, 0, NULL, hist, &cfg, &stats, NULL), 0);
    conn_list_init(&list, sizeof(struct stream));
    conn = conn_new(&list, -1);
    cr_assert_not_null(conn);
    memset(all, 0, sizeof(all));
    pending = NULL;
    archive_oldest_seq = 0;
}

static void start(const char *selector)
{
    char *sels[] = {(char *)selector};
    size_t lens[] = {strlen(selector)};
    cr_assert_eq(stream_start(&fan, conn, sels, lens, NULL, 1, NULL, 0, 0), 0);
}

static void teardown_all(void)
{
    if (conn_stream(conn)) stream_stop(&fan, conn);
    outq_clear(&conn->out, &fan.pool);
    conn_free(conn);
    fanout_free(&fan);
    history_free(hist);
    for (size_t i = 0; i <= MAX_EVENTS; i++)
        if (all[i]) event_unref(all[i]);
}

/* The worker's bus position: what replay reads up to. */
static void bus_at(uint64_t seq)
{
    fan.bus_seq = seq;
}

/* Writes out everything queued (as a send would), appending the ids it held to got ("retry"
 * for the retry hint), then lets the stream top its queue up again; repeats while it does. */
static void drain(char *got, size_t cap)
{
    while (conn->out.bytes) {
        struct iovec iov[64];
        size_t asked;
        int n = outq_prepare(&conn->out, iov, 64, &asked);
        for (int i = 0; i < n; i++) {
            const char *p = iov[i].iov_base;
            char id[64] = "retry";
            if (!strncmp(p, "id: ", 4)) sscanf(p + 4, "%63[^\n]", id);
            snprintf(got + strlen(got), cap - strlen(got), "%s,", id);
        }
        cr_assert_eq(outq_consume(&conn->out, &fan.pool, asked), 0);
        if (conn_stream(conn)) {
            stream_written(conn, asked);
            stream_refill(&fan, conn);
        }
    }
}

static struct stream *stream(void)
{
    return conn_stream(conn);
}

TestSuite(replay, .fini = teardown_all);

Test(replay, from_memory_sends_the_matching_events_after_the_cursor_then_goes_live)
{
    setup_with(MAX_EVENTS, false);
    publish("a", "e1", 1, false);
    publish("b", "e2", 1, false);
    publish("a", "e3", 1, false);
    publish("a", "e4", 1, true); /* private: an anonymous stream never reads it */
    publish("a", "e5", 1, false);
    bus_at(last_seq);
    start("a");
    stream_replay(&fan, conn, 2, false);
    char got[256] = "";
    drain(got, sizeof(got));
    cr_assert_str_eq(got, "e3,e5,");
    cr_assert_not(stream()->replaying);
    cr_assert_eq(stream()->last_seq, 5, "live from the bus position on");
    cr_assert_eq(stats.replayed, 2);
}

Test(replay, stops_at_the_bus_position_the_rest_comes_live)
{
    setup_with(MAX_EVENTS, false);
    publish("a", "e1", 1, false);
    publish("a", "e2", 1, false);
    bus_at(last_seq);
    publish("a", "e3", 1, false); /* committed, not yet taken from the bus by this worker */
    start("a");
    stream_replay(&fan, conn, 1, false);
    char got[256] = "";
    drain(got, sizeof(got));
    cr_assert_str_eq(got, "e1,e2,");
    cr_assert_not(stream()->replaying);
    cr_assert_eq(stream()->last_seq, 2, "e3 must still be new to the live fan-out");
}

Test(replay, a_deep_replay_is_read_as_the_socket_drains_in_order_without_duplicates)
{
    setup_with(MAX_EVENTS, false);
    /* More than one history chunk (256 events) and more bytes than the high-water mark. */
    char id[16], want[4096] = "";
    for (int i = 1; i <= 300; i++) {
        snprintf(id, sizeof(id), "e%d", i);
        publish("a", id, 2048, false);
        snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s,", id);
    }
    bus_at(last_seq);
    start("a");
    stream_replay(&fan, conn, 1, false);
    cr_assert_lt(conn->out.bytes, 300 * 2048, "topped up to a high-water mark, not all");
    cr_assert(stream()->replaying);
    char got[4096] = "";
    drain(got, sizeof(got));
    cr_assert_str_eq(got, want);
    cr_assert_not(stream()->replaying);
    cr_assert_eq(stream()->replay_unsent, 0);
}

Test(replay, a_cursor_history_evicted_closes_the_stream_with_the_retry_hint)
{
    setup_with(3, false);
    for (int i = 1; i <= 6; i++)
        publish("a", "e", 1, false);
    bus_at(last_seq);
    start("a");
    stream_replay(&fan, conn, 2, false); /* 2 is gone: memory keeps 4..6 */
    char got[256] = "";
    drain(got, sizeof(got));
    cr_assert_str_eq(got, "retry,", "nothing replayed, a gap is never papered over");
    cr_assert(conn->close_after);
    cr_assert_eq(stats.replay_cut, 1);
}

Test(replay, earliest_follows_the_oldest_retained_when_it_moves_before_the_first_read)
{
    setup_with(3, false);
    publish("a", "e1", 1, false);
    publish("a", "e2", 1, false);
    uint64_t from;
    cr_assert_eq(history_replay_lookup(hist, NULL, 0, &from), HISTORY_START_FOUND);
    publish("a", "e3", 1, false);
    publish("a", "e4", 1, false);
    publish("a", "e5", 1, false); /* e1 and e2 evicted meanwhile */
    bus_at(last_seq);
    start("a");
    stream_replay(&fan, conn, from, true);
    char got[256] = "";
    drain(got, sizeof(got));
    cr_assert_str_eq(got, "e3,e4,e5,");
    cr_assert_not(conn->close_after);
    cr_assert_eq(stats.replay_cut, 0);
}

Test(replay, older_than_memory_reads_the_archive_then_memory_then_goes_live)
{
    setup_with(2, true);
    char id[16];
    for (int i = 1; i <= 7; i++) {
        snprintf(id, sizeof(id), "e%d", i);
        publish("a", id, 1, false);
    }
    archive_oldest_seq = 1;
    bus_at(last_seq);
    start("a");
    stream_replay(&fan, conn, 2, false);
    cr_assert(stream()->cold_pending, "memory starts at 6: the archive is asked");
    cr_assert_not_null(pending);
    cr_assert_eq(pending->from, 2);
    cr_assert_eq(pending->upto, 5, "up to memory's oldest, not beyond");
    cr_assert_eq(conn->out.bytes, 0);
    answer_read(2, false, AUTHORITY_STORED); /* a partial read: 2 and 3 */
    cr_assert(stream()->cold_pending, "the rest is asked for at once");
    cr_assert_eq(pending->from, 4);
    answer_read(ARCHIVE_READ_EVENTS, false, AUTHORITY_STORED);
    char got[256] = "";
    drain(got, sizeof(got));
    cr_assert_str_eq(got, "e2,e3,e4,e5,e6,e7,");
    cr_assert_not(stream()->replaying);
    cr_assert_eq(stats.archive_reads, 2);
}

Test(replay, an_archive_read_overtaken_by_retention_closes_the_stream)
{
    setup_with(2, true);
    for (int i = 1; i <= 6; i++)
        publish("a", "e", 1, false);
    archive_oldest_seq = 1;
    bus_at(last_seq);
    start("a");
    stream_replay(&fan, conn, 2, false);
    archive_oldest_seq = 4; /* retention removed 1..3 while the read was queued */
    answer_read(0, true, AUTHORITY_STORED);
    char got[256] = "";
    drain(got, sizeof(got));
    cr_assert_str_eq(got, "retry,");
    cr_assert(conn->close_after);
    cr_assert_eq(stats.replay_cut, 1);
}

Test(replay, a_failed_archive_read_closes_the_stream)
{
    setup_with(2, true);
    for (int i = 1; i <= 6; i++)
        publish("a", "e", 1, false);
    archive_oldest_seq = 1;
    bus_at(last_seq);
    start("a");
    stream_replay(&fan, conn, 1, false);
    answer_read(0, false, AUTHORITY_FAILED);
    char got[256] = "";
    drain(got, sizeof(got));
    cr_assert_str_eq(got, "retry,");
    cr_assert(conn->close_after);
}

Test(replay, an_archive_read_that_returns_after_the_stream_stopped_is_only_released)
{
    setup_with(2, true);
    for (int i = 1; i <= 6; i++)
        publish("a", "e", 1, false);
    archive_oldest_seq = 1;
    bus_at(last_seq);
    start("a");
    stream_replay(&fan, conn, 1, false);
    cr_assert_not_null(pending);
    stream_stop(&fan, conn);
    conn->state = CONN_HTTP; /* as the worker's close leaves it: no stream any more */
    answer_read(ARCHIVE_READ_EVENTS, false, AUTHORITY_STORED);
    cr_assert_eq(conn->out.bytes, 0, "nothing reached the connection");
    for (int s = 1; s <= 6; s++)
        cr_assert_eq(all[s]->refs, s <= 4 ? 1 : 2, "the read's references were released");
}
