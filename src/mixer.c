/* mixer: one space's mix. See mixer.h for the signal path. */
#include "mixer.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <opus.h>
#include <stdlib.h>
#include <string.h>

#define N MIXER_FRAME_SAMPLES

/* Limiter: a smooth gain brings peaks to -2 dBFS, and a hard ceiling at
 * -1 dBFS catches what the attack lets through. Opus overshoots by up to
 * about 1 dB on decode (measured: 0.891 in, 0.99 out on two full-scale
 * tones), so what a listener decodes stays under full scale. Attack and
 * release are one-pole coefficients per sample at 48 kHz,
 * 1 - exp(-1 / (time * 48000)). */
#define LIMIT_THRESHOLD 0.7943282f /* -2 dBFS */
#define LIMIT_CEILING 0.8912509f   /* -1 dBFS */
#define LIMIT_ATTACK 0.0206192f    /* 1 ms */
#define LIMIT_RELEASE 0.0001389f   /* 150 ms */
/* A frame whose peak stays below this is silence (-80 dBFS). */
#define SILENCE_PEAK 0.0001f
#define BITRATE_BPS_MIN 6000
#define BITRATE_BPS_MAX 256000
#define PLC_FRAMES_MAX_LIMIT 50

struct limiter {
    float gain;
};

struct mixer_speaker {
    uint32_t id;
    bool muted;
    bool decoder_reset;  /* reset the decoder before the next packet */
    bool decoded_any;    /* the decoder holds a stream worth concealing */
    bool return_running; /* the return encoder is mid-stream */
    bool active;
    uint32_t plc_run;
    uint32_t hangover_ticks;
    OpusDecoder *dec;
    OpusEncoder *enc;
    struct limiter lim;
    struct mixer_speaker_stats st;
    uint32_t ret_len;
    float pcm[N];
    uint8_t ret[MIXER_PACKET_BYTES_MAX];
    struct jbuf jb;
};

struct mixer {
    struct mixer_config cfg;
    OpusEncoder *enc;
    struct limiter lim;
    uint64_t tick;
    unsigned speakers;
    struct mixer_speaker *slot[MIXER_SPEAKERS_MAX];
    struct mixer_stats own; /* space-level counters, and those of speakers gone */
    float sum[N];
    float buf[N];
    uint8_t program[MIXER_PACKET_BYTES_MAX];
};

void mixer_config_default(struct mixer_config *cfg)
{
    struct jbuf_config jc = JBUF_CONFIG_DEFAULT;
    memset(cfg, 0, sizeof(*cfg));
    cfg->program_bitrate_bps = 32000;
    cfg->return_bitrate_bps = 32000;
    cfg->program_complexity = 5;
    cfg->return_complexity = 1;
    cfg->plc_frames_max = 5;
    cfg->jbuf = jc;
}

int mixer_config_check(const struct mixer_config *cfg)
{
    if (cfg->program_bitrate_bps < BITRATE_BPS_MIN || cfg->program_bitrate_bps > BITRATE_BPS_MAX)
        return -EINVAL;
    if (cfg->return_bitrate_bps < BITRATE_BPS_MIN || cfg->return_bitrate_bps > BITRATE_BPS_MAX)
        return -EINVAL;
    if (cfg->program_complexity > 10 || cfg->return_complexity > 10) return -EINVAL;
    if (cfg->plc_frames_max > PLC_FRAMES_MAX_LIMIT) return -EINVAL;
    return jbuf_config_check(&cfg->jbuf);
}

static size_t align16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

/* Sets up an encoder in place. 0 or -EINVAL. */
static int encoder_init(OpusEncoder *e, int application, uint32_t bitrate_bps, int complexity)
{
    if (opus_encoder_init(e, MIXER_RATE_HZ, 1, application) != OPUS_OK) return -EINVAL;
    if (opus_encoder_ctl(e, OPUS_SET_BITRATE((opus_int32)bitrate_bps)) != OPUS_OK) return -EINVAL;
    if (opus_encoder_ctl(e, OPUS_SET_COMPLEXITY(complexity)) != OPUS_OK) return -EINVAL;
    return 0;
}

