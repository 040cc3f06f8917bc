#include "store/log_index.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"

/* Records are kept in runs: consecutive seqs in one segment file, with each record's offset and
 * id hash. A run ends where the file changes or a seq was skipped. */
struct run {
    uint64_t file, first_seq;
    size_t n, cap;
    uint64_t *offsets, *hashes;
};

/* The id table: linear probing over (hash, seq) slots, seq 0 marking an empty one (seqs start at
 * 1), at most half full; deletions shift their cluster back, as in core/history.c. */
struct slot {
    uint64_t hash, seq;
};

/* One mutator (the log's writer, or recovery before it starts) and readers (the log's reader).
 * The mutator reads its own structure without the lock and takes it only to change what readers
 * see; everything it allocates or frees, it does outside the lock: a larger array is built
 * beside the old one and swapped in, an old one freed after unlocking. */
struct log_index {
    pthread_mutex_t lock;
    struct run *runs;
    size_t nruns, capruns, head; /* live runs are runs[head..nruns) */
    struct slot *slots;
    size_t mask, used;
    _Atomic uint64_t count, oldest, newest; /* lock-free for readers */
};

struct log_index *log_index_new(void)
{
    struct log_index *x = calloc(1, sizeof(*x));
    if (!x) return NULL;
    pthread_mutex_init(&x->lock, NULL);
    return x;
}

static void run_free(struct run *r)
{
    free(r->offsets);
    free(r->hashes);
}

void log_index_free(struct log_index *x)
{
    if (!x) return;
    for (size_t i = x->head; i < x->nruns; i++)
        run_free(&x->runs[i]);
    free(x->runs);
    free(x->slots);
    pthread_mutex_destroy(&x->lock);
    free(x);
}

/* ---- the id table ---------------------------------------------------------------------------- */

static size_t slot_in(const struct slot *slots, size_t mask, uint64_t hash)
{
    size_t i = (size_t)hash & mask;
    while (slots[i].seq && slots[i].hash != hash)
        i = (i + 1) & mask;
    return i;
}

static size_t slot_of(const struct log_index *x, uint64_t hash)
{
    return slot_in(x->slots, x->mask, hash);
}

/* A table of twice the size holding what x's holds, built without the lock (only the mutator
 * changes the table). NULL when out of memory. */
static struct slot *table_grown(const struct log_index *x, size_t *mask)
{
    size_t ncap = x->slots ? (x->mask + 1) * 2 : 1024;
    struct slot *n = calloc(ncap, sizeof(*n));
    if (!n) return NULL;
    *mask = ncap - 1;
    if (x->slots)
        for (size_t i = 0; i <= x->mask; i++)
            if (x->slots[i].seq) n[slot_in(n, *mask, x->slots[i].hash)] = x->slots[i];
    return n;
}

static void table_delete(struct log_index *x, size_t i)
{
    x->slots[i].seq = 0;
    x->used--;
    for (size_t j = (i + 1) & x->mask; x->slots[j].seq; j = (j + 1) & x->mask) {
        size_t home = (size_t)x->slots[j].hash & x->mask;
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays) continue;
        x->slots[i] = x->slots[j];
        x->slots[j].seq = 0;
        i = j;
    }
}

/* ---- runs ------------------------------------------------------------------------------------ */

