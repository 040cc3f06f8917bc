/* Broker internals shared by the workers: configuration, history, bus, keys, global limits. */
#ifndef SSEB_SERVER_H
#define SSEB_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ssebroker/broker.h"
#include "ssebroker/config.h"

struct worker;
struct event;

struct sseb_broker {
    struct sseb_config cfg;
    struct history *history;
    struct bus *bus;
    struct auth_verifier *pub_auth, *sub_auth;
    struct subscriptions *subscriptions; /* NULL unless --subscriptions */
    struct worker **workers;
    int nworkers;
    pthread_t *threads;
    bool started;
    uint32_t per_worker_max;
    _Atomic int draining;
    _Atomic uint32_t connections; /* open client connections, all workers */
    long long started_at;         /* unix seconds */
};

enum publish_result { PUBLISH_OK, PUBLISH_BUSY };
enum publish_wait {
    PUBLISH_NO_WAIT,  /* a full bus answers PUBLISH_BUSY at once */
    PUBLISH_MAY_WAIT, /* retry on a full bus until --publish-wait runs out */
};
/* Appends ev to history and hands it to the bus in one order. With PUBLISH_MAY_WAIT and a full
 * bus, calls make_room (the calling worker drains its own bus cursor, say) and retries until the
 * configured wait ends. Consumes the caller's reference to ev in every case. */
enum publish_result broker_publish_event(struct sseb_broker *b, struct event *ev,
                                         enum publish_wait wait, void (*make_room)(void *),
                                         void *arg);

/* Writes "urn:uuid:<v4>" (45 bytes + NUL) into out. */
void broker_new_id(char out[46]);

#endif
