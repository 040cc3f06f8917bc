/* The small event-loop interface every backend implements (epoll today). */
#ifndef SSEB_IO_H
#define SSEB_IO_H

#include <stdint.h>

enum { IO_READ = 1, IO_WRITE = 2, IO_HUP = 4, IO_ERR = 8 };

struct io_event {
    void *ptr;
    uint32_t events;
};

struct io_loop;

struct io_loop *io_loop_new(void);
void io_loop_free(struct io_loop *l);
/* Registers fd (edge-triggered for read and write readiness) with a user pointer. */
int io_add(struct io_loop *l, int fd, void *ptr, int want_write);
int io_del(struct io_loop *l, int fd);
/* Waits up to timeout_ms (-1 forever) and fills at most max events. */
int io_wait(struct io_loop *l, struct io_event *out, int max, int timeout_ms);

#endif
