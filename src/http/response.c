#include "http/response.h"

#include <stdio.h>
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

char *http_response(int status, const char *content_type, const char *extra, const char *body,
                    size_t body_len, unsigned flags, size_t *out_len)
{
    bool close = flags & HTTP_RESPONSE_CLOSE;
    /* A HEAD answer carries the headers of the GET one, without its body. */
    size_t sent_body = flags & HTTP_RESPONSE_HEAD ? 0 : body_len;
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s", status,
                     http_status_text(status), content_type, body_len,
                     close ? "Connection: close\r\n" : "");
    size_t extra_len = extra ? strlen(extra) : 0;
    size_t total = (size_t)n + extra_len + 2 + sent_body;
    char *out = malloc(total);
    if (!out) return NULL;
    memcpy(out, head, (size_t)n);
    if (extra_len) memcpy(out + n, extra, extra_len);
    memcpy(out + n + extra_len, "\r\n", 2);
    if (sent_body) memcpy(out + n + extra_len + 2, body, sent_body);
    *out_len = total;
    return out;
}
