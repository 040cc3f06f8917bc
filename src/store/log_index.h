/* The embedded log's index of what its files hold (DESIGN.md section 2.2), in memory only and
 * rebuilt at load: for every retained record, where it lies (segment file, byte offset) by its
 * history seq, and its seq by its id. This is what lets history older than the in-memory hot
 * tier be found (Last-Event-ID in O(1)) and read back from the files.
 *
 * Ids are kept as 64-bit hashes (about 40 B per record in all, against some 300 B for an event
 * in memory), so a hit names a candidate only: the caller verifies it against the record.
 *
 * Threads: one mutator, the log's writer (or recovery before it starts), adds and drops; the log's
 * reader finds and locates; oldest, newest and count are lock-free reads for anyone. The mutex
 * inside is never held across an allocation, a free or a system call: the mutator prepares
 * larger arrays beside the old ones, swaps them in under the lock and frees after unlocking. */
#ifndef SSEB_STORE_LOG_INDEX_H
#define SSEB_STORE_LOG_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct log_index;

struct log_index *log_index_new(void);
void log_index_free(struct log_index *x);

/* Records the record of history seq `seq` at `offset` in segment file `file`. Records come in
 * log order (seq and file never go back). -1 when out of memory (the record is then only not
 * findable). */
int log_index_add(struct log_index *x, uint64_t file, uint64_t seq, uint64_t offset, const char *id,
                  size_t id_len);
/* Forgets every record of segment file `file`, the oldest (retention removed it) or the newest
 * indexed (recovery set it aside). */
void log_index_drop_file(struct log_index *x, uint64_t file);

/* The newest indexed record whose id hashes like id: its seq. False when none. */
bool log_index_find(struct log_index *x, const char *id, size_t id_len, uint64_t *seq);
/* Where the record of seq lies, and how many records follow it contiguously in the same file
 * (itself included). False when seq is not indexed. */
bool log_index_locate(struct log_index *x, uint64_t seq, uint64_t *file, uint64_t *offset,
                      uint64_t *run);
/* Seq of the oldest indexed record at or after seq (seqs may skip where a record could not be
 * indexed or a damaged segment was set aside); 0 when there is none. */
uint64_t log_index_next(struct log_index *x, uint64_t seq);
/* Seq of the oldest / newest indexed record, 0 when empty. Lock-free. */
uint64_t log_index_oldest(struct log_index *x);
uint64_t log_index_newest(struct log_index *x);
/* Records indexed. Lock-free. */
uint64_t log_index_count(struct log_index *x);

#endif
