/* mixer: what Stage mixing costs, per speaker and per space.
 *
 * N spaces of K speakers, of which T talk (a voice-like signal, each speaker
 * its own pitch) and the others are quiet: they send digitally silent
 * packets (--quiet send: a muted microphone) or nothing (--quiet none: a
 * client that stops sending, or Opus DTX). Packets are encoded once before
 * the run; the run measures the mixer only: jitter buffers, decoding,
 * concealment, summing, limiting, and encoding the program and the returns.
 *
 *   mixer [--spaces 100] [--speakers 4] [--talking K] [--quiet send|none]
 *         [--seconds 10] [--speaker-app voip|audio]
 *         [--program-complexity C] [--return-complexity C] [--bitrate BPS]
 *         [--realtime] [--rt-priority P]
 *
 * Default (simulated): one thread runs seconds * 50 ticks back to back and
 * reads its own CPU clock: CPU-us per tick, per space-tick, per
 * speaker-tick, and the share of one core that mixing in real time would
 * take. --realtime: the same spaces on mixthread, on the real 20 ms clock,
 * fed by this thread as the network loop would: deadline misses, skipped
 * ticks, tick work, and the mix thread's own CPU share.
 *
 * Before the run, the libopus floor: what one decode and one encode of these
 * packets cost on this machine, so the mixer's own overhead shows.
 */
#include <errno.h>
#include <math.h>
#include <opus.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "mixer.h"
#include "mixthread.h"

#pragma GCC poison strcpy sprintf gets strtok atoi

#define FS 48000
#define FRAME 960
#define LOOP_FRAMES 100 /* 2 s of each voice, sent round and round */
#define SPEAKERS_MAX MIXER_SPEAKERS_MAX
#define SPACES_MAX 4096

struct voice {
    uint8_t pkt[LOOP_FRAMES][512];
    uint32_t len[LOOP_FRAMES];
};

struct opts {
    unsigned spaces, speakers, talking, seconds;
    bool quiet_send, realtime;
    int speaker_app;
    int program_complexity, return_complexity; /* -1: mixer default */
    uint32_t bitrate_bps;
    int rt_priority;
};

static struct voice voices[SPEAKERS_MAX];
static struct voice silence;

static uint64_t cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A voice-like signal: harmonics of a gliding pitch through three formants,
 * with a syllable envelope and a little noise, around -16 dBFS. */
static void voice_synth(float *out, uint64_t t0, double f0_hz)
{
    static uint32_t noise = 12345;
    for (unsigned i = 0; i < FRAME; i++) {
        double s = (double)(t0 + i) / FS;
        double f0 = f0_hz * (1.0 + 0.08 * sin(2 * M_PI * 0.7 * s));
        double v = 0;
        for (int h = 1; h * f0 < 4000; h++) {
            double f = f0 * h;
            double g = exp(-pow((f - 700) / 300, 2)) + 0.6 * exp(-pow((f - 1800) / 400, 2)) +
                       0.3 * exp(-pow((f - 2800) / 500, 2));
            v += g * sin(2 * M_PI * f0 * h * s);
        }
        double env = 0.55 + 0.45 * sin(2 * M_PI * 4 * s);
        noise = noise * 1103515245u + 12345u;
        out[i] = (float)(0.12 * env * v + 0.004 * ((double)(noise >> 16) / 65536.0 - 0.5));
    }
}

static int encode_voice(struct voice *v, double f0_hz, int app)
{
    int err;
    OpusEncoder *e = opus_encoder_create(FS, 1, app, &err);
    if (!e) return -1;
    opus_encoder_ctl(e, OPUS_SET_BITRATE(32000));
    float pcm[FRAME];
    for (unsigned f = 0; f < LOOP_FRAMES; f++) {
        if (f0_hz > 0)
            voice_synth(pcm, (uint64_t)f * FRAME, f0_hz);
        else
            memset(pcm, 0, sizeof(pcm));
        opus_int32 n = opus_encode_float(e, pcm, FRAME, v->pkt[f], sizeof(v->pkt[f]));
        if (n < 0) return -1;
        v->len[f] = (uint32_t)n;
    }
    opus_encoder_destroy(e);
    return 0;
}

/* The libopus floor for these packets: us per decode, per encode at the
 * program's and the returns' settings. */
