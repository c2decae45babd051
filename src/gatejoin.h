/* gatejoin: POST /api/spaces/{id}/join — the origin's admission of
 * listeners, one deli counter (admit.c) per space. The answer shapes are in
 * docs/protocol.md ("Join API").
 *
 * Per join, cheapest first: the space (cached, refreshed once a second), the
 * overload ladder (new join or queue poll), the space's bulkhead, the queue
 * ticket if one is presented, for a fresh join the prefix's ticket bucket and
 * (while demand exceeds the space's admission rate) a puzzle, then the deli's
 * decision: 200 with an admission ticket, 202 with a queue ticket, or 503
 * with a reason and Retry-After. Nothing is allocated per waiting client.
 */
#ifndef PODIUM_GATEJOIN_H
#define PODIUM_GATEJOIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;
struct http_request;
struct server;
struct json_writer;

#define GATEJOIN_BODY_BYTES_MAX 1024 /* a join body: two tickets and a counter fit */

int gatejoin_init(struct server *srv);
void gatejoin_free(struct server *srv);

/* What the once-a-second tick adds up over all spaces, for the timeline. */
struct gatejoin_gauges {
    uint64_t waiting;  /* numbers handed out and not yet served */
    uint32_t served;   /* numbers served since the last tick */
    unsigned pow_bits; /* the highest puzzle difficulty in force */
};

/* gatejoin_tick: admits by each space's rate and headroom, refreshes the
 * spaces from the store, sets puzzle difficulties from last second's demand,
 * forgets spaces idle past a queue ticket's life. */
void gatejoin_tick(struct server *srv, uint64_t now_ms, struct gatejoin_gauges *out);

/* gatejoin_handle: the join request <req> for space <id> with its body. */
void gatejoin_handle(struct conn *c, const struct http_request *req, const char *id,
                     const char *body, size_t body_len);

/* gatejoin_write_spaces: the spaces with admission state, as a JSON array
 * (for GET /api/status). */
void gatejoin_write_spaces(struct json_writer *w, const struct server *srv, uint64_t now_ms);

/* gatejoin_space_count: spaces with admission state now. */
uint32_t gatejoin_space_count(const struct server *srv);

#endif
