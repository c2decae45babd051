/* Unit tests for the event loop: timers, deferred releases, io life cycle. */
#include <unistd.h>

#include "loop.h"
#include "t.h"

static int fired[8];
static struct timer *other;

static long order[8], order_len;
static uint64_t fired_at_us[8];

static void count_cb(struct loop *loop, struct timer *t)
{
    fired[(long)t->data]++;
    fired_at_us[(long)t->data] = clock_mono_us();
    if (order_len < 8) order[order_len++] = (long)t->data;
}

static void rearm0_cb(struct loop *loop, struct timer *t)
{
    fired[(long)t->data]++;
    if (fired[(long)t->data] < 5) timer_start(loop, t, 0);
}

static void stop_other_cb(struct loop *loop, struct timer *t)
{
    fired[(long)t->data]++;
    timer_stop(loop, other);
}

/* A loop and two counting timers, <a> counting in fired[0], <b> in fired[1]. */
static struct loop *two_timers(struct timer *a, struct timer *b)
{
    timer_init(a, count_cb, (void *)0L);
    timer_init(b, count_cb, (void *)1L);
    memset(fired, 0, sizeof(fired));
    return loop_new(0);
}

static void test_order_and_not_early(void)
{
    struct timer a, b;
    struct loop *l = two_timers(&a, &b);
    uint64_t t0 = clock_mono_us();
    timer_start(l, &a, 30);
    timer_start(l, &b, 10);
    order_len = 0;
    /* A loaded machine may run both in one iteration: what must hold is
     * the order and that neither fires before its time. */
    while (!fired[0]) loop_once(l, -1);
    CHECK_EQ(order_len, 2);
    CHECK_EQ(order[0], 1);
    CHECK_EQ(order[1], 0);
    CHECK(fired_at_us[1] - t0 >= 10000); /* never before its time */
    CHECK(fired_at_us[0] - t0 >= 30000);
    CHECK(!timer_armed(&a) && !timer_armed(&b));
    loop_free(l);
}

/* A timer with slack does not wake the loop before its slack runs out: it
 * fires with the next wake-up, here another timer's. */
static void test_slack_rides_on_another_wakeup(void)
{
    struct timer a, b;
    struct loop *l = two_timers(&a, &b);
    uint64_t t0 = clock_mono_us();
    timer_start(l, &a, 60);
    timer_start_slack(l, &b, 20, 200);
    loop_once(l, -1); /* one wait: a's */
    CHECK_EQ(fired[0], 1);
    CHECK_EQ(fired[1], 1);
    CHECK(fired_at_us[1] - t0 >= 60000);
    /* Alone, it fires when its slack runs out, never before its time. */
    t0 = clock_mono_us();
    timer_start_slack(l, &b, 20, 30);
    loop_once(l, -1);
    CHECK_EQ(fired[1], 2);
    CHECK(fired_at_us[1] - t0 >= 20000);
    loop_free(l);
}

static int rearm_iter[2][16], rearm_n[2], iter_no;

static void periodic_cb(struct loop *loop, struct timer *t)
{
    long i = (long)t->data;
    if (rearm_n[i] < 16) rearm_iter[i][rearm_n[i]++] = iter_no;
    if (i == 0)
        timer_start(loop, t, 30);
    else
        timer_start_slack(loop, t, 30, 15);
}

/* Two chores of the same period, started apart: the one with slack drifts
 * onto the other's wake-up and stays there. */
static void test_slack_periodic_timers_share_a_wakeup(void)
{
    struct loop *l = loop_new(0);
    struct timer a, b;
    timer_init(&a, periodic_cb, (void *)0L);
    timer_init(&b, periodic_cb, (void *)1L);
    memset(rearm_n, 0, sizeof(rearm_n));
    timer_start(l, &a, 30);
    usleep(12000);
    loop_update_time(l);
    timer_start_slack(l, &b, 30, 15);
    for (iter_no = 0; iter_no < 40 && rearm_n[0] < 12; iter_no++)
        loop_once(l, -1);
    CHECK(rearm_n[0] >= 12);
    /* The last three of b's firings fell in a's iterations. */
    int together = 0;
    for (int k = rearm_n[1] - 3; k < rearm_n[1]; k++)
        for (int j = 0; j < rearm_n[0]; j++)
            together += k >= 0 && rearm_iter[1][k] == rearm_iter[0][j];
    CHECK_EQ(together, 3);
    timer_stop(l, &a);
    timer_stop(l, &b);
    loop_free(l);
}

