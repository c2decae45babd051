/* vl: one virtual listener — the real client path (TCP connect, HTTP GET of
 * the mount, response status and headers) then the byte-by-byte verified
 * stream, the playback-buffer model and its own accounting. A few hundred
 * bytes each; no per-listener buffers (reads go to the worker's shared one).
 */
#ifndef PODIUM_VL_H
#define PODIUM_VL_H

#include <stdint.h>

#include "loop.h"
#include "oggv.h"
#include "play.h"

struct run;

enum vl_state { VL_WAIT = 0, VL_CONNECTING, VL_HEADERS, VL_STREAM, VL_DONE };

#define VL_F_REJOIN 0x01  /* this session is a rejoin of the reconnect storm */
#define VL_F_STALLED 0x02 /* has stalled at least once (listeners_affected) */
#define VL_F_JOINED 0x04  /* first session got audio */

struct vl {
    struct io io;
    struct run *run;
    struct oggv ov;
    struct play play;
    uint64_t intended_us;    /* scheduled arrival: TTFA starts here (coordinated omission) */
    uint64_t first_audio_us; /* 0 until the first audio page verified */
    uint64_t bytes;
    uint16_t status;
    uint16_t hdr_bytes;
    uint8_t state, flags;
    uint8_t st_phase; /* status line: 0 protocol, 1..3 digits, 4 done */
    uint8_t nl;       /* consecutive line ends in the header section */
};

/* vl_arm: takes <fd> (arm.h) as the listener's prepared socket and watches
 * it, before the start. */
void vl_arm(struct run *r, struct vl *v, int fd);
/* vl_launch: issues connect() (on the prepared socket, or a new one) and
 * sends the GET once writable; ends in VL_DONE with a failure counted when
 * even the socket could not be made. */
void vl_launch(struct run *r, struct vl *v, uint64_t intended_us);
/* vl_connect: the stream phase on the connecting socket <fd> (or -errno);
 * what vl_launch does after the bookkeeping (join.c calls it once a ticket
 * is in hand). */
void vl_connect(struct run *r, struct vl *v, int fd);
/* vl_finish: ends the session at <now_us> with <how> ("completed",
 * "reconnect", ...) and accounts it; closes the socket. */
void vl_finish(struct vl *v, uint64_t now_us, const char *how);
/* vl_sweep: periodic stall check. */
void vl_sweep(struct vl *v, uint64_t now_us);

#endif
