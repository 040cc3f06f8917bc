/* Inside the poller (net/io.h): the loop state every backend shares, and the epoll readiness
 * both backends use. Only net/io*.c include this. */
#ifndef SSEB_NET_IO_LOOP_H
#define SSEB_NET_IO_LOOP_H

#include <sys/epoll.h>

#include "net/io.h"

#define IO_POLL_MAX 256 /* events per wait */

struct io_loop {
    const struct io_backend *backend;
    int epfd;
    struct epoll_event evs[IO_POLL_MAX];
    struct io_send_slot slots[IO_SEND_BATCH];
    void *state; /* the backend's own (io_uring: the ring) */
};

/* epoll readiness (io_epoll.c), shared by the backends' tables. */
int io_epoll_init(struct io_loop *l);
void io_epoll_fini(struct io_loop *l);
int io_epoll_add(struct io_loop *l, int fd, void *ptr, enum io_mode mode);
int io_epoll_mod(struct io_loop *l, int fd, void *ptr, enum io_mode mode);
int io_epoll_del(struct io_loop *l, int fd);
int io_epoll_poll(struct io_loop *l, struct io_event *out, int max, int timeout_ms);
/* One sendmsg per slot: the epoll backend's send, and io_uring's for what its ring refused. */
void io_sendmsg_each(struct io_send_slot *slots, int n);

#endif
