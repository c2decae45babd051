/* test_jbuf: the jitter buffer on a simulated network and a simulated
 * 20 ms tick, all on an injected clock. Each packet's payload carries its
 * frame number, so what is played can be checked frame by frame. */
#include "jbuf.h"

#include <stdlib.h>

#include "t.h"

#define TICK_US 20000ull
#define T0_US 1000000000ull /* an arbitrary start on the monotonic clock */

struct pkt {
    uint64_t at_us; /* arrival */
    uint16_t seq;
    uint32_t ts;
    uint32_t frame; /* what the payload says */
    uint32_t len;   /* 0: 4 bytes */
};

struct run {
    unsigned idle, packets, missing, fec_offered, restarts;
    unsigned order_errors; /* frames played out of order or twice */
    int64_t last_frame;    /* last frame played */
    unsigned first_packet_tick;
    unsigned missing_after; /* MISSING ticks at or after run.count_from */
    unsigned count_from;
    uint32_t until_frame; /* stop once this frame has played (0: run all ticks) */
    unsigned next, k;     /* where a run resumes: next packet, next tick */
};

static uint64_t rng_state = 88172645463325252ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

static int by_arrival(const void *a, const void *b)
{
    const struct pkt *x = a, *y = b;
    if (x->at_us != y->at_us) return x->at_us < y->at_us ? -1 : 1;
    return x->frame < y->frame ? -1 : x->frame > y->frame;
}

/* A sender: <n> packets, frame i sent at T0 + i * <send_us> (drift when not
 * TICK_US), with seq/ts from <seq0>/<ts0>. */
static struct pkt *stream(unsigned n, uint16_t seq0, uint32_t ts0, uint64_t send_us)
{
    struct pkt *p = calloc(n, sizeof(*p));
    for (unsigned i = 0; i < n; i++) {
        p[i].at_us = T0_US + i * send_us + 5000; /* 5 ms of network */
        p[i].seq = (uint16_t)(seq0 + i);
        p[i].ts = ts0 + i * JBUF_FRAME_SAMPLES;
        p[i].frame = i;
    }
    return p;
}

/* Plays <ticks> ticks from <t0_us>: before each tick, every packet that has
 * arrived is pushed; then one pop. A second call with the same <r> and
 * packets resumes where the first stopped. */
static void play(struct jbuf *jb, struct pkt *p, unsigned n, uint64_t t0_us, unsigned ticks,
                 struct run *r)
{
    if (r->k == 0) {
        if (n) qsort(p, n, sizeof(*p), by_arrival);
        r->last_frame = r->last_frame ? r->last_frame : -1;
    }
    unsigned end = r->k + ticks;
    for (unsigned k = r->k; k < end; k++, r->k = k) {
        unsigned next = r->next;
        uint64_t now = t0_us + k * TICK_US;
        for (; next < n && p[next].at_us <= now; next++) {
            uint8_t buf[JBUF_PAYLOAD_BYTES_MAX + 1] = {0};
            memcpy(buf, &p[next].frame, 4);
            jbuf_push(jb, p[next].seq, p[next].ts, buf, p[next].len ? p[next].len : 4,
                      p[next].at_us);
        }
        r->next = next;
        struct jbuf_frame f;
        switch (jbuf_pop(jb, now, &f)) {
        case JBUF_IDLE:
            r->idle++;
            break;
        case JBUF_PACKET: {
            uint32_t fr;
            memcpy(&fr, f.data, 4);
            if ((int64_t)fr <= r->last_frame) r->order_errors++;
            r->last_frame = fr;
            if (!r->packets) r->first_packet_tick = k;
            r->packets++;
            if (f.restart) r->restarts++;
            if (r->until_frame && fr == r->until_frame) {
                r->k = k + 1;
                return;
            }
            break;
        }
        case JBUF_MISSING:
            r->missing++;
            if (k >= r->count_from) r->missing_after++;
            if (f.fec_data) r->fec_offered++;
            break;
        }
    }
}

static struct jbuf_config cfg_default(void)
{
    struct jbuf_config c = JBUF_CONFIG_DEFAULT;
    return c;
}

static void test_config(void)
{
    struct jbuf_config c = cfg_default();
    CHECK_EQ(jbuf_config_check(&c), 0);
    c.delay_min_us = c.delay_max_us + 1;
    CHECK(jbuf_config_check(&c) < 0);
    c = cfg_default();
    c.delay_max_us = JBUF_DELAY_US_LIMIT + 1;
    CHECK(jbuf_config_check(&c) < 0);
    c = cfg_default();
    c.idle_us = c.delay_max_us - 1;
    CHECK(jbuf_config_check(&c) < 0);
}

