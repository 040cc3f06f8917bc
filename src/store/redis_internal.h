/* What the cluster mode's writer (store/redis.c) and bridge (store/redis_bridge.c) share. */
#ifndef SSEB_STORE_REDIS_INTERNAL_H
#define SSEB_STORE_REDIS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/authority.h"
#include "store/redis_conn.h"

struct event;
struct redis_archive;

/* A submission waiting for the writer. */
struct redis_item {
    struct event *ev;
    struct authority_ticket *ticket;
    int64_t submitted_us;
    uint64_t token; /* with the node's tag: makes a resend recognisable (see the script) */
    uint64_t n;     /* its position in the Stream, once appended */
    struct redis_item *next;
};

struct redis {
    struct authority base;
    struct hub *hub;
    struct redis_options opt;
    char *stream, *index; /* key names */
    char tag[48];         /* this process's random name, prefix of submission tokens */
    _Atomic uint64_t next_token;

    /* Submissions, shared by the workers and the writer. */
    pthread_mutex_t lock;
    pthread_cond_t wake;  /* the writer: work queued, or stop */
    pthread_cond_t pause; /* either thread's backoff: stop */
    struct redis_item *head, *tail;
    bool stop;
    _Atomic bool stopping;

    /* State, written by the threads, read anywhere (/readyz, /metrics, submit). */
    _Atomic bool writer_up, bridge_up;
    _Atomic bool writable; /* the master takes appends (and has --redis-wait-replicas replicas) */
    _Atomic bool loaded;   /* the bridge has read the retained Stream once */
    _Atomic uint64_t acked_n;     /* position of the newest append acknowledged here */
    _Atomic uint64_t read_n;      /* position of the newest entry the bridge read */
    _Atomic int64_t caught_up_ms; /* when the bridge last had read everything */
    _Atomic uint64_t reads;       /* XREADs the bridge has completed */
    _Atomic uint64_t n_batches, n_records, n_reconnects, n_discontinuities;
    _Atomic uint64_t n_timeout, n_unavailable, n_reply, n_unreplicated;
    _Atomic uint64_t lat_buckets[AUTHORITY_LATENCY_BUCKETS], lat_count, lat_sum_us;

    /* Workers waiting for the bridge to catch up (authority_sync), with the read count each
     * waits for in its mark. */
    pthread_mutex_t sync_lock;
    struct authority_ticket *sync_waiting;
    _Atomic uint32_t n_sync_waiting;

    /* The master: where the writer is connected (under lock; "" while it is not), and an epoch
     * the sentinel watcher moves on when the master changes (store/redis_sentinel.h). */
    char master_host[256];
    int master_port;
    _Atomic uint64_t master_epoch;

    struct redis_archive *archive; /* replay older than memory, from the Stream */

    /* Presence (store/redis_presence.h): the callbacks once registered, and whether the bridge
     * must read the registry again before its next read. */
    _Atomic(const struct authority_presence *) presence;
    _Atomic bool presence_reload;
    char *presence_key, *nodes_key, *alive_key;

    pthread_t writer, bridge, watcher;
    bool writer_started, bridge_started, watcher_started;
};

/* The threads' bodies (store/redis_writer.c, store/redis_bridge.c). */
void *redis_writer_main(void *redis);
void *redis_bridge_main(void *redis);

/* The bridge completed a read: post the sync waiters it satisfied (all of them, as failed,
 * when stopping). */
void redis_sync_progress(struct redis *r, bool stopping);

/* Sleeps for ms, or less when the authority is being freed or the master changes. */
void redis_pause(struct redis *r, uint32_t ms);

/* Backoff between connection attempts: 100 ms doubling to 2 s. */
#define REDIS_BACKOFF_MIN_MS 100
#define REDIS_BACKOFF_MAX_MS 2000

#endif
