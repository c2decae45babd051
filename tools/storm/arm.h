/* arm: a virtual listener's socket, made before the run starts.
 *
 * A 50,000-join burst cannot be issued on time if every join first pays for
 * socket(), its options, bind() and the kernel's search for a free source
 * port: at t0 storm would still be creating sockets seconds later. So each
 * worker arms its whole shard before the common start: socket created,
 * non-blocking, bound to its 127.0.0.x source address and (when the plan has
 * them) to an explicit source port, so that at the intended arrival only
 * connect() is left, and connect() has no port to search for.
 *
 * Ports. Listener gi (global index) gets address src_first + gi % src_count
 * and port port_lo + gi / src_count: unique across workers by construction.
 * SO_REUSEADDR lets a port still in TIME_WAIT from the previous run be bound
 * again (the kernel still refuses a 4-tuple in use at connect()). A port
 * another program holds is not fought over: that one socket falls back to
 * IP_BIND_ADDRESS_NO_PORT and the kernel picks its port at connect().
 * Explicitly bound ports leave the machine's pool of ports for outgoing
 * connections (the kernel will not hand them out), so the plan spreads the
 * crowd over more addresses and few ports: ARM_PORTS_PER_SOURCE.
 */
#ifndef PODIUM_ARM_H
#define PODIUM_ARM_H

#include <stdbool.h>
#include <stdint.h>

#define ARM_PORTS_PER_SOURCE 2000 /* explicit ports per source address: what the run takes out of the machine's ephemeral pool */

struct arm_plan {
    uint32_t src_first, src_count; /* host order; count 0: no bind, kernel's choice */
    uint32_t port_lo, port_count;  /* explicit ports [lo, lo + count); count 0: chosen at connect() */
};

/* arm_plan_make: the plan for <conns> listeners over the source addresses
 * [src_first, src_first + src_count) with explicit ports taken from the
 * local port range [range_lo, range_hi]. With <explicit_ports> false, or no
 * source addresses, or more listeners per address than the range holds,
 * ports are left to connect(). */
void arm_plan_make(struct arm_plan *p, uint32_t src_first, uint32_t src_count, uint64_t conns,
                   bool explicit_ports, uint32_t range_lo, uint32_t range_hi);

/* arm_source: source address (host order, 0 = none) and port (0 = chosen at
 * connect) of global listener <gi>. */
void arm_source(const struct arm_plan *p, uint64_t gi, uint32_t *addr, uint16_t *port);

/* arm_socket: a non-blocking, close-on-exec TCP socket bound as the plan
 * says for listener <gi>. Returns the fd, or -errno (EMFILE, ...). Sets
 * *fell_back when the explicit port was taken and connect() will pick one. */
int arm_socket(const struct arm_plan *p, uint64_t gi, bool *fell_back);

/* arm_port_range: the kernel's local port range
 * (/proc/sys/net/ipv4/ip_local_port_range), or 32768..60999 when it cannot
 * be read. */
void arm_port_range(uint32_t *lo, uint32_t *hi);

#endif