/* In order, steady: plays every frame once, after about the least delay. */
static void test_in_order(void)
{
    struct jbuf_config c = cfg_default();
    static struct jbuf jb;
    jbuf_init(&jb, &c);
    struct pkt *p = stream(500, 100, 12345, TICK_US);
    struct run r = {0};
    play(&jb, p, 500, T0_US, 510, &r);
    CHECK_EQ(r.packets, 500);
    CHECK_EQ(r.order_errors, 0);
    CHECK_EQ(r.restarts, 1);
    CHECK_EQ(r.last_frame, 499);
    /* 60 ms least delay: the first frame plays 3-4 ticks after it came. */
    CHECK(r.first_packet_tick >= 3 && r.first_packet_tick <= 4);
    CHECK_EQ(jb.stats.lost, 0);
    CHECK_EQ(jb.stats.late, 0);
    CHECK_EQ(jb.stats.accepted, 500);
    CHECK_EQ(jbuf_target_us(&jb), 60000);
    free(p);
}

/* Sequence numbers and timestamps wrap in the middle of the stream. */
static void test_wrap(void)
{
    struct jbuf_config c = cfg_default();
    static struct jbuf jb;
    jbuf_init(&jb, &c);
    struct pkt *p = stream(300, 65500, 0xffffffffu - 100 * JBUF_FRAME_SAMPLES, TICK_US);
    struct run r = {0};
    play(&jb, p, 300, T0_US, 310, &r);
    CHECK_EQ(r.packets, 300);
    CHECK_EQ(r.order_errors, 0);
    CHECK_EQ(jb.stats.lost, 0);
    CHECK_EQ(jb.stats.out_of_range, 0);
    free(p);
}

/* Reordering by up to 3 packets and duplicates: every frame once, in
 * order, no concealment once playing. */
static void test_reorder_and_duplicates(void)
{
    struct jbuf_config c = cfg_default();
    static struct jbuf jb;
    jbuf_init(&jb, &c);
    unsigned n = 1000;
    struct pkt *p = stream(n, 7, 99, TICK_US);
    struct pkt *all = calloc(n + n / 10, sizeof(*all));
    unsigned m = 0;
    for (unsigned i = 0; i < n; i++) {
        p[i].at_us += (uint64_t)(rnd() % 4) * TICK_US; /* up to 3 packets late */
        all[m++] = p[i];
        if (i % 10 == 3) { /* a duplicate, soon after */
            all[m] = p[i];
            all[m++].at_us += 7000;
        }
    }
    /* The delay settles in the first 2 s. */
    struct run r = {.count_from = 100, .until_frame = n - 1};
    play(&jb, all, m, T0_US, n + 20, &r);
    CHECK_EQ(r.packets, n);
    CHECK_EQ(r.order_errors, 0);
    CHECK_EQ(r.missing_after, 0);
    CHECK_EQ(r.missing, jb.stats.stretches); /* growing the delay, nothing lost */
    CHECK_EQ(jb.stats.duplicates, n / 10);
    CHECK_EQ(jb.stats.lost, 0);
    CHECK_EQ(jb.stats.late, 0);
    free(p);
    free(all);
}

/* 10% loss: MISSING exactly for the lost frames, FEC offered when the next
 * frame is there, losses counted by sequence number. */
static void test_loss(void)
{
    struct jbuf_config c = cfg_default();
    static struct jbuf jb;
    jbuf_init(&jb, &c);
    unsigned n = 1000, kept = 0, lost = 0, lost_next_kept = 0;
    struct pkt *p = stream(n, 1, 1, TICK_US);
    struct pkt *q = calloc(n, sizeof(*q));
    bool drop[1000] = {0};
    for (unsigned i = 1; i < n - 1; i++)
        drop[i] = rnd() % 10 == 0;
    for (unsigned i = 0; i < n; i++) {
        if (drop[i]) {
            lost++;
            if (!drop[i + 1]) lost_next_kept++;
        } else {
            q[kept++] = p[i];
        }
    }
    struct run r = {.until_frame = n - 1};
    play(&jb, q, kept, T0_US, n + 10, &r);
    CHECK_EQ(r.packets, kept);
    CHECK_EQ(r.missing, lost);
    CHECK_EQ(jb.stats.stretches, 0); /* loss alone never grows the delay */
    CHECK_EQ(r.fec_offered, lost_next_kept);
    CHECK_EQ(jb.stats.lost, lost);
    CHECK_EQ(r.order_errors, 0);
    free(p);
    free(q);
}

