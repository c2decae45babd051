/* test_admit: the deli counter on an injected clock and RNG: direct
 * admission then queueing, now_serving advancing at exactly the admit rate,
 * the capacity share with promises ageing out, ETA against the simulated
 * serve time, retry jitter bounds, the pre-queue and its start shuffle
 * (bijection, fairness), queue_max, stale/redeemed/unknown claims. */
#include "admit.h"

#include <errno.h>
#include <stdlib.h>

#include "t.h"

/* xorshift64* filling bytes: deterministic "randomness" per seed */
static void rng_xs(void *arg, void *buf, size_t len)
{
    uint64_t *s = arg;
    uint8_t *p = buf;
    for (size_t i = 0; i < len; i++) {
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        p[i] = (uint8_t)((*s * 0x2545F4914F6CDD1Dull) >> 56);
    }
}

static uint64_t seed = 88172645463325252ull;

static struct admit_conf conf(void)
{
    struct admit_conf c = ADMIT_CONF_DEFAULT;
    c.listeners_max = 1000;
    c.admit_per_s = 10;
    c.admit_burst = 5;
    c.jitter_permille = 0;
    c.poll_min_s = 1;
    c.poll_max_s = 30;
    c.redeem_window = 64;
    return c;
}

static struct admit_decision join(struct admit *a, uint64_t now, enum admit_claim_kind k,
                                  uint64_t number)
{
    struct admit_claim cl = {k, number};
    struct admit_decision d;
    admit_decide(a, now, &cl, &d);
    return d;
}

static void test_conf(void)
{
    struct admit a;
    struct admit_conf c = conf();
    CHECK(admit_conf_valid(&c));
    c.share_permille = 1001;
    CHECK_EQ(admit_init(&a, &c, 0, 0, rng_xs, &seed), -EINVAL);
    c = conf();
    c.poll_min_s = 31;
    CHECK(!admit_conf_valid(&c));
    c = conf();
    c.promise_s = ADMIT_SLOTS + 1;
    CHECK(!admit_conf_valid(&c));
    c = conf();
    c.redeem_window = 100; /* rounds up */
    CHECK_EQ(admit_init(&a, &c, 0, 0, rng_xs, &seed), 0);
    CHECK_EQ(a.c.redeem_window, 128);
    admit_free(&a);
    struct admit_conf d = ADMIT_CONF_DEFAULT;
    CHECK(admit_conf_valid(&d));
}

static void test_direct_then_queue(void)
{
    struct admit a;
    struct admit_conf c = conf();
    CHECK_EQ(admit_init(&a, &c, 0, 0, rng_xs, &seed), 0);
    struct admit_decision d;
    for (unsigned i = 0; i < 5; i++) {
        d = join(&a, 0, ADMIT_CLAIM_NONE, 0);
        CHECK_EQ(d.outcome, ADMIT_ADMIT);
        CHECK_EQ(d.number, i);
    }
    for (unsigned i = 0; i < 3; i++) {
        d = join(&a, 0, ADMIT_CLAIM_NONE, 0);
        CHECK_EQ(d.outcome, ADMIT_QUEUE);
        CHECK(!d.pre);
        CHECK_EQ(d.number, 5 + i);
        CHECK_EQ(d.position, i);
        CHECK_EQ(d.eta_s, 1); /* (i + 1) * 100 ms, rounded up */
        CHECK_EQ(d.retry_after_s, 1);
    }
    CHECK_EQ(admit_waiting(&a), 3);
    d = join(&a, 99, ADMIT_CLAIM_QUEUE, 5); /* 0.99 token: not yet */
    CHECK_EQ(d.outcome, ADMIT_QUEUE);
    CHECK_EQ(d.position, 0);
    d = join(&a, 100, ADMIT_CLAIM_QUEUE, 5);
    CHECK_EQ(d.outcome, ADMIT_ADMIT);
    CHECK_EQ(d.number, 5);
    d = join(&a, 100, ADMIT_CLAIM_QUEUE, 5);
    CHECK_EQ(d.outcome, ADMIT_SHED);
    CHECK_EQ(d.reason, ADMIT_SHED_REDEEMED);
    d = join(&a, 100, ADMIT_CLAIM_QUEUE, 7);
    CHECK_EQ(d.outcome, ADMIT_QUEUE);
    CHECK_EQ(d.position, 1);
    admit_tick(&a, 300, 0);
    CHECK_EQ(a.now_serving, 8);
    CHECK_EQ(join(&a, 300, ADMIT_CLAIM_QUEUE, 7).outcome, ADMIT_ADMIT);
    CHECK_EQ(join(&a, 300, ADMIT_CLAIM_QUEUE, 6).outcome, ADMIT_ADMIT); /* late is fine */
    /* nobody waits now, but the bucket is empty: a newcomer queues at the door */
    d = join(&a, 300, ADMIT_CLAIM_NONE, 0);
    CHECK_EQ(d.outcome, ADMIT_QUEUE);
    CHECK_EQ(d.number, 8);
    CHECK_EQ(d.position, 0);
    CHECK_EQ(a.st.admitted_direct, 5);
    CHECK_EQ(a.st.redeemed, 3);
    admit_free(&a);
}

