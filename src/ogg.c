/* ogg: page writer, CRC, Opus header packets. */
#include "ogg.h"

#include <string.h>

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t r = i << 24;
        for (int b = 0; b < 8; b++) r = (r & 0x80000000u) ? (r << 1) ^ 0x04c11db7u : r << 1;
        crc_table[i] = r;
    }
}

uint32_t ogg_crc(uint32_t crc, const uint8_t *p, size_t len)
{
    if (!crc_table[1]) crc_init(); /* first call happens before any thread starts */
    while (len--) crc = (crc << 8) ^ crc_table[((crc >> 24) ^ *p++) & 0xff];
    return crc;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void put_le64(uint8_t *p, uint64_t v)
{
    put_le32(p, (uint32_t)v);
    put_le32(p + 4, (uint32_t)(v >> 32));
}

size_t ogg_page_size(const uint32_t *lens, unsigned n)
{
    size_t segs = 0, body = 0;
    for (unsigned i = 0; i < n; i++) {
        segs += lens[i] / 255 + 1;
        body += lens[i];
    }
    if (segs > OGG_SEGMENTS_MAX) return 0;
    return OGG_HEADER_BYTES + segs + body;
}

size_t ogg_page_write(uint8_t *out, uint8_t flags, uint64_t granule, uint32_t serial,
                      uint32_t seq, const uint8_t *const *pkts, const uint32_t *lens, unsigned n)
{
    uint8_t *lacing = out + OGG_HEADER_BYTES;
    unsigned segs = 0;
    for (unsigned i = 0; i < n; i++) {
        uint32_t l = lens[i];
        while (l >= 255) {
            lacing[segs++] = 255;
            l -= 255;
        }
        lacing[segs++] = (uint8_t)l;
    }
    memcpy(out, "OggS", 4);
    out[4] = 0;
    out[5] = flags;
    put_le64(out + 6, granule);
    put_le32(out + 14, serial);
    put_le32(out + 18, seq);
    put_le32(out + 22, 0);
    out[26] = (uint8_t)segs;
    uint8_t *body = lacing + segs;
    for (unsigned i = 0; i < n; i++) {
        memcpy(body, pkts[i], lens[i]);
        body += lens[i];
    }
    size_t total = (size_t)(body - out);
    put_le32(out + 22, ogg_crc(0, out, total));
    return total;
}

int opus_head_parse(const uint8_t *p, size_t len, struct opus_head *h)
{
    if (len < 19 || memcmp(p, "OpusHead", 8) != 0) return -1;
    h->version = p[8];
    h->channels = p[9];
    h->preskip = (uint16_t)(p[10] | p[11] << 8);
    h->input_rate = (uint32_t)p[12] | (uint32_t)p[13] << 8 | (uint32_t)p[14] << 16 |
                    (uint32_t)p[15] << 24;
    h->gain_q8 = (int16_t)(p[16] | p[17] << 8);
    h->family = p[18];
    /* RFC 7845 5.1: a major version other than 0 is incompatible. */
    if (h->version >> 4) return -1;
    if (h->family != 0 || h->channels < 1 || h->channels > 2) return -1;
    return 0;
}

size_t opus_head_write(uint8_t out[19], uint8_t channels, uint16_t preskip)
{
    memcpy(out, "OpusHead", 8);
    out[8] = 1;
    out[9] = channels;
    out[10] = (uint8_t)preskip;
    out[11] = (uint8_t)(preskip >> 8);
    put_le32(out + 12, 48000);
    out[16] = out[17] = 0;
    out[18] = 0;
    return 19;
}

size_t opus_tags_write(uint8_t *out, size_t cap, const char *const *comments, unsigned n)
{
    static const char vendor[] = "podium";
    size_t need = 8 + 4 + sizeof(vendor) - 1 + 4;
    for (unsigned i = 0; i < n; i++) need += 4 + strlen(comments[i]);
    if (need > cap) return 0;
    uint8_t *p = out;
    memcpy(p, "OpusTags", 8);
    p += 8;
    put_le32(p, sizeof(vendor) - 1);
    memcpy(p + 4, vendor, sizeof(vendor) - 1);
    p += 4 + sizeof(vendor) - 1;
    put_le32(p, n);
    p += 4;
    for (unsigned i = 0; i < n; i++) {
        uint32_t l = (uint32_t)strlen(comments[i]);
        put_le32(p, l);
        memcpy(p + 4, comments[i], l);
        p += 4 + l;
    }
    return (size_t)(p - out);
}

int opus_packet_samples(const uint8_t *p, size_t len)
{
    static const uint16_t silk[4] = {480, 960, 1920, 2880};
    static const uint16_t celt[4] = {120, 240, 480, 960};
    if (len < 1) return -1;
    unsigned config = p[0] >> 3, frame, frames;
    if (config < 12)
        frame = silk[config & 3];
    else if (config < 16)
        frame = (config & 1) ? 960 : 480;
    else
        frame = celt[config & 3];
    switch (p[0] & 3) {
    case 0:
        frames = 1;
        break;
    case 1:
    case 2:
        frames = 2;
        break;
    default:
        if (len < 2) return -1;
        frames = p[1] & 0x3f;
        if (frames == 0) return -1;
    }
    /* RFC 6716 3.2.5: a packet holds at most 120 ms. */
    if (frame * frames > 5760) return -1;
    return (int)(frame * frames);
}
