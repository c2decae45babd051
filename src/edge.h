/* edge: the receiving side of the relay. A fan-out node (a local worker
 * process now; a remote edge later) mirrors the origin's mounts from OPEN,
 * PAGE and CLOSE frames, and serves its own listeners from them with the
 * same fan-out code as the origin would. */
#ifndef PODIUM_EDGE_H
#define PODIUM_EDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;
struct relay;
struct conn;

/* edge_read_conf: blocking read of HELLO then CONF from a local worker's
 * relay descriptor <fd>, before any loop exists. 0 or -1 (logged). */
struct conf;
int edge_read_conf(int fd, struct conf *out);

/* edge_attach: <srv>'s link to its origin over the (non-blocking) <fd>. */
int edge_attach(struct server *srv, int fd);

/* edge_pump: takes in the pages the origin sent since the last pump. The
 * link is lazy (relay_set_lazy): a worker reads it before each flush and
 * each join, the only moments its listeners see the pages. */
void edge_pump(struct server *srv);

/* edge_send_stats: reports this worker's counters to the origin. */
void edge_send_stats(struct server *srv);

/* A HANDOFF frame starts with the connection's gate flags (u8) and its
 * client's prefix (16 bytes, prefix.h layout); the bytes follow. */
#define EDGE_HANDOFF_HEAD_BYTES 17

#define EDGE_PARKED_MAX 8192 /* requests waiting for room on the link to the origin */

/* edge_handoff: gives connection <c> and the bytes it sent so far to the
 * origin (sources, /metrics, API). When the link is full (a join burst)
 * the request waits for room, in order, up to EDGE_PARKED_MAX and its header
 * deadline; past that, or when the link is gone, the client gets a 503. */
void edge_handoff(struct conn *c, const char *raw, size_t raw_len);

/* edge_unpark: the link has room again: hands over the waiting requests. */
void edge_unpark(struct relay *r);

#endif
