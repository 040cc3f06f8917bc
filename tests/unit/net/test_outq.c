/* Output queue: byte accounting, exact bytes across partial writes, shared event holders. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/event.h"
#include "net/outq.h"

static struct event *make_event(size_t data_len)
{
    char *data = malloc(data_len);
    for (size_t i = 0; i < data_len; i++)
        data[i] = (char)('a' + i % 26);
    struct sseb_str topic = {"t", 1};
    struct sseb_update u = {
        .topics = &topic, .ntopics = 1, .id = {"i", 1}, .data = {data, data_len}};
    struct event *ev = event_new(&u);
    free(data);
    return ev;
}

/* Writes as much as the socket takes, one sendmsg at a time: the worker's flush without its
 * batching (src/worker.c, src/sender.c). */
enum flush_result { FLUSH_DONE, FLUSH_BLOCKED, FLUSH_ERROR };
static enum flush_result flush(struct outq *q, int fd, struct shared_pool *pool, size_t *written)
{
    *written = 0;
    while (q->count) {
        struct iovec iov[64];
        size_t asked;
        int n = outq_prepare(q, iov, 64, &asked);
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? FLUSH_BLOCKED : FLUSH_ERROR;
        }
        *written += (size_t)w;
        cr_assert_eq(outq_consume(q, pool, (size_t)w), 0);
        if ((size_t)w < asked) return FLUSH_BLOCKED;
    }
    return FLUSH_DONE;
}

static size_t drain(int fd, char *out, size_t cap)
{
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, out + got, cap - got);
        if (n <= 0) return got;
        got += (size_t)n;
    }
}

Test(outq, accounts_bytes_and_writes_in_order)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct shared_pool pool = {0};
    struct outq q = {0};
    struct event *ev = make_event(10);
    struct shared_event *se = shared_get(&pool, ev);
    char *owned = strdup("owned;");
    cr_assert_eq(outq_push_static(&q, "static;", 7), 0);
    cr_assert_eq(outq_push_owned(&q, owned, 6), 0);
    cr_assert_eq(outq_push_shared(&q, se), 0);
    cr_assert_eq(se->holders, 1);
    size_t wire_len = ev->wire_len;
    cr_assert_eq(q.bytes, 13 + wire_len);
    size_t written;
    cr_assert_eq(flush(&q, sv[0], &pool, &written), FLUSH_DONE);
    cr_assert_eq(written, 13 + wire_len);
    cr_assert_eq(q.bytes, 0);
    cr_assert_eq(pool.live, 0, "the last holder releases the event");
    char buf[256];
    size_t n = drain(sv[1], buf, sizeof(buf));
    cr_assert_eq(n, written);
    cr_assert(memcmp(buf, "static;owned;id: i\ndata: abcdefghij\n\n", n) == 0);
    outq_clear(&q, &pool);
    shared_pool_free(&pool);
    close(sv[0]);
    close(sv[1]);
}

Test(outq, survives_partial_writes_byte_exact)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    struct shared_pool pool = {0};
    struct outq q = {0};
    struct event *ev = make_event(1000);
    struct shared_event *se = shared_get(&pool, ev);
    const int copies = 300;
    for (int i = 0; i < copies; i++)
        cr_assert_eq(outq_push_shared(&q, se), 0);
    cr_assert_eq(se->holders, copies);
    size_t wire_len = ev->wire_len;
    char *wire = malloc(wire_len);
    memcpy(wire, ev->wire, wire_len); /* the event is freed once its last copy is written */
    size_t total = (size_t)copies * wire_len, received = 0, written_total = 0;
    char *buf = malloc(total + 1);
    int blocked = 0;
    while (q.bytes) {
        size_t w;
        enum flush_result r = flush(&q, sv[0], &pool, &w);
        written_total += w;
        cr_assert_neq(r, FLUSH_ERROR);
        if (r == FLUSH_BLOCKED) blocked++;
        cr_assert_eq(q.bytes, total - written_total);
        received += drain(sv[1], buf + received, total - received);
    }
    received += drain(sv[1], buf + received, total - received);
    cr_assert_gt(blocked, 0, "the small buffer must have forced partial writes");
    cr_assert_eq(received, total);
    for (int i = 0; i < copies; i++)
        cr_assert(memcmp(buf + (size_t)i * wire_len, wire, wire_len) == 0);
    cr_assert_eq(pool.live, 0);
    free(wire);
    free(buf);
    outq_clear(&q, &pool);
    shared_pool_free(&pool);
    close(sv[0]);
    close(sv[1]);
}

Test(outq, clear_releases_everything)
{
    struct shared_pool pool = {0};
    struct outq q = {0};
    struct event *ev = make_event(5);
    event_ref(ev); /* keep one to watch the count */
    struct shared_event *se = shared_get(&pool, ev);
    outq_push_shared(&q, se);
    outq_push_shared(&q, se);
    outq_push_owned(&q, strdup("x"), 1);
    cr_assert_eq(atomic_load(&ev->refs), 2);
    outq_clear(&q, &pool);
    cr_assert_eq(atomic_load(&ev->refs), 1);
    cr_assert_eq(pool.live, 0);
    event_unref(ev);
    shared_pool_free(&pool);
}

