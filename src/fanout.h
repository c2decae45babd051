/* fanout: listeners and the write path.
 *
 * Per listener per flush: one writev of iovecs pointing into shared,
 * immutable chunks (the prelude, then ring pages). No copy, no queue. The
 * flush pass runs every flush_ms over each mount that published pages;
 * a listener whose socket is full waits for EPOLLOUT instead and is skipped
 * by the pass. A listener whose next page left the ring window skips ahead
 * to the burst point (a page boundary), up to slow_skips_max times, and is
 * then dropped; one that accepts no byte for write_stall_ms is dropped.
 */
#ifndef PODIUM_FANOUT_H
#define PODIUM_FANOUT_H

#include <stdbool.h>

#include "conn.h"
#include "mount.h"

/* fanout_join: turns a routed request into a listener of <m> (cap checks
 * done by the caller) and sends the prelude and the burst at once. */
void fanout_join(struct conn *c, struct mount *m, bool head_only, int64_t from_seq);

/* fanout_from_param: the `from` query parameter (the page sequence number a
 * resuming listener wants next): -1 when absent, -2 when malformed. */
int64_t fanout_from_param(const char *query, size_t query_len);

/* fanout_flush: writes what <c> is missing, as far as the socket takes. */
void fanout_flush(struct conn *c);

/* fanout_tick: the flush pass over every mount with new pages. */
void fanout_tick(struct server *srv);

/* fanout_detach: removes a closing listener from its mount. */
void fanout_detach(struct conn *c);

/* fanout_io: the listener's io callback (writable, peer gone, junk). */
void fanout_io(struct loop *loop, struct io *io, uint32_t events);

#endif
