#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "io.h"

#define IO_BATCH 256

struct io_loop {
    int epfd;
    struct epoll_event evs[IO_BATCH];
};

struct io_loop *io_loop_new(void)
{
    struct io_loop *l = malloc(sizeof(*l));
    if (!l) return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        free(l);
        return NULL;
    }
    return l;
}

void io_loop_free(struct io_loop *l)
{
    if (!l) return;
    close(l->epfd);
    free(l);
}

int io_add(struct io_loop *l, int fd, void *ptr, enum io_mode mode)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = ptr};
    if (mode != IO_LEVEL_READ) ev.events |= EPOLLRDHUP | EPOLLET;
    if (mode == IO_EDGE_READ_WRITE) ev.events |= EPOLLOUT;
    return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
}

int io_del(struct io_loop *l, int fd)
{
    return epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
}

int io_wait(struct io_loop *l, struct io_event *out, int max, int timeout_ms)
{
    if (max > IO_BATCH) max = IO_BATCH;
    int n = epoll_wait(l->epfd, l->evs, max, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n; i++) {
        uint32_t e = l->evs[i].events, r = 0;
        if (e & EPOLLIN) r |= IO_READ;
        if (e & EPOLLOUT) r |= IO_WRITE;
        if (e & (EPOLLHUP | EPOLLRDHUP)) r |= IO_HUP;
        if (e & EPOLLERR) r |= IO_ERR;
        out[i].ptr = l->evs[i].data.ptr;
        out[i].events = r;
    }
    return n;
}