static void test_serving_rate_exact(void)
{
    struct admit a;
    struct admit_conf c = conf();
    CHECK_EQ(admit_init(&a, &c, 0, 0, rng_xs, &seed), 0);
    for (unsigned i = 0; i < 60; i++)
        join(&a, 0, ADMIT_CLAIM_NONE, 0);
    CHECK_EQ(a.now_serving, 5);
    CHECK_EQ(a.next_number, 60);
    /* 10/s: exactly one more every 100 ms, whatever the tick spacing */
    for (uint64_t t = 1; t <= 3000; t += 7) {
        admit_tick(&a, t, 0);
        CHECK_EQ(a.now_serving, 5 + t / 100);
    }
    CHECK_EQ(a.now_serving, 5 + 29); /* the last tick was at 2997 */
    admit_tick(&a, 100000, 0);       /* a long gap brings one burst, no more */
    CHECK_EQ(a.now_serving, 5 + 29 + 5);
    admit_free(&a);
}

static void test_capacity_share(void)
{
    struct admit a;
    struct admit_conf c = conf();
    c.listeners_max = 100; /* target 75 */
    c.admit_per_s = 1000;
    c.admit_burst = 1000;
    c.promise_s = 5;
    CHECK_EQ(admit_init(&a, &c, 0, 0, rng_xs, &seed), 0);
    admit_tick(&a, 0, 70);
    CHECK_EQ(admit_headroom(&a, 0), 5);
    unsigned admitted = 0;
    for (unsigned i = 0; i < 10; i++)
        admitted += join(&a, 0, ADMIT_CLAIM_NONE, 0).outcome == ADMIT_ADMIT;
    CHECK_EQ(admitted, 5);
    CHECK_EQ(admit_headroom(&a, 0), 0);
    admit_tick(&a, 4999, 70); /* the five served still count */
    CHECK_EQ(a.now_serving, 5);
    /* they connected: 75 listeners, the promise has aged out, still full */
    admit_tick(&a, 5000, 75);
    CHECK_EQ(a.now_serving, 5);
    /* two leave: two more numbers are served */
    admit_tick(&a, 6000, 73);
    CHECK_EQ(a.now_serving, 7);
    CHECK_EQ(admit_headroom(&a, 6000), 0);
    /* the no-shows case: the promise ages out and nobody connected */
    admit_tick(&a, 11000, 73);
    CHECK_EQ(a.now_serving, 9);
    admit_free(&a);
}

static void test_eta(void)
{
    struct admit a;
    struct admit_conf c = conf();
    c.listeners_max = 1000000;
    c.admit_per_s = 50;
    c.admit_burst = 1;
    c.queue_max = 100000;
    CHECK_EQ(admit_init(&a, &c, 0, 0, rng_xs, &seed), 0);
    for (unsigned i = 0; i < 1001; i++)
        join(&a, 0, ADMIT_CLAIM_NONE, 0);
    CHECK_EQ(a.next_number, 1001);
    /* number 500: 500 serves at 50/s */
    CHECK_EQ(admit_eta_s(&a, 0, 500), 10);
    struct admit_decision d = join(&a, 0, ADMIT_CLAIM_QUEUE, 500);
    CHECK_EQ(d.position, 499);
    CHECK_EQ(d.eta_s, 10);
    CHECK_EQ(d.retry_after_s, 10);
    CHECK_EQ(admit_eta_s(&a, 0, 1000), 20);
    uint64_t served_at = 0;
    for (uint64_t t = 10; t <= 30000 && !served_at; t += 10) {
        admit_tick(&a, t, 0);
        if (a.now_serving > 500) served_at = t;
    }
    CHECK_EQ(served_at, 10000);
    /* ETA stays consistent as the queue moves: 1000 is 10 s away at 10 s */
    CHECK_EQ(admit_eta_s(&a, 10000, 1000), 10);
    admit_free(&a);
}

