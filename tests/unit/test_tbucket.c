/* test_tbucket: exact accept/reject sequences on an injected clock, exact
 * refill over many small steps, fractional rates, waits, clock going back. */
#include "tbucket.h"

#include "t.h"

/* Runs <pattern> of takes, one per <step_ms>, and writes 'A'/'r' per take. */
static const char *run(const struct tbucket_conf *c, uint64_t step_ms, unsigned n)
{
    static char out[256];
    struct tbucket b;
    uint64_t now = 1000;
    tbucket_init(&b, c, now);
    for (unsigned i = 0; i < n && i < sizeof(out) - 1; i++, now += step_ms)
        out[i] = tbucket_take(&b, c, now, 1) ? 'A' : 'r';
    out[n < sizeof(out) - 1 ? n : sizeof(out) - 1] = '\0';
    return out;
}

static void test_sequences(void)
{
    /* 2 tokens/s, burst 3, one request every 100 ms: 3 at once, then one per
     * 500 ms (the 6th and 11th ask 500 ms and 1000 ms after the burst). */
    struct tbucket_conf c = {.rate_mtok_per_s = 2000, .burst = 3};
    CHECK_STR(run(&c, 100, 16), "AAArrArrrrArrrrA");
    /* 10/s, burst 1, every 50 ms: every other request */
    c = (struct tbucket_conf){.rate_mtok_per_s = 10000, .burst = 1};
    CHECK_STR(run(&c, 50, 10), "ArArArArAr");
    /* 0.5 tokens/s (500 milli), burst 1, every second: every other */
    c = (struct tbucket_conf){.rate_mtok_per_s = 500, .burst = 1};
    CHECK_STR(run(&c, 1000, 6), "ArArAr");
    /* 3 tokens/s every 250 ms: refill 0.75/step; the burst of 2 lasts until
     * the level reaches 0 at 1000 ms (2 - 4 * 0.25), then 3 of every 4 */
    c = (struct tbucket_conf){.rate_mtok_per_s = 3000, .burst = 2};
    CHECK_STR(run(&c, 250, 14), "AAAAArAAArAAAr");
    /* burst 0 refuses everything, rate 0 never refills */
    c = (struct tbucket_conf){.rate_mtok_per_s = 5000, .burst = 0};
    CHECK_STR(run(&c, 1000, 3), "rrr");
    c = (struct tbucket_conf){.rate_mtok_per_s = 0, .burst = 2};
    CHECK_STR(run(&c, 1000, 4), "AArr");
}

static void test_exact_refill(void)
{
    /* 1/3 token per second (333 milli): 1 ms steps must add up exactly as
     * one big step would. After 3003 ms: 3003 * 333 = 999,999 utok: one
     * token short by one micro-token; one more ms makes it. */
    struct tbucket_conf c = {.rate_mtok_per_s = 333, .burst = 1};
    struct tbucket a, b;
    tbucket_init(&a, &c, 0);
    tbucket_init(&b, &c, 0);
    CHECK(tbucket_take(&a, &c, 0, 1));
    CHECK(tbucket_take(&b, &c, 0, 1));
    for (uint64_t t = 1; t <= 3003; t++)
        CHECK(!tbucket_take(&a, &c, t, 1));
    CHECK(!tbucket_take(&b, &c, 3003, 1));
    CHECK_EQ(a.level_utok, 999999);
    CHECK_EQ(b.level_utok, a.level_utok);
    CHECK(tbucket_take(&a, &c, 3004, 1));
    CHECK(tbucket_take(&b, &c, 3004, 1));
}

