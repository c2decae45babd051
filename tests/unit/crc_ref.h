/* crc_ref.h: the Ogg CRC-32 from its definition, one bit at a time (MSB
 * first, poly 0x04c11db7, init 0, no final xor), for tests to check the
 * server's table CRC (src/ogg.c) and storm's own (tools/storm/oggv.c)
 * against, and the bytes they check it on. Neither implementation's code is
 * used here. */
#ifndef PODIUM_CRC_REF_H
#define PODIUM_CRC_REF_H

#include <stddef.h>
#include <stdint.h>

static uint32_t crc_ref(const uint8_t *p, size_t len)
{
    uint32_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint32_t)p[i] << 24;
        for (int b = 0; b < 8; b++) crc = (crc & 0x80000000u) ? (crc << 1) ^ 0x04c11db7u : crc << 1;
    }
    return crc;
}

/* crc_ref_bytes: fills <buf> with the same fixed pseudo-random bytes every
 * run (a linear congruential sequence from 12345). */
static void crc_ref_bytes(uint8_t *buf, size_t n)
{
    uint32_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        buf[i] = (uint8_t)(s >> 16);
    }
}

#endif
