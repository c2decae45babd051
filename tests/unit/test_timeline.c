/* test_timeline: the bounded ring (reuse, stale records never read),
 * concentration records for past seconds, the JSON export (exact text,
 * bounds, worst case), the verdict on a flash crowd, a botnet, a crowd under
 * attack and a quiet range, and the reason mappings. */
#include "timeline.h"

#include <errno.h>
#include <stdlib.h>

#include "t.h"

static struct prefix v4(uint8_t a, uint8_t b, uint8_t c)
{
    struct prefix p;
    uint8_t addr[4] = {a, b, c, 1};
    prefix_from_v4(&p, addr);
    return p;
}

static void add(struct timeline *tl, uint64_t s, enum timeline_outcome o, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        timeline_join(tl, s * 1000 + 500, o);
}

static void rej(struct timeline *tl, uint64_t s, enum timeline_reason r, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        timeline_reject(tl, s * 1000, r);
}

static void req(struct timeline *tl, uint64_t s, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        timeline_request(tl, s * 1000 + 999);
}

static void conc(struct timeline *tl, uint64_t s, uint32_t joins, uint32_t prefixes,
                 uint32_t top_joins, struct prefix top)
{
    struct iptable_second is = {
        .s = s, .joins = joins, .prefixes = prefixes, .top_joins = top_joins, .top = top};
    timeline_prefixes(tl, &is);
}

static void test_ring(void)
{
    struct timeline tl;
    CHECK_EQ(timeline_init(&tl, 0), -EINVAL);
    CHECK_EQ(timeline_init(&tl, TIMELINE_SLOTS_MAX + 1), -EINVAL);
    CHECK_EQ(timeline_init(&tl, 10), 0);
    CHECK(timeline_get(&tl, 0) == NULL);
    for (uint64_t s = 0; s < 26; s++)
        req(&tl, s, (uint32_t)s + 1);
    CHECK(timeline_get(&tl, 15) == NULL); /* overwritten by 25 */
    for (uint64_t s = 16; s < 26; s++) {
        const struct timeline_sec *r = timeline_get(&tl, s);
        CHECK(r != NULL);
        if (r) CHECK_EQ(r->requests, s + 1); /* counts start from zero on reuse */
    }
    CHECK(timeline_get(&tl, 26) == NULL);
    /* concentration arrives a second late: kept for 25, dropped for 5 */
    conc(&tl, 25, 10, 3, 5, v4(1, 2, 3));
    conc(&tl, 5, 99, 99, 99, v4(9, 9, 9));
    CHECK_EQ(timeline_get(&tl, 25)->prefixes, 3);
    CHECK_EQ(timeline_get(&tl, 25)->requests, 26);
    CHECK(timeline_get(&tl, 5) == NULL);
    /* a past second with no record yet, whose slot is older: claimed */
    conc(&tl, 26, 4, 2, 3, v4(1, 2, 3)); /* slot of 16 */
    CHECK_EQ(timeline_get(&tl, 26)->prefix_joins, 4);
    CHECK(timeline_get(&tl, 16) == NULL);
    timeline_free(&tl);
}

/* Bulk counts (from worker processes) add to what the second already has;
 * gauges and concentration in the delta are ignored. */
static void test_add(void)
{
    struct timeline tl;
    struct timeline_sec d;
    CHECK_EQ(timeline_init(&tl, 10), 0);
    memset(&d, 0, sizeof(d));
    d.requests = 7;
    d.joins[TIMELINE_QUEUED] = 3;
    d.rejects[TIMELINE_R_TICKET_FORGED] = 5;
    d.glitches = 2;
    d.queue_len = 999;
    d.prefixes = 999;
    timeline_request(&tl, 4000);
    timeline_reject(&tl, 4500, TIMELINE_R_TICKET_FORGED);
    timeline_add(&tl, 4999, &d);
    timeline_add(&tl, 4001, &d);
    const struct timeline_sec *r = timeline_get(&tl, 4);
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ(r->requests, 15);
        CHECK_EQ(r->joins[TIMELINE_QUEUED], 6);
        CHECK_EQ(r->joins[TIMELINE_ADMITTED], 0);
        CHECK_EQ(r->rejects[TIMELINE_R_TICKET_FORGED], 11);
        CHECK_EQ(r->glitches, 4);
        CHECK_EQ(r->queue_len, 0);
        CHECK_EQ(r->prefixes, 0);
    }
    CHECK(timeline_get(&tl, 5) == NULL);
    timeline_free(&tl);
}

