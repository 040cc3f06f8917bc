/* Log index stress test without a test framework, so it also runs under ThreadSanitizer. One
 * mutator (as the log's writer) adds records file after file, growing the id table and the runs
 * outside the lock, and drops the oldest file as retention would; readers (as the log's reader)
 * find, locate and walk meanwhile. Every answer must be one the index could give at some moment:
 * a found id names its own seq, a located seq its own offset, the oldest never goes back. Exits
 * non-zero on any violation. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/log_index.h"

#define PER_FILE 3000
#define FILES    60
#define KEEP     5 /* files retained: older ones are dropped */
#define READERS  2

static struct log_index *x;
static _Atomic uint64_t added;  /* the newest seq added so far */
static _Atomic uint64_t adding; /* the seq being added (the index may show it already) */
static _Atomic bool done;
static _Atomic int failures;

static uint64_t offset_of(uint64_t seq)
{
    return seq * 7 + 16;
}

static int id_of(char *out, size_t cap, uint64_t seq)
{
    return snprintf(out, cap, "id-%llu", (unsigned long long)seq);
}

static void fail(const char *what, uint64_t seq, uint64_t got)
{
    if (atomic_fetch_add(&failures, 1) < 10)
        fprintf(stderr, "stress_log_index: %s: seq %llu, got %llu\n", what, (unsigned long long)seq,
                (unsigned long long)got);
}

static void *mutator(void *arg)
{
    (void)arg;
    char id[32];
    uint64_t seq = 0;
    for (uint64_t f = 0; f < FILES; f++) {
        for (int i = 0; i < PER_FILE; i++) {
            seq++;
            int n = id_of(id, sizeof(id), seq);
            atomic_store(&adding, seq);
            if (log_index_add(x, f, seq, offset_of(seq), id, (size_t)n)) fail("add", seq, 0);
            atomic_store(&added, seq);
        }
        if (f >= KEEP) log_index_drop_file(x, f - KEEP);
    }
    atomic_store(&done, true);
    return NULL;
}

static void *reader(void *arg)
{
    uint64_t state = (uint64_t)(uintptr_t)arg * 2654435761u + 1, last_oldest = 0;
    char id[32];
    while (!atomic_load(&done)) {
        uint64_t newest = atomic_load(&added);
        if (!newest) continue;
        state = state * 6364136223846793005u + 1442695040888963407u;
        uint64_t seq = 1 + (state >> 33) % newest;
        int n = id_of(id, sizeof(id), seq);
        uint64_t got, file, off, run;
        if (log_index_find(x, id, (size_t)n, &got) && got != seq) fail("find", seq, got);
        if (log_index_locate(x, seq, &file, &off, &run)) {
            if (off != offset_of(seq)) fail("locate offset", seq, off);
            if (file != (seq - 1) / PER_FILE) fail("locate file", seq, file);
            if (run < 1 || run > PER_FILE) fail("locate run", seq, run);
        }
        uint64_t next = log_index_next(x, seq);
        if (next && next < seq) fail("next", seq, next);
        uint64_t oldest = log_index_oldest(x);
        if (oldest && oldest < last_oldest) fail("oldest went back", last_oldest, oldest);
        if (oldest) last_oldest = oldest;
        uint64_t shown = log_index_newest(x);
        if (shown > atomic_load(&adding)) fail("newest ahead", shown, atomic_load(&adding));
    }
    return NULL;
}

int main(void)
{
    x = log_index_new();
    if (!x) return 1;
    pthread_t m, r[READERS];
    for (int i = 0; i < READERS; i++)
        pthread_create(&r[i], NULL, reader, (void *)(uintptr_t)(i + 1));
    pthread_create(&m, NULL, mutator, NULL);
    pthread_join(m, NULL);
    for (int i = 0; i < READERS; i++)
        pthread_join(r[i], NULL);
    uint64_t want = (uint64_t)KEEP * PER_FILE;
    if (log_index_count(x) != want) fail("count", want, log_index_count(x));
    if (log_index_oldest(x) != (uint64_t)(FILES - KEEP) * PER_FILE + 1)
        fail("oldest", (uint64_t)(FILES - KEEP) * PER_FILE + 1, log_index_oldest(x));
    log_index_free(x);
    int f = atomic_load(&failures);
    if (!f)
        printf("stress_log_index: %d records in %d files, %d readers: every answer consistent\n",
               PER_FILE * FILES, FILES, READERS);
    return f ? 1 : 0;
}
