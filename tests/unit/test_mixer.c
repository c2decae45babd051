/* test_mixer: what a listener would hear. Speakers are tones encoded with
 * libopus here; the program and the returns are decoded with libopus and
 * judged spectrally (Goertzel power at the tones against an off-frequency)
 * and frame by frame (no silent holes, no clipping). The network is
 * simulated on an injected clock. */
#include "mixer.h"

#include <errno.h>
#include <math.h>
#include <opus.h>
#include <stdlib.h>

#include "t.h"

#define TICK_US 20000ull
#define T0_US 5000000000ull
#define FS 48000
#define FRAME 960

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

/* One packet in flight. */
struct pkt {
    uint64_t at_us;
    uint32_t speaker;
    uint16_t seq;
    uint32_t ts;
    uint32_t len;
    uint8_t data[2048];
};

struct net {
    struct pkt *p;
    unsigned n, cap, next;
};

static void net_add(struct net *net, const struct pkt *p)
{
    if (net->n == net->cap) {
        net->cap = net->cap ? net->cap * 2 : 256;
        net->p = realloc(net->p, net->cap * sizeof(*net->p));
    }
    net->p[net->n++] = *p;
}

static int by_arrival(const void *a, const void *b)
{
    const struct pkt *x = a, *y = b;
    if (x->at_us != y->at_us) return x->at_us < y->at_us ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* A speaker: a sine of <freq> Hz at <amp>, encoded as the browser would. */
struct talker {
    OpusEncoder *enc;
    double freq, amp;
    uint64_t t;
    uint16_t seq;
    uint32_t ts;
};

static void talker_init(struct talker *tk, double freq, double amp)
{
    int err;
    memset(tk, 0, sizeof(*tk));
    tk->enc = opus_encoder_create(FS, 1, OPUS_APPLICATION_AUDIO, &err);
    opus_encoder_ctl(tk->enc, OPUS_SET_BITRATE(32000));
    tk->freq = freq;
    tk->amp = amp;
    tk->seq = (uint16_t)rnd();
    tk->ts = rnd();
}

/* The next 20 ms as a packet (seq, ts advanced). */
static void talker_next(struct talker *tk, struct pkt *p)
{
    float pcm[FRAME];
    for (int i = 0; i < FRAME; i++, tk->t++)
        pcm[i] = (float)(tk->amp * sin(2.0 * M_PI * tk->freq * (double)tk->t / FS));
    opus_int32 n = opus_encode_float(tk->enc, pcm, FRAME, p->data, sizeof(p->data));
    p->len = n > 0 ? (uint32_t)n : 0;
    p->seq = tk->seq++;
    p->ts = tk->ts;
    tk->ts += FRAME;
}

/* A decoded stream, whole. */
struct heard {
    OpusDecoder *dec;
    float *pcm;
    size_t n;
    unsigned packets, empty;
};

static void heard_init(struct heard *h, size_t frames)
{
    int err;
    h->dec = opus_decoder_create(FS, 1, &err);
    h->pcm = calloc(frames * FRAME, sizeof(float));
    h->n = 0;
    h->packets = h->empty = 0;
}

static void heard_add(struct heard *h, const uint8_t *p, uint32_t len)
{
    h->packets++;
    if (!len) h->empty++;
    int n = opus_decode_float(h->dec, len ? p : NULL, (opus_int32)len, h->pcm + h->n, FRAME, 0);
    if (n > 0) h->n += (size_t)n;
}

static void heard_free(struct heard *h)
{
    opus_decoder_destroy(h->dec);
    free(h->pcm);
}

/* Goertzel power of <f> Hz over x[0..n). */
static double power_at(const float *x, size_t n, double f)
{
    double w = 2.0 * cos(2.0 * M_PI * f / FS), s1 = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        double s0 = x[i] + w * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    return (s1 * s1 + s2 * s2 - w * s1 * s2) / ((double)n * n);
}

static double rms(const float *x, size_t n)
{
    double e = 0;
    for (size_t i = 0; i < n; i++)
        e += (double)x[i] * x[i];
    return sqrt(e / (double)n);
}

static double peak(const float *x, size_t n)
{
    double p = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(x[i]) > p) p = fabs(x[i]);
    return p;
}

#define SPEAKERS_T 4

/* A run: <ticks> ticks; each speaker sends one packet per tick through
 * <net> (the caller shapes arrival times in a hook); the program and each
 * return are decoded. */
