/* fanout: listeners and the write path.
 *
 * Per listener per flush: one send (sendmsg) of iovecs pointing into shared,
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

#include "conf.h"
#include "conn.h"
#include "mount.h"

/* fanout_join: turns a routed request into a listener of <m> (cap checks
 * done by the caller) and sends the prelude and the burst at once. */
/* Where a listener starts: <from> >= 0 resumes at that page sequence number;
 * otherwise <burst_ms> of recent audio. */
struct fanout_start {
    int64_t from;
    uint32_t burst_ms;
};

void fanout_join(struct conn *c, struct mount *m, bool head_only, struct fanout_start start);

/* fanout_start_params: reads `from` (a page sequence number) and `burst_ms`
 * (0..ring_ms minus two pages; players that wait for a full buffer before
 * they start, as Chromium's <audio> does, ask for more) from a query. 0, or
 * -1 with a one-line reason in *why. */
int fanout_start_params(const struct conf *conf, const char *query, size_t query_len,
                        struct fanout_start *out, const char **why);

/* fanout_flush: writes what <c> is missing, as far as the socket takes. */
void fanout_flush(struct conn *c);

/* fanout_tick: the flush pass over every mount with new pages. */
void fanout_tick(struct server *srv);

/* fanout_young_tick: the pass over the mounts that are young
 * (mount_young: under burst_ms of audio) and have listeners; true while
 * there is one. See server.c, on_young. */
bool fanout_young_tick(struct server *srv);

/* fanout_detach: removes a closing listener from its mount. */
void fanout_detach(struct conn *c);

/* fanout_io: the listener's io callback (writable, peer gone, junk). */
void fanout_io(struct loop *loop, struct io *io, uint32_t events);

#endif