static void test_eta_capacity_bound(void)
{
    struct admit a;
    struct admit_conf c = conf();
    c.listeners_max = 1000;
    c.share_permille = 1000;
    c.admit_per_s = 100;
    c.admit_burst = 10; /* one tick's worth */
    c.promise_s = 10;
    c.queue_max = 100000;
    CHECK_EQ(admit_init(&a, &c, 0, 0, rng_xs, &seed), 0);
    for (unsigned i = 0; i < 3000; i++)
        join(&a, 0, ADMIT_CLAIM_NONE, 0);
    for (uint64_t t = 100; t <= 20900; t += 100)
        admit_tick(&a, t, 0);
    /* promises fill the capacity: 1000 in the last 10 s, no headroom (each
     * second boundary frees the promises of the second that ages out); the
     * measured rate, 100/s, is what the ETA uses now */
    CHECK_EQ(admit_headroom(&a, 20900), 0);
    uint64_t n = a.now_serving + 499;
    uint32_t eta = admit_eta_s(&a, 20900, n);
    CHECK_EQ(eta, 5);
    uint64_t t = 20900;
    while (a.now_serving <= n && t < 60000)
        admit_tick(&a, t += 100, 0);
    CHECK(t - 20900 >= 4500 && t - 20900 <= 5500);
    /* the listeners stay and nothing is served any more: no rate, no ETA */
    for (t = 60000; t <= 75000; t += 100)
        admit_tick(&a, t, 1000);
    CHECK_EQ(admit_eta_s(&a, 75000, a.now_serving + 10), ADMIT_UNKNOWN);
    struct admit_decision d = join(&a, 75000, ADMIT_CLAIM_QUEUE, a.now_serving + 10);
    CHECK_EQ(d.eta_s, ADMIT_UNKNOWN);
    CHECK_EQ(d.retry_after_s, 30); /* poll_max_s */
    admit_free(&a);
}

static void test_retry_jitter(void)
{
    struct admit a;
    struct admit_conf c = conf();
    c.admit_per_s = 1;
    c.admit_burst = 1;
    c.jitter_permille = 200;
    CHECK_EQ(admit_init(&a, &c, 0, 0, rng_xs, &seed), 0);
    join(&a, 0, ADMIT_CLAIM_NONE, 0);
    for (unsigned i = 0; i < 100; i++)
        join(&a, 0, ADMIT_CLAIM_NONE, 0);
    unsigned seen[64] = {0};
    for (unsigned i = 0; i < 500; i++) {
        struct admit_decision d = join(&a, 0, ADMIT_CLAIM_QUEUE, 10); /* eta 10 s */
        CHECK_EQ(d.eta_s, 10);
        CHECK(d.retry_after_s >= 8 && d.retry_after_s <= 12);
        seen[d.retry_after_s]++;
        d = join(&a, 0, ADMIT_CLAIM_QUEUE, 80); /* eta 80 s: polls at 30 +- 20 % */
        CHECK(d.retry_after_s >= 24 && d.retry_after_s <= 36);
    }
    for (unsigned s = 8; s <= 12; s++)
        CHECK(seen[s] > 30); /* spread, not a wave */
    admit_free(&a);
}

