/* The request front (http/http.c): which headers it keeps, by name in any case, the first of
 * repeated ones, names split across reads, and names that only look like known ones. */
#include <criterion/criterion.h>
#include <string.h>

#include "http/http.h"

static const struct http_limits limits = {
    .max_header_bytes = 64 * 1024, .max_headers = 100, .max_body_bytes = 1024 * 1024};

/* Feeds req in pieces of at most step bytes; the request must be complete and valid. */
static void feed(struct http_request *r, const char *req, size_t step)
{
    http_request_init(r, &limits);
    size_t len = strlen(req), off = 0;
    while (off < len && !r->complete) {
        size_t n = len - off < step ? len - off : step;
        bool error;
        size_t used = http_request_feed(r, req + off, n, &error);
        cr_assert_not(error, "parse error at %zu", off);
        off += used;
    }
    cr_assert(r->complete);
}

static void expect_value(const struct http_request *r, enum http_header h, const char *want)
{
    size_t len = 0;
    const char *v = http_header_value(r, h, &len);
    if (!want) {
        cr_assert_null(v, "header %d present", h);
        return;
    }
    cr_assert_not_null(v, "header %d absent, want %s", h, want);
    cr_assert_eq(len, strlen(want));
    cr_assert_arr_eq(v, want, len);
}

Test(http, known_headers_in_any_case_and_pieces)
{
    const char *req = "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\n"
                      "AUTHORIZATION: Bearer abc\r\ncontent-TYPE: text/plain\r\n"
                      "Last-Event-Id: 42\r\nOrigin: https://o.example\r\nExpect: 100-continue\r\n"
                      "Access-Control-Request-Method: POST\r\nIf-None-Match: \"e\"\r\n"
                      "aCCEPT: text/event-stream\r\nCookie: a=b\r\nContent-Length: 0\r\n\r\n";
    for (size_t step = 1; step <= strlen(req); step = step < 8 ? step + 1 : step * 2) {
        struct http_request r;
        feed(&r, req, step);
        expect_value(&r, HDR_AUTHORIZATION, "Bearer abc");
        expect_value(&r, HDR_CONTENT_TYPE, "text/plain");
        expect_value(&r, HDR_LAST_EVENT_ID, "42");
        expect_value(&r, HDR_ORIGIN, "https://o.example");
        expect_value(&r, HDR_EXPECT, "100-continue");
        expect_value(&r, HDR_ACCESS_CONTROL_REQUEST_METHOD, "POST");
        expect_value(&r, HDR_IF_NONE_MATCH, "\"e\"");
        expect_value(&r, HDR_ACCEPT, "text/event-stream");
        expect_value(&r, HDR_COOKIE, "a=b");
        http_request_free(&r);
    }
}

Test(http, the_first_of_repeated_headers_wins)
{
    struct http_request r;
    feed(&r,
         "GET / HTTP/1.1\r\nAuthorization: Bearer first\r\nauthorization: Bearer second\r\n"
         "Accept: a\r\n\r\n",
         4096);
    expect_value(&r, HDR_AUTHORIZATION, "Bearer first");
    expect_value(&r, HDR_ACCEPT, "a");
    http_request_free(&r);
}

Test(http, names_that_only_resemble_known_ones_are_ignored)
{
    struct http_request r;
    /* Prefixes, extensions, one letter off, '-' against another character, a name longer than
     * the buffer that starts like a known one. */
    feed(&r,
         "GET / HTTP/1.1\r\nAuthorizatio: a\r\nAuthorizations: b\r\nAuthorizatiom: c\r\n"
         "Content_Type: d\r\nContent.type: e\r\nAcceptx: f\r\nAccep: g\r\n"
         "Access-Control-Request-Method-And-Something-Long-Enough: h\r\nOrigin2: i\r\n\r\n",
         4096);
    for (int h = 0; h < HDR_COUNT; h++)
        expect_value(&r, (enum http_header)h, NULL);
    http_request_free(&r);
}

/* Feeds req whole; returns whether the front reported an error. */
static bool feed_all(struct http_request *r, const struct http_limits *lim, const char *req)
{
    http_request_init(r, lim);
    bool error = false;
    http_request_feed(r, req, strlen(req), &error);
    return error;
}

Test(http, refusals_name_the_limit_the_version_or_a_malformed_request)
{
    static const struct http_limits tight = {
        .max_header_bytes = 64, .max_headers = 2, .max_body_bytes = 4};
    struct http_request r;
    cr_assert(feed_all(&r, &tight, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"));
    cr_assert_eq(http_request_refusal(&r).status, 431);
    http_request_free(&r);
    cr_assert(feed_all(&r, &tight, "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"));
    cr_assert_eq(http_request_refusal(&r).status, 413);
    http_request_free(&r);
    cr_assert(feed_all(&r, &limits, "GET / HTTP/1.2\r\n\r\n"));
    cr_assert_eq(http_request_refusal(&r).status, 505);
    http_request_free(&r);
    cr_assert(feed_all(&r, &limits, "GET / HTTP/1.1\r\nBad Header\r\n\r\n"));
    struct http_refusal no = http_request_refusal(&r);
    cr_assert_eq(no.status, 400);
    cr_assert_str_eq(no.reason, "Malformed HTTP request.");
    http_request_free(&r);
}

Test(http, an_abandoned_request_is_answered_only_once_it_started)
{
    struct http_request r;
    cr_assert_eq(http_request_abandoned(NULL, true).status, 0);
    http_request_init(&r, &limits);
    cr_assert_eq(http_request_abandoned(&r, false).status, 0, "nothing arrived: a quiet close");
    bool error = false;
    http_request_feed(&r, "GET / HT", 8, &error);
    cr_assert_not(error);
    cr_assert_eq(http_request_abandoned(&r, false).status, 400);
    cr_assert_eq(http_request_abandoned(&r, true).status, 408);
    http_request_free(&r);
}

Test(http, continue_is_due_once_for_an_incomplete_request_that_expects_it)
{
    struct http_request r;
    const char *head = "POST / HTTP/1.1\r\nExpect: 100-CONTINUE\r\nContent-Length: 3\r\n\r\n";
    cr_assert_not(feed_all(&r, &limits, head));
    cr_assert_not(r.complete);
    cr_assert(http_request_continue_due(&r));
    cr_assert_not(http_request_continue_due(&r), "once");
    http_request_free(&r);
    cr_assert_not(feed_all(&r, &limits, "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n"));
    cr_assert_not(http_request_continue_due(&r), "not asked for");
    http_request_free(&r);
    cr_assert_not(feed_all(
        &r, &limits, "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx"));
    cr_assert(r.complete);
    cr_assert_not(http_request_continue_due(&r), "the body is already here");
    http_request_free(&r);
}
