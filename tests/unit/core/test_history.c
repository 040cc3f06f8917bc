/* History: order, bounds by count and bytes, lookup by id, chunked reads, evictions released
 * outside the lock. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/archive.h"
#include "core/event.h"
#include "core/history.h"

static struct event *append(struct history *h, const char *id, size_t data_len)
{
    static char data[4096];
    memset(data, 'x', sizeof(data));
    struct sseb_str topic = {"t", 1};
    struct sseb_update u = {
        .topics = &topic, .ntopics = 1, .id = {id, strlen(id)}, .data = {data, data_len}};
    struct event *ev = event_new(&u);
    struct event *evicted = NULL;
    history_lock(h);
    history_append(h, ev, &evicted);
    history_unlock(h);
    history_release_evicted(evicted);
    event_unref(ev);
    return ev;
}

/* The ids history replays after id (or from the oldest when id is NULL), read in chunks of 2. */
static void ids_after(struct history *h, const char *id, const char *want)
{
    uint64_t from;
    cr_assert_eq(history_replay_lookup(h, id, id ? strlen(id) : 0, &from), HISTORY_START_FOUND,
                 "%s not found", id);
    char got[512] = "";
    struct event *chunk[2];
    for (;;) {
        bool gap;
        size_t n = history_read(h, from, UINT64_MAX, chunk, 2, &gap, NULL);
        cr_assert_not(gap);
        if (!n) break;
        for (size_t i = 0; i < n; i++) {
            strcat(got, chunk[i]->id);
            strcat(got, ",");
            from = chunk[i]->seq + 1;
            event_unref(chunk[i]);
        }
    }
    cr_assert_str_eq(got, want);
}

Test(history, assigns_increasing_seqs_and_replays_after_id)
{
    struct history *h = history_new(100, 1 << 20);
    append(h, "a", 1);
    append(h, "b", 1);
    append(h, "c", 1);
    cr_assert_eq(history_last_seq(h), 3);
    ids_after(h, "a", "b,c,");
    ids_after(h, "c", "");
    ids_after(h, NULL, "a,b,c,");
    uint64_t from;
    cr_assert_eq(history_replay_lookup(h, NULL, 0, &from), HISTORY_START_FOUND);
    cr_assert_eq(from, 1);
    /* upto bounds the read: the cursor of a worker that has not seen the newest yet. */
    struct event *ev[8];
    bool gap;
    cr_assert_eq(history_read(h, 1, 2, ev, 8, &gap, NULL), 2);
    cr_assert_eq(ev[1]->seq, 2);
    event_unref(ev[0]);
    event_unref(ev[1]);
    history_free(h);
}

Test(history, unknown_id_replays_nothing)
{
    struct history *h = history_new(10, 1 << 20);
    append(h, "a", 1);
    uint64_t from = 77;
    cr_assert_neq(history_replay_lookup(h, "nope", 4, &from), HISTORY_START_FOUND);
    cr_assert_eq(from, 77, "untouched when not found");
    history_free(h);
}

Test(history, bounded_by_count)
{
    struct history *h = history_new(4, 1 << 20);
    char id[16];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "e%d", i);
        append(h, id, 1);
    }
    struct history_stats st;
    history_stats(h, &st);
    cr_assert_eq(st.events, 4);
    cr_assert_eq(st.evicted, 6);
    ids_after(h, "e6", "e7,e8,e9,");
    uint64_t from;
    cr_assert_neq(history_replay_lookup(h, "e2", 2, &from), HISTORY_START_FOUND,
                  "evicted: unknown now");
    history_free(h);
}

Test(history, a_cursor_overtaken_by_eviction_sees_a_gap)
{
    struct history *h = history_new(4, 1 << 20);
    append(h, "a", 1);
    append(h, "b", 1);
    struct event *ev[4];
    bool gap;
    uint64_t oldest;
    cr_assert_eq(history_read(h, 2, UINT64_MAX, ev, 4, &gap, &oldest), 1);
    cr_assert_not(gap);
    event_unref(ev[0]);
    for (int i = 0; i < 6; i++)
        append(h, "x", 1);
    cr_assert_eq(history_read(h, 2, UINT64_MAX, ev, 4, &gap, &oldest), 0);
    cr_assert(gap);
    cr_assert_eq(oldest, 5);
    history_free(h);
}

Test(history, evicted_events_are_released_by_the_appender_after_unlocking)
{
    struct history *h = history_new(2, 1 << 20);
    struct sseb_str topic = {"t", 1};
    struct sseb_update u = {.topics = &topic, .ntopics = 1, .id = {"a", 1}};
    struct event *first = event_new(&u);
    struct event *evicted = NULL;
    history_lock(h);
    history_append(h, first, &evicted);
    history_unlock(h);
    cr_assert_null(evicted);
    append(h, "b", 1);
    event_ref(first); /* keep it alive to look at it */
    struct event *third = event_new(&u);
    history_lock(h);
    history_append(h, third, &evicted);
    history_unlock(h);
    cr_assert_eq(evicted, first, "the oldest is handed back, not freed under the lock");
    cr_assert_null(evicted->evicted_next);
    cr_assert_eq(atomic_load(&first->refs), 3); /* ours x2, still history's until released */
    history_release_evicted(evicted);
    cr_assert_eq(atomic_load(&first->refs), 2);
    event_unref(first);
    event_unref(first);
    event_unref(third);
    history_free(h);
}

