/* hist: a mergeable log-linear histogram of non-negative integers
 * (microseconds here), HDR-like: values below 2^HIST_SUB_BITS are exact;
 * above, each power of two is split into 2^HIST_SUB_BITS linear buckets, so
 * a recorded value is known to within 1/32 (about 3 %). Two histograms merge
 * exactly by adding bucket counts: runs on several machines combine into the
 * same histogram one run over all of them would have produced.
 */
#ifndef PODIUM_HIST_H
#define PODIUM_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_EXP_MAX 40 /* values up to 2^40 (about 12 days in µs) */
#define HIST_BUCKETS ((HIST_EXP_MAX - HIST_SUB_BITS + 1) * HIST_SUB + HIST_SUB)

struct hist {
    uint64_t count, sum;
    uint64_t min, max; /* exact; min is UINT64_MAX when empty */
    uint32_t counts[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t v);
/* hist_add_bucket: adds <n> samples to bucket <idx> (merging from a saved
 * form). Returns 0, or -EINVAL when idx is out of range. */
int hist_add_bucket(struct hist *h, uint32_t idx, uint64_t n);
/* hist_merge: dst += src, exactly. */
void hist_merge(struct hist *dst, const struct hist *src);
/* hist_bucket / hist_bucket_low / hist_bucket_high: index of a value and
 * the value range [low, high] a bucket covers. */
uint32_t hist_bucket(uint64_t v);
uint64_t hist_bucket_low(uint32_t idx);
uint64_t hist_bucket_high(uint32_t idx);
/* hist_quantile: the value at quantile <q_ppm> (parts per million, e.g.
 * 990000 for p99): the upper edge of the bucket holding that rank, clamped
 * to the exact max. 0 when empty. */
uint64_t hist_quantile(const struct hist *h, uint32_t q_ppm);

#endif
