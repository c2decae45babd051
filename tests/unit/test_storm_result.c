/* test_storm_result: JSON round trip, exact merge of runs, SLO gate on the
 * merged result, hostile JSON refused. */
#include <stdlib.h>

#include "result.h"
#include "t.h"

static struct storm_result a, b, back, merged;

static void fill(struct storm_result *r, uint64_t seed, uint32_t n)
{
    res_init(r);
    snprintf(r->target, sizeof(r->target), "http://127.0.0.1:8000");
    snprintf(r->mount, sizeof(r->mount), "/live/x.opus");
    snprintf(r->arrival, sizeof(r->arrival), "burst");
    r->procs = 1;
    r->duration_ms = 10000;
    r->listeners_target = n;
    for (uint32_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        if (seed >> 60 == 0) {
            r->failed++;
            res_map_add(&r->by_reason, (seed >> 59) & 1 ? "http_503" : "connect_refused", 1);
        } else {
            r->joined++;
            uint64_t v = (seed >> 30) % 3000000;
            hist_record(&r->ttfa, v);
            if (v <= 1000000) r->within[0]++;
        }
    }
    r->stalls = seed % 7;
    r->err_crc = 2;
    res_map_add(&r->attack, "slowloris.opened", 10);
    r->ticks = 5;
    for (uint32_t i = 0; i < 5; i++) r->tl[i].listeners = i * n;
    for (uint32_t i = 0; i < n; i += 7) hist_record(&r->issue, (uint64_t)i * 40);
    r->cores = 2;
    r->armed = n;
    r->arm_ms = n / 100;
    r->tl[1].tool_cpu_ms = 300;
}

static char *to_json(const struct storm_result *r, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    res_write_json(r, f);
    fclose(f);
    return buf;
}

static void test_round_trip(void)
{
    size_t len;
    char err[160];
    fill(&a, 1, 5000);
    char *j = to_json(&a, &len);
    CHECK_EQ(res_read_json(&back, j, len, err, sizeof(err)), 0);
    CHECK_EQ(back.joined, a.joined);
    CHECK_EQ(back.failed, a.failed);
    CHECK_EQ(res_map_get(&back.by_reason, "http_503"), res_map_get(&a.by_reason, "http_503"));
    CHECK(memcmp(back.ttfa.counts, a.ttfa.counts, sizeof(a.ttfa.counts)) == 0);
    CHECK_EQ(back.ttfa.max, a.ttfa.max);
    CHECK_EQ(res_map_get(&back.attack, "slowloris.opened"), 10);
    CHECK_EQ(back.ticks, 5);
    CHECK_EQ(back.tl[4].listeners, 4 * 5000);
    CHECK(strstr(j, "\"ttfa_ms\":{\"p50\"") != NULL);
    CHECK(strstr(j, "\"issue_lag_ms\":{\"p50\"") != NULL);
    CHECK(memcmp(back.issue.counts, a.issue.counts, sizeof(a.issue.counts)) == 0);
    CHECK_EQ(back.issue.max, a.issue.max);
    CHECK_EQ(back.cores, 2);
    CHECK_EQ(back.armed, 5000);
    CHECK_EQ(back.arm_ms, 50);
    CHECK_EQ(back.tl[1].tool_cpu_ms, 300);
    CHECK_EQ(back.within[0], a.within[0]);
    CHECK(a.within[0] > 0);
    free(j);
    /* a timeline from before tool_cpu_ms (6 entries per second) still reads */
    const char *old = "{\"version\":1,\"timeline\":[[0,5,5,0,0,0],[1,7,2,0,0,1]]}";
    CHECK_EQ(res_read_json(&back, old, strlen(old), err, sizeof(err)), 0);
    CHECK_EQ(back.ticks, 2);
    CHECK_EQ(back.tl[1].listeners, 7);
    CHECK_EQ(back.tl[1].failures, 1);
}

