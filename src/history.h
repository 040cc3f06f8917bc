/* In-memory history: the source of truth for order and replay. Bounded by count and bytes.
 * Appends take a short mutex (publishers only); the fan-out path never touches it. */
#ifndef SSEB_HISTORY_H
#define SSEB_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event;
struct history;

struct history *history_new(uint32_t max_events, size_t max_bytes);
void history_free(struct history *h);

/* Locks the history for one append; between lock and unlock the caller assigns the order by
 * calling history_append and hands the event to the bus, so both see the same order. */
void history_lock(struct history *h);
void history_unlock(struct history *h);
/* Assigns ev->seq and keeps a reference to ev. Must hold the lock. */
void history_append(struct history *h, struct event *ev);

enum replay_from { REPLAY_AFTER_ID, REPLAY_EARLIEST };

struct replay {
    struct event **events; /* references owned by the caller: event_unref each, then free */
    size_t n;
    uint64_t upto; /* seq of the newest event in history when the snapshot was taken */
    bool found;    /* the id was found (always true for REPLAY_EARLIEST) */
};

/* Snapshots every retained event after id (or all of them), taking a reference to each.
 * Returns -1 when out of memory. */
int history_replay(struct history *h, enum replay_from from, const char *id, size_t id_len,
                   struct replay *out);
void replay_release(struct replay *r);

/* Copies the id of the newest retained event into out (NUL-terminated, truncated to cap), or
 * "earliest" when history is empty. */
void history_last_id(struct history *h, char *out, size_t cap);

/* seq of the newest appended event (0 when none yet). */
uint64_t history_last_seq(struct history *h);

struct history_stats {
    uint64_t events, bytes, evicted;
};
void history_stats(struct history *h, struct history_stats *out);

#endif
