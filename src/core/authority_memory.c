/* The memory order authority: an update is stored once it is in the in-memory history, which is
 * the moment the hub commits it. Nothing survives a restart. */
#include <stdlib.h>

#include "core/authority.h"
#include "core/hub.h"

struct authority_memory {
    struct authority base;
    struct hub *hub;
};

static enum authority_result memory_submit(struct authority *a, struct event *ev,
                                           struct authority_ticket *ticket)
{
    (void)ticket; /* never pending */
    struct authority_memory *m = (struct authority_memory *)a;
    return hub_commit(m->hub, ev) ? AUTHORITY_STORED : AUTHORITY_FULL;
}

static void memory_free(struct authority *a)
{
    free(a);
}

static const struct authority_ops memory_ops = {
    .name = "memory",
    .submit = memory_submit,
    .free = memory_free,
};

struct authority *authority_memory_new(struct hub *hub)
{
    struct authority_memory *m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    m->base.ops = &memory_ops;
    m->hub = hub;
    return &m->base;
}
