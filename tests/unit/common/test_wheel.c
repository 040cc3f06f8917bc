/* The timer wheel: nodes fire once, never before they are due and at most one tick after, across
 * rotations; cancel and reschedule work from inside a firing. */
#include <criterion/criterion.h>

#include "common/wheel.h"

struct fired {
    struct wheel_node *who[64];
    int n;
};

static void record(struct wheel_node *n, void *arg)
{
    struct fired *f = arg;
    f->who[f->n++] = n;
}

Test(wheel, fires_when_due_not_before)
{
    struct wheel w;
    cr_assert_eq(wheel_init(&w, 8, 10, 1000), 0);
    struct wheel_node a = {0}, b = {0}, far = {0};
    wheel_add(&w, &a, 1025);
    wheel_add(&w, &b, 1003); /* within the current tick: fires at the next advance */
    wheel_add(&w, &far, 1000 + 10 * 8 * 3 + 5); /* three rotations ahead */
    struct fired f = {.n = 0};
    wheel_advance(&w, 1012, record, &f);
    cr_assert_eq(f.n, 1);
    cr_assert_eq(f.who[0], &b);
    wheel_advance(&w, 1024, record, &f);
    cr_assert_eq(f.n, 1, "a is due at 1025, not 1024");
    /* Due within a tick already processed: it fires at the next tick, never before its time. */
    wheel_advance(&w, 1029, record, &f);
    cr_assert_eq(f.n, 1);
    wheel_advance(&w, 1030, record, &f);
    cr_assert_eq(f.n, 2);
    cr_assert_eq(f.who[1], &a);
    for (int64_t t = 1030; t < 1240; t += 10)
        wheel_advance(&w, t, record, &f);
    cr_assert_eq(f.n, 2, "far is not due yet");
    wheel_advance(&w, 1300, record, &f);
    cr_assert_eq(f.n, 3);
    cr_assert_eq(f.who[2], &far);
    cr_assert_eq(w.count, 0);
    wheel_free(&w);
}

Test(wheel, cancel_reschedule_and_big_jumps)
{
    struct wheel w;
    cr_assert_eq(wheel_init(&w, 4, 10, 0), 0);
    struct wheel_node a = {0}, b = {0};
    wheel_add(&w, &a, 50);
    wheel_add(&w, &b, 60);
    wheel_remove(&w, &a);
    wheel_remove(&w, &a);   /* twice is harmless */
    wheel_add(&w, &b, 500); /* moved later */
    struct fired f = {.n = 0};
    wheel_advance(&w, 100, record, &f);
    cr_assert_eq(f.n, 0);
    wheel_advance(&w, 100000, record, &f); /* far past every rotation */
    cr_assert_eq(f.n, 1);
    cr_assert_eq(f.who[0], &b);
    wheel_free(&w);
}

static struct wheel *again_wheel;
static void reschedule_once(struct wheel_node *n, void *arg)
{
    int *count = arg;
    if (++*count == 1) wheel_add(again_wheel, n, n->at + 15);
}

Test(wheel, a_firing_may_schedule_its_node_again)
{
    struct wheel w;
    cr_assert_eq(wheel_init(&w, 16, 10, 0), 0);
    again_wheel = &w;
    struct wheel_node a = {0};
    wheel_add(&w, &a, 20);
    int count = 0;
    wheel_advance(&w, 20, reschedule_once, &count);
    cr_assert_eq(count, 1);
    cr_assert(wheel_scheduled(&a));
    wheel_advance(&w, 30, reschedule_once, &count);
    cr_assert_eq(count, 1, "due at 35");
    wheel_advance(&w, 40, reschedule_once, &count);
    cr_assert_eq(count, 2);
    cr_assert_not(wheel_scheduled(&a));
    wheel_free(&w);
}