static void test_json_exact(void)
{
    struct timeline tl;
    char buf[4096];
    CHECK_EQ(timeline_init(&tl, 60), 0);
    req(&tl, 7, 5);
    add(&tl, 7, TIMELINE_ADMITTED, 2);
    add(&tl, 7, TIMELINE_QUEUED, 1);
    add(&tl, 7, TIMELINE_REJECTED, 2);
    rej(&tl, 7, TIMELINE_R_PREFIX_CONN_RATE, 1);
    rej(&tl, 7, TIMELINE_R_TICKET_FORGED, 1);
    timeline_glitch(&tl, 7000, 3);
    timeline_gauges(&tl, 7999, 12, 2, 1, 16);
    conc(&tl, 7, 5, 2, 4, v4(203, 0, 113));
    req(&tl, 9, 1); /* 8 has no record: left out */
    int n = timeline_json(&tl, 7, 9, 1700000000, buf, sizeof(buf));
    CHECK(n > 0);
    const char *want =
        "{\"from\":1700000007,\"to\":1700000009,\"seconds\":["
        "{\"t\":1700000007,\"requests\":5,\"joins\":{\"admitted\":2,\"queued\":1,\"rejected\":2,"
        "\"shed\":0},\"rejections\":{\"prefix_conn_rate\":1,\"ticket_forged\":1},\"glitches\":3,"
        "\"prefix_joins\":5,\"prefixes\":2,\"top_prefix_joins\":4,\"top_prefix\":\"203.0.113.0/"
        "24\",\"queue\":12,\"admitted_per_s\":2,\"overload_level\":1,\"pow_bits\":16},"
        "{\"t\":1700000009,\"requests\":1,\"joins\":{\"admitted\":0,\"queued\":0,\"rejected\":0,"
        "\"shed\":0},\"rejections\":{},\"glitches\":0,\"prefix_joins\":0,\"prefixes\":0,"
        "\"top_prefix_joins\":0,\"queue\":0,\"admitted_per_s\":0,\"overload_level\":0,"
        "\"pow_bits\":0}],\"verdict\":{\"kind\":\"quiet\",\"signals\":[\"glitches\",\"forged\"],"
        "\"evidence\":{\"seconds\":2,\"requests\":6,\"joins\":5,\"admitted\":2,"
        "\"queued\":1,\"rejected\":2,\"shed\":0,\"glitches\":3,\"glitch_permille\":500,"
        "\"forged_permille\":166,\"prefix_limited_permille\":166,\"capacity_permille\":0,"
        "\"top_share_permille\":800,\"top_share_max_permille\":0,\"prefixes_per_s\":1,"
        "\"joins_per_prefix_x10\":25}}}";
    CHECK_STR(buf, want);
    CHECK_EQ(n, (int)strlen(want));
    /* too small: nothing half-written */
    CHECK_EQ(timeline_json(&tl, 7, 9, 0, buf, 100), -ENOSPC);
    CHECK_STR(buf, "");
    CHECK_EQ(timeline_json(&tl, 7, 9, 1700000000, buf, (size_t)n), -ENOSPC);
    CHECK_EQ(timeline_json(&tl, 7, 9, 1700000000, buf, (size_t)n + 1), n);
    timeline_free(&tl);
}

