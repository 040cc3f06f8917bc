/* The io_uring backend: readiness through epoll (a connection's reads stay edge-triggered
 * reads), and the sends of up to IO_SEND_BATCH connections in one io_uring submission, which is
 * where an SSE broker spends its system calls. Built only with liburing (SSEB_HAVE_LIBURING). */
#ifdef SSEB_HAVE_LIBURING

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net/io.h"
#include "net/io_loop.h"

/* A slot's result while its send is in the ring (no real result is ever this value). */
#define SEND_PENDING ((ssize_t)INT64_MIN)
/* The user data of the poll on the epoll descriptor (a send's is its slot index). */
#define INPUT_POLL UINT64_MAX

struct uring_state {
    bool usable; /* false once the ring failed: the rest of the loop's life uses sendmsg */
    /* A one-shot poll of the epoll descriptor is in the ring: its completion means readiness
     * arrived (input, most often) while a flush writes. It is submitted with the sends, so
     * learning that costs no system call. */
    bool poll_armed, poll_wanted, input_seen;
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
    /* One entry more than a batch: the input poll rides along. */
    if (io_uring_queue_init(IO_SEND_BATCH + 1, &st->ring, 0) < 0 || io_epoll_init(l)) {
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
/* Takes a completion of the input poll. */
static void input_polled(struct uring_state *st, const struct io_uring_cqe *cqe)
{
    st->poll_armed = false;
    st->input_seen = true; /* an error (-ECANCELED...) counts too: ask epoll, to be sure */
    (void)cqe;
}

static int send_through_ring(struct uring_state *st, int epfd, struct io_send_slot *slots, int n)
{
    int queued = 0, polls = 0;
    if (st->poll_wanted && !st->poll_armed) { /* first, so a partial submission takes it too */
        struct io_uring_sqe *sqe = io_uring_get_sqe(&st->ring);
        if (sqe) {
            io_uring_prep_poll_add(sqe, epfd, POLLIN);
            io_uring_sqe_set_data64(sqe, INPUT_POLL);
            polls = 1;
        }
    }
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
    if (polls && submitted) {
        st->poll_armed = true;
        submitted--;
    }
    for (int done = 0; done < submitted;) {
        struct io_uring_cqe *cqe;
        int r = io_uring_wait_cqe(&st->ring, &cqe);
        if (r == -EINTR) continue;
        if (r == 0 && io_uring_cqe_get_data64(cqe) == INPUT_POLL) {
            input_polled(st, cqe);
            io_uring_cqe_seen(&st->ring, cqe);
            continue;
        }
        uint64_t i = r < 0 ? UINT64_MAX - 1 : io_uring_cqe_get_data64(cqe);
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
    int sent = st->usable ? send_through_ring(st, l->epfd, slots, n) : 0;
    io_sendmsg_each(slots + sent, n - sent);
}

/* Takes the input poll's completion if it is in the ring (a look at shared memory, no call). */
static void reap_input_poll(struct uring_state *st)
{
    struct io_uring_cqe *cqe;
    while (io_uring_peek_cqe(&st->ring, &cqe) == 0) {
        if (io_uring_cqe_get_data64(cqe) != INPUT_POLL) break; /* cannot happen between sends */
        input_polled(st, cqe);
        io_uring_cqe_seen(&st->ring, cqe);
    }
}

static void uring_input_watch(struct io_loop *l)
{
    struct uring_state *st = l->state;
    if (!st->usable) return;
    /* A completion from before the loop's last wait is stale: that readiness was served. A poll
     * still armed has seen nothing since it was armed, so it watches on. */
    reap_input_poll(st);
    st->input_seen = false;
    st->poll_wanted = true;
}

static enum io_input uring_input(struct io_loop *l)
{
    struct uring_state *st = l->state;
    if (!st->usable) return IO_INPUT_UNKNOWN;
    reap_input_poll(st);
    bool seen = st->input_seen;
    st->input_seen = false;
    return seen ? IO_INPUT_YES : IO_INPUT_NO;
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
    .input_watch = uring_input_watch,
    .input = uring_input,
};

#endif
