/* Cluster mode (DESIGN.md section 2.1): an order authority shared by every node through one
 * Redis Stream.
 *
 * Writer thread: takes what every worker submitted and appends it, pipelined, with one atomic
 * server-side script per update (XADD with a position number, an id -> entry index, trimming of
 * both). An update is acknowledged once Redis has answered; one that Redis does not answer within
 * the timeout, or that arrives while Redis is unreachable, fails (503), and nothing is buffered.
 *
 * Bridge thread: reads the Stream back from its cursor (XREAD BLOCK, never "$" after the first
 * read) and commits every entry to the hub, the node's own updates included, so every node
 * delivers the same updates in the same order. At start it reads the retained Stream first. Each
 * entry carries its position number: a position that does not follow on from the last one read
 * (the Stream was trimmed past the cursor, reset or rewound by a failover) is a break in history,
 * recorded (core/history.h) and counted, never silent.
 *
 * Workers never talk to Redis. */
#ifndef SSEB_STORE_REDIS_H
#define SSEB_STORE_REDIS_H

#include <stddef.h>

#include "store/redis_conn.h"

struct hub;
struct authority;

/* Starts the writer and the bridge. Redis may be down: the node then is not ready and fails
 * publishes until it comes back. A reachable Redis that cannot keep the guarantees (older than
 * 6.2, an evicting maxmemory-policy) is refused: NULL with the reason in err. */
struct authority *authority_redis_open(struct hub *hub, const struct redis_options *o, char *err,
                                       size_t errlen);

#endif
