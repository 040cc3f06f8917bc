#include "http/response.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char *http_status_text(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define PUT_LITERAL(p, lit) put(p, lit, sizeof(lit) - 1)

/* Decimal digits of v, written at p. */
static char *put_uint(char *p, uint64_t v)
{
    char digits[20];
    int n = 0;
    do
        digits[n++] = (char)('0' + v % 10);
    while (v /= 10);
    while (n)
        *p++ = digits[--n];
    return p;
}

/* Written out by hand rather than with snprintf: every publish is answered through here, and
 * formatting was a tenth of a publish's instructions (bench/profile.sh). */
char *http_response(int status, const char *content_type, const char *extra, const char *body,
                    size_t body_len, unsigned flags, size_t *out_len)
{
    static const char conn_close[] = "Connection: close\r\n";
    bool close = flags & HTTP_RESPONSE_CLOSE;
    /* A HEAD answer carries the headers of the GET one, without its body. */
    size_t sent_body = flags & HTTP_RESPONSE_HEAD ? 0 : body_len;
    const char *reason = http_status_text(status);
    size_t reason_len = strlen(reason), type_len = strlen(content_type);
    size_t extra_len = extra ? strlen(extra) : 0;
    size_t total = sizeof("HTTP/1.1 000 \r\nContent-Type: \r\nContent-Length: \r\n") - 1 +
                   reason_len + type_len + 20 + (close ? sizeof(conn_close) - 1 : 0) + extra_len +
                   2 + sent_body;
    char *out = malloc(total);
    if (!out) return NULL;
    char *p = PUT_LITERAL(out, "HTTP/1.1 ");
    p = put_uint(p, status >= 100 && status <= 999 ? (uint64_t)status : 500);
    *p++ = ' ';
    p = put(p, reason, reason_len);
    p = PUT_LITERAL(p, "\r\nContent-Type: ");
    p = put(p, content_type, type_len);
    p = PUT_LITERAL(p, "\r\nContent-Length: ");
    p = put_uint(p, body_len);
    p = PUT_LITERAL(p, "\r\n");
    if (close) p = put(p, conn_close, sizeof(conn_close) - 1);
    if (extra_len) p = put(p, extra, extra_len);
    p = PUT_LITERAL(p, "\r\n");
    if (sent_body) p = put(p, body, sent_body);
    *out_len = (size_t)(p - out);
    return out;
}
