/* The embedded log's recovery at open (store/log.h): every segment is checked record by record
 * (length, CRC-32C, structure) and its valid records loaded into history and the index, oldest
 * first. A torn or damaged tail of the newest segment is truncated at its first bad record; a bad
 * record in an older, sealed segment sets that segment aside (renamed *.corrupt). Either that or
 * record numbers that do not follow on from one segment to the next lose acknowledged updates:
 * each is a break in history (history_mark_break), so that a resume from before it is answered
 * Last-Event-ID: earliest instead of silently skipping what was lost. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "core/event.h"
#include "core/history.h"
#include "core/hub.h"
#include "store/log.h"
#include "store/log_index.h"
#include "store/log_internal.h"
#include "store/record.h"

#define NAME_LEN LOG_SEGMENT_NAME_LEN

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The numbers of the segment files in the directory, sorted. */
static int list_segments(struct log *l, uint64_t **out, size_t *n)
{
    DIR *d = fdopendir(dup(l->dirfd));
    if (!d) return -1;
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        uint64_t v;
        char tail[8];
        if (strlen(e->d_name) != 24 || sscanf(e->d_name, "%20" SCNu64 "%7s", &v, tail) != 2 ||
            strcmp(tail, ".log") != 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *p = realloc(*out, cap * sizeof(*p));
            if (!p) {
                closedir(d);
                return -1;
            }
            *out = p;
        }
        (*out)[(*n)++] = v;
    }
    closedir(d);
    if (*n) qsort(*out, *n, sizeof(**out), cmp_u64);
    return 0;
}

/* Acknowledged updates were lost here: history resumes nothing from before this point. */
static void mark_break(struct log *l, struct log_report *rep)
{
    history_mark_break(l->hub->history);
    rep->discontinuities++;
}

/* Appends a recovered record to history (the hot tier keeps the newest) and indexes it. */
static void load_event(struct log *l, uint64_t file, uint64_t offset, const struct log_record *r)
{
    struct event *ev = event_new_encoded(r->topics, r->ntopics, r->id, r->wire, r->private_);
    if (!ev) return; /* out of memory at start: the record stays on disk, only not replayable */
    struct event *evicted = NULL;
    history_lock(l->hub->history);
    history_append(l->hub->history, ev, &evicted);
    history_unlock(l->hub->history);
    history_release_evicted(evicted);
    log_index_add(l->index, file, ev->seq, offset, r->id.p, r->id.len);
    event_unref(ev);
}

/* What one segment's check found. */
struct checked {
    size_t size;    /* file size */
    size_t good;    /* bytes of header and valid records */
    size_t records; /* valid records */
    int64_t newest_ms;
    bool bad; /* a bad header or record at `good` */
};

/* Reads the segment numbered first (open on fd) and loads its valid records. -1 on an I/O
 * error. */
static int check_segment(struct log *l, int fd, uint64_t first, struct sseb_str *topics,
                         struct checked *out)
{
    struct stat st;
    if (fstat(fd, &st)) return -1;
    size_t size = (size_t)st.st_size;
    uint8_t *data = size ? malloc(size) : NULL;
    if (size && (!data || pread(fd, data, size, 0) != (ssize_t)size)) {
        free(data);
        return -1;
    }
    *out = (struct checked){.size = size};
    uint64_t header_first;
    out->bad = !segment_header_decode(data, size, &header_first) || header_first != first;
    if (!out->bad) out->good = LOG_SEGMENT_HEADER;
    while (!out->bad && out->good < size) {
        struct log_record r;
        size_t used;
        if (record_decode(data + out->good, size - out->good, &r, topics, LOG_RECORD_MAX_TOPICS,
                          &used) != RECORD_OK) {
            out->bad = true;
            break;
        }
        load_event(l, first, out->good, &r);
        out->newest_ms = (int64_t)r.time_ms;
        out->records++;
        out->good += used;
    }
    free(data);
    return 0;
}

/* A sealed segment with a bad record: set it aside. What followed the bad record is lost, so
 * this is a break; the records before it stay in memory while they last. */
static int set_aside(struct log *l, const char *name, uint64_t first, const struct checked *ck,
                     struct log_report *rep, char *err, size_t errlen)
{
    char aside[NAME_LEN + 8];
    snprintf(aside, sizeof(aside), "%s.corrupt", name);
    if (renameat(l->dirfd, name, l->dirfd, aside)) {
        snprintf(err, errlen, "%s/%s: cannot set aside: %s", l->dir, name, strerror(errno));
        return -1;
    }
    log_index_drop_file(l->index, first);
    rep->quarantined++;
    rep->records += ck->records;
    mark_break(l, rep);
    log_warn("history segment damaged, set aside: resumes from before it get Last-Event-ID "
             "earliest",
             "dir=\"%s\" segment=%s kept_records=%zu lost_after_offset=%zu", l->dir, aside,
             ck->records, ck->good);
    return 0;
}