/* The live run holding seq, or the first one after it; NULL when none. */
static struct run *run_at_or_after(struct log_index *x, uint64_t seq)
{
    size_t lo = x->head, hi = x->nruns; /* first run whose last seq >= seq */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct run *r = &x->runs[mid];
        if (r->first_seq + r->n <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < x->nruns ? &x->runs[lo] : NULL;
}

/* What one add needs allocated before it takes the lock, and what it leaves to free after. */
struct prepared {
    struct run *runs; /* a larger run array, or NULL */
    size_t capruns;
    uint64_t *offsets, *hashes; /* larger arrays for the run appended to, or NULL */
    size_t cap;
    struct slot *slots; /* a larger id table, or NULL */
    size_t mask;
};

static void prepared_free(struct prepared *p)
{
    free(p->runs);
    free(p->offsets);
    free(p->hashes);
    free(p->slots);
}

static uint64_t *grown_copy(const uint64_t *old, size_t n, size_t cap)
{
    uint64_t *p = malloc(cap * sizeof(*p));
    if (p && n) memcpy(p, old, n * sizeof(*p));
    return p;
}

/* Allocates, without the lock, what appending a record to run r (NULL: a new run) needs. */
static int prepare(struct log_index *x, const struct run *r, struct prepared *p)
{
    *p = (struct prepared){0};
    size_t live = x->nruns - x->head;
    if (!r && !(x->head && x->head * 2 >= x->nruns) && x->nruns == x->capruns) {
        p->capruns = x->capruns ? x->capruns * 2 : 16;
        p->runs = malloc(p->capruns * sizeof(*p->runs));
        if (!p->runs) return -1;
        if (live) memcpy(p->runs, x->runs + x->head, live * sizeof(*p->runs));
    }
    size_t n = r ? r->n : 0, cap = r ? r->cap : 0;
    if (n == cap) {
        p->cap = cap ? cap * 2 : 256;
        p->offsets = grown_copy(r ? r->offsets : NULL, n, p->cap);
        p->hashes = grown_copy(r ? r->hashes : NULL, n, p->cap);
        if (!p->offsets || !p->hashes) goto fail;
    }
    if ((x->used + 1) * 2 > x->mask + 1 || !x->slots) {
        p->slots = table_grown(x, &p->mask);
        if (!p->slots) goto fail;
    }
    return 0;
fail:
    prepared_free(p);
    return -1;
}

int log_index_add(struct log_index *x, uint64_t file, uint64_t seq, uint64_t offset, const char *id,
                  size_t id_len)
{
    uint64_t hash = hash_fnv1a64(id, id_len);
    struct run *r = x->nruns > x->head ? &x->runs[x->nruns - 1] : NULL;
    if (r && (r->file != file || r->first_seq + r->n != seq)) r = NULL;
    struct prepared p;
    if (prepare(x, r, &p)) return -1;
    pthread_mutex_lock(&x->lock);
    if (p.slots) { /* swap the larger table in; the old one is freed below */
        struct slot *old = x->slots;
        x->slots = p.slots;
        x->mask = p.mask;
        p.slots = old;
    }
    if (!r) {
        if (p.runs) { /* live runs move to the start of a larger array */
            struct run *old = x->runs;
            x->runs = p.runs;
            x->nruns -= x->head;
            x->head = 0;
            x->capruns = p.capruns;
            p.runs = old;
        } else if (x->head && x->head * 2 >= x->nruns) { /* reuse the room dropped runs left */
            memmove(x->runs, x->runs + x->head, (x->nruns - x->head) * sizeof(*x->runs));
            x->nruns -= x->head;
            x->head = 0;
        }
        r = &x->runs[x->nruns++];
        *r = (struct run){.file = file, .first_seq = seq};
    }
    if (p.offsets) {
        uint64_t *o = r->offsets, *h = r->hashes;
        r->offsets = p.offsets;
        r->hashes = p.hashes;
        r->cap = p.cap;
        p.offsets = o;
        p.hashes = h;
    }
    r->offsets[r->n] = offset;
    r->hashes[r->n] = hash;
    r->n++;
    size_t i = slot_of(x, hash);
    if (!x->slots[i].seq) x->used++;
    x->slots[i] = (struct slot){hash, seq}; /* a later record with the id takes it over */
    atomic_fetch_add_explicit(&x->count, 1, memory_order_relaxed);
    atomic_store_explicit(&x->oldest, x->runs[x->head].first_seq, memory_order_release);
    atomic_store_explicit(&x->newest, seq, memory_order_release);
    pthread_mutex_unlock(&x->lock);
    prepared_free(&p); /* what was swapped out */
    return 0;
}

/* Unlinks run r's ids from the table (under the lock); its arrays are freed after unlocking. */
static void forget_run(struct log_index *x, const struct run *r)
{
    for (size_t k = 0; k < r->n; k++) {
        size_t i = slot_of(x, r->hashes[k]);
        if (x->slots[i].seq == r->first_seq + k) table_delete(x, i);
    }
    atomic_fetch_sub_explicit(&x->count, r->n, memory_order_relaxed);
}

void log_index_drop_file(struct log_index *x, uint64_t file)
{
    /* The dropped runs' structs stay where they are in the array until the mutator (this
     * thread) reuses the room, so their arrays can be freed after unlocking. */
    size_t head = x->head, nruns = x->nruns;
    pthread_mutex_lock(&x->lock);
    while (x->head < x->nruns && x->runs[x->head].file == file)
        forget_run(x, &x->runs[x->head++]);
    while (x->nruns > x->head && x->runs[x->nruns - 1].file == file)
        forget_run(x, &x->runs[--x->nruns]);
    bool empty = x->head == x->nruns;
    atomic_store_explicit(&x->oldest, empty ? 0 : x->runs[x->head].first_seq, memory_order_release);
    if (empty)
        atomic_store_explicit(&x->newest, 0, memory_order_release);
    else
        atomic_store_explicit(&x->newest,
                              x->runs[x->nruns - 1].first_seq + x->runs[x->nruns - 1].n - 1,
                              memory_order_release);
    size_t new_head = x->head, new_nruns = x->nruns;
    pthread_mutex_unlock(&x->lock);
    for (size_t i = head; i < new_head; i++)
        run_free(&x->runs[i]);
    for (size_t i = new_nruns; i < nruns; i++)
        run_free(&x->runs[i]);
}

bool log_index_find(struct log_index *x, const char *id, size_t id_len, uint64_t *seq)
{
    uint64_t hash = hash_fnv1a64(id, id_len);
    pthread_mutex_lock(&x->lock);
    bool found = false;
    if (x->slots) {
        const struct slot *s = &x->slots[slot_of(x, hash)];
        found = s->seq != 0;
        if (found) *seq = s->seq;
    }
    pthread_mutex_unlock(&x->lock);
    return found;
}

bool log_index_locate(struct log_index *x, uint64_t seq, uint64_t *file, uint64_t *offset,
                      uint64_t *run)
{
    pthread_mutex_lock(&x->lock);
    const struct run *r = run_at_or_after(x, seq);
    bool found = r && r->first_seq <= seq;
    if (found) {
        *file = r->file;
        *offset = r->offsets[seq - r->first_seq];
        *run = r->first_seq + r->n - seq;
    }
    pthread_mutex_unlock(&x->lock);
    return found;
}

uint64_t log_index_next(struct log_index *x, uint64_t seq)
{
    pthread_mutex_lock(&x->lock);
    const struct run *r = run_at_or_after(x, seq);
    uint64_t next = !r ? 0 : r->first_seq > seq ? r->first_seq : seq;
    pthread_mutex_unlock(&x->lock);
    return next;
}

uint64_t log_index_oldest(struct log_index *x)
{
    return atomic_load_explicit(&x->oldest, memory_order_acquire);
}

uint64_t log_index_newest(struct log_index *x)
{
    return atomic_load_explicit(&x->newest, memory_order_acquire);
}

uint64_t log_index_count(struct log_index *x)
{
    return atomic_load_explicit(&x->count, memory_order_relaxed);
}
