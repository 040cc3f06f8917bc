/* Replay as deep as the Stream: cluster mode's archive (core/archive.h). A Last-Event-ID older
 * than the node's memory (--history-size) but still in the Stream (--redis-retain) is found
 * through the Stream's id index and the updates after it are read back with XRANGE in bounded
 * pages (ARCHIVE_READ_EVENTS events, the request's max_bytes) by a reader thread of its own with
 * its own connection (through the sentinels, like the writer's), posted to the requesting
 * worker's completion queue: reads never block a worker, and a storm of deep resumes costs each
 * stream one page at a time as its socket drains. (A find is answered the same way: the
 * subscribe is parked meanwhile, mercure/subscribe.c; one HGET and one XRANGE of one entry.)
 *
 * Seqs are this node's (history assigns them as the bridge commits): the bridge reports every
 * entry it commits (redis_archive_committed), and within a run of entries committed since the
 * last break seq and the Stream position grow together, so seq = run_seq + (n - run_n). A read
 * continues from the Stream id where the previous page ended (a small cache keyed by seq), or from
 * the nearest checkpoint (every 64th entry committed), and checks every entry's position: an entry
 * trimmed away meanwhile is a gap, never a silent skip. */
#ifndef SSEB_STORE_REDIS_ARCHIVE_H
#define SSEB_STORE_REDIS_ARCHIVE_H

#include <stdint.h>

#include "store/redis_conn.h"

struct redis;
struct archive;
struct redis_archive;

/* Starts the reader thread for r (borrowed; its options, stream and master epoch are used). NULL
 * when out of memory or the thread cannot start. */
struct redis_archive *redis_archive_start(struct redis *r);
/* Answers what is queued (reads fail once stopping), then stops the thread and frees a. */
void redis_archive_stop(struct redis_archive *a);
struct archive *redis_archive_base(struct redis_archive *a);

/* The bridge committed the entry sid at Stream position n as seq. Bridge thread only. */
void redis_archive_committed(struct redis_archive *a, uint64_t seq, struct stream_id sid,
                             uint64_t n);
/* A break in history: nothing before it can be replayed. Bridge thread only. */
void redis_archive_break(struct redis_archive *a);

/* For /metrics: reads served and events read back from the Stream. */
void redis_archive_counts(struct redis_archive *a, uint64_t *reads, uint64_t *events);

#endif
