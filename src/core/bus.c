#include "core/bus.h"

#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/event.h"

#define CACHE_LINE 64

struct bus_slot {
    /* pos + 1 once the event for position pos is stored; readers compare against it. */
    _Atomic uint64_t published;
    struct event *ev;
};

struct bus_cursor {
    _Atomic uint64_t next; /* next position to read */
    _Atomic int sleeping;
    _Atomic int wants_room; /* a publish of this consumer's worker waits for room (bus_want_room) */
    int wake_fd;
} __attribute__((aligned(CACHE_LINE)));

struct bus {
    uint64_t mask;
    int nconsumers;
    struct bus_slot *slots;
    /* Written by the producer only; kept on its own line so consumers' cursors never share it.
     * Atomic because gauges read claim from other threads. */
    _Alignas(CACHE_LINE) _Atomic uint64_t claim;
    _Atomic uint64_t gate; /* cached minimum of the consumers' cursors (producer only) */
    /* Some consumer wants room (read by every consumer after it moves on: its own line). */
    _Alignas(CACHE_LINE) _Atomic int room_wanted;
    _Alignas(CACHE_LINE) struct bus_cursor cursors[];
};

struct bus *bus_new(uint32_t nslots, int consumers)
{
    struct bus *b =
        aligned_alloc(CACHE_LINE, sizeof(*b) + (size_t)consumers * sizeof(struct bus_cursor));
    if (!b) return NULL;
    memset(b, 0, sizeof(*b));
    b->slots = calloc(nslots, sizeof(struct bus_slot));
    if (!b->slots) {
        free(b);
        return NULL;
    }
    b->mask = nslots - 1;
    b->nconsumers = consumers;
    atomic_init(&b->claim, 0);
    atomic_init(&b->gate, 0);
    for (int i = 0; i < consumers; i++) {
        atomic_init(&b->cursors[i].next, 0);
        atomic_init(&b->cursors[i].sleeping, 0);
        atomic_init(&b->cursors[i].wants_room, 0);
        b->cursors[i].wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (b->cursors[i].wake_fd < 0) {
            while (i-- > 0)
                close(b->cursors[i].wake_fd);
            free(b->slots);
            free(b);
            return NULL;
        }
    }
    return b;
}

void bus_free(struct bus *b)
{
    if (!b) return;
    uint64_t end = atomic_load(&b->claim);
    /* Drop the references of events some consumer never read. */
    for (int c = 0; c < b->nconsumers; c++) {
        for (uint64_t pos = atomic_load(&b->cursors[c].next); pos < end; pos++)
            event_unref(b->slots[pos & b->mask].ev);
        close(b->cursors[c].wake_fd);
    }
    free(b->slots);
    free(b);
}

static uint64_t min_cursor(struct bus *b)
{
    uint64_t m = UINT64_MAX;
    for (int c = 0; c < b->nconsumers; c++) {
        uint64_t v = atomic_load_explicit(&b->cursors[c].next, memory_order_acquire);
        if (v < m) m = v;
    }
    return m;
}

static void wake(struct bus_cursor *cur)
{
    uint64_t one = 1;
    ssize_t w = write(cur->wake_fd, &one, sizeof(one));
    (void)w; /* EAGAIN means the counter is already non-zero: the consumer will wake anyway */
}

/* True when position pos can be written: the slowest consumer is less than a ring behind. */
static bool room_for(struct bus *b, uint64_t pos)
{
    uint64_t size = b->mask + 1;
    uint64_t gate = atomic_load_explicit(&b->gate, memory_order_relaxed);
    if (pos - gate < size) return true;
    gate = min_cursor(b);
    atomic_store_explicit(&b->gate, gate, memory_order_relaxed);
    return pos - gate < size;
}

bool bus_has_room(struct bus *b)
{
    return room_for(b, atomic_load_explicit(&b->claim, memory_order_relaxed));
}

bool bus_publish(struct bus *b, struct event *ev, struct bus_wakeups *wk)
{
    /* One producer at a time (bus.h): claim is ours to read and advance without a CAS. */
    uint64_t pos = atomic_load_explicit(&b->claim, memory_order_relaxed);
    if (!room_for(b, pos)) return false;
    atomic_store_explicit(&b->claim, pos + 1, memory_order_relaxed);
    event_ref_n(ev, (uint32_t)b->nconsumers);
    struct bus_slot *s = &b->slots[pos & b->mask];
    s->ev = ev;
    /* seq_cst: pairs with bus_prepare_sleep (bus.h); it also releases ev to bus_next. The
     * published value pos + 1 tells this lap from the previous one in the same slot. */
    atomic_store_explicit(&s->published, pos + 1, memory_order_seq_cst);
    for (int c = 0; c < b->nconsumers; c++) {
        struct bus_cursor *cur = &b->cursors[c];
        if (atomic_load_explicit(&cur->sleeping, memory_order_seq_cst) &&
            atomic_exchange_explicit(&cur->sleeping, 0, memory_order_seq_cst))
            wk->who[wk->n++] = (uint16_t)c;
    }
    return true;
}

