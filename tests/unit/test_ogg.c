/* test_ogg: the page writer checked by libogg (an independent reader), the
 * CRC against a bitwise reference, OpusHead/OpusTags, and Opus TOC
 * durations for every configuration and frame-count code. */
#include "ogg.h"

#include <ogg/ogg.h>
#include <stdlib.h>

#include "crc_ref.h"
#include "t.h"

static void test_crc(void)
{
    const uint8_t check[] = "123456789";
    /* CRC-32/CKSUM's check value is 0x765e7680 with a final xor of ~0;
     * Ogg's variant has none. */
    CHECK_EQ(ogg_crc(0, check, 9), 0x765e7680u ^ 0xffffffffu);
    CHECK_EQ(crc_ref(check, 9), 0x89a1897fu);
    CHECK_EQ(ogg_crc(0, check, 0), 0);

    uint8_t buf[1000];
    crc_ref_bytes(buf, sizeof(buf));
    CHECK_EQ(ogg_crc(0, buf, sizeof(buf)), crc_ref(buf, sizeof(buf)));
    /* Incremental: the running value carries over. */
    CHECK_EQ(ogg_crc(ogg_crc(0, buf, 333), buf + 333, 667), crc_ref(buf, sizeof(buf)));
}

/* Writes one page of packets <lens> (content derived from index and
 * offset), hands it to libogg, and checks what libogg reads back. */
static void roundtrip(const uint32_t *lens, unsigned n, uint8_t flags, uint64_t granule,
                      uint32_t serial, uint32_t seq)
{
    uint8_t *bufs[8];
    const uint8_t *pk[8];
    size_t segs = 0, body = 0;
    for (unsigned i = 0; i < n; i++) {
        bufs[i] = malloc(lens[i] ? lens[i] : 1);
        for (uint32_t j = 0; j < lens[i]; j++) bufs[i][j] = (uint8_t)(j * 7 + i);
        pk[i] = bufs[i];
        segs += lens[i] / 255 + 1;
        body += lens[i];
    }
    size_t size = ogg_page_size(lens, n);
    CHECK_EQ(size, 27 + segs + body);
    uint8_t *out = malloc(size);
    CHECK_EQ(ogg_page_write(out, flags, granule, serial, seq, pk, lens, n), size);
    CHECK(memcmp(out, "OggS", 4) == 0);
    CHECK_EQ(out[4], 0);
    CHECK_EQ(out[26], segs);

    ogg_sync_state oy;
    ogg_stream_state os;
    ogg_page og;
    ogg_sync_init(&oy);
    char *b = ogg_sync_buffer(&oy, (long)size);
    memcpy(b, out, size);
    ogg_sync_wrote(&oy, (long)size);
    CHECK_EQ(ogg_sync_pageout(&oy, &og), 1); /* 1 means captured with a good CRC */
    CHECK_EQ(og.header_len, 27 + segs);
    CHECK_EQ(og.body_len, body);
    CHECK_EQ(ogg_page_version(&og), 0);
    CHECK_EQ(ogg_page_bos(&og) != 0, (flags & OGG_FLAG_BOS) != 0);
    CHECK_EQ(ogg_page_eos(&og) != 0, (flags & OGG_FLAG_EOS) != 0);
    CHECK_EQ(ogg_page_continued(&og) != 0, (flags & OGG_FLAG_CONTINUED) != 0);
    CHECK_EQ(ogg_page_granulepos(&og), granule);
    CHECK_EQ((uint32_t)ogg_page_serialno(&og), serial);
    CHECK_EQ((uint32_t)ogg_page_pageno(&og), seq);
    CHECK_EQ(ogg_page_packets(&og), n);

    ogg_stream_init(&os, (int)serial);
    ogg_stream_reset(&os); /* no expected page number: <seq> is arbitrary here */
    CHECK_EQ(ogg_stream_pagein(&os, &og), 0);
    /* A continued page's first packet belongs to a previous page: libogg
     * drops it on a fresh stream, so packets are compared only otherwise. */
    unsigned check = (flags & OGG_FLAG_CONTINUED) ? 0 : n;
    for (unsigned i = 0; i < check; i++) {
        ogg_packet op;
        CHECK_EQ(ogg_stream_packetout(&os, &op), 1);
        CHECK_EQ(op.bytes, lens[i]);
        if ((uint32_t)op.bytes == lens[i]) CHECK(memcmp(op.packet, bufs[i], lens[i]) == 0);
    }
    ogg_packet op;
    if (!(flags & OGG_FLAG_CONTINUED)) CHECK_EQ(ogg_stream_packetout(&os, &op), 0);
    ogg_stream_clear(&os);
    ogg_sync_clear(&oy);

    /* The stored CRC is the CRC of the page with the field zeroed. */
    uint32_t stored = out[22] | out[23] << 8 | out[24] << 16 | (uint32_t)out[25] << 24;
    memset(out + 22, 0, 4);
    CHECK_EQ(stored, crc_ref(out, size));
    free(out);
    for (unsigned i = 0; i < n; i++) free(bufs[i]);
}

