/* fuzz_ogg: libFuzzer driver for src/ogg_in.c (and the Opus checks of
 * src/ogg.c it relies on).
 *
 * Input layout: the first 4 bytes seed the split points (and one of them
 * decides whether the head callback refuses mono streams); the rest is the
 * source's byte stream. The driver feeds it to ogg_in_feed in pieces, as
 * reads from a socket would arrive, stopping at OGG_IN_NOT_OPUS as the
 * server does. The callbacks check what ogg_in promises: every head is a
 * valid family-0 OpusHead, every packet is 1..OGG_IN_PACKET_BYTES_MAX bytes
 * of 1..5760 samples that agree with its TOC, and no packet comes before a
 * head. Any broken promise traps.
 */
#include "ogg_in.h"

#include <stdlib.h>
#include <string.h>

#define ASSERT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) __builtin_trap();                                                             \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_ctx {
    unsigned heads, packets;
    bool refuse_mono;
};

static int on_head(void *ctx, const struct opus_head *h)
{
    struct fuzz_ctx *f = ctx;
    ASSERT(h->family == 0);
    ASSERT(h->channels == 1 || h->channels == 2);
    ASSERT((h->version >> 4) == 0);
    f->heads++;
    return f->refuse_mono && h->channels == 1 ? -1 : 0;
}

static void on_packet(void *ctx, const uint8_t *pkt, uint32_t len, int samples)
{
    struct fuzz_ctx *f = ctx;
    ASSERT(f->heads > 0);
    ASSERT(pkt != NULL);
    ASSERT(len >= 1 && len <= OGG_IN_PACKET_BYTES_MAX);
    ASSERT(samples >= 1 && samples <= 5760);
    ASSERT(opus_packet_samples(pkt, len) == samples);
    /* Touch every byte so ASan sees a packet that points outside libogg's buffer. */
    volatile uint8_t sink = 0;
    for (uint32_t i = 0; i < len; i++) sink ^= pkt[i];
    (void)sink;
    f->packets++;
}

static const struct ogg_in_ops ops = {on_head, on_packet};

static uint32_t next_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    uint32_t seed = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                    (uint32_t)data[3] << 24;
    struct fuzz_ctx f = {0};
    f.refuse_mono = (data[0] & 0x80) != 0;
    data += 4;
    size -= 4;
    /* Piece sizes by the low bits: all at once; 1..64 bytes (splitting
     * headers and lacing tables); up to 16 KiB (past ogg_in's own 8 KiB
     * pieces); or a mix of single bytes and larger reads. */
    uint32_t mode = seed & 3;
    seed |= 1; /* xorshift must not start at 0 */
    struct ogg_in in;
    ogg_in_init(&in);
    size_t off = 0;
    int r = 0;
    while (off < size) {
        size_t n;
        uint32_t x = next_rand(&seed);
        if (mode == 0)
            n = size - off; /* all at once */
        else if (mode == 1)
            n = 1 + x % 64;
        else if (mode == 2)
            n = 1 + x % 16384;
        else
            n = (x & 1) ? 1 : 1 + x % 4096;
        if (n > size - off) n = size - off;
        r = ogg_in_feed(&in, data + off, n, &ops, &f);
        off += n;
        if (r) {
            ASSERT(r == OGG_IN_NOT_OPUS);
            break;
        }
    }
    /* Counters agree with what the callbacks saw: every delivered or bad
     * packet was counted, and each head belongs to one logical stream. */
    ASSERT(in.packets >= f.packets + in.bad_packets);
    ASSERT(f.heads <= in.chains + 1);
    ogg_in_free(&in);
    return 0;
}
