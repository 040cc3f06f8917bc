#include "store/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "core/authority.h"
#include "core/completion.h"
#include "core/event.h"
#include "core/history.h"
#include "core/hub.h"
#include "store/log_index.h"
#include "store/log_internal.h"
#include "store/log_reader.h"
#include "store/record.h"

#define BATCH_MAX_RECORDS 4096
#define NAME_LEN          LOG_SEGMENT_NAME_LEN

static int sync_dir(struct log *l)
{
    return l->opt->fsync == LOG_FSYNC_NEVER ? 0 : fsync(l->dirfd);
}

struct segment *log_push_segment(struct log *l, uint64_t first)
{
    if (l->nsegs == l->capsegs) {
        size_t ncap = l->capsegs ? l->capsegs * 2 : 16;
        struct segment *n = realloc(l->segs, ncap * sizeof(*n));
        if (!n) return NULL;
        l->segs = n;
        l->capsegs = ncap;
    }
    struct segment *s = &l->segs[l->nsegs++];
    *s = (struct segment){.first = first};
    return s;
}

int log_open_segment(struct log *l, uint64_t first)
{
    char name[NAME_LEN];
    segment_name(name, first, ".log");
    int fd = openat(l->dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    uint8_t h[LOG_SEGMENT_HEADER];
    segment_header_encode(h, first);
    struct segment *s = log_push_segment(l, first);
    if (!s || pwrite(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
        (l->opt->fsync != LOG_FSYNC_NEVER && fdatasync(fd)) || sync_dir(l)) {
        if (s) l->nsegs--;
        close(fd);
        return -1;
    }
    s->bytes = sizeof(h);
    l->disk_bytes += sizeof(h);
    if (l->active_fd >= 0) close(l->active_fd);
    l->active_fd = fd;
    return 0;
}

/* ---- retention ------------------------------------------------------------------------------- */

static uint64_t total_records(const struct log *l)
{
    uint64_t n = 0;
    for (size_t i = 0; i < l->nsegs; i++)
        n += l->segs[i].records;
    return n;
}

/* Removes the oldest sealed segments while what remains still meets every bound. */
static void apply_retention(struct log *l)
{
    int64_t now = clock_wall_ms();
    while (l->nsegs > 1) {
        const struct segment *old = &l->segs[0];
        uint64_t records = total_records(l);
        bool over_count = l->opt->max_records && records - old->records >= l->opt->max_records;
        bool over_bytes = l->opt->max_bytes && l->disk_bytes - old->bytes >= l->opt->max_bytes;
        bool too_old = l->opt->max_age_s && old->newest_ms &&
                       now - old->newest_ms > (int64_t)l->opt->max_age_s * 1000;
        if (!over_count && !over_bytes && !too_old) break;
        char name[NAME_LEN];
        segment_name(name, old->first, ".log");
        log_index_drop_file(l->index, old->first); /* first: no replay looks for it any more */
        if (unlinkat(l->dirfd, name, 0)) {
            log_warn("cannot remove an old history segment", "dir=\"%s\" segment=%s error=\"%s\"",
                     l->dir, name, strerror(errno));
            break;
        }
        l->disk_bytes -= old->bytes;
        memmove(l->segs, l->segs + 1, (l->nsegs - 1) * sizeof(*l->segs));
        l->nsegs--;
    }
}

/* ---- the writer ---------------------------------------------------------------------------------
 */

static void complete(struct item *it, enum authority_result result)
{
    if (it->ticket) completion_post(it->ticket, result);
    event_unref(it->ev);
    free(it);
}

static int write_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    while (n) {
        struct iovec iov = {(void *)p, n};
        ssize_t w = pwritev(fd, &iov, 1, (off_t)off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static void publish_sizes(struct log *l)
{
    atomic_store_explicit(&l->n_disk_bytes, l->disk_bytes, memory_order_relaxed);
    atomic_store_explicit(&l->n_segments, l->nsegs, memory_order_relaxed);
}

/* Writes, syncs and commits one batch (items in submission order). */
static void write_batch(struct log *l, struct item *items)
{
    size_t total = 0, n = 0;
    for (struct item *it = items; it; it = it->next, n++)
        total += record_size(it->ev);
    struct segment *active = &l->segs[l->nsegs - 1];
    if (active->records && active->bytes + total > l->opt->segment_bytes) {
        /* Seal the active segment (synced whatever the mode: it is never written again). */
        if ((l->opt->fsync != LOG_FSYNC_NEVER && fdatasync(l->active_fd)) ||
            log_open_segment(l, active->first + active->records)) {
            log_error("cannot start a new history segment", "dir=\"%s\" error=\"%s\"", l->dir,
                      strerror(errno));
            goto fail;
        }
        active = &l->segs[l->nsegs - 1];
    }
    if (total > l->bufcap) {
        uint8_t *b = realloc(l->buf, total);
        if (!b) goto fail;
        l->buf = b;
        l->bufcap = total;
    }
    int64_t now = clock_wall_ms();
    size_t off = 0;
    for (struct item *it = items; it; it = it->next)
        off += record_encode(l->buf + off, it->ev, (uint64_t)now);
    if (write_all(l->active_fd, l->buf, total, active->bytes) ||
        (l->opt->fsync == LOG_FSYNC_ALWAYS && fdatasync(l->active_fd))) {
        log_error("history write failed", "dir=\"%s\" error=\"%s\" records=%zu", l->dir,
                  strerror(errno), n);
        /* Undo what may have reached the file, so that the next batch appends to valid records
         * only; if even that fails, stop taking updates rather than lose track. */
        if (ftruncate(l->active_fd, (off_t)active->bytes)) atomic_store(&l->broken, true);
        goto fail;
    }
    active->bytes += total;
    active->records += n;
    active->newest_ms = now;
    l->disk_bytes += total;
    if (l->opt->fsync == LOG_FSYNC_ALWAYS)
        l->last_sync_ms = clock_now_ms();
    else
        l->dirty = true;
    /* Stored: now into history and onto the bus, in log order. The writer is not a worker, so
     * waiting for bus room here is allowed (a short pause, never a loss). */
    struct timespec pause = {0, 100000};
    uint64_t at = active->bytes - total;
    while (items) {
        struct item *next = items->next;
        /* At shutdown the workers are gone and a full bus never drains: the record is on disk
         * and comes back at the next start, so stop waiting then. */
        bool committed;
        while (!(committed = hub_commit(l->hub, items->ev)) && !atomic_load(&l->stopping))
            nanosleep(&pause, NULL);
        if (committed)
            log_index_add(l->index, active->first, items->ev->seq, at, items->ev->id,
                          items->ev->id_len);
        at += record_size(items->ev);
        complete(items, AUTHORITY_STORED);
        items = next;
    }
    apply_retention(l);
    atomic_fetch_add_explicit(&l->n_batches, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&l->n_records, n, memory_order_relaxed);
    if (l->opt->fsync == LOG_FSYNC_ALWAYS)
        atomic_fetch_add_explicit(&l->n_syncs, 1, memory_order_relaxed);
    publish_sizes(l);
    return;
fail:
    atomic_fetch_add_explicit(&l->n_errors, 1, memory_order_relaxed);
    while (items) {
        struct item *next = items->next;
        complete(items, AUTHORITY_FAILED);
        items = next;
    }
}

static void *writer_main(void *arg)
{
    struct log *l = arg;
    pthread_setname_np(pthread_self(), "sseb-log-writer");
    for (;;) {
        pthread_mutex_lock(&l->lock);
        while (!l->head && !l->stop) {
            if (l->opt->fsync == LOG_FSYNC_INTERVAL && l->dirty) {
                struct timespec until = clock_realtime_in(l->opt->fsync_interval_ms);
                if (pthread_cond_timedwait(&l->wake, &l->lock, &until) == ETIMEDOUT) break;
            } else {
                pthread_cond_wait(&l->wake, &l->lock);
            }
        }
        /* Take at most one batch's worth; the rest stays for the next round. */
        struct item *batch = l->head, *last = NULL;
        size_t n = 0;
        for (struct item *it = l->head; it && n < BATCH_MAX_RECORDS; it = it->next, n++)
            last = it;
        if (last) {
            l->head = last->next;
            if (!l->head) l->tail = NULL;
            last->next = NULL;
        } else {
            batch = NULL;
        }
        bool stop = l->stop && !l->head && !batch;
        pthread_mutex_unlock(&l->lock);
        if (batch) write_batch(l, batch);
        if (l->dirty && l->opt->fsync == LOG_FSYNC_INTERVAL &&
            (clock_now_ms() - l->last_sync_ms >= (int64_t)l->opt->fsync_interval_ms || stop)) {
            if (fdatasync(l->active_fd))
                log_error("history sync failed", "dir=\"%s\" error=\"%s\"", l->dir,
                          strerror(errno));
            l->dirty = false;
            l->last_sync_ms = clock_now_ms();
            atomic_fetch_add_explicit(&l->n_syncs, 1, memory_order_relaxed);
        }
        if (stop) break;
    }
    return NULL;
}

static enum authority_result log_submit(struct authority *a, struct event *ev,
                                        struct authority_ticket *ticket)
{
    struct log *l = (struct log *)a;
    if (!record_fits(ev)) return AUTHORITY_TOO_LARGE;
    if (atomic_load_explicit(&l->broken, memory_order_relaxed)) return AUTHORITY_FAILED;
    struct item *it = malloc(sizeof(*it));
    if (!it) return AUTHORITY_FAILED;
    event_ref(ev);
    *it = (struct item){.ev = ev, .ticket = ticket};
    pthread_mutex_lock(&l->lock);
    if (l->tail)
        l->tail->next = it;
    else
        l->head = it;
    l->tail = it;
    pthread_mutex_unlock(&l->lock);
    pthread_cond_signal(&l->wake); /* after unlocking: the writer wakes to a free lock */
    return AUTHORITY_PENDING;
}

static void log_free(struct authority *a)
{
    struct log *l = (struct log *)a;
    if (l->started) {
        atomic_store(&l->stopping, true);
        pthread_mutex_lock(&l->lock);
        l->stop = true;
        pthread_mutex_unlock(&l->lock);
        pthread_cond_signal(&l->wake);
        pthread_join(l->thread, NULL); /* writes what is queued first */
    }
    if (l->reader) {
        history_set_archive(l->hub->history, NULL);
        log_reader_stop(l->reader);
    }
    log_index_free(l->index);
    if (l->active_fd >= 0) {
        if (l->opt->fsync != LOG_FSYNC_NEVER) fdatasync(l->active_fd);
        close(l->active_fd);
    }
    if (l->lockfd >= 0) close(l->lockfd);
    if (l->dirfd >= 0) close(l->dirfd);
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->wake);
    free(l->segs);
    free(l->buf);
    free(l->dir);
    free(l->opt);
    free(l);
}

static void log_stats(struct authority *a, struct authority_stats *out)
{
    struct log *l = (struct log *)a;
    out->batches = atomic_load_explicit(&l->n_batches, memory_order_relaxed);
    out->records = atomic_load_explicit(&l->n_records, memory_order_relaxed);
    out->syncs = atomic_load_explicit(&l->n_syncs, memory_order_relaxed);
    out->write_errors = atomic_load_explicit(&l->n_errors, memory_order_relaxed);
    out->disk_bytes = atomic_load_explicit(&l->n_disk_bytes, memory_order_relaxed);
    out->segments = atomic_load_explicit(&l->n_segments, memory_order_relaxed);
    out->discontinuities = atomic_load_explicit(&l->n_discontinuities, memory_order_relaxed);
    if (l->reader)
        log_reader_counts(l->reader, &out->archive_reads, &out->archive_events,
                          &out->archive_finds);
}

static const struct authority_ops log_ops = {
    .name = "log",
    .stats = log_stats,
    .submit = log_submit,
    .free = log_free,
};

struct authority *authority_log_open(struct hub *hub, const struct log_options *o,
                                     struct log_report *rep, char *err, size_t errlen)
{
    memset(rep, 0, sizeof(*rep));
    struct log *l = calloc(1, sizeof(*l));
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->base.ops = &log_ops;
    l->hub = hub;
    l->opt = malloc(sizeof(*l->opt));
    if (l->opt) *l->opt = *o;
    l->dirfd = l->lockfd = l->active_fd = -1;
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->wake, NULL);
    l->dir = strdup(o->dir);
    l->index = log_index_new();
    if (!l->dir || !l->index || !l->opt) goto oom;
    if (mkdir(o->dir, 0755) && errno != EEXIST) {
        snprintf(err, errlen, "history directory %s: %s", o->dir, strerror(errno));
        goto fail;
    }
    l->dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (l->dirfd < 0) {
        snprintf(err, errlen, "history directory %s: %s", o->dir, strerror(errno));
        goto fail;
    }
    l->lockfd = openat(l->dirfd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (l->lockfd < 0 || flock(l->lockfd, LOCK_EX | LOCK_NB)) {
        if (errno == EWOULDBLOCK)
            snprintf(err, errlen,
                     "history directory %s is in use by another ssebroker process (%s/LOCK is "
                     "locked)",
                     o->dir, o->dir);
        else
            snprintf(err, errlen, "history directory %s: cannot lock: %s", o->dir, strerror(errno));
        goto fail;
    }
    if (log_recover(l, rep, err, errlen)) goto fail;
    apply_retention(l);
    rep->segments = l->nsegs;
    publish_sizes(l);
    atomic_store(&l->n_discontinuities, rep->discontinuities);
    l->last_sync_ms = clock_now_ms();
    if (pthread_create(&l->thread, NULL, writer_main, l)) {
        snprintf(err, errlen, "cannot start the history writer thread");
        goto fail;
    }
    l->started = true;
    l->reader = log_reader_start(l->dirfd, l->index, l->opt->max_records);
    if (!l->reader) {
        snprintf(err, errlen, "cannot start the history reader thread");
        goto fail;
    }
    history_set_archive(hub->history, log_reader_archive(l->reader));
    return &l->base;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    log_free(&l->base);
    return NULL;
}