/* Late packets are counted and dropped; a copy of a played frame is a
 * duplicate, not late; junk sizes are malformed. */
static void test_late_dup_malformed(void)
{
    struct jbuf_config c = cfg_default();
    static struct jbuf jb;
    jbuf_init(&jb, &c);
    struct pkt *p = stream(101, 1, 1, TICK_US);
    p[50].at_us += 500000; /* half a second late */
    p[100] = p[52];        /* a copy of frame 52 after it played */
    p[100].at_us = T0_US + 60 * TICK_US;
    struct run r = {.until_frame = 99};
    play(&jb, p, 101, T0_US, 120, &r);
    CHECK_EQ(jb.stats.duplicates, 1);
    CHECK_EQ(jb.stats.late, 1);
    CHECK_EQ(jb.stats.lost, 1);
    CHECK_EQ(r.packets, 99);
    CHECK_EQ(r.missing, 1);
    CHECK_EQ(r.order_errors, 0);

    uint8_t b[4] = {0};
    CHECK_EQ(jbuf_push(&jb, 1, 1, b, 0, T0_US), JBUF_MALFORMED);
    CHECK_EQ(jbuf_push(&jb, 1, 1, b, JBUF_PAYLOAD_BYTES_MAX + 1, T0_US), JBUF_MALFORMED);
    CHECK_EQ(jbuf_push(&jb, 1, 1, NULL, 4, T0_US), JBUF_MALFORMED);
    CHECK_EQ(jb.stats.malformed, 3);
    free(p);
}

/* Jitter of 60, 150 and 190 ms (each packet delayed by a uniform random
 * amount up to that): the delay grows to cover it, and once adapted nothing
 * is late or concealed. When the jitter goes, the delay comes down. */
static void test_jitter_adapts(void)
{
    static const uint32_t jitters_us[] = {60000, 150000, 190000};
    for (unsigned j = 0; j < 3; j++) {
        uint32_t jit = jitters_us[j];
        struct jbuf_config c = cfg_default();
        static struct jbuf jb;
        jbuf_init(&jb, &c);
        unsigned n = 2500; /* 50 s */
        struct pkt *p = stream(n, 1000, 5, TICK_US);
        for (unsigned i = 0; i < 1500; i++)
            p[i].at_us += (uint64_t)(rnd() % (jit + 1));
        struct run r = {.count_from = 250}; /* judged after 5 s of adaptation */
        play(&jb, p, n, T0_US, 1500, &r);
        uint32_t target_jittery = jbuf_target_us(&jb);
        uint32_t delay_jittery = jbuf_delay_us(&jb, T0_US + 1500 * TICK_US);
        CHECK(target_jittery >= jit - 10000);
        CHECK(target_jittery <= 200000);
        CHECK(delay_jittery >= jit - 30000);
        uint32_t j_jittery = jbuf_jitter_us(&jb);
        CHECK(j_jittery > jit / 6);
        CHECK_EQ(r.missing_after, 0);
        uint64_t late_adapting = jb.stats.late;
        uint64_t shrinks_before = jb.stats.shrinks;
        unsigned missing_jittery = r.missing;

        /* Then a calm network for 20 s (frames of the jittery phase still
         * in flight may stretch at first). */
        r.count_from = 1510;
        r.missing_after = 0;
        play(&jb, p, n, T0_US, 1000, &r);
        CHECK(r.missing - missing_jittery <= 5);
        CHECK_EQ(r.missing_after, 0);
        CHECK_EQ(jb.stats.late, late_adapting);
        CHECK_EQ(jb.stats.lost, late_adapting);
        CHECK_EQ(jbuf_target_us(&jb), 60000);
        CHECK(jbuf_delay_us(&jb, T0_US + 2500 * TICK_US) <= 60000 + 30000);
        if (jit > 60000) CHECK(jb.stats.shrinks > shrinks_before);
        CHECK_EQ(r.order_errors, 0);
        printf("jitter %u ms: target %u us, delay %u us, J %u us, late while adapting %llu\n",
               jit / 1000, target_jittery, delay_jittery, j_jittery,
               (unsigned long long)late_adapting);
        free(p);
    }
}

