/* test_storm_arm: the source plan for prepared sockets — every listener of
 * every worker gets its own (address, port); the plan stays inside the
 * local port range and gives up explicit ports rather than overflow it; a
 * prepared socket is bound as planned and falls back when its port is taken. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arm.h"
#include "t.h"

#define LO_ADDR ((127u << 24) | 2u)

static void test_plan_is_unique_across_workers(void)
{
    struct arm_plan p;
    const uint64_t n = 50000;
    arm_plan_make(&p, LO_ADDR, 25, n, true, 32768, 60999);
    CHECK_EQ(p.port_lo, 32768);
    CHECK_EQ(p.port_count, 2000);
    /* (address, port) as one 48-bit key; workers take gi = j * shards + k */
    uint8_t *seen = calloc(25u * 2000u, 1);
    uint32_t dup = 0, outside = 0;
    for (uint32_t shards = 3, k = 0; k < shards; k++) {
        for (uint64_t j = 0; j * shards + k < n; j++) {
            uint32_t addr;
            uint16_t port;
            arm_source(&p, j * shards + k, &addr, &port);
            if (addr < LO_ADDR || addr >= LO_ADDR + 25 || port < 32768 || port >= 32768 + 2000) {
                outside++;
                continue;
            }
            uint32_t key = (addr - LO_ADDR) * 2000u + (port - 32768u);
            if (seen[key]++) dup++;
        }
    }
    CHECK_EQ(dup, 0);
    CHECK_EQ(outside, 0);
    free(seen);
}

static void test_plan_without_explicit_ports(void)
{
    struct arm_plan p;
    uint32_t addr;
    uint16_t port;
    /* no source addresses: neither address nor port */
    arm_plan_make(&p, 0, 0, 5000, true, 32768, 60999);
    arm_source(&p, 17, &addr, &port);
    CHECK_EQ(addr, 0);
    CHECK_EQ(port, 0);
    /* asked not to */
    arm_plan_make(&p, LO_ADDR, 4, 5000, false, 32768, 60999);
    arm_source(&p, 5, &addr, &port);
    CHECK_EQ(addr, LO_ADDR + 1);
    CHECK_EQ(port, 0);
    /* more per address than the range holds: connect() chooses */
    arm_plan_make(&p, LO_ADDR, 2, 100000, true, 32768, 60999);
    CHECK_EQ(p.port_count, 0);
    /* a broken range */
    arm_plan_make(&p, LO_ADDR, 2, 100, true, 5000, 4000);
    CHECK_EQ(p.port_count, 0);
    /* beyond the plan (a rejoin, say): address yes, explicit port no */
    arm_plan_make(&p, LO_ADDR, 2, 10, true, 40000, 40100);
    arm_source(&p, 9, &addr, &port);
    CHECK_EQ(port, 40000 + 4);
    arm_source(&p, 10, &addr, &port);
    CHECK_EQ(port, 0);
}

static void bound_to(int fd, uint32_t *addr, uint16_t *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    *addr = 0;
    *port = 0;
    if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0) return;
    *addr = ntohl(sa.sin_addr.s_addr);
    *port = ntohs(sa.sin_port);
}

static void test_socket_bound_as_planned_and_falls_back(void)
{
    /* A free port to plan on: let the kernel pick one on 127.0.0.9, then
     * plan exactly that port for listener 0 there. */
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl((127u << 24) | 9u);
    CHECK(bind(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    uint32_t addr;
    uint16_t port;
    bound_to(probe, &addr, &port);
    close(probe);
    struct arm_plan p;
    arm_plan_make(&p, (127u << 24) | 9u, 1, 1, true, port, port);
    bool fell_back = true;
    int fd = arm_socket(&p, 0, &fell_back);
    CHECK(fd >= 0);
    CHECK(!fell_back);
    uint32_t a2;
    uint16_t p2;
    bound_to(fd, &a2, &p2);
    CHECK_EQ(a2, (127u << 24) | 9u);
    CHECK_EQ(p2, port);
    /* Someone else (no SO_REUSEADDR) holds the port: the next socket for
     * it falls back to a port chosen at connect(). */
    int other = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl((127u << 24) | 10u);
    CHECK(bind(other, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    arm_plan_make(&p, (127u << 24) | 10u, 1, 1, true, port, port);
    int fd2 = arm_socket(&p, 0, &fell_back);
    CHECK(fd2 >= 0);
    CHECK(fell_back);
    bound_to(fd2, &a2, &p2);
    CHECK_EQ(a2, (127u << 24) | 10u);
    CHECK_EQ(p2, 0); /* IP_BIND_ADDRESS_NO_PORT: no port until connect() */
    close(fd2);
    close(other);
    close(fd);
}

static void test_port_range_is_sane(void)
{
    uint32_t lo, hi;
    arm_port_range(&lo, &hi);
    CHECK(lo >= 1 && lo <= hi && hi <= 65535);
}

int main(void)
{
    T_RUN(test_plan_is_unique_across_workers);
    T_RUN(test_plan_without_explicit_ports);
    T_RUN(test_socket_bound_as_planned_and_falls_back);
    T_RUN(test_port_range_is_sane);
    T_DONE();
}