static void codec_floor(const struct mixer_config *mc)
{
    int err;
    OpusDecoder *d = opus_decoder_create(FS, 1, &err);
    OpusEncoder *ep = opus_encoder_create(FS, 1, OPUS_APPLICATION_AUDIO, &err);
    OpusEncoder *er = opus_encoder_create(FS, 1, OPUS_APPLICATION_RESTRICTED_LOWDELAY, &err);
    opus_encoder_ctl(ep, OPUS_SET_BITRATE((opus_int32)mc->program_bitrate_bps));
    opus_encoder_ctl(ep, OPUS_SET_COMPLEXITY(mc->program_complexity));
    opus_encoder_ctl(er, OPUS_SET_BITRATE((opus_int32)mc->return_bitrate_bps));
    opus_encoder_ctl(er, OPUS_SET_COMPLEXITY(mc->return_complexity));
    static float pcm[LOOP_FRAMES][FRAME];
    uint8_t out[1500];
    const unsigned reps = 5;
    uint64_t t = cpu_us();
    for (unsigned r = 0; r < reps; r++)
        for (unsigned f = 0; f < LOOP_FRAMES; f++)
            if (opus_decode_float(d, voices[0].pkt[f], (opus_int32)voices[0].len[f], pcm[f], FRAME,
                                  0) != FRAME)
                fprintf(stderr, "mixer: decode failed\n");
    uint64_t dec = cpu_us() - t;
    t = cpu_us();
    for (unsigned r = 0; r < reps; r++)
        for (unsigned f = 0; f < LOOP_FRAMES; f++)
            if (opus_encode_float(ep, pcm[f], FRAME, out, 1500) < 0)
                fprintf(stderr, "mixer: encode failed\n");
    uint64_t encp = cpu_us() - t;
    t = cpu_us();
    for (unsigned r = 0; r < reps; r++)
        for (unsigned f = 0; f < LOOP_FRAMES; f++)
            if (opus_encode_float(er, pcm[f], FRAME, out, 1500) < 0)
                fprintf(stderr, "mixer: encode failed\n");
    uint64_t encr = cpu_us() - t;
    double n = reps * LOOP_FRAMES;
    printf("libopus floor: decode %.1f us, program encode %.1f us (complexity %d), "
           "return encode %.1f us (complexity %d) per 20 ms frame\n",
           dec / n, encp / n, mc->program_complexity, encr / n, mc->return_complexity);
    opus_decoder_destroy(d);
    opus_encoder_destroy(ep);
    opus_encoder_destroy(er);
}

static const struct voice *voice_of(const struct opts *o, unsigned speaker)
{
    return speaker < o->talking ? &voices[speaker] : (o->quiet_send ? &silence : NULL);
}

static void usage(void)
{
    fprintf(stderr, "usage: mixer [--spaces N] [--speakers K] [--talking T] [--quiet send|none]\n"
                    "             [--seconds S] [--speaker-app voip|audio]\n"
                    "             [--program-complexity C] [--return-complexity C]\n"
                    "             [--bitrate BPS] [--realtime] [--rt-priority P]\n");
    exit(2);
}

static unsigned number(const char *s, unsigned lo, unsigned hi)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v < lo || v > hi) usage();
    return (unsigned)v;
}

static void parse(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    o->spaces = 100;
    o->speakers = 4;
    o->talking = ~0u;
    o->seconds = 10;
    o->quiet_send = true;
    o->speaker_app = OPUS_APPLICATION_VOIP;
    o->program_complexity = o->return_complexity = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--realtime")) {
            o->realtime = true;
            continue;
        }
        if (!v) usage();
        i++;
        if (!strcmp(a, "--spaces"))
            o->spaces = number(v, 1, SPACES_MAX);
        else if (!strcmp(a, "--speakers"))
            o->speakers = number(v, 0, SPEAKERS_MAX);
        else if (!strcmp(a, "--talking"))
            o->talking = number(v, 0, SPEAKERS_MAX);
        else if (!strcmp(a, "--seconds"))
            o->seconds = number(v, 1, 3600);
        else if (!strcmp(a, "--program-complexity"))
            o->program_complexity = (int)number(v, 0, 10);
        else if (!strcmp(a, "--return-complexity"))
            o->return_complexity = (int)number(v, 0, 10);
        else if (!strcmp(a, "--bitrate"))
            o->bitrate_bps = number(v, 6000, 256000);
        else if (!strcmp(a, "--rt-priority"))
            o->rt_priority = (int)number(v, 0, 99);
        else if (!strcmp(a, "--quiet") && (!strcmp(v, "send") || !strcmp(v, "none")))
            o->quiet_send = !strcmp(v, "send");
        else if (!strcmp(a, "--speaker-app") && (!strcmp(v, "voip") || !strcmp(v, "audio")))
            o->speaker_app = !strcmp(v, "voip") ? OPUS_APPLICATION_VOIP : OPUS_APPLICATION_AUDIO;
        else
            usage();
    }
    if (o->talking > o->speakers) o->talking = o->speakers;
}

