/* proxyproto: the real client address behind a load balancer or CDN.
 *
 * Three sources, all honoured only when the connection's peer is in the
 * operator's trusted list (a client cannot claim to be someone else):
 *
 *   - PROXY protocol v1 (one text line) and v2 (binary) at the start of
 *     the connection, as sent by HAProxy, nginx stream, AWS NLB and others;
 *   - X-Forwarded-For, walked from the right: the first address not
 *     itself trusted is the client (entries on its left were written by
 *     whoever the client is and prove nothing).
 *
 * proxy_parse follows the parser contract: bytes consumed (> 0), -2 need
 * more, -1 invalid. It does not allocate, keeps no state between calls
 * (call it again with more bytes), and refuses early: a v1 line with a
 * character no valid line has, or longer than 107 bytes; a v2 header whose
 * declared length exceeds bytes_max. v2 TLVs are skipped unread.
 */
#ifndef PODIUM_PROXYPROTO_H
#define PODIUM_PROXYPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXY_V1_BYTES_MAX 107 /* the longest valid v1 line, CRLF included */
#define PROXY_V2_HEAD_BYTES 16
#define PROXY_NEED_MORE (-2)
#define PROXY_INVALID (-1)
#define PROXY_TRUST_MAX 64 /* CIDR entries in a trusted list */
#define PROXY_TRUST_TEXT_MAX 4096
#define PROXY_XFF_HOPS_MAX 32 /* X-Forwarded-For entries examined */
#define PROXY_XFF_ENTRY_BYTES_MAX 64

struct proxy_hdr {
    int version; /* 1 or 2 */
    /* true: no addresses (v1 UNKNOWN, v2 LOCAL, v2 UNSPEC/UNIX/DGRAM):
     * keep the connection's own peer address */
    bool local;
    struct sockaddr_storage src, dst;
    socklen_t src_len, dst_len;
};

/* proxy_parse: a PROXY v1 or v2 header at the start of buf[0..len). A v2
 * header longer than <bytes_max> (16 + address block + TLVs) is invalid;
 * v1 lines are bounded by PROXY_V1_BYTES_MAX regardless. On success fills
 * <out> and returns the header's length: the request starts after it. */
int proxy_parse(const uint8_t *buf, size_t len, size_t bytes_max, struct proxy_hdr *out);

/* One trusted network, in IPv6 layout (IPv4 as ::ffff:a.b.c.d/96+n). */
struct proxy_cidr {
    uint8_t addr[16];
    uint8_t bits;
};

struct proxy_trust {
    size_t n;
    struct proxy_cidr e[PROXY_TRUST_MAX];
};

/* proxy_trust_parse: "10.0.0.0/8, 192.0.2.7 2001:db8::/32 ::1": addresses
 * or CIDRs separated by commas and/or blanks; an address alone is /32 or
 * /128. An empty string trusts nobody. Refuses host bits set below the
 * mask, more than PROXY_TRUST_MAX entries, text over PROXY_TRUST_TEXT_MAX.
 * Returns 0, or -1 with a one-line reason in err. */
int proxy_trust_parse(struct proxy_trust *t, const char *s, char *err, size_t err_len);

/* proxy_trust_match: whether the AF_INET/AF_INET6 address <sa> is in <t>
 * (IPv4-mapped IPv6 matches IPv4 entries). */
bool proxy_trust_match(const struct proxy_trust *t, const struct sockaddr *sa, socklen_t len);

/* proxy_xff_client: the client in an X-Forwarded-For value v[0..len) sent
 * by a trusted peer: from the right, the first entry not in <t>; if all are
 * trusted, the leftmost. Entries: "192.0.2.1", "192.0.2.1:4711",
 * "2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:4711", blanks around.
 * Returns 0 with *out (port 0), or -1 when the value is empty, an entry
 * reached is not an address ("unknown", garbage, empty), or more than
 * PROXY_XFF_HOPS_MAX entries would have to be read. Headers repeated in a
 * request must be joined with "," in order before the call. */
int proxy_xff_client(const char *v, size_t len, const struct proxy_trust *t,
                     struct sockaddr_storage *out, socklen_t *out_len);

#endif
