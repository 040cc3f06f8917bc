#include "core/event.h"

#include <stdlib.h>
#include <string.h>

#include "core/sse.h"

struct event *event_new(const struct sseb_update *u)
{
    /* The topic count and the byte lengths are stored in 16 and 32 bits: refuse what would not
     * fit rather than truncate it (configuration bounds keep requests far below). */
    if (u->ntopics > UINT16_MAX || u->id.len > UINT32_MAX) return NULL;
    size_t strings = u->id.len + 1;
    for (size_t i = 0; i < u->ntopics; i++)
        strings += u->topics[i].len + 1;
    size_t wire_cap = sse_encoded_size(u, u->id.len);
    if (wire_cap > UINT32_MAX) return NULL;
    for (size_t i = 0; i < u->ntopics; i++)
        if (u->topics[i].len > UINT32_MAX) return NULL;
    size_t head = sizeof(struct event) + u->ntopics * sizeof(struct event_topic);
    size_t total = head + strings + wire_cap;
    struct event *ev = malloc(total);
    if (!ev) return NULL;
    atomic_init(&ev->refs, 1);
    ev->private_ = u->private_;
    ev->ntopics = (uint16_t)u->ntopics;
    ev->seq = 0;
    ev->mem = total;

    char *p = (char *)ev + head;
    for (size_t i = 0; i < u->ntopics; i++) {
        memcpy(p, u->topics[i].p, u->topics[i].len);
        p[u->topics[i].len] = 0;
        ev->topics[i].s = p;
        ev->topics[i].len = (uint32_t)u->topics[i].len;
        ev->topics[i].hash = hash_fnv1a(p, u->topics[i].len);
        p += u->topics[i].len + 1;
    }
    memcpy(p, u->id.p, u->id.len);
    p[u->id.len] = 0;
    ev->id = p;
    ev->id_len = (uint32_t)u->id.len;
    p += u->id.len + 1;
    ev->wire = p;
    ev->wire_len = (uint32_t)sse_encode(p, u, u->id.p, u->id.len);
    return ev;
}

void event_unref(struct event *ev)
{
    if (atomic_fetch_sub_explicit(&ev->refs, 1, memory_order_acq_rel) == 1) free(ev);
}