/* Simulated: all ticks back to back on this thread. */
static int run_simulated(const struct opts *o, const struct mixer_config *mc)
{
    struct mixer **m = calloc(o->spaces, sizeof(*m));
    for (unsigned s = 0; s < o->spaces; s++) {
        m[s] = mixer_new(mc);
        if (!m[s]) return 1;
        for (unsigned k = 0; k < o->speakers; k++)
            if (mixer_add(m[s], k) < 0) return 1;
    }
    unsigned ticks = o->seconds * 50;
    uint64_t t0_us = clock_mono_us(), returns_encoded = 0, returns_silent = 0, program_bytes = 0;
    uint64_t warm = 0;
    for (unsigned t = 0; t < ticks; t++) {
        /* The first 0.2 s fill the jitter buffers: not counted. */
        if (t == 10) warm = cpu_us();
        uint64_t now = t0_us + (uint64_t)t * 20000;
        for (unsigned s = 0; s < o->spaces; s++) {
            for (unsigned k = 0; k < o->speakers; k++) {
                const struct voice *v = voice_of(o, k);
                if (!v) continue;
                unsigned f = (t + s * 7) % LOOP_FRAMES; /* spaces not in lockstep */
                mixer_push(m[s], k, (uint16_t)t, t * FRAME, v->pkt[f], v->len[f], now - 5000);
            }
            struct mixer_out out;
            mixer_tick(m[s], now, &out);
            if (t >= 10) {
                program_bytes += out.program_len;
                for (unsigned r = 0; r < out.returns; r++) {
                    returns_encoded += !out.ret[r].shared && !out.ret[r].silent;
                    returns_silent += out.ret[r].silent;
                }
            }
        }
    }
    uint64_t busy = cpu_us() - warm;
    unsigned counted = ticks - 10;
    double per_tick = (double)busy / counted;
    double per_space = per_tick / o->spaces;
    double per_speaker = o->speakers ? per_tick / (o->spaces * o->speakers) : 0;
    struct mixer_stats st, sum = {0};
    for (unsigned s = 0; s < o->spaces; s++) {
        mixer_stats(m[s], &st);
        sum.bad_payload += st.bad_payload;
        sum.concealed += st.concealed;
        sum.clip_prevented += st.clip_prevented;
        sum.encode_errors += st.encode_errors;
    }
    printf("simulated: %u spaces x %u speakers (%u talking, quiet ones %s), %u ticks of 20 ms\n",
           o->spaces, o->speakers, o->talking, o->quiet_send ? "send silence" : "send nothing",
           counted);
    printf("  CPU per tick        %10.1f us  (%.1f%% of one core in real time)\n", per_tick,
           100.0 * per_tick / 20000);
    printf("  CPU per space-tick  %10.1f us\n", per_space);
    printf("  CPU per speaker-tick%10.1f us\n", per_speaker);
    printf("  returns per space-tick: %.2f encoded, %.2f silent; program %.1f kbit/s\n",
           (double)returns_encoded / counted / o->spaces,
           (double)returns_silent / counted / o->spaces,
           (double)program_bytes * 8 / counted / o->spaces * 50 / 1000);
    printf("  spaces per core at this cost: %.0f\n", 20000.0 / per_space);
    printf("  bad payloads %llu, concealed %llu, encode errors %llu\n",
           (unsigned long long)sum.bad_payload, (unsigned long long)sum.concealed,
           (unsigned long long)sum.encode_errors);
    for (unsigned s = 0; s < o->spaces; s++)
        mixer_free(m[s]);
    free(m);
    return 0;
}

