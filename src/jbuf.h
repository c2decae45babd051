/* jbuf: one speaker's jitter buffer (Opus, 48 kHz, 20 ms packets).
 *
 * The network side pushes packets in whatever order they arrive; the mixer
 * pops exactly one frame per 20 ms tick. Playout is by timestamp, so a
 * sender that stops sending during silence (Opus DTX) resumes in the right
 * place; the sequence number only tells loss from DTX and duplicates apart.
 *
 *   frames (20 ms each, window of JBUF_SLOTS):
 *
 *        played           play                     hi
 *          v               v                        v
 *   ... [ P  | P  | P  ][ R  | -  | R  | R  | -  | R  ] ...
 *                         ^ next pop          ^ not arrived yet
 *
 * Wire-independent input, per packet:
 *  - seq: 16 bits, wraps (RTP's width; a WebSocket speaker uses the same).
 *  - ts: 32 bits in 48 kHz samples, wraps; consecutive 20 ms packets step by
 *    960. Any starting value.
 *  - payload: 1..JBUF_PAYLOAD_BYTES_MAX bytes, not interpreted here.
 *  - arrival_us: when the packet was received, monotonic microseconds.
 *
 * Playout delay: a packet is on time when its transit (arrival minus media
 * time) is at most the buffer's offset (tick time minus media time of the
 * frame being played). The buffer keeps offset near
 *     baseline + target,  baseline = least transit of the last 2-4 s,
 *     target = clamp(max(3 * J, spread), delay_min_us, delay_max_us)
 * where J is the RFC 3550 interarrival jitter (integer, 1/16 smoothing) and
 * spread the largest transit above the baseline over the same 2-4 s: J is
 * the steady estimate, spread catches stalls and bursts that J averages
 * away. Offset grows by holding a frame when its packet is missing anyway
 * (a "stretch": the caller conceals one extra frame, nothing is lost) and
 * shrinks by dropping one frame at most every JBUF_SHRINK_TICKS_MIN ticks
 * when it is more than 30 ms above the goal. The same two moves absorb
 * clock drift between sender and mixer. More than 120 ms above the goal
 * means the ticks themselves jumped (a mixer that skipped ticks): the
 * buffer drops what those ticks would have played at once.
 *
 * Resync: after idle_us without a packet (and nothing left to play) the
 * buffer goes idle and the next packet starts a new stream; three packets in
 * a row far outside the window (a restarted sender with new seq/ts) do the
 * same. A new stream is flagged on its first frame so the caller resets its
 * decoder.
 *
 * Single-threaded: push and pop from one thread. Memory is fixed at init
 * (JBUF_SLOTS payloads inside the struct); nothing allocates.
 */
#ifndef PODIUM_JBUF_H
#define PODIUM_JBUF_H

#include <stdbool.h>
#include <stdint.h>

#define JBUF_FRAME_SAMPLES 960 /* 20 ms at 48 kHz */
#define JBUF_FRAME_US 20000
/* Largest payload taken: one 20 ms Opus frame is at most 1275 bytes
 * (RFC 6716 3.2.1), 510 kbit/s, far above any voice use. */
#define JBUF_PAYLOAD_BYTES_MAX 1275
/* Window of frames held from the play position: 640 ms, room for the
 * largest target delay plus a burst of early packets. */
#define JBUF_SLOTS 32
/* Largest delay_max_us accepted: leaves 6 frames of the window for early
 * packets and hysteresis. */
#define JBUF_DELAY_US_LIMIT ((JBUF_SLOTS - 6) * JBUF_FRAME_US)
/* A packet further than this beyond the window (either side) is from
 * another stream, not merely early or late: 1 s. */
#define JBUF_JUMP_FRAMES_MAX 50
/* Consecutive out-of-range packets that make the buffer resync. */
#define JBUF_RESYNC_PACKETS 3
/* At most one frame dropped to shrink the delay per this many ticks
 * (200 ms: a 200 -> 60 ms shrink takes 1.4 s, one skip never heard twice). */
#define JBUF_SHRINK_TICKS_MIN 10

struct jbuf_config {
    uint32_t delay_min_us; /* least target delay; default 60 ms */
    uint32_t delay_max_us; /* largest target delay; default 200 ms, <= JBUF_DELAY_US_LIMIT */
    uint32_t idle_us;      /* no packet for this long and nothing left: idle; default 1 s */
};

#define JBUF_CONFIG_DEFAULT                                                                        \
    {                                                                                              \
        .delay_min_us = 60000, .delay_max_us = 200000, .idle_us = 1000000                          \
    }

