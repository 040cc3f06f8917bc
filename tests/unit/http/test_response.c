/* Responses byte for byte: status line, headers in order, the blank line, the body (none for
 * HEAD, whose Content-Length still says what GET would send). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "http/response.h"

static void expect(char *got, size_t len, const char *want)
{
    cr_assert_eq(len, strlen(want), "length %zu, want %zu: %.*s", len, strlen(want), (int)len, got);
    cr_assert(!memcmp(got, want, len), "%.*s", (int)len, got);
    free(got);
}

Test(response, ok_with_a_body)
{
    size_t len;
    char *r = http_response(200, "text/plain; charset=utf-8", NULL, "urn:uuid:1", 10, 0, &len);
    expect(r, len,
           "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "
           "10\r\n\r\nurn:uuid:1");
}

Test(response, close_and_extra_headers)
{
    size_t len;
    char *r = http_response(503, "text/plain", "Retry-After: 1\r\n", "busy", 4, HTTP_RESPONSE_CLOSE,
                            &len);
    expect(r, len,
           "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: "
           "4\r\nConnection: close\r\nRetry-After: 1\r\n\r\nbusy");
}

Test(response, head_has_no_body_but_the_same_length)
{
    size_t len;
    char *r =
        http_response(200, "text/event-stream", NULL, "0123456789", 10, HTTP_RESPONSE_HEAD, &len);
    expect(r, len,
           "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 10\r\n\r\n");
}

Test(response, empty_body_and_long_length)
{
    size_t len;
    char *r = http_response(204, "text/plain", NULL, "", 0, 0, &len);
    expect(r, len,
           "HTTP/1.1 204 No Content\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n");
    r = http_response(200, "a/b", NULL, NULL, 18446744073709551615ull, HTTP_RESPONSE_HEAD, &len);
    expect(r, len,
           "HTTP/1.1 200 OK\r\nContent-Type: a/b\r\nContent-Length: 18446744073709551615\r\n\r\n");
}
