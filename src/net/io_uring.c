/* The io_uring backend: readiness through epoll (a connection's reads stay edge-triggered
 * reads), and the sends of up to IO_SEND_BATCH connections in one io_uring submission, which is
 * where an SSE broker spends its system calls. Built only with liburing (SSEB_HAVE_LIBURING). */
#ifdef SSEB_HAVE_LIBURING

#include <errno.h>
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net/io.h"
#include "net/io_loop.h"

/* A slot's result while its send is in the ring (no real result is ever this value). */
#define SEND_PENDING ((ssize_t)INT64_MIN)

struct uring_state {
    bool usable; /* false once the ring failed: the rest of the loop's life uses sendmsg */
    struct io_uring ring;
    struct msghdr msgs[IO_SEND_BATCH];
};

static int uring_probe(char *err, size_t errlen)
{
    struct io_uring ring;
    int rc = io_uring_queue_init(4, &ring, 0);
    if (rc < 0) {
        snprintf(err, errlen, "io_uring_setup: %s", strerror(-rc));
        return rc;
    }
    io_uring_queue_exit(&ring);
    return 0;
}

static int uring_init(struct io_loop *l)
{
    struct uring_state *st = calloc(1, sizeof(*st));
    if (!st) return -1;
    if (io_uring_queue_init(IO_SEND_BATCH, &st->ring, 0) < 0 || io_epoll_init(l)) {
        free(st);
        return -1;
    }
    st->usable = true;
    l->state = st;
    return 0;
}

static void give_up(struct uring_state *st)
{
    io_uring_queue_exit(&st->ring);
    st->usable = false;
}

static void uring_fini(struct io_loop *l)
{
    struct uring_state *st = l->state;
    if (st && st->usable) io_uring_queue_exit(&st->ring);
    free(st);
    io_epoll_fini(l);
}

/* Sends slots through the ring; returns how many went through it (in order: the kernel consumes
 * submissions from the front). A ring that fails in any way is given up for good: completions it
 * still holds could otherwise be matched to the slots of a later batch, and a wrong byte count
 * would corrupt that connection's stream. */
static int send_through_ring(struct uring_state *st, struct io_send_slot *slots, int n)
{
    int queued = 0;
    for (; queued < n; queued++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&st->ring);
        if (!sqe) break; /* cannot happen with a ring of IO_SEND_BATCH entries drained per batch */
        struct io_send_slot *slot = &slots[queued];
        st->msgs[queued] =
            (struct msghdr){.msg_iov = slot->iov, .msg_iovlen = (size_t)slot->iovcnt};
        /* MSG_DONTWAIT: a full socket answers -EAGAIN at once instead of waiting in the ring. */
        io_uring_prep_sendmsg(sqe, slot->fd, &st->msgs[queued], MSG_NOSIGNAL | MSG_DONTWAIT);
        io_uring_sqe_set_data64(sqe, (uint64_t)queued);
        slot->result = SEND_PENDING;
    }
    int submitted;
    do
        submitted = io_uring_submit_and_wait(&st->ring, (unsigned)queued);
    while (submitted == -EINTR);
    if (submitted < 0) submitted = 0; /* an error means nothing was consumed */
    for (int done = 0; done < submitted;) {
        struct io_uring_cqe *cqe;
        int r = io_uring_wait_cqe(&st->ring, &cqe);
        if (r == -EINTR) continue;
        uint64_t i = r < 0 ? UINT64_MAX : io_uring_cqe_get_data64(cqe);
        if (i >= (uint64_t)submitted || slots[i].result != SEND_PENDING) {
            /* Completions lost or not ours: what the pending sends wrote is unknown, so those
             * connections must go. */
            for (int k = 0; k < submitted; k++)
                if (slots[k].result == SEND_PENDING) slots[k].result = -EIO;
            give_up(st);
            return submitted;
        }
        slots[i].result = cqe->res;
        io_uring_cqe_seen(&st->ring, cqe);
        done++;
    }
    if (submitted < n) give_up(st);
    return submitted;
}

static void uring_send(struct io_loop *l, struct io_send_slot *slots, int n)
{
    struct uring_state *st = l->state;
    int sent = st->usable ? send_through_ring(st, slots, n) : 0;
    io_sendmsg_each(slots + sent, n - sent);
}

const struct io_backend io_backend_uring = {
    .name = "io_uring",
    .caps = IO_CAP_BATCH_SEND,
    .probe = uring_probe,
    .init = uring_init,
    .fini = uring_fini,
    .add = io_epoll_add,
    .mod = io_epoll_mod,
    .del = io_epoll_del,
    .poll = io_epoll_poll,
    .send = uring_send,
};

#endif
