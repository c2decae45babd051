/* conn: a client connection and its phases.
 *
 * A connection's phase is its role: REQUEST (reading the header section,
 * under an absolute deadline), then LISTENER or SOURCE once routed, or
 * LINGER (an error answer was sent; draining input briefly so the answer is
 * not lost to a reset). Every connection is on exactly one list: the
 * request FIFO, the linger FIFO, a mount's listeners, or the sources.
 * Deadlines of one phase all have the same length, so a FIFO ordered by
 * arrival is ordered by deadline: expiry is O(1) per connection.
 */
#ifndef PODIUM_CONN_H
#define PODIUM_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iptable.h"
#include "loop.h"
#include "metrics.h"

struct server;
struct mount;
struct chunk;
struct source;
struct http_request;

enum conn_role {
    CONN_REQUEST,
    CONN_LISTENER,
    CONN_SOURCE,
    CONN_LINGER,
    CONN_STAGE,
    CONN_FILE,
    CONN_HANDOFF, /* worker: a request for the origin, waiting for room on the link */
};

struct stage_peer;

/* A file being sent (a recording): <fd> from <off>, <left> bytes to go. */
struct conn_file {
    int fd;
    uint64_t off, left;
};

/* The gate's view of a connection's client (gate.h). */
#define CONN_G_TRUSTED 0x01 /* the peer is a trusted proxy: the client comes from PROXY/XFF */
#define CONN_G_SETTLED 0x02 /* the client address is known and its prefix held */
#define CONN_G_EXEMPT 0x04  /* gate_exempt: never limited per prefix */
#define CONN_G_PROXIED 0x08 /* the client came from a PROXY header */
struct conn_gate {
    struct prefix pfx;      /* the client's /24 or /48 */
    struct iptable_ref ref; /* its hold on the prefix's connection count (gen 0: none) */
    uint16_t skip;          /* bytes of PROXY header before the request */
    uint8_t flags;          /* CONN_G_* */
};

struct conn {
    struct io io;
    struct server *srv;
    struct conn *prev, *next; /* the one list this connection is on */
    uint64_t since_ms;        /* start of the current phase */
    uint8_t role;
    bool closed;
    bool blocked;   /* listener: last write hit EAGAIN; waiting for EPOLLOUT */
    bool head_only; /* listener: HEAD request, close once the header is sent */
    uint32_t buf_len, buf_cap; /* request: partial header bytes in buf */
    uint32_t want;             /* request: header + body bytes the route needs (0: header) */
    char *buf;

    /* listener cursor: <hold> (referenced) is being sent from <off>; after
     * it, ring chunks from <seq> on. */
    struct mount *mount;
    struct chunk *hold;
    uint32_t off;
    uint32_t skips;
    uint64_t seq;
    uint64_t stall_since_ms; /* when the socket last refused bytes; 0 if not blocked */
    struct conn_gate gate;

    union { /* by role */
        struct source *source;    /* SOURCE */
        struct stage_peer *peer;  /* STAGE */
        struct conn_file *file;   /* FILE */
    };
};

/* An intrusive FIFO of connections. */
struct conn_list {
    struct conn *head, *tail;
    uint32_t len;
};

void conn_list_append(struct conn_list *l, struct conn *c);
void conn_list_remove(struct conn_list *l, struct conn *c);

/* conn_end_request: <c> leaves the request phase: off the request FIFO (if
 * it was on it), its partial-header buffer freed. The caller sets the role. */
void conn_end_request(struct conn *c);

/* conn_accept_ready: accepts up to accepts_per_wakeup connections. */
void conn_accept_ready(struct loop *loop, struct io *io, uint32_t events);

/* conn_adopt: a connection handed over by a worker: <fd> and the bytes
 * <raw> it has sent so far, processed as if this process had read them.
 * The worker settled its client: prefix <pfx>, CONN_G_* <gate_flags>. */
void conn_adopt(struct server *srv, int fd, const struct prefix *pfx, uint8_t gate_flags,
                const char *raw, size_t raw_len);

/* conn_close: unregisters, closes the fd and releases what the connection
 * holds; the memory goes after this loop iteration. Idempotent. */
void conn_close(struct conn *c);

/* conn_reject: answers <status> with a one-line <reason>, counts <why>, and
 * lingers briefly before closing. <extra_headers> ends in CRLF or is "". */
void conn_reject(struct conn *c, int status, enum reject_reason why, const char *reason,
                 const char *extra_headers);

/* conn_refuse: as conn_reject, counted by the caller (the gate's reasons). */
void conn_refuse(struct conn *c, int status, const char *reason, const char *extra_headers);

/* conn_respond: a complete small answer (status, type, body), then close. */
void conn_respond(struct conn *c, int status, const char *content_type, const char *body,
                  size_t body_len, bool head_only);

/* conn_respond_ex: conn_respond with <extra_headers> (each ending in CRLF, or ""). */
void conn_respond_ex(struct conn *c, int status, const char *content_type,
                     const char *extra_headers, const char *body, size_t body_len,
                     bool head_only);

/* conn_send_file: writes the answer header <hdr>, then <len> bytes of <fd>
 * from <off> as the socket takes them (the connection owns <fd>; -1: header
 * only), then closes. */
void conn_send_file(struct conn *c, const char *hdr, size_t hdr_len, int fd, uint64_t off,
                    uint64_t len);

/* conn_expire: closes requests past the header deadline and lingering
 * connections past theirs. Called by the housekeeping timer. */
void conn_expire(struct server *srv, uint64_t now_ms);

/* conn_write_all: best-effort non-blocking write of a small answer. Returns
 * true when every byte went out. */
bool conn_write_all(struct conn *c, const void *p, size_t len);

#endif