/* The newest segment's torn or damaged tail: cut it at the first bad record (a header that is
 * itself bad is rewritten). Returns the size kept, or -1. */
static long truncate_tail(struct log *l, int fd, const char *name, uint64_t first,
                          const struct checked *ck, struct log_report *rep, char *err,
                          size_t errlen)
{
    size_t keep = ck->good;
    if (ck->bad) {
        if (ftruncate(fd, (off_t)keep) || (keep == 0 && fsync(fd))) {
            snprintf(err, errlen, "%s/%s: cannot truncate: %s", l->dir, name, strerror(errno));
            return -1;
        }
        rep->truncated_bytes += ck->size - keep;
        log_warn("history tail truncated at its first bad record",
                 "dir=\"%s\" segment=%s kept_records=%zu truncated_bytes=%zu", l->dir, name,
                 ck->records, ck->size - keep);
    }
    if (keep == 0) { /* an empty newest segment: give it its header again */
        uint8_t h[LOG_SEGMENT_HEADER];
        segment_header_encode(h, first);
        if (pwrite(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
            snprintf(err, errlen, "%s/%s: %s", l->dir, name, strerror(errno));
            return -1;
        }
        keep = sizeof(h);
    }
    return (long)keep;
}

/* Checks and loads one segment. *expected is the record number that should come first (the one
 * after the previous segment's last; UINT64_MAX: anything may). Returns 0, or -1 on an I/O error
 * (reported in err). */
static int recover_segment(struct log *l, uint64_t first, bool newest, uint64_t *expected,
                           struct log_report *rep, struct sseb_str *topics, char *err,
                           size_t errlen)
{
    char name[NAME_LEN];
    segment_name(name, first, ".log");
    int fd = openat(l->dirfd, name, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s/%s: %s", l->dir, name, strerror(errno));
        return -1;
    }
    /* Numbers that do not follow on: the segments between were lost (removed by hand). */
    if (*expected != UINT64_MAX && *expected != first) mark_break(l, rep);
    struct checked ck;
    if (check_segment(l, fd, first, topics, &ck)) {
        snprintf(err, errlen, "%s/%s: cannot read: %s", l->dir, name, strerror(errno));
        close(fd);
        return -1;
    }
    if (ck.bad && !newest) {
        close(fd);
        /* The next segment's number says how many records this one held: nothing to check. */
        *expected = UINT64_MAX;
        return set_aside(l, name, first, &ck, rep, err, errlen);
    }
    long keep = truncate_tail(l, fd, name, first, &ck, rep, err, errlen);
    struct segment *s = keep < 0 ? NULL : log_push_segment(l, first);
    if (!s) {
        if (keep >= 0) snprintf(err, errlen, "out of memory");
        close(fd);
        return -1;
    }
    s->records = ck.records;
    s->bytes = (uint64_t)keep;
    s->newest_ms = ck.newest_ms;
    l->disk_bytes += (uint64_t)keep;
    rep->records += ck.records;
    *expected = first + ck.records;
    if (newest)
        l->active_fd = fd;
    else
        close(fd);
    return 0;
}

int log_recover(struct log *l, struct log_report *rep, char *err, size_t errlen)
{
    uint64_t *nums;
    size_t n;
    if (list_segments(l, &nums, &n)) {
        snprintf(err, errlen, "history directory %s: %s", l->dir, strerror(errno));
        return -1;
    }
    struct sseb_str *topics = malloc(LOG_RECORD_MAX_TOPICS * sizeof(*topics));
    if (!topics) {
        free(nums);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    uint64_t expected = UINT64_MAX;
    for (size_t i = 0; i < n && !rc; i++)
        rc = recover_segment(l, nums[i], i + 1 == n, &expected, rep, topics, err, errlen);
    free(topics);
    free(nums);
    if (rc) return -1;
    if (!l->nsegs || l->active_fd < 0) {
        uint64_t first = l->nsegs ? l->segs[l->nsegs - 1].first + l->segs[l->nsegs - 1].records : 0;
        if (log_open_segment(l, first)) {
            snprintf(err, errlen, "history directory %s: cannot create a segment: %s", l->dir,
                     strerror(errno));
            return -1;
        }
    }
    return 0;
}
