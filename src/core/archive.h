/* History older than memory holds: a store that keeps more than the in-memory hot tier (the
 * embedded log's files) offers it here, so that a Last-Event-ID older than memory is still found
 * (in O(1)) and the events after it are streamed back in bounded chunks as the socket drains.
 *
 * Finds and reads are asynchronous, because both may touch the disk and a worker never does: the
 * worker hands over a request and goes on serving; the store answers it on its own thread and
 * posts it to the worker's completion queue (core/completion.h), where `done` runs. The
 * requester owns the request's memory (and a find's id) until then.
 *
 * Threads: find and read from any thread (they only queue); oldest is a lock-free read. */
#ifndef SSEB_CORE_ARCHIVE_H
#define SSEB_CORE_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/authority.h"

#define ARCHIVE_READ_EVENTS 256 /* events per read at most */

struct event;
struct archive;

struct archive_find {
    /* done runs on the requesting worker; result AUTHORITY_STORED when answered (found or
     * not), AUTHORITY_FAILED on an I/O error (as good as not found). */
    struct authority_ticket ticket;
    const char *id; /* in: the id looked for, borrowed until done */
    size_t id_len;
    bool found;   /* out: the newest retained event with this id, verified against its record */
    uint64_t seq; /* out: its seq */
};

struct archive_read {
    /* done runs on the requesting worker; result AUTHORITY_STORED when read (even partly),
     * AUTHORITY_FAILED on an I/O error. */
    struct authority_ticket ticket;
    uint64_t from, upto; /* in: the seqs wanted, oldest first */
    size_t max_bytes;    /* in: wire bytes per read at most (one event at least) */
    /* out: events[0..nevents), oldest first, each with a reference for the requester */
    struct event *events[ARCHIVE_READ_EVENTS];
    size_t nevents;
    uint64_t next; /* out: where the following read starts */
    bool gap; /* out: `from` is no longer retained (next is the oldest that is), nothing read */
};

struct archive_ops {
    /* Queues f; its ticket is posted once answered. */
    void (*find)(struct archive *a, struct archive_find *f);
    /* Seq of the oldest retained event (0: none). Lock-free, no I/O. */
    uint64_t (*oldest)(struct archive *a);
    /* Queues r; its ticket is posted once read. */
    void (*read)(struct archive *a, struct archive_read *r);
};

struct archive {
    const struct archive_ops *ops;
};

static inline void archive_find(struct archive *a, struct archive_find *f)
{
    a->ops->find(a, f);
}
static inline uint64_t archive_oldest(struct archive *a)
{
    return a->ops->oldest(a);
}
static inline void archive_read(struct archive *a, struct archive_read *r)
{
    a->ops->read(a, r);
}

#endif