struct mixer *mixer_new(const struct mixer_config *cfg)
{
    if (mixer_config_check(cfg) < 0) {
        errno = EINVAL;
        return NULL;
    }
    size_t head = align16(sizeof(struct mixer));
    struct mixer *m = calloc(1, head + (size_t)opus_encoder_get_size(1));
    if (!m) return NULL;
    m->cfg = *cfg;
    m->enc = (OpusEncoder *)((char *)m + head);
    if (encoder_init(m->enc, OPUS_APPLICATION_AUDIO, cfg->program_bitrate_bps,
                     cfg->program_complexity) < 0) {
        free(m);
        errno = EINVAL;
        return NULL;
    }
    m->lim.gain = 1.0f;
    return m;
}

void mixer_free(struct mixer *m)
{
    if (!m) return;
    for (unsigned i = 0; i < MIXER_SPEAKERS_MAX; i++)
        mixer_speaker_free(m->slot[i]);
    free(m);
}

struct mixer_speaker *mixer_speaker_new(const struct mixer_config *cfg, uint32_t speaker_id)
{
    if (mixer_config_check(cfg) < 0) {
        errno = EINVAL;
        return NULL;
    }
    size_t head = align16(sizeof(struct mixer_speaker));
    size_t dec_bytes = align16((size_t)opus_decoder_get_size(1));
    struct mixer_speaker *s = calloc(1, head + dec_bytes + (size_t)opus_encoder_get_size(1));
    if (!s) return NULL;
    s->id = speaker_id;
    s->dec = (OpusDecoder *)((char *)s + head);
    s->enc = (OpusEncoder *)((char *)s + head + dec_bytes);
    if (opus_decoder_init(s->dec, MIXER_RATE_HZ, 1) != OPUS_OK ||
        encoder_init(s->enc, OPUS_APPLICATION_RESTRICTED_LOWDELAY, cfg->return_bitrate_bps,
                     cfg->return_complexity) < 0) {
        free(s);
        errno = EINVAL;
        return NULL;
    }
    s->lim.gain = 1.0f;
    jbuf_init(&s->jb, &cfg->jbuf);
    return s;
}

void mixer_speaker_free(struct mixer_speaker *s)
{
    free(s);
}

uint32_t mixer_speaker_id(const struct mixer_speaker *s)
{
    return s->id;
}

static int find(const struct mixer *m, uint32_t speaker_id)
{
    for (int i = 0; i < MIXER_SPEAKERS_MAX; i++)
        if (m->slot[i] && m->slot[i]->id == speaker_id) return i;
    return -1;
}

int mixer_attach(struct mixer *m, struct mixer_speaker *s)
{
    if (find(m, s->id) >= 0) {
        m->own.speakers_refused++;
        return -EEXIST;
    }
    for (unsigned i = 0; i < MIXER_SPEAKERS_MAX; i++) {
        if (!m->slot[i]) {
            m->slot[i] = s;
            m->speakers++;
            return 0;
        }
    }
    m->own.speakers_refused++;
    return -ENOSPC;
}

static void fold(struct mixer_stats *out, const struct mixer_speaker *s)
{
    const struct jbuf_stats *j = &s->jb.stats;
    out->packets_in += j->pushed;
    out->late += j->late;
    out->duplicates += j->duplicates;
    out->out_of_range += j->out_of_range;
    out->malformed += j->malformed;
    out->lost += j->lost;
    out->decoded += s->st.decoded;
    out->concealed += s->st.concealed;
    out->silenced += s->st.silenced;
    out->bad_payload += s->st.bad_payload;
    out->clip_prevented += s->st.clip_prevented;
}

struct mixer_speaker *mixer_detach(struct mixer *m, uint32_t speaker_id)
{
    int i = find(m, speaker_id);
    if (i < 0) return NULL;
    struct mixer_speaker *s = m->slot[i];
    m->slot[i] = NULL;
    m->speakers--;
    fold(&m->own, s);
    memset(&s->st, 0, sizeof(s->st));
    memset(&s->jb.stats, 0, sizeof(s->jb.stats));
    return s;
}

int mixer_add(struct mixer *m, uint32_t speaker_id)
{
    struct mixer_speaker *s = mixer_speaker_new(&m->cfg, speaker_id);
    if (!s) return -errno;
    int rc = mixer_attach(m, s);
    if (rc < 0) mixer_speaker_free(s);
    return rc;
}

int mixer_remove(struct mixer *m, uint32_t speaker_id)
{
    struct mixer_speaker *s = mixer_detach(m, speaker_id);
    if (!s) return -ENOENT;
    mixer_speaker_free(s);
    return 0;
}

