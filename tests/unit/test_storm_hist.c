/* test_storm_hist: bucket arithmetic, percentiles, exact merge. */
#include <stdlib.h>

#include "hist.h"
#include "t.h"

static void test_buckets_cover_values(void)
{
    /* every value lands in a bucket whose range holds it, within 1/32 */
    for (uint64_t v = 0; v < 200000; v += (v < 100 ? 1 : 37)) {
        uint32_t b = hist_bucket(v);
        CHECK(hist_bucket_low(b) <= v && v <= hist_bucket_high(b));
        CHECK(hist_bucket_high(b) - hist_bucket_low(b) <= v / 32 + 1);
    }
    uint64_t big = 1ull << 39;
    CHECK(hist_bucket_low(hist_bucket(big)) <= big && big <= hist_bucket_high(hist_bucket(big)));
    CHECK(hist_bucket(UINT64_MAX) == HIST_BUCKETS - 1);
}

static void test_percentiles(void)
{
    static struct hist h;
    hist_init(&h);
    CHECK_EQ(hist_quantile(&h, 990000), 0);
    for (uint64_t i = 1; i <= 1000; i++) hist_record(&h, i * 1000); /* 1..1000 ms */
    uint64_t p50 = hist_quantile(&h, 500000), p99 = hist_quantile(&h, 990000);
    CHECK(p50 >= 500000 && p50 <= 500000 + 500000 / 32 + 1);
    CHECK(p99 >= 990000 && p99 <= 990000 + 990000 / 32 + 1);
    CHECK_EQ(hist_quantile(&h, 1000000), 1000000); /* clamped to the exact max */
    CHECK_EQ(h.min, 1000);
    CHECK_EQ(h.count, 1000);
}

static void test_merge_is_exact(void)
{
    static struct hist a, b, all;
    hist_init(&a);
    hist_init(&b);
    hist_init(&all);
    uint64_t x = 12345;
    for (int i = 0; i < 100000; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t v = (x >> 33) % 5000000;
        hist_record(i % 3 ? &a : &b, v);
        hist_record(&all, v);
    }
    hist_merge(&a, &b);
    CHECK(memcmp(a.counts, all.counts, sizeof(a.counts)) == 0);
    CHECK_EQ(a.count, all.count);
    CHECK_EQ(a.sum, all.sum);
    CHECK_EQ(a.min, all.min);
    CHECK_EQ(a.max, all.max);
    for (uint32_t q = 100000; q <= 1000000; q += 100000)
        CHECK_EQ(hist_quantile(&a, q), hist_quantile(&all, q));
    CHECK(hist_add_bucket(&a, HIST_BUCKETS, 1) < 0);
}

int main(void)
{
    T_RUN(test_buckets_cover_values);
    T_RUN(test_percentiles);
    T_RUN(test_merge_is_exact);
    T_DONE();
}