static void test_prequeue_and_start(void)
{
    struct admit a;
    struct admit_conf c = conf();
    c.prequeue_max = 100;
    c.prestart_spread_s = 5;
    CHECK_EQ(admit_init(&a, &c, 10000, 0, rng_xs, &seed), 0);
    struct admit_decision d;
    for (unsigned i = 0; i < 100; i++) {
        d = join(&a, i, ADMIT_CLAIM_NONE, 0);
        CHECK_EQ(d.outcome, ADMIT_QUEUE);
        CHECK(d.pre);
        CHECK_EQ(d.number, i);
        CHECK(d.position == ADMIT_POSITION_UNKNOWN);
        CHECK_EQ(d.eta_s, 10);
        CHECK(d.retry_after_s >= 10 && d.retry_after_s <= 15);
    }
    d = join(&a, 200, ADMIT_CLAIM_NONE, 0);
    CHECK_EQ(d.outcome, ADMIT_SHED);
    CHECK_EQ(d.reason, ADMIT_SHED_PREQUEUE_FULL);
    CHECK(d.retry_after_s >= 10);
    CHECK_EQ(join(&a, 300, ADMIT_CLAIM_QUEUE, 3).reason, ADMIT_SHED_BAD_CLAIM);
    CHECK_EQ(join(&a, 300, ADMIT_CLAIM_PRE, 100).reason, ADMIT_SHED_BAD_CLAIM);
    d = join(&a, 300, ADMIT_CLAIM_PRE, 42); /* polling early keeps the slot */
    CHECK_EQ(d.outcome, ADMIT_QUEUE);
    CHECK(d.pre && d.number == 42);
    CHECK(admit_prequeue_number(&a, 0) == ADMIT_POSITION_UNKNOWN); /* no order yet */

    admit_tick(&a, 10000, 0);
    CHECK(a.started);
    CHECK_EQ(a.next_number, 100);
    CHECK_EQ(a.now_serving, 5); /* the burst */
    /* every slot got a distinct number in [0, 100) */
    uint8_t hit[100] = {0};
    uint64_t slot_of[100];
    for (uint64_t s = 0; s < 100; s++) {
        uint64_t n = admit_prequeue_number(&a, s);
        CHECK(n < 100);
        if (n < 100) {
            hit[n]++;
            slot_of[n] = s;
        }
    }
    for (unsigned n = 0; n < 100; n++)
        CHECK_EQ(hit[n], 1);
    /* the slot that drew number 0 is in; the one that drew 50 waits 45 */
    d = join(&a, 10000, ADMIT_CLAIM_PRE, slot_of[0]);
    CHECK_EQ(d.outcome, ADMIT_ADMIT);
    CHECK_EQ(d.number, 0);
    d = join(&a, 10000, ADMIT_CLAIM_PRE, slot_of[50]);
    CHECK_EQ(d.outcome, ADMIT_QUEUE);
    CHECK(!d.pre); /* from now on a plain queue ticket */
    CHECK_EQ(d.number, 50);
    CHECK_EQ(d.position, 45);
    /* latecomers after the start queue behind the whole pre-queue */
    d = join(&a, 10000, ADMIT_CLAIM_NONE, 0);
    CHECK_EQ(d.number, 100);
    CHECK_EQ(d.position, 95);
    admit_free(&a);
}

/* Over many starts, arriving first gives no advantage. */
static void test_shuffle_fairness(void)
{
    struct admit_conf c = conf();
    c.prequeue_max = 100;
    unsigned first_in_top10 = 0, last_in_top10 = 0;
    uint64_t first_sum = 0;
    for (uint64_t s = 1; s <= 400; s++) {
        struct admit a;
        uint64_t st = s * 0x9E3779B97F4A7C15ull;
        CHECK_EQ(admit_init(&a, &c, 1000, 0, rng_xs, &st), 0);
        for (unsigned i = 0; i < 100; i++)
            join(&a, i, ADMIT_CLAIM_NONE, 0);
        admit_tick(&a, 1000, 0);
        uint64_t n0 = admit_prequeue_number(&a, 0), n99 = admit_prequeue_number(&a, 99);
        first_in_top10 += n0 < 10;
        last_in_top10 += n99 < 10;
        first_sum += n0;
        admit_free(&a);
    }
    /* expected 40 each (10 %), mean 49.5 */
    CHECK(first_in_top10 >= 20 && first_in_top10 <= 65);
    CHECK(last_in_top10 >= 20 && last_in_top10 <= 65);
    CHECK(first_sum / 400 >= 42 && first_sum / 400 <= 57);
}

static void test_permutation_sizes(void)
{
    static const uint64_t sizes[] = {1, 2, 3, 5, 16, 17, 100, 1000, 4097};
    struct admit_conf c = conf();
    c.prequeue_max = 5000;
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        struct admit a;
        uint64_t n = sizes[k];
        CHECK_EQ(admit_init(&a, &c, 1000, 0, rng_xs, &seed), 0);
        for (uint64_t i = 0; i < n; i++)
            join(&a, 0, ADMIT_CLAIM_NONE, 0);
        admit_tick(&a, 1000, 0);
        uint8_t *hit = calloc(n, 1);
        unsigned fixed = 0;
        for (uint64_t s = 0; s < n; s++) {
            uint64_t v = admit_prequeue_number(&a, s);
            CHECK(v < n);
            if (v < n) hit[v]++;
            fixed += v == s;
        }
        for (uint64_t v = 0; v < n; v++)
            CHECK_EQ(hit[v], 1);
        if (n >= 100) CHECK(fixed < n / 10); /* not the identity */
        CHECK(admit_prequeue_number(&a, n) == ADMIT_POSITION_UNKNOWN);
        free(hit);
        admit_free(&a);
    }
}

