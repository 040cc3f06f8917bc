/* The epoll backend: readiness through epoll, one sendmsg per connection. */
#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/io.h"
#include "net/io_loop.h"

int io_epoll_init(struct io_loop *l)
{
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    return l->epfd < 0 ? -1 : 0;
}

void io_epoll_fini(struct io_loop *l)
{
    if (l->epfd >= 0) close(l->epfd);
}

static uint32_t epoll_mask(enum io_mode mode)
{
    uint32_t events = EPOLLIN;
    if (mode != IO_LEVEL_READ) events |= EPOLLRDHUP | EPOLLET;
    if (mode == IO_EDGE_READ_WRITE) events |= EPOLLOUT;
    return events;
}

int io_epoll_add(struct io_loop *l, int fd, void *ptr, enum io_mode mode)
{
    struct epoll_event ev = {.events = epoll_mask(mode), .data.ptr = ptr};
    return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
}

int io_epoll_mod(struct io_loop *l, int fd, void *ptr, enum io_mode mode)
{
    struct epoll_event ev = {.events = epoll_mask(mode), .data.ptr = ptr};
    return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev);
}

int io_epoll_del(struct io_loop *l, int fd)
{
    return epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
}

int io_epoll_poll(struct io_loop *l, struct io_event *out, int max, int timeout_ms)
{
    if (max > IO_POLL_MAX) max = IO_POLL_MAX;
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

void io_sendmsg_each(struct io_send_slot *slots, int n)
{
    for (int i = 0; i < n; i++) {
        struct io_send_slot *slot = &slots[i];
        struct msghdr msg = {.msg_iov = slot->iov, .msg_iovlen = (size_t)slot->iovcnt};
        do
            slot->result = sendmsg(slot->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        while (slot->result < 0 && errno == EINTR);
        if (slot->result < 0) slot->result = -errno;
    }
}

static int epoll_probe(char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    return 0; /* Linux always has it */
}

static void epoll_send(struct io_loop *l, struct io_send_slot *slots, int n)
{
    (void)l;
    io_sendmsg_each(slots, n);
}

const struct io_backend io_backend_epoll = {
    .name = "epoll",
    .caps = 0,
    .probe = epoll_probe,
    .init = io_epoll_init,
    .fini = io_epoll_fini,
    .add = io_epoll_add,
    .mod = io_epoll_mod,
    .del = io_epoll_del,
    .poll = io_epoll_poll,
    .send = epoll_send,
};
