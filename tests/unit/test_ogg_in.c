/* test_ogg_in: Ogg/Opus streams built here with ogg_page_write (and real
 * libopus packets) fed to ogg_in_feed whole, byte by byte, damaged, chained,
 * mixed with foreign pages, or wrong from the start. */
#include "ogg_in.h"

#include <math.h>
#include <opus.h>
#include <stdlib.h>

#include "t.h"

/* ---- a stream under construction ---- */

struct stream {
    uint8_t *buf;
    size_t len, cap;
    uint32_t serial, pageno;
    uint64_t granule;
};

static void st_init(struct stream *s, uint32_t serial)
{
    memset(s, 0, sizeof(*s));
    s->serial = serial;
}

static void st_bytes(struct stream *s, const void *p, size_t n)
{
    if (s->len + n > s->cap) {
        s->cap = (s->len + n) * 2;
        s->buf = realloc(s->buf, s->cap);
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
}

/* Appends one page of <n> packets; returns its offset in the stream. */
static size_t st_page(struct stream *s, uint8_t flags, const uint8_t *const *pk, const uint32_t *lens,
                      unsigned n)
{
    size_t size = ogg_page_size(lens, n), at = s->len;
    uint8_t *page = malloc(size);
    ogg_page_write(page, flags, s->granule, s->serial, s->pageno++, pk, lens, n);
    st_bytes(s, page, size);
    free(page);
    return at;
}

static void st_head(struct stream *s, uint8_t channels)
{
    uint8_t h[19], t[64];
    const char *const c[] = {"TITLE=t"};
    opus_head_write(h, channels, 312);
    uint32_t hl = 19, tl = (uint32_t)opus_tags_write(t, sizeof(t), c, 1);
    const uint8_t *hp[] = {h}, *tp[] = {t};
    st_page(s, OGG_FLAG_BOS, hp, &hl, 1);
    st_page(s, 0, tp, &tl, 1);
    s->granule = 312;
}

/* A page of <n> 20 ms CELT packets (TOC 0xf8) whose bytes are derived
 * from <tag>, so a packet delivered twice or mixed up changes the hash. */
static size_t st_audio(struct stream *s, uint8_t flags, unsigned n, uint32_t len, uint8_t tag)
{
    uint8_t *bufs[16];
    const uint8_t *pk[16];
    uint32_t lens[16];
    for (unsigned i = 0; i < n; i++) {
        bufs[i] = malloc(len);
        bufs[i][0] = 0xf8;
        for (uint32_t j = 1; j < len; j++) bufs[i][j] = (uint8_t)(tag * 31 + i * 7 + j);
        pk[i] = bufs[i];
        lens[i] = len;
    }
    s->granule += 960ull * n;
    size_t at = st_page(s, flags, pk, lens, n);
    for (unsigned i = 0; i < n; i++) free(bufs[i]);
    return at;
}

/* ---- counting callbacks ---- */

struct seen {
    unsigned heads, packets;
    uint64_t samples, hash;
    uint8_t channels[4];
    int refuse_head_at; /* refuse the head with this number (1-based); 0: never */
    uint32_t len_max;
};

static int on_head(void *ctx, const struct opus_head *h)
{
    struct seen *w = ctx;
    if (w->heads < 4) w->channels[w->heads] = h->channels;
    w->heads++;
    return (int)w->heads == w->refuse_head_at ? -1 : 0;
}

static void on_packet(void *ctx, const uint8_t *pkt, uint32_t len, int samples)
{
    struct seen *w = ctx;
    w->packets++;
    w->samples += (uint64_t)samples;
    if (len > w->len_max) w->len_max = len;
    /* FNV-1a over length and bytes, order-sensitive. */
    uint64_t h = w->hash ? w->hash : 1469598103934665603ull;
    h = (h ^ len) * 1099511628211ull;
    for (uint32_t i = 0; i < len; i++) h = (h ^ pkt[i]) * 1099511628211ull;
    w->hash = h;
}

static const struct ogg_in_ops ops = {on_head, on_packet};

/* Feeds <len> bytes in pieces of <step> (0: all at once); returns the first
 * nonzero result of ogg_in_feed, or 0. Counters are left in <in>. */
static int feed(struct ogg_in *in, const uint8_t *p, size_t len, size_t step, struct seen *w)
{
    if (!step) step = len ? len : 1;
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        int r = ogg_in_feed(in, p + off, n, &ops, w);
        if (r) return r;
    }
    return 0;
}

