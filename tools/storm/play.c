/* play: playback-buffer model (see play.h). */
#include "play.h"

#include <string.h>

void play_init(struct play *p)
{
    memset(p, 0, sizeof(*p));
}

uint64_t play_buffered_us(const struct play *p, uint64_t now_us)
{
    if (!p->playing) return 0;
    uint64_t end = p->base_us + p->audio_us; /* when the buffer runs dry */
    return end > now_us ? end - now_us : 0;
}

bool play_check(struct play *p, uint64_t now_us)
{
    if (!p->playing || p->in_stall) return false;
    uint64_t dry = p->base_us + p->audio_us;
    if (now_us > dry && now_us - dry > PLAY_STALL_US_MIN) {
        p->in_stall = true;
        p->stalls++;
        return true;
    }
    return false;
}

bool play_audio(struct play *p, uint64_t now_us, uint64_t dur_us)
{
    bool ended = false;
    if (!p->playing) {
        p->playing = true;
        p->base_us = now_us;
        p->audio_us = dur_us;
        return false;
    }
    uint64_t dry = p->base_us + p->audio_us;
    if (now_us > dry) {
        /* The player sat empty from <dry> to now; it resumes with this audio. */
        play_check(p, now_us);
        if (p->in_stall) {
            uint64_t ms = (now_us - dry) / 1000;
            p->stall_ms += ms > UINT32_MAX - p->stall_ms ? 0 : (uint32_t)ms;
            ended = true;
        }
        p->in_stall = false;
        p->base_us = now_us - p->audio_us; /* shift playback by the wait */
    }
    p->audio_us += dur_us;
    return ended;
}
