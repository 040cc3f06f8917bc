/* Configuration (include/ssebroker/config.h): flags and their environment twins, units, and the
 * refusal of every value the broker could not honour. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdlib.h>
#include <string.h>

#include "ssebroker/config.h"

static int load(struct sseb_config *cfg, const char *a, const char *b)
{
    sseb_config_defaults(cfg);
    char *argv[] = {"ssebroker", (char *)a, (char *)b, NULL};
    return sseb_config_load(cfg, b ? 3 : 2, argv);
}

Test(config, sizes_and_durations_with_units)
{
    struct sseb_config cfg;
    cr_assert_eq(load(&cfg, "--max-queued-bytes", "2MiB"), 0);
    cr_assert_eq(cfg.max_queued_bytes, 2 * 1024 * 1024);
    cr_assert_eq(load(&cfg, "--max-queued-bytes=64k", NULL), 0);
    cr_assert_eq(cfg.max_queued_bytes, 64 * 1024);
    cr_assert_eq(load(&cfg, "--heartbeat", "500ms"), 0);
    cr_assert_eq(cfg.heartbeat_ms, 500);
    cr_assert_eq(load(&cfg, "--stream-lifetime", "1.5m"), 0);
    cr_assert_eq(cfg.stream_lifetime_ms, 90000);
    cr_assert_eq(load(&cfg, "--listen", "[::1]:9000"), 0);
    cr_assert_str_eq(cfg.listen_host, "::1");
    cr_assert_eq(cfg.listen_port, 9000);
}

Test(config, overflowing_and_out_of_range_values_are_refused, .init = cr_redirect_stderr)
{
    struct sseb_config cfg;
    const char *bad[][2] = {
        {"--max-queued-bytes", "20000000000G"},
        {"--max-queued-bytes", "-1"},
        {"--max-topics", "65536"},
        {"--max-topics", "0"},
        {"--history-size", "0"},
        {"--bus-size", "1000"},
        {"--bus-size", "33554432"},
        {"--workers", "257"},
        {"--heartbeat", "nan"},
        {"--heartbeat", "5000000s"},
        {"--listen", "localhost"},
        {"--listen", ":70000"},
        {"--max-body-bytes", "1G"},
        {"--log-level", "loud"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(load(&cfg, bad[i][0], bad[i][1]), -1, "%s %s accepted", bad[i][0], bad[i][1]);
}

Test(config, environment_twins_apply_and_flags_win)
{
    struct sseb_config cfg;
    setenv("SSEBROKER_MAX_TOPICS", "12", 1);
    cr_assert_eq(load(&cfg, "--workers", "2"), 0);
    cr_assert_eq(cfg.max_topics, 12);
    cr_assert_eq(load(&cfg, "--max-topics", "7"), 0);
    cr_assert_eq(cfg.max_topics, 7);
    setenv("SSEBROKER_MAX_TOPICS", "70000", 1);
    cr_assert_eq(load(&cfg, "--workers", "2"), -1, "an environment value is checked too");
    unsetenv("SSEBROKER_MAX_TOPICS");
}

Test(config, validate_names_the_flag)
{
    struct sseb_config cfg;
    sseb_config_defaults(&cfg);
    char err[200];
    cr_assert_eq(sseb_config_validate(&cfg, err, sizeof(err)), 0, "the defaults are valid");
    cfg.history_size = 0;
    cr_assert_eq(sseb_config_validate(&cfg, err, sizeof(err)), -1);
    cr_assert(strstr(err, "--history-size"), "%s", err);
}
