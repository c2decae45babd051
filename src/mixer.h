/* mixer: one Stage space's mix, wire-independent.
 *
 * Up to MIXER_SPEAKERS_MAX speakers, each with a jitter buffer (jbuf), an
 * Opus decoder and, for their "return" (the program minus their own
 * voice), a limiter and an Opus encoder of their own. Once per 20 ms tick:
 *
 *   each speaker:  jbuf_pop -> validate -> decode | PLC/FEC | silence
 *                                              |
 *   program:       sum of speakers (float) -> limiter -> Opus encode (once)
 *   returns:       sum - own voice         -> limiter -> Opus encode (each)
 *
 * Audio is 48 kHz mono, 20 ms (960 samples) in and out. Speakers are
 * summed in float, so there is headroom for all of them at full scale; the
 * limiter then brings peaks to -2 dBFS with a smooth gain (1 ms attack,
 * 150 ms release, no look-ahead, so no added latency) and a hard ceiling
 * at -1 dBFS catches what the attack lets through. The decibel left is for
 * Opus, which overshoots by up to about 1 dB on decode: what a listener
 * decodes stays under full scale.
 *
 * Encoders: the program uses OPUS_APPLICATION_AUDIO: it goes to the
 * audience and may carry several voices at once, music or jingles, which
 * the speech-model path (SILK, APPLICATION_VOIP) renders worse; VOIP also
 * cost 3-4x the CPU at low complexity (docs/internals/mixer.md). Returns
 * use OPUS_APPLICATION_RESTRICTED_LOWDELAY: speakers talk with each other
 * through them, and its 2.5 ms look-ahead is 4 ms shorter.
 *
 * A speaker is "active" in a tick when it adds audio to the program:
 * unmuted, and a decoded or concealed frame above -80 dBFS within the last
 * MIXER_HANGOVER_TICKS. An inactive speaker's return is the program itself,
 * so it is not encoded again: its entry points at the program packet
 * (shared = true). An active speaker alone in the mix has silence for a
 * return: nothing is encoded and nothing should be sent (silent = true, as
 * in Opus DTX; their player conceals the gap into silence). When a return
 * goes back to its own encoder, the encoder starts from a reset state, so
 * the stream switches encoder at that moment (a one-frame splice, when the
 * speaker starts talking or someone else does). With one person talking,
 * which is most of the time, a space costs its decodes and one encode.
 *
 * Bad input never reaches the mix: a payload that is not a 20 ms Opus
 * packet, or that the decoder refuses, is counted and concealed like a lost
 * packet. Opus carries no checksum: bytes that happen to parse as a 20 ms
 * packet are decoded, and only the limiter bounds them; authenticating
 * speakers is the transport's job.
 *
 * Single-threaded. mixer_speaker_new/mixer_speaker_free allocate and
 * free; mixer_attach/mixer_detach/mixer_push/mixer_tick never do, so a
 * real-time thread can own the mixer while another thread allocates (see
 * mixthread.h).
 */
#ifndef PODIUM_MIXER_H
#define PODIUM_MIXER_H

#include <stdbool.h>
#include <stdint.h>

#include "jbuf.h"

#define MIXER_SPEAKERS_MAX 16
#define MIXER_RATE_HZ 48000
#define MIXER_FRAME_SAMPLES 960 /* 20 ms */
/* Largest packet the encoders may write (one 20 ms frame, RFC 6716). */
#define MIXER_PACKET_BYTES_MAX 1275
/* Speakers stay active this long after their last audible frame, so the
 * return encoder does not switch between words: 500 ms. */
#define MIXER_HANGOVER_TICKS 25

struct mixer_config {
    uint32_t program_bitrate_bps; /* default 32000; 6000..256000 */
    uint32_t return_bitrate_bps;  /* default 32000; 6000..256000 */
    uint8_t program_complexity;   /* Opus complexity 0..10, see the defaults below */
    uint8_t return_complexity;    /* 0..10 */
    /* Consecutive frames concealed (PLC/FEC) before a silent speaker is
     * silenced; default 5 (100 ms), at most 50. */
    uint32_t plc_frames_max;
    struct jbuf_config jbuf;
};

/* mixer_config_default: 32 kbit/s, complexity 5 for the program (heard by
 * the audience) and 1 for returns, PLC up to 100 ms, jbuf defaults. */
void mixer_config_default(struct mixer_config *cfg);

/* mixer_config_check: 0 or -EINVAL. */
int mixer_config_check(const struct mixer_config *cfg);

/* One speaker's counters. */
struct mixer_speaker_stats {
    uint64_t decoded;        /* frames decoded from packets */
    uint64_t concealed;      /* frames made by PLC, or by FEC from the next packet */
    uint64_t fec;            /* of which FEC was tried */
    uint64_t silenced;       /* missing frames past plc_frames_max: silence */
    uint64_t bad_payload;    /* not a 20 ms Opus packet, or refused by the decoder */
    uint64_t active_ticks;   /* ticks the speaker was in the program */
    uint64_t return_encoded; /* ticks their return was encoded (not shared) */
    uint64_t clip_prevented; /* return samples above full scale before the limiter */
    struct jbuf_stats jbuf;
};