static void test_json_worst_case_fits(void)
{
    struct timeline tl;
    CHECK_EQ(timeline_init(&tl, 4), 0);
    for (uint64_t s = 10; s < 14; s++) {
        struct timeline_sec *r = &tl.sec[s % 4];
        memset(r, 0xff, sizeof(*r));
        r->s = s;
        memset(&r->top_prefix, 0, sizeof(r->top_prefix));
        memset(r->top_prefix.b, 0xff, 6);
    }
    size_t need = 4 * TIMELINE_JSON_SEC_BYTES_MAX + TIMELINE_JSON_HEAD_BYTES_MAX;
    char *buf = malloc(need);
    int n = timeline_json(&tl, 10, 13, INT64_MAX / 2, buf, need);
    CHECK(n > 0);
    CHECK(strstr(buf, "\"top_prefix\":\"ffff:ffff:ffff::/48\"") != NULL);
    /* a range far beyond the ring is clipped to it, not walked */
    CHECK(timeline_json(&tl, 0, UINT64_MAX - 1, 0, buf, need) > 0);
    free(buf);
    timeline_free(&tl);
}

/* 300 s of a real flash crowd: many networks, few joins each, clean input,
 * more demand than capacity. */
static void test_verdict_flash_crowd(void)
{
    struct timeline tl;
    struct timeline_verdict v;
    CHECK_EQ(timeline_init(&tl, 600), 0);
    for (uint64_t s = 100; s < 400; s++) {
        req(&tl, s, 220);
        add(&tl, s, TIMELINE_ADMITTED, 50);
        add(&tl, s, TIMELINE_QUEUED, 150);
        add(&tl, s, TIMELINE_SHED, 20);
        rej(&tl, s, TIMELINE_R_QUEUE_FULL, 20);
        rej(&tl, s, TIMELINE_R_TICKET_EXPIRED, 1); /* normal: a slow phone */
        conc(&tl, s, 220, 170, 4, v4(100, 64, (uint8_t)s));
    }
    timeline_verdict(&tl, 100, 399, &v);
    CHECK_EQ(v.kind, TIMELINE_LEGITIMATE);
    CHECK_EQ(v.signals, TIMELINE_SIG_BROAD | TIMELINE_SIG_OVER_CAPACITY);
    CHECK_EQ(v.seconds, 300);
    CHECK_EQ(v.requests, 300 * 220);
    CHECK_EQ(v.prefixes_per_s, 170);
    CHECK_EQ(v.joins_per_prefix_x10, 12);
    CHECK_EQ(v.top_share_permille, 18);
    CHECK_EQ(v.capacity_permille, 90);
    timeline_free(&tl);
}

/* A botnet in a handful of networks: concentrated, hitting per-prefix
 * limits, sending junk. */
static void test_verdict_botnet(void)
{
    struct timeline tl;
    struct timeline_verdict v;
    CHECK_EQ(timeline_init(&tl, 600), 0);
    for (uint64_t s = 0; s < 120; s++) {
        req(&tl, s, 500);
        add(&tl, s, TIMELINE_ADMITTED, 20);
        add(&tl, s, TIMELINE_REJECTED, 300);
        rej(&tl, s, TIMELINE_R_PREFIX_CONN_RATE, 250);
        rej(&tl, s, TIMELINE_R_PREFIX_GLITCHY, 50);
        timeline_glitch(&tl, s * 1000, 40);
        conc(&tl, s, 320, 5, 200, v4(198, 51, 100));
    }
    timeline_verdict(&tl, 0, 119, &v);
    CHECK_EQ(v.kind, TIMELINE_HOSTILE);
    CHECK(v.signals & TIMELINE_SIG_PREFIX_LIMITS);
    CHECK(v.signals & TIMELINE_SIG_CONCENTRATED);
    CHECK(v.signals & TIMELINE_SIG_GLITCHES);
    CHECK(!(v.signals & TIMELINE_SIG_BROAD));
    CHECK_EQ(v.prefix_limited_permille, 600);
    CHECK_EQ(v.glitch_permille, 80);
    CHECK_EQ(v.top_share_permille, 625);
    CHECK_EQ(v.top_share_max_permille, 625);
    char p[PREFIX_TEXT_BYTES_MAX];
    prefix_format(&v.top_prefix, p, sizeof(p));
    CHECK_STR(p, "198.51.100.0/24");
    timeline_free(&tl);
}

