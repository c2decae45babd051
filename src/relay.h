/* relay: the framed stream that carries the canonical stream from an origin
 * to a fan-out node (a local worker process today, a remote edge later).
 *
 *   frame := u32 length (big-endian; bytes of type + payload) | u8 type | payload
 *
 * docs/protocol.md ("Relay protocol") is the reference for every frame. A
 * link is one non-blocking stream socket with an output queue (bounded: a
 * peer that stops reading is cut off, never allowed to grow our memory) and
 * an input buffer (frames above RELAY_FRAME_BYTES_MAX are a protocol error).
 * Local links also carry file descriptors (SCM_RIGHTS) for handed-off
 * connections; each HANDOFF frame consumes one received descriptor, in order.
 */
#ifndef PODIUM_RELAY_H
#define PODIUM_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"

#define RELAY_VERSION 1
#define RELAY_FRAME_BYTES_MAX (1u << 20) /* a page is < 64 KiB; a handoff < header + read */
#define RELAY_FDS_PENDING_MAX 64         /* received descriptors not yet claimed by a frame */

enum relay_type {
    RELAY_HELLO = 1,   /* origin -> node: u32 version */
    RELAY_CONF = 2,    /* origin -> local worker: struct conf (same binary only) */
    RELAY_OPEN = 3,    /* origin -> node: a mount and its header pages */
    RELAY_PAGE = 4,    /* origin -> node: one published page */
    RELAY_CLOSE = 5,   /* origin -> node: a mount ended (grace ran out) */
    RELAY_STATS = 6,   /* local worker -> origin: counters */
    RELAY_HANDOFF = 7, /* local worker -> origin: a connection (fd) and its bytes so far */
};

/* OPEN: u32 id, u32 serial, u8 name_len, u8 flags, name, header pages. */
#define RELAY_OPEN_FIXED_BYTES 10
#define RELAY_OPEN_TICKETED 0x01 /* listeners need an admission ticket */

struct relay;

/* Called once per complete frame. <fd> is the descriptor a HANDOFF carries
 * (the callee owns it), -1 otherwise. Returning false closes the link. */
typedef bool (*relay_frame_cb)(struct relay *r, uint8_t type, const uint8_t *p, uint32_t len,
                               int fd);
/* Called once when the link closes (peer gone, error, protocol error, or
 * relay_close). The link memory goes after the loop iteration. */
typedef void (*relay_close_cb)(struct relay *r, const char *why);

struct relay {
    struct io io;
    struct loop *loop;
    relay_frame_cb on_frame;
    relay_close_cb on_close;
    void *data;
    bool closed;
    bool want_write; /* relay_want_writable was called: tell on_writable when there is room */
    void (*on_writable)(struct relay *r); /* optional; see relay_want_writable */

    uint8_t *out; /* queued bytes not yet written */
    size_t out_len, out_cap, out_max;
    uint8_t *in; /* bytes of the frame(s) being received */
    size_t in_len, in_cap;
    int fds[RELAY_FDS_PENDING_MAX];
    unsigned fds_len;

    uint64_t frames_out, frames_in, bytes_out, bytes_in;
    bool lazy, busy;                 /* see relay_set_lazy */
    bool held;                       /* see relay_hold */
    bool delivering;                 /* inside on_frame: relay_pump does nothing */
    uint64_t pump_frames, pump_bytes; /* frames_in, bytes_in at the last pump */
};

/* relay_open: wraps the connected, non-blocking stream socket <fd>; the link
 * owns it. <out_max> bounds the output queue in bytes. NULL on ENOMEM. */
struct relay *relay_open(struct loop *loop, int fd, size_t out_max, relay_frame_cb on_frame,
                         relay_close_cb on_close, void *data);

/* relay_send: queues one frame made of <n> parts and writes what the socket
 * takes now. 0, or -ENOBUFS when the queue would pass out_max (the link is
 * then closed: the peer fell too far behind), or -EPIPE when closed. */
int relay_sendv(struct relay *r, uint8_t type, const void *const *parts, const size_t *lens,
                unsigned n);
static inline int relay_send(struct relay *r, uint8_t type, const void *p, size_t len)
{
    return relay_sendv(r, type, &p, &len, 1);
}

/* relay_send_fd: one frame carrying descriptor <fd> (the caller keeps its
 * copy). Only when nothing is queued, so the descriptor travels with its
 * own frame: 0, -EAGAIN (queue busy or socket full: try later or refuse),
 * or another -errno. */
int relay_send_fd(struct relay *r, uint8_t type, const void *p, size_t len, int fd);

/* relay_set_lazy: a lazy link is read only when its owner calls
 * relay_pump(), at the moments it needs fresh frames (a worker: before each
 * flush and each join), instead of on every arrival: a worker fed ten pages
 * a second then wakes once per flush. The peer closing is still seen at
 * once. While a pump period brings more than a socket buffer safely holds,
 * the link reads on arrival again, so the peer never blocks. */
void relay_set_lazy(struct relay *r, bool lazy);
/* relay_pump: reads and delivers what has arrived, now (a no-op when called
 * from inside this link's on_frame). */
void relay_pump(struct relay *r);

/* relay_hold: frames sent until relay_release are queued and then written
 * together, one system call for a batch of pages. */
void relay_hold(struct relay *r);
void relay_release(struct relay *r);

/* relay_want_writable: calls r->on_writable once nothing is queued and the
 * socket has room again (after relay_send_fd returned -EAGAIN). */
void relay_want_writable(struct relay *r);

/* relay_close: closes the link (idempotent); on_close runs with <why>. */
void relay_close(struct relay *r, const char *why);

/* Big-endian helpers for frame payloads. */
static inline void relay_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}
static inline uint32_t relay_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void relay_put_u64(uint8_t *p, uint64_t v)
{
    relay_put_u32(p, (uint32_t)(v >> 32));
    relay_put_u32(p + 4, (uint32_t)v);
}
static inline uint64_t relay_get_u64(const uint8_t *p)
{
    return (uint64_t)relay_get_u32(p) << 32 | relay_get_u32(p + 4);
}

#endif