struct session {
    struct mixer *m;
    struct talker tk[SPEAKERS_T];
    unsigned speakers;
    struct net net;
    struct heard program;
    struct heard ret[SPEAKERS_T];
    unsigned ticks_done;
    unsigned ts_errors; /* program timestamps not advancing by one frame */
    bool active_seen[SPEAKERS_T];
};

static void session_init(struct session *s, const double *freqs, const double *amps,
                         unsigned speakers, unsigned ticks)
{
    memset(s, 0, sizeof(*s));
    struct mixer_config cfg;
    mixer_config_default(&cfg);
    s->m = mixer_new(&cfg);
    s->speakers = speakers;
    heard_init(&s->program, ticks);
    for (unsigned i = 0; i < speakers; i++) {
        talker_init(&s->tk[i], freqs[i], amps[i]);
        heard_init(&s->ret[i], ticks);
        CHECK_EQ(mixer_add(s->m, 100 + i), 0);
    }
}

static void session_free(struct session *s)
{
    mixer_free(s->m);
    heard_free(&s->program);
    for (unsigned i = 0; i < s->speakers; i++) {
        heard_free(&s->ret[i]);
        opus_encoder_destroy(s->tk[i].enc);
    }
    free(s->net.p);
}

/* Generates <ticks> packets per speaker; <shape>(speaker, i, &pkt) may set
 * arrival time, drop (return false) or corrupt the packet. */
typedef bool (*shape_fn)(unsigned speaker, unsigned i, struct pkt *p);

static void session_send(struct session *s, unsigned ticks, shape_fn shape)
{
    for (unsigned i = 0; i < ticks; i++) {
        for (unsigned k = 0; k < s->speakers; k++) {
            struct pkt p;
            talker_next(&s->tk[k], &p);
            p.speaker = 100 + k;
            p.at_us = T0_US + (uint64_t)i * TICK_US + 3000;
            if (shape && !shape(k, i, &p)) continue;
            net_add(&s->net, &p);
        }
    }
    qsort(s->net.p, s->net.n, sizeof(*s->net.p), by_arrival);
}

static void session_run(struct session *s, unsigned ticks)
{
    for (unsigned t = 0; t < ticks; t++, s->ticks_done++) {
        uint64_t now = T0_US + (uint64_t)s->ticks_done * TICK_US;
        for (; s->net.next < s->net.n && s->net.p[s->net.next].at_us <= now; s->net.next++) {
            struct pkt *p = &s->net.p[s->net.next];
            mixer_push(s->m, p->speaker, p->seq, p->ts, p->data, p->len, p->at_us);
        }
        struct mixer_out out;
        CHECK_EQ(mixer_tick(s->m, now, &out), 0);
        if (out.ts != (uint64_t)s->ticks_done * FRAME) s->ts_errors++;
        heard_add(&s->program, out.program, out.program_len);
        CHECK_EQ(out.returns, mixer_speakers(s->m));
        for (unsigned r = 0; r < out.returns; r++) {
            unsigned k = out.ret[r].speaker_id - 100;
            if (k >= s->speakers) continue;
            if (out.ret[r].active) s->active_seen[k] = true;
            if (out.ret[r].shared) CHECK(out.ret[r].data == out.program);
            heard_add(&s->ret[k], out.ret[r].data, out.ret[r].len);
        }
    }
}

/* The last <sec> seconds of <h>. */
static const float *tail(const struct heard *h, double sec, size_t *n)
{
    *n = (size_t)(sec * FS);
    if (*n > h->n) *n = h->n;
    return h->pcm + h->n - *n;
}

/* Two speakers, 440 Hz and 660 Hz: the program carries both; each
 * speaker's return carries the other's tone and not their own. */
