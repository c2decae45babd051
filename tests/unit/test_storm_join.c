/* test_storm_join: storm's gate options: --prefixes, --space, and the two
 * gate attacks in --attack. */
#include <arpa/inet.h>

#include "join.h"
#include "sopt.h"
#include "t.h"

static uint32_t ip(const char *s)
{
    struct in_addr a;
    inet_pton(AF_INET, s, &a);
    return ntohl(a.s_addr);
}

static void test_prefixes(void)
{
    struct join_cfg c = {0};
    CHECK_EQ(join_prefixes_parse("200", &c), 0);
    CHECK_EQ(c.prefixes, 200);
    CHECK_EQ(c.prefix_base, ip("127.10.0.0"));
    CHECK_EQ(join_prefixes_parse("3@127.66.0.0", &c), 0);
    CHECK_EQ(c.prefixes, 3);
    CHECK_EQ(c.prefix_base, ip("127.66.0.0"));
    /* 65536 networks fill 127/8 from 127.0.0.0; one more does not fit */
    CHECK_EQ(join_prefixes_parse("65536@127.0.0.0", &c), 0);
    CHECK(join_prefixes_parse("2@127.255.255.0", &c) < 0);
    CHECK(join_prefixes_parse("1@127.255.255.0", &c) == 0);
    CHECK(join_prefixes_parse("0", &c) < 0);
    CHECK(join_prefixes_parse("65537", &c) < 0);
    CHECK(join_prefixes_parse("3@10.0.0.0", &c) < 0);  /* loopback only */
    CHECK(join_prefixes_parse("3@127.1.2.3", &c) < 0); /* a network, not a host */
    CHECK(join_prefixes_parse("3@", &c) < 0);
    CHECK(join_prefixes_parse("x", &c) < 0);
}

static void test_space_ids(void)
{
    CHECK(join_space_valid("QtevVqfgH6pi"));
    CHECK(join_space_valid("a-_0123456Z9"));
    CHECK(!join_space_valid("QtevVqfgH6p"));
    CHECK(!join_space_valid("QtevVqfgH6pi1"));
    CHECK(!join_space_valid("Qtev/qfgH6pi"));
    CHECK(!join_space_valid(""));
}

static void test_attacks(void)
{
    struct attack_spec a;
    CHECK_EQ(sopt_attack_parse("forged-tickets=500/s,join-flood=300/s,slowloris=10", &a), 0);
    CHECK_EQ(a.forged_per_s, 500);
    CHECK_EQ(a.join_flood_per_s, 300);
    CHECK_EQ(a.slowloris, 10);
    CHECK(sopt_attack_any(&a));
    CHECK_EQ(sopt_attack_parse("join-flood=7", &a), 0);
    CHECK_EQ(a.join_flood_per_s, 7);
    CHECK_EQ(a.forged_per_s, 0);
    CHECK(sopt_attack_any(&a));
    CHECK(sopt_attack_parse("forged-tickets=x/s", &a) < 0);
    CHECK(sopt_attack_parse("forged-tickets=2000000/s", &a) < 0);
    CHECK(sopt_attack_parse("forged=5/s", &a) < 0);
}

int main(void)
{
    T_RUN(test_prefixes);
    T_RUN(test_space_ids);
    T_RUN(test_attacks);
    T_DONE();
}
