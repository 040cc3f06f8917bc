/* Batched sends (io_uring and the sendmsg fallback): every slot's bytes arrive on its own socket,
 * in order, and a full socket reports a short write or -EAGAIN instead of blocking. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sender.h"

#define NSOCK 40

static void fill(struct sender_slot *slot, int fd, const char *a, const char *b)
{
    slot->fd = fd;
    slot->iovcnt = 2;
    slot->iov[0] = (struct iovec){(void *)a, strlen(a)};
    slot->iov[1] = (struct iovec){(void *)b, strlen(b)};
    slot->asked = strlen(a) + strlen(b);
}

static void sends_every_slot(bool use_uring)
{
    struct sender *s = sender_new(use_uring);
    cr_assert_not_null(s);
    if (!use_uring) cr_assert_not(sender_uses_uring(s));
    int sv[NSOCK][2];
    char names[NSOCK][16];
    struct sender_slot *slots = sender_slots(s);
    for (int i = 0; i < NSOCK; i++) {
        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv[i]), 0);
        snprintf(names[i], sizeof(names[i]), "conn-%d;", i);
        fill(&slots[i], sv[i][0], "hello ", names[i]);
    }
    sender_send(s, NSOCK);
    for (int i = 0; i < NSOCK; i++) {
        cr_assert_eq(slots[i].result, (ssize_t)slots[i].asked, "slot %d", i);
        char buf[64] = {0};
        ssize_t n = read(sv[i][1], buf, sizeof(buf) - 1);
        cr_assert_eq(n, (ssize_t)slots[i].asked);
        char want[64];
        snprintf(want, sizeof(want), "hello %s", names[i]);
        cr_assert_str_eq(buf, want);
        close(sv[i][0]);
        close(sv[i][1]);
    }
    sender_free(s);
}

Test(sender, io_uring_batch_reaches_every_socket)
{
    sends_every_slot(true);
}

Test(sender, sendmsg_fallback_reaches_every_socket)
{
    sends_every_slot(false);
}

static void full_socket_does_not_block(bool use_uring)
{
    struct sender *s = sender_new(use_uring);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    static char big[1 << 20];
    memset(big, 'x', sizeof(big));
    struct sender_slot *slot = sender_slots(s);
    slot->fd = sv[0];
    slot->iovcnt = 1;
    slot->iov[0] = (struct iovec){big, sizeof(big)};
    slot->asked = sizeof(big);
    sender_send(s, 1);
    cr_assert(slot->result > 0 && slot->result < (ssize_t)sizeof(big), "short write: %zd",
              slot->result);
    sender_send(s, 1); /* nobody reads: now the socket is full */
    cr_assert_eq(slot->result, -EAGAIN);
    /* A closed peer is an error, not a signal. */
    close(sv[1]);
    sender_send(s, 1);
    cr_assert(slot->result == -EPIPE || slot->result == -ECONNRESET, "%zd", slot->result);
    close(sv[0]);
    sender_free(s);
}

Test(sender, io_uring_full_socket_answers_at_once)
{
    full_socket_does_not_block(true);
}

Test(sender, sendmsg_full_socket_answers_at_once)
{
    full_socket_does_not_block(false);
}
