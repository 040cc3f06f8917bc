/* Replay as deep as the Stream (store/redis_archive.h). */
#include "store/redis_archive.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "core/archive.h"
#include "core/completion.h"
#include "core/ticket_fifo.h"
#include "core/event.h"
#include "store/record.h"
#include "store/redis_conn.h"
#include "store/redis_internal.h"
#include "store/redis_sentinel.h"

#define CHECKPOINT_EVERY 64    /* a checkpoint every this many seqs */
#define CONTINUATIONS    16384 /* where recent pages ended, by seq (direct-mapped) */
#define RETRY_CONNECT_MS 500   /* after a failed connection, requests fail at once this long */

struct checkpoint {
    uint64_t seq;
    struct stream_id sid;
};

struct redis_archive {
    struct archive base;
    struct redis *r;

    /* The run the bridge is in (under map_lock): seq = run_seq + (n - run_n) from run_seq on;
     * checkpoints in a ring, oldest first. */
    pthread_mutex_t map_lock;
    uint64_t run_seq, run_n; /* 0: no run (nothing committed since the last break) */
    struct checkpoint *ring;
    size_t ring_cap, ring_head, ring_len;
    _Atomic uint64_t oldest, newest; /* the seqs the Stream should still hold (0: none) */

    /* Requests, linked through ticket.next: finds first (a subscriber waits on each). */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct ticket_fifo finds, reads;
    bool stop;
    pthread_t thread;

    /* The reader thread's own. */
    redisContext *c;
    int next_sentinel;
    uint64_t epoch;
    bool said_down;
    int64_t down_since_ms; /* the last failed connection attempt (0: none) */
    struct {
        uint64_t seq;         /* a page may start here (0: free) */
        struct stream_id sid; /* just after this entry */
    } cont[CONTINUATIONS];
    struct sseb_str *topics;

    _Atomic uint64_t n_reads, n_events;
};

/* ---- the map, fed by the bridge ------------------------------------------------------------ */

static void ring_push(struct redis_archive *a, uint64_t seq, struct stream_id sid)
{
    size_t at = (a->ring_head + a->ring_len) % a->ring_cap;
    if (a->ring_len == a->ring_cap)
        a->ring_head = (a->ring_head + 1) % a->ring_cap; /* the oldest goes */
    else
        a->ring_len++;
    a->ring[at] = (struct checkpoint){seq, sid};
}

void redis_archive_committed(struct redis_archive *a, uint64_t seq, struct stream_id sid,
                             uint64_t n)
{
    pthread_mutex_lock(&a->map_lock);
    bool in_run =
        a->run_seq && seq >= a->run_seq && n >= a->run_n && seq - a->run_seq == n - a->run_n;
    if (!in_run) { /* the first entry, or one skipped (not an update): a new run */
        a->run_seq = seq;
        a->run_n = n;
        a->ring_len = 0;
        a->ring_head = 0;
    }
    if (!in_run || seq % CHECKPOINT_EVERY == 0) ring_push(a, seq, sid);
    uint64_t oldest = a->run_seq, retain = a->r->opt.retain;
    if (seq >= retain && seq - retain + 1 > oldest) oldest = seq - retain + 1;
    pthread_mutex_unlock(&a->map_lock);
    atomic_store_explicit(&a->newest, seq, memory_order_release);
    atomic_store_explicit(&a->oldest, oldest, memory_order_release);
}

void redis_archive_break(struct redis_archive *a)
{
    pthread_mutex_lock(&a->map_lock);
    a->run_seq = a->run_n = 0;
    a->ring_len = a->ring_head = 0;
    pthread_mutex_unlock(&a->map_lock);
    atomic_store_explicit(&a->oldest, 0, memory_order_release);
}

/* The position of seq, and the newest checkpoint at or before it. False when seq is not in the
 * run (before it, or not committed yet). */
static bool locate(struct redis_archive *a, uint64_t seq, uint64_t *n, struct checkpoint *cp,
                   bool *have_cp)
{
    bool ok = false;
    *have_cp = false;
    pthread_mutex_lock(&a->map_lock);
    if (a->run_seq && seq >= a->run_seq && seq <= atomic_load(&a->newest)) {
        ok = true;
        *n = a->run_n + (seq - a->run_seq);
        for (size_t k = a->ring_len; k-- > 0;) { /* newest first: the nearest one */
            const struct checkpoint *c = &a->ring[(a->ring_head + k) % a->ring_cap];
            if (c->seq <= seq) {
                *cp = *c;
                *have_cp = true;
                break;
            }
        }
    }
    pthread_mutex_unlock(&a->map_lock);
    return ok;
}