static void test_two_tones(void)
{
    const double f[] = {440, 660}, a[] = {0.3, 0.3};
    struct session s;
    session_init(&s, f, a, 2, 150);
    session_send(&s, 150, NULL);
    session_run(&s, 150);
    size_t n;
    const float *x = tail(&s.program, 2.0, &n);
    double p440 = power_at(x, n, 440), p660 = power_at(x, n, 660), off = power_at(x, n, 550);
    CHECK(p440 > 1000 * off);
    CHECK(p660 > 1000 * off);
    CHECK(p440 > 0.01); /* amplitude 0.3: power about 0.0225 */
    CHECK(p660 > 0.01);
    x = tail(&s.ret[0], 2.0, &n); /* speaker at 440 hears 660 only */
    double r0_own = power_at(x, n, 440), r0_other = power_at(x, n, 660);
    CHECK(r0_other > 0.01);
    CHECK(r0_other > 1000 * r0_own);
    x = tail(&s.ret[1], 2.0, &n); /* speaker at 660 hears 440 only */
    double r1_own = power_at(x, n, 660), r1_other = power_at(x, n, 440);
    CHECK(r1_other > 0.01);
    CHECK(r1_other > 1000 * r1_own);
    printf("program: 440 %.2g, 660 %.2g, 550 %.2g; returns own/other %.2g/%.2g, %.2g/%.2g\n", p440,
           p660, off, r0_own, r0_other, r1_own, r1_other);
    CHECK_EQ(s.ts_errors, 0);
    CHECK_EQ(s.program.empty, 0);
    struct mixer_stats st;
    mixer_stats(s.m, &st);
    CHECK_EQ(st.ticks, 150);
    CHECK_EQ(st.bad_payload, 0);
    CHECK_EQ(st.lost, 0);
    CHECK(st.returns_encoded > 0);
    session_free(&s);
}

static bool lossy_reordered(unsigned speaker, unsigned i, struct pkt *p)
{
    if (speaker != 0) return true;
    if (i > 10 && rnd() % 10 == 0) return false; /* 10% loss */
    p->at_us += (uint64_t)(rnd() % 4) * TICK_US; /* up to 3 packets out of order */
    return true;
}

/* Frames (20 ms each) of x[from..) whose RMS is below <floor>. */
static unsigned holes(const struct heard *h, size_t from_frame, double floor)
{
    unsigned n = 0;
    for (size_t f = from_frame; (f + 1) * FRAME <= h->n; f++)
        if (rms(h->pcm + f * FRAME, FRAME) < floor) n++;
    return n;
}

/* 10% loss and reordering by up to 3 packets on one speaker: a packet every
 * tick, no silent hole in the decoded program, the tone still there. */
static void test_loss_and_reorder(void)
{
    const double f[] = {440}, a[] = {0.3};
    struct session s;
    session_init(&s, f, a, 1, 500);
    session_send(&s, 500, lossy_reordered);
    session_run(&s, 500);
    CHECK_EQ(s.program.packets, 500);
    CHECK_EQ(s.program.empty, 0);
    CHECK_EQ(s.ts_errors, 0);
    /* From 0.2 s on (buffering done), every 20 ms carries the tone at more
     * than a third of its level: concealment fills every gap. */
    unsigned h = holes(&s.program, 10, 0.3 / sqrt(2) / 3);
    CHECK_EQ(h, 0);
    struct mixer_stats st;
    mixer_stats(s.m, &st);
    CHECK(st.lost >= 30 && st.lost <= 70);
    CHECK(st.concealed >= st.lost);
    CHECK_EQ(st.silenced, 0);
    size_t n;
    const float *x = tail(&s.program, 8.0, &n);
    CHECK(power_at(x, n, 440) > 100 * power_at(x, n, 550));
    printf("loss+reorder: lost %llu, concealed %llu, late %llu, holes %u\n",
           (unsigned long long)st.lost, (unsigned long long)st.concealed,
           (unsigned long long)st.late, h);
    session_free(&s);
}

static bool jittery(unsigned speaker, unsigned i, struct pkt *p)
{
    p->at_us += rnd() % 150001; /* up to 150 ms of jitter */
    return true;
}

/* Jitter up to 150 ms: the delay grows, and after 5 s nothing is
 * concealed any more. */
static void test_jitter(void)
{
    const double f[] = {440}, a[] = {0.3};
    struct session s;
    session_init(&s, f, a, 1, 1000);
    session_send(&s, 1000, jittery);
    session_run(&s, 250);
    struct mixer_speaker_stats a5;
    CHECK_EQ(mixer_speaker_stats(s.m, 100, &a5), 0);
    session_run(&s, 750);
    struct mixer_speaker_stats b;
    CHECK_EQ(mixer_speaker_stats(s.m, 100, &b), 0);
    CHECK_EQ(b.concealed, a5.concealed);
    CHECK_EQ(b.jbuf.lost, a5.jbuf.lost);
    CHECK_EQ(b.silenced, a5.silenced);
    CHECK(b.jbuf.stretches > 0);
    CHECK_EQ(holes(&s.program, 250, 0.3 / sqrt(2) / 3), 0);
    session_free(&s);
}

