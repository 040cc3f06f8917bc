/* The embedded log's on-disk format: segment files of length-prefixed, checksummed records.
 *
 *   segment  = header record...
 *   header   = "SSEBLOG1" (8 bytes) | first record number (u64, little-endian)
 *   record   = body length (u32) | CRC-32C of the body (u32) | body
 *   body     = time_ms (u64) | flags (u8: bit 0 private) | 0 (u8) | topic count (u16)
 *              | id length (u32) | wire length (u32) | each topic's length (u32)
 *              | topics | id | wire (the event's SSE bytes, as encoded once at publish)
 *
 * All integers little-endian. A record is valid only when its length fits what follows, its
 * checksum matches and its inner lengths add up to the body exactly: a torn or corrupt tail is
 * recognised at its first bad record. Pure functions, no I/O (the fuzz target calls them). */
#ifndef SSEB_STORE_RECORD_H
#define SSEB_STORE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ssebroker/event.h"

#define LOG_SEGMENT_MAGIC     "SSEBLOG1"
#define LOG_SEGMENT_HEADER    16
#define LOG_RECORD_HEADER     8
#define LOG_RECORD_MAX_TOPICS 65535
#define LOG_RECORD_MAX_BODY   (512u * 1024 * 1024)

struct event;

/* An event as stored, borrowed from the record's bytes when decoded (topics in a caller array). */
struct log_record {
    uint64_t time_ms; /* wall clock at acceptance, for --history-age */
    bool private_;
    const struct sseb_str *topics;
    size_t ntopics;
    struct sseb_str id;
    struct sseb_str wire;
};

/* Bytes record_encode needs for ev. */
size_t record_size(const struct event *ev);
/* False when ev's record would be larger than record_decode accepts: a store must refuse it
 * rather than acknowledge an update it cannot read back. */
bool record_fits(const struct event *ev);
/* Writes the record of ev at time_ms into out (record_size(ev) bytes); returns the bytes
 * written. */
size_t record_encode(uint8_t *out, const struct event *ev, uint64_t time_ms);

enum record_status {
    RECORD_OK,
    RECORD_TRUNCATED, /* fewer bytes than the record announces: a torn write at the tail */
    RECORD_CORRUPT,   /* checksum or structure wrong */
};

/* Decodes the record at p[0..avail): on RECORD_OK fills *out (topics into topics[0..max_topics),
 * all pointing into p) and *used. */
enum record_status record_decode(const uint8_t *p, size_t avail, struct log_record *out,
                                 struct sseb_str *topics, size_t max_topics, size_t *used);

/* Segment files are named by their first record number: "%020" PRIu64 ".log" (suffix ".log"). */
#define LOG_SEGMENT_NAME_LEN 32
void segment_name(char out[LOG_SEGMENT_NAME_LEN], uint64_t first, const char *suffix);

/* Segment headers. */
void segment_header_encode(uint8_t out[LOG_SEGMENT_HEADER], uint64_t first_record);
bool segment_header_decode(const uint8_t *p, size_t avail, uint64_t *first_record);

#endif