static void test_page_lacing(void)
{
    static const uint32_t one[][1] = {{0}, {1}, {254}, {255}, {256}, {510}, {4000}};
    for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++)
        roundtrip(one[i], 1, 0, 960 * (i + 1), 0xdeadbeef, (uint32_t)i + 2);
    const uint32_t mix[] = {0, 254, 255, 256, 510, 3};
    roundtrip(mix, 6, 0, 123456789012345ull, 7, 42);
    /* Header fields: flags, the largest granule and sequence number. */
    const uint32_t l19[] = {19};
    roundtrip(l19, 1, OGG_FLAG_BOS, 0, 0xffffffffu, 0);
    roundtrip(l19, 1, OGG_FLAG_EOS | OGG_FLAG_CONTINUED, 0x7fffffffffffffffull, 1, 0xffffffffu);

    /* Lacing values: 255 ends with a 0, 510 with two 255s and a 0. */
    const uint32_t l510[] = {510};
    uint8_t pkt[510] = {0}, out[27 + 3 + 510];
    const uint8_t *pp[] = {pkt};
    CHECK_EQ(ogg_page_size(l510, 1), sizeof(out));
    ogg_page_write(out, 0, 0, 1, 1, pp, l510, 1);
    CHECK_EQ(out[26], 3);
    CHECK_EQ(out[27], 255);
    CHECK_EQ(out[28], 255);
    CHECK_EQ(out[29], 0);
}

static void test_page_size_limit(void)
{
    uint32_t lens[256] = {0};
    CHECK_EQ(ogg_page_size(lens, 0), 27);
    CHECK_EQ(ogg_page_size(lens, 255), 27 + 255); /* 255 empty packets: 255 lacing values */
    CHECK_EQ(ogg_page_size(lens, 256), 0);
    lens[0] = 254 * 255; /* 254 x 255 and a 0: exactly 255 values */
    CHECK_EQ(ogg_page_size(lens, 1), 27 + 255 + 254 * 255);
    lens[0] = 254 * 255 + 1; /* still 255 values: 254 x 255, then 1 */
    CHECK_EQ(ogg_page_size(lens, 1), 27 + 255 + 254 * 255 + 1);
    lens[0] = 255 * 255; /* 256 values */
    CHECK_EQ(ogg_page_size(lens, 1), 0);
    lens[0] = 254 * 255;
    lens[1] = 0; /* one more value past 255 */
    CHECK_EQ(ogg_page_size(lens, 2), 0);
    CHECK(OGG_PAGE_BYTES_MAX >= 27 + 255 + 254 * 255 + 254);

    /* The largest legal page also round-trips through libogg. */
    const uint32_t big[] = {254 * 255 + 254};
    roundtrip(big, 1, 0, 1, 2, 3);
}

