#include "core/event.h"

#include <stdlib.h>
#include <string.h>

#include "core/sse.h"

/* One allocation for the header, the topic table, the strings and wire_cap bytes of wire. */
static struct event *alloc_event(const struct sseb_str *topics, size_t ntopics, struct sseb_str id,
                                 size_t wire_cap, bool private_)
{
    /* The topic count and the byte lengths are stored in 16 and 32 bits: refuse what would not
     * fit rather than truncate it (configuration bounds keep requests far below). */
    if (ntopics > UINT16_MAX || id.len > UINT32_MAX || wire_cap > UINT32_MAX) return NULL;
    size_t strings = id.len + 1;
    for (size_t i = 0; i < ntopics; i++) {
        if (topics[i].len > UINT32_MAX) return NULL;
        strings += topics[i].len + 1;
    }
    size_t head = sizeof(struct event) + ntopics * sizeof(struct event_topic);
    size_t total = head + strings + wire_cap;
    struct event *ev = malloc(total);
    if (!ev) return NULL;
    atomic_init(&ev->refs, 1);
    ev->private_ = private_;
    ev->presence = EVENT_PRESENCE_NONE;
    ev->ntopics = (uint16_t)ntopics;
    ev->seq = 0;
    ev->mem = total;
    ev->evicted_next = NULL;
    char *p = (char *)ev + head;
    for (size_t i = 0; i < ntopics; i++) {
        memcpy(p, topics[i].p, topics[i].len);
        p[topics[i].len] = 0;
        ev->topics[i].s = p;
        ev->topics[i].len = (uint32_t)topics[i].len;
        ev->topics[i].hash = hash_topic(p, topics[i].len);
        p += topics[i].len + 1;
    }
    memcpy(p, id.p, id.len);
    p[id.len] = 0;
    ev->id = p;
    ev->id_len = (uint32_t)id.len;
    ev->wire = p + id.len + 1;
    ev->wire_len = 0;
    return ev;
}

struct event *event_new(const struct sseb_update *u)
{
    struct event *ev =
        alloc_event(u->topics, u->ntopics, u->id, sse_encoded_size(u, u->id.len), u->private_);
    if (ev) ev->wire_len = (uint32_t)sse_encode((char *)ev->wire, u, u->id.p, u->id.len);
    return ev;
}

struct event *event_new_encoded(const struct sseb_str *topics, size_t ntopics, struct sseb_str id,
                                struct sseb_str wire, bool private_)
{
    struct event *ev = alloc_event(topics, ntopics, id, wire.len, private_);
    if (!ev) return NULL;
    memcpy((char *)ev->wire, wire.p, wire.len);
    ev->wire_len = (uint32_t)wire.len;
    return ev;
}

void event_unref(struct event *ev)
{
    if (atomic_fetch_sub_explicit(&ev->refs, 1, memory_order_acq_rel) == 1) free(ev);
}