/* A sender whose clock runs 0.5% fast or slow: the buffer drops or holds a
 * frame now and then and its delay stays bounded; nothing is lost. */
static void test_drift(void)
{
    for (int dir = -1; dir <= 1; dir += 2) {
        struct jbuf_config c = cfg_default();
        static struct jbuf jb;
        jbuf_init(&jb, &c);
        unsigned n = 3000;                                           /* 60 s */
        uint64_t send_us = (uint64_t)((int64_t)TICK_US + dir * 100); /* +-0.5 % */
        struct pkt *p = stream(n, 1, 1, send_us);
        struct run r = {0};
        unsigned ticks = (unsigned)((uint64_t)n * send_us / TICK_US);
        play(&jb, p, n, T0_US, ticks, &r);
        CHECK_EQ(jb.stats.lost, 0);
        CHECK_EQ(jb.stats.late, 0);
        CHECK_EQ(r.order_errors, 0);
        uint32_t delay = jbuf_delay_us(&jb, T0_US + (uint64_t)ticks * TICK_US);
        CHECK(delay <= 60000 + 40000);
        if (dir < 0) { /* fast sender: about 15 frames too many in 60 s */
            CHECK(jb.stats.shrinks >= 10 && jb.stats.shrinks <= 20);
            CHECK_EQ(jb.stats.overflow, 0);
        } else { /* slow sender: about 15 frames too few */
            CHECK(jb.stats.stretches >= 10 && jb.stats.stretches <= 20);
        }
        free(p);
    }
}

/* DTX: the sender skips 500 ms of silence with contiguous sequence
 * numbers. Nothing is counted lost and playout resumes on time. */
static void test_dtx_gap(void)
{
    struct jbuf_config c = cfg_default();
    static struct jbuf jb;
    jbuf_init(&jb, &c);
    struct pkt *p = stream(200, 40, 40, TICK_US);
    for (unsigned i = 100; i < 200; i++) { /* frames 100.. are sent 25 frames later */
        p[i].at_us += 25 * TICK_US;
        p[i].ts += 25 * JBUF_FRAME_SAMPLES;
    }
    struct run r = {.until_frame = 199};
    play(&jb, p, 200, T0_US, 240, &r);
    CHECK_EQ(r.packets, 200);
    CHECK_EQ(r.missing, 25);
    CHECK_EQ(jb.stats.lost, 0);
    CHECK_EQ(jb.stats.late, 0);
    CHECK_EQ(jb.stats.starts, 1);
    free(p);
}

/* A speaker that stops, then comes back with a new stream (new seq and ts)
 * after 2 s: the buffer goes idle, then restarts, flagging the restart. */
static void test_stop_and_restart(void)
{
    struct jbuf_config c = cfg_default();
    static struct jbuf jb;
    jbuf_init(&jb, &c);
    struct pkt *a = stream(100, 1, 1, TICK_US);
    struct run r = {0};
    play(&jb, a, 100, T0_US, 100, &r);
    struct run gap = {0};
    play(&jb, NULL, 0, T0_US + 100 * TICK_US, 100, &gap); /* 2 s of nothing */
    CHECK(!jbuf_playing(&jb));
    CHECK(gap.idle >= 40);
    CHECK(gap.missing <= 55);
    struct pkt *b = stream(100, 30000, 77777777, TICK_US);
    for (unsigned i = 0; i < 100; i++)
        b[i].at_us += 200 * TICK_US;
    struct run r2 = {0};
    play(&jb, b, 100, T0_US + 200 * TICK_US, 110, &r2);
    CHECK_EQ(r2.packets, 100);
    CHECK_EQ(r2.restarts, 1);
    CHECK_EQ(jb.stats.starts, 2);
    CHECK_EQ(jb.stats.resyncs, 0);
    free(a);
    free(b);
}

/* A sender that restarts at once with unrelated seq/ts: after three
 * out-of-range packets the buffer resyncs to the new stream. */