void bus_wake(struct bus *b, const struct bus_wakeups *wk)
{
    for (int i = 0; i < wk->n; i++)
        wake(&b->cursors[wk->who[i]]);
}

struct event *bus_next(struct bus *b, int c)
{
    struct bus_cursor *cur = &b->cursors[c];
    uint64_t pos = atomic_load_explicit(&cur->next, memory_order_relaxed);
    struct bus_slot *s = &b->slots[pos & b->mask];
    if (atomic_load_explicit(&s->published, memory_order_acquire) != pos + 1) return NULL;
    struct event *ev = s->ev;
    /* Release: the publisher that reuses this slot must see our read of ev first. */
    atomic_store_explicit(&cur->next, pos + 1, memory_order_release);
    return ev;
}

bool bus_prepare_sleep(struct bus *b, int c)
{
    /* The consumer half of the Dekker pair in bus_publish: announce sleep, then look again. */
    struct bus_cursor *cur = &b->cursors[c];
    atomic_store_explicit(&cur->sleeping, 1, memory_order_seq_cst);
    uint64_t pos = atomic_load_explicit(&cur->next, memory_order_relaxed);
    if (atomic_load_explicit(&b->slots[pos & b->mask].published, memory_order_seq_cst) == pos + 1) {
        atomic_store_explicit(&cur->sleeping, 0, memory_order_relaxed);
        return false;
    }
    return true;
}

void bus_woke(struct bus *b, int c)
{
    /* Relaxed: only this consumer reads its flag before its next bus_prepare_sleep, and a producer
     * that still sees 1 merely wakes it once more. */
    struct bus_cursor *cur = &b->cursors[c];
    atomic_store_explicit(&cur->sleeping, 0, memory_order_relaxed);
    uint64_t v;
    ssize_t r = read(cur->wake_fd, &v, sizeof(v));
    (void)r;
}

void bus_woke_quiet(struct bus *b, int c)
{
    atomic_store_explicit(&b->cursors[c].sleeping, 0, memory_order_relaxed);
}

int bus_wake_fd(struct bus *b, int c)
{
    return b->cursors[c].wake_fd;
}

void bus_kick(struct bus *b, int c)
{
    wake(&b->cursors[c]);
}

/* A Dekker pair with bus_room_made, like sleeping's: the asker stores its wish (seq_cst), then
 * retries its publish, which reads the cursors; a consumer that moved its cursor stores to its
 * own line (seq_cst), then reads the wish. Either the retry sees the room, or the consumer sees
 * the wish and kicks the asker. (No atomic_thread_fence: ThreadSanitizer does not model fences.) */
void bus_want_room(struct bus *b, int c)
{
    atomic_store_explicit(&b->cursors[c].wants_room, 1, memory_order_seq_cst);
    atomic_store_explicit(&b->room_wanted, 1, memory_order_seq_cst);
}

void bus_room_made(struct bus *b, int c)
{
    /* Awake, so its sleeping flag is 0: the store orders the cursor before the load below. */
    atomic_store_explicit(&b->cursors[c].sleeping, 0, memory_order_seq_cst);
    if (!atomic_load_explicit(&b->room_wanted, memory_order_seq_cst)) return;
    atomic_store_explicit(&b->room_wanted, 0, memory_order_seq_cst);
    for (int i = 0; i < b->nconsumers; i++)
        if (atomic_exchange_explicit(&b->cursors[i].wants_room, 0, memory_order_seq_cst))
            wake(&b->cursors[i]);
}

uint64_t bus_lag(struct bus *b)
{
    return atomic_load_explicit(&b->claim, memory_order_relaxed) - min_cursor(b);
}

uint64_t bus_consumer_lag(struct bus *b, int c)
{
    return atomic_load_explicit(&b->claim, memory_order_relaxed) -
           atomic_load_explicit(&b->cursors[c].next, memory_order_relaxed);
}
