/* test_iptable: SipHash vectors, per-prefix connection caps and rates with
 * exact sequences, references that survive eviction, glitch cost and block
 * with leak, bounded size and eviction order, per-second concentration. */
#include "iptable.h"

#include "t.h"

static const uint8_t seed[IPTABLE_SEED_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static struct prefix v4(uint8_t a, uint8_t b, uint8_t c)
{
    struct prefix p;
    uint8_t addr[4] = {a, b, c, 99};
    prefix_from_v4(&p, addr);
    return p;
}

static struct iptable_limits base(void)
{
    struct iptable_limits l = IPTABLE_LIMITS_DEFAULT;
    l.entries_max = 64;
    return l;
}

static void test_siphash_vectors(void)
{
    /* The reference vectors: key 00..0f, message 00..n-1. */
    uint8_t key[16], msg[16];
    for (int i = 0; i < 16; i++)
        key[i] = msg[i] = (uint8_t)i;
    uint64_t k0 = 0x0706050403020100ull, k1 = 0x0f0e0d0c0b0a0908ull;
    (void)key;
    CHECK(iptable_hash(k0, k1, msg, 0) == 0x726fdb47dd0e0e31ull);
    CHECK(iptable_hash(k0, k1, msg, 1) == 0x74f839c593dc67fdull);
    CHECK(iptable_hash(k0, k1, msg, 8) == 0x93f5f5799a932462ull);
    CHECK(iptable_hash(k0, k1, msg, 15) == 0xa129ca6149be45e5ull);
    CHECK(iptable_hash(k0 ^ 1, k1, msg, 15) != 0xa129ca6149be45e5ull);
}

static void test_init_limits(void)
{
    struct iptable t;
    struct iptable_limits l = base();
    l.entries_max = 0;
    CHECK_EQ(iptable_init(&t, &l, seed), -22);
    l = base();
    l.cost_max = 0;
    CHECK_EQ(iptable_init(&t, &l, seed), -22);
    l = base();
    l.entries_max = 5; /* rounds up to one set */
    CHECK_EQ(iptable_init(&t, &l, seed), 0);
    CHECK_EQ(t.lim.entries_max, IPTABLE_WAYS);
    iptable_free(&t);
    l.entries_max = 1000;
    CHECK_EQ(iptable_init(&t, &l, seed), 0);
    CHECK_EQ(t.lim.entries_max, 1024);
    iptable_free(&t);
}

static void test_conn_cap(void)
{
    struct iptable t;
    struct iptable_limits l = base();
    l.conns_per_prefix_max = 3;
    CHECK_EQ(iptable_init(&t, &l, seed), 0);
    struct prefix a = v4(10, 0, 0), b = v4(10, 0, 1);
    struct iptable_ref r[5] = {{0}};
    uint64_t retry = 7;
    for (int i = 0; i < 3; i++)
        CHECK_EQ(iptable_conn_open(&t, &a, 0, &r[i], NULL), IPTABLE_OK);
    CHECK_EQ(iptable_conn_open(&t, &a, 0, &r[3], &retry), IPTABLE_CONN_CAP);
    CHECK_EQ(retry, 0);
    CHECK_EQ(r[3].gen, 0);
    CHECK_EQ(iptable_conn_open(&t, &b, 0, &r[4], NULL), IPTABLE_OK); /* other prefix */
    CHECK_EQ(iptable_conns(&t, &a), 3);
    iptable_conn_close(&t, &r[1]);
    CHECK_EQ(r[1].gen, 0);
    iptable_conn_close(&t, &r[1]); /* twice: no-op */
    CHECK_EQ(iptable_conns(&t, &a), 2);
    CHECK_EQ(iptable_conn_open(&t, &a, 0, &r[1], NULL), IPTABLE_OK);
    CHECK_EQ(iptable_conns(&t, &a), 3);
    CHECK_EQ(t.st.releases_stale, 0);
    iptable_free(&t);
}

/* One open per step; 'A' opened (and closed again), 'r' rate, 'c' cap. */
static const char *opens(struct iptable *t, const struct prefix *p, uint64_t from_ms,
                         uint64_t step_ms, unsigned n)
{
    static char out[64];
    for (unsigned i = 0; i < n && i < sizeof(out) - 1; i++) {
        struct iptable_ref r;
        enum iptable_result res = iptable_conn_open(t, p, from_ms + i * step_ms, &r, NULL);
        out[i] = res == IPTABLE_OK          ? 'A'
                 : res == IPTABLE_CONN_RATE ? 'r'
                 : res == IPTABLE_GLITCHY   ? 'g'
                                            : 'c';
        iptable_conn_close(t, &r);
    }
    out[n] = '\0';
    return out;
}

static void test_conn_rate(void)
{
    struct iptable t;
    struct iptable_limits l = base();
    l.conn_rate = (struct tbucket_conf){.rate_mtok_per_s = 2000, .burst = 3};
    CHECK_EQ(iptable_init(&t, &l, seed), 0);
    struct prefix a = v4(192, 0, 2), b = v4(198, 51, 100);
    CHECK_STR(opens(&t, &a, 0, 100, 16), "AAArrArrrrArrrrA");
    CHECK_STR(opens(&t, &b, 0, 100, 4), "AAAr"); /* b has its own bucket */
    struct iptable_ref r;
    uint64_t retry = 0;
    CHECK_EQ(iptable_conn_open(&t, &b, 300, &r, &retry), IPTABLE_CONN_RATE);
    CHECK_EQ(retry, 200); /* 0.6 token at 300 ms, full at 500 */
    iptable_free(&t);
}

static void test_ticket_rate_separate(void)
{
    struct iptable t;
    struct iptable_limits l = base();
    l.ticket_rate = (struct tbucket_conf){.rate_mtok_per_s = 1000, .burst = 2};
    CHECK_EQ(iptable_init(&t, &l, seed), 0);
    struct prefix a = v4(203, 0, 113);
    uint64_t retry;
    CHECK_EQ(iptable_ticket_take(&t, &a, 0, &retry), IPTABLE_OK);
    CHECK_EQ(iptable_ticket_take(&t, &a, 0, &retry), IPTABLE_OK);
    CHECK_EQ(iptable_ticket_take(&t, &a, 0, &retry), IPTABLE_TICKET_RATE);
    CHECK_EQ(retry, 1000);
    CHECK_EQ(iptable_ticket_take(&t, &a, 999, NULL), IPTABLE_TICKET_RATE);
    CHECK_EQ(iptable_ticket_take(&t, &a, 1000, NULL), IPTABLE_OK);
    /* connections from the same prefix are unaffected */
    CHECK_STR(opens(&t, &a, 1000, 0, 3), "AAA");
    iptable_free(&t);
}

static void test_glitch_cost_and_block(void)
{
    struct iptable t;
    struct iptable_limits l = base();
    l.conn_rate = (struct tbucket_conf){.rate_mtok_per_s = 1000, .burst = 4};
    l.glitch_leak_pts_per_s = 1;
    l.glitch_cost_step_pts = 10;
    l.glitch_block_pts = 100;
    l.cost_max = 5;
    CHECK_EQ(iptable_init(&t, &l, seed), 0);
    struct prefix a = v4(100, 64, 0), u = v4(100, 64, 1);
    CHECK_EQ(iptable_cost(&t, &u, 0), 1); /* unknown */
    CHECK_EQ(t.st.used, 0);               /* and not inserted */
    iptable_glitch(&t, &a, 0, 25);
    CHECK_EQ(iptable_glitch_pts(&t, &a, 0), 25);
    CHECK_EQ(iptable_cost(&t, &a, 0), 3);
    CHECK_EQ(iptable_cost(&t, &a, 5000), 3); /* 20 pts */
    CHECK_EQ(iptable_cost(&t, &a, 5001), 2); /* 19.999 */
    CHECK_EQ(iptable_glitch_pts(&t, &a, 5001), 19);
    /* cost 2 takes two of the four tokens per connection */
    CHECK_STR(opens(&t, &a, 5001, 0, 3), "AAr");
    CHECK_EQ(iptable_cost(&t, &a, 25000), 1); /* leaked to zero */
    /* capped at cost_max */
    iptable_glitch(&t, &a, 25000, 90);
    CHECK_EQ(iptable_cost(&t, &a, 25000), 5);
    /* block at 100 points; retry when it leaks below */
    iptable_glitch(&t, &a, 25000, 10);
    struct iptable_ref r;
    uint64_t retry = 0;
    CHECK_EQ(iptable_conn_open(&t, &a, 25000, &r, &retry), IPTABLE_GLITCHY);
    CHECK_EQ(retry, 1);
    CHECK_EQ(iptable_ticket_take(&t, &a, 25000, NULL), IPTABLE_GLITCHY);
    iptable_glitch(&t, &a, 25000, 3); /* 103 points: 3 s + 1 ms */
    CHECK_EQ(iptable_conn_open(&t, &a, 25000, &r, &retry), IPTABLE_GLITCHY);
    CHECK_EQ(retry, 3001);
    CHECK_EQ(iptable_conn_open(&t, &a, 28000, &r, NULL), IPTABLE_GLITCHY);
    CHECK(iptable_conn_open(&t, &a, 28001, &r, NULL) != IPTABLE_GLITCHY);
    iptable_free(&t);
}

static void test_eviction_order(void)
{
    struct iptable t;
    struct iptable_limits l = base();
    l.entries_max = IPTABLE_WAYS; /* one set: every prefix competes */
    l.glitch_leak_pts_per_s = 0;  /* glitch points mark who is still there */
    CHECK_EQ(iptable_init(&t, &l, seed), 0);
    struct iptable_ref r[IPTABLE_WAYS + 2];
    /* eight prefixes, seen at t = 0..7; the even ones hold a connection */
    for (unsigned i = 0; i < IPTABLE_WAYS; i++) {
        struct prefix p = v4(10, 1, (uint8_t)i);
        CHECK_EQ(iptable_conn_open(&t, &p, i, &r[i], NULL), IPTABLE_OK);
        if (i % 2) iptable_conn_close(&t, &r[i]);
    }
    CHECK_EQ(t.st.used, IPTABLE_WAYS);
    /* a ninth evicts the oldest idle one: 10.1.1.0 (seen at 1) */
    struct prefix n9 = v4(10, 2, 0), p1 = v4(10, 1, 1), p0 = v4(10, 1, 0), p3 = v4(10, 1, 3);
    iptable_glitch(&t, &p3, 8, 1); /* refresh p3 */
    iptable_glitch(&t, &n9, 9, 1);
    CHECK_EQ(t.st.evictions_idle, 1);
    CHECK_EQ(iptable_glitch_pts(&t, &p1, 9), 0);
    CHECK_EQ(iptable_glitch_pts(&t, &p3, 9), 1); /* kept: seen recently */
    /* next idle victims: 5, 7, then 3 (refreshed at 8), then n9 (9) */
    for (unsigned i = 0; i < 4; i++) {
        struct prefix p = v4(10, 3, (uint8_t)i);
        iptable_glitch(&t, &p, 10 + i, 1);
    }
    CHECK_EQ(t.st.evictions_idle, 5);
    CHECK_EQ(iptable_glitch_pts(&t, &n9, 20), 0);
    /* now every way is busy or newer; the 10.3.x are idle and newest. Make
     * them busy, then a newcomer must evict the oldest busy: 10.1.0.0 */
    for (unsigned i = 0; i < 4; i++) {
        struct prefix p = v4(10, 3, (uint8_t)i);
        struct iptable_ref tmp;
        CHECK_EQ(iptable_conn_open(&t, &p, 20, &tmp, NULL), IPTABLE_OK);
    }
    struct prefix late = v4(10, 4, 0);
    CHECK_EQ(iptable_conn_open(&t, &late, 30, &r[IPTABLE_WAYS], NULL), IPTABLE_OK);
    CHECK_EQ(t.st.evictions_busy, 1);
    CHECK_EQ(iptable_conns(&t, &p0), 0);
    /* closing p0's old reference touches nobody */
    iptable_conn_close(&t, &r[0]);
    CHECK_EQ(t.st.releases_stale, 1);
    CHECK_EQ(iptable_conns(&t, &late), 1);
    CHECK_EQ(t.st.used, IPTABLE_WAYS);
    iptable_free(&t);
}

static void test_bounded(void)
{
    struct iptable t;
    struct iptable_limits l = base();
    l.entries_max = 1024;
    CHECK_EQ(iptable_init(&t, &l, seed), 0);
    for (uint32_t i = 0; i < 100000; i++) {
        struct prefix p = v4((uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i);
        iptable_glitch(&t, &p, i, 1);
    }
    CHECK_EQ(t.st.used, 1024);
    CHECK_EQ(t.st.inserts, 100000);
    CHECK_EQ(t.st.evictions_idle, 100000 - 1024);
    /* a keyed hash spreads sequential prefixes: every set got used */
    unsigned empty = 0;
    for (uint32_t i = 0; i < t.lim.entries_max; i++)
        empty += t.e[i].gen == 0;
    CHECK_EQ(empty, 0);
    iptable_free(&t);
}

static void test_v4_v6_distinct(void)
{
    struct iptable t;
    struct iptable_limits l = base();
    CHECK_EQ(iptable_init(&t, &l, seed), 0);
    struct prefix a4 = v4(0, 0, 0), a6;
    uint8_t zero[16] = {0};
    prefix_from_v6(&a6, zero);
    iptable_glitch(&t, &a4, 0, 7);
    CHECK_EQ(iptable_glitch_pts(&t, &a6, 0), 0);
    CHECK_EQ(iptable_glitch_pts(&t, &a4, 0), 7);
    iptable_free(&t);
}

static void test_concentration(void)
{
    struct iptable t;
    struct iptable_limits l = base();
    CHECK_EQ(iptable_init(&t, &l, seed), 0);
    struct prefix a = v4(1, 1, 1), b = v4(2, 2, 2);
    struct iptable_second s;
    iptable_note_join(&t, &b, 10000);
    iptable_note_join(&t, &a, 10100);
    iptable_note_join(&t, &a, 10200);
    iptable_note_join(&t, &a, 10999);
    iptable_last_second(&t, 10999, &s); /* second 9: nothing */
    CHECK_EQ(s.s, 9);
    CHECK_EQ(s.joins, 0);
    iptable_last_second(&t, 11000, &s);
    CHECK_EQ(s.s, 10);
    CHECK_EQ(s.joins, 4);
    CHECK_EQ(s.prefixes, 2);
    CHECK_EQ(s.top_joins, 3);
    CHECK(prefix_eq(&s.top, &a));
    iptable_note_join(&t, &b, 11500); /* second 11 starts; 10 is still readable */
    iptable_last_second(&t, 11500, &s);
    CHECK_EQ(s.joins, 4);
    iptable_last_second(&t, 12000, &s);
    CHECK_EQ(s.joins, 1);
    CHECK(prefix_eq(&s.top, &b));
    iptable_note_join(&t, &b, 14000); /* a gap: 13 was empty */
    iptable_last_second(&t, 14000, &s);
    CHECK_EQ(s.s, 13);
    CHECK_EQ(s.joins, 0);
    iptable_free(&t);
}

int main(void)
{
    T_RUN(test_siphash_vectors);
    T_RUN(test_init_limits);
    T_RUN(test_conn_cap);
    T_RUN(test_conn_rate);
    T_RUN(test_ticket_rate_separate);
    T_RUN(test_glitch_cost_and_block);
    T_RUN(test_eviction_order);
    T_RUN(test_bounded);
    T_RUN(test_v4_v6_distinct);
    T_RUN(test_concentration);
    T_DONE();
}