static void test_multi_token_and_refusal_is_free(void)
{
    struct tbucket_conf c = {.rate_mtok_per_s = 1000, .burst = 10};
    struct tbucket b;
    tbucket_init(&b, &c, 0);
    CHECK(tbucket_take(&b, &c, 0, 7));
    CHECK_EQ(tbucket_tokens(&b, &c, 0), 3);
    CHECK(!tbucket_take(&b, &c, 0, 4)); /* refused: nothing taken */
    CHECK_EQ(tbucket_tokens(&b, &c, 0), 3);
    CHECK(tbucket_take(&b, &c, 1000, 4));
    CHECK_EQ(tbucket_tokens(&b, &c, 1000), 0);
    CHECK(tbucket_take(&b, &c, 1000, 0));          /* zero is free */
    CHECK(!tbucket_take(&b, &c, 1000000, 11));     /* never more than burst */
    CHECK_EQ(tbucket_tokens(&b, &c, 1000000), 10); /* capped */
}

static void test_wait(void)
{
    struct tbucket_conf c = {.rate_mtok_per_s = 2000, .burst = 3};
    struct tbucket b;
    tbucket_init(&b, &c, 0);
    CHECK_EQ(tbucket_wait_ms(&b, &c, 0, 3), 0);
    CHECK(tbucket_take(&b, &c, 0, 3));
    CHECK_EQ(tbucket_wait_ms(&b, &c, 0, 1), 500);
    CHECK_EQ(tbucket_wait_ms(&b, &c, 100, 1), 400);
    CHECK_EQ(tbucket_wait_ms(&b, &c, 100, 3), 1400);
    CHECK_EQ(tbucket_wait_ms(&b, &c, 100, 4), UINT64_MAX);
    /* the wait is exact: one ms earlier is refused, at the wait it is granted */
    CHECK(!tbucket_take(&b, &c, 499, 1));
    CHECK(tbucket_take(&b, &c, 500, 1));
    /* rounding up: 3 tokens/s, 1 token = 333.33 ms -> 334 */
    c = (struct tbucket_conf){.rate_mtok_per_s = 3000, .burst = 1};
    tbucket_init(&b, &c, 0);
    CHECK(tbucket_take(&b, &c, 0, 1));
    CHECK_EQ(tbucket_wait_ms(&b, &c, 0, 1), 334);
    CHECK(!tbucket_take(&b, &c, 333, 1));
    CHECK(tbucket_take(&b, &c, 334, 1));
    c.rate_mtok_per_s = 0;
    CHECK_EQ(tbucket_wait_ms(&b, &c, 334, 1), UINT64_MAX);
}

static void test_clock_back_and_huge_gap(void)
{
    struct tbucket_conf c = {.rate_mtok_per_s = 1000, .burst = 2};
    struct tbucket b;
    tbucket_init(&b, &c, 5000);
    CHECK(tbucket_take(&b, &c, 5000, 2));
    CHECK(!tbucket_take(&b, &c, 1000, 1)); /* backwards: no refill */
    CHECK_EQ(b.last_ms, 5000);
    CHECK(!tbucket_take(&b, &c, 5999, 1)); /* and no credit from the jump */
    CHECK(tbucket_take(&b, &c, 6000, 1));
    /* an enormous gap at the largest rate fills without overflow */
    c = (struct tbucket_conf){.rate_mtok_per_s = TBUCKET_RATE_MTOK_PER_S_MAX,
                              .burst = TBUCKET_BURST_MAX};
    CHECK(tbucket_conf_valid(&c));
    tbucket_init(&b, &c, 0);
    CHECK(tbucket_take(&b, &c, 0, TBUCKET_BURST_MAX));
    CHECK_EQ(tbucket_tokens(&b, &c, UINT64_MAX), TBUCKET_BURST_MAX);
    c.burst = TBUCKET_BURST_MAX + 1;
    CHECK(!tbucket_conf_valid(&c));
}

int main(void)
{
    T_RUN(test_sequences);
    T_RUN(test_exact_refill);
    T_RUN(test_multi_token_and_refusal_is_free);
    T_RUN(test_wait);
    T_RUN(test_clock_back_and_huge_gap);
    T_DONE();
}
