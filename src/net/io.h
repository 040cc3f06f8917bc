/* The poller: readiness of a worker's descriptors and its batched socket writes, behind a small
 * backend table (the way Redis swaps ae_epoll.c and ae_kqueue.c, and HAProxy its pollers).
 *
 * Backends (chosen by io_loop_new, in order of preference, each probed first):
 *   "io_uring"  readiness through epoll; the sends of a whole batch of connections go to the
 *               kernel in one io_uring submission (built with liburing; refused by old kernels
 *               and by container seccomp profiles, then the next backend is used and logged)
 *   "epoll"     readiness through epoll; one sendmsg per connection
 * Both report the same readiness semantics, so the loop above never knows which one runs.
 *
 * Threads: a loop belongs to one worker thread; nothing here is thread-safe. */
#ifndef SSEB_NET_IO_H
#define SSEB_NET_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

enum { IO_READ = 1, IO_WRITE = 2, IO_HUP = 4, IO_ERR = 8 };

struct io_event {
    void *ptr;
    uint32_t events;
};

/* How io_add watches a descriptor. */
enum io_mode {
    IO_EDGE_READ,       /* edge-triggered read readiness (a wake-up eventfd) */
    IO_EDGE_READ_WRITE, /* edge-triggered read and write readiness (connections) */
    /* Level-triggered read readiness: reported by every wait while the condition holds. A
     * listener is registered so, so a backlog larger than one accept batch is never stranded. */
    IO_LEVEL_READ,
};

#define IO_SEND_BATCH   256 /* connections per batched send */
#define IO_SEND_IOV_MAX 64  /* iovecs per connection per send */

/* One connection's part of a batched send. */
struct io_send_slot {
    int fd;
    int iovcnt;
    size_t asked;   /* bytes in the iovecs */
    ssize_t result; /* after io_send: bytes written, or -errno */
    struct iovec iov[IO_SEND_IOV_MAX];
};

struct io_loop;

/* Whether input arrived while a long flush writes, so that the loop serves it between send
 * batches only when there is some (REVIEW D7). */
enum io_input {
    IO_INPUT_NO,      /* nothing became ready since io_input_watch or the last io_input */
    IO_INPUT_YES,     /* something did: io_wait(..., 0) will report it */
    IO_INPUT_UNKNOWN, /* the backend cannot tell without a system call: ask io_wait(..., 0) */
};

/* Capabilities a backend may have. */
enum { IO_CAP_BATCH_SEND = 1 /* a batch of sends costs one system call */ };

struct io_backend {
    const char *name;
    unsigned caps;
    /* 0 when the backend can run here; else -errno, and why in err. */
    int (*probe)(char *err, size_t errlen);
    /* Sets up l's backend state (l->backend is set); -1 on failure. */
    int (*init)(struct io_loop *l);
    void (*fini)(struct io_loop *l);
    int (*add)(struct io_loop *l, int fd, void *ptr, enum io_mode mode);
    int (*mod)(struct io_loop *l, int fd, void *ptr, enum io_mode mode);
    int (*del)(struct io_loop *l, int fd);
    int (*poll)(struct io_loop *l, struct io_event *out, int max, int timeout_ms);
    /* Writes slots[0..n), each without blocking (a full socket: a short write or -EAGAIN). */
    void (*send)(struct io_loop *l, struct io_send_slot *slots, int n);
    /* Optional (NULL: IO_INPUT_UNKNOWN). input_watch starts watching for readiness without a
     * system call of its own; input answers whether any came since, and watches on. */
    void (*input_watch)(struct io_loop *l);
    enum io_input (*input)(struct io_loop *l);
};

extern const struct io_backend io_backend_epoll;
#ifdef SSEB_HAVE_LIBURING
extern const struct io_backend io_backend_uring;
#endif

/* A new loop on the first backend that probes fine: "io_uring" first when want_uring, else
 * "epoll". A refused backend is logged with its reason. NULL when none can run. */
struct io_loop *io_loop_new(bool want_uring);
/* A new loop on exactly this backend (tests run one suite per backend); NULL with err set when it
 * cannot run here. */
struct io_loop *io_loop_new_on(const struct io_backend *be, char *err, size_t errlen);
void io_loop_free(struct io_loop *l);
const struct io_backend *io_loop_backend(const struct io_loop *l);

/* Registers fd with a user pointer / changes how it is watched / forgets it. 0, or -1 + errno. */
int io_add(struct io_loop *l, int fd, void *ptr, enum io_mode mode);
int io_mod(struct io_loop *l, int fd, void *ptr, enum io_mode mode);
int io_del(struct io_loop *l, int fd);
/* Waits up to timeout_ms (-1: forever) and fills at most max events. Returns how many (0 on a
 * timeout or a signal), or -1 with errno set. */
int io_wait(struct io_loop *l, struct io_event *out, int max, int timeout_ms);

/* The loop's send slots, IO_SEND_BATCH of them, for the caller to fill; io_send writes the first
 * n and fills each result. */
struct io_send_slot *io_send_slots(struct io_loop *l);
void io_send(struct io_loop *l, int n);

/* A flush begins: from now on io_input tells whether readiness arrived (io_uring learns it from
 * a poll of the epoll descriptor that rides in the sends' own submissions). */
void io_input_watch(struct io_loop *l);
enum io_input io_input(struct io_loop *l);

#endif
