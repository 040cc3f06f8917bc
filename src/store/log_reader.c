#include "store/log_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/archive.h"
#include "core/completion.h"
#include "core/ticket_fifo.h"
#include "core/event.h"
#include "store/log_index.h"
#include "store/record.h"

#define READ_CHUNK (64 * 1024) /* bytes read from a file at once */
#define FIND_GUESS 4096        /* bytes read to verify a find's record: most are smaller */

/* Room to decode records in: their bytes and their topic list, grown as records need. */
struct scratch {
    uint8_t *buf;
    size_t cap;
    struct sseb_str *topics;
    size_t ntopics_cap;
};

struct log_reader {
    struct archive base;
    int dirfd;
    struct log_index *index;
    uint64_t window; /* --history-size: the newest this many seqs are retained (0: no bound) */

    pthread_mutex_t lock;
    pthread_cond_t wake;
    /* Queued requests, linked through ticket.next: finds (answered first: a subscriber waits
     * for its head on each) and reads. */
    struct ticket_fifo finds, reads;
    bool stop;
    pthread_t thread;

    /* The thread's own. */
    int fd; /* the segment file read last, or -1 */
    uint64_t fd_file;
    struct scratch scratch;

    _Atomic uint64_t n_reads, n_events, n_finds;
};

static void scratch_free(struct scratch *s)
{
    free(s->buf);
    free(s->topics);
}

static int scratch_reserve(struct scratch *s, size_t bytes, size_t ntopics)
{
    if (bytes > s->cap) {
        uint8_t *b = realloc(s->buf, bytes);
        if (!b) return -1;
        s->buf = b;
        s->cap = bytes;
    }
    if (ntopics > s->ntopics_cap) {
        struct sseb_str *t = realloc(s->topics, ntopics * sizeof(*t));
        if (!t) return -1;
        s->topics = t;
        s->ntopics_cap = ntopics;
    }
    return 0;
}

static int open_file(int dirfd, uint64_t file)
{
    char name[LOG_SEGMENT_NAME_LEN];
    segment_name(name, file, ".log");
    return openat(dirfd, name, O_RDONLY | O_CLOEXEC);
}

/* Reads up to len bytes at off into s->buf; the bytes read, or -1. */
static ssize_t read_at(int fd, struct scratch *s, uint64_t off, size_t len)
{
    if (scratch_reserve(s, len, 0)) return -1;
    ssize_t n;
    do
        n = pread(fd, s->buf, len, (off_t)off);
    while (n < 0 && errno == EINTR);
    return n;
}

/* The topic count a record announces (its body's bytes 10-11), for sizing the topic list. */
static size_t announced_topics(const uint8_t *p, size_t avail)
{
    if (avail < LOG_RECORD_HEADER + 12) return 1;
    return (size_t)p[LOG_RECORD_HEADER + 10] | (size_t)p[LOG_RECORD_HEADER + 11] << 8;
}

/* Decodes the record at p, sizing the topic list first. */
static enum record_status decode(struct scratch *s, const uint8_t *p, size_t avail,
                                 struct log_record *out, size_t *used)
{
    size_t nt = announced_topics(p, avail);
    if (scratch_reserve(s, 0, nt ? nt : 1)) return RECORD_CORRUPT;
    return record_decode(p, avail, out, s->topics, s->ntopics_cap, used);
}

/* Reads the whole record at off of fd into s: first guess bytes, then, when the header says it
 * is longer, all of it. */
static enum record_status read_record(int fd, struct scratch *s, uint64_t off, size_t guess,
                                      struct log_record *out)
{
    ssize_t n = read_at(fd, s, off, guess);
    if (n < LOG_RECORD_HEADER) return RECORD_TRUNCATED;
    size_t used, want = LOG_RECORD_HEADER + ((size_t)s->buf[0] | (size_t)s->buf[1] << 8 |
                                             (size_t)s->buf[2] << 16 | (size_t)s->buf[3] << 24);
    if ((size_t)n < want && want <= LOG_RECORD_HEADER + LOG_RECORD_MAX_BODY) {
        n = read_at(fd, s, off, want);
        if (n < 0) return RECORD_TRUNCATED;
    }
    return decode(s, s->buf, (size_t)n, out, &used);
}

/* ---- requests ------------------------------------------------------------------------------ */

