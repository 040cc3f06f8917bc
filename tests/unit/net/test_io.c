/* The poller backends (net/io.h): one suite, run against each backend. Readiness (edge and level),
 * removal, and batched sends: every slot's bytes arrive on its own socket in order, and a full
 * socket reports a short write or -EAGAIN instead of blocking. An io_uring run that cannot get
 * io_uring here is reported as skipped, never passed on the epoll fallback. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/io.h"

#define NSOCK 40

static struct io_loop *loop_on(const struct io_backend *be)
{
    char err[160] = "";
    struct io_loop *l = io_loop_new_on(be, err, sizeof(err));
    cr_assert_not_null(l, "%s: %s", be->name, err);
    cr_assert_eq(io_loop_backend(l), be, "ran another backend than asked");
    return l;
}

static const struct io_backend *uring_or_skip(void)
{
#ifdef SSEB_HAVE_LIBURING
    char err[160] = "";
    if (io_backend_uring.probe(err, sizeof(err))) cr_skip_test("io_uring unavailable: %s", err);
    return &io_backend_uring;
#else
    cr_skip_test("built without liburing");
    return NULL;
#endif
}

#define FOR_EACH_BACKEND(name)                                                                     \
    Test(epoll, name)                                                                              \
    {                                                                                              \
        name(&io_backend_epoll);                                                                   \
    }                                                                                              \
    Test(io_uring, name)                                                                           \
    {                                                                                              \
        name(uring_or_skip());                                                                     \
    }

static void fill(struct io_send_slot *slot, int fd, const char *a, const char *b)
{
    slot->fd = fd;
    slot->iovcnt = 2;
    slot->iov[0] = (struct iovec){(void *)a, strlen(a)};
    slot->iov[1] = (struct iovec){(void *)b, strlen(b)};
    slot->asked = strlen(a) + strlen(b);
}

static void batch_reaches_every_socket(const struct io_backend *be)
{
    struct io_loop *l = loop_on(be);
    int sv[NSOCK][2];
    char names[NSOCK][16];
    struct io_send_slot *slots = io_send_slots(l);
    for (int i = 0; i < NSOCK; i++) {
        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv[i]), 0);
        snprintf(names[i], sizeof(names[i]), "conn-%d;", i);
        fill(&slots[i], sv[i][0], "hello ", names[i]);
    }
    io_send(l, NSOCK);
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
    io_loop_free(l);
}
FOR_EACH_BACKEND(batch_reaches_every_socket)

static void full_socket_answers_at_once(const struct io_backend *be)
{
    struct io_loop *l = loop_on(be);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    static char big[1 << 20];
    memset(big, 'x', sizeof(big));
    struct io_send_slot *slot = io_send_slots(l);
    slot->fd = sv[0];
    slot->iovcnt = 1;
    slot->iov[0] = (struct iovec){big, sizeof(big)};
    slot->asked = sizeof(big);
    io_send(l, 1);
    cr_assert(slot->result > 0 && slot->result < (ssize_t)sizeof(big), "short write: %zd",
              slot->result);
    io_send(l, 1); /* nobody reads: now the socket is full */
    cr_assert_eq(slot->result, -EAGAIN);
    /* A closed peer is an error, not a signal. */
    close(sv[1]);
    io_send(l, 1);
    cr_assert(slot->result == -EPIPE || slot->result == -ECONNRESET, "%zd", slot->result);
    close(sv[0]);
    io_loop_free(l);
}
FOR_EACH_BACKEND(full_socket_answers_at_once)

