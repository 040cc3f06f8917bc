/* The embedding API (include/ssebroker/broker.h): sseb_broker_new refuses every configuration
 * the broker cannot run, with a reason, and a valid one publishes. */
#include <criterion/criterion.h>
#include <string.h>

#include "ssebroker/broker.h"

static struct sseb_config base(void)
{
    struct sseb_config cfg;
    sseb_config_defaults(&cfg);
    strcpy(cfg.listen_host, "127.0.0.1");
    cfg.listen_port = 0;
    cfg.workers = 1;
    return cfg;
}

static void refused(struct sseb_config cfg, const char *reason)
{
    char err[256] = "";
    struct sseb_broker *b = sseb_broker_new(&cfg, err, sizeof(err));
    cr_assert_null(b, "accepted a configuration that should fail with \"%s\"", reason);
    cr_assert(strstr(err, reason), "error \"%s\" does not say \"%s\"", err, reason);
}

/* A broker of cfg, which must be valid. */
static struct sseb_broker *made(const struct sseb_config *cfg)
{
    char err[256];
    struct sseb_broker *b = sseb_broker_new(cfg, err, sizeof(err));
    cr_assert_not_null(b, "%s", err);
    return b;
}

Test(broker, refuses_configurations_it_cannot_run)
{
    struct sseb_config cfg = base();
    cfg.history_size = 0;
    refused(cfg, "--history-size must be between 1");
    cfg = base();
    cfg.bus_size = 1000;
    refused(cfg, "--bus-size must be a power of two");
    cfg = base();
    cfg.bus_size = 4;
    refused(cfg, "--bus-size must be between 16");
    cfg = base();
    cfg.max_topics = 70000;
    refused(cfg, "--max-topics must be between 1 and 65535");
    cfg = base();
    cfg.max_topics = 0;
    refused(cfg, "--max-topics");
    cfg = base();
    cfg.workers = -3;
    refused(cfg, "--workers must be between 0 and 256 (got -");
    cfg = base();
    cfg.max_queued_bytes = 0;
    refused(cfg, "--max-queued-bytes");
    cfg = base();
    memset(cfg.listen_host, 'a', sizeof(cfg.listen_host));
    refused(cfg, "--listen");
}

Test(broker, valid_configuration_publishes_and_refuses_invalid_updates)
{
    struct sseb_config cfg = base();
    cfg.history_size = 1; /* the smallest history: the next publish evicts */
    struct sseb_broker *b = made(&cfg);
    struct sseb_str topic = {"t", 1};
    struct sseb_update u = {.topics = &topic, .ntopics = 1, .data = {"x", 1}};
    char id[64];
    cr_assert_eq(sseb_broker_publish(b, &u, id, sizeof(id)), SSEB_PUBLISHED);
    cr_assert_eq(id[0], '#', "the default, compact id: %s", id);
    cr_assert_eq(strlen(id), 13, "%s", id);
    cr_assert_eq(sseb_broker_publish(b, &u, id, sizeof(id)), SSEB_PUBLISHED);
    u.ntopics = 0;
    cr_assert_eq(sseb_broker_publish(b, &u, id, sizeof(id)), SSEB_INVALID);
    u.ntopics = cfg.max_topics + 1;
    cr_assert_eq(sseb_broker_publish(b, &u, id, sizeof(id)), SSEB_INVALID);
    sseb_broker_free(b);
}

Test(broker, event_ids_uuid_generates_urns)
{
    struct sseb_config cfg = base();
    cfg.event_ids = SSEB_EVENT_IDS_UUID;
    struct sseb_broker *b = made(&cfg);
    struct sseb_str topic = {"t", 1};
    struct sseb_update u = {.topics = &topic, .ntopics = 1, .data = {"x", 1}};
    char id[64];
    cr_assert_eq(sseb_broker_publish(b, &u, id, sizeof(id)), SSEB_PUBLISHED);
    cr_assert_eq(strncmp(id, "urn:uuid:", 9), 0, "%s", id);
    cr_assert_eq(strlen(id), 45, "%s", id);
    u.id = (struct sseb_str){"mine", 4}; /* a publisher's own id is kept either way */
    cr_assert_eq(sseb_broker_publish(b, &u, id, sizeof(id)), SSEB_PUBLISHED);
    cr_assert_str_eq(id, "mine");
    sseb_broker_free(b);
}

Test(broker, a_full_bus_answers_busy_after_the_publish_wait)
{
    /* Workers not started: nobody consumes, so 16 slots fill and the 17th publish waits
     * --publish-wait for room, then answers busy (never blocks for good, never drops one). */
    struct sseb_config cfg = base();
    cfg.bus_size = 16;
    cfg.publish_wait_ms = 50;
    struct sseb_broker *b = made(&cfg);
    struct sseb_str topic = {"t", 1};
    struct sseb_update u = {.topics = &topic, .ntopics = 1, .data = {"x", 1}};
    for (int i = 0; i < 16; i++)
        cr_assert_eq(sseb_broker_publish(b, &u, NULL, 0), SSEB_PUBLISHED, "publish %d", i);
    cr_assert_eq(sseb_broker_publish(b, &u, NULL, 0), SSEB_BUSY);
    sseb_broker_free(b);
}
