/* ogg_in: reads a source's Ogg/Opus byte stream into Opus packets.
 *
 * Built on libogg (capture, CRC, lacing). It checks what Podium needs: the
 * first page is Ogg, the first packet of each logical stream is a valid
 * OpusHead (mapping family 0), the second is OpusTags, and every audio packet
 * has a valid TOC and at most 120 ms. Chained streams (a new BOS after the
 * old one, as liquidsoap sends at a track change) start over at OpusHead;
 * pages of other logical streams are ignored. Hostile input is counted,
 * never asserted on. Memory is bounded by libogg's page limit (64 KiB).
 */
#ifndef PODIUM_OGG_IN_H
#define PODIUM_OGG_IN_H

#include <ogg/ogg.h>
#include <stdbool.h>
#include <stdint.h>

#include "ogg.h"

#define OGG_IN_NOT_OPUS (-1)
#define OGG_IN_PACKET_BYTES_MAX 7680 /* 120 ms at 510 kbit/s, RFC 6716's ceiling */
/* Bytes libogg may hold for packets not yet complete: the largest packet
 * plus one page of the next. */
#define OGG_IN_PENDING_BYTES_MAX (OGG_IN_PACKET_BYTES_MAX + OGG_PAGE_BYTES_MAX)

struct ogg_in_ops {
    /* A new logical stream's OpusHead; nonzero refuses the stream. */
    int (*head)(void *ctx, const struct opus_head *h);
    /* One audio packet of <samples> at 48 kHz. */
    void (*packet)(void *ctx, const uint8_t *pkt, uint32_t len, int samples);
};

struct ogg_in {
    ogg_sync_state oy;
    ogg_stream_state os;
    bool os_ready;
    bool seen_page;
    uint8_t stage; /* 0: want OpusHead, 1: want OpusTags, 2: audio */
    uint32_t serial;
    struct opus_head head;
    /* counters */
    uint64_t pages, packets, bad_packets, lost, resyncs, foreign_pages, chains;
};

void ogg_in_init(struct ogg_in *in);
void ogg_in_free(struct ogg_in *in);

/* ogg_in_feed: consumes data[0..len). Returns 0, or OGG_IN_NOT_OPUS when the
 * stream is not Ogg/Opus at its start (the caller answers 415), or when a
 * later logical stream's head is refused by ops->head. */
int ogg_in_feed(struct ogg_in *in, const uint8_t *data, size_t len, const struct ogg_in_ops *ops,
                void *ctx);

#endif