/* Two speakers at full scale: the sum peaks at twice full scale, the
 * decoded program never reaches it, nor does a return. */
static void test_full_scale_no_clip(void)
{
    const double f[] = {440, 660}, a[] = {1.0, 1.0};
    struct session s;
    session_init(&s, f, a, 2, 250);
    session_send(&s, 250, NULL);
    session_run(&s, 250);
    double pk = peak(s.program.pcm, s.program.n);
    /* Below full scale by more than one 16-bit step: a player converting to
     * 16 bits never reaches the rails. */
    CHECK(pk < 32766.0 / 32768);
    CHECK(pk > 0.5);
    CHECK(peak(s.ret[0].pcm, s.ret[0].n) < 1.0);
    CHECK(peak(s.ret[1].pcm, s.ret[1].n) < 1.0);
    struct mixer_stats st;
    mixer_stats(s.m, &st);
    CHECK(st.clip_prevented > 1000);
    size_t n;
    const float *x = tail(&s.program, 3.0, &n);
    CHECK(power_at(x, n, 440) > 100 * power_at(x, n, 550));
    CHECK(power_at(x, n, 660) > 100 * power_at(x, n, 550));
    printf("full scale: program peak %.3f, clip prevented %llu, clamped %llu\n", pk,
           (unsigned long long)st.clip_prevented, (unsigned long long)st.limiter_clamped);
    session_free(&s);
}

static bool dies_at_1s(unsigned speaker, unsigned i, struct pkt *p)
{
    return !(speaker == 0 && i >= 50);
}

/* A speaker that stops sending: the mix goes on, one frame per tick, the
 * other speaker unaffected; the dead one is concealed briefly, then
 * silent, then its return is the program. */
static void test_dead_speaker(void)
{
    const double f[] = {440, 660}, a[] = {0.3, 0.3};
    struct session s;
    session_init(&s, f, a, 2, 300);
    session_send(&s, 300, dies_at_1s);
    session_run(&s, 300);
    CHECK_EQ(s.program.packets, 300);
    CHECK_EQ(s.program.empty, 0);
    CHECK_EQ(s.ts_errors, 0);
    struct mixer_speaker_stats d;
    CHECK_EQ(mixer_speaker_stats(s.m, 100, &d), 0);
    CHECK_EQ(d.concealed, 5); /* plc_frames_max */
    CHECK(d.silenced > 0);
    size_t n;
    const float *x = tail(&s.program, 3.0, &n);
    CHECK(power_at(x, n, 660) > 0.01);
    CHECK(power_at(x, n, 440) < power_at(x, n, 660) / 1000);
    CHECK_EQ(holes(&s.program, 10, 0.3 / sqrt(2) / 3), 0);
    /* The dead speaker's last returns were the program itself. */
    struct mixer_out out;
    CHECK_EQ(mixer_tick(s.m, T0_US + 300 * TICK_US, &out), 0);
    CHECK(out.ret[0].shared);
    CHECK(!out.ret[0].active);
    /* The survivor is alone in the mix: nothing to send them. */
    CHECK(!out.ret[1].shared);
    CHECK(out.ret[1].silent && out.ret[1].active);
    CHECK(out.ret[1].data == NULL && out.ret[1].len == 0);
    struct mixer_stats ms;
    mixer_stats(s.m, &ms);
    CHECK(ms.returns_silent > 200);
    session_free(&s);
}

/* Garbage from one speaker: counted, concealed, never heard; the other
 * speaker's tone goes on without a hole. Packets for unknown speakers and
 * a 17th speaker are refused and counted. */
