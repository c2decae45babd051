/* test_storm_oggv: the streaming Ogg verifier against pages made by libogg
 * (an independent implementation of the same format). */
#include <ogg/ogg.h>
#include <stdlib.h>

#include "oggv.h"
#include "crc_ref.h"
#include "t.h"

/* A stream: OpusHead, OpusTags, then <pages> audio pages of 5 x 20 ms. */
struct stream {
    unsigned char *buf;
    size_t len, cap;
    size_t page_off[64]; /* offsets of each page */
    int pages;
};

static void put(struct stream *s, const unsigned char *p, long n)
{
    if (s->len + (size_t)n > s->cap) {
        s->cap = (s->len + (size_t)n) * 2;
        s->buf = realloc(s->buf, s->cap);
    }
    memcpy(s->buf + s->len, p, (size_t)n);
    s->len += (size_t)n;
}

static void flush(struct stream *s, ogg_stream_state *os)
{
    ogg_page og;
    while (ogg_stream_flush(os, &og)) {
        if (s->pages < 64) s->page_off[s->pages++] = s->len;
        put(s, og.header, og.header_len);
        put(s, og.body, og.body_len);
    }
}

static void make_stream(struct stream *s, int pages, int64_t granule0, long seq0)
{
    ogg_stream_state os;
    memset(s, 0, sizeof(*s));
    ogg_stream_init(&os, 1234);
    unsigned char head[19] = "OpusHead\x01\x01\x38\x01\x80\xbb\0\0\0\0\0";
    ogg_packet op = {head, 19, 1, 0, 0, 0};
    ogg_stream_packetin(&os, &op);
    flush(s, &os);
    unsigned char tags[24] = "OpusTags\x08\0\0\0podium!!\0\0\0\0";
    op = (ogg_packet){tags, 24, 0, 0, 0, 1};
    ogg_stream_packetin(&os, &op);
    flush(s, &os);
    /* a mid-stream join: audio pages continue an older stream's numbering */
    os.pageno = seq0;
    int64_t g = granule0;
    unsigned char pkt[60];
    memset(pkt, 0x55, sizeof(pkt));
    pkt[0] = 0xfc; /* TOC: some 20 ms CELT frame */
    for (int p = 0; p < pages; p++) {
        for (int k = 0; k < 5; k++) {
            g += 960;
            op = (ogg_packet){pkt, 60, 0, 0, g, 2 + p * 5 + k};
            ogg_stream_packetin(&os, &op);
        }
        flush(s, &os);
    }
    ogg_stream_clear(&os);
}

static void test_crc_vector(void)
{
    /* CRC-32 poly 0x04C11DB7, init 0, no reflection, no final xor: the
     * cksum check value 0x765E7680 before its final inversion. */
    CHECK_EQ(oggv_crc(0, (const uint8_t *)"123456789", 9), 0x89A1897Fu);
}

/* Every length and start up to 300 bytes, whole and split: short runs take
 * the tables, long ones the 16-byte fold where the CPU has it. */
static void test_crc_every_length(void)
{
    uint8_t buf[320];
    crc_ref_bytes(buf, sizeof(buf));
    unsigned bad = 0;
    for (size_t off = 0; off < 17; off++)
        for (size_t len = 0; len <= 300; len++) {
            uint32_t want = crc_ref(buf + off, len);
            if (oggv_crc(0, buf + off, len) != want) bad++;
            size_t cut = (len * 5) / 7;
            if (oggv_crc(oggv_crc(0, buf + off, cut), buf + off + cut, len - cut) != want) bad++;
        }
    CHECK_EQ(bad, 0);
}

static void test_clean_stream_any_split(void)
{
    struct stream s;
    make_stream(&s, 10, 480000, 1000);
    /* whole, then one byte at a time, then in 7-byte pieces */
    for (size_t step = 0; step < 3; step++) {
        size_t piece = step == 0 ? s.len : step == 1 ? 1 : 7;
        struct oggv v;
        struct oggv_out o = {0};
        oggv_init(&v);
        for (size_t off = 0; off < s.len; off += piece)
            oggv_feed(&v, s.buf + off, off + piece > s.len ? s.len - off : piece, &o);
        CHECK_EQ(o.pages, 12);
        CHECK_EQ(o.audio_pages, 10);
        /* first page is the baseline: 9 deltas of 4800 samples */
        CHECK_EQ(o.audio_samples, 9 * 4800);
        CHECK_EQ(o.err_crc + o.err_seq + o.err_granule + o.err_capture, 0);
    }
    free(s.buf);
}

