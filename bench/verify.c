/* verify: nanoseconds per page of storm's Ogg verifier (tools/storm/oggv.c),
 * fed as a listener at the default 1 s cadence meets it: ten 432-byte
 * pages of five 80-byte packets per read. Prints ns per page and per byte.
 * Usage: verify [ROUNDS] (default 200000 reads). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ogg.h"
#include "oggv.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 200000;
    if (rounds < 1 || rounds > 100000000) {
        fprintf(stderr, "usage: verify [ROUNDS 1..100000000]\n");
        return 2;
    }
    static uint8_t buf[8192];
    uint8_t pkt[5][80];
    const uint8_t *pp[5];
    uint32_t lens[5];
    for (int k = 0; k < 5; k++) {
        memset(pkt[k], 0x10 + k, sizeof(pkt[k]));
        pkt[k][0] = 0xfc; /* a 20 ms CELT frame's TOC */
        pp[k] = pkt[k];
        lens[k] = sizeof(pkt[k]);
    }
    size_t len = 0;
    for (uint32_t p = 0; p < 10; p++)
        len += ogg_page_write(buf + len, 0, (uint64_t)(p + 1) * 4800, 7, p, pp, lens, 5);
    struct oggv v;
    struct oggv_out o = {0};
    oggv_init(&v);
    double t0 = now_s();
    for (long i = 0; i < rounds; i++) oggv_feed(&v, buf, len, &o);
    double dt = now_s() - t0;
    double pages = 10.0 * (double)rounds;
    printf("verify: %.0f ns per page, %.3f ns per byte (%zu bytes a read, %ld reads); "
           "pages %u, crc errors %u\n",
           dt * 1e9 / pages, dt * 1e9 / ((double)len * (double)rounds), len, rounds, o.pages,
           o.err_crc);
    return o.err_crc || o.pages != (uint32_t)pages ? 1 : 0;
}
