/* net: listening sockets and socket options. */
#ifndef PODIUM_NET_H
#define PODIUM_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* net_parse_hostport: "HOST:PORT" or "[V6]:PORT" into a socket address.
 * Returns 0, or -1 with a reason in err. */
int net_parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err,
                       size_t err_len);

/* net_listen: a non-blocking listening TCP socket bound to <s>. With
 * <reuseport>, several sockets (processes) share the port. Returns the fd or
 * -errno. */
int net_listen(const struct sockaddr_storage *ss, socklen_t len, int backlog, int reuseport);

/* net_local_port: the bound port of <fd>, 0 on error. */
uint16_t net_local_port(int fd);

/* net_format: "a.b.c.d:port" or "[v6]:port" into out. */
void net_format(const struct sockaddr_storage *ss, char *out, size_t out_len);

#endif
