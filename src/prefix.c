/* prefix: client address -> /24 or /48 key, and its text form. */
#include "prefix.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#pragma GCC poison strcpy sprintf gets strtok atoi

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void prefix_from_v4(struct prefix *p, const uint8_t addr[4])
{
    memset(p, 0, sizeof(*p));
    memcpy(p->b, v4_mapped, sizeof(v4_mapped));
    memcpy(p->b + 12, addr, PREFIX_V4_BITS / 8);
}

void prefix_from_v6(struct prefix *p, const uint8_t addr[16])
{
    if (memcmp(addr, v4_mapped, sizeof(v4_mapped)) == 0) {
        prefix_from_v4(p, addr + 12);
        return;
    }
    memset(p, 0, sizeof(*p));
    memcpy(p->b, addr, PREFIX_V6_BITS / 8);
}

int prefix_from_sockaddr(struct prefix *p, const struct sockaddr *sa, socklen_t len)
{
    assert(p && sa);
    if (len < (socklen_t)sizeof(sa_family_t)) return -EINVAL;
    if (sa->sa_family == AF_INET) {
        if (len < (socklen_t)sizeof(struct sockaddr_in)) return -EINVAL;
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)sa;
        prefix_from_v4(p, (const uint8_t *)&a4->sin_addr);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        if (len < (socklen_t)sizeof(struct sockaddr_in6)) return -EINVAL;
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;
        prefix_from_v6(p, a6->sin6_addr.s6_addr);
        return 0;
    }
    return -EAFNOSUPPORT;
}

bool prefix_is_v4(const struct prefix *p)
{
    return memcmp(p->b, v4_mapped, sizeof(v4_mapped)) == 0;
}

bool prefix_eq(const struct prefix *a, const struct prefix *b)
{
    return memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

int prefix_format(const struct prefix *p, char *out, size_t out_len)
{
    char a[INET6_ADDRSTRLEN];
    int n;
    if (prefix_is_v4(p)) {
        inet_ntop(AF_INET, p->b + 12, a, sizeof(a));
        n = snprintf(out, out_len, "%s/%d", a, PREFIX_V4_BITS);
    } else {
        inet_ntop(AF_INET6, p->b, a, sizeof(a));
        n = snprintf(out, out_len, "%s/%d", a, PREFIX_V6_BITS);
    }
    if (n < 0 || (size_t)n >= out_len) {
        if (out_len) out[0] = '\0';
        return -ENOSPC;
    }
    return n;
}
