/* test_storm_sopt: arrival schedules, durations, the loopback guard, source
 * ranges, attack specs, SLO parsing and evaluation. */
#include <arpa/inet.h>

#include "sopt.h"
#include "t.h"

static void test_arrival(void)
{
    struct arrival a;
    CHECK_EQ(sopt_arrival_parse("burst", &a), 0);
    CHECK_EQ(sopt_arrival_at_us(&a, 49999, 50000), 0);
    CHECK_EQ(sopt_arrival_parse("ramp:10s", &a), 0);
    CHECK_EQ(sopt_arrival_at_us(&a, 0, 1000), 0);
    CHECK_EQ(sopt_arrival_at_us(&a, 500, 1000), 5000000);
    CHECK_EQ(sopt_arrival_at_us(&a, 999, 1000), 9990000);
    CHECK_EQ(sopt_arrival_parse("rate:5000/s", &a), 0);
    CHECK_EQ(sopt_arrival_at_us(&a, 5000, 50000), 1000000);
    CHECK_EQ(sopt_arrival_at_us(&a, 1, 50000), 200);
    /* open model: the schedule depends on the index only, never on progress */
    CHECK_EQ(sopt_arrival_at_us(&a, 49999, 50000), 9999800);
    CHECK(sopt_arrival_parse("rate:0/s", &a) < 0);
    CHECK(sopt_arrival_parse("rate:10", &a) < 0);
    CHECK(sopt_arrival_parse("ramp:", &a) < 0);
    CHECK(sopt_arrival_parse("ramp:-1s", &a) < 0);
    CHECK(sopt_arrival_parse("storm", &a) < 0);
}

static void test_durations(void)
{
    uint64_t us;
    CHECK(sopt_duration_parse("60s", 1000000, &us) == 0 && us == 60000000);
    CHECK(sopt_duration_parse("250ms", 1000000, &us) == 0 && us == 250000);
    CHECK(sopt_duration_parse("2m", 1000000, &us) == 0 && us == 120000000);
    CHECK(sopt_duration_parse("7", 1000, &us) == 0 && us == 7000);
    CHECK(sopt_duration_parse("1.5s", 1000000, &us) < 0);
    CHECK(sopt_duration_parse("s", 1000000, &us) < 0);
    CHECK(sopt_duration_parse("99999999999999999999s", 1000000, &us) < 0);
}

static void test_loopback_guard(void)
{
    struct target t;
    CHECK_EQ(sopt_target_parse("http://127.0.0.1:8000", &t), 0);
    CHECK(t.loopback);
    CHECK_EQ(ntohs(t.addr.sin_port), 8000);
    CHECK(sopt_target_guard(&t, true, false, false) == NULL);
    CHECK_EQ(sopt_target_parse("http://localhost", &t), 0);
    CHECK(t.loopback && ntohs(t.addr.sin_port) == 80);
    CHECK_EQ(sopt_target_parse("http://127.9.8.7:1/", &t), 0);
    CHECK(t.loopback);

    CHECK_EQ(sopt_target_parse("http://10.1.2.3:8000", &t), 0);
    CHECK(!t.loopback);
    CHECK(sopt_target_guard(&t, false, false, false) != NULL);
    CHECK(sopt_target_guard(&t, false, true, false) == NULL);
    CHECK(sopt_target_guard(&t, true, true, false) != NULL); /* attacks need their own flag */
    CHECK(sopt_target_guard(&t, true, true, true) == NULL);
    CHECK_EQ(sopt_target_parse("http://128.0.0.1", &t), 0);
    CHECK(!t.loopback);

    CHECK(sopt_target_parse("https://127.0.0.1", &t) < 0);
    CHECK(sopt_target_parse("http://example.com:80", &t) < 0); /* no name resolution */
    CHECK(sopt_target_parse("http://127.0.0.1:0", &t) < 0);
    CHECK(sopt_target_parse("http://127.0.0.1:70000", &t) < 0);
    CHECK(sopt_target_parse("http://127.0.0.1/live/x.opus", &t) < 0);
}