/* The seq of position n in the current run (0: not in it). */
static uint64_t seq_of(struct redis_archive *a, uint64_t n)
{
    pthread_mutex_lock(&a->map_lock);
    uint64_t seq = a->run_seq && n >= a->run_n ? a->run_seq + (n - a->run_n) : 0;
    pthread_mutex_unlock(&a->map_lock);
    return seq;
}

/* ---- requests ------------------------------------------------------------------------------ */

static uint64_t archive_oldest_seq(struct archive *base)
{
    struct redis_archive *a = (struct redis_archive *)base;
    return atomic_load_explicit(&a->oldest, memory_order_acquire);
}

static void enqueue(struct redis_archive *a, struct ticket_fifo *q, struct authority_ticket *t)
{
    pthread_mutex_lock(&a->lock);
    ticket_fifo_push(q, t);
    pthread_mutex_unlock(&a->lock);
    pthread_cond_signal(&a->wake);
}

static void archive_find_id(struct archive *base, struct archive_find *f)
{
    struct redis_archive *a = (struct redis_archive *)base;
    enqueue(a, &a->finds, &f->ticket);
}

static void archive_read_seqs(struct archive *base, struct archive_read *req)
{
    struct redis_archive *a = (struct redis_archive *)base;
    enqueue(a, &a->reads, &req->ticket);
}

/* A connection to the master, made again after a failure or a failover. */
static bool connected(struct redis_archive *a)
{
    struct redis *r = a->r;
    if (a->c && atomic_load(&r->master_epoch) == a->epoch) return true;
    if (a->c) redisFree(a->c);
    a->c = NULL;
    /* Unreachable a moment ago: fail at once rather than make every queued request wait for a
     * connection timeout of its own. */
    if (a->down_since_ms && clock_now_ms() - a->down_since_ms < RETRY_CONNECT_MS &&
        atomic_load(&r->master_epoch) == a->epoch)
        return false;
    a->epoch = atomic_load(&r->master_epoch);
    char err[256];
    struct redis_target at;
    if (redis_connect_master(&r->opt, &a->next_sentinel, &a->c, &at, err, sizeof(err), NULL, 0) !=
        RCONN_OK) {
        if (!a->said_down)
            log_warn("redis unreachable: replay older than memory fails meanwhile",
                     "role=archive reason=\"%s\"", err);
        a->said_down = true;
        a->down_since_ms = clock_now_ms();
        return false;
    }
    a->said_down = false;
    a->down_since_ms = 0;
    return true;
}

/* A command's reply, or NULL (the connection is dropped, to be made again next time). */
static redisReply *command(struct redis_archive *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(a->c, fmt, ap);
    va_end(ap);
    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        if (rep) freeReplyObject(rep);
        redisFree(a->c);
        a->c = NULL;
        return NULL;
    }
    return rep;
}

static void remember(struct redis_archive *a, uint64_t seq, struct stream_id after)
{
    a->cont[seq % CONTINUATIONS].seq = seq;
    a->cont[seq % CONTINUATIONS].sid = after;
}

