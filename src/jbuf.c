/* jbuf: one speaker's jitter buffer. See jbuf.h for the model. */
#include "jbuf.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

enum { ST_IDLE, ST_PRIMING, ST_PLAYING };
enum { SLOT_EMPTY, SLOT_READY, SLOT_PLAYED };

/* Transit extremes are kept per window of this length; the estimate spans
 * the current and the previous window, so 2-4 s of history. */
#define WINDOW_US 2000000
/* Delay more than this above the goal is shrunk by dropping a frame; above
 * one frame so that one drop never undershoots into a stretch. */
#define SHRINK_HYST_US 30000
/* Delay this far above the goal is not drift but ticks that jumped (a
 * stalled mixer skipping ahead): caught up at once, not a frame per 200 ms. */
#define CATCHUP_US 120000
/* One interarrival difference counts at most this much in J, so a single
 * absurd timestamp cannot pin the estimate for seconds. */
#define JITTER_STEP_US_MAX 1000000

_Static_assert((JBUF_SLOTS & (JBUF_SLOTS - 1)) == 0, "JBUF_SLOTS must be a power of two");
_Static_assert(JBUF_PAYLOAD_BYTES_MAX <= UINT16_MAX, "slot length is 16 bits");

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b < 0) ? q - 1 : q;
}

/* Media time of <rel> samples from the origin, in microseconds. */
static int64_t samples_us(int64_t rel)
{
    return floor_div(rel * 125, 6); /* 1e6 / 48000 = 125 / 6 */
}

static struct jbuf_slot *slot_of(struct jbuf *jb, int64_t frame)
{
    return &jb->slots[(uint64_t)frame & (JBUF_SLOTS - 1)];
}

/* The slot holding <frame> ready to play, or NULL. */
static struct jbuf_slot *ready_at(struct jbuf *jb, int64_t frame)
{
    struct jbuf_slot *s = slot_of(jb, frame);
    return (s->state == SLOT_READY && s->frame == frame) ? s : NULL;
}

static void clear_slots(struct jbuf *jb)
{
    for (unsigned i = 0; i < JBUF_SLOTS; i++)
        jb->slots[i].state = SLOT_EMPTY;
}

int jbuf_config_check(const struct jbuf_config *cfg)
{
    if (cfg->delay_min_us > cfg->delay_max_us) return -EINVAL;
    if (cfg->delay_max_us > JBUF_DELAY_US_LIMIT) return -EINVAL;
    if (cfg->idle_us < cfg->delay_max_us) return -EINVAL;
    return 0;
}

void jbuf_init(struct jbuf *jb, const struct jbuf_config *cfg)
{
    assert(jbuf_config_check(cfg) == 0);
    memset(jb, 0, sizeof(*jb));
    jb->cfg = *cfg;
    jb->state = ST_IDLE;
}

void jbuf_reset(struct jbuf *jb)
{
    jb->state = ST_IDLE;
    clear_slots(jb);
}

/* Starts a new stream whose origin is <ts>. J is kept as a prior (same
 * speaker, same network); everything tied to the old origin goes. */
static void stream_start(struct jbuf *jb, uint32_t ts)
{
    clear_slots(jb);
    jb->state = ST_PRIMING;
    jb->restart_pending = true;
    jb->have_seq = false;
    jb->have_transit = false;
    jb->ts_ref = ts;
    jb->rel_ref = 0;
    jb->play = 0;
    jb->hi = 0;
    jb->out_of_range_run = 0;
    jb->stats.starts++;
}

/* Feeds one transit time (arrival minus media time) to the estimators. */
static void estimate(struct jbuf *jb, int64_t transit_us, uint64_t arrival_us)
{
    if (!jb->have_transit) {
        jb->have_transit = true;
        jb->win_min_us[0] = jb->win_min_us[1] = transit_us;
        jb->win_max_us[0] = jb->win_max_us[1] = transit_us;
        jb->win_start_us = arrival_us;
    } else {
        int64_t d = transit_us - jb->prev_transit_us;
        if (d < 0) d = -d;
        if (d > JITTER_STEP_US_MAX) d = JITTER_STEP_US_MAX;
        /* RFC 3550 6.4.1: J += (|D| - J) / 16, kept times 16. */
        jb->jitter_q4_us += (uint64_t)d - ((jb->jitter_q4_us + 8) >> 4);
        if ((int64_t)(arrival_us - jb->win_start_us) >= WINDOW_US) {
            jb->win_min_us[1] = jb->win_min_us[0];
            jb->win_max_us[1] = jb->win_max_us[0];
            jb->win_min_us[0] = jb->win_max_us[0] = transit_us;
            jb->win_start_us = arrival_us;
        } else {
            if (transit_us < jb->win_min_us[0]) jb->win_min_us[0] = transit_us;
            if (transit_us > jb->win_max_us[0]) jb->win_max_us[0] = transit_us;
        }
    }
    jb->prev_transit_us = transit_us;
}