static void test_warnings(void)
{
    char w[RES_WARN_MAX][200];
    res_init(&a);
    a.cores = 2;
    CHECK_EQ(res_warnings(&a, w, RES_WARN_MAX), 0);
    /* connects issued 1.5 s late for more than 1 % of listeners */
    for (int i = 0; i < 98; i++) hist_record(&a.issue, 1000);
    for (int i = 0; i < 2; i++) hist_record(&a.issue, 1500000);
    CHECK_EQ(res_warnings(&a, w, RES_WARN_MAX), 1);
    CHECK(strstr(w[0], "late") != NULL);
    /* the tool as a whole above 90 % of both cores in one second */
    a.ticks = 3;
    a.tl[2].tool_cpu_ms = 1850;
    a.tl[1].tool_cpu_ms = 1700;
    CHECK_EQ(res_machine_bound_s(&a), 1);
    CHECK_EQ(res_warnings(&a, w, RES_WARN_MAX), 2);
    CHECK(strstr(w[1], "2 cores") != NULL);
    a.tool_bound_s = 4;
    CHECK_EQ(res_warnings(&a, w, RES_WARN_MAX), 3);
    a.machine_saturated_s = 2;
    CHECK_EQ(res_warnings(&a, w, RES_WARN_MAX), 4);
    CHECK(strstr(w[3], "no idle CPU") != NULL);
    CHECK_EQ(res_warnings(&a, w, 1), 1);
}

static void test_merge_exact(void)
{
    fill(&a, 1, 5000);
    fill(&b, 2, 7000);
    res_init(&merged);
    res_merge(&merged, &a);
    res_merge(&merged, &b);
    CHECK_EQ(merged.listeners_target, 12000);
    CHECK_EQ(merged.joined, a.joined + b.joined);
    CHECK_EQ(merged.ttfa.count, a.ttfa.count + b.ttfa.count);
    for (uint32_t i = 0; i < HIST_BUCKETS; i++)
        if (merged.ttfa.counts[i] != a.ttfa.counts[i] + b.ttfa.counts[i]) CHECK(0);
    CHECK_EQ(merged.ttfa.max, a.ttfa.max > b.ttfa.max ? a.ttfa.max : b.ttfa.max);
    CHECK_EQ(res_map_get(&merged.attack, "slowloris.opened"), 20);
    CHECK_EQ(merged.tl[2].listeners, 2 * 12000);
    CHECK_EQ(merged.err_crc, 4);
    CHECK_EQ(merged.issue.count, a.issue.count + b.issue.count);
    CHECK_EQ(merged.armed, 12000);
    CHECK_EQ(merged.arm_ms, 70); /* the slowest worker's, not the sum */
    CHECK_EQ(merged.tl[1].tool_cpu_ms, 600);
    CHECK_EQ(merged.within[0], a.within[0] + b.within[0]);
    CHECK_EQ(merged.cores, 2);
    CHECK_EQ(merged.machine_saturated_s, 0);
}

static void test_slo_gate(void)
{
    char fails[SLO_MAX][160];
    fill(&a, 3, 1000);
    snprintf(a.slo_spec, sizeof(a.slo_spec), "ttfa_p99=10s,integrity_errors=5");
    CHECK_EQ(res_slo_check(&a, fails, SLO_MAX), 0);
    snprintf(a.slo_spec, sizeof(a.slo_spec), "ttfa_p99=1ms,integrity_errors=0,joined=100%%");
    CHECK_EQ(res_slo_check(&a, fails, SLO_MAX), 3);
    CHECK(strstr(fails[0], "ttfa_p99") != NULL);
    CHECK(strstr(fails[1], "integrity_errors 2 > 0") != NULL);
}

static void test_hostile_json(void)
{
    char err[160];
    const char *bad[] = {"", "{", "[1,2", "{\"version\":1,\"histograms\":{\"ttfa_us\":"
                         "{\"sub_bits\":5,\"buckets\":[[99999,1]]}}}",
                         "{\"version\":2}", "{\"version\":1}x", "nul"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(res_read_json(&back, bad[i], strlen(bad[i]), err, sizeof(err)) < 0);
    char deep[200];
    memset(deep, '[', sizeof(deep));
    CHECK(res_read_json(&back, deep, sizeof(deep), err, sizeof(err)) < 0);
    CHECK(res_read_json(&back, "{\"version\":1}", 13, err, sizeof(err)) == 0);
}

int main(void)
{
    T_RUN(test_round_trip);
    T_RUN(test_merge_exact);
    T_RUN(test_warnings);
    T_RUN(test_slo_gate);
    T_RUN(test_hostile_json);
    T_DONE();
}
