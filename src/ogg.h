/* ogg: writing Ogg pages (RFC 3533) and Opus header packets (RFC 7845).
 *
 * Podium packages every stream itself, deterministically: given the same
 * packets, serial number and sequence number, every node writes the same
 * bytes. Reading a source's Ogg is ogg_in's job.
 */
#ifndef PODIUM_OGG_H
#define PODIUM_OGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OGG_HEADER_BYTES 27
#define OGG_SEGMENTS_MAX 255
#define OGG_PAGE_BYTES_MAX (OGG_HEADER_BYTES + OGG_SEGMENTS_MAX + 255 * 255)

#define OGG_FLAG_CONTINUED 0x01
#define OGG_FLAG_BOS 0x02
#define OGG_FLAG_EOS 0x04

/* CRC-32 of Ogg: polynomial 0x04c11db7, initial 0, no reflection, no xor. */
uint32_t ogg_crc(uint32_t crc, const uint8_t *p, size_t len);

/* ogg_page_size: bytes of a page holding <n> whole packets of <lens>, or 0
 * when they do not fit in one page (more than 255 lacing values). */
size_t ogg_page_size(const uint32_t *lens, unsigned n);

/* ogg_page_write: writes one page of <n> whole packets into out (which must
 * hold ogg_page_size() bytes), CRC included. Returns bytes written. */
size_t ogg_page_write(uint8_t *out, uint8_t flags, uint64_t granule, uint32_t serial,
                      uint32_t seq, const uint8_t *const *pkts, const uint32_t *lens, unsigned n);

struct opus_head {
    uint8_t version;
    uint8_t channels;
    uint16_t preskip;
    uint32_t input_rate;
    int16_t gain_q8;
    uint8_t family;
};

/* opus_head_parse: validates an OpusHead packet. Podium takes mapping family
 * 0 only (mono or stereo). Returns 0, or -1 when it is not a valid head. */
int opus_head_parse(const uint8_t *p, size_t len, struct opus_head *h);

/* opus_head_write: 19 bytes (family 0). */
size_t opus_head_write(uint8_t out[19], uint8_t channels, uint16_t preskip);

/* opus_tags_write: an OpusTags packet with vendor "podium" and one comment
 * per <comments> entry (NUL-terminated "KEY=value"). Returns the length, or 0
 * when it does not fit <cap>. */
size_t opus_tags_write(uint8_t *out, size_t cap, const char *const *comments, unsigned n);

static inline bool opus_is_tags(const uint8_t *p, size_t len)
{
    return len >= 16 && p[0] == 'O' && p[1] == 'p' && p[2] == 'u' && p[3] == 's' &&
           p[4] == 'T' && p[5] == 'a' && p[6] == 'g' && p[7] == 's';
}

/* opus_packet_samples: duration of an Opus packet at 48 kHz from its TOC
 * (RFC 6716 3.1), or -1 when the packet is malformed. */
int opus_packet_samples(const uint8_t *p, size_t len);

#endif
