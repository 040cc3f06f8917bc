/* The bus: order, backpressure, wake-ups, and many threads at once (run under TSan too). */
#include <criterion/criterion.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "event.h"

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
    for (uint64_t i = 1; i <= 10; i++) {
        struct event *ev = make_event(i);
        cr_assert(bus_publish(b, ev));
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
    for (uint64_t i = 1; i <= 16; i++) {
        struct event *ev = make_event(i);
        cr_assert(bus_publish(b, ev));
        event_unref(ev);
    }
    struct event *extra = make_event(17);
    cr_assert_not(bus_publish(b, extra), "a full ring must refuse");
    cr_assert_not(bus_has_room(b));
    /* One consumer catching up is not enough: the slowest one gates the ring. */
    struct event *ev = bus_next(b, 0);
    event_unref(ev);
    cr_assert_not(bus_publish(b, extra));
    ev = bus_next(b, 1);
    cr_assert_eq(ev->seq, 1);
    event_unref(ev);
    cr_assert(bus_has_room(b));
    cr_assert(bus_publish(b, extra));
    event_unref(extra);
    bus_free(b); /* releases the unread references: ASan/LSan would report a leak otherwise */
}

Test(bus, sleeping_consumer_is_woken_once_idle_only)
{
    struct bus *b = bus_new(16, 1);
    int fd = bus_wake_fd(b, 0);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    /* Not sleeping: a publish must not write the eventfd. */
    struct event *ev = make_event(1);
    bus_publish(b, ev);
    event_unref(ev);
    cr_assert_eq(poll(&p, 1, 0), 0);
    /* Work pending: the consumer must not go to sleep. */
    cr_assert_not(bus_prepare_sleep(b, 0));
    event_unref(bus_next(b, 0));
    cr_assert(bus_prepare_sleep(b, 0));
    ev = make_event(2);
    bus_publish(b, ev);
    event_unref(ev);
    cr_assert_eq(poll(&p, 1, 0), 1, "a sleeping consumer is woken");
    bus_woke(b, 0);
    cr_assert_eq(poll(&p, 1, 0), 0);
    event_unref(bus_next(b, 0));
    bus_free(b);
}

#define PRODUCERS    4
#define PER_PRODUCER 20000
#define CONSUMERS    3

struct shared {
    struct bus *b;
    pthread_mutex_t order; /* stands in for the history lock that assigns seqs */
    uint64_t next_seq;
};

static void *producer(void *arg)
{
    struct shared *s = arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        struct event *ev = make_event(0);
        for (;;) {
            pthread_mutex_lock(&s->order);
            if (bus_has_room(s->b)) {
                ev->seq = ++s->next_seq;
                cr_assert(bus_publish(s->b, ev));
                pthread_mutex_unlock(&s->order);
                break;
            }
            pthread_mutex_unlock(&s->order);
            sched_yield();
        }
        event_unref(ev);
    }
    return NULL;
}

struct consumer_arg {
    struct shared *s;
    int id;
    uint64_t received;
    bool in_order;
};

static void *consumer(void *arg)
{
    struct consumer_arg *ca = arg;
    uint64_t expect = 1;
    ca->in_order = true;
    while (ca->received < (uint64_t)PRODUCERS * PER_PRODUCER) {
        struct event *ev = bus_next(ca->s->b, ca->id);
        if (!ev) {
            if (bus_prepare_sleep(ca->s->b, ca->id)) {
                struct pollfd p = {.fd = bus_wake_fd(ca->s->b, ca->id), .events = POLLIN};
                poll(&p, 1, 100);
                bus_woke(ca->s->b, ca->id);
            }
            continue;
        }
        if (ev->seq != expect) ca->in_order = false;
        expect++;
        ca->received++;
        event_unref(ev);
    }
    return NULL;
}

Test(bus, many_producers_many_consumers_lose_nothing, .timeout = 60)
{
    struct shared s = {.b = bus_new(256, CONSUMERS)};
    pthread_mutex_init(&s.order, NULL);
    pthread_t pt[PRODUCERS], ct[CONSUMERS];
    struct consumer_arg ca[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++) {
        ca[i] = (struct consumer_arg){.s = &s, .id = i};
        pthread_create(&ct[i], NULL, consumer, &ca[i]);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&pt[i], NULL, producer, &s);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(pt[i], NULL);
    for (int i = 0; i < CONSUMERS; i++) {
        pthread_join(ct[i], NULL);
        cr_assert_eq(ca[i].received, (uint64_t)PRODUCERS * PER_PRODUCER);
        cr_assert(ca[i].in_order, "consumer %d saw events out of order", i);
    }
    bus_free(s.b);
}