static void edge_and_level_readiness(const struct io_backend *be)
{
    struct io_loop *l = loop_on(be);
    int edge[2], level[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, edge), 0);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, level), 0);
    char e_tag, l_tag;
    cr_assert_eq(io_add(l, edge[0], &e_tag, IO_EDGE_READ_WRITE), 0);
    cr_assert_eq(io_add(l, level[0], &l_tag, IO_LEVEL_READ), 0);
    struct io_event ev[8];
    /* A new connection is writable: one edge. */
    int n = io_wait(l, ev, 8, 100);
    cr_assert_eq(n, 1);
    cr_assert_eq(ev[0].ptr, &e_tag);
    cr_assert(ev[0].events & IO_WRITE);
    cr_assert_eq(io_wait(l, ev, 8, 0), 0, "an edge is reported once");
    cr_assert_eq(write(edge[1], "a", 1), 1);
    cr_assert_eq(write(level[1], "b", 1), 1);
    n = io_wait(l, ev, 8, 100);
    cr_assert_eq(n, 2);
    /* Nothing read: the level-triggered one is reported again, the edge-triggered one not. */
    n = io_wait(l, ev, 8, 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(ev[0].ptr, &l_tag);
    cr_assert(ev[0].events & IO_READ);
    cr_assert_eq(io_del(l, level[0]), 0);
    cr_assert_eq(io_wait(l, ev, 8, 0), 0, "a removed descriptor is not reported");
    /* The peer closing is reported as a hang-up. */
    close(edge[1]);
    n = io_wait(l, ev, 8, 100);
    cr_assert_eq(n, 1);
    cr_assert(ev[0].events & IO_HUP);
    close(edge[0]);
    close(level[0]);
    close(level[1]);
    io_loop_free(l);
}
FOR_EACH_BACKEND(edge_and_level_readiness)

/* io_loop_new honours the wish for io_uring only where the probe says it can run, and falls back
 * to epoll (the broker's start log and --io-uring off depend on it). */
Test(io, loop_new_picks_io_uring_only_when_asked_and_available)
{
    struct io_loop *l = io_loop_new(false);
    cr_assert_not_null(l);
    cr_assert_eq(io_loop_backend(l), &io_backend_epoll, "--io-uring off must run epoll");
    io_loop_free(l);
#ifdef SSEB_HAVE_LIBURING
    char err[160] = "";
    bool can = io_backend_uring.probe(err, sizeof(err)) == 0;
    l = io_loop_new(true);
    cr_assert_not_null(l);
    cr_assert_eq(io_loop_backend(l), can ? &io_backend_uring : &io_backend_epoll,
                 "io_uring %s here (%s) but the loop chose %s", can ? "runs" : "does not run", err,
                 io_loop_backend(l)->name);
    io_loop_free(l);
#endif
}

/* A flush learns that input arrived between its send batches: io_uring from a poll that rides in
 * the sends' submissions (no readiness, no answer; readiness, yes; a stale readiness from before
 * the flush began, no), epoll by asking (unknown). */
static void input_arrival_during_a_flush(const struct io_backend *be)
{
    struct io_loop *l = loop_on(be);
    int in[2], out[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, in), 0);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, out), 0);
    char tag;
    cr_assert_eq(io_add(l, in[0], &tag, IO_EDGE_READ), 0);
    struct io_event ev[4];
    cr_assert_eq(write(in[1], "x", 1), 1); /* served before the flush: stale for it */
    cr_assert_eq(io_wait(l, ev, 4, 100), 1);
    bool knows = be->caps & IO_CAP_BATCH_SEND;
    io_input_watch(l);
    struct io_send_slot *slot = io_send_slots(l);
    fill(slot, out[0], "a", "b");
    io_send(l, 1);
    cr_assert_eq(io_input(l), knows ? IO_INPUT_NO : IO_INPUT_UNKNOWN);
    cr_assert_eq(write(in[1], "y", 1), 1); /* arrives while the flush goes on */
    fill(slot, out[0], "c", "d");
    io_send(l, 1);
    cr_assert_eq(io_input(l), knows ? IO_INPUT_YES : IO_INPUT_UNKNOWN);
    cr_assert_eq(io_wait(l, ev, 4, 0), 1, "the input is there to be served");
    if (knows) cr_assert_eq(io_input(l), IO_INPUT_NO, "answered once");
    for (int i = 0; i < 2; i++) {
        close(in[i]);
        close(out[i]);
    }
    io_loop_free(l);
}
FOR_EACH_BACKEND(input_arrival_during_a_flush)
