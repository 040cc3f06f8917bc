#include "sender.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#ifdef SSEB_HAVE_LIBURING
#include <liburing.h>
#endif

/* A slot's result while its send is in the ring (no real result is ever this value). */
#define SENDER_PENDING ((ssize_t)INT64_MIN)

struct sender {
    struct sender_slot slots[SENDER_BATCH];
#ifdef SSEB_HAVE_LIBURING
    bool uring;
    struct io_uring ring;
    struct msghdr msgs[SENDER_BATCH];
#endif
};

struct sender *sender_new(bool use_uring)
{
    struct sender *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
#ifdef SSEB_HAVE_LIBURING
    if (use_uring) s->uring = io_uring_queue_init(SENDER_BATCH, &s->ring, 0) == 0;
#else
    (void)use_uring;
#endif
    return s;
}

void sender_free(struct sender *s)
{
    if (!s) return;
#ifdef SSEB_HAVE_LIBURING
    if (s->uring) io_uring_queue_exit(&s->ring);
#endif
    free(s);
}

bool sender_uses_uring(const struct sender *s)
{
#ifdef SSEB_HAVE_LIBURING
    return s->uring;
#else
    (void)s;
    return false;
#endif
}

struct sender_slot *sender_slots(struct sender *s)
{
    return s->slots;
}

static void send_one(struct sender_slot *slot)
{
    struct msghdr msg = {.msg_iov = slot->iov, .msg_iovlen = (size_t)slot->iovcnt};
    do
        slot->result = sendmsg(slot->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (slot->result < 0 && errno == EINTR);
    if (slot->result < 0) slot->result = -errno;
}

#ifdef SSEB_HAVE_LIBURING
static void uring_give_up(struct sender *s)
{
    io_uring_queue_exit(&s->ring);
    s->uring = false;
}

/* Sends the batch through the ring; returns how many slots went through it (in order: the kernel
 * consumes submissions from the front), the rest being left to sendmsg. A ring that fails in any
 * way is given up for good: completions it still holds could otherwise be matched to the slots
 * of a later batch, and a wrong byte count would corrupt that connection's stream. */
static int send_uring(struct sender *s, int n)
{
    int queued = 0;
    for (; queued < n; queued++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
        if (!sqe) break; /* cannot happen with a ring of SENDER_BATCH entries drained per batch */
        struct sender_slot *slot = &s->slots[queued];
        s->msgs[queued] = (struct msghdr){.msg_iov = slot->iov, .msg_iovlen = (size_t)slot->iovcnt};
        /* MSG_DONTWAIT: a full socket answers -EAGAIN at once instead of waiting in the ring. */
        io_uring_prep_sendmsg(sqe, slot->fd, &s->msgs[queued], MSG_NOSIGNAL | MSG_DONTWAIT);
        io_uring_sqe_set_data64(sqe, (uint64_t)queued);
        slot->result = SENDER_PENDING;
    }
    int submitted;
    do
        submitted = io_uring_submit_and_wait(&s->ring, (unsigned)queued);
    while (submitted == -EINTR);
    if (submitted < 0) submitted = 0; /* an error means nothing was consumed */
    for (int done = 0; done < submitted;) {
        struct io_uring_cqe *cqe;
        int r = io_uring_wait_cqe(&s->ring, &cqe);
        if (r == -EINTR) continue;
        uint64_t i = r < 0 ? UINT64_MAX : io_uring_cqe_get_data64(cqe);
        if (i >= (uint64_t)submitted || s->slots[i].result != SENDER_PENDING) {
            /* Completions lost or not ours: what the pending sends wrote is unknown, so those
             * connections must go. */
            for (int k = 0; k < submitted; k++)
                if (s->slots[k].result == SENDER_PENDING) s->slots[k].result = -EIO;
            uring_give_up(s);
            return submitted;
        }
        s->slots[i].result = cqe->res;
        io_uring_cqe_seen(&s->ring, cqe);
        done++;
    }
    if (submitted < n) uring_give_up(s);
    return submitted;
}
#endif

void sender_send(struct sender *s, int n)
{
    int sent = 0;
#ifdef SSEB_HAVE_LIBURING
    if (s->uring) sent = send_uring(s, n);
#endif
    for (int i = sent; i < n; i++)
        send_one(&s->slots[i]);
}
