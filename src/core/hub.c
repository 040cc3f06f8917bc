#include "core/hub.h"

#include "common/check.h"
#include "core/bus.h"
#include "core/history.h"

bool hub_commit(struct hub *h, struct event *ev)
{
    struct event *evicted = NULL;
    struct bus_wakeups wake = {.n = 0};
    history_lock(h->history);
    if (!bus_has_room(h->bus)) {
        history_unlock(h->history);
        return false;
    }
    /* Order is assigned here: history and bus see every update in the same order. */
    history_append(h->history, ev, &evicted);
    bool ok = bus_publish(h->bus, ev, &wake);
    history_unlock(h->history);
    /* Room was checked under the lock and every committer takes it: an update in history but on
     * no bus would be acknowledged and never delivered. */
    SSEB_BUG_ON(!ok);
    /* System calls and frees stay outside the lock every publisher needs. */
    bus_wake(h->bus, &wake);
    history_release_evicted(evicted);
    return true;
}
