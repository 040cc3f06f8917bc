/* The --redis-sentinel list. */
#include <criterion/criterion.h>
#include <string.h>

#include "store/redis_sentinel.h"

Test(redis_sentinels, list_and_defaults)
{
    struct redis_sentinels s;
    char err[256];
    cr_assert_eq(redis_sentinels_parse("127.0.0.1:26379", &s, err, sizeof(err)), 0);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.addr[0].host, "127.0.0.1");
    cr_assert_eq(s.addr[0].port, 26379);
    cr_assert_eq(redis_sentinels_parse("a:1,sentinel-b,[::1]:26380", &s, err, sizeof(err)), 0);
    cr_assert_eq(s.n, 3);
    cr_assert_str_eq(s.addr[0].host, "a");
    cr_assert_eq(s.addr[0].port, 1);
    cr_assert_str_eq(s.addr[1].host, "sentinel-b");
    cr_assert_eq(s.addr[1].port, 26379, "the port defaults to Sentinel's");
    cr_assert_str_eq(s.addr[2].host, "::1");
    cr_assert_eq(s.addr[2].port, 26380);
}

Test(redis_sentinels, refused_with_a_reason)
{
    struct redis_sentinels s;
    char err[256];
    const char *bad[] = {"",   ",",    "a:1,",   ":26379",   "a:0",   "a:65536", "a:12x",
                         "a:", "[::1", "[::1]x", "a:1,,b:2", "a:1:2", "[]:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        cr_assert_eq(redis_sentinels_parse(bad[i], &s, err, sizeof(err)), -1, "%s", bad[i]);
        cr_assert(strstr(err, "--redis-sentinel") != NULL, "%s: %s", bad[i], err);
    }
    /* At most REDIS_SENTINELS_MAX. */
    char many[512] = "";
    for (int i = 0; i <= REDIS_SENTINELS_MAX; i++)
        strcat(many, i ? ",h:1" : "h:1");
    cr_assert_eq(redis_sentinels_parse(many, &s, err, sizeof(err)), -1);
}