/* The oldest retained seq: the index's, or the start of the --history-size window over the
 * newest, whichever is later (files are removed by whole segments, the window is exact). */
static uint64_t reader_oldest(struct archive *a)
{
    struct log_reader *r = (struct log_reader *)a;
    uint64_t oldest = log_index_oldest(r->index), newest = log_index_newest(r->index);
    if (r->window && newest >= r->window && newest - r->window + 1 > oldest)
        oldest = newest - r->window + 1;
    return oldest;
}

static void enqueue(struct log_reader *r, struct ticket_fifo *q, struct authority_ticket *t)
{
    pthread_mutex_lock(&r->lock);
    ticket_fifo_push(q, t);
    pthread_mutex_unlock(&r->lock);
    pthread_cond_signal(&r->wake);
}

static void reader_find(struct archive *a, struct archive_find *f)
{
    struct log_reader *r = (struct log_reader *)a;
    enqueue(r, &r->finds, &f->ticket);
}

static void reader_read(struct archive *a, struct archive_read *req)
{
    struct log_reader *r = (struct log_reader *)a;
    enqueue(r, &r->reads, &req->ticket);
}

static int use_file(struct log_reader *r, uint64_t file)
{
    if (r->fd >= 0 && r->fd_file == file) return r->fd;
    if (r->fd >= 0) close(r->fd);
    r->fd = open_file(r->dirfd, file);
    r->fd_file = file;
    return r->fd;
}

static bool has_room(const struct archive_read *req, size_t bytes)
{
    return req->nevents < ARCHIVE_READ_EVENTS && bytes < req->max_bytes;
}

/* Makes an event of rec (seq given) for req. False when out of memory. */
static bool take(struct archive_read *req, const struct log_record *rec, uint64_t seq,
                 size_t *bytes)
{
    struct event *ev =
        event_new_encoded(rec->topics, rec->ntopics, rec->id, rec->wire, rec->private_);
    if (!ev) return false;
    ev->seq = seq;
    req->events[req->nevents++] = ev;
    *bytes += ev->wire_len;
    return true;
}

/* Reads the records of one run (n of them, consecutive in file from off) starting at seq into
 * req, within its bounds. Returns the records taken, or -1 on an I/O error. */
static long read_run(struct log_reader *r, struct archive_read *req, uint64_t seq, uint64_t file,
                     uint64_t off, uint64_t n, size_t *bytes)
{
    int fd = use_file(r, file);
    if (fd < 0) return errno == ENOENT ? 0 : -1; /* ENOENT: removed by retention just now */
    struct scratch *s = &r->scratch;
    uint64_t taken = 0;
    while (taken < n && has_room(req, *bytes)) {
        ssize_t got = read_at(fd, s, off, READ_CHUNK);
        if (got < 0) return -1;
        size_t pos = 0, used;
        struct log_record rec;
        /* Every record the chunk holds whole. */
        while (taken < n && has_room(req, *bytes)) {
            enum record_status st = decode(s, s->buf + pos, (size_t)got - pos, &rec, &used);
            if (st == RECORD_TRUNCATED) break;
            if (st != RECORD_OK) return -1; /* the index points at something that is no record */
            if (!take(req, &rec, seq + taken, bytes)) return taken ? (long)taken : -1;
            taken++;
            pos += used;
        }
        if (pos == 0 && taken < n && has_room(req, *bytes)) {
            /* One record larger than a chunk: read it whole. */
            if (read_record(fd, s, off, READ_CHUNK, &rec) != RECORD_OK) return -1;
            if (!take(req, &rec, seq + taken, bytes)) return taken ? (long)taken : -1;
            taken++;
            pos = (size_t)(rec.wire.p + rec.wire.len - (const char *)s->buf);
        }
        off += pos;
    }
    return (long)taken;
}