/* Looks the id up in the Stream's index and confirms it against the entry it names. */
static void serve_find(struct redis_archive *a, struct archive_find *f)
{
    struct redis *r = a->r;
    enum authority_result result = AUTHORITY_FAILED;
    f->found = false;
    redisReply *sid = NULL, *e = NULL;
    /* The subscriber's worker waits for this answer (history_replay_start): while the bridge
     * cannot read the Stream either, do not make it wait for a timeout. */
    if (!atomic_load(&r->bridge_up) || !connected(a)) goto done;
    sid = command(a, "HGET %s %b", r->index, f->id, f->id_len);
    if (!sid) goto done;
    result = AUTHORITY_STORED;
    struct stream_id id;
    if (sid->type != REDIS_REPLY_STRING || !stream_id_parse(sid->str, sid->len, &id)) goto done;
    e = command(a, "XRANGE %s %b %b", r->stream, sid->str, sid->len, sid->str, sid->len);
    if (!e) {
        result = AUTHORITY_FAILED;
        goto done;
    }
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 1 ||
        e->element[0]->type != REDIS_REPLY_ARRAY || e->element[0]->elements != 2)
        goto done; /* trimmed meanwhile */
    const redisReply *fields = e->element[0]->element[1];
    const redisReply *i = stream_entry_field(fields, "i");
    if (!i || i->type != REDIS_REPLY_STRING || i->len != f->id_len ||
        memcmp(i->str, f->id, f->id_len))
        goto done;
    uint64_t seq = seq_of(a, stream_entry_position(fields));
    if (!seq || seq > atomic_load(&a->newest)) goto done; /* before the run, or not read yet */
    f->found = true;
    f->seq = seq;
    remember(a, seq + 1, id);
done:
    if (sid) freeReplyObject(sid);
    if (e) freeReplyObject(e);
    completion_post(&f->ticket, result);
}

/* Makes an event of entry e (expected at position n, as seq) for req. False when it is not that
 * entry or not an update, or out of memory. */
static bool take(struct redis_archive *a, struct archive_read *req, const redisReply *fields,
                 uint64_t seq, size_t *bytes)
{
    const redisReply *rec = stream_entry_field(fields, "r");
    struct log_record lr;
    size_t used;
    if (!rec || rec->type != REDIS_REPLY_STRING ||
        record_decode((const uint8_t *)rec->str, rec->len, &lr, a->topics, LOG_RECORD_MAX_TOPICS,
                      &used) != RECORD_OK ||
        used != rec->len)
        return false;
    struct event *ev = event_new_encoded(lr.topics, lr.ntopics, lr.id, lr.wire, lr.private_);
    if (!ev) return false;
    ev->seq = seq;
    req->events[req->nevents++] = ev;
    *bytes += ev->wire_len;
    return true;
}

/* One page: from where the previous page ended, or from the nearest checkpoint, each entry's
 * position checked against the seq it stands for. */
static void serve_read(struct redis_archive *a, struct archive_read *req)
{
    struct redis *r = a->r;
    req->nevents = 0;
    req->gap = false;
    enum authority_result result = AUTHORITY_STORED;
    uint64_t seq = req->from, n, oldest = archive_oldest_seq(&a->base);
    struct checkpoint cp;
    bool have_cp;
    if (!oldest || seq < oldest || !locate(a, seq, &n, &cp, &have_cp)) {
        req->gap = true;
        req->next = oldest && oldest > seq ? oldest : req->upto + 1;
        goto done;
    }
    char start[64];
    uint64_t skip = 0;
    if (a->cont[seq % CONTINUATIONS].seq == seq) {
        start[0] = '(';
        stream_id_format(a->cont[seq % CONTINUATIONS].sid, start + 1);
    } else if (have_cp) {
        stream_id_format(cp.sid, start);
        skip = seq - cp.seq;
    } else {
        req->gap = true; /* older than every checkpoint kept: no longer retained */
        req->next = oldest > seq ? oldest : req->upto + 1;
        goto done;
    }
    if (!connected(a)) {
        result = AUTHORITY_FAILED;
        goto done;
    }
    uint64_t want = req->upto - seq + 1;
    if (want > ARCHIVE_READ_EVENTS) want = ARCHIVE_READ_EVENTS;
    redisReply *rep = command(a, "XRANGE %s %s + COUNT %llu", r->stream, start,
                              (unsigned long long)(want + skip));
    if (!rep) {
        result = AUTHORITY_FAILED;
        goto done;
    }
    size_t bytes = 0;
    struct stream_id last = {0, 0};
    bool mismatch = false;
    for (size_t k = 0; rep->type == REDIS_REPLY_ARRAY && k < rep->elements; k++) {
        const redisReply *e = rep->element[k];
        struct stream_id id;
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[0]->type != REDIS_REPLY_STRING ||
            !stream_id_parse(e->element[0]->str, e->element[0]->len, &id))
            continue;
        uint64_t en = stream_entry_position(e->element[1]);
        if (en < n) continue; /* before the cursor (from a checkpoint) */
        if (en != n || !take(a, req, e->element[1], seq, &bytes)) {
            mismatch = en != n;
            break;
        }
        last = id;
        seq++;
        n++;
        if (seq > req->upto || req->nevents == ARCHIVE_READ_EVENTS || bytes >= req->max_bytes)
            break;
    }
    freeReplyObject(rep);
    if (req->nevents == 0) {
        /* Not there (trimmed past the cursor) or not what it should be: the rest cannot come
         * gap-free. */
        req->gap = true;
        uint64_t now_oldest = archive_oldest_seq(&a->base);
        req->next = now_oldest > req->from ? now_oldest : req->upto + 1;
        if (mismatch)
            log_info("redis stream entry not where expected: replay cut", "stream=%s", r->stream);
        goto done;
    }
    req->next = seq;
    remember(a, seq, last);