static int64_t baseline_us(const struct jbuf *jb)
{
    return jb->win_min_us[0] < jb->win_min_us[1] ? jb->win_min_us[0] : jb->win_min_us[1];
}

uint32_t jbuf_jitter_us(const struct jbuf *jb)
{
    return (uint32_t)(jb->jitter_q4_us >> 4);
}

uint32_t jbuf_target_us(const struct jbuf *jb)
{
    int64_t t = 3 * (int64_t)jbuf_jitter_us(jb);
    if (jb->have_transit) {
        int64_t hi = jb->win_max_us[0] > jb->win_max_us[1] ? jb->win_max_us[0] : jb->win_max_us[1];
        int64_t spread = hi - baseline_us(jb);
        if (spread > t) t = spread;
    }
    if (t < jb->cfg.delay_min_us) t = jb->cfg.delay_min_us;
    if (t > jb->cfg.delay_max_us) t = jb->cfg.delay_max_us;
    return (uint32_t)t;
}

bool jbuf_playing(const struct jbuf *jb)
{
    return jb->state != ST_IDLE;
}

/* Playout offset at <now_us>: tick time minus media time of the next frame. */
static int64_t offset_us(const struct jbuf *jb, uint64_t now_us)
{
    return (int64_t)now_us - jb->play * JBUF_FRAME_US;
}

uint32_t jbuf_delay_us(const struct jbuf *jb, uint64_t now_us)
{
    if (jb->state != ST_PLAYING || !jb->have_transit) return 0;
    int64_t d = offset_us(jb, now_us) - baseline_us(jb);
    return d < 0 ? 0 : (uint32_t)d;
}

/* Records <s> as consumed (played or dropped) for loss counting and
 * duplicate detection. */
static void consume(struct jbuf *jb, struct jbuf_slot *s)
{
    s->state = SLOT_PLAYED;
    jb->last_seq = s->seq;
    jb->last_frame = s->frame;
    jb->have_seq = true;
}

enum jbuf_push_result jbuf_push(struct jbuf *jb, uint16_t seq, uint32_t ts, const uint8_t *data,
                                uint32_t len, uint64_t arrival_us)
{
    jb->stats.pushed++;
    if (!data || len == 0 || len > JBUF_PAYLOAD_BYTES_MAX) {
        jb->stats.malformed++;
        return JBUF_MALFORMED;
    }
    if (jb->state == ST_IDLE) stream_start(jb, ts);

    int64_t rel = jb->rel_ref + (int32_t)(ts - jb->ts_ref);
    int64_t frame = floor_div(rel + JBUF_FRAME_SAMPLES / 2, JBUF_FRAME_SAMPLES);
    if (frame >= jb->play + JBUF_SLOTS + JBUF_JUMP_FRAMES_MAX ||
        frame < jb->play - JBUF_JUMP_FRAMES_MAX) {
        jb->stats.out_of_range++;
        if (++jb->out_of_range_run < JBUF_RESYNC_PACKETS) return JBUF_OUT_OF_RANGE;
        jb->stats.resyncs++;
        stream_start(jb, ts);
        rel = 0;
        frame = 0;
    }
    jb->out_of_range_run = 0;

    struct jbuf_slot *s = slot_of(jb, frame);
    int64_t transit_us = (int64_t)arrival_us - samples_us(rel);
    if (frame < jb->play) {
        if (jb->state == ST_PRIMING && jb->hi - frame < JBUF_SLOTS) {
            jb->play = frame; /* an earlier packet overtaken before playout began */
        } else if (s->state != SLOT_EMPTY && s->frame == frame) {
            jb->stats.duplicates++;
            return JBUF_DUPLICATE;
        } else {
            /* Its transit is what the delay must cover next time. */
            estimate(jb, transit_us, arrival_us);
            jb->stats.late++;
            return JBUF_LATE;
        }
    }
    if (s->state == SLOT_READY && s->frame == frame) {
        jb->stats.duplicates++;
        return JBUF_DUPLICATE;
    }
    /* Too early for the window: the oldest frames make room. A live
     * source never runs this far ahead of real time, so its transit is
     * not a baseline to steer by. */
    bool early = frame >= jb->play + JBUF_SLOTS;
    while (frame >= jb->play + JBUF_SLOTS) {
        struct jbuf_slot *old = ready_at(jb, jb->play);
        if (old) {
            consume(jb, old);
            jb->stats.overflow++;
        }
        jb->play++;
    }

    s->frame = frame;
    s->ts = ts;
    s->seq = seq;
    s->len = (uint16_t)len;
    s->state = SLOT_READY;
    memcpy(s->data, data, len);
    if (frame > jb->hi) jb->hi = frame;
    jb->ts_ref = ts;
    jb->rel_ref = rel;
    if (!early) estimate(jb, transit_us, arrival_us);
    jb->last_arrival_us = arrival_us;
    jb->stats.accepted++;
    return JBUF_ACCEPTED;
}

