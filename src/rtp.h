/* rtp: RTP/Opus over UDP into a space's mix (ffmpeg -f rtp, a Janus
 * AudioBridge rtp_forward, GStreamer). One socket on the origin; each
 * datagram is routed by its source address to the space that expects it
 * (POST /api/spaces with rtp_source and rtp_port), anything else is
 * counted and dropped before it costs more than a lookup. */
#ifndef PODIUM_RTP_H
#define PODIUM_RTP_H

#include <stddef.h>
#include <stdint.h>

struct server;

struct rtp_packet {
    uint8_t payload_type;
    uint16_t seq;
    uint32_t ts;
    uint32_t ssrc;
    const uint8_t *payload;
    size_t payload_len;
};

/* rtp_parse: an RTP packet (RFC 3550: version 2, CSRCs, header extension
 * and padding skipped). 0, or -1 when it is not one. */
int rtp_parse(const uint8_t *p, size_t len, struct rtp_packet *out);

/* rtp_open: binds the origin's RTP socket (conf rtp_listen) and reads it on
 * the loop. 0 or -1 (logged). */
int rtp_open(struct server *srv);
void rtp_close(struct server *srv);

#endif
