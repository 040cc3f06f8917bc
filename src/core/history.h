/* In-memory history: the retained updates in order, for replay, bounded by count and bytes, with
 * an id index for Last-Event-ID (O(1) whatever the length).
 *
 * Threads: one lock. The hub holds it across an append and the bus publish (so both see one
 * order); readers take it for one bounded chunk at a time. Nothing under the lock allocates,
 * frees or makes a system call: evicted events are handed back to the appender to release after
 * unlocking, and the id index deletes in place (no tombstones, no rebuild). */
#ifndef SSEB_CORE_HISTORY_H
#define SSEB_CORE_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event;
struct history;
struct archive;

struct history *history_new(uint32_t max_events, size_t max_bytes);
void history_free(struct history *h);

/* Locks the history for one append (see core/hub.c, its one caller). */
void history_lock(struct history *h);
void history_unlock(struct history *h);
/* Assigns ev->seq and keeps a reference to ev. Events evicted to stay within the bounds are
 * chained onto *evicted (through ev->evicted_next): the caller releases them with
 * history_release_evicted after unlocking. Must hold the lock. */
void history_append(struct history *h, struct event *ev, struct event **evicted);
void history_release_evicted(struct event *evicted);

/* The store behind memory (core/archive.h), for what memory no longer holds; NULL: none. Set once
 * before the workers start. */
void history_set_archive(struct history *h, struct archive *a);
struct archive *history_archive(const struct history *h);

enum history_start {
    HISTORY_START_FOUND,   /* *from_seq is where the replay starts */
    HISTORY_START_UNKNOWN, /* unknown id, or one from before a break: answer "earliest" */
    HISTORY_START_ARCHIVE, /* not in memory: ask the archive (archive_find, never on a worker's
                              own time), then history_replay_after with what it found */
};
/* Where a replay starts: after the event with this id (*from_seq = its seq + 1), or at the oldest
 * retained event when id is NULL ("earliest": always found, in memory or in the archive, whose
 * oldest is a lock-free read). An id memory does not hold is the archive's to look up, when
 * there is one. No I/O. */
enum history_start history_replay_lookup(struct history *h, const char *id, size_t id_len,
                                         uint64_t *from_seq);
/* The archive found the id at seq: true (*from_seq = seq + 1) unless it came before the newest
 * break (history_mark_break). */
bool history_replay_after(struct history *h, uint64_t seq, uint64_t *from_seq);

/* Reads at most max retained events with from <= seq <= upto into out, oldest first, taking a
 * reference to each (the caller unrefs them). *gap is set, and nothing read, when from is older
 * than the oldest retained event (evicted since); *oldest, when not NULL, then tells where history
 * starts now. Holds the lock for this one chunk. */
size_t history_read(struct history *h, uint64_t from, uint64_t upto, struct event **out, size_t max,
                    bool *gap, uint64_t *oldest);

/* Copies the id of the newest retained event into out (NUL-terminated, truncated to cap), or
 * "earliest" when history is empty. */
void history_last_id(struct history *h, char *out, size_t cap);

/* Records a break in the order (the store lost or reset part of it: DESIGN.md 2.1): from now on
 * an id appended before it resumes nothing (history_replay_lookup and _after answer it as unknown,
 * so the subscriber is told "earliest"), and history_breaks counts one more, which tells workers to
 * cut their streams so that every client finds out. */
void history_mark_break(struct history *h);
/* Breaks marked so far. Lock-free. */
uint64_t history_breaks(struct history *h);

/* seq of the newest appended event (0 when none yet). Lock-free. */
uint64_t history_last_seq(struct history *h);

struct history_stats {
    uint64_t events, bytes, evicted;
};
void history_stats(struct history *h, struct history_stats *out);

#endif