static void head_bytes(uint8_t h[19])
{
    memcpy(h, "OpusHead", 8);
    h[8] = 1;
    h[9] = 2;
    h[10] = 0x38; /* pre-skip 312 */
    h[11] = 0x01;
    h[12] = 0x44; /* 44100 */
    h[13] = 0xac;
    h[14] = 0;
    h[15] = 0;
    h[16] = 0x00; /* gain -256 (q8: -1 dB) */
    h[17] = 0xff;
    h[18] = 0;
}

static void test_head_parse(void)
{
    uint8_t h[32];
    struct opus_head oh;
    head_bytes(h);
    CHECK_EQ(opus_head_parse(h, 19, &oh), 0);
    CHECK_EQ(oh.version, 1);
    CHECK_EQ(oh.channels, 2);
    CHECK_EQ(oh.preskip, 312);
    CHECK_EQ(oh.input_rate, 44100);
    CHECK_EQ(oh.gain_q8, -256);
    CHECK_EQ(oh.family, 0);
    /* Trailing bytes are allowed (RFC 7845: later minor versions). */
    CHECK_EQ(opus_head_parse(h, 32, &oh), 0);

    CHECK_EQ(opus_head_parse(h, 18, &oh), -1); /* short */
    CHECK_EQ(opus_head_parse(h, 0, &oh), -1);
    head_bytes(h);
    h[4] = 'h';
    CHECK_EQ(opus_head_parse(h, 19, &oh), -1); /* bad magic */
    head_bytes(h);
    h[8] = 0x0f; /* minor versions are compatible */
    CHECK_EQ(opus_head_parse(h, 19, &oh), 0);
    h[8] = 0x10; /* major version 1 */
    CHECK_EQ(opus_head_parse(h, 19, &oh), -1);
    head_bytes(h);
    h[18] = 1; /* mapping family 1 */
    CHECK_EQ(opus_head_parse(h, 19, &oh), -1);
    head_bytes(h);
    h[9] = 0;
    CHECK_EQ(opus_head_parse(h, 19, &oh), -1);
    h[9] = 3;
    CHECK_EQ(opus_head_parse(h, 19, &oh), -1);
    h[9] = 1;
    CHECK_EQ(opus_head_parse(h, 19, &oh), 0);
    CHECK_EQ(oh.channels, 1);
}

static void test_head_tags_write(void)
{
    uint8_t h[19];
    struct opus_head oh;
    CHECK_EQ(opus_head_write(h, 2, 3840), 19);
    CHECK(memcmp(h, "OpusHead", 8) == 0);
    CHECK_EQ(opus_head_parse(h, 19, &oh), 0);
    CHECK_EQ(oh.version, 1);
    CHECK_EQ(oh.channels, 2);
    CHECK_EQ(oh.preskip, 3840);
    CHECK_EQ(oh.input_rate, 48000);
    CHECK_EQ(oh.gain_q8, 0);
    CHECK_EQ(oh.family, 0);
    CHECK_EQ(opus_head_write(h, 1, 0), 19);
    CHECK_EQ(opus_head_parse(h, 19, &oh), 0);
    CHECK_EQ(oh.channels, 1);
    CHECK_EQ(oh.preskip, 0);

    uint8_t t[128];
    const char *const comments[] = {"TITLE=live", "ARTIST=x"};
    size_t n = opus_tags_write(t, sizeof(t), comments, 2);
    /* 8 magic + 4 + "podium" + 4 count + (4 + 10) + (4 + 8) */
    CHECK_EQ(n, 8 + 4 + 6 + 4 + 14 + 12);
    CHECK(opus_is_tags(t, n));
    CHECK(memcmp(t, "OpusTags", 8) == 0);
    CHECK_EQ(t[8] | t[9] << 8 | t[10] << 16 | t[11] << 24, 6);
    CHECK(memcmp(t + 12, "podium", 6) == 0);
    CHECK_EQ(t[18], 2); /* comment count */
    CHECK_EQ(t[22], 10);
    CHECK(memcmp(t + 26, "TITLE=live", 10) == 0);
    CHECK_EQ(t[36], 8);
    CHECK(memcmp(t + 40, "ARTIST=x", 8) == 0);

    CHECK_EQ(opus_tags_write(t, n, comments, 2), n);    /* exact fit */
    CHECK_EQ(opus_tags_write(t, n - 1, comments, 2), 0); /* one short */
    size_t e = opus_tags_write(t, sizeof(t), NULL, 0);
    CHECK_EQ(e, 22);
    CHECK(opus_is_tags(t, e));
    CHECK(!opus_is_tags(t, 15));
    CHECK(!opus_is_tags((const uint8_t *)"OpusHead\0\0\0\0\0\0\0\0", 16));
}

