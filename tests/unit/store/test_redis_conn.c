/* Cluster mode's small parsers: the --redis URL and Stream entry ids. */
#include <criterion/criterion.h>
#include <string.h>

#include "store/redis_conn.h"

Test(redis_url, full_and_defaults)
{
    struct redis_target t;
    char err[256];
    cr_assert_eq(redis_target_parse("redis://127.0.0.1", &t, err, sizeof(err)), 0);
    cr_assert_str_eq(t.host, "127.0.0.1");
    cr_assert_eq(t.port, 6379);
    cr_assert_eq(t.db, 0);
    cr_assert_str_eq(t.password, "");
    cr_assert_eq(redis_target_parse("redis://app:p@ss@redis:6380/3", &t, err, sizeof(err)), 0);
    cr_assert_str_eq(t.user, "app");
    cr_assert_str_eq(t.password, "p@ss", "a password may hold '@': the last one ends it");
    cr_assert_str_eq(t.host, "redis");
    cr_assert_eq(t.port, 6380);
    cr_assert_eq(t.db, 3);
    cr_assert_eq(redis_target_parse("redis://:secret@h", &t, err, sizeof(err)), 0);
    cr_assert_str_eq(t.user, "");
    cr_assert_str_eq(t.password, "secret");
    cr_assert_eq(redis_target_parse("redis://[::1]:7000/", &t, err, sizeof(err)), 0);
    cr_assert_str_eq(t.host, "::1");
    cr_assert_eq(t.port, 7000);
}

Test(redis_url, refused_with_a_reason)
{
    struct redis_target t;
    char err[256];
    const char *bad[] = {"http://h",      "redis://",     "redis://h:0",  "redis://h:65536",
                         "redis://h:12x", "redis://h/db", "redis://[::1", "redis://h:1/-1",
                         "h:6379",        "redis://@:1/0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        cr_assert_eq(redis_target_parse(bad[i], &t, err, sizeof(err)), -1, "%s", bad[i]);
        cr_assert(strstr(err, "--redis") != NULL, "%s: %s", bad[i], err);
    }
}

Test(stream_id, parse_format_compare)
{
    struct stream_id a, b;
    cr_assert(stream_id_parse("1700000000000-5", 15, &a));
    cr_assert_eq(a.ms, 1700000000000ULL);
    cr_assert_eq(a.seq, 5);
    char out[48];
    cr_assert_eq(stream_id_format(a, out), 15);
    cr_assert_str_eq(out, "1700000000000-5");
    cr_assert(stream_id_parse("1700000000000-10", 16, &b));
    cr_assert_lt(stream_id_cmp(a, b), 0, "sequence compares as a number, not as text");
    cr_assert_gt(stream_id_cmp(b, a), 0);
    cr_assert_eq(stream_id_cmp(a, a), 0);
    cr_assert(stream_id_parse("0-0", 3, &a));
    const char *bad[] = {"", "5", "-5", "5-", "a-1", "1-b", "1--2", "99999999999999999999999-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert(!stream_id_parse(bad[i], strlen(bad[i]), &a), "%s", bad[i]);
}