/* A real crowd with forged tickets and junk on top: mixed. */
static void test_verdict_mixed(void)
{
    struct timeline tl;
    struct timeline_verdict v;
    CHECK_EQ(timeline_init(&tl, 600), 0);
    for (uint64_t s = 0; s < 60; s++) {
        req(&tl, s, 300);
        add(&tl, s, TIMELINE_ADMITTED, 150);
        add(&tl, s, TIMELINE_REJECTED, 60);
        rej(&tl, s, TIMELINE_R_TICKET_FORGED, 40);
        rej(&tl, s, TIMELINE_R_POW_INVALID, 20);
        timeline_glitch(&tl, s * 1000, 30);
        conc(&tl, s, 210, 120, 6, v4(10, 0, 0));
    }
    timeline_verdict(&tl, 0, 59, &v);
    CHECK_EQ(v.kind, TIMELINE_MIXED);
    CHECK(v.signals & TIMELINE_SIG_FORGED);
    CHECK(v.signals & TIMELINE_SIG_GLITCHES);
    CHECK(v.signals & TIMELINE_SIG_BROAD);
    CHECK_EQ(v.forged_permille, 200);
    /* one weak signal alone (a big NAT) is mixed, not hostile */
    timeline_free(&tl);
    CHECK_EQ(timeline_init(&tl, 600), 0);
    for (uint64_t s = 0; s < 60; s++) {
        req(&tl, s, 100);
        add(&tl, s, TIMELINE_ADMITTED, 100);
        conc(&tl, s, 100, 3, 80, v4(10, 0, 0));
    }
    timeline_verdict(&tl, 0, 59, &v);
    CHECK_EQ(v.kind, TIMELINE_MIXED);
    CHECK_EQ(v.signals, TIMELINE_SIG_CONCENTRATED);
    timeline_free(&tl);
}

/* An attack shed at accept: nearly every request refused per network, so
 * few joins and no concentration to see; one overwhelming signal is
 * enough. Below half it stays mixed; with a broad crowd it stays mixed. */
static void test_verdict_shed_at_accept(void)
{
    struct timeline tl;
    struct timeline_verdict v;
    CHECK_EQ(timeline_init(&tl, 600), 0);
    for (uint64_t s = 0; s < 10; s++) {
        req(&tl, s, 400);
        add(&tl, s, TIMELINE_QUEUED, 2);
        rej(&tl, s, TIMELINE_R_PREFIX_GLITCHY, 390);
        conc(&tl, s, 2, 1, 2, v4(127, 66, 0));
    }
    timeline_verdict(&tl, 0, 9, &v);
    CHECK_EQ(v.kind, TIMELINE_HOSTILE);
    CHECK_EQ(v.signals, TIMELINE_SIG_PREFIX_LIMITS | TIMELINE_SIG_OVER_CAPACITY);
    CHECK_EQ(v.prefix_limited_permille, 975);
    timeline_free(&tl);

    CHECK_EQ(timeline_init(&tl, 600), 0);
    for (uint64_t s = 0; s < 10; s++) {
        req(&tl, s, 400);
        add(&tl, s, TIMELINE_ADMITTED, 200);
        rej(&tl, s, TIMELINE_R_PREFIX_TICKET_RATE, 199);
    }
    timeline_verdict(&tl, 0, 9, &v);
    CHECK_EQ(v.prefix_limited_permille, 497);
    CHECK_EQ(v.kind, TIMELINE_MIXED);
    for (uint64_t s = 0; s < 10; s++)
        conc(&tl, s, 200, 100, 3, v4(10, 0, 0));
    rej(&tl, 0, TIMELINE_R_PREFIX_TICKET_RATE, 100);
    timeline_verdict(&tl, 0, 9, &v);
    CHECK(v.prefix_limited_permille >= 500);
    CHECK(v.signals & TIMELINE_SIG_BROAD);
    CHECK_EQ(v.kind, TIMELINE_MIXED);
    timeline_free(&tl);
}

