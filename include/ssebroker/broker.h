/* The embeddable broker: start it, publish into it, drain it. */
#ifndef SSEBROKER_BROKER_H
#define SSEBROKER_BROKER_H

#include <stdbool.h>
#include <stddef.h>

#include "ssebroker/config.h"
#include "ssebroker/event.h"

struct sseb_broker;

/* Validates the configuration, binds the listeners and prepares the workers (not started).
 * Returns NULL with a reason in err on failure. cfg is copied; its strings must outlive the
 * broker. */
struct sseb_broker *sseb_broker_new(const struct sseb_config *cfg, char *err, size_t errlen);
/* Starts the worker threads. Returns 0 or -1. */
int sseb_broker_start(struct sseb_broker *b);
/* True when the workers batch their socket writes through io_uring (else one sendmsg each). */
bool sseb_broker_uses_io_uring(const struct sseb_broker *b);
/* Begins a graceful stop: readiness fails, listeners close, streams get a retry hint and are
 * closed within the drain window. Safe to call from any thread, once or more. */
void sseb_broker_drain(struct sseb_broker *b);
/* Waits for every worker to finish (after a drain). */
void sseb_broker_wait(struct sseb_broker *b);
void sseb_broker_free(struct sseb_broker *b);

enum sseb_publish_status {
    SSEB_PUBLISHED = 0,
    SSEB_BUSY = -1, /* the bus stayed full for the configured wait: retry later */
    SSEB_NOMEM = -2,
    SSEB_INVALID = -3, /* no topic, more than max_topics, or too large for the store to keep */
};
/* Publishes a validated update from any thread (it may wait up to publish_wait_ms for bus room,
 * so never from a callback running on a worker); the id (given or generated) is copied into
 * id_out (NUL-terminated, truncated to id_cap). */
enum sseb_publish_status sseb_broker_publish(struct sseb_broker *b, const struct sseb_update *u,
                                             char *id_out, size_t id_cap);

#endif
