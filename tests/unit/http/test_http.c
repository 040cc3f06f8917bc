/* The request front (http/http.c): which headers it keeps, by name in any case, the first of
 * repeated ones, names split across reads, and names that only look like known ones. */
#include <criterion/criterion.h>
#include <string.h>

#include "http/http.h"
#include "ssebroker/config.h"

static struct sseb_config cfg = {
    .max_header_bytes = 64 * 1024, .max_headers = 100, .max_body_bytes = 1024 * 1024};

/* Feeds req in pieces of at most step bytes; the request must be complete and valid. */
static void feed(struct http_request *r, const char *req, size_t step)
{
    http_request_init(r, &cfg);
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
