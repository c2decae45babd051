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
 *         [--realtime] [--rt-priority P] [--threads N]
 *
 * Default (simulated): each of N threads (--threads, default 1) runs its
 * share of the spaces (round robin) for seconds * 50 ticks back to back and
 * reads its own CPU clock: CPU-us per tick, per space-tick, per
 * speaker-tick, and the share of one core that mixing in real time would
 * take. --realtime: the same spaces on N mixthreads (round robin), on the
 * real 20 ms clock, fed by this one thread as the network loop would: per
 * thread and in total, deadline misses, skipped ticks, tick work, and the
 * mix threads' own CPU as a share of one core. Exit 3 on any miss.
 *
 * Before the run, the libopus floor: what one decode and one encode of these
 * packets cost on this machine, so the mixer's own overhead shows.
 */
#include <errno.h>
#include <math.h>
#include <opus.h>
#include <poll.h>
#include <pthread.h>
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
#define THREADS_MAX 64

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
    unsigned threads;
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

/* CPU us for <reps> encodes of every frame of <pcm> with <e>. */
static uint64_t time_encodes(OpusEncoder *e, float (*pcm)[FRAME], unsigned reps)
{
    uint8_t out[1500];
    uint64_t t = cpu_us();
    for (unsigned r = 0; r < reps; r++)
        for (unsigned f = 0; f < LOOP_FRAMES; f++)
            if (opus_encode_float(e, pcm[f], FRAME, out, sizeof(out)) < 0)
                fprintf(stderr, "mixer: encode failed\n");
    return cpu_us() - t;
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
    const unsigned reps = 5;
    uint64_t t = cpu_us();
    for (unsigned r = 0; r < reps; r++)
        for (unsigned f = 0; f < LOOP_FRAMES; f++)
            if (opus_decode_float(d, voices[0].pkt[f], (opus_int32)voices[0].len[f], pcm[f], FRAME,
                                  0) != FRAME)
                fprintf(stderr, "mixer: decode failed\n");
    uint64_t dec = cpu_us() - t;
    uint64_t encp = time_encodes(ep, pcm, reps);
    uint64_t encr = time_encodes(er, pcm, reps);
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
                    "             [--bitrate BPS] [--realtime] [--rt-priority P]\n"
                    "             [--threads N]\n");
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
    o->threads = 1;
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
        else if (!strcmp(a, "--threads"))
            o->threads = number(v, 1, THREADS_MAX);
        else if (!strcmp(a, "--quiet") && (!strcmp(v, "send") || !strcmp(v, "none")))
            o->quiet_send = !strcmp(v, "send");
        else if (!strcmp(a, "--speaker-app") && (!strcmp(v, "voip") || !strcmp(v, "audio")))
            o->speaker_app = !strcmp(v, "voip") ? OPUS_APPLICATION_VOIP : OPUS_APPLICATION_AUDIO;
        else
            usage();
    }
    if (o->talking > o->speakers) o->talking = o->speakers;
    if (o->threads > o->spaces) o->threads = o->spaces;
}

/* Simulated: one thread's share of the spaces (index <first>, then every
 * <step>-th), all ticks back to back. */
struct sim {
    const struct opts *o;
    const struct mixer_config *mc;
    unsigned first, step, nspaces;
    int rc;
    uint64_t busy_us, returns_encoded, returns_silent, program_bytes;
    struct mixer_stats sum;
};

static void *sim_run(void *arg)
{
    struct sim *w = arg;
    const struct opts *o = w->o;
    struct mixer **m = calloc(w->nspaces, sizeof(*m));
    w->rc = 1;
    if (!m) return NULL;
    unsigned made = 0;
    for (; made < w->nspaces; made++) {
        m[made] = mixer_new(w->mc);
        if (!m[made]) goto out_free;
        for (unsigned k = 0; k < o->speakers; k++)
            if (mixer_add(m[made], k) < 0) {
                made++;
                goto out_free;
            }
    }
    unsigned ticks = o->seconds * 50;
    uint64_t t0_us = clock_mono_us(), warm = 0;
    for (unsigned t = 0; t < ticks; t++) {
        /* The first 0.2 s fill the jitter buffers: not counted. */
        if (t == 10) warm = cpu_us();
        uint64_t now = t0_us + (uint64_t)t * 20000;
        for (unsigned j = 0; j < w->nspaces; j++) {
            unsigned s = w->first + j * w->step; /* the space's index over all threads */
            for (unsigned k = 0; k < o->speakers; k++) {
                const struct voice *v = voice_of(o, k);
                if (!v) continue;
                unsigned f = (t + s * 7) % LOOP_FRAMES; /* spaces not in lockstep */
                mixer_push(m[j], k, (uint16_t)t, t * FRAME, v->pkt[f], v->len[f], now - 5000);
            }
            struct mixer_out out;
            mixer_tick(m[j], now, &out);
            if (t >= 10) {
                w->program_bytes += out.program_len;
                for (unsigned r = 0; r < out.returns; r++) {
                    w->returns_encoded += !out.ret[r].shared && !out.ret[r].silent;
                    w->returns_silent += out.ret[r].silent;
                }
            }
        }
    }
    w->busy_us = cpu_us() - warm;
    for (unsigned j = 0; j < w->nspaces; j++) {
        struct mixer_stats st;
        mixer_stats(m[j], &st);
        w->sum.bad_payload += st.bad_payload;
        w->sum.concealed += st.concealed;
        w->sum.encode_errors += st.encode_errors;
    }
    w->rc = 0;
out_free:
    for (unsigned j = 0; j < made; j++)
        mixer_free(m[j]);
    free(m);
    return NULL;
}

