/* The bus: order, backpressure, wake-ups. Many threads at once: tests/stress/stress_bus.c (also
 * under TSan). */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "core/bus.h"
#include "core/event.h"

static struct event *make_event(uint64_t seq)
{
    struct sseb_str topic = {"t", 1};
    struct sseb_update u = {.topics = &topic, .ntopics = 1, .id = {"x", 1}};
    struct event *ev = event_new(&u);
    cr_assert_not_null(ev);
    ev->seq = seq;
    return ev;
}

Test(bus, delivers_in_order_to_every_consumer)
{
    struct bus *b = bus_new(16, 3);
    struct bus_wakeups wake = {.n = 0};
    for (uint64_t i = 1; i <= 10; i++) {
        struct event *ev = make_event(i);
        cr_assert(bus_publish(b, ev, &wake));
        event_unref(ev);
    }
    for (int c = 0; c < 3; c++) {
        for (uint64_t i = 1; i <= 10; i++) {
            struct event *ev = bus_next(b, c);
            cr_assert_not_null(ev);
            cr_assert_eq(ev->seq, i);
            event_unref(ev);
        }
        cr_assert_null(bus_next(b, c));
    }
    bus_free(b);
}

Test(bus, full_ring_refuses_instead_of_overwriting)
{
    struct bus *b = bus_new(16, 2);
    struct bus_wakeups wake = {.n = 0};
    for (uint64_t i = 1; i <= 16; i++) {
        struct event *ev = make_event(i);
        cr_assert(bus_publish(b, ev, &wake));
        event_unref(ev);
    }
    struct event *extra = make_event(17);
    cr_assert_not(bus_publish(b, extra, &wake), "a full ring must refuse");
    cr_assert_not(bus_has_room(b));
    /* One consumer catching up is not enough: the slowest one gates the ring. */
    struct event *ev = bus_next(b, 0);
    event_unref(ev);
    cr_assert_not(bus_publish(b, extra, &wake));
    ev = bus_next(b, 1);
    cr_assert_eq(ev->seq, 1);
    event_unref(ev);
    cr_assert(bus_has_room(b));
    cr_assert(bus_publish(b, extra, &wake));
    event_unref(extra);
    bus_free(b); /* releases the unread references: ASan/LSan would report a leak otherwise */
}

Test(bus, sleeping_consumer_is_reported_for_waking_once_idle_only)
{
    struct bus *b = bus_new(16, 2);
    int fd = bus_wake_fd(b, 0);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    /* Not sleeping: a publish reports nobody and writes no eventfd. */
    struct bus_wakeups wake = {.n = 0};
    struct event *ev = make_event(1);
    cr_assert(bus_publish(b, ev, &wake));
    event_unref(ev);
    cr_assert_eq(wake.n, 0);
    cr_assert_eq(poll(&p, 1, 0), 0);
    /* Work pending: the consumer must not go to sleep. */
    cr_assert_not(bus_prepare_sleep(b, 0));
    event_unref(bus_next(b, 0));
    event_unref(bus_next(b, 1));
    cr_assert(bus_prepare_sleep(b, 0));
    ev = make_event(2);
    cr_assert(bus_publish(b, ev, &wake));
    event_unref(ev);
    /* Consumer 0 slept, consumer 1 did not: only 0 is reported, and nothing is written before
     * the caller asks (it holds its lock until then). */
    cr_assert_eq(wake.n, 1);
    cr_assert_eq(wake.who[0], 0);
    cr_assert_eq(poll(&p, 1, 0), 0, "bus_publish makes no system call");
    bus_wake(b, &wake);
    cr_assert_eq(poll(&p, 1, 0), 1, "a sleeping consumer is woken");
    bus_woke(b, 0);
    cr_assert_eq(poll(&p, 1, 0), 0);
    event_unref(bus_next(b, 0));
    event_unref(bus_next(b, 1));
    bus_free(b);
}

static bool readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

/* A worker whose publish found the ring full is woken when a consumer moves on, not polled; a
 * consumer moving on when nobody waits wakes nobody. */
Test(bus, a_full_ring_wakes_the_worker_that_wants_room_once_a_consumer_moves_on)
{
    struct bus *b = bus_new(16, 2);
    struct bus_wakeups wake = {.n = 0};
    for (uint64_t i = 1; i <= 16; i++) {
        struct event *ev = make_event(i);
        cr_assert(bus_publish(b, ev, &wake));
        event_unref(ev);
    }
    struct event *extra = make_event(17);
    cr_assert_not(bus_publish(b, extra, &wake), "the ring is full");
    bus_room_made(b, 1);
    cr_assert_not(readable(bus_wake_fd(b, 0)), "nobody asked: nobody is woken");
    bus_want_room(b, 0);
    for (int c = 0; c < 2; c++) { /* room is there once the slowest consumer moved on */
        struct event *ev = bus_next(b, c);
        event_unref(ev);
        bus_room_made(b, c);
    }
    cr_assert(readable(bus_wake_fd(b, 0)), "the worker that wanted room is woken");
    cr_assert_not(readable(bus_wake_fd(b, 1)), "the other is not");
    bus_woke(b, 0);
    cr_assert(bus_publish(b, extra, &wake));
    event_unref(extra);
    bus_room_made(b, 1);
    cr_assert_not(readable(bus_wake_fd(b, 0)), "a wish is answered once");
    bus_free(b);
}
