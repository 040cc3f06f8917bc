/* What the embedded log's writer (store/log.c) and its recovery at open (store/log_recover.c)
 * share: the log's state and the segment list both keep. Recovery runs before the writer thread
 * starts, so neither locks what is here except the submission queue. */
#ifndef SSEB_STORE_LOG_INTERNAL_H
#define SSEB_STORE_LOG_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/authority.h"

struct event;
struct hub;
struct log_index;
struct log_options;
struct log_reader;
struct log_report;

struct segment {
    uint64_t first;    /* number of its first record (records are numbered from 0 for the log) */
    uint64_t records;  /* valid records in it */
    uint64_t bytes;    /* file size: header and valid records */
    int64_t newest_ms; /* wall-clock time of its newest record */
};

/* A submission waiting for the writer. */
struct item {
    struct event *ev;
    struct authority_ticket *ticket;
    struct item *next;
};

struct log {
    struct authority base;
    struct hub *hub;
    struct log_options *opt; /* a copy, owned */
    char *dir;
    int dirfd, lockfd;
    struct log_index *index;   /* where every retained record is, by seq and by id */
    struct log_reader *reader; /* reads them back for replay older than memory */

    /* The writer's own state (no lock: only the writer touches it after open). */
    struct segment *segs;
    size_t nsegs, capsegs;
    int active_fd; /* the newest segment, appended to */
    bool dirty;    /* written since the last sync */
    int64_t last_sync_ms;
    uint8_t *buf;
    size_t bufcap;
    uint64_t disk_bytes;

    /* What workers share with the writer. */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct item *head, *tail;
    bool stop;
    _Atomic bool broken;   /* a write failed and could not be undone: refuse everything */
    _Atomic bool stopping; /* log_free was called (the workers have stopped) */
    /* For /metrics: written by the writer (relaxed), read anywhere. */
    _Atomic uint64_t n_batches, n_records, n_syncs, n_errors, n_disk_bytes, n_segments,
        n_discontinuities;
    pthread_t thread;
    bool started;
};

/* Appends an empty entry for a segment numbered first to l->segs; NULL when out of memory. */
struct segment *log_push_segment(struct log *l, uint64_t first);
/* Creates the segment file numbered first (its header written and, per --fsync, synced) and
 * makes it the active one. -1 with errno on failure. */
int log_open_segment(struct log *l, uint64_t first);

/* Checks every segment file of l->dir record by record, loads the valid records into history
 * and the index, sets damaged sealed segments aside (each a break in history), truncates the
 * newest one's bad tail and leaves an active segment open. -1 with a reason in err. */
int log_recover(struct log *l, struct log_report *rep, char *err, size_t errlen);

#endif