done:
    atomic_fetch_add_explicit(&a->n_reads, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&a->n_events, req->nevents, memory_order_relaxed);
    completion_post(&req->ticket, result);
}

static void *reader_main(void *arg)
{
    struct redis_archive *a = arg;
    pthread_setname_np(pthread_self(), "sseb-redis-arch");
    for (;;) {
        pthread_mutex_lock(&a->lock);
        while (ticket_fifo_empty(&a->finds) && ticket_fifo_empty(&a->reads) && !a->stop)
            pthread_cond_wait(&a->wake, &a->lock);
        struct authority_ticket *find = ticket_fifo_pop(&a->finds);
        struct authority_ticket *read = find ? NULL : ticket_fifo_pop(&a->reads);
        bool stopping = a->stop;
        pthread_mutex_unlock(&a->lock);
        if (stopping && find) { /* the broker stops: answer at once, no I/O */
            ((struct archive_find *)find)->found = false;
            completion_post(find, AUTHORITY_FAILED);
        } else if (stopping && read) {
            ((struct archive_read *)read)->nevents = 0;
            ((struct archive_read *)read)->gap = false;
            completion_post(read, AUTHORITY_FAILED);
        } else if (find)
            serve_find(a, (struct archive_find *)find);
        else if (read)
            serve_read(a, (struct archive_read *)read);
        else
            break; /* stopping, and nothing is left */
    }
    if (a->c) redisFree(a->c);
    a->c = NULL;
    return NULL;
}

static const struct archive_ops redis_archive_ops = {
    .find = archive_find_id,
    .oldest = archive_oldest_seq,
    .read = archive_read_seqs,
};

/* Frees what redis_archive_start made (its thread not running). */
static void archive_release(struct redis_archive *a)
{
    pthread_mutex_destroy(&a->map_lock);
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->wake);
    free(a->ring);
    free(a->topics);
    free(a);
}

struct redis_archive *redis_archive_start(struct redis *r)
{
    struct redis_archive *a = calloc(1, sizeof(*a));
    if (!a) return NULL;
    a->base.ops = &redis_archive_ops;
    a->r = r;
    /* Checkpoints for the whole retained Stream, and then some. */
    a->ring_cap = r->opt.retain / CHECKPOINT_EVERY + 2;
    a->ring = malloc(a->ring_cap * sizeof(*a->ring));
    a->topics = malloc(LOG_RECORD_MAX_TOPICS * sizeof(*a->topics));
    if (!a->ring || !a->topics) {
        free(a->ring);
        free(a->topics);
        free(a);
        return NULL;
    }
    pthread_mutex_init(&a->map_lock, NULL);
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->wake, NULL);
    if (pthread_create(&a->thread, NULL, reader_main, a)) {
        archive_release(a);
        return NULL;
    }
    return a;
}

void redis_archive_stop(struct redis_archive *a)
{
    if (!a) return;
    pthread_mutex_lock(&a->lock);
    a->stop = true;
    pthread_mutex_unlock(&a->lock);
    pthread_cond_signal(&a->wake);
    pthread_join(a->thread, NULL);
    archive_release(a);
}

struct archive *redis_archive_base(struct redis_archive *a)
{
    return &a->base;
}

void redis_archive_counts(struct redis_archive *a, uint64_t *reads, uint64_t *events)
{
    *reads = atomic_load_explicit(&a->n_reads, memory_order_relaxed);
    *events = atomic_load_explicit(&a->n_events, memory_order_relaxed);
}
