/* Batched socket writes: one gathered, non-blocking send per connection, many connections per
 * call. With io_uring (liburing) a whole batch costs one system call; without it, or where the
 * kernel refuses io_uring (old kernels, container seccomp profiles), each send is a sendmsg. */
#ifndef SSEB_SENDER_H
#define SSEB_SENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#define SENDER_BATCH   256 /* connections per batch */
#define SENDER_IOV_MAX 64  /* iovecs per connection per send */

struct sender_slot {
    int fd;
    int iovcnt;
    size_t asked;   /* bytes in the iovecs */
    ssize_t result; /* after sender_send: bytes written, or -errno */
    struct iovec iov[SENDER_IOV_MAX];
};

struct sender;

/* use_uring: try io_uring first. Returns NULL only when out of memory. */
struct sender *sender_new(bool use_uring);
void sender_free(struct sender *s);
bool sender_uses_uring(const struct sender *s);
/* The batch's slots, SENDER_BATCH of them, for the caller to fill. */
struct sender_slot *sender_slots(struct sender *s);
/* Sends slots[0..n) and fills each result; returns when all are done (nothing waits on a full
 * socket: that slot's result is then short or -EAGAIN). */
void sender_send(struct sender *s, int n);

#endif
