#include "sender.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#ifdef SSEB_HAVE_LIBURING
#include <liburing.h>
#endif

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
/* Sends the batch through the ring; returns how many slots went through it (in order: the kernel
 * consumes submissions from the front). A ring that refuses a batch is given up for good. */
static int send_uring(struct sender *s, int n)
{
    for (int i = 0; i < n; i++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
        s->msgs[i] =
            (struct msghdr){.msg_iov = s->slots[i].iov, .msg_iovlen = (size_t)s->slots[i].iovcnt};
        /* MSG_DONTWAIT: a full socket answers -EAGAIN at once instead of waiting in the ring. */
        io_uring_prep_sendmsg(sqe, s->slots[i].fd, &s->msgs[i], MSG_NOSIGNAL | MSG_DONTWAIT);
        io_uring_sqe_set_data64(sqe, (uint64_t)i);
    }
    int submitted;
    do
        submitted = io_uring_submit_and_wait(&s->ring, (unsigned)n);
    while (submitted == -EINTR);
    if (submitted < 0) submitted = 0; /* an error means nothing was consumed */
    for (int done = 0; done < submitted;) {
        struct io_uring_cqe *cqe;
        int r = io_uring_wait_cqe(&s->ring, &cqe);
        if (r == -EINTR) continue;
        if (r < 0) {
            /* Completions lost: what was written is unknown, so those connections must go. */
            for (int i = 0; i < submitted; i++)
                s->slots[i].result = -EIO;
            break;
        }
        struct sender_slot *slot = &s->slots[io_uring_cqe_get_data64(cqe)];
        slot->result = cqe->res;
        io_uring_cqe_seen(&s->ring, cqe);
        done++;
    }
    if (submitted < n) {
        io_uring_queue_exit(&s->ring);
        s->uring = false;
    }
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
