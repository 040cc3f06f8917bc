#include "core/sse.h"

#include <string.h>

#include "common/swar.h"

static size_t data_lines(const struct sseb_str *d)
{
    size_t lines = 1;
    if (!d->len) return lines;
    const char *p = d->p, *end = p + d->len;
    while ((p = swar_find2(p, end, '\n', '\r')) < end) {
        lines++;
        if (*p++ == '\r' && p < end && *p == '\n') p++;
    }
    return lines;
}

size_t sse_encoded_size(const struct sseb_update *u, size_t id_len)
{
    size_t n = 4 + id_len + 1; /* "id: " id "\n" */
    if (u->type.len) n += 7 + u->type.len + 1;
    if (u->retry.len) n += 7 + u->retry.len + 1;
    n += data_lines(&u->data) * 7 + u->data.len; /* "data: " + "\n" per line */
    return n + 1;                                /* blank line */
}

static char *put(char *o, const char *s, size_t n)
{
    if (n) memcpy(o, s, n);
    return o + n;
}

size_t sse_encode(char *out, const struct sseb_update *u, const char *id, size_t id_len)
{
    char *o = out;
    o = put(o, "id: ", 4);
    o = put(o, id, id_len);
    *o++ = '\n';
    if (u->type.len) {
        o = put(o, "event: ", 7);
        o = put(o, u->type.p, u->type.len);
        *o++ = '\n';
    }
    if (u->retry.len) {
        o = put(o, "retry: ", 7);
        o = put(o, u->retry.p, u->retry.len);
        *o++ = '\n';
    }
    /* No data field at all is {NULL, 0}: NULL + 0 is undefined in C. */
    const char *d = u->data.len ? u->data.p : "", *end = d + u->data.len;
    for (;;) {
        const char *eol = swar_find2(d, end, '\n', '\r');
        o = put(o, "data: ", 6);
        o = put(o, d, (size_t)(eol - d));
        *o++ = '\n';
        if (eol == end) break;
        d = eol + 1;
        if (*eol == '\r' && d < end && *d == '\n') d++;
    }
    *o++ = '\n';
    return (size_t)(o - out);
}
