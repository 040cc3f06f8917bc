/* libFuzzer target: the subscribe query path as the handler runs it, subscribe_parse
 * (src/mercure/subscribe_parse.c), then selector_compile and selector_match of every selector it
 * accepts against every value of the same query (and a few fixed topics).
 *
 * The input is the query string; bytes after the first '\n', if any, are the Last-Event-ID
 * header. Its first byte also picks small limits (topics, template cost) so that every limit is
 * reached. Checked besides the sanitizers:
 *  - a refusal is a 400 with a reason (503 only when out of memory);
 *  - accepted selectors lie in the buffer, are NUL-terminated, non-empty, within the length
 *    limit, UTF-8 without control characters (1.0 matchers: nor C1 or format characters),
 *    distinct and no more than the topic limit; none of a dialect switched off;
 *  - the id to resume after is the header when it is not empty, else a query value; a non-empty
 *    one is always answered; subscribe_resume_id finds the same one without touching the query;
 *  - "*" matches everything, a selector keeps its text and (but a URL Pattern) matches it, a 1.0
 *    exact matcher is never a template, a URL Pattern the parser accepted compiles again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "core/selector.h"
#include "core/urlpattern.h"
#include "mercure/subscribe_parse.h"
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

static bool inside(const char *p, size_t n, const char *buf, size_t size)
{
    return p >= buf && p + n <= buf + size;
}

static void check_accepted(const struct subscribe_parsed *q, const struct sseb_config *cfg,
                           const char *buf, size_t size, const char *hdr, size_t hdr_len)
{
    if (q->nsel == 0 || q->nsel > cfg->max_topics) abort();
    for (size_t i = 0; i < q->nsel; i++) {
        const char *s = q->sels[i];
        size_t n = q->lens[i];
        bool exact = q->syntax[i] != SELECTOR_SYNTAX_TOPIC; /* the 1.0 matchers */
        if (!inside(s, n, buf, size) || s[n] != 0) abort();
        if (n == 0 || n > cfg->max_selector_bytes || !utf8_printable(s, n)) abort();
        if (exact ? !utf8_protocol_text(s, n) || !(cfg->dialects & SSEB_DIALECT_08)
                  : !(cfg->dialects & SSEB_DIALECT_07))
            abort();
        for (size_t j = 0; j < i; j++)
            if (q->lens[j] == n && memcmp(q->sels[j], s, n) == 0 && q->syntax[j] == q->syntax[i])
                abort();
    }
    if (q->last_id_len && !q->id_asked) abort();
    if (hdr && hdr_len) {
        if (q->last_id != hdr || q->last_id_len != hdr_len) abort();
    } else if (q->last_id && !inside(q->last_id, q->last_id_len, buf, size)) {
        abort();
    }
    if (q->query_token && !inside(q->query_token, q->query_token_len, buf, size)) abort();
}

static void match_all(const struct subscribe_parsed *q)
{
    for (size_t s = 0; s < q->nsel; s++) {
        const char *why;
        struct selector *sel =
            q->syntax[s] == SELECTOR_SYNTAX_URLPATTERN
                ? selector_compile_urlpattern(q->sels[s], q->lens[s], URLPATTERN_DEFAULT_BASE,
                                              sizeof(URLPATTERN_DEFAULT_BASE) - 1, &why)
                : selector_compile_as(q->sels[s], q->lens[s], q->syntax[s]);
        if (!sel) abort(); /* subscribe_parse compiled it: so must the index */
        if (q->syntax[s] == SELECTOR_SYNTAX_EXACT && selector_kind(sel) == SELECTOR_TEMPLATE)
            abort();
        if (selector_len(sel) != q->lens[s] || memcmp(selector_text(sel), q->sels[s], q->lens[s]) ||
            selector_text(sel)[q->lens[s]] != 0)
            abort();
        bool urlpattern = selector_kind(sel) == SELECTOR_URLPATTERN;
        if (!urlpattern && !selector_match(sel, q->sels[s], q->lens[s])) abort();
        bool any = selector_kind(sel) == SELECTOR_ANY;
        for (size_t i = 0; i < q->nsel; i++)
            if (!selector_match(sel, q->sels[i], q->lens[i]) && any) abort();
        for (size_t i = 0; i < sizeof(fixed_topics) / sizeof(fixed_topics[0]); i++)
            if (!selector_match(sel, fixed_topics[i], strlen(fixed_topics[i])) && any) abort();
        selector_free(sel);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sseb_config defaults;
    static int ready;
    if (!ready) {
        sseb_config_defaults(&defaults);
        ready = 1;
    }
    if (size > 1 << 16) return 0;
    struct sseb_config cfg = defaults;
    if (size && data[0] & 1) {
        cfg.max_topics = 1 + data[0] % 8;
        cfg.max_selector_bytes = 4 + data[0] % 64;
        cfg.max_template_cost = data[0] % 32;
        cfg.max_urlpattern_cost = 1 + data[0] % 512u;
    }
    if (size && data[0] & 2) cfg.dialects = data[0] & 4 ? SSEB_DIALECT_07 : SSEB_DIALECT_08;
    const char *nl = memchr(data, '\n', size);
    size_t qlen = nl ? (size_t)(nl - (const char *)data) : size;
    /* The query lives in the request target buffer, which always has a spare byte. */
    char *buf = malloc(qlen + 1);
    char *hdr = nl ? malloc(size - qlen) : NULL;
    if (!buf || (nl && !hdr)) abort();
    memcpy(buf, data, qlen);
    size_t hdr_len = nl ? size - qlen - 1 : 0;
    if (hdr) memcpy(hdr, nl + 1, hdr_len);

    /* What the handler's wait for the store reads before parsing: the same id, query untouched. */
    char *scratch, *before = malloc(qlen + 1);
    if (!before) abort();
    memcpy(before, buf, qlen);
    size_t resume_len;
    const char *resume = subscribe_resume_id(buf, qlen, hdr, hdr_len, &scratch, &resume_len);
    if (memcmp(before, buf, qlen)) abort();
    free(before);

    struct subscribe_parsed q;
    struct parse_error err;
    if (subscribe_parse(buf, qlen, hdr, hdr_len, &cfg, &q, &err)) {
        check_accepted(&q, &cfg, buf, qlen, hdr, hdr_len);
        if (resume_len != q.last_id_len || (resume_len && memcmp(resume, q.last_id, resume_len)))
            abort();
        match_all(&q);
    } else if (!err.reason || !*err.reason || (err.status != 400 && err.status != 503) ||
               (err.status == 503) != err.close) {
        abort();
    }
    subscribe_parsed_free(&q);
    free(scratch);
    free(hdr);
    free(buf);
    return 0;
}
