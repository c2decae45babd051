/* rtp: the origin's RTP socket. */
#include "rtp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "net.h"
#include "server.h"
#include "space.h"

#define RTP_DATAGRAMS_PER_WAKEUP 256 /* a flood cannot hold the loop */
#define RTP_DATAGRAM_BYTES_MAX 1500

int rtp_parse(const uint8_t *p, size_t len, struct rtp_packet *out)
{
    if (len < 12 || (p[0] >> 6) != 2) return -1;
    size_t hdr = 12 + 4u * (p[0] & 0x0f);
    if (len < hdr) return -1;
    if (p[0] & 0x10) { /* header extension: 4 bytes, then length words */
        if (len < hdr + 4) return -1;
        hdr += 4 + 4u * (size_t)((p[hdr + 2] << 8) | p[hdr + 3]);
        if (len < hdr) return -1;
    }
    size_t end = len;
    if (p[0] & 0x20) { /* padding: its length is the last byte */
        if (p[len - 1] == 0 || p[len - 1] > len - hdr) return -1;
        end -= p[len - 1];
    }
    if (end <= hdr) return -1;
    out->payload_type = p[1] & 0x7f;
    out->seq = (uint16_t)(p[2] << 8 | p[3]);
    out->ts = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
    out->ssrc = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
    out->payload = p + hdr;
    out->payload_len = end - hdr;
    return 0;
}

static void rtp_io(struct loop *loop, struct io *io, uint32_t events)
{
    struct server *srv = io->data;
    uint8_t buf[RTP_DATAGRAM_BYTES_MAX];
    for (unsigned i = 0; i < RTP_DATAGRAMS_PER_WAKEUP; i++) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(io->fd, buf, sizeof(buf), MSG_TRUNC, (struct sockaddr *)&from, &fl);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return;
        struct rtp_packet pk;
        if ((size_t)n > sizeof(buf) || rtp_parse(buf, (size_t)n, &pk) < 0) {
            srv->m.rtp_bad++;
            continue;
        }
        srv->m.rtp_packets++;
        space_rtp_packet(srv, &from, &pk);
    }
}

int rtp_open(struct server *srv)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    char err[128], addr[96];
    if (!srv->conf.rtp_listen[0]) return 0; /* off */
    if (net_parse_hostport(srv->conf.rtp_listen, &ss, &sl, err, sizeof(err)) < 0) {
        log_error("rtp_listen: %s", err);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) < 0) {
        log_error("rtp_listen %s: %s", srv->conf.rtp_listen, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    srv->rtp_port = net_local_port(fd);
    io_init(&srv->rtp_io, fd, rtp_io, srv);
    io_set(srv->loop, &srv->rtp_io, LOOP_READ);
    if (ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&ss)->sin_port = htons(srv->rtp_port);
    else
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons(srv->rtp_port);
    net_format(&ss, addr, sizeof(addr));
    log_info("RTP/Opus into spaces on udp://%s", addr);
    return 0;
}

void rtp_close(struct server *srv)
{
    if (!srv->rtp_io.events) return;
    io_set(srv->loop, &srv->rtp_io, 0);
    close(srv->rtp_io.fd);
}