static void test_resync_without_gap(void)
{
    struct jbuf_config c = cfg_default();
    static struct jbuf jb;
    jbuf_init(&jb, &c);
    struct pkt *p = stream(300, 1, 1, TICK_US);
    for (unsigned i = 150; i < 300; i++) {
        p[i].seq = (uint16_t)(9000 + i);
        p[i].ts = 0x80000000u + i * JBUF_FRAME_SAMPLES;
    }
    struct run r = {0};
    play(&jb, p, 300, T0_US, 320, &r);
    CHECK_EQ(jb.stats.out_of_range, JBUF_RESYNC_PACKETS);
    CHECK_EQ(jb.stats.resyncs, 1);
    CHECK_EQ(r.restarts, 2);
    /* Two packets of the new stream were out of range, and what the old
     * stream still had buffered went with the resync; the rest plays. */
    CHECK(r.packets >= 150 + 150 - (JBUF_RESYNC_PACKETS - 1) - 5);
    CHECK(r.packets < 150 + 150 - (JBUF_RESYNC_PACKETS - 1));
    CHECK_EQ(r.last_frame, 299);
    free(p);
}

/* A burst far ahead of the play position makes room by dropping the oldest
 * frames, which are counted; the window never holds more than JBUF_SLOTS. */
static void test_early_overflow(void)
{
    struct jbuf_config c = cfg_default();
    static struct jbuf jb;
    jbuf_init(&jb, &c);
    uint8_t b[4] = {0};
    for (unsigned i = 0; i < 10; i++)
        CHECK_EQ(jbuf_push(&jb, (uint16_t)i, i * JBUF_FRAME_SAMPLES, b, 4, T0_US + i * TICK_US),
                 JBUF_ACCEPTED);
    /* Frame JBUF_SLOTS + 4, at the same time as frame 9, pushes frames 0..4
     * out; being that far ahead of real time, it does not move the delay. */
    CHECK_EQ(jbuf_push(&jb, JBUF_SLOTS + 4, (JBUF_SLOTS + 4) * JBUF_FRAME_SAMPLES, b, 4,
                       T0_US + 9 * TICK_US),
             JBUF_ACCEPTED);
    CHECK_EQ(jb.stats.overflow, 5);
    struct jbuf_frame f;
    enum jbuf_pop_kind k = jbuf_pop(&jb, T0_US + 10 * TICK_US, &f);
    CHECK_EQ(k, JBUF_PACKET);
    CHECK_EQ(f.seq, 5);
    CHECK_EQ(jb.stats.shrinks, 0);
    /* Far beyond even that: out of range, the buffer is untouched. */
    CHECK_EQ(jbuf_push(&jb, 999, 5000 * JBUF_FRAME_SAMPLES, b, 4, T0_US), JBUF_OUT_OF_RANGE);
    CHECK_EQ(jb.stats.overflow, 5);
}

/* The ticks jump 400 ms (a mixer that skipped 20 ticks) while packets
 * keep arriving: the buffer drops what those ticks would have played at
 * once instead of carrying 400 ms of extra delay for seconds; nothing is
 * counted lost. */
static void test_tick_jump_catches_up(void)
{
    struct jbuf_config c = cfg_default();
    static struct jbuf jb;
    jbuf_init(&jb, &c);
    struct pkt *p = stream(300, 1, 1, TICK_US);
    struct run r = {0};
    play(&jb, p, 300, T0_US, 100, &r);
    uint32_t before = jbuf_delay_us(&jb, T0_US + 100 * TICK_US);
    /* Resume 20 ticks later: the packets of the gap are pushed by then. */
    r.k += 20;
    play(&jb, p, 300, T0_US, 1, &r);
    uint32_t after = jbuf_delay_us(&jb, T0_US + r.k * TICK_US);
    CHECK(jb.stats.shrinks >= 18);
    CHECK(after <= before + 30000);
    play(&jb, p, 300, T0_US, 150, &r);
    CHECK_EQ(jb.stats.lost, 0);
    CHECK_EQ(jb.stats.late, 0);
    CHECK_EQ(r.order_errors, 0);
    CHECK_EQ(r.missing, 0);
    free(p);
}

int main(void)
{
    T_RUN(test_config);
    T_RUN(test_in_order);
    T_RUN(test_wrap);
    T_RUN(test_reorder_and_duplicates);
    T_RUN(test_loss);
    T_RUN(test_late_dup_malformed);
    T_RUN(test_jitter_adapts);
    T_RUN(test_drift);
    T_RUN(test_dtx_gap);
    T_RUN(test_stop_and_restart);
    T_RUN(test_resync_without_gap);
    T_RUN(test_early_overflow);
    T_RUN(test_tick_jump_catches_up);
    T_DONE();
}
