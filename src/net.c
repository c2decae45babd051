/* net: listening sockets. */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int net_parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err,
                       size_t err_len)
{
    char host[128];
    const char *colon, *h = s;
    size_t hl;
    memset(ss, 0, sizeof(*ss));
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':') goto bad;
        h = s + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) goto bad;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= sizeof(host)) goto bad;
    memcpy(host, h, hl);
    host[hl] = 0;
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || port > 65535) goto bad;
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof(*a4);
        return 0;
    }
    if (!strcmp(host, "localhost")) {
        a4->sin_family = AF_INET;
        a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof(*a4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
        return 0;
    }
bad:
    snprintf(err, err_len, "'%s' is not HOST:PORT (numeric address, or localhost)", s);
    return -1;
}

int net_listen(const struct sockaddr_storage *ss, socklen_t len, int backlog, int reuseport)
{
    int one = 1, err;
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    /* Wake us only when the request has arrived: a connection that sends
     * nothing costs an accept only after the kernel gives up on it. */
    int defer_s = 5;
    setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_s, sizeof(defer_s));
    if (bind(fd, (const struct sockaddr *)ss, len) < 0) goto out_close;
    if (listen(fd, backlog) < 0) goto out_close;
    return fd;

out_close:
    err = -errno;
    close(fd);
    return err;
}

uint16_t net_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return 0;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

void net_format(const struct sockaddr_storage *ss, char *out, size_t out_len)
{
    char a[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a4->sin_addr, a, sizeof(a));
        snprintf(out, out_len, "%s:%u", a, ntohs(a4->sin_port));
    } else {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a6->sin6_addr, a, sizeof(a));
        snprintf(out, out_len, "[%s]:%u", a, ntohs(a6->sin6_port));
    }
}