int mixer_mute(struct mixer *m, uint32_t speaker_id, bool muted)
{
    int i = find(m, speaker_id);
    if (i < 0) return -ENOENT;
    struct mixer_speaker *s = m->slot[i];
    if (s->muted && !muted) {
        /* Packets went by undecoded: start the decoder afresh. */
        s->decoder_reset = true;
        s->decoded_any = false;
    }
    s->muted = muted;
    return 0;
}

int mixer_push(struct mixer *m, uint32_t speaker_id, uint16_t seq, uint32_t ts, const uint8_t *data,
               uint32_t len, uint64_t arrival_us)
{
    int i = find(m, speaker_id);
    if (i < 0) {
        m->own.unknown_speaker++;
        return -ENOENT;
    }
    return (int)jbuf_push(&m->slot[i]->jb, seq, ts, data, len, arrival_us);
}

/* A 20 ms Opus packet whose framing is consistent (RFC 6716 3.4). */
static bool packet_ok(const uint8_t *p, uint32_t len)
{
    if (!p || len == 0) return false;
    if (opus_packet_get_nb_samples(p, (opus_int32)len, MIXER_RATE_HZ) != N) return false;
    const unsigned char *frames[48];
    opus_int16 sizes[48];
    return opus_packet_parse(p, (opus_int32)len, NULL, frames, sizes, NULL) > 0;
}

/* One concealed frame into s->pcm: FEC from the next packet when there is
 * one, else PLC; silence (false) past plc_frames_max or before any audio. */
static bool conceal(const struct mixer *m, struct mixer_speaker *s, const uint8_t *next,
                    uint32_t next_len)
{
    if (!s->decoded_any || s->plc_run >= m->cfg.plc_frames_max) {
        s->st.silenced++;
        return false;
    }
    s->plc_run++;
    int n;
    if (packet_ok(next, next_len)) {
        s->st.fec++;
        n = opus_decode_float(s->dec, next, (opus_int32)next_len, s->pcm, N, 1);
    } else {
        n = opus_decode_float(s->dec, NULL, 0, s->pcm, N, 0);
    }
    if (n != N) {
        s->st.silenced++;
        return false;
    }
    s->st.concealed++;
    return true;
}

/* The speaker's frame for this tick into s->pcm; false for silence. */
static bool speaker_frame(const struct mixer *m, struct mixer_speaker *s, uint64_t now_us)
{
    struct jbuf_frame f;
    switch (jbuf_pop(&s->jb, now_us, &f)) {
    case JBUF_IDLE:
        s->plc_run = 0;
        s->decoded_any = false;
        return false;
    case JBUF_MISSING:
        if (s->muted) return false;
        return conceal(m, s, f.fec_data, f.fec_len);
    case JBUF_PACKET:
        break;
    }
    if (s->muted) return false;
    if (f.restart || s->decoder_reset) {
        opus_decoder_ctl(s->dec, OPUS_RESET_STATE);
        s->decoder_reset = false;
    }
    if (packet_ok(f.data, f.len) &&
        opus_decode_float(s->dec, f.data, (opus_int32)f.len, s->pcm, N, 0) == N) {
        s->st.decoded++;
        s->plc_run = 0;
        s->decoded_any = true;
        return true;
    }
    s->st.bad_payload++;
    return conceal(m, s, NULL, 0);
}

/* Limits <x> in place: never above LIMIT_CEILING. Counts samples that
 * were above full scale (<prevented>) and those the smooth gain did not
 * bring under the ceiling in time (<clamped>). */
static void limit(struct limiter *l, float *x, uint64_t *prevented, uint64_t *clamped)
{
    float g = l->gain, pk = 0.0f;
    for (unsigned i = 0; i < N; i++)
        pk = fabsf(x[i]) > pk ? fabsf(x[i]) : pk; /* fmaxf is a libm call here */
    if (g == 1.0f && pk <= LIMIT_THRESHOLD) return; /* the usual frame: nothing to do */
    for (unsigned i = 0; i < N; i++) {
        float a = fabsf(x[i]);
        float want = a > LIMIT_THRESHOLD ? LIMIT_THRESHOLD / a : 1.0f;
        g += (want - g) * (want < g ? LIMIT_ATTACK : LIMIT_RELEASE);
        float y = x[i] * g;
        if (a > 1.0f) (*prevented)++;
        if (y > LIMIT_CEILING) {
            y = LIMIT_CEILING;
            (*clamped)++;
        } else if (y < -LIMIT_CEILING) {
            y = -LIMIT_CEILING;
            (*clamped)++;
        }
        x[i] = y;
    }
    /* Float release creeps toward 1 and stalls a hair below it; within
     * 0.001 dB it is 1, and the fast path above applies again. */
    l->gain = g > 0.99988f ? 1.0f : g;
}