static void test_sources(void)
{
    uint32_t first, n;
    CHECK_EQ(sopt_sources_parse("127.0.0.2-127.0.0.40", &first, &n), 0);
    CHECK_EQ(first, (127u << 24) | 2);
    CHECK_EQ(n, 39);
    CHECK_EQ(sopt_sources_parse("127.0.1.1", &first, &n), 0);
    CHECK_EQ(n, 1);
    CHECK(sopt_sources_parse("127.0.0.9-127.0.0.2", &first, &n) < 0);
    CHECK(sopt_sources_parse("10.0.0.1-10.0.0.9", &first, &n) < 0);
}

static void test_attack(void)
{
    struct attack_spec a;
    CHECK_EQ(sopt_attack_parse("slowloris=5000,idle=20000,flood=20000/s,slow-readers=1000,"
                               "reconnect-storm@30s", &a), 0);
    CHECK_EQ(a.slowloris, 5000);
    CHECK_EQ(a.idle, 20000);
    CHECK_EQ(a.flood_per_s, 20000);
    CHECK_EQ(a.slow_readers, 1000);
    CHECK_EQ(a.reconnect_at_us, 30000000);
    CHECK(sopt_attack_any(&a));
    CHECK_EQ(sopt_attack_parse("idle=3", &a), 0);
    CHECK(a.reconnect_at_us == UINT64_MAX && a.slowloris == 0);
    CHECK(sopt_attack_parse("teardrop=5", &a) < 0);
    CHECK(sopt_attack_parse("idle=", &a) < 0);
    CHECK(sopt_attack_parse("idle=5,,", &a) < 0);
    CHECK(sopt_attack_parse("", &a) < 0);
}

static void test_slo(void)
{
    struct slo s[SLO_MAX];
    char why[160];
    int n = sopt_slo_parse("ttfa_p99=1s,stalls=0,joined=100%", s, SLO_MAX);
    CHECK_EQ(n, 3);
    CHECK_EQ(s[0].kind, SLO_TTFA_P99);
    CHECK_EQ(s[0].threshold, 1000000);
    CHECK_EQ(s[2].threshold, 1000000);
    CHECK(s[2].percent);
    CHECK_EQ(sopt_slo_parse("joined=99.5%", s, SLO_MAX), 1);
    CHECK_EQ(s[0].threshold, 995000);
    CHECK_EQ(sopt_slo_parse("ttfa_p50=250", s, SLO_MAX), 1); /* bare = ms */
    CHECK_EQ(s[0].threshold, 250000);
    CHECK(sopt_slo_parse("ttfa_p98=1s", s, SLO_MAX) < 0);
    CHECK(sopt_slo_parse("joined=101%", s, SLO_MAX) < 0);
    CHECK(sopt_slo_parse("stalls", s, SLO_MAX) < 0);
    CHECK(sopt_slo_parse("stalls=x", s, SLO_MAX) < 0);

    struct slo_facts f = {.ttfa_us = {100000, 200000, 900000, 1500000, 2000000},
                          .target = 1000, .joined = 1000};
    sopt_slo_parse("ttfa_p99=1s,stalls=0,joined=100%,ttfa_p999=1s,failed=0", s, SLO_MAX);
    CHECK(sopt_slo_eval(&s[0], &f, why, sizeof(why)));
    CHECK(sopt_slo_eval(&s[1], &f, why, sizeof(why)));
    CHECK(sopt_slo_eval(&s[2], &f, why, sizeof(why)));
    CHECK(!sopt_slo_eval(&s[3], &f, why, sizeof(why)));
    CHECK(strstr(why, "ttfa_p999") != NULL);
    f.joined = 999;
    f.failed = 1;
    CHECK(!sopt_slo_eval(&s[2], &f, why, sizeof(why)));
    CHECK(strstr(why, "joined 999") != NULL);
    CHECK(!sopt_slo_eval(&s[4], &f, why, sizeof(why)));
    f.stalls = 3;
    CHECK(!sopt_slo_eval(&s[1], &f, why, sizeof(why)));
    /* nobody joined: a TTFA SLO cannot hold vacuously */
    struct slo_facts none = {.target = 10};
    CHECK(!sopt_slo_eval(&s[0], &none, why, sizeof(why)));
}

int main(void)
{
    T_RUN(test_arrival);
    T_RUN(test_durations);
    T_RUN(test_loopback_guard);
    T_RUN(test_sources);
    T_RUN(test_attack);
    T_RUN(test_slo);
    T_DONE();
}
