/* oggv: streaming Ogg verifier (see oggv.h). */
#include "oggv.h"

#include <stdbool.h>
#include <string.h>

enum { S_SYNC = 0, S_HEADER, S_SEGS, S_BODY };

#define HDR_LEN 27 /* fixed part of a page header */

/* The CRC is on every byte storm receives, so it is fast: slicing-by-8
 * tables (eight input bytes per step, no per-byte dependency), and on x86-64
 * with PCLMULQDQ a carry-less-multiply fold of 16 bytes per step. Both are
 * checked against the bit-at-a-time definition in test_storm_oggv. It is
 * storm's own, apart from the server's ogg_crc: a checker must not share
 * the bugs of what it checks. */
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

uint32_t oggv_crc(uint32_t crc, const uint8_t *p, size_t len)
{
#ifdef CRC_FOLD
    if (fold_ok && len >= 64) return crc_fold(crc, p, len);
#endif
    return crc_bytes(crc, p, len);
}

static uint32_t crc_byte(uint32_t crc, uint8_t b)
{
    return oggv_crc(crc, &b, 1);
}

void oggv_init(struct oggv *v)
{
    memset(v, 0, sizeof(*v));
}

static const char capture[4] = {'O', 'g', 'g', 'S'};

/* A page is complete and its CRC held: continuity checks. */
static void page_done(struct oggv *v, struct oggv_out *out)
{
    out->pages++;
    /* head_probe == 8 + k: the body started with OpusHead (k=0) or OpusTags. */
    if (v->head_probe == 8) {
        v->have_base = 0; /* audio after headers starts a new baseline */
        return;
    }
    out->audio_pages++;
    if (v->have_base) {
        if (v->serial != v->last_serial || v->seq != v->last_seq + 1u) out->err_seq++;
    }
    v->last_serial = v->serial;
    v->last_seq = v->seq;
    if (v->granule == UINT64_MAX) return; /* no packet ends on this page */
    if (v->have_base == 1) {
        if (v->granule < v->last_granule ||
            v->granule - v->last_granule > OGGV_GRANULE_JUMP_MAX)
            out->err_granule++;
        else
            out->audio_samples += v->granule - v->last_granule;
    }
    v->last_granule = v->granule;
    v->have_base = 1;
}

/* Lost framing: hunt for the next capture pattern and re-baseline. */
static void resync(struct oggv *v)
{
    v->hunting = 1; /* the error that lost sync is already counted */
    v->state = S_SYNC;
    v->pos = 0;
    v->have_base = 0;
}

static void header_byte(struct oggv *v, uint8_t b, struct oggv_out *out)
{
    uint16_t i = v->pos;
    /* CRC covers the header with the CRC field (bytes 22..25) as zero. */
    uint8_t c = (i >= 22 && i < 26) ? 0 : b;
    v->crc = crc_byte(v->crc, c);
    if (i == 4 && b != 0) { /* stream_structure_version */
        out->err_capture++;
        resync(v);
        return;
    }
    if (i == 5) v->flags = b;
    else if (i >= 6 && i < 14) v->granule |= (uint64_t)b << (8 * (i - 6));
    else if (i >= 14 && i < 18) v->serial |= (uint32_t)b << (8 * (i - 14));
    else if (i >= 18 && i < 22) v->seq |= (uint32_t)b << (8 * (i - 18));
    else if (i >= 22 && i < 26) v->crc_want |= (uint32_t)b << (8 * (i - 22));
    else if (i == 26) v->nsegs = b;
    v->pos++;
}

static void start_page(struct oggv *v)
{
    static const uint8_t os[4] = {'O', 'g', 'g', 'S'};
    v->state = S_HEADER;
    v->hunting = 0;
    v->pos = 4;
    v->granule = 0;
    v->serial = v->seq = v->crc_want = 0;
    v->body_left = 0;
    v->head_probe = 0;
    v->crc = oggv_crc(0, os, 4);
}

static void body_begin(struct oggv *v)
{
    v->state = S_BODY;
    v->head_probe = 0;
}