static void test_garbage(void)
{
    const double f[] = {440, 660}, a[] = {0.3, 0.3};
    struct session s;
    session_init(&s, f, a, 2, 300);
    struct mixer_config cfg;
    mixer_config_default(&cfg);
    int err;
    OpusEncoder *e40 = opus_encoder_create(FS, 1, OPUS_APPLICATION_AUDIO, &err);
    float z[2 * FRAME] = {0};
    uint8_t p40[400];
    opus_int32 n40 = opus_encode_float(e40, z, 2 * FRAME, p40, sizeof(p40)); /* 40 ms */
    CHECK(n40 > 0);
    opus_encoder_destroy(e40);
    unsigned sent_bad = 0, sent_malformed = 0;
    for (unsigned i = 0; i < 300; i++) {
        for (unsigned k = 0; k < 2; k++) {
            struct pkt p;
            talker_next(&s.tk[k], &p);
            p.speaker = 100 + k;
            p.at_us = T0_US + (uint64_t)i * TICK_US + 3000;
            if (k == 0 && i >= 100 && i < 290) { /* the last ones would stay buffered */
                switch (i % 5) {
                case 0: /* JSON where Opus should be: '{' is code 3, '"' counts 2 frames */
                    p.len = (uint32_t)snprintf((char *)p.data, sizeof(p.data), "{\"hello\":1}");
                    sent_bad++;
                    break;
                case 1: /* a 40 ms packet */
                    memcpy(p.data, p40, (size_t)n40);
                    p.len = (uint32_t)n40;
                    sent_bad++;
                    break;
                case 2: /* code 3 with zero frames */
                    p.data[0] = 0xfb;
                    p.data[1] = 0x00;
                    p.len = 2;
                    sent_bad++;
                    break;
                case 3: /* oversized */
                    memset(p.data, 0xfc, 2000);
                    p.len = 2000;
                    sent_malformed++;
                    break;
                case 4: /* code 1 (two equal frames) with an odd length */
                    p.data[0] = (uint8_t)((p.data[0] & 0xfc) | 1);
                    p.len = 4;
                    sent_bad++;
                    break;
                }
            }
            net_add(&s.net, &p);
        }
    }
    qsort(s.net.p, s.net.n, sizeof(*s.net.p), by_arrival);
    CHECK_EQ(mixer_push(s.m, 999, 1, 1, s.net.p[0].data, s.net.p[0].len, T0_US), -ENOENT);
    for (unsigned i = 0; i < 14; i++)
        CHECK_EQ(mixer_add(s.m, 1000 + i), 0);
    CHECK_EQ(mixer_add(s.m, 2000), -ENOSPC);
    CHECK_EQ(mixer_add(s.m, 100), -EEXIST);
    for (unsigned i = 0; i < 14; i++)
        CHECK_EQ(mixer_remove(s.m, 1000 + i), 0);
    CHECK_EQ(mixer_remove(s.m, 1000), -ENOENT);
    session_run(&s, 300);

    struct mixer_stats st;
    mixer_stats(s.m, &st);
    CHECK_EQ(st.bad_payload, sent_bad);
    CHECK_EQ(st.malformed, sent_malformed);
    CHECK_EQ(st.unknown_speaker, 1);
    CHECK_EQ(st.speakers_refused, 2);
    CHECK_EQ(s.program.empty, 0);
    /* Speaker 1's tone never has a hole; the garbage adds nothing loud. */
    CHECK_EQ(holes(&s.program, 10, 0.3 / sqrt(2) / 3), 0);
    CHECK(peak(s.program.pcm, s.program.n) < 0.9);
    size_t n;
    const float *x = tail(&s.program, 3.0, &n);
    CHECK(power_at(x, n, 660) > 0.01);
    /* What is left of speaker 0 is its good packets, concealed between. */
    printf("garbage: bad %llu, malformed %llu, concealed %llu, silenced %llu\n",
           (unsigned long long)st.bad_payload, (unsigned long long)st.malformed,
           (unsigned long long)st.concealed, (unsigned long long)st.silenced);
    session_free(&s);
}

static bool silent_speaker(unsigned speaker, unsigned i, struct pkt *p)
{
    return true;
}

/* Mute and silence: a muted speaker is not in the program and its return
 * is the program itself; a speaker sending digital silence leaves the mix
 * after the hangover; unmuting brings the voice back. */
