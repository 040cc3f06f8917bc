/* The embedded log (DESIGN.md section 2.2): an order authority that keeps every accepted update
 * in segment files under one directory, replays them into history after a restart, and never
 * acknowledges an update it has not written (and, with --fsync always, synced).
 *
 * One writer thread gathers what every worker submitted, writes it with one pwritev, syncs per
 * --fsync (group commit), then commits the batch to the hub in its log order and posts each
 * outcome to the submitting worker. Workers never touch the disk. Retention removes whole sealed
 * segments by record count, bytes and age, so disk use stays within the bounds plus one segment.
 *
 * Retention by record count is also a window on read: the log's archive (store/log_reader.c)
 * offers only the newest max_records, as memory alone would. A record the reader could not read
 * back (record.h's size limit) is refused at submission (AUTHORITY_TOO_LARGE).
 *
 * Recovery at open (store/log_recover.c): every segment is checked record by record (length,
 * CRC-32C, structure). A torn or damaged tail of the newest segment is truncated at its first bad
 * record; a bad record in an older, sealed segment sets that segment aside (renamed *.corrupt):
 * a discontinuity, counted and marked as a break in history (a resume from before it is told
 * "earliest"). A lock on DIR/LOCK keeps a second process away. */
#ifndef SSEB_STORE_LOG_H
#define SSEB_STORE_LOG_H

#include <stddef.h>
#include <stdint.h>

struct hub;
struct authority;

enum log_fsync {
    LOG_FSYNC_ALWAYS,   /* fdatasync each batch before acknowledging it */
    LOG_FSYNC_INTERVAL, /* acknowledge once written; fdatasync every interval */
    LOG_FSYNC_NEVER,    /* acknowledge once written; the kernel writes back when it likes */
};

struct log_options {
    const char *dir;
    enum log_fsync fsync;
    uint32_t fsync_interval_ms;
    size_t segment_bytes;
    uint64_t max_records; /* retention (0: no bound) */
    uint64_t max_bytes;
    uint32_t max_age_s;
};

/* What recovery found. */
struct log_report {
    uint64_t records;         /* valid records found (the newest of them are in history) */
    uint64_t segments;        /* segments in use */
    uint64_t truncated_bytes; /* cut from the newest segment's tail */
    uint64_t quarantined;     /* sealed segments set aside for a bad record */
    uint64_t discontinuities; /* gaps in record numbers between segments, quarantines */
};

/* Opens (creating when needed) and recovers the log in o->dir, loading its records into the hub's
 * history, and starts the writer. NULL with a reason in err (the directory is locked by another
 * process, unreadable, ...). */
struct authority *authority_log_open(struct hub *hub, const struct log_options *o,
                                     struct log_report *report, char *err, size_t errlen);

#endif
