/* The loop of net/io.h: picking a backend, and the calls that dispatch to it. */
#include "net/io.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "net/io_loop.h"

struct io_loop *io_loop_new_on(const struct io_backend *be, char *err, size_t errlen)
{
    if (be->probe(err, errlen)) return NULL;
    struct io_loop *l = calloc(1, sizeof(*l));
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->epfd = -1;
    l->backend = be;
    if (be->init(l)) {
        snprintf(err, errlen, "%s: cannot set up the loop", be->name);
        free(l);
        return NULL;
    }
    return l;
}

struct io_loop *io_loop_new(bool want_uring)
{
    const struct io_backend *order[2];
    int n = 0;
#ifdef SSEB_HAVE_LIBURING
    if (want_uring) order[n++] = &io_backend_uring;
#else
    if (want_uring) log_debug("io_uring not built in (liburing): using epoll", "%s", "");
#endif
    order[n++] = &io_backend_epoll;
    for (int i = 0; i < n; i++) {
        char err[160] = "";
        struct io_loop *l = io_loop_new_on(order[i], err, sizeof(err));
        if (l) return l;
        if (i + 1 < n)
            log_warn("poller backend unavailable, falling back", "backend=%s next=%s reason=\"%s\"",
                     order[i]->name, order[i + 1]->name, err);
    }
    return NULL;
}

void io_loop_free(struct io_loop *l)
{
    if (!l) return;
    l->backend->fini(l);
    free(l);
}

const struct io_backend *io_loop_backend(const struct io_loop *l)
{
    return l->backend;
}

int io_add(struct io_loop *l, int fd, void *ptr, enum io_mode mode)
{
    return l->backend->add(l, fd, ptr, mode);
}

int io_mod(struct io_loop *l, int fd, void *ptr, enum io_mode mode)
{
    return l->backend->mod(l, fd, ptr, mode);
}

int io_del(struct io_loop *l, int fd)
{
    return l->backend->del(l, fd);
}

int io_wait(struct io_loop *l, struct io_event *out, int max, int timeout_ms)
{
    return l->backend->poll(l, out, max, timeout_ms);
}

struct io_send_slot *io_send_slots(struct io_loop *l)
{
    return l->slots;
}

void io_send(struct io_loop *l, int n)
{
    l->backend->send(l, l->slots, n);
}

void io_input_watch(struct io_loop *l)
{
    if (l->backend->input_watch) l->backend->input_watch(l);
}

enum io_input io_input(struct io_loop *l)
{
    return l->backend->input ? l->backend->input(l) : IO_INPUT_UNKNOWN;
}