static void test_crc_error(void)
{
    struct stream s;
    make_stream(&s, 10, 0, 2);
    s.buf[s.page_off[5] + 40] ^= 0x01; /* one bit in an audio page's body */
    struct oggv v;
    struct oggv_out o = {0};
    oggv_init(&v);
    oggv_feed(&v, s.buf, s.len, &o);
    CHECK_EQ(o.err_crc, 1);
    CHECK_EQ(o.err_seq, 0); /* resync re-baselines: one fault, one error */
    CHECK_EQ(o.audio_pages, 9);
    free(s.buf);
}

static void test_sequence_gap(void)
{
    struct stream s;
    make_stream(&s, 10, 0, 2);
    /* drop page 6 entirely, as a server losing a page would */
    struct stream t = {0};
    put(&t, s.buf, (long)s.page_off[6]);
    put(&t, s.buf + s.page_off[7], (long)(s.len - s.page_off[7]));
    struct oggv v;
    struct oggv_out o = {0};
    oggv_init(&v);
    oggv_feed(&v, t.buf, t.len, &o);
    CHECK_EQ(o.err_seq, 1);
    CHECK_EQ(o.err_crc, 0);
    CHECK_EQ(o.err_granule, 0); /* 9600 samples in one step is no jump */
    free(s.buf);
    free(t.buf);
}

static void test_granule_jump(void)
{
    /* Two streams glued with continuous page numbers but granule 10 s ahead. */
    struct stream a, b;
    make_stream(&a, 4, 0, 2);
    make_stream(&b, 4, 480000 + 4 * 4800, 6);
    struct stream t = {0};
    put(&t, a.buf, (long)a.len);
    put(&t, b.buf + b.page_off[2], (long)(b.len - b.page_off[2])); /* no headers */
    struct oggv v;
    struct oggv_out o = {0};
    oggv_init(&v);
    oggv_feed(&v, t.buf, t.len, &o);
    CHECK_EQ(o.err_granule, 1);
    CHECK_EQ(o.err_seq, 0);
    CHECK_EQ(o.audio_pages, 8);
    free(a.buf);
    free(b.buf);
    free(t.buf);
}

static void test_mid_stream_join_and_garbage(void)
{
    /* Headers then a stream whose numbering starts at 5000: no error. */
    struct stream s;
    make_stream(&s, 3, 9600000, 5000);
    struct oggv v;
    struct oggv_out o = {0};
    oggv_init(&v);
    oggv_feed(&v, s.buf, s.len, &o);
    CHECK_EQ(o.err_seq + o.err_granule + o.err_crc + o.err_capture, 0);
    CHECK_EQ(o.audio_pages, 3);
    /* Garbage between pages: one capture error, then back in sync. */
    struct stream t = {0};
    put(&t, s.buf, (long)s.page_off[3]);
    put(&t, (const unsigned char *)"xxxxOgxOggz", 11);
    put(&t, s.buf + s.page_off[3], (long)(s.len - s.page_off[3]));
    oggv_init(&v);
    memset(&o, 0, sizeof(o));
    oggv_feed(&v, t.buf, t.len, &o);
    CHECK_EQ(o.err_capture, 1);
    CHECK_EQ(o.audio_pages, 3);
    /* A body that is not Ogg at all: exactly one capture error. */
    oggv_init(&v);
    memset(&o, 0, sizeof(o));
    oggv_feed(&v, (const uint8_t *)"<html>not ogg</html>", 20, &o);
    CHECK_EQ(o.err_capture, 1);
    CHECK_EQ(o.pages, 0);
    free(s.buf);
    free(t.buf);
}

static void test_state_is_small(void)
{
    CHECK(sizeof(struct oggv) <= 64);
}

int main(void)
{
    T_RUN(test_crc_vector);
    T_RUN(test_crc_every_length);
    T_RUN(test_clean_stream_any_split);
    T_RUN(test_crc_error);
    T_RUN(test_sequence_gap);
    T_RUN(test_granule_jump);
    T_RUN(test_mid_stream_join_and_garbage);
    T_RUN(test_state_is_small);
    T_DONE();
}