static int samples(uint8_t toc, int count_byte, size_t len)
{
    uint8_t p[4] = {toc, (uint8_t)(count_byte < 0 ? 0 : count_byte), 0, 0};
    return opus_packet_samples(p, len);
}

static void test_packet_samples(void)
{
    /* Frame size of every configuration (RFC 6716 table 2), code 0. */
    static const int frame[32] = {
        480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880, /* SILK NB/MB/WB */
        480, 960, 480,  960,                                             /* Hybrid SWB/FB */
        120, 240, 480,  960,  120, 240, 480,  960,                       /* CELT NB, WB */
        120, 240, 480,  960,  120, 240, 480,  960,                       /* CELT SWB, FB */
    };
    for (unsigned config = 0; config < 32; config++) {
        for (unsigned stereo = 0; stereo < 2; stereo++) {
            uint8_t toc = (uint8_t)(config << 3 | stereo << 2);
            CHECK_EQ(samples(toc | 0, -1, 1), frame[config]);     /* one frame */
            CHECK_EQ(samples(toc | 1, -1, 3), 2 * frame[config]); /* two, equal */
            CHECK_EQ(samples(toc | 2, -1, 3), 2 * frame[config]); /* two, different */
            /* Code 3, count 1..63: refused past 120 ms. */
            for (int m = 0; m < 64; m++) {
                int want = m == 0 || m * frame[config] > 5760 ? -1 : m * frame[config];
                CHECK_EQ(samples(toc | 3, m, 2), want);
                /* The VBR and padding flags do not change the count. */
                CHECK_EQ(samples(toc | 3, m | 0xc0, 2), want);
            }
        }
    }
    /* Boundaries spelled out. */
    CHECK_EQ(samples(3 << 3 | 1, -1, 1), 5760);      /* 2 x 60 ms SILK = 120 ms */
    CHECK_EQ(samples(3 << 3 | 3, 2, 2), 5760);       /* code 3, 2 x 60 ms */
    CHECK_EQ(samples(3 << 3 | 3, 3, 2), -1);         /* 3 x 60 ms */
    CHECK_EQ(samples(16 << 3 | 3, 48, 2), 5760);     /* 48 x 2.5 ms */
    CHECK_EQ(samples(16 << 3 | 3, 49, 2), -1);
    CHECK_EQ(samples(31 << 3 | 3, 6, 2), 5760);      /* 6 x 20 ms */
    CHECK_EQ(samples(31 << 3 | 3, 7, 2), -1);
    CHECK_EQ(samples(31 << 3 | 3, 0, 2), -1);        /* zero frames */
    CHECK_EQ(samples(31 << 3 | 3, -1, 1), -1);       /* code 3 without a count byte */
    CHECK_EQ(opus_packet_samples(NULL, 0), -1);      /* empty packet */
    CHECK_EQ(samples(0xf8, -1, 0), -1);
}

int main(void)
{
    T_RUN(test_crc);
    T_RUN(test_page_lacing);
    T_RUN(test_page_size_limit);
    T_RUN(test_head_parse);
    T_RUN(test_head_tags_write);
    T_RUN(test_packet_samples);
    T_DONE();
}
