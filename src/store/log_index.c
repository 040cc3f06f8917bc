#include "store/log_index.h"

#include <pthread.h>
#include <stdlib.h>

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

struct log_index {
    pthread_mutex_t lock;
    struct run *runs;
    size_t nruns, capruns, head; /* live runs are runs[head..nruns) */
    uint64_t count;
    struct slot *slots;
    size_t mask, used;
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

static size_t slot_of(const struct log_index *x, uint64_t hash)
{
    size_t i = (size_t)hash & x->mask;
    while (x->slots[i].seq && x->slots[i].hash != hash)
        i = (i + 1) & x->mask;
    return i;
}

static int table_grow(struct log_index *x)
{
    size_t ncap = x->slots ? (x->mask + 1) * 2 : 1024;
    struct slot *old = x->slots, *n = calloc(ncap, sizeof(*n));
    if (!n) return -1;
    size_t oldcap = old ? x->mask + 1 : 0;
    x->slots = n;
    x->mask = ncap - 1;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].seq) x->slots[slot_of(x, old[i].hash)] = old[i];
    free(old);
    return 0;
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

static struct run *new_run(struct log_index *x, uint64_t file, uint64_t seq)
{
    if (x->head && x->head * 2 >= x->nruns) { /* reuse the room dropped runs left */
        for (size_t i = x->head; i < x->nruns; i++)
            x->runs[i - x->head] = x->runs[i];
        x->nruns -= x->head;
        x->head = 0;
    }
    if (x->nruns == x->capruns) {
        size_t ncap = x->capruns ? x->capruns * 2 : 16;
        struct run *n = realloc(x->runs, ncap * sizeof(*n));
        if (!n) return NULL;
        x->runs = n;
        x->capruns = ncap;
    }
    struct run *r = &x->runs[x->nruns++];
    *r = (struct run){.file = file, .first_seq = seq};
    return r;
}

static int run_push(struct run *r, uint64_t offset, uint64_t hash)
{
    if (r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 256;
        uint64_t *o = realloc(r->offsets, ncap * sizeof(*o));
        if (!o) return -1;
        r->offsets = o;
        uint64_t *h = realloc(r->hashes, ncap * sizeof(*h));
        if (!h) return -1;
        r->hashes = h;
        r->cap = ncap;
    }
    r->offsets[r->n] = offset;
    r->hashes[r->n] = hash;
    r->n++;
    return 0;
}

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

int log_index_add(struct log_index *x, uint64_t file, uint64_t seq, uint64_t offset, const char *id,
                  size_t id_len)
{
    uint64_t hash = hash_fnv1a64(id, id_len);
    int rc = -1;
    pthread_mutex_lock(&x->lock);
    struct run *r = x->nruns > x->head ? &x->runs[x->nruns - 1] : NULL;
    if (!r || r->file != file || r->first_seq + r->n != seq) r = new_run(x, file, seq);
    if (!r || run_push(r, offset, hash)) goto out;
    if ((x->used + 1) * 2 > x->mask + 1 && table_grow(x)) {
        r->n--;
        goto out;
    }
    size_t i = slot_of(x, hash);
    if (!x->slots[i].seq) x->used++;
    x->slots[i] = (struct slot){hash, seq}; /* a later record with the id takes it over */
    x->count++;
    rc = 0;
out:
    pthread_mutex_unlock(&x->lock);
    return rc;
}

static void forget_run(struct log_index *x, struct run *r)
{
    for (size_t k = 0; k < r->n; k++) {
        size_t i = slot_of(x, r->hashes[k]);
        if (x->slots[i].seq == r->first_seq + k) table_delete(x, i);
    }
    x->count -= r->n;
    run_free(r);
}

void log_index_drop_file(struct log_index *x, uint64_t file)
{
    pthread_mutex_lock(&x->lock);
    while (x->head < x->nruns && x->runs[x->head].file == file)
        forget_run(x, &x->runs[x->head++]);
    while (x->nruns > x->head && x->runs[x->nruns - 1].file == file)
        forget_run(x, &x->runs[--x->nruns]);
    pthread_mutex_unlock(&x->lock);
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
    pthread_mutex_lock(&x->lock);
    uint64_t s = x->head < x->nruns ? x->runs[x->head].first_seq : 0;
    pthread_mutex_unlock(&x->lock);
    return s;
}

uint64_t log_index_count(struct log_index *x)
{
    pthread_mutex_lock(&x->lock);
    uint64_t n = x->count;
    pthread_mutex_unlock(&x->lock);
    return n;
}