/* The space's counters: speakers present and past, summed. */
struct mixer_stats {
    uint64_t ticks;
    uint64_t packets_in;       /* offered to a known speaker (= jbuf pushed) */
    uint64_t unknown_speaker;  /* packets for no attached speaker */
    uint64_t speakers_refused; /* attach refused: full, or the id is in use */
    uint64_t late, duplicates, out_of_range, malformed; /* jbuf refusals */
    uint64_t lost;                                      /* sequence numbers never played */
    uint64_t decoded, concealed, silenced;
    uint64_t bad_payload;
    uint64_t clip_prevented;  /* samples above full scale before a limiter, all outputs */
    uint64_t limiter_clamped; /* samples the smooth gain missed, hard-clamped */
    uint64_t encode_errors;
    uint64_t returns_encoded; /* return packets encoded */
    uint64_t returns_shared;  /* return entries that were the program packet */
    uint64_t returns_silent;  /* return entries with nothing to send */
};

struct mixer_return {
    uint32_t speaker_id;
    const uint8_t *data; /* NULL when silent (or when an encoder failed: len 0) */
    uint32_t len;
    bool shared; /* data is the program packet: the speaker is not in the mix */
    bool silent; /* nobody else is in the mix: send nothing this tick (DTX) */
    bool active; /* the speaker is in the program this tick (a speaking indicator) */
};

/* What a tick produced. Pointers stay valid until the next mixer_tick,
 * mixer_detach or mixer_free. */
struct mixer_out {
    uint64_t ts; /* position of this frame, 48 kHz samples since the mixer began */
    const uint8_t *program;
    uint32_t program_len; /* 0 when the encoder failed (counted) */
    unsigned returns;     /* entries in ret[], attached speakers in slot order */
    struct mixer_return ret[MIXER_SPEAKERS_MAX];
};

struct mixer;
struct mixer_speaker;

/* mixer_new: an empty space. NULL with errno set (EINVAL for a bad
 * <cfg>, ENOMEM). */
struct mixer *mixer_new(const struct mixer_config *cfg);

/* mixer_free: frees <m> and every speaker attached to it. NULL is a no-op. */
void mixer_free(struct mixer *m);

/* mixer_speaker_new: a detached speaker with id <speaker_id> (any value,
 * unique within one space), ready to attach to a mixer of the same <cfg>.
 * NULL with errno set. */
struct mixer_speaker *mixer_speaker_new(const struct mixer_config *cfg, uint32_t speaker_id);

/* mixer_speaker_free: a detached speaker. NULL is a no-op. */
void mixer_speaker_free(struct mixer_speaker *s);

/* mixer_attach: puts <s> in a free slot. 0, -ENOSPC when all
 * MIXER_SPEAKERS_MAX are taken, -EEXIST when its id is attached already
 * (both counted in speakers_refused; <s> stays the caller's). */
int mixer_attach(struct mixer *m, struct mixer_speaker *s);

/* mixer_detach: takes speaker <speaker_id> out and returns it (its counters
 * are kept in the space's totals), or NULL when no such speaker. */
struct mixer_speaker *mixer_detach(struct mixer *m, uint32_t speaker_id);

/* mixer_add, mixer_remove: speaker_new + attach, detach + free, for
 * single-threaded owners. 0 or -errno as for the parts. */
int mixer_add(struct mixer *m, uint32_t speaker_id);
int mixer_remove(struct mixer *m, uint32_t speaker_id);

/* mixer_mute: a muted speaker's packets keep flowing through its jitter
 * buffer but are not decoded nor mixed; unmuting resets its decoder. 0 or
 * -ENOENT. */
int mixer_mute(struct mixer *m, uint32_t speaker_id, bool muted);

/* mixer_push: one packet from speaker <speaker_id> (see jbuf_push for
 * <seq>, <ts>, <arrival_us>). Returns the jbuf verdict (>= 0), or -ENOENT
 * for an unknown speaker (counted). Bad payloads are caught at decode. */
int mixer_push(struct mixer *m, uint32_t speaker_id, uint16_t seq, uint32_t ts, const uint8_t *data,
               uint32_t len, uint64_t arrival_us);

/* mixer_tick: mixes and encodes one 20 ms frame for the tick at <now_us>
 * (monotonic, on the clock of the arrival times, one call per 20 ms) into
 * <out>. Always produces a program frame, silence when nobody speaks.
 * 0, or -EIO when an encoder failed (counted; that packet has length 0). */
int mixer_tick(struct mixer *m, uint64_t now_us, struct mixer_out *out);

/* mixer_stats: the space's totals. */
void mixer_stats(const struct mixer *m, struct mixer_stats *out);

/* mixer_speaker_stats: one speaker's counters. 0 or -ENOENT. */
int mixer_speaker_stats(const struct mixer *m, uint32_t speaker_id,
                        struct mixer_speaker_stats *out);

/* mixer_speakers: speakers attached. */
unsigned mixer_speakers(const struct mixer *m);

/* mixer_speaker_id: the id of a detached or attached speaker. */
uint32_t mixer_speaker_id(const struct mixer_speaker *s);

#endif