static int run_simulated(const struct opts *o, const struct mixer_config *mc)
{
    static struct sim w[THREADS_MAX];
    pthread_t th[THREADS_MAX];
    unsigned n = o->threads, started = 0;
    int rc = 0;
    for (unsigned i = 0; i < n; i++) {
        w[i] = (struct sim){.o = o, .mc = mc, .first = i, .step = n};
        w[i].nspaces = (o->spaces - i + n - 1) / n;
    }
    for (; started < n; started++)
        if (pthread_create(&th[started], NULL, sim_run, &w[started])) {
            perror("pthread_create");
            rc = 1;
            break;
        }
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (rc) return rc;
    unsigned counted = o->seconds * 50 - 10;
    uint64_t busy = 0, returns_encoded = 0, returns_silent = 0, program_bytes = 0;
    struct mixer_stats sum = {0};
    for (unsigned i = 0; i < n; i++) {
        if (w[i].rc) return w[i].rc;
        busy += w[i].busy_us;
        returns_encoded += w[i].returns_encoded;
        returns_silent += w[i].returns_silent;
        program_bytes += w[i].program_bytes;
        sum.bad_payload += w[i].sum.bad_payload;
        sum.concealed += w[i].sum.concealed;
        sum.encode_errors += w[i].sum.encode_errors;
    }
    double per_tick = (double)busy / counted;
    double per_space = per_tick / o->spaces;
    double per_speaker = o->speakers ? per_tick / (o->spaces * o->speakers) : 0;
    printf("simulated: %u spaces x %u speakers (%u talking, quiet ones %s), %u ticks of 20 ms, "
           "%u thread%s\n",
           o->spaces, o->speakers, o->talking, o->quiet_send ? "send silence" : "send nothing",
           counted, n, n == 1 ? "" : "s");
    if (n > 1)
        for (unsigned i = 0; i < n; i++)
            printf("  thread %u: %u spaces, CPU per tick %.1f us (%.1f%% of one core)\n", i,
                   w[i].nspaces, (double)w[i].busy_us / counted,
                   100.0 * w[i].busy_us / counted / 20000);
    printf("  CPU per tick        %10.1f us  (%.1f%% of one core in real time%s)\n", per_tick,
           100.0 * per_tick / 20000, n > 1 ? ", all threads" : "");
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
    return 0;
}

static void print_thread(const char *label, const struct mixthread_stats *x, uint64_t cpu,
                         uint64_t elapsed_us)
{
    printf("  %s: ticks %llu, deadline misses %llu (late starts %llu, overruns %llu), "
           "skipped %llu\n",
           label, (unsigned long long)x->ticks, (unsigned long long)x->deadline_misses,
           (unsigned long long)x->late_starts, (unsigned long long)x->overruns,
           (unsigned long long)x->skipped_ticks);
    printf("    tick work mean %.0f us, max %llu us; CPU %.1f%% of one core\n",
           x->ticks ? (double)x->work_us_total / x->ticks : 0.0, (unsigned long long)x->work_us_max,
           100.0 * cpu / elapsed_us);
}

/* Real time: N mixthreads on the real clock, the spaces dealt round robin;
 * this one thread is the network loop feeding them all. */
