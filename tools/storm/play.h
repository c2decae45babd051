/* play: a player's playback buffer, modelled per virtual listener.
 *
 * Playback starts with the first audio. Audio arrives in pieces (granule
 * advance), playback drains it in wall time. When the buffer runs empty the
 * player waits (rebuffering) and resumes as soon as audio arrives; an empty
 * spell longer than stall_us_min is one stall. Time is passed in (µs,
 * monotonic), so the model is tested with an injected clock.
 */
#ifndef PODIUM_PLAY_H
#define PODIUM_PLAY_H

#include <stdbool.h>
#include <stdint.h>

#define PLAY_STALL_US_MIN 1000000u /* an empty buffer for more than 1 s is a stall */

struct play {
    uint64_t base_us;  /* wall time at which buffered audio position 0 plays */
    uint64_t audio_us; /* audio received since playback started */
    uint32_t stalls;
    uint32_t stall_ms; /* total time spent in counted stalls */
    bool playing;
    bool in_stall;     /* current empty spell already counted */
};

void play_init(struct play *p);
/* play_audio: <dur_us> of audio arrived at <now_us>. Returns true when this
 * arrival ended a stall (counted earlier by play_check or now). */
bool play_audio(struct play *p, uint64_t now_us, uint64_t dur_us);
/* play_check: at <now_us> with no new audio: counts a stall once the buffer
 * has been empty for more than PLAY_STALL_US_MIN. Returns true when this call
 * counted a new stall. */
bool play_check(struct play *p, uint64_t now_us);
/* Buffered audio at <now_us> (0 when empty or not playing). */
uint64_t play_buffered_us(const struct play *p, uint64_t now_us);

#endif
