/* Latency histogram: values in ns, about 0.8 % relative precision, up to ~73 minutes. */

#include "loadgen.h"

static unsigned hist_index(uint64_t v)
{
    if (v < 128) return (unsigned)v;
    if (v >= (1ULL << 42)) v = (1ULL << 42) - 1;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* 7 .. 41 */
    unsigned shift = e - 6;
    unsigned top = (unsigned)(v >> shift); /* 64 .. 127 */
    return (shift + 1) * 64 + (top - 64);
}

static uint64_t hist_value(unsigned idx)
{
    if (idx < 128) return idx;
    unsigned shift = idx / 64 - 1;
    uint64_t low = (uint64_t)(idx % 64 + 64) << shift;
    return low + ((1ULL << shift) >> 1);
}

void hist_add(struct hist *h, uint64_t v)
{
    if (h->n == 0 || v < h->min) h->min = v;
    if (v > h->max) h->max = v;
    h->n++;
    h->sum += v;
    h->b[hist_index(v)]++;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    if (src->n == 0) return;
    if (dst->n == 0 || src->min < dst->min) dst->min = src->min;
    if (src->max > dst->max) dst->max = src->max;
    dst->n += src->n;
    dst->sum += src->sum;
    for (unsigned i = 0; i < HIST_N; i++)
        dst->b[i] += src->b[i];
}

/* Value at quantile q (0..1) in milliseconds; 0 when empty. */
double hist_ms(const struct hist *h, double q)
{
    if (h->n == 0) return 0.0;
    uint64_t rank = (uint64_t)ceil(q * (double)h->n);
    if (rank < 1) rank = 1;
    uint64_t acc = 0;
    for (unsigned i = 0; i < HIST_N; i++) {
        acc += h->b[i];
        if (acc >= rank) {
            uint64_t v = hist_value(i);
            if (v > h->max) v = h->max;
            if (v < h->min) v = h->min;
            return (double)v / 1e6;
        }
    }
    return (double)h->max / 1e6;
}

double hist_mean_ms(const struct hist *h)
{
    return h->n ? (double)h->sum / (double)h->n / 1e6 : 0.0;
}