static void test_verdict_quiet_and_range(void)
{
    struct timeline tl;
    struct timeline_verdict v;
    CHECK_EQ(timeline_init(&tl, 100), 0);
    for (uint64_t s = 0; s < 50; s++)
        req(&tl, s, 1);
    timeline_verdict(&tl, 0, 49, &v);
    CHECK_EQ(v.kind, TIMELINE_QUIET);
    CHECK_EQ(v.requests, 50);
    timeline_verdict(&tl, 10, 19, &v); /* the range is inclusive */
    CHECK_EQ(v.seconds, 10);
    timeline_verdict(&tl, 60, 70, &v);
    CHECK_EQ(v.seconds, 0);
    CHECK_EQ(v.kind, TIMELINE_QUIET);
    timeline_verdict(&tl, 20, 10, &v); /* empty */
    CHECK_EQ(v.seconds, 0);
    timeline_free(&tl);
}

static void test_names_and_mappings(void)
{
    for (unsigned i = 0; i < TIMELINE_REASONS; i++) {
        const char *n = timeline_reason_name((enum timeline_reason)i);
        CHECK(n != NULL && strcmp(n, "?") != 0);
        for (unsigned j = 0; j < i; j++)
            CHECK(strcmp(n, timeline_reason_name((enum timeline_reason)j)) != 0);
    }
    CHECK_STR(timeline_reason_name(TIMELINE_REASONS), "?");
    CHECK_EQ(timeline_reason_of_iptable(IPTABLE_CONN_CAP), TIMELINE_R_PREFIX_CONNS);
    CHECK_EQ(timeline_reason_of_iptable(IPTABLE_GLITCHY), TIMELINE_R_PREFIX_GLITCHY);
    CHECK_EQ(timeline_reason_of_ticket(TICKET_BAD_SIGNATURE), TIMELINE_R_TICKET_FORGED);
    CHECK_EQ(timeline_reason_of_ticket(TICKET_UNKNOWN_EPOCH), TIMELINE_R_TICKET_FORGED);
    CHECK_EQ(timeline_reason_of_ticket(TICKET_NOT_YET_VALID), TIMELINE_R_TICKET_EXPIRED);
    CHECK_EQ(timeline_reason_of_ticket(TICKET_WRONG_KIND), TIMELINE_R_TICKET_MISUSED);
    CHECK_EQ(timeline_reason_of_ticket(TICKET_WRONG_PREFIX), TIMELINE_R_TICKET_WRONG_PREFIX);
    CHECK_EQ(timeline_reason_of_ticket(TICKET_MALFORMED), TIMELINE_R_TICKET_MALFORMED);
    CHECK_EQ(timeline_reason_of_pow(POW_REPLAYED), TIMELINE_R_POW_REPLAYED);
    CHECK_EQ(timeline_reason_of_pow(POW_UNSOLVED), TIMELINE_R_POW_INVALID);
    CHECK_EQ(timeline_reason_of_admit(ADMIT_SHED_QUEUE_FULL), TIMELINE_R_QUEUE_FULL);
    CHECK_EQ(timeline_reason_of_admit(ADMIT_SHED_REDEEMED), TIMELINE_R_QUEUE_TICKET);
    CHECK_STR(timeline_kind_name(TIMELINE_HOSTILE), "hostile");
    CHECK_STR(timeline_outcome_name(TIMELINE_SHED), "shed");
}

int main(void)
{
    T_RUN(test_ring);
    T_RUN(test_add);
    T_RUN(test_json_exact);
    T_RUN(test_json_worst_case_fits);
    T_RUN(test_verdict_flash_crowd);
    T_RUN(test_verdict_botnet);
    T_RUN(test_verdict_mixed);
    T_RUN(test_verdict_shed_at_accept);
    T_RUN(test_verdict_quiet_and_range);
    T_RUN(test_names_and_mappings);
    T_DONE();
}
