/* hist: log-linear histogram (see hist.h). */
#include "hist.h"

#include <errno.h>
#include <string.h>

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

uint32_t hist_bucket(uint64_t v)
{
    if (v < HIST_SUB) return (uint32_t)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* e >= HIST_SUB_BITS */
    if (e > HIST_EXP_MAX) return HIST_BUCKETS - 1;
    uint32_t sub = (uint32_t)(v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1);
    return (e - HIST_SUB_BITS + 1) * HIST_SUB + sub;
}

uint64_t hist_bucket_low(uint32_t idx)
{
    if (idx < HIST_SUB) return idx;
    uint32_t e = idx / HIST_SUB - 1 + HIST_SUB_BITS, sub = idx % HIST_SUB;
    return ((uint64_t)HIST_SUB + sub) << (e - HIST_SUB_BITS);
}

uint64_t hist_bucket_high(uint32_t idx)
{
    if (idx < HIST_SUB) return idx;
    uint32_t e = idx / HIST_SUB - 1 + HIST_SUB_BITS;
    return hist_bucket_low(idx) + ((uint64_t)1 << (e - HIST_SUB_BITS)) - 1;
}

void hist_record(struct hist *h, uint64_t v)
{
    h->counts[hist_bucket(v)]++;
    h->count++;
    h->sum += v;
    if (v < h->min) h->min = v;
    if (v > h->max) h->max = v;
}

int hist_add_bucket(struct hist *h, uint32_t idx, uint64_t n)
{
    if (idx >= HIST_BUCKETS) return -EINVAL;
    h->counts[idx] += (uint32_t)n;
    h->count += n;
    return 0;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    for (uint32_t i = 0; i < HIST_BUCKETS; i++) dst->counts[i] += src->counts[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min) dst->min = src->min;
    if (src->max > dst->max) dst->max = src->max;
}

uint64_t hist_quantile(const struct hist *h, uint32_t q_ppm)
{
    if (!h->count) return 0;
    /* rank = ceil(q * count), at least 1 */
    uint64_t rank = (h->count * (uint64_t)q_ppm + 999999u) / 1000000u;
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = hist_bucket_high(i);
            if (v > h->max) v = h->max;
            if (v < h->min) v = h->min;
            return v;
        }
    }
    return h->max;
}