static void serve(struct log_reader *r, struct archive_read *req)
{
    req->nevents = 0;
    req->gap = false;
    enum authority_result result = AUTHORITY_STORED;
    uint64_t seq = req->from, oldest = reader_oldest(&r->base);
    if (!oldest || seq < oldest) {
        req->gap = true;
        req->next = oldest ? oldest : req->upto + 1;
        goto done;
    }
    size_t bytes = 0;
    while (seq <= req->upto && req->nevents < ARCHIVE_READ_EVENTS && bytes < req->max_bytes) {
        uint64_t file, off, run;
        if (!log_index_locate(r->index, seq, &file, &off, &run)) {
            /* Not indexed (out of memory then, or its segment set aside): skip to what is. */
            uint64_t next = log_index_next(r->index, seq);
            seq = next ? next : req->upto + 1;
            continue;
        }
        if (run > req->upto - seq + 1) run = req->upto - seq + 1;
        long got = read_run(r, req, seq, file, off, run, &bytes);
        if (got < 0) {
            result = AUTHORITY_FAILED;
            break;
        }
        if (got == 0) { /* the file went away under us: retention moved past seq */
            if (req->nevents == 0) {
                uint64_t now_oldest = reader_oldest(&r->base);
                req->gap = true;
                req->next = now_oldest ? now_oldest : req->upto + 1;
                goto done;
            }
            break;
        }
        seq += (uint64_t)got;
    }
    req->next = seq;
done:
    atomic_fetch_add_explicit(&r->n_reads, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->n_events, req->nevents, memory_order_relaxed);
    completion_post(&req->ticket, result);
}

/* Looks f's id up in the index and confirms the hit against its record (the index keeps
 * hashes). */
static void serve_find(struct log_reader *r, struct archive_find *f)
{
    f->found = false;
    uint64_t candidate, file, off, run;
    if (log_index_find(r->index, f->id, f->id_len, &candidate) &&
        candidate >= reader_oldest(&r->base) &&
        log_index_locate(r->index, candidate, &file, &off, &run)) {
        int fd = use_file(r, file); /* -1: removed by retention meanwhile */
        struct log_record rec;
        f->found = fd >= 0 && read_record(fd, &r->scratch, off, FIND_GUESS, &rec) == RECORD_OK &&
                   rec.id.len == f->id_len && memcmp(rec.id.p, f->id, f->id_len) == 0;
        if (f->found) f->seq = candidate;
    }
    atomic_fetch_add_explicit(&r->n_finds, 1, memory_order_relaxed);
    completion_post(&f->ticket, AUTHORITY_STORED);
}

static void *reader_main(void *arg)
{
    struct log_reader *r = arg;
    pthread_setname_np(pthread_self(), "sseb-log-reader");
    for (;;) {
        pthread_mutex_lock(&r->lock);
        while (ticket_fifo_empty(&r->finds) && ticket_fifo_empty(&r->reads) && !r->stop)
            pthread_cond_wait(&r->wake, &r->lock);
        struct authority_ticket *find = ticket_fifo_pop(&r->finds);
        struct authority_ticket *read = find ? NULL : ticket_fifo_pop(&r->reads);
        pthread_mutex_unlock(&r->lock);
        if (find)
            serve_find(r, (struct archive_find *)find);
        else if (read)
            serve(r, (struct archive_read *)read);
        else
            break; /* stopping, and nothing is left */
    }
    return NULL;
}

static const struct archive_ops reader_ops = {
    .find = reader_find,
    .oldest = reader_oldest,
    .read = reader_read,
};

struct log_reader *log_reader_start(int dirfd, struct log_index *index, uint64_t window)
{
    struct log_reader *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    r->base.ops = &reader_ops;
    r->dirfd = dirfd;
    r->index = index;
    r->window = window;
    r->fd = -1;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->wake, NULL);
    if (pthread_create(&r->thread, NULL, reader_main, r)) {
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->wake);
        free(r);
        return NULL;
    }
    return r;
}

void log_reader_stop(struct log_reader *r)
{
    if (!r) return;
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    pthread_mutex_unlock(&r->lock);
    pthread_cond_signal(&r->wake);
    pthread_join(r->thread, NULL);
    if (r->fd >= 0) close(r->fd);
    scratch_free(&r->scratch);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->wake);
    free(r);
}

struct archive *log_reader_archive(struct log_reader *r)
{
    return &r->base;
}

void log_reader_counts(struct log_reader *r, uint64_t *reads, uint64_t *events, uint64_t *finds)
{
    *finds = atomic_load_explicit(&r->n_finds, memory_order_relaxed);
    *reads = atomic_load_explicit(&r->n_reads, memory_order_relaxed);
    *events = atomic_load_explicit(&r->n_events, memory_order_relaxed);
}
