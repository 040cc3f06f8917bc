/* Bus stress test without a test framework, so it also runs under ThreadSanitizer (Criterion's
 * runner does not). Several producers (ordered by a mutex standing in for the history lock) and
 * several consumers that sleep on their eventfd: every consumer must see every event once, in
 * order. Exits non-zero on any violation. */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/bus.h"
#include "core/event.h"

#define PRODUCERS    3
#define PER_PRODUCER 20000
#define CONSUMERS    3
#define TOTAL        ((uint64_t)PRODUCERS * PER_PRODUCER)

static struct bus *bus;
static pthread_mutex_t order = PTHREAD_MUTEX_INITIALIZER;
static uint64_t next_seq;

static void *producer(void *arg)
{
    struct sseb_str topic = {"t", 1};
    struct sseb_update u = {.topics = &topic, .ntopics = 1, .id = {"x", 1}};
    for (int i = 0; i < PER_PRODUCER; i++) {
        struct event *ev = event_new(&u);
        for (;;) {
            /* The bus admits one producer at a time: the mutex serialises them (as the hub's
             * history lock does), and consumers are woken after it is released. */
            struct bus_wakeups wake = {.n = 0};
            pthread_mutex_lock(&order);
            if (bus_has_room(bus)) {
                ev->seq = ++next_seq;
                if (!bus_publish(bus, ev, &wake)) abort();
                pthread_mutex_unlock(&order);
                bus_wake(bus, &wake);
                break;
            }
            pthread_mutex_unlock(&order);
            sched_yield();
        }
        event_unref(ev);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint64_t expect = 1;
    while (expect <= TOTAL) {
        struct event *ev = bus_next(bus, id);
        if (!ev) {
            if (bus_prepare_sleep(bus, id)) {
                struct pollfd p = {.fd = bus_wake_fd(bus, id), .events = POLLIN};
                poll(&p, 1, 1000);
                bus_woke(bus, id);
            }
            continue;
        }
        if (ev->seq != expect) {
            fprintf(stderr, "consumer %d: got seq %llu, expected %llu\n", id,
                    (unsigned long long)ev->seq, (unsigned long long)expect);
            exit(1);
        }
        expect++;
        event_unref(ev);
    }
    return NULL;
}

int main(void)
{
    bus = bus_new(128, CONSUMERS);
    pthread_t p[PRODUCERS], c[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++)
        pthread_create(&c[i], NULL, consumer, (void *)(intptr_t)i);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&p[i], NULL, producer, NULL);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(p[i], NULL);
    for (int i = 0; i < CONSUMERS; i++)
        pthread_join(c[i], NULL);
    bus_free(bus);
    printf("stress_bus: %d consumers each got %llu events in order\n", CONSUMERS,
           (unsigned long long)TOTAL);
    return 0;
}