static bool holds_ready(struct jbuf *jb)
{
    for (int64_t f = jb->play; f < jb->play + JBUF_SLOTS; f++)
        if (ready_at(jb, f)) return true;
    return false;
}

enum jbuf_pop_kind jbuf_pop(struct jbuf *jb, uint64_t now_us, struct jbuf_frame *out)
{
    memset(out, 0, sizeof(*out));
    if (jb->state == ST_IDLE) return JBUF_IDLE;

    int64_t desired = baseline_us(jb) + jbuf_target_us(jb);
    int64_t offset = offset_us(jb, now_us);
    struct jbuf_slot *s = ready_at(jb, jb->play);
    if (!s && (int64_t)(now_us - jb->last_arrival_us) >= jb->cfg.idle_us && !holds_ready(jb)) {
        jbuf_reset(jb); /* the speaker went away: the next packet starts afresh */
        return JBUF_IDLE;
    }
    if (jb->state == ST_PRIMING) {
        if (offset < desired) return JBUF_IDLE;
        jb->state = ST_PLAYING;
        jb->ticks_since_shrink = 0;
    }
    jb->ticks_since_shrink++;

    if (s) {
        struct jbuf_slot *next = ready_at(jb, jb->play + 1);
        if (offset - desired > CATCHUP_US) {
            /* The ticks jumped ahead (the mixer skipped some): the frames
             * they would have played are history, drop them at once. */
            while (next && offset - desired > SHRINK_HYST_US) {
                consume(jb, s);
                jb->stats.shrinks++;
                jb->play++;
                offset -= JBUF_FRAME_US;
                s = next;
                next = ready_at(jb, jb->play + 1);
            }
            jb->ticks_since_shrink = 0;
        } else if (next && offset - desired > SHRINK_HYST_US &&
                   jb->ticks_since_shrink >= JBUF_SHRINK_TICKS_MIN) {
            consume(jb, s);
            jb->stats.shrinks++;
            jb->play++;
            jb->ticks_since_shrink = 0;
            s = next;
        }
        if (jb->have_seq) {
            /* Capped by the frames skipped: a sender may jump its sequence. */
            int64_t gap = (uint16_t)(s->seq - jb->last_seq - 1);
            int64_t frames = s->frame - jb->last_frame - 1;
            assert(frames >= 0);
            if (gap < 0x8000) jb->stats.lost += (uint64_t)(gap < frames ? gap : frames);
        }
        consume(jb, s);
        out->data = s->data;
        out->len = s->len;
        out->seq = s->seq;
        out->ts = s->ts;
        out->restart = jb->restart_pending;
        jb->restart_pending = false;
        jb->play++;
        jb->stats.played++;
        return JBUF_PACKET;
    }

    jb->stats.missing++;
    if (offset < desired) {
        /* Not lost yet: hold the frame, the delay grows by one tick. */
        jb->stats.stretches++;
        return JBUF_MISSING;
    }
    struct jbuf_slot *next = ready_at(jb, jb->play + 1);
    if (next) {
        out->fec_data = next->data;
        out->fec_len = next->len;
    }
    jb->play++;
    return JBUF_MISSING;
}
