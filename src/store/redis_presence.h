/* Cluster presence in Redis (the subscriptions feature across nodes; core/authority.h's struct
 * authority_presence). Beside the Stream, each node keeps:
 *
 *   <stream>:presence:<tag>  hash: subscription event topic -> the record of its announcement,
 *                            written by the append script with the event itself (atomic)
 *   <stream>:presence:nodes  set of the tags that announced something
 *   <stream>:alive:<tag>     its heartbeat, with an expiry
 *
 * so that a node that starts (or comes back) reads every other node's subscriptions together
 * with the Stream position they are current at, and follows the Stream from there; and a node
 * whose heartbeat expired (killed, cut off) has its subscriptions ended by one live node, which
 * publishes their "inactive" events. A node taken for dead that comes back finds its heartbeat
 * gone and announces its subscriptions again. */
#ifndef SSEB_STORE_REDIS_PRESENCE_H
#define SSEB_STORE_REDIS_PRESENCE_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>

struct redis;

/* The writer's presence schedule, per connection. */
struct presence_beat {
    int64_t next_beat_ms, next_reap_ms;
    /* Compare what Redis holds for this node with the registry (a new connection, a lapsed
     * heartbeat), once the append queue is empty or by reconcile_by_ms. */
    bool reconcile;
    int64_t reconcile_by_ms;
};

/* Key names; returns -1 when out of memory. */
int redis_presence_keys(struct redis *r);
void redis_presence_free_keys(struct redis *r);

/* Writer thread, before a batch (batch_pending: the heartbeat only, when due, so that it is
 * never missing when the node first announces something) and after it (also the reaping of
 * dead nodes and reconciliation). Returns -1 when the connection failed. */
int redis_presence_tick(struct redis *r, redisContext *c, struct presence_beat *pb,
                        bool batch_pending);
/* Writer thread, stopping after its last batch: the heartbeat goes, and the node's entry if it
 * announces nothing any more. */
void redis_presence_leave(struct redis *r, redisContext *c);

/* Bridge thread: reads every other node's announcements (reset, then one event callback each)
 * and the position of the Stream's newest entry they are current at (*from_n: entries up to it
 * are already reflected). Returns -1 when the connection failed. */
int redis_presence_load(struct redis *r, redisContext *c, uint64_t *from_n);

#endif