static int run(const struct stream *s, size_t step, struct seen *w, struct ogg_in *in)
{
    ogg_in_init(in);
    int r = feed(in, s->buf, s->len, step, w);
    ogg_in_free(in);
    return r;
}

/* ---- tests ---- */

static void test_valid_whole_and_bytewise(void)
{
    struct stream s;
    st_init(&s, 0x1234);
    st_head(&s, 2);
    for (unsigned p = 0; p < 12; p++) st_audio(&s, p == 11 ? OGG_FLAG_EOS : 0, 5, 40 + p * 90, (uint8_t)p);
    CHECK(s.len > 8192); /* exercises ogg_in_feed's own 8 KiB pieces */

    struct seen a = {0}, b = {0}, c = {0};
    struct ogg_in in;
    CHECK_EQ(run(&s, 0, &a, &in), 0);
    CHECK_EQ(a.heads, 1);
    CHECK_EQ(a.channels[0], 2);
    CHECK_EQ(a.packets, 60);
    CHECK_EQ(a.samples, 60 * 960);
    CHECK_EQ(a.len_max, 40 + 11 * 90);
    CHECK_EQ(in.pages, 14);
    CHECK_EQ(in.packets, 62); /* head and tags counted too */
    CHECK_EQ(in.bad_packets, 0);
    CHECK_EQ(in.lost, 0);
    CHECK_EQ(in.resyncs, 0);
    CHECK_EQ(in.foreign_pages, 0);
    CHECK_EQ(in.chains, 0);
    CHECK_EQ(in.head.preskip, 312);

    CHECK_EQ(run(&s, 1, &b, &in), 0);
    CHECK_EQ(b.heads, 1);
    CHECK_EQ(b.packets, a.packets);
    CHECK_EQ(b.samples, a.samples);
    CHECK(b.hash == a.hash);
    CHECK_EQ(in.pages, 14);

    CHECK_EQ(run(&s, 777, &c, &in), 0);
    CHECK_EQ(c.packets, a.packets);
    CHECK(c.hash == a.hash);
    free(s.buf);
}

static void test_real_opus_packets(void)
{
    int err;
    OpusEncoder *enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_AUDIO, &err);
    CHECK(enc != NULL && err == OPUS_OK);
    if (!enc) return;
    opus_encoder_ctl(enc, OPUS_SET_BITRATE(32000));

    struct stream s;
    st_init(&s, 77);
    st_head(&s, 1);
    float pcm[960];
    uint8_t pk[5][1500];
    const uint8_t *pp[5];
    uint32_t lens[5];
    uint64_t want = 1469598103934665603ull;
    for (unsigned page = 0; page < 10; page++) {
        for (unsigned i = 0; i < 5; i++) {
            unsigned f = page * 5 + i;
            for (unsigned j = 0; j < 960; j++)
                pcm[j] = 0.3f * sinf(2.0f * 3.14159265f * 440.0f * (float)(f * 960 + j) / 48000.0f);
            int n = opus_encode_float(enc, pcm, 960, pk[i], sizeof(pk[i]));
            CHECK(n > 0);
            lens[i] = n > 0 ? (uint32_t)n : 0;
            pp[i] = pk[i];
            want = (want ^ lens[i]) * 1099511628211ull;
            for (uint32_t k = 0; k < lens[i]; k++) want = (want ^ pk[i][k]) * 1099511628211ull;
        }
        s.granule += 5 * 960;
        st_page(&s, 0, pp, lens, 5);
    }
    opus_encoder_destroy(enc);

    struct seen w = {0};
    struct ogg_in in;
    CHECK_EQ(run(&s, 3, &w, &in), 0);
    CHECK_EQ(w.heads, 1);
    CHECK_EQ(w.packets, 50);
    CHECK_EQ(w.samples, 50 * 960);
    CHECK(w.hash == want);
    CHECK_EQ(in.bad_packets, 0);
    free(s.buf);
}

