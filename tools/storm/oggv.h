/* oggv: streaming Ogg page verifier for one virtual listener.
 *
 * Fed the response body in arbitrary pieces (one byte at a time works), it
 * checks every page as a player would meet it: the "OggS" capture pattern,
 * the page CRC (polynomial 0x04C11DB7, CRC field taken as zero), page
 * sequence continuity within one logical stream, and granule continuity
 * (monotonic, no jump over granule_jump_max). A listener usually joins mid-
 * stream: the OpusHead/OpusTags header pages come first, then pages from the
 * middle of the stream; the first audio page after headers sets the baseline
 * without a continuity check. Nothing is buffered: the state is a few dozen
 * bytes, no libogg.
 *
 * After a capture or CRC error the verifier resynchronises on the next "OggS"
 * and takes the next page as a new baseline (one error is counted per fault,
 * not one per following page).
 */
#ifndef PODIUM_OGGV_H
#define PODIUM_OGGV_H

#include <stddef.h>
#include <stdint.h>

#define OGGV_RATE_HZ 48000u              /* Opus granule clock */
#define OGGV_GRANULE_JUMP_MAX 96000u     /* 2 s of samples between consecutive pages */

struct oggv {
    uint64_t granule;      /* current page header */
    uint64_t last_granule; /* last audio page with a granule, baseline */
    uint32_t serial, seq;
    uint32_t last_serial, last_seq;
    uint32_t crc_want, crc;
    uint32_t body_left;    /* body bytes still to come */
    uint16_t pos;          /* bytes of the current page header seen */
    uint8_t nsegs, state;
    uint8_t flags;         /* header_type of the current page */
    uint8_t head_probe;    /* 0..7 matched of "OpusHead"/"OpusTags", 8 header, 0xff audio */
    uint8_t have_base;     /* 1 once an audio page set the continuity baseline */
    uint8_t hunting;       /* 1 while looking for "OggS" after an error */
};

/* What one oggv_feed() call found. */
struct oggv_out {
    uint32_t pages;         /* complete pages that passed the CRC */
    uint32_t audio_pages;   /* of which audio (not header) pages */
    uint64_t audio_samples; /* granule advance over audio pages, 48 kHz */
    uint32_t err_capture, err_crc, err_seq, err_granule;
};

void oggv_init(struct oggv *v);

/* oggv_feed: verifies buf[0..len); adds what it found to <out> (not
 * cleared, so one out can sum several feeds). Never fails: hostile bytes are
 * counted, never trusted. */
void oggv_feed(struct oggv *v, const uint8_t *buf, size_t len, struct oggv_out *out);

/* oggv_crc: CRC-32 of the Ogg flavour (MSB first, no reflection, init 0,
 * no final xor) continuing from <crc>. */
uint32_t oggv_crc(uint32_t crc, const uint8_t *p, size_t len);

#endif
