/* crc_ref.h: the Ogg CRC-32 from its definition, one bit at a time (MSB
 * first, poly 0x04c11db7, init 0, no final xor), for tests to check the
 * server's table CRC (src/ogg.c) and storm's own (tools/storm/oggv.c)
 * against. Neither implementation's code is used here. */
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

#endif