static void test_rearm_zero_waits_next_iteration(void)
{
    struct loop *l = loop_new(0);
    struct timer a, idle[4];
    timer_init(&a, rearm0_cb, (void *)2L);
    memset(fired, 0, sizeof(fired));
    /* Timers elsewhere in the heap must not lend the re-armed one a second
     * run in the same iteration. */
    for (int i = 0; i < 4; i++) {
        timer_init(&idle[i], count_cb, (void *)5L);
        timer_start(l, &idle[i], 100000);
    }
    timer_start(l, &a, 0);
    loop_once(l, 0);
    CHECK_EQ(fired[2], 1); /* once per iteration, not five times */
    loop_once(l, 0);
    CHECK_EQ(fired[2], 2);
    timer_stop(l, &a);
    loop_free(l);
}

static void test_stop_within_batch_cancels(void)
{
    struct loop *l = loop_new(0);
    struct timer a, b;
    timer_init(&a, stop_other_cb, (void *)3L);
    timer_init(&b, count_cb, (void *)4L);
    other = &b;
    memset(fired, 0, sizeof(fired));
    timer_start(l, &a, 0);
    timer_start(l, &b, 0);
    /* Both are due in the same iteration; whichever order the heap gives,
     * b must not fire after a stopped it. */
    loop_once(l, 0);
    CHECK_EQ(fired[3], 1);
    CHECK(fired[4] == 0 || fired[4] == 1);
    int before = fired[4];
    loop_once(l, 0);
    CHECK_EQ(fired[4], before);
    loop_free(l);
}

static int deferred;
static void defer_fn_(void *p)
{
    deferred += (int)(long)p;
}

static void noop_io(struct loop *loop, struct io *io, uint32_t ev)
{
}

static void test_defer_and_closed_fd(void)
{
    struct loop *l = loop_new(0);
    int p[2];
    CHECK_EQ(pipe(p), 0);
    struct io io;
    io_init(&io, p[0], noop_io, NULL);
    CHECK_EQ(io_set(l, &io, LOOP_READ), 0);
    close(p[0]); /* closed before unregistering */
    CHECK_EQ(io_set(l, &io, 0), 0);
    CHECK_EQ(io.events, 0);
    deferred = 0;
    loop_defer(l, defer_fn_, (void *)7L);
    CHECK_EQ(deferred, 0);
    /* Run alone (tearing down), the releases run and a due timer does not. */
    struct timer due;
    timer_init(&due, count_cb, (void *)6L);
    memset(fired, 0, sizeof(fired));
    timer_start(l, &due, 0);
    loop_run_deferred(l);
    CHECK_EQ(deferred, 7);
    CHECK_EQ(fired[6], 0);
    timer_stop(l, &due);
    deferred = 0;
    loop_defer(l, defer_fn_, (void *)7L);
    /* Nothing left to wait for: loop_run returns after running the defer. */
    CHECK_EQ(loop_run(l), 0);
    CHECK_EQ(deferred, 7);
    close(p[1]);
    loop_free(l);
}

int main(void)
{
    T_RUN(test_order_and_not_early);
    T_RUN(test_slack_rides_on_another_wakeup);
    T_RUN(test_slack_periodic_timers_share_a_wakeup);
    T_RUN(test_rearm_zero_waits_next_iteration);
    T_RUN(test_stop_within_batch_cancels);
    T_RUN(test_defer_and_closed_fd);
    T_DONE();
}