Test(history, bounded_by_bytes)
{
    struct history *h = history_new(1000, 10000);
    char id[16];
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof(id), "e%d", i);
        append(h, id, 2000);
    }
    struct history_stats st;
    history_stats(h, &st);
    cr_assert_leq(st.bytes, 10000);
    cr_assert_geq(st.events, 3);
    cr_assert_leq(st.events, 4);
    history_free(h);
}

Test(history, reused_id_points_to_latest)
{
    struct history *h = history_new(10, 1 << 20);
    append(h, "dup", 1);
    append(h, "x", 1);
    append(h, "dup", 1);
    append(h, "y", 1);
    ids_after(h, "dup", "y,");
    history_free(h);
}

Test(history, id_table_survives_heavy_churn)
{
    /* Deletions shift clusters back instead of leaving tombstones: after many evictions every
     * retained id is still found and every evicted one is gone. */
    struct history *h = history_new(8, 1 << 20);
    char id[16];
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof(id), "e%d", i);
        append(h, id, 1);
        if (i % 7 == 0 && i < 4900) append(h, "e1", 1); /* a reused id, evicted and re-added */
    }
    ids_after(h, "e4995", "e4996,e4997,e4998,e4999,");
    uint64_t from;
    for (int i = 0; i < 4990; i++) {
        snprintf(id, sizeof(id), "e%d", i);
        if (i == 1) continue;
        cr_assert_neq(history_replay_lookup(h, id, strlen(id), &from), HISTORY_START_FOUND,
                      "%s was evicted", id);
    }
    for (int i = 4992; i < 5000; i++) {
        snprintf(id, sizeof(id), "e%d", i);
        cr_assert_eq(history_replay_lookup(h, id, strlen(id), &from), HISTORY_START_FOUND,
                     "%s is retained", id);
    }
    history_free(h);
}

Test(history, ids_from_before_a_break_resume_as_unknown)
{
    struct history *h = history_new(10, 1 << 20);
    append(h, "a", 1);
    append(h, "b", 1);
    cr_assert_eq(history_breaks(h), 0);
    history_mark_break(h);
    cr_assert_eq(history_breaks(h), 1, "workers see the break");
    append(h, "c", 1);
    append(h, "d", 1);
    uint64_t from;
    cr_assert_neq(history_replay_lookup(h, "a", 1, &from), HISTORY_START_FOUND,
                  "before the break: unknown");
    cr_assert_neq(history_replay_lookup(h, "b", 1, &from), HISTORY_START_FOUND,
                  "the last before the break too");
    ids_after(h, "c", "d,");
    ids_after(h, NULL, "a,b,c,d,"); /* earliest still reads all that is retained */
    history_free(h);
}

/* An archive that holds nothing for ids and says where it starts: finds must never be asked of
 * it here (lookup only says "ask the archive"), reads neither. */
static uint64_t fake_oldest_seq;
static void fake_find(struct archive *a, struct archive_find *f)
{
    (void)a, (void)f;
    cr_assert_fail("history_replay_lookup asked the archive itself");
}
static uint64_t fake_oldest(struct archive *a)
{
    (void)a;
    return fake_oldest_seq;
}
static void fake_read(struct archive *a, struct archive_read *r)
{
    (void)a, (void)r;
    cr_assert_fail("no reads here");
}
static const struct archive_ops fake_ops = {
    .find = fake_find, .oldest = fake_oldest, .read = fake_read};

Test(history, lookup_says_found_unknown_or_ask_the_archive)
{
    struct history *h = history_new(2, 1 << 20);
    append(h, "a", 1);
    append(h, "b", 1);
    append(h, "c", 1); /* a evicted: memory holds b, c */
    uint64_t from = 0;
    cr_assert_eq(history_replay_lookup(h, "a", 1, &from), HISTORY_START_UNKNOWN, "no archive");
    struct archive fake = {.ops = &fake_ops};
    history_set_archive(h, &fake);
    cr_assert_eq(history_replay_lookup(h, "b", 1, &from), HISTORY_START_FOUND, "in memory");
    cr_assert_eq(from, 3);
    cr_assert_eq(history_replay_lookup(h, "a", 1, &from), HISTORY_START_ARCHIVE);
    fake_oldest_seq = 1;
    cr_assert_eq(history_replay_lookup(h, NULL, 0, &from), HISTORY_START_FOUND);
    cr_assert_eq(from, 1, "earliest starts at the archive's oldest");
    /* What the archive found, against a break marked since. */
    cr_assert(history_replay_after(h, 1, &from));
    cr_assert_eq(from, 2);
    history_mark_break(h);
    append(h, "d", 1);
    cr_assert_not(history_replay_after(h, 1, &from), "from before the break");
    cr_assert_eq(history_replay_lookup(h, "c", 1, &from), HISTORY_START_UNKNOWN);
    cr_assert_eq(history_replay_lookup(h, "d", 1, &from), HISTORY_START_FOUND);
    history_set_archive(h, NULL);
    history_free(h);
}
