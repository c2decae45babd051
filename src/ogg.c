/* ogg: page writer, CRC, Opus header packets. */
#include "ogg.h"

#include <string.h>

/* The Ogg CRC is on every page a listener of storm receives, so it is fast:
 * slicing-by-8 tables (eight input bytes per step, no per-byte dependency),
 * and on x86-64 with PCLMULQDQ a carry-less-multiply fold of 16 bytes per
 * step. Both are checked against the bit-at-a-time definition in
 * tests/unit/test_ogg.c. */
#define CRC_POLY 0x04c11db7u

static uint32_t crc_tab[8][256]; /* [k][b]: CRC of byte b followed by k zero bytes */

static uint32_t crc_bytes(uint32_t crc, const uint8_t *p, size_t len)
{
    while (len >= 8) {
        crc ^= (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        crc = crc_tab[7][crc >> 24] ^ crc_tab[6][(crc >> 16) & 0xff] ^
              crc_tab[5][(crc >> 8) & 0xff] ^ crc_tab[4][crc & 0xff] ^ crc_tab[3][p[4]] ^
              crc_tab[2][p[5]] ^ crc_tab[1][p[6]] ^ crc_tab[0][p[7]];
        p += 8;
        len -= 8;
    }
    while (len--) crc = (crc << 8) ^ crc_tab[0][((crc >> 24) ^ *p++) & 0xff];
    return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define CRC_FOLD 1

/* x^n mod P, bit i the coefficient of x^i. */
static uint32_t xpow_mod(unsigned n)
{
    uint32_t r = 1;
    while (n--) r = (r & 0x80000000u) ? (r << 1) ^ CRC_POLY : r << 1;
    return r;
}

static uint64_t fold_k_hi, fold_k_lo; /* x^192 mod P, x^128 mod P */
static bool fold_ok;

/* The running 128-bit value A (first byte of the block in the top bits)
 * stays congruent to everything read so far: A' = A * x^128 + B, with
 * A * x^128 = H * x^192 + L * x^128 reduced through the two constants into
 * at most 96 bits. The end is the table CRC of A's 16 bytes, which is
 * A * x^32 mod P. */
__attribute__((target("pclmul,ssse3"))) static uint32_t
crc_fold(uint32_t crc, const uint8_t *p, size_t len)
{
    const __m128i swap = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m128i k = _mm_set_epi64x((long long)fold_k_hi, (long long)fold_k_lo);
    __m128i a = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)p), swap);
    /* the carried CRC is added to the first four bytes */
    a = _mm_xor_si128(a, _mm_set_epi32((int)crc, 0, 0, 0));
    p += 16;
    len -= 16;
    while (len >= 16) {
        __m128i b = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)p), swap);
        __m128i hi = _mm_clmulepi64_si128(a, k, 0x11); /* H * x^192 mod P */
        __m128i lo = _mm_clmulepi64_si128(a, k, 0x00); /* L * x^128 mod P */
        a = _mm_xor_si128(_mm_xor_si128(hi, lo), b);
        p += 16;
        len -= 16;
    }
    uint8_t out[16];
    _mm_storeu_si128((__m128i *)out, _mm_shuffle_epi8(a, swap));
    return crc_bytes(crc_bytes(0, out, 16), p, len);
}
#endif

__attribute__((constructor)) static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t r = i << 24;
        for (int b = 0; b < 8; b++) r = (r & 0x80000000u) ? (r << 1) ^ CRC_POLY : r << 1;
        crc_tab[0][i] = r;
    }
    for (int k = 1; k < 8; k++)
        for (uint32_t i = 0; i < 256; i++)
            crc_tab[k][i] = (crc_tab[k - 1][i] << 8) ^ crc_tab[0][crc_tab[k - 1][i] >> 24];
#ifdef CRC_FOLD
    fold_k_hi = xpow_mod(192);
    fold_k_lo = xpow_mod(128);
    __builtin_cpu_init();
    fold_ok = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("ssse3");
#endif
}

uint32_t ogg_crc(uint32_t crc, const uint8_t *p, size_t len)
{
#ifdef CRC_FOLD
    if (fold_ok && len >= 64) return crc_fold(crc, p, len);
#endif
    return crc_bytes(crc, p, len);
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
