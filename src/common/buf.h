/* A growable byte buffer that always keeps one spare byte for a terminating NUL. */
#ifndef SSEB_COMMON_BUF_H
#define SSEB_COMMON_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
    char *p; /* NULL until the first append; then NUL-terminated at p[len] */
    size_t len, cap;
};

/* Appends n bytes. Returns 0, or -1 when out of memory (the buffer is then unchanged). */
int buf_append(struct buf *b, const char *s, size_t n);
/* Appends printf-style text. Returns 0, or -1 when out of memory or on a format error. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_free(struct buf *b);

#endif