static bool audible(const float *x)
{
    for (unsigned i = 0; i < N; i++)
        if (fabsf(x[i]) >= SILENCE_PEAK) return true;
    return false;
}

/* Encodes <x> with <enc> into <out>. Returns the length, 0 on failure. */
static uint32_t encode(struct mixer *m, OpusEncoder *enc, const float *x, uint8_t *out)
{
    opus_int32 n = opus_encode_float(enc, x, N, out, MIXER_PACKET_BYTES_MAX);
    if (n < 0) {
        m->own.encode_errors++;
        return 0;
    }
    return (uint32_t)n;
}

int mixer_tick(struct mixer *m, uint64_t now_us, struct mixer_out *out)
{
    int rc = 0;
    unsigned active = 0;
    memset(m->sum, 0, sizeof(m->sum));
    for (unsigned i = 0; i < MIXER_SPEAKERS_MAX; i++) {
        struct mixer_speaker *s = m->slot[i];
        if (!s) continue;
        bool have = speaker_frame(m, s, now_us) && !s->muted;
        if (have && audible(s->pcm))
            s->hangover_ticks = MIXER_HANGOVER_TICKS;
        else if (!have)
            s->hangover_ticks = 0;
        else if (s->hangover_ticks)
            s->hangover_ticks--;
        s->active = have && s->hangover_ticks > 0;
        if (!s->active) continue;
        active++;
        s->st.active_ticks++;
        for (unsigned k = 0; k < N; k++)
            m->sum[k] += s->pcm[k];
    }

    memcpy(m->buf, m->sum, sizeof(m->buf));
    limit(&m->lim, m->buf, &m->own.clip_prevented, &m->own.limiter_clamped);
    out->ts = m->tick * N;
    out->program = m->program;
    out->program_len = encode(m, m->enc, m->buf, m->program);
    if (!out->program_len) rc = -EIO;

    out->returns = 0;
    for (unsigned i = 0; i < MIXER_SPEAKERS_MAX; i++) {
        struct mixer_speaker *s = m->slot[i];
        if (!s) continue;
        struct mixer_return *r = &out->ret[out->returns++];
        r->speaker_id = s->id;
        r->active = s->active;
        r->shared = r->silent = false;
        if (!s->active) {
            /* Their return is the program: nothing of theirs is in it. */
            s->return_running = false;
            r->shared = true;
            r->data = m->program;
            r->len = out->program_len;
            m->own.returns_shared++;
            continue;
        }
        if (active == 1) {
            /* Alone in the mix: the rest is exactly zero. */
            s->return_running = false;
            r->silent = true;
            r->data = NULL;
            r->len = 0;
            m->own.returns_silent++;
            continue;
        }
        if (!s->return_running) {
            opus_encoder_ctl(s->enc, OPUS_RESET_STATE);
            s->lim.gain = 1.0f;
            s->return_running = true;
        }
        for (unsigned k = 0; k < N; k++)
            m->buf[k] = m->sum[k] - s->pcm[k];
        limit(&s->lim, m->buf, &s->st.clip_prevented, &m->own.limiter_clamped);
        s->ret_len = encode(m, s->enc, m->buf, s->ret);
        if (!s->ret_len) rc = -EIO;
        s->st.return_encoded++;
        m->own.returns_encoded++;
        r->data = s->ret;
        r->len = s->ret_len;
    }
    m->tick++;
    m->own.ticks++;
    return rc;
}

void mixer_stats(const struct mixer *m, struct mixer_stats *out)
{
    *out = m->own;
    for (unsigned i = 0; i < MIXER_SPEAKERS_MAX; i++)
        if (m->slot[i]) fold(out, m->slot[i]);
}

int mixer_speaker_stats(const struct mixer *m, uint32_t speaker_id, struct mixer_speaker_stats *out)
{
    int i = find(m, speaker_id);
    if (i < 0) return -ENOENT;
    *out = m->slot[i]->st;
    out->jbuf = m->slot[i]->jb.stats;
    return 0;
}

unsigned mixer_speakers(const struct mixer *m)
{
    return m->speakers;
}
