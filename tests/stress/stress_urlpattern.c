/* URL Pattern across threads, without a test framework so that it also runs under
 * ThreadSanitizer: compiled patterns and parsed URLs are shared read-only by several threads
 * that test them concurrently (the automaton, PCRE2 with its shared match context and per-thread
 * match data, ICU's UTS #46 for hosts, the lazily initialised tables), while other threads
 * compile and free their own patterns. Every answer must equal the one computed alone first.
 * Exits non-zero on any difference. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/urlpattern.h"

#define THREADS 4
#define ROUNDS  300
#define BASE    "https://localhost/.well-known/mercure"

static const char *const patterns[] = {
    "https://example.com/books/:id",
    "/.well-known/mercure/subscriptions/:match_type/x{/:subscriber}?",
    "https://e.com/books/(\\d+)",
    "(https?)://*.example.com/*",
    "https://caf\xc3\xa9.com/:p+",
    "https://e.com/((?:a+)+b)",
    "foo://h/:x*",
};
static const char *const topics[] = {
    "https://example.com/books/1",
    "/.well-known/mercure/subscriptions/exact/x/u1",
    "https://e.com/books/42",
    "http://a.example.com/x/y",
    "https://xn--caf-dma.com/a/b",
    "https://e.com/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac",
    "foo://h/a/b",
    "not a url",
};
#define NP (sizeof(patterns) / sizeof(patterns[0]))
#define NT (sizeof(topics) / sizeof(topics[0]))

static struct urlpattern *shared[NP];
static struct urlpattern_url urls[NT];
static bool parsed[NT];
static bool expected[NP][NT];
static int failures;
static pthread_mutex_t failures_lock = PTHREAD_MUTEX_INITIALIZER;

static void fail(const char *what, size_t p, size_t t)
{
    pthread_mutex_lock(&failures_lock);
    failures++;
    fprintf(stderr, "stress_urlpattern: %s: %s / %s\n", what, patterns[p], topics[t]);
    pthread_mutex_unlock(&failures_lock);
}

static void *worker(void *arg)
{
    size_t me = (size_t)arg;
    for (int r = 0; r < ROUNDS; r++) {
        for (size_t p = 0; p < NP; p++) {
            for (size_t t = 0; t < NT; t++) {
                bool m = parsed[t] && urlpattern_test(shared[p], &urls[t]);
                if (m != expected[p][t]) fail("shared test", p, t);
            }
        }
        /* compile, match and free a private copy too */
        size_t p = (me + (size_t)r) % NP, t = (me * 3 + (size_t)r) % NT;
        struct urlpattern *own =
            urlpattern_compile(patterns[p], strlen(patterns[p]), BASE, strlen(BASE), NULL);
        if (!own) {
            fail("compile", p, t);
            continue;
        }
        if (urlpattern_match_topic(own, topics[t], strlen(topics[t]), BASE, strlen(BASE)) !=
            expected[p][t])
            fail("private match", p, t);
        urlpattern_free(own);
    }
    return NULL;
}

int main(void)
{
    for (size_t p = 0; p < NP; p++) {
        const char *reason = NULL;
        shared[p] =
            urlpattern_compile(patterns[p], strlen(patterns[p]), BASE, strlen(BASE), &reason);
        if (!shared[p]) {
            fprintf(stderr, "stress_urlpattern: %s: %s\n", patterns[p], reason);
            return 1;
        }
    }
    for (size_t t = 0; t < NT; t++)
        parsed[t] =
            urlpattern_url_parse(&urls[t], topics[t], strlen(topics[t]), BASE, strlen(BASE));
    for (size_t p = 0; p < NP; p++)
        for (size_t t = 0; t < NT; t++)
            expected[p][t] = parsed[t] && urlpattern_test(shared[p], &urls[t]);
    /* the answers themselves are pinned by the unit and differential tests; a few sanity ones */
    if (!expected[0][0] || !expected[1][1] || !expected[2][2] || !expected[3][3] ||
        !expected[4][4] || expected[5][5] || !expected[6][6] || expected[0][7]) {
        fprintf(stderr, "stress_urlpattern: unexpected single-thread answers\n");
        return 1;
    }
    pthread_t th[THREADS];
    for (size_t i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, worker, (void *)i);
    for (size_t i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    for (size_t p = 0; p < NP; p++)
        urlpattern_free(shared[p]);
    for (size_t t = 0; t < NT; t++)
        urlpattern_url_release(&urls[t]);
    if (failures) return 1;
    printf("stress_urlpattern: %d threads x %d rounds, every answer as computed alone\n", THREADS,
           ROUNDS);
    return 0;
}
