/* test_storm_run: the machine-saturation arithmetic a worker (or the
 * splitter) applies to /proc/stat each second. */
#include "run.h"
#include "t.h"

static void test_busy_share(void)
{
    struct run_cpustat a = {.total = 1000, .idle = 600}, b = {.total = 1200, .idle = 610};
    /* 200 ticks, 10 of them idle: 95 % busy, not above the line */
    CHECK_EQ(run_cpustat_busy_ppm(&a, &b), 950000);
    CHECK(!(run_cpustat_busy_ppm(&a, &b) > RUN_MACHINE_SATURATED_PPM));
    b.idle = 605; /* 97.5 % busy */
    CHECK_EQ(run_cpustat_busy_ppm(&a, &b), 975000);
    CHECK(run_cpustat_busy_ppm(&a, &b) > RUN_MACHINE_SATURATED_PPM);
    b.idle = 800; /* all idle */
    CHECK_EQ(run_cpustat_busy_ppm(&a, &b), 0);
}

static void test_unknown_is_not_busy(void)
{
    struct run_cpustat a = {.total = 1000, .idle = 600};
    CHECK_EQ(run_cpustat_busy_ppm(&a, &a), 0);           /* no tick between */
    struct run_cpustat older = {.total = 900, .idle = 700}; /* counters going back */
    CHECK_EQ(run_cpustat_busy_ppm(&a, &older), 0);
    struct run_cpustat b = {.total = 1100, .idle = 500}; /* idle going back */
    CHECK_EQ(run_cpustat_busy_ppm(&a, &b), 0);
}

static void test_reads_this_machine(void)
{
    struct run_cpustat s = {0};
    CHECK_EQ(run_cpustat_read(&s), 0);
    CHECK(s.total > 0 && s.idle <= s.total);
}

int main(void)
{
    T_RUN(test_busy_share);
    T_RUN(test_unknown_is_not_busy);
    T_RUN(test_reads_this_machine);
    T_DONE();
}
