/* ogg_in: source demux on libogg, with Opus checks. */
#include "ogg_in.h"

#include <string.h>

void ogg_in_init(struct ogg_in *in)
{
    memset(in, 0, sizeof(*in));
    ogg_sync_init(&in->oy);
}

void ogg_in_free(struct ogg_in *in)
{
    ogg_sync_clear(&in->oy);
    if (in->os_ready) ogg_stream_clear(&in->os);
    in->os_ready = false;
}

static void start_stream(struct ogg_in *in, uint32_t serial)
{
    if (in->os_ready) {
        ogg_stream_clear(&in->os);
        in->chains++;
    }
    ogg_stream_init(&in->os, (int)serial);
    in->os_ready = true;
    in->serial = serial;
    in->stage = 0;
}

/* Returns 0 or OGG_IN_NOT_OPUS. */
static int take_packet(struct ogg_in *in, ogg_packet *op, const struct ogg_in_ops *ops, void *ctx)
{
    const uint8_t *p = op->packet;
    size_t len = (size_t)op->bytes;
    in->packets++;
    switch (in->stage) {
    case 0:
        if (opus_head_parse(p, len, &in->head) < 0) return OGG_IN_NOT_OPUS;
        if (ops->head && ops->head(ctx, &in->head)) return OGG_IN_NOT_OPUS;
        in->stage = 1;
        return 0;
    case 1:
        if (!opus_is_tags(p, len)) return OGG_IN_NOT_OPUS;
        in->stage = 2;
        return 0;
    default:
        break;
    }
    int samples = len <= OGG_IN_PACKET_BYTES_MAX ? opus_packet_samples(p, len) : -1;
    if (samples <= 0) {
        in->bad_packets++;
        return 0;
    }
    ops->packet(ctx, p, (uint32_t)len, samples);
    return 0;
}

int ogg_in_feed(struct ogg_in *in, const uint8_t *data, size_t len, const struct ogg_in_ops *ops,
                void *ctx)
{
    while (len) {
        /* Feed in bounded pieces so libogg's buffer never grows past a page
         * or two, whatever the read size. */
        size_t n = len > 8192 ? 8192 : len;
        char *buf = ogg_sync_buffer(&in->oy, (long)n);
        if (!buf) return OGG_IN_NOT_OPUS;
        memcpy(buf, data, n);
        ogg_sync_wrote(&in->oy, (long)n);
        data += n;
        len -= n;

        ogg_page og;
        int r;
        while ((r = ogg_sync_pageout(&in->oy, &og)) != 0) {
            if (r < 0) {
                /* Bytes skipped to find a capture pattern: not Ogg at the
                 * start is a wrong format; later it is damage. */
                if (!in->seen_page) return OGG_IN_NOT_OPUS;
                in->resyncs++;
                continue;
            }
            in->pages++;
            uint32_t serial = (uint32_t)ogg_page_serialno(&og);
            if (!in->seen_page && !ogg_page_bos(&og)) return OGG_IN_NOT_OPUS;
            in->seen_page = true;
            if (ogg_page_bos(&og) && (!in->os_ready || serial != in->serial || in->stage == 2))
                start_stream(in, serial);
            else if (serial != in->serial) {
                in->foreign_pages++;
                continue;
            }
            if (ogg_stream_pagein(&in->os, &og) < 0) {
                in->resyncs++;
                continue;
            }
            ogg_packet op;
            int pr;
            while ((pr = ogg_stream_packetout(&in->os, &op)) != 0) {
                if (pr < 0) {
                    in->lost++;
                    continue;
                }
                if (take_packet(in, &op, ops, ctx) < 0) return OGG_IN_NOT_OPUS;
            }
            /* libogg keeps an unfinished packet's bytes without limit: a
             * packet still open past the largest legal one is dropped. */
            if (in->os.body_fill - in->os.body_returned > OGG_IN_PENDING_BYTES_MAX) {
                ogg_stream_reset_serialno(&in->os, (int)in->serial);
                in->bad_packets++;
            }
        }
    }
    return 0;
}