/* Real time: mixthread on the real clock; this thread is the network loop. */
static int run_realtime(const struct opts *o, const struct mixer_config *mc)
{
    struct mixthread_config tc;
    mixthread_config_default(&tc);
    tc.spaces_max = o->spaces;
    tc.rt_priority = o->rt_priority;
    tc.stats_ticks = 0;
    struct mixthread *mt = mixthread_new(&tc);
    if (!mt) {
        perror("mixthread_new");
        return 1;
    }
    struct mixthread_space **sp = calloc(o->spaces, sizeof(*sp));
    for (unsigned s = 0; s < o->spaces; s++) {
        sp[s] = mixthread_space_add(mt, s, mc);
        if (!sp[s]) {
            perror("mixthread_space_add");
            return 1;
        }
        for (unsigned k = 0; k < o->speakers; k++)
            mixthread_speaker_add(mt, sp[s], k);
    }
    if (mixthread_start(mt) < 0) return 1;
    uint64_t t0 = clock_mono_us(), outputs = 0, bytes = 0, push_fail = 0;
    unsigned ticks = o->seconds * 50;
    for (unsigned t = 0; t < ticks; t++) {
        uint64_t due = t0 + (uint64_t)t * 20000;
        /* Wait for the next send time, serving output meanwhile. */
        for (;;) {
            uint64_t now = clock_mono_us();
            if (now >= due) break;
            struct pollfd p = {mixthread_fd(mt), POLLIN, 0};
            int ms = (int)((due - now + 999) / 1000);
            if (poll(&p, 1, ms) > 0) {
                uint64_t v;
                (void)!read(mixthread_fd(mt), &v, sizeof(v));
                struct mixthread_out out;
                while (mixthread_next(mt, &out) == 1) {
                    outputs++;
                    bytes += out.mix.program_len;
                }
            }
        }
        uint64_t now = clock_mono_us();
        for (unsigned s = 0; s < o->spaces; s++) {
            for (unsigned k = 0; k < o->speakers; k++) {
                const struct voice *v = voice_of(o, k);
                if (!v) continue;
                unsigned f = (t + s * 7) % LOOP_FRAMES;
                if (mixthread_push(mt, sp[s], k, (uint16_t)t, t * FRAME, v->pkt[f], v->len[f],
                                   now) < 0)
                    push_fail++;
            }
        }
    }
    uint64_t elapsed = clock_mono_us() - t0;
    uint64_t cpu = mixthread_thread_cpu_us(mt);
    mixthread_stop(mt);
    struct mixthread_stats st;
    mixthread_stats(mt, &st);
    printf("realtime: %u spaces x %u speakers (%u talking, quiet ones %s), %.1f s, "
           "SCHED_FIFO %s\n",
           o->spaces, o->speakers, o->talking, o->quiet_send ? "send silence" : "send nothing",
           elapsed / 1e6, st.realtime ? "yes" : "no");
    printf("  ticks %llu, deadline misses %llu (late starts %llu, overruns %llu), skipped %llu\n",
           (unsigned long long)st.ticks, (unsigned long long)st.deadline_misses,
           (unsigned long long)st.late_starts, (unsigned long long)st.overruns,
           (unsigned long long)st.skipped_ticks);
    printf("  tick work mean %.0f us, max %llu us; mix thread CPU %.1f%% of one core\n",
           st.ticks ? (double)st.work_us_total / st.ticks : 0.0, (unsigned long long)st.work_us_max,
           100.0 * cpu / elapsed);
    printf("  space ticks delivered %llu, dropped %llu; packets refused %llu\n",
           (unsigned long long)outputs, (unsigned long long)st.out_drops,
           (unsigned long long)push_fail);
    mixthread_free(mt);
    free(sp);
    return st.deadline_misses ? 3 : 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    parse(argc, argv, &o);
    static const double pitch_hz[SPEAKERS_MAX] = {110, 135, 165, 200, 120, 145, 180, 220,
                                                  105, 125, 155, 190, 115, 140, 175, 210};
    for (unsigned k = 0; k < SPEAKERS_MAX; k++)
        if (encode_voice(&voices[k], pitch_hz[k], o.speaker_app) < 0) return 1;
    if (encode_voice(&silence, 0, o.speaker_app) < 0) return 1;

    struct mixer_config mc;
    mixer_config_default(&mc);
    if (o.program_complexity >= 0) mc.program_complexity = (uint8_t)o.program_complexity;
    if (o.return_complexity >= 0) mc.return_complexity = (uint8_t)o.return_complexity;
    if (o.bitrate_bps) mc.program_bitrate_bps = o.bitrate_bps;
    codec_floor(&mc);
    return o.realtime ? run_realtime(&o, &mc) : run_simulated(&o, &mc);
}
