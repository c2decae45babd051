/* arm: sockets made before the start (see arm.h). */
#include "arm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void arm_plan_make(struct arm_plan *p, uint32_t src_first, uint32_t src_count, uint64_t conns,
                   bool explicit_ports, uint32_t range_lo, uint32_t range_hi)
{
    memset(p, 0, sizeof(*p));
    p->src_first = src_first;
    p->src_count = src_count;
    if (!explicit_ports || !src_count || range_hi < range_lo || range_lo == 0) return;
    uint64_t per = (conns + src_count - 1) / src_count;
    uint64_t range = (uint64_t)range_hi - range_lo + 1;
    if (per == 0 || per > range) return;
    p->port_lo = range_lo;
    p->port_count = (uint32_t)per;
}

void arm_source(const struct arm_plan *p, uint64_t gi, uint32_t *addr, uint16_t *port)
{
    *addr = 0;
    *port = 0;
    if (!p->src_count) return;
    *addr = p->src_first + (uint32_t)(gi % p->src_count);
    uint64_t slot = gi / p->src_count;
    /* Past the plan (rejoins, a larger crowd than planned): no explicit port. */
    if (p->port_count && slot < p->port_count) *port = (uint16_t)(p->port_lo + slot);
}

static int bind_to(int fd, uint32_t addr, uint16_t port)
{
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(addr);
    src.sin_port = htons(port);
    return bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0 ? -errno : 0;
}

int arm_socket(const struct arm_plan *p, uint64_t gi, bool *fell_back)
{
    uint32_t addr;
    uint16_t port;
    int one = 1, rc;
    *fell_back = false;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    arm_source(p, gi, &addr, &port);
    if (!addr) return fd;
    if (port) {
        /* TIME_WAIT of the previous run on this port is no obstacle; a
         * live 4-tuple still is, at connect(). */
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        rc = bind_to(fd, addr, port);
        if (rc == 0) return fd;
        if (rc != -EADDRINUSE) goto out_close;
        *fell_back = true; /* someone else holds it: let connect() choose */
    }
    /* The port is picked per 4-tuple at connect(), not per address at bind(). */
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    rc = bind_to(fd, addr, 0);
    if (rc == 0) return fd;
out_close:
    close(fd);
    return rc;
}

void arm_port_range(uint32_t *lo, uint32_t *hi)
{
    unsigned a = 0, b = 0;
    *lo = 32768;
    *hi = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (!f) return;
    if (fscanf(f, "%u %u", &a, &b) == 2 && a > 0 && a <= b && b <= 65535) {
        *lo = a;
        *hi = b;
    }
    fclose(f);
}
