/* libFuzzer target: the subscribe query path (src/subscribe.c): form_parse on the query string,
 * the checks subscribe_handle makes on each "topic", then selector_compile and selector_match of
 * every selector against every topic-like value of the same query (and a few fixed topics).
 *
 * Checked besides the sanitizers: decoded pairs stay inside the buffer and are NUL-terminated,
 * "*" matches everything, a selector always matches its own text, the selector keeps its text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/form.h"
#include "common/utf8.h"
#include "core/selector.h"
#include "ssebroker/config.h"

static const char *const fixed_topics[] = {
    "https://example.com/books/1",
    "https://example.com/books/1/reviews/2",
    "/users/42?x=1",
    "urn:uuid:5f0e2c1e-0a4b-4b6e-9d6e-1c2d3e4f5a6b",
    "",
    "a.b.c",
    "https://example.com/search?q=x&page=2#top",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sseb_config cfg;
    static int ready;
    if (!ready) {
        sseb_config_defaults(&cfg);
        ready = 1;
    }
    if (size > 1 << 16) return 0;
    /* The query lives in the request target buffer, which always has a spare byte. */
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = 0;

    size_t max_pairs = cfg.max_topics + 64;
    struct form_pair *pairs = malloc(max_pairs * sizeof(*pairs));
    struct selector **sels = calloc(cfg.max_topics, sizeof(*sels));
    if (!pairs || !sels) abort();
    size_t npairs = 0, nsel = 0;
    enum form_status fs = form_parse(buf, size, pairs, max_pairs, &npairs);
    if (fs == FORM_OK) {
        if (npairs > max_pairs) abort();
        for (size_t i = 0; i < npairs; i++) {
            struct form_pair *p = &pairs[i];
            if (p->key < buf || p->key + p->key_len > buf + size) abort();
            if (p->value < buf || p->value + p->value_len > buf + size) abort();
            if (p->key[p->key_len] != 0 || p->value[p->value_len] != 0) abort();
            if (strlen(p->key) > p->key_len) abort();
        }
        for (size_t i = 0; i < npairs && nsel < cfg.max_topics; i++) {
            struct form_pair *p = &pairs[i];
            if (strcmp(p->key, "topic") != 0 || p->value_len == 0) continue;
            if (p->value_len > cfg.max_selector_bytes) continue;
            if (!utf8_valid(p->value, p->value_len) || memchr(p->value, 0, p->value_len)) continue;
            struct selector *sel = selector_compile(p->value, p->value_len);
            if (!sel) abort();
            if (selector_len(sel) != p->value_len ||
                memcmp(selector_text(sel), p->value, p->value_len) != 0 ||
                selector_text(sel)[p->value_len] != 0)
                abort();
            if (!selector_match(sel, p->value, p->value_len)) abort();
            sels[nsel++] = sel;
        }
        for (size_t s = 0; s < nsel; s++) {
            bool any = selector_kind(sels[s]) == SELECTOR_ANY;
            for (size_t i = 0; i < npairs; i++) {
                bool m = selector_match(sels[s], pairs[i].value, pairs[i].value_len);
                if (any && !m) abort();
            }
            for (size_t i = 0; i < sizeof(fixed_topics) / sizeof(fixed_topics[0]); i++) {
                bool m = selector_match(sels[s], fixed_topics[i], strlen(fixed_topics[i]));
                if (any && !m) abort();
            }
        }
    } else if (fs != FORM_BAD_ENCODING && fs != FORM_TOO_MANY) {
        abort();
    }
    for (size_t s = 0; s < nsel; s++)
        selector_free(sels[s]);
    free(sels);
    free(pairs);
    free(buf);
    return 0;
}
