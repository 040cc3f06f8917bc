/* The client side of Redis Sentinel (hiredis has none), for cluster mode's threads.
 *
 * Every (re)connection asks the sentinels where the master is (SENTINEL get-master-addr-by-name,
 * each sentinel in turn until one names it), connects there and requires ROLE = master: a
 * sentinel that has not yet seen a failover, or an old master that came back before the
 * sentinels turned it into a replica, is not written to. A watcher thread stays subscribed to
 * +switch-master on one sentinel: when the master changes, it moves the authority's master epoch
 * on, which makes the writer and the bridge drop their connections and resolve again at once
 * (instead of after their backoff, or never, for a demoted master that still answers). */
#ifndef SSEB_STORE_REDIS_SENTINEL_H
#define SSEB_STORE_REDIS_SENTINEL_H

#include <stddef.h>
#include <stdint.h>

#include "store/redis_conn.h"

/* "HOST:PORT[,HOST:PORT...]" ([v6]:PORT allowed; the port defaults to 26379). Returns 0, or -1
 * with the reason in err. */
int redis_sentinels_parse(const char *list, struct redis_sentinels *out, char *err, size_t errlen);

/* Asks the sentinels for the master's address, beginning with sentinel *next and going round;
 * *next then names the one that answered, so that it is asked first next time. RCONN_OK with
 * host and port, else RCONN_UNREACHABLE with the reason in err. */
enum redis_connect_status redis_sentinel_resolve(const struct redis_sentinels *s,
                                                 const char *master, uint32_t timeout_ms, int *next,
                                                 char host[256], int *port, char *err,
                                                 size_t errlen);

/* Connects to the master: o->target itself without sentinels, else where the sentinels say it
 * is (asked again on every call). Either way the server must answer ROLE with "master"; a replica
 * is RCONN_UNREACHABLE (it may be promoted later). *at receives the address connected to (with
 * o->target's credentials and db). next is the caller's redis_sentinel_resolve cursor. */
enum redis_connect_status redis_connect_master(const struct redis_options *o, int *next,
                                               redisContext **out, struct redis_target *at,
                                               char *err, size_t errlen, char *warn,
                                               size_t warnlen);

/* The watcher thread's body (started by store/redis.c when there are sentinels). */
void *redis_sentinel_watch_main(void *redis);

#endif
