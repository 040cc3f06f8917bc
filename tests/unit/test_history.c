/* History: order, bounds by count and bytes, lookup by id, replay snapshots. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "event.h"
#include "history.h"

static struct event *append(struct history *h, const char *id, size_t data_len)
{
    static char data[4096];
    memset(data, 'x', sizeof(data));
    struct sseb_str topic = {"t", 1};
    struct sseb_update u = {
        .topics = &topic, .ntopics = 1, .id = {id, strlen(id)}, .data = {data, data_len}};
    struct event *ev = event_new(&u);
    history_lock(h);
    history_append(h, ev);
    history_unlock(h);
    event_unref(ev);
    return ev;
}

static void ids_after(struct history *h, const char *id, const char *want)
{
    struct replay r;
    cr_assert_eq(history_replay(h, REPLAY_AFTER_ID, id, strlen(id), &r), 0);
    char got[256] = "";
    for (size_t i = 0; i < r.n; i++) {
        strcat(got, r.events[i]->id);
        strcat(got, ",");
    }
    cr_assert_str_eq(got, want);
    replay_release(&r);
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
    struct replay r;
    history_replay(h, REPLAY_EARLIEST, NULL, 0, &r);
    cr_assert_eq(r.n, 3);
    cr_assert(r.found);
    cr_assert_eq(r.upto, 3);
    cr_assert_eq(r.events[0]->seq, 1);
    replay_release(&r);
    history_free(h);
}

Test(history, unknown_id_replays_nothing)
{
    struct history *h = history_new(10, 1 << 20);
    append(h, "a", 1);
    struct replay r;
    history_replay(h, REPLAY_AFTER_ID, "nope", 4, &r);
    cr_assert_not(r.found);
    cr_assert_eq(r.n, 0);
    cr_assert_eq(r.upto, 1);
    replay_release(&r);
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
    struct replay r;
    history_replay(h, REPLAY_AFTER_ID, "e2", 2, &r); /* evicted: unknown now */
    cr_assert_not(r.found);
    replay_release(&r);
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
    struct history *h = history_new(8, 1 << 20);
    char id[16];
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof(id), "e%d", i);
        append(h, id, 1);
    }
    ids_after(h, "e4995", "e4996,e4997,e4998,e4999,");
    history_free(h);
}