struct jbuf_stats {
    uint64_t pushed;       /* every jbuf_push call */
    uint64_t accepted;     /* stored for playout */
    uint64_t duplicates;   /* a frame already held or just played */
    uint64_t late;         /* arrived after its frame was played (or concealed) */
    uint64_t out_of_range; /* timestamp far outside the window */
    uint64_t malformed;    /* empty or larger than JBUF_PAYLOAD_BYTES_MAX */
    uint64_t overflow;     /* held frames dropped because a packet came too early */
    uint64_t shrinks;      /* frames dropped to bring the delay down (or drift) */
    uint64_t stretches;    /* ticks held back to grow the delay (or drift) */
    uint64_t played;       /* frames popped as packets */
    uint64_t missing;      /* ticks popped as JBUF_MISSING, stretches included */
    uint64_t lost;         /* sequence numbers never played (late ones included) */
    uint64_t starts;       /* streams started: first packet, after idle, resyncs */
    uint64_t resyncs;      /* of which forced by out-of-range packets */
};

enum jbuf_push_result {
    JBUF_ACCEPTED,
    JBUF_DUPLICATE,
    JBUF_LATE,
    JBUF_OUT_OF_RANGE,
    JBUF_MALFORMED,
};

enum jbuf_pop_kind {
    JBUF_IDLE,    /* not started, priming, or the speaker went away: silence */
    JBUF_PACKET,  /* decode frame->data */
    JBUF_MISSING, /* conceal one frame (PLC, or FEC from frame->fec_data) */
};

struct jbuf_frame {
    const uint8_t *data; /* JBUF_PACKET: the payload */
    uint32_t len;
    uint16_t seq;
    uint32_t ts;
    bool restart; /* JBUF_PACKET: first frame of a new stream; reset the decoder */
    /* JBUF_MISSING: the next frame's packet when it is already here (its
     * in-band FEC may rebuild this one), else NULL. */
    const uint8_t *fec_data;
    uint32_t fec_len;
};

struct jbuf_slot {
    int64_t frame; /* frame number relative to the stream origin */
    uint32_t ts;
    uint16_t seq;
    uint16_t len;
    uint8_t state; /* empty, ready, played */
    uint8_t data[JBUF_PAYLOAD_BYTES_MAX];
};

struct jbuf {
    struct jbuf_config cfg;
    uint8_t state; /* idle, priming, playing */
    bool restart_pending;
    bool have_seq;
    bool have_transit;
    uint16_t last_seq;  /* last sequence number played or dropped... */
    int64_t last_frame; /* ...and its frame */
    uint32_t ts_ref;    /* unwrapping: the last accepted timestamp... */
    int64_t rel_ref;    /* ...and its position in samples from the origin */
    int64_t play;       /* next frame to pop */
    int64_t hi;         /* highest frame stored since the start */
    int64_t prev_transit_us;
    uint64_t jitter_q4_us;                /* RFC 3550 J, times 16 */
    int64_t win_min_us[2], win_max_us[2]; /* transit extremes: current, previous window */
    uint64_t win_start_us;
    uint64_t last_arrival_us;
    uint32_t out_of_range_run;
    uint32_t ticks_since_shrink;
    struct jbuf_stats stats;
    struct jbuf_slot slots[JBUF_SLOTS];
};

/* jbuf_config_check: 0, or -EINVAL when delay_min_us > delay_max_us,
 * delay_max_us > JBUF_DELAY_US_LIMIT, or idle_us < delay_max_us. */
int jbuf_config_check(const struct jbuf_config *cfg);

/* jbuf_init: an idle buffer. <cfg> must pass jbuf_config_check (asserted). */
void jbuf_init(struct jbuf *jb, const struct jbuf_config *cfg);

/* jbuf_reset: drops everything held; the next packet starts a new stream.
 * Statistics are kept. */
void jbuf_reset(struct jbuf *jb);

/* jbuf_push: offers one packet. Never fails hard: what cannot be used is
 * counted and reported, and leaves the buffer as it was (except that
 * JBUF_RESYNC_PACKETS out-of-range packets in a row restart the stream with
 * the last of them, reported as JBUF_ACCEPTED). */
enum jbuf_push_result jbuf_push(struct jbuf *jb, uint16_t seq, uint32_t ts, const uint8_t *data,
                                uint32_t len, uint64_t arrival_us);

/* jbuf_pop: the frame for the tick at <now_us>; call exactly once per 20 ms
 * tick, with tick times on the same clock as arrival times. Pointers in
 * <out> stay valid until the next push or pop on <jb>. */
enum jbuf_pop_kind jbuf_pop(struct jbuf *jb, uint64_t now_us, struct jbuf_frame *out);

/* jbuf_jitter_us: the RFC 3550 interarrival jitter estimate. */
uint32_t jbuf_jitter_us(const struct jbuf *jb);

/* jbuf_target_us: the playout delay the buffer is steering to, above the
 * least transit seen. */
uint32_t jbuf_target_us(const struct jbuf *jb);

/* jbuf_delay_us: the current playout delay above the least transit seen at
 * <now_us> (what target_us steers), 0 when not playing. */
uint32_t jbuf_delay_us(const struct jbuf *jb, uint64_t now_us);

/* jbuf_playing: a stream is started (priming or playing). */
bool jbuf_playing(const struct jbuf *jb);

#endif
