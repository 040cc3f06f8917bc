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

Test(config, dialects_default_to_both_and_one_switches_the_other_off, .init = cr_redirect_stderr)
{
    struct sseb_config cfg;
    sseb_config_defaults(&cfg);
    cr_assert_eq(cfg.dialects, SSEB_DIALECT_07 | SSEB_DIALECT_08);
    cr_assert_str_eq(cfg.access_token_cookie, "__Secure-mercure_access_token");
    cr_assert_str_eq(cfg.cookie_name, "mercureAuthorization", "the draft-07 cookie stays");
    cr_assert_null(cfg.resource_identifier);
    cr_assert_null(cfg.jwt_issuers);
    cr_assert_eq(load(&cfg, "--dialects", "07"), 0);
    cr_assert_eq(cfg.dialects, SSEB_DIALECT_07);
    cr_assert_eq(load(&cfg, "--dialects=08", NULL), 0);
    cr_assert_eq(cfg.dialects, SSEB_DIALECT_08);
    cr_assert_eq(load(&cfg, "--dialects", "08,07"), 0);
    cr_assert_eq(cfg.dialects, SSEB_DIALECT_07 | SSEB_DIALECT_08);
    const char *bad[] = {"", "7", "09", "07,", ",08", "07 08", "07,08,", "07;08", "0708"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(load(&cfg, "--dialects", bad[i]), -1, "--dialects \"%s\" accepted", bad[i]);
    setenv("SSEBROKER_DIALECTS", "08", 1);
    cr_assert_eq(load(&cfg, "--workers", "2"), 0);
    cr_assert_eq(cfg.dialects, SSEB_DIALECT_08, "the environment twin");
    unsetenv("SSEBROKER_DIALECTS");
}

Test(config, event_ids_default_to_compact_and_uuid_restores_urns, .init = cr_redirect_stderr)
{
    struct sseb_config cfg;
    sseb_config_defaults(&cfg);
    cr_assert_eq(cfg.event_ids, SSEB_EVENT_IDS_COMPACT);
    cr_assert_eq(load(&cfg, "--event-ids", "uuid"), 0);
    cr_assert_eq(cfg.event_ids, SSEB_EVENT_IDS_UUID);
    cr_assert_eq(load(&cfg, "--event-ids=compact", NULL), 0);
    cr_assert_eq(cfg.event_ids, SSEB_EVENT_IDS_COMPACT);
    const char *bad[] = {"", "UUID", "urn", "compact,uuid", "fragment"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(load(&cfg, "--event-ids", bad[i]), -1, "--event-ids \"%s\" accepted", bad[i]);
    setenv("SSEBROKER_EVENT_IDS", "uuid", 1);
    cr_assert_eq(load(&cfg, "--workers", "2"), 0);
    cr_assert_eq(cfg.event_ids, SSEB_EVENT_IDS_UUID, "the environment twin");
    unsetenv("SSEBROKER_EVENT_IDS");
}

Test(config, mercure_1_0_token_flags_are_checked_at_start, .init = cr_redirect_stderr)
{
    struct sseb_config cfg;
    cr_assert_eq(load(&cfg, "--resource-identifier", "https://hub.example/.well-known/mercure"), 0);
    cr_assert_str_eq(cfg.resource_identifier, "https://hub.example/.well-known/mercure");
    cr_assert_eq(load(&cfg, "--resource-identifier", "http://localhost:8080"), 0);
    cr_assert_eq(load(&cfg, "--resource-identifier", ""), 0);
    cr_assert_null(cfg.resource_identifier, "empty means unset (an image's default)");
    const char *bad_urls[] = {"/.well-known/mercure",
                              "hub.example",
                              "ftp://hub.example/",
                              "https://",
                              "https:///path",
                              "https://hub.example/a b",
                              "https://hub.example/#frag",
                              "https://h\xc3\xa9.example/"};
    for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++)
        cr_assert_eq(load(&cfg, "--resource-identifier", bad_urls[i]), -1, "%s accepted",
                     bad_urls[i]);

    cr_assert_eq(load(&cfg, "--jwt-issuer", "https://app.example, https://auth.example"), 0);
    cr_assert_str_eq(cfg.jwt_issuers, "https://app.example, https://auth.example");
    cr_assert_eq(load(&cfg, "--jwt-issuer", "my-publisher"), 0, "a self-issuer's identifier");
    const char *bad_iss[] = {"https://a.example,", ",x", "a,,b", " ", "a\tb\x01"};
    for (size_t i = 0; i < sizeof(bad_iss) / sizeof(bad_iss[0]); i++)
        cr_assert_eq(load(&cfg, "--jwt-issuer", bad_iss[i]), -1, "\"%s\" accepted", bad_iss[i]);

    cr_assert_eq(load(&cfg, "--access-token-cookie", "mercure_access_token"), 0);
    cr_assert_str_eq(cfg.access_token_cookie, "mercure_access_token");
    const char *bad_cookies[] = {"", "a b", "a;b", "a=b", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof(bad_cookies) / sizeof(bad_cookies[0]); i++)
        cr_assert_eq(load(&cfg, "--access-token-cookie", bad_cookies[i]), -1, "\"%s\" accepted",
                     bad_cookies[i]);

    setenv("SSEBROKER_JWT_ISSUER", "https://app.example", 1);
    setenv("SSEBROKER_RESOURCE_IDENTIFIER", "https://hub.example/.well-known/mercure", 1);
    setenv("SSEBROKER_ACCESS_TOKEN_COOKIE", "hub_token", 1);
    cr_assert_eq(load(&cfg, "--workers", "2"), 0);
    cr_assert_str_eq(cfg.jwt_issuers, "https://app.example");
    cr_assert_str_eq(cfg.resource_identifier, "https://hub.example/.well-known/mercure");
    cr_assert_str_eq(cfg.access_token_cookie, "hub_token");
    unsetenv("SSEBROKER_JWT_ISSUER");
    unsetenv("SSEBROKER_RESOURCE_IDENTIFIER");
    unsetenv("SSEBROKER_ACCESS_TOKEN_COOKIE");
}

Test(config, mercure_1_0_messages_name_the_flag)
{
    struct sseb_config cfg;
    sseb_config_defaults(&cfg);
    char err[300];
    cfg.resource_identifier = "hub.example";
    cr_assert_eq(sseb_config_validate(&cfg, err, sizeof(err)), -1);
    cr_assert(strstr(err, "--resource-identifier") && strstr(err, "hub.example"), "%s", err);
    cfg.resource_identifier = NULL;
    cfg.jwt_issuers = "a,,b";
    cr_assert_eq(sseb_config_validate(&cfg, err, sizeof(err)), -1);
    cr_assert(strstr(err, "--jwt-issuer"), "%s", err);
    cfg.jwt_issuers = NULL;
    cfg.dialects = 0;
    cr_assert_eq(sseb_config_validate(&cfg, err, sizeof(err)), -1);
    cr_assert(strstr(err, "--dialects"), "%s", err);
}

Test(config, sentinel_flags_and_their_combinations)
{
    struct sseb_config cfg;
    char err[300];
    setenv("SSEBROKER_REDIS_SENTINEL", "127.0.0.1:26379,127.0.0.1:26380", 1);
    cr_assert_eq(load(&cfg, "--redis-master", "m1"), 0);
    cr_assert_str_eq(cfg.redis_sentinel, "127.0.0.1:26379,127.0.0.1:26380");
    cr_assert_str_eq(cfg.redis_master, "m1");
    cr_assert_eq(sseb_config_validate(&cfg, err, sizeof(err)), 0, "sentinels alone: %s", err);
    unsetenv("SSEBROKER_REDIS_SENTINEL");
    sseb_config_defaults(&cfg);
    cr_assert_str_eq(cfg.redis_master, "mymaster");
    cfg.redis_sentinel = "h:1";
    cfg.redis_url = "redis://:secret@ignored/2"; /* credentials and db only */
    cfg.redis_wait_replicas = 1;
    cr_assert_eq(sseb_config_validate(&cfg, err, sizeof(err)), 0, "%s", err);
    cfg.redis_sentinel = "h:0";
    cr_assert_eq(sseb_config_validate(&cfg, err, sizeof(err)), -1);
    cr_assert(strstr(err, "--redis-sentinel"), "%s", err);
    cfg.redis_sentinel = "h:1";
    cfg.redis_master = "";
    cr_assert_eq(sseb_config_validate(&cfg, err, sizeof(err)), -1);
    cr_assert(strstr(err, "--redis-master"), "%s", err);
    sseb_config_defaults(&cfg);
    cfg.redis_wait_replicas = 1;
    cr_assert_eq(sseb_config_validate(&cfg, err, sizeof(err)), -1,
                 "no cluster, nothing to wait for");
    cr_assert(strstr(err, "--redis-wait-replicas"), "%s", err);
    cfg.redis_sentinel = "h:1";
    cfg.history_dir = "/tmp/x";
    cr_assert_eq(sseb_config_validate(&cfg, err, sizeof(err)), -1);
    cr_assert(strstr(err, "--history-dir"), "%s", err);
}
