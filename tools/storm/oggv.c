/* oggv: streaming Ogg verifier (see oggv.h). */
#include "oggv.h"

#include <string.h>

enum { S_SYNC = 0, S_HEADER, S_SEGS, S_BODY };

#define HDR_LEN 27 /* fixed part of a page header */

/* Slicing-by-8: crc_tab[k][b] is the CRC of byte b followed by k zero
 * bytes, so eight input bytes cost eight table lookups and no loop-carried
 * shift per byte. Bodies are the verifier's hot path (every byte received). */
static uint32_t crc_tab[8][256];
#define crc_table crc_tab[0]
static int crc_ready;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t r = i << 24;
        for (int k = 0; k < 8; k++) r = (r & 0x80000000u) ? (r << 1) ^ 0x04C11DB7u : r << 1;
        crc_tab[0][i] = r;
    }
    for (int k = 1; k < 8; k++)
        for (uint32_t i = 0; i < 256; i++)
            crc_tab[k][i] = (crc_tab[k - 1][i] << 8) ^ crc_tab[0][crc_tab[k - 1][i] >> 24];
    crc_ready = 1;
}

uint32_t oggv_crc(uint32_t crc, const uint8_t *p, size_t len)
{
    if (!crc_ready) crc_init();
    while (len >= 8) {
        crc ^= (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        crc = crc_tab[7][crc >> 24] ^ crc_tab[6][(crc >> 16) & 0xff] ^
              crc_tab[5][(crc >> 8) & 0xff] ^ crc_tab[4][crc & 0xff] ^ crc_tab[3][p[4]] ^
              crc_tab[2][p[5]] ^ crc_tab[1][p[6]] ^ crc_tab[0][p[7]];
        p += 8;
        len -= 8;
    }
    for (size_t i = 0; i < len; i++) crc = (crc << 8) ^ crc_table[((crc >> 24) ^ p[i]) & 0xff];
    return crc;
}

void oggv_init(struct oggv *v)
{
    if (!crc_ready) crc_init();
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
    v->crc = (v->crc << 8) ^ crc_table[((v->crc >> 24) ^ c) & 0xff];
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

void oggv_feed(struct oggv *v, const uint8_t *buf, size_t len, struct oggv_out *out)
{
    size_t i = 0;
    while (i < len) {
        uint8_t b = buf[i];
        switch (v->state) {
        case S_SYNC:
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
            v->crc = (v->crc << 8) ^ crc_table[((v->crc >> 24) ^ b) & 0xff];
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