static int run_realtime(const struct opts *o, const struct mixer_config *mc)
{
    unsigned n = o->threads;
    struct mixthread *mt[THREADS_MAX] = {0};
    struct mixthread_config tc;
    mixthread_config_default(&tc);
    tc.spaces_max = (o->spaces + n - 1) / n;
    tc.rt_priority = o->rt_priority;
    tc.stats_ticks = 0;
    int rc = 1;
    struct mixthread_space **sp = calloc(o->spaces, sizeof(*sp));
    if (!sp) return 1;
    for (unsigned i = 0; i < n; i++) {
        mt[i] = mixthread_new(&tc);
        if (!mt[i]) {
            perror("mixthread_new");
            goto out_free;
        }
    }
    for (unsigned s = 0; s < o->spaces; s++) {
        sp[s] = mixthread_space_add(mt[s % n], s, mc);
        if (!sp[s]) {
            perror("mixthread_space_add");
            goto out_free;
        }
        for (unsigned k = 0; k < o->speakers; k++)
            mixthread_speaker_add(mt[s % n], sp[s], k);
    }
    for (unsigned i = 0; i < n; i++)
        if (mixthread_start(mt[i]) < 0) goto out_free;
    uint64_t t0 = clock_mono_us(), outputs = 0, push_fail = 0;
    unsigned ticks = o->seconds * 50;
    for (unsigned t = 0; t < ticks; t++) {
        uint64_t due = t0 + (uint64_t)t * 20000;
        /* Wait for the next send time, serving output meanwhile. */
        for (;;) {
            uint64_t now = clock_mono_us();
            if (now >= due) break;
            struct pollfd p[THREADS_MAX];
            for (unsigned i = 0; i < n; i++)
                p[i] = (struct pollfd){mixthread_fd(mt[i]), POLLIN, 0};
            int ms = (int)((due - now + 999) / 1000);
            if (poll(p, n, ms) <= 0) continue;
            for (unsigned i = 0; i < n; i++) {
                if (!(p[i].revents & POLLIN)) continue;
                uint64_t v;
                (void)!read(mixthread_fd(mt[i]), &v, sizeof(v));
                struct mixthread_out out;
                while (mixthread_next(mt[i], &out) == 1)
                    outputs++;
            }
        }
        uint64_t now = clock_mono_us();
        for (unsigned s = 0; s < o->spaces; s++) {
            for (unsigned k = 0; k < o->speakers; k++) {
                const struct voice *v = voice_of(o, k);
                if (!v) continue;
                unsigned f = (t + s * 7) % LOOP_FRAMES;
                if (mixthread_push(mt[s % n], sp[s], k, (uint16_t)t, t * FRAME, v->pkt[f],
                                   v->len[f], now) < 0)
                    push_fail++;
            }
        }
    }
    uint64_t elapsed = clock_mono_us() - t0;
    struct mixthread_stats st[THREADS_MAX], all = {0};
    uint64_t cpu[THREADS_MAX], cpu_all = 0;
    unsigned realtime = 0;
    for (unsigned i = 0; i < n; i++) {
        cpu[i] = mixthread_thread_cpu_us(mt[i]);
        mixthread_stop(mt[i]);
        mixthread_stats(mt[i], &st[i]);
        cpu_all += cpu[i];
        realtime += st[i].realtime;
        all.ticks += st[i].ticks;
        all.deadline_misses += st[i].deadline_misses;
        all.late_starts += st[i].late_starts;
        all.overruns += st[i].overruns;
        all.skipped_ticks += st[i].skipped_ticks;
        all.work_us_total += st[i].work_us_total;
        if (st[i].work_us_max > all.work_us_max) all.work_us_max = st[i].work_us_max;
        all.out_drops += st[i].out_drops;
    }
    printf("realtime: %u spaces x %u speakers (%u talking, quiet ones %s), %.1f s, "
           "%u thread%s, SCHED_FIFO %u of %u\n",
           o->spaces, o->speakers, o->talking, o->quiet_send ? "send silence" : "send nothing",
           elapsed / 1e6, n, n == 1 ? "" : "s", realtime, n);
    for (unsigned i = 0; i < n; i++) {
        char label[48];
        snprintf(label, sizeof(label), "thread %u (%u spaces)", i, (o->spaces - i + n - 1) / n);
        print_thread(label, &st[i], cpu[i], elapsed);
    }
    if (n > 1) print_thread("all threads", &all, cpu_all, elapsed);
    printf("  space ticks delivered %llu, dropped %llu; packets refused %llu\n",
           (unsigned long long)outputs, (unsigned long long)all.out_drops,
           (unsigned long long)push_fail);
    rc = all.deadline_misses ? 3 : 0;
out_free:
    for (unsigned i = 0; i < n; i++)
        mixthread_free(mt[i]);
    free(sp);
    return rc;
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