static void test_not_ogg(void)
{
    static const char http[] = "GET /live/x.opus HTTP/1.1\r\nHost: a\r\n\r\n";
    struct seen w = {0};
    struct ogg_in in;

    ogg_in_init(&in);
    CHECK_EQ(feed(&in, (const uint8_t *)http, sizeof(http) - 1, 0, &w), OGG_IN_NOT_OPUS);
    ogg_in_free(&in);
    ogg_in_init(&in);
    CHECK_EQ(feed(&in, (const uint8_t *)http, sizeof(http) - 1, 1, &w), OGG_IN_NOT_OPUS);
    ogg_in_free(&in);

    /* Junk before a valid stream: at the start that is a wrong format. */
    struct stream s;
    st_init(&s, 5);
    st_bytes(&s, "junk", 4);
    st_head(&s, 2);
    st_audio(&s, 0, 3, 50, 1);
    CHECK_EQ(run(&s, 0, &w, &in), OGG_IN_NOT_OPUS);
    CHECK_EQ(w.heads, 0);
    CHECK_EQ(w.packets, 0);
    free(s.buf);

    /* A valid first page that is not BOS. */
    st_init(&s, 5);
    st_audio(&s, 0, 3, 50, 1);
    CHECK_EQ(run(&s, 0, &w, &in), OGG_IN_NOT_OPUS);
    free(s.buf);

    /* Fewer bytes than a page header: not decided yet. */
    ogg_in_init(&in);
    CHECK_EQ(feed(&in, (const uint8_t *)http, 20, 0, &w), 0);
    ogg_in_free(&in);
    CHECK_EQ(w.packets, 0);
}

static void test_first_packet_not_head(void)
{
    struct stream s;
    struct seen w = {0};
    struct ogg_in in;
    uint8_t vorbis[30] = "\x01vorbis";
    const uint8_t *vp[] = {vorbis};
    uint32_t vl = sizeof(vorbis);
    st_init(&s, 9);
    st_page(&s, OGG_FLAG_BOS, vp, &vl, 1);
    st_audio(&s, 0, 3, 50, 1);
    CHECK_EQ(run(&s, 0, &w, &in), OGG_IN_NOT_OPUS);
    CHECK_EQ(w.heads, 0);
    free(s.buf);

    /* OpusHead of family 1 (surround): parsed, refused. */
    uint8_t h[19];
    opus_head_write(h, 2, 0);
    h[18] = 1;
    const uint8_t *hp[] = {h};
    uint32_t hl = 19;
    st_init(&s, 9);
    st_page(&s, OGG_FLAG_BOS, hp, &hl, 1);
    CHECK_EQ(run(&s, 1, &w, &in), OGG_IN_NOT_OPUS);
    CHECK_EQ(w.heads, 0);
    free(s.buf);
}

static void test_missing_tags(void)
{
    struct stream s;
    struct seen w = {0};
    struct ogg_in in;
    uint8_t h[19];
    opus_head_write(h, 2, 0);
    const uint8_t *hp[] = {h};
    uint32_t hl = 19;
    st_init(&s, 9);
    st_page(&s, OGG_FLAG_BOS, hp, &hl, 1);
    st_audio(&s, 0, 3, 50, 1);
    CHECK_EQ(run(&s, 0, &w, &in), OGG_IN_NOT_OPUS);
    CHECK_EQ(w.heads, 1);
    CHECK_EQ(w.packets, 0);
    free(s.buf);
}

static void test_corrupt_page_mid_stream(void)
{
    struct stream s;
    size_t at[8];
    st_init(&s, 3);
    st_head(&s, 2);
    for (unsigned p = 0; p < 8; p++) at[p] = st_audio(&s, 0, 4, 100, (uint8_t)p);

    struct seen clean = {0}, w = {0};
    struct ogg_in in;
    CHECK_EQ(run(&s, 0, &clean, &in), 0);
    CHECK_EQ(clean.packets, 32);

    /* Flip a payload byte of page 3: its CRC fails, its 4 packets go. */
    s.buf[at[3] + 27 + 4 + 50] ^= 0x55;
    CHECK_EQ(run(&s, 0, &w, &in), 0);
    CHECK_EQ(w.packets, 28);
    CHECK_EQ(w.samples, 28 * 960);
    CHECK(in.resyncs >= 1);
    CHECK(in.lost >= 1); /* the page sequence gap is seen */
    CHECK_EQ(in.pages, 2 + 7);
    CHECK_EQ(in.bad_packets, 0);

    /* The same, byte by byte: same packets. */
    struct seen b = {0};
    CHECK_EQ(run(&s, 1, &b, &in), 0);
    CHECK_EQ(b.packets, 28);
    CHECK(b.hash == w.hash);

    /* Damage to the capture pattern of page 5 as well. */
    s.buf[at[5]] = 'X';
    struct seen c = {0};
    CHECK_EQ(run(&s, 0, &c, &in), 0);
    CHECK_EQ(c.packets, 24);
    CHECK(in.resyncs >= 1);
    free(s.buf);
}

