/* prefix: a client address reduced to the network it speaks for.
 *
 * Limits and counters are kept per prefix, not per address: one household or
 * one carrier NAT shares a /24 (IPv4), one customer site gets a /48 (IPv6),
 * and an attacker who owns a /64 owns 2^64 addresses but one /48 key. An
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack socket reports
 * for an IPv4 peer) is the IPv4 address.
 *
 * The key is 16 bytes in IPv6 layout so that equality is memcmp and hashing
 * is one fixed-size input:
 *   IPv4 a.b.c.d  -> ::ffff:a.b.c.0        (bytes 10,11 = 0xff; 15 = 0)
 *   IPv6          -> first 6 bytes, the rest zero
 * The two forms cannot collide: a /48 key has bytes 6..15 all zero.
 */
#ifndef PODIUM_PREFIX_H
#define PODIUM_PREFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PREFIX_V4_BITS 24
#define PREFIX_V6_BITS 48
/* "255.255.255.0/24" or "ffff:ffff:ffff::/48", with the NUL */
#define PREFIX_TEXT_BYTES_MAX 24

struct prefix {
    uint8_t b[16];
};

/* prefix_from_v4: <addr> is 4 bytes in network order. */
void prefix_from_v4(struct prefix *p, const uint8_t addr[4]);

/* prefix_from_v6: <addr> is 16 bytes in network order; an IPv4-mapped
 * address gives the IPv4 prefix. */
void prefix_from_v6(struct prefix *p, const uint8_t addr[16]);

/* prefix_from_sockaddr: the prefix of an AF_INET or AF_INET6 address of
 * <len> bytes. Returns 0, -EAFNOSUPPORT for another family, -EINVAL when
 * <len> is too short for the family. */
int prefix_from_sockaddr(struct prefix *p, const struct sockaddr *sa, socklen_t len);

/* prefix_is_v4: whether <p> came from an IPv4 (or IPv4-mapped) address. */
bool prefix_is_v4(const struct prefix *p);

/* prefix_eq: byte equality. */
bool prefix_eq(const struct prefix *a, const struct prefix *b);

/* prefix_format: "203.0.113.0/24" or "2001:db8:1::/48" into out[0..out_len).
 * Returns the length written (without the NUL), or -ENOSPC when it does not
 * fit (out is then an empty string if out_len > 0). */
int prefix_format(const struct prefix *p, char *out, size_t out_len);

#endif
