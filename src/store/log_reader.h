/* Reads the embedded log's records back, for replay older than the in-memory hot tier: the
 * archive (core/archive.h) of a history kept by store/log.c. One reader thread serves the reads
 * of every worker in turn, each bounded (ARCHIVE_READ_EVENTS events, max_bytes), so a storm of
 * deep resumes costs a bounded amount of memory per stream and never blocks a worker. Finds of an
 * id run on the same thread, ahead of reads: the id's seq comes from the log's index
 * (store/log_index.h) and is verified against its record. */
#ifndef SSEB_STORE_LOG_READER_H
#define SSEB_STORE_LOG_READER_H

#include <stddef.h>
#include <stdint.h>

struct archive;
struct log_index;

struct log_reader;

/* Reads segment files of the directory dirfd (borrowed) found through index (borrowed); only the
 * newest `window` seqs count as retained (--history-size; 0: all the index holds). NULL when the
 * thread cannot start. */
struct log_reader *log_reader_start(int dirfd, struct log_index *index, uint64_t window);
/* Answers the reads still queued, then stops the thread. */
void log_reader_stop(struct log_reader *r);
struct archive *log_reader_archive(struct log_reader *r);

/* For /metrics: reads served, events read from the files, finds answered. */
void log_reader_counts(struct log_reader *r, uint64_t *reads, uint64_t *events, uint64_t *finds);

#endif