static void test_chained(void)
{
    struct stream a, b;
    st_init(&a, 100);
    st_head(&a, 2);
    for (unsigned p = 0; p < 3; p++) st_audio(&a, p == 2 ? OGG_FLAG_EOS : 0, 2, 60, (uint8_t)p);
    st_init(&b, 200);
    st_head(&b, 1);
    for (unsigned p = 0; p < 2; p++) st_audio(&b, 0, 3, 70, (uint8_t)(50 + p));
    st_bytes(&a, b.buf, b.len);

    for (size_t step = 0; step < 2; step++) {
        struct seen w = {0};
        struct ogg_in in;
        CHECK_EQ(run(&a, step, &w, &in), 0);
        CHECK_EQ(w.heads, 2);
        CHECK_EQ(w.channels[0], 2);
        CHECK_EQ(w.channels[1], 1);
        CHECK_EQ(w.packets, 6 + 6);
        CHECK_EQ(in.chains, 1);
        CHECK_EQ(in.serial, 200);
        CHECK_EQ(in.foreign_pages, 0);
        CHECK_EQ(in.lost, 0);
    }

    /* The second stream's head refused by the caller: NOT_OPUS, and
     * nothing of the second stream is delivered. */
    struct seen r = {0};
    r.refuse_head_at = 2;
    struct ogg_in in;
    CHECK_EQ(run(&a, 0, &r, &in), OGG_IN_NOT_OPUS);
    CHECK_EQ(r.heads, 2);
    CHECK_EQ(r.packets, 6);
    free(a.buf);
    free(b.buf);

    /* A chain that reuses the serial number: the BOS after audio still
     * starts over at OpusHead. */
    st_init(&a, 100);
    st_head(&a, 2);
    st_audio(&a, OGG_FLAG_EOS, 2, 60, 1);
    st_init(&b, 100);
    st_head(&b, 1);
    st_audio(&b, 0, 3, 70, 2);
    st_bytes(&a, b.buf, b.len);
    struct seen same = {0};
    CHECK_EQ(run(&a, 0, &same, &in), 0);
    CHECK_EQ(same.heads, 2);
    CHECK_EQ(same.channels[1], 1);
    CHECK_EQ(same.packets, 5);
    CHECK_EQ(in.chains, 1);
    CHECK_EQ(in.bad_packets, 0);
    CHECK_EQ(in.lost, 0);
    free(a.buf);
    free(b.buf);
}

static void test_foreign_serial(void)
{
    struct stream s, f;
    st_init(&s, 1);
    st_init(&f, 2);
    st_head(&s, 2);
    st_audio(&f, 0, 1, 10, 9); /* not BOS: f's pages are foreign from the start */
    st_audio(&f, 0, 1, 10, 9);
    for (unsigned p = 0; p < 4; p++) {
        st_audio(&s, 0, 2, 30, (uint8_t)p);
        if (p & 1) st_bytes(&s, f.buf, f.len); /* two foreign pages, twice */
    }
    struct seen w = {0};
    struct ogg_in in;
    CHECK_EQ(run(&s, 0, &w, &in), 0);
    CHECK_EQ(w.packets, 8);
    CHECK_EQ(in.foreign_pages, 4);
    CHECK_EQ(in.resyncs, 0); /* skipped, never handed to the stream */
    CHECK_EQ(in.lost, 0);
    CHECK_EQ(in.pages, 2 + 4 + 4);
    free(s.buf);
    free(f.buf);
}

