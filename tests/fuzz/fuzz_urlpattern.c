/* libFuzzer target: URL Pattern (src/core/urlpattern*.c, src/core/url.c) as Mercure uses it.
 *
 * The input is lines: a pattern, then topics. Its first byte picks the base URL (none, a hub URL,
 * the default base, or the second line) and whether the topics are relative to it. Checked
 * besides the sanitizers and libFuzzer's -timeout:
 *  - a refused pattern has a reason; a compiled one has eight component pattern strings;
 *  - the cost is at most 16 per pattern byte plus a fixed weight per PCRE2 component (the
 *    automaton is linear in the canonicalized pattern, which percent-encoding and IDNA grow), so
 *    a subscription cap on it bounds matching work;
 *  - one test stays within a CPU-time bound proportional to cost x topic length (generous, for
 *    sanitizer builds);
 *  - a parsed URL's components are printable ASCII, and testing it gives the same answer as
 *    urlpattern_match_topic. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/urlpattern.h"

static const char *const bases[] = {NULL, "https://localhost/.well-known/mercure",
                                    URLPATTERN_DEFAULT_BASE, "https://example.com/a/b?q#h"};

/* CPU time of this thread: a wall clock on a loaded machine counts preemption as matching */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check_url(const struct urlpattern_url *u)
{
    for (int c = 0; c < URLPATTERN_COMPONENTS; c++) {
        const char *s = u->mem + u->off[c];
        if (s[u->len[c]] != '\0') abort();
        for (size_t i = 0; i < u->len[c]; i++)
            if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096) return 0;
    uint8_t mode = data[0];
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    const char *lines[16];
    size_t lens[16];
    size_t nl = 0, start = 0;
    for (size_t i = 0; i <= n && nl < 16; i++) {
        if (i == n || in[i] == '\n') {
            lines[nl] = in + start;
            lens[nl++] = i - start;
            start = i + 1;
        }
    }
    const char *base = bases[mode & 3];
    size_t base_len = base ? strlen(base) : 0;
    size_t first_topic = 1;
    if ((mode & 3) == 3 && nl > 1) { /* the base is the second line */
        base = lines[1];
        base_len = lens[1];
        first_topic = 2;
    }
    const char *reason = NULL;
    struct urlpattern *p = urlpattern_compile(lines[0], lens[0], base, base_len, &reason);
    if (!p) {
        if (!reason || !*reason) abort();
        /* topics are still parsed: the URL parser is under test too */
        for (size_t t = first_topic; t < nl; t++) {
            struct urlpattern_url u;
            if (urlpattern_url_parse(&u, lines[t], lens[t], base, base_len)) check_url(&u);
            urlpattern_url_release(&u);
        }
        return 0;
    }
    for (int c = 0; c < URLPATTERN_COMPONENTS; c++)
        if (!urlpattern_component_pattern(p, c)) abort();
    size_t cost = urlpattern_cost(p);
    if (cost > 16 * lens[0] + 8 * 256 + 64) {
        fprintf(stderr, "cost %zu for a %zu-byte pattern\n", cost, lens[0]);
        abort();
    }
    const char *topic_base = (mode & 4) ? base : NULL;
    size_t topic_base_len = (mode & 4) ? base_len : 0;
    for (size_t t = first_topic; t < nl; t++) {
        struct urlpattern_url u;
        bool parsed = urlpattern_url_parse(&u, lines[t], lens[t], topic_base, topic_base_len);
        if (parsed) {
            check_url(&u);
            size_t len = 0;
            for (int c = 0; c < URLPATTERN_COMPONENTS; c++)
                len += u.len[c];
            double t0 = now();
            bool m = urlpattern_test(p, &u);
            double dt = now() - t0;
            /* 1 us per cost unit per byte is far above the automaton's real cost, even under
             * ASan; PCRE2 components are bounded by their match limit instead */
            if (dt > 0.2 + 1e-6 * (double)cost * (double)(len + 1)) {
                fprintf(stderr, "test took %.3f s (cost %zu, %zu bytes)\n", dt, cost, len);
                abort();
            }
            if (m != urlpattern_match_topic(p, lines[t], lens[t], topic_base, topic_base_len))
                abort();
        } else if (urlpattern_match_topic(p, lines[t], lens[t], topic_base, topic_base_len)) {
            abort(); /* a topic that is not a URL matches nothing */
        }
        urlpattern_url_release(&u);
    }
    urlpattern_free(p);
    return 0;
}