Test(outq, write_error_is_reported)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
    close(sv[1]);
    signal(SIGPIPE, SIG_IGN);
    struct shared_pool pool = {0};
    struct outq q = {0};
    outq_push_static(&q, "x", 1);
    size_t w;
    cr_assert_eq(flush(&q, sv[0], &pool, &w), FLUSH_ERROR);
    outq_clear(&q, &pool);
    close(sv[0]);
}

Test(outq, replayed_events_hold_their_own_reference_and_big_queues_shrink)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct shared_pool pool = {0};
    struct outq q = {0};
    struct event *ev = make_event(4);
    /* 300 entries: more than a queue keeps once it is empty again. */
    for (int i = 0; i < 300; i++) {
        event_ref(ev);
        cr_assert_eq(outq_push_event(&q, ev), 0);
    }
    cr_assert_eq(atomic_load(&ev->refs), 301);
    cr_assert_eq(q.bytes, 300 * ev->wire_len);
    size_t written;
    cr_assert_eq(flush(&q, sv[0], &pool, &written), FLUSH_DONE);
    cr_assert_eq(written, 300 * ev->wire_len);
    cr_assert_eq(atomic_load(&ev->refs), 1, "every written entry dropped its reference");
    cr_assert_null(q.items, "a queue that grew for a replay is given back once empty");
    cr_assert_eq(q.cap, 0);
    /* The queue works again after shrinking. */
    event_ref(ev);
    cr_assert_eq(outq_push_event(&q, ev), 0);
    cr_assert_eq(flush(&q, sv[0], &pool, &written), FLUSH_DONE);
    cr_assert_eq(written, ev->wire_len);
    event_unref(ev);
    outq_clear(&q, &pool);
    close(sv[0]);
    close(sv[1]);
}

Test(outq, holder_pool_keeps_a_bounded_number_of_spares)
{
    struct shared_pool pool = {0};
    enum { N = 10000 };
    struct shared_event **all = malloc(N * sizeof(*all));
    struct event *ev = make_event(1);
    for (int i = 0; i < N; i++) {
        event_ref(ev);
        all[i] = shared_get(&pool, ev);
    }
    cr_assert_eq(pool.live, N);
    for (int i = 0; i < N; i++)
        shared_put_unused(&pool, all[i]);
    cr_assert_eq(pool.live, 0);
    cr_assert_lt(pool.nfree, (size_t)N, "a burst's peak is not kept forever");
    cr_assert_gt(pool.nfree, 0);
    cr_assert_eq(atomic_load(&ev->refs), 1);
    event_unref(ev);
    shared_pool_free(&pool);
    free(all);
}

Test(outq, consume_refuses_more_than_is_queued)
{
    struct outq q = {0};
    struct shared_pool pool = {0};
    cr_assert_eq(outq_push_static(&q, "abcdef", 6), 0);
    cr_assert_eq(outq_push_static(&q, "gh", 2), 0);
    /* A send cannot write more than it was given: a larger count is refused, nothing dropped. */
    cr_assert_eq(outq_consume(&q, &pool, 9), -1);
    cr_assert_eq(q.bytes, 8);
    cr_assert_eq(q.count, 2);
    cr_assert_eq(outq_consume(&q, &pool, 7), 0);
    cr_assert_eq(q.bytes, 1);
    cr_assert_eq(outq_consume(&q, &pool, 2), -1);
    cr_assert_eq(outq_consume(&q, &pool, 1), 0);
    cr_assert_eq(q.bytes, 0);
    cr_assert_eq(q.count, 0);
    outq_clear(&q, &pool);
    shared_pool_free(&pool);
}

/* A run's bytes copied once (the fan-out's runs): two queues hold it, one from the start and one
 * from an offset (a stream that had the run's first event already); both get exactly their
 * bytes, and the copy is freed with its last holder. */
Test(outq, run_bytes_shared_whole_and_from_an_offset)
{
    int a[2], b[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a), 0);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b), 0);
    struct shared_pool pool = {0};
    char *p;
    static const char run[] = "id: 1\ndata: x\n\nid: 2\ndata: y\n\n";
    struct shared_event *se = shared_get_bytes(&pool, sizeof(run) - 1, &p);
    cr_assert_not_null(se);
    memcpy(p, run, sizeof(run) - 1);
    struct outq qa = {0}, qb = {0};
    cr_assert_eq(outq_push_shared(&qa, se), 0);
    cr_assert_eq(outq_push_shared_from(&qb, se, 15), 0);
    cr_assert_eq(se->holders, 2);
    cr_assert_eq(qa.bytes, sizeof(run) - 1);
    cr_assert_eq(qb.bytes, sizeof(run) - 1 - 15);
    size_t w;
    cr_assert_eq(flush(&qa, a[0], &pool, &w), FLUSH_DONE);
    cr_assert_eq(pool.live, 1, "the other queue still holds the run");
    cr_assert_eq(flush(&qb, b[0], &pool, &w), FLUSH_DONE);
    cr_assert_eq(pool.live, 0, "the last holder frees the copy");
    char buf[64];
    size_t n = drain(a[1], buf, sizeof(buf));
    cr_assert_eq(n, sizeof(run) - 1);
    cr_assert(memcmp(buf, run, n) == 0);
    n = drain(b[1], buf, sizeof(buf));
    cr_assert_eq(n, sizeof(run) - 1 - 15);
    cr_assert(memcmp(buf, "id: 2\ndata: y\n\n", n) == 0);
    shared_pool_free(&pool);
    for (int i = 0; i < 2; i++) {
        close(a[i]);
        close(b[i]);
    }
}