static void test_bad_audio_packets(void)
{
    struct stream s;
    st_init(&s, 1);
    st_head(&s, 2);
    uint8_t good[10] = {0xf8, 1, 2, 3}, empty[1] = {0}, toolong[2] = {0x83, 49};
    uint8_t *huge = calloc(1, OGG_IN_PACKET_BYTES_MAX + 1);
    huge[0] = 0xf8; /* a valid TOC, but more bytes than 120 ms can hold */
    const uint8_t *pk[] = {good, empty, good, toolong, good, huge, good};
    uint32_t lens[] = {10, 0, 10, 2, 10, OGG_IN_PACKET_BYTES_MAX + 1, 10};
    st_page(&s, 0, pk, lens, 7);
    /* The largest allowed packet still goes through. */
    huge[0] = 0xf8;
    const uint8_t *pk2[] = {huge};
    uint32_t l2[] = {OGG_IN_PACKET_BYTES_MAX};
    st_page(&s, 0, pk2, l2, 1);

    struct seen w = {0};
    struct ogg_in in;
    CHECK_EQ(run(&s, 0, &w, &in), 0);
    CHECK_EQ(in.bad_packets, 3);
    CHECK_EQ(w.packets, 5);
    CHECK_EQ(w.samples, 5 * 960);
    CHECK_EQ(w.len_max, OGG_IN_PACKET_BYTES_MAX);
    free(huge);
    free(s.buf);
}

static void test_head_refused(void)
{
    struct stream s;
    st_init(&s, 1);
    st_head(&s, 2);
    st_audio(&s, 0, 2, 30, 1);
    struct seen w = {0};
    w.refuse_head_at = 1;
    struct ogg_in in;
    CHECK_EQ(run(&s, 0, &w, &in), OGG_IN_NOT_OPUS);
    CHECK_EQ(w.heads, 1);
    CHECK_EQ(w.packets, 0);
    free(s.buf);
}

/* A page whose 255 lacing values are all 255: 65025 bytes of one packet
 * that goes on in the next page. ogg_page_write only writes whole packets,
 * so this one is put together by hand. */
static void st_unfinished(struct stream *s, uint8_t flags)
{
    static uint8_t page[27 + 255 + 255 * 255];
    memset(page, 0, sizeof(page));
    memcpy(page, "OggS", 4);
    page[5] = flags;
    for (int i = 0; i < 4; i++) page[14 + i] = (uint8_t)(s->serial >> (8 * i));
    for (int i = 0; i < 4; i++) page[18 + i] = (uint8_t)(s->pageno >> (8 * i));
    s->pageno++;
    memset(page + 6, 0xff, 8); /* granule -1: no packet ends here */
    page[26] = 255;
    memset(page + 27, 255, 255);
    page[27 + 255] = 0xf8;
    uint32_t crc = ogg_crc(0, page, sizeof(page));
    for (int i = 0; i < 4; i++) page[22 + i] = (uint8_t)(crc >> (8 * i));
    st_bytes(s, page, sizeof(page));
}

/* Regression: a packet continued across pages is gathered by libogg until
 * it ends; a source that never ends its packet used to grow the stream
 * buffer without bound (64 pages held ~4 MiB). ogg_in now drops a packet
 * still open past OGG_IN_PENDING_BYTES_MAX, so the state stays within a few
 * pages. */
static void test_unfinished_packet_memory_bounded(void)
{
    struct stream s;
    st_init(&s, 1);
    st_head(&s, 2);
    st_unfinished(&s, 0);
    for (unsigned i = 0; i < 63; i++) st_unfinished(&s, OGG_FLAG_CONTINUED);
    struct seen w = {0};
    struct ogg_in in;
    ogg_in_init(&in);
    CHECK_EQ(feed(&in, s.buf, s.len, 0, &w), 0);
    CHECK_EQ(w.packets, 0);
    CHECK((size_t)in.os.body_storage <= 4 * (size_t)OGG_PAGE_BYTES_MAX);
    if ((size_t)in.os.body_storage > 4 * (size_t)OGG_PAGE_BYTES_MAX)
        fprintf(stderr, "ogg_in: libogg stream buffer holds %ld bytes after %zu fed\n",
                in.os.body_storage, s.len);
    ogg_in_free(&in);
    free(s.buf);
}

int main(void)
{
    T_RUN(test_valid_whole_and_bytewise);
    T_RUN(test_real_opus_packets);
    T_RUN(test_not_ogg);
    T_RUN(test_first_packet_not_head);
    T_RUN(test_missing_tags);
    T_RUN(test_corrupt_page_mid_stream);
    T_RUN(test_chained);
    T_RUN(test_foreign_serial);
    T_RUN(test_bad_audio_packets);
    T_RUN(test_head_refused);
    T_RUN(test_unfinished_packet_memory_bounded);
    T_DONE();
}