static void test_queue_full(void)
{
    struct admit a;
    struct admit_conf c = conf();
    c.admit_per_s = 1;
    c.admit_burst = 1;
    c.queue_max = 3;
    CHECK_EQ(admit_init(&a, &c, 0, 0, rng_xs, &seed), 0);
    CHECK_EQ(join(&a, 0, ADMIT_CLAIM_NONE, 0).outcome, ADMIT_ADMIT);
    for (unsigned i = 0; i < 3; i++)
        CHECK_EQ(join(&a, 0, ADMIT_CLAIM_NONE, 0).outcome, ADMIT_QUEUE);
    struct admit_decision d = join(&a, 0, ADMIT_CLAIM_NONE, 0);
    CHECK_EQ(d.outcome, ADMIT_SHED);
    CHECK_EQ(d.reason, ADMIT_SHED_QUEUE_FULL);
    CHECK_EQ(d.retry_after_s, 30);
    CHECK_EQ(a.st.shed[ADMIT_SHED_QUEUE_FULL], 1);
    CHECK_EQ(a.next_number, 4); /* the shed join took no number */
    /* once one is served there is room again */
    admit_tick(&a, 1000, 0);
    CHECK_EQ(join(&a, 1000, ADMIT_CLAIM_NONE, 0).outcome, ADMIT_QUEUE);
    admit_free(&a);
}

static void test_stale_redeemed_unknown(void)
{
    struct admit a;
    struct admit_conf c = conf();
    c.admit_per_s = 1000;
    c.admit_burst = 1;
    c.redeem_window = 64;
    CHECK_EQ(admit_init(&a, &c, 0, 0, rng_xs, &seed), 0);
    CHECK_EQ(join(&a, 0, ADMIT_CLAIM_NONE, 0).outcome, ADMIT_ADMIT);
    for (unsigned i = 0; i < 200; i++)
        join(&a, 0, ADMIT_CLAIM_NONE, 0);
    for (uint64_t t = 1; t <= 200; t++)
        admit_tick(&a, t, 0);
    CHECK_EQ(a.now_serving, 201);
    struct admit_decision d = join(&a, 200, ADMIT_CLAIM_QUEUE, 1);
    CHECK_EQ(d.reason, ADMIT_SHED_STALE);
    CHECK_EQ(join(&a, 200, ADMIT_CLAIM_QUEUE, 136).reason, ADMIT_SHED_STALE); /* 65 back */
    CHECK_EQ(join(&a, 200, ADMIT_CLAIM_QUEUE, 137).outcome, ADMIT_ADMIT);     /* 64 back */
    CHECK_EQ(join(&a, 200, ADMIT_CLAIM_QUEUE, 150).outcome, ADMIT_ADMIT);
    CHECK_EQ(join(&a, 200, ADMIT_CLAIM_QUEUE, 150).reason, ADMIT_SHED_REDEEMED);
    CHECK_EQ(join(&a, 200, ADMIT_CLAIM_QUEUE, 201).reason, ADMIT_SHED_BAD_CLAIM);
    CHECK_EQ(join(&a, 200, ADMIT_CLAIM_PRE, 0).reason, ADMIT_SHED_BAD_CLAIM); /* no pre-queue */
    /* the bitmap bit of 150 is reused cleanly by 150 + 128 once served */
    for (unsigned i = 0; i < 100; i++)
        join(&a, 200, ADMIT_CLAIM_NONE, 0);
    for (uint64_t t = 201; t <= 300; t++)
        admit_tick(&a, t, 0);
    CHECK_EQ(a.now_serving, 301);
    CHECK_EQ(join(&a, 300, ADMIT_CLAIM_QUEUE, 278).outcome, ADMIT_ADMIT);
    CHECK_EQ(join(&a, 300, ADMIT_CLAIM_QUEUE, 278).reason, ADMIT_SHED_REDEEMED);
    CHECK_STR(admit_shed_name(ADMIT_SHED_STALE), "queue_ticket_stale");
    admit_free(&a);
}

int main(void)
{
    T_RUN(test_conf);
    T_RUN(test_direct_then_queue);
    T_RUN(test_serving_rate_exact);
    T_RUN(test_capacity_share);
    T_RUN(test_eta);
    T_RUN(test_eta_capacity_bound);
    T_RUN(test_retry_jitter);
    T_RUN(test_prequeue_and_start);
    T_RUN(test_shuffle_fairness);
    T_RUN(test_permutation_sizes);
    T_RUN(test_queue_full);
    T_RUN(test_stale_redeemed_unknown);
    T_DONE();
}