static void page_end(struct oggv *v, struct oggv_out *out)
{
    if (v->crc != v->crc_want) {
        out->err_crc++;
        resync(v);
        return;
    }
    page_done(v, out);
    v->state = S_SYNC;
    v->pos = 0;
}

/* Tracks whether the body opens with "OpusHead" or "OpusTags". head_probe:
 * 0..7 bytes matched so far; 8 = header page; 0xff = audio page. */
static void probe_byte(struct oggv *v, uint8_t b)
{
    static const char head[8] = {'O', 'p', 'u', 's', 'H', 'e', 'a', 'd'};
    uint8_t k = v->head_probe;
    if (k >= 8) return;
    if (k < 4 ? b == (uint8_t)head[k]
              : (b == (uint8_t)head[k] || b == (uint8_t)"OpusTags"[k]))
        v->head_probe = (uint8_t)(k + 1);
    else
        v->head_probe = 0xff;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The usual case: a page header and its segment table whole in <p>. It is
 * read at once, with the same result as byte by byte. Returns the bytes
 * taken, or 0 when the header is split or odd (the byte path then counts
 * what is wrong with it). */
static size_t header_whole(struct oggv *v, const uint8_t *p, size_t n, struct oggv_out *out)
{
    static const uint8_t zero[4];
    if (n < HDR_LEN || memcmp(p, capture, 4) != 0 || p[4] != 0) return 0;
    size_t hl = HDR_LEN + (size_t)p[26];
    if (n < hl) return 0;
    start_page(v);
    v->flags = p[5];
    v->granule = (uint64_t)le32(p + 10) << 32 | le32(p + 6);
    v->serial = le32(p + 14);
    v->seq = le32(p + 18);
    v->crc_want = le32(p + 22);
    v->nsegs = p[26];
    /* CRC covers the header with the CRC field (bytes 22..25) as zero. */
    v->crc = oggv_crc(oggv_crc(oggv_crc(0, p, 22), zero, 4), p + 26, hl - 26);
    for (size_t k = HDR_LEN; k < hl; k++) v->body_left += p[k];
    v->pos = (uint16_t)hl;
    body_begin(v);
    if (v->body_left == 0) page_end(v, out);
    return hl;
}

void oggv_feed(struct oggv *v, const uint8_t *buf, size_t len, struct oggv_out *out)
{
    size_t i = 0;
    while (i < len) {
        uint8_t b = buf[i];
        switch (v->state) {
        case S_SYNC:
            if (v->pos == 0) {
                size_t took = header_whole(v, buf + i, len - i, out);
                if (took) {
                    i += took;
                    break;
                }
            }
            if (b == (uint8_t)capture[v->pos]) {
                if (++v->pos == 4) start_page(v);
            } else {
                /* A stray byte where a page should start: one capture error
                 * per loss of sync, then hunt quietly for the next "OggS". */
                if (!v->hunting) out->err_capture++;
                v->hunting = 1;
                v->have_base = 0;
                v->pos = (b == 'O') ? 1 : 0;
            }
            i++;
            break;
        case S_HEADER:
            header_byte(v, b, out);
            i++;
            if (v->state == S_HEADER && v->pos == HDR_LEN) {
                if (v->nsegs == 0) page_end(v, out);
                else v->state = S_SEGS;
            }
            break;
        case S_SEGS:
            v->crc = crc_byte(v->crc, b);
            v->body_left += b;
            v->pos++;
            i++;
            if (v->pos == HDR_LEN + v->nsegs) {
                body_begin(v);
                if (v->body_left == 0) page_end(v, out);
            }
            break;
        case S_BODY: {
            size_t n = len - i;
            if (n > v->body_left) n = v->body_left;
            for (size_t k = 0; k < n && v->head_probe < 8; k++) probe_byte(v, buf[i + k]);
            v->crc = oggv_crc(v->crc, buf + i, n);
            v->body_left -= (uint32_t)n;
            i += n;
            if (v->body_left == 0) page_end(v, out);
            break;
        }
        }
    }
}
