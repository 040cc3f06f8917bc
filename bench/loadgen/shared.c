/* Shared memory between the parent (publisher, coordinator) and subscriber processes. */

#include "loadgen.h"

struct shared *SH;

static size_t align64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

void shared_setup(void)
{
    size_t words = (size_t)((O.updates + 63) / 64);
    size_t off_child = align64(sizeof(struct shared));
    size_t off_group = off_child + align64(sizeof(struct child_res) * O.procs);
    size_t off_pub = off_group + align64(sizeof(uint64_t) * O.topics);
    size_t off_bits = off_pub + align64(sizeof(uint32_t) * (size_t)O.updates);
    size_t total = off_bits + align64(sizeof(uint64_t) * words) + 64;
    char *m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) die("mmap %zu bytes: %s", total, strerror(errno));
    SH = (struct shared *)m;
    SH->child = (struct child_res *)(m + off_child);
    SH->acked_group = (uint64_t *)(m + off_group);
    SH->pub_group = (uint32_t *)(m + off_pub);
    SH->acked_bits = (uint64_t *)(m + off_bits);
    atomic_store(&SH->phase, PH_CONNECT);
}

void set_err(char *dst, size_t cap, const char *fmt, ...)
{
    if (dst[0]) return; /* keep the first one */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}
