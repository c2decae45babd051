/* test_overload: pressure from each input, the ladder's transitions on an
 * injected clock (immediate climb, one level down per calm period,
 * hysteresis against flapping, an interrupted calm), and which classes each
 * level admits. */
#include "overload.h"

#include <errno.h>

#include "t.h"

static struct overload_sample cpu(uint32_t permille)
{
    return (struct overload_sample){.cpu_permille = permille};
}

/* Feeds one CPU sample per second from pressures[]; returns the levels. */
static const char *trace(struct overload *o, uint64_t *t, const uint32_t *p, size_t n)
{
    static char out[128];
    for (size_t i = 0; i < n && i < sizeof(out) - 1; i++) {
        struct overload_sample s = cpu(p[i]);
        out[i] = (char)('0' + overload_update(o, *t, &s));
        *t += 1000;
    }
    out[n < sizeof(out) - 1 ? n : sizeof(out) - 1] = '\0';
    return out;
}

static void test_conf(void)
{
    struct overload o;
    struct overload_conf c = OVERLOAD_CONF_DEFAULT;
    CHECK(overload_conf_valid(&c));
    c.up_permille[2] = c.up_permille[1]; /* not increasing */
    CHECK_EQ(overload_init(&o, &c, 0), -EINVAL);
    c = OVERLOAD_CONF_DEFAULT;
    c.hysteresis_permille = 700;
    CHECK(!overload_conf_valid(&c));
    c = OVERLOAD_CONF_DEFAULT;
    c.up_permille[3] = OVERLOAD_PRESSURE_MAX + 1;
    CHECK(!overload_conf_valid(&c));
}

static void test_pressure_inputs(void)
{
    enum overload_input why;
    struct overload_sample s = {.cpu_permille = 300,
                                .mem_bytes = 950,
                                .mem_budget_bytes = 1000,
                                .conns = 10,
                                .conns_max = 100};
    CHECK_EQ(overload_pressure(&s, &why), 950);
    CHECK_EQ(why, OVERLOAD_MEM);
    s.conns = 98;
    CHECK_EQ(overload_pressure(&s, &why), 980);
    CHECK_EQ(why, OVERLOAD_CONNS);
    s.cpu_permille = 990;
    CHECK_EQ(overload_pressure(&s, &why), 990);
    CHECK_EQ(why, OVERLOAD_CPU);
    /* unmeasured inputs count as nothing; over budget is capped */
    s = (struct overload_sample){.cpu_permille = 100, .mem_bytes = 1u << 30, .conns = 5};
    CHECK_EQ(overload_pressure(&s, NULL), 100);
    s.mem_budget_bytes = 1u << 20;
    CHECK_EQ(overload_pressure(&s, &why), OVERLOAD_PRESSURE_MAX);
    CHECK_STR(overload_input_name(why), "memory");
    s = cpu(5000);
    CHECK_EQ(overload_pressure(&s, NULL), OVERLOAD_PRESSURE_MAX);
}

static void test_ladder_transitions(void)
{
    struct overload o;
    struct overload_conf c = OVERLOAD_CONF_DEFAULT; /* 700 800 900 970, -100, 5 s */
    CHECK_EQ(overload_init(&o, &c, 0), 0);
    uint64_t t = 0;
    /* climbs at once, skipping levels */
    static const uint32_t up[] = {500, 699, 700, 799, 950, 960, 1000, 970};
    CHECK_STR(trace(&o, &t, up, 8), "00113344");
    CHECK_EQ(o.transitions, 3);
    /* down from 4 needs < 870 for 5 s: 900 keeps it at 4 (hysteresis) */
    static const uint32_t hold[] = {900, 880, 870, 900};
    CHECK_STR(trace(&o, &t, hold, 4), "4444");
    /* calm at 600: one level per 5 s (4 -> 3 -> 2 -> 1), then 600 is not
     * below 700 - 100: level 1 holds */
    static const uint32_t calm[] = {600, 600, 600, 600, 600, 600, 600, 600, 600, 600,
                                    600, 600, 600, 600, 600, 600, 600, 600, 600, 600};
    CHECK_STR(trace(&o, &t, calm, 20), "44444333332222211111");
    CHECK_EQ(o.level, 1);
    /* 599 for 5 s: back to 0 */
    static const uint32_t quiet[] = {599, 599, 599, 599, 599, 599, 0};
    CHECK_STR(trace(&o, &t, quiet, 7), "1111100");
    CHECK_EQ(o.transitions, 3 + 4);
}

static void test_no_flapping(void)
{
    struct overload o;
    struct overload_conf c = OVERLOAD_CONF_DEFAULT;
    CHECK_EQ(overload_init(&o, &c, 0), 0);
    uint64_t t = 0;
    /* pressure oscillating around a threshold climbs once and stays */
    static const uint32_t osc[] = {790, 810, 790, 810, 790, 810, 790, 810, 790, 810, 790, 810};
    CHECK_STR(trace(&o, &t, osc, 12), "122222222222");
    CHECK_EQ(o.transitions, 2);
}

static void test_interrupted_calm(void)
{
    struct overload o;
    struct overload_conf c = OVERLOAD_CONF_DEFAULT;
    CHECK_EQ(overload_init(&o, &c, 0), 0);
    uint64_t t = 0;
    /* at 2; calm (< 700) for 4 s, a 750 sample (below 800: no climb, but not
     * calm) restarts the wait: the full 5 s count again */
    static const uint32_t p[] = {850, 650, 650, 650, 650, 750, 650, 650, 650, 650, 650, 650};
    CHECK_STR(trace(&o, &t, p, 12), "222222222221");
    /* the same with samples every 250 ms: time, not sample count, decides */
    CHECK_EQ(overload_init(&o, &c, 0), 0);
    struct overload_sample hi = cpu(850), lo = cpu(650);
    CHECK_EQ(overload_update(&o, 0, &hi), 2);
    for (uint64_t ms = 250; ms < 5250; ms += 250)
        CHECK_EQ(overload_update(&o, ms, &lo), 2);
    CHECK_EQ(overload_update(&o, 5250, &lo), 1);
    CHECK_EQ(o.level_since_ms, 5250);
}

static void test_classes_by_level(void)
{
    /* rows: levels 0..4; columns: audio speaker poll join other */
    static const char *want[OVERLOAD_LEVELS] = {"AAAAA", "AAAAr", "AAArr", "AArrr", "Arrrr"};
    for (unsigned l = 0; l < OVERLOAD_LEVELS; l++) {
        char got[OVERLOAD_CLASSES + 1];
        for (unsigned c = 0; c < OVERLOAD_CLASSES; c++)
            got[c] = overload_level_admits(l, (enum overload_class)c) ? 'A' : 'r';
        got[OVERLOAD_CLASSES] = '\0';
        CHECK_STR(got, want[l]);
    }
    struct overload o;
    struct overload_conf c = OVERLOAD_CONF_DEFAULT;
    CHECK_EQ(overload_init(&o, &c, 0), 0);
    struct overload_sample s = cpu(1000);
    overload_update(&o, 0, &s);
    CHECK(overload_admits(&o, OVERLOAD_AUDIO));
    CHECK(!overload_admits(&o, OVERLOAD_SPEAKER));
    CHECK_STR(overload_class_name(OVERLOAD_QUEUE_POLL), "queue_poll");
}

int main(void)
{
    T_RUN(test_conf);
    T_RUN(test_pressure_inputs);
    T_RUN(test_ladder_transitions);
    T_RUN(test_no_flapping);
    T_RUN(test_interrupted_calm);
    T_RUN(test_classes_by_level);
    T_DONE();
}