static void test_mute_and_silence(void)
{
    const double f[] = {440, 660, 1000}, a[] = {0.3, 0.3, 0.0};
    struct session s;
    session_init(&s, f, a, 3, 400);
    session_send(&s, 400, silent_speaker);
    CHECK_EQ(mixer_mute(s.m, 100, true), 0);
    CHECK_EQ(mixer_mute(s.m, 999, true), -ENOENT);
    session_run(&s, 150);
    size_t n;
    const float *x = tail(&s.program, 2.0, &n);
    CHECK(power_at(x, n, 440) < power_at(x, n, 660) / 1000);
    x = tail(&s.ret[0], 2.0, &n); /* the muted speaker hears the program */
    CHECK(power_at(x, n, 660) > 0.01);
    struct mixer_out out;
    uint64_t now = T0_US + (uint64_t)s.ticks_done * TICK_US;
    for (; s.net.next < s.net.n && s.net.p[s.net.next].at_us <= now; s.net.next++) {
        struct pkt *p = &s.net.p[s.net.next];
        mixer_push(s.m, p->speaker, p->seq, p->ts, p->data, p->len, p->at_us);
    }
    CHECK_EQ(mixer_tick(s.m, now, &out), 0);
    s.ticks_done++;
    CHECK(out.ret[0].shared && !out.ret[0].active && !out.ret[0].silent);
    CHECK(!out.ret[1].shared && out.ret[1].active && out.ret[1].silent); /* alone */
    CHECK(out.ret[2].shared && !out.ret[2].active);                      /* digital silence */
    heard_add(&s.program, out.program, out.program_len);
    for (unsigned k = 0; k < 3; k++)
        heard_add(&s.ret[k], out.ret[k].data, out.ret[k].len);

    CHECK_EQ(mixer_mute(s.m, 100, false), 0);
    session_run(&s, 249);
    x = tail(&s.program, 2.0, &n);
    CHECK(power_at(x, n, 440) > 0.01);
    CHECK(power_at(x, n, 660) > 0.01);
    struct mixer_speaker_stats st;
    CHECK_EQ(mixer_speaker_stats(s.m, 102, &st), 0);
    CHECK(st.decoded > 300);
    CHECK_EQ(st.active_ticks, 0);
    CHECK_EQ(st.return_encoded, 0);
    CHECK(!s.active_seen[2]);
    session_free(&s);
}

static void test_config(void)
{
    struct mixer_config c;
    mixer_config_default(&c);
    CHECK_EQ(mixer_config_check(&c), 0);
    CHECK_EQ(c.program_bitrate_bps, 32000);
    c.program_bitrate_bps = 1000;
    CHECK_EQ(mixer_config_check(&c), -EINVAL);
    errno = 0;
    CHECK(mixer_new(&c) == NULL);
    CHECK_EQ(errno, EINVAL);
    mixer_config_default(&c);
    c.return_complexity = 11;
    CHECK_EQ(mixer_config_check(&c), -EINVAL);
    mixer_config_default(&c);
    c.jbuf.delay_max_us = 10 * 1000 * 1000;
    CHECK_EQ(mixer_config_check(&c), -EINVAL);
}

/* Program bytes over ticks 50..149 of a 440 Hz speaker at <bitrate_bps>. */
static uint64_t program_bytes(uint32_t bitrate_bps)
{
    struct mixer_config c;
    mixer_config_default(&c);
    c.program_bitrate_bps = bitrate_bps;
    struct mixer *m = mixer_new(&c);
    CHECK(m != NULL);
    CHECK_EQ(mixer_add(m, 1), 0);
    struct talker tk;
    talker_init(&tk, 440, 0.3);
    uint64_t bytes = 0;
    for (unsigned i = 0; i < 150; i++) {
        struct pkt p;
        talker_next(&tk, &p);
        uint64_t now = T0_US + i * TICK_US;
        mixer_push(m, 1, p.seq, p.ts, p.data, p.len, now);
        struct mixer_out out;
        CHECK_EQ(mixer_tick(m, now, &out), 0);
        if (i >= 50) bytes += out.program_len;
    }
    opus_encoder_destroy(tk.enc);
    mixer_free(m);
    return bytes;
}

/* The program bitrate is configurable and honoured. */
static void test_bitrate(void)
{
    uint64_t b32 = program_bytes(32000), b64 = program_bytes(64000);
    CHECK(b32 * 8 / 2 > 32000 * 8 / 10); /* 2 s of audio; VBR within 20% */
    CHECK(b32 * 8 / 2 < 32000 * 12 / 10);
    CHECK(b64 > b32 * 3 / 2);
    printf("program bitrate: %llu bit/s at 32k, %llu bit/s at 64k\n",
           (unsigned long long)(b32 * 8 / 2), (unsigned long long)(b64 * 8 / 2));
}

int main(void)
{
    T_RUN(test_config);
    T_RUN(test_bitrate);
    T_RUN(test_two_tones);
    T_RUN(test_loss_and_reorder);
    T_RUN(test_jitter);
    T_RUN(test_full_scale_no_clip);
    T_RUN(test_dead_speaker);
    T_RUN(test_garbage);
    T_RUN(test_mute_and_silence);
    T_DONE();
}
