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
/* How io_add watches a descriptor. */
enum io_mode {
    IO_EDGE_READ,       /* edge-triggered read readiness (a wake-up eventfd) */
    IO_EDGE_READ_WRITE, /* edge-triggered read and write readiness (connections) */
    /* Level-triggered read readiness: reported by every wait while the condition holds. A
     * listener is registered so, so a backlog larger than one accept batch is never stranded. */
    IO_LEVEL_READ,
};

/* Registers fd with a user pointer. Returns 0, or -1 with errno set. */
int io_add(struct io_loop *l, int fd, void *ptr, enum io_mode mode);
int io_del(struct io_loop *l, int fd);
/* Waits up to timeout_ms (-1 forever) and fills at most max events. */
int io_wait(struct io_loop *l, struct io_event *out, int max, int timeout_ms);

#endif
