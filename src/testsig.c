/* testsig: synthesised tones, encoded once, as an Ogg/Opus source. */
#include "testsig.h"

#include <errno.h>
#include <math.h>
#include <opus.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "ogg.h"

#define RATE 48000
#define FRAME 960        /* 20 ms */
#define FRAMES_PER_PAGE 5 /* 100 ms pages */
#define BITRATE 32000
#define PACKET_BYTES_MAX 1275

struct testsig {
    pthread_t thread;
    int fd;
    atomic_bool stop;
    OpusEncoder *enc;
    uint32_t serial;
    uint32_t seq;
    uint64_t granule;
    int preskip;
    uint64_t t; /* samples synthesised */
};

static bool send_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool send_page(struct testsig *t, uint8_t flags, const uint8_t *const *pkts,
                      const uint32_t *lens, unsigned n)
{
    uint8_t page[OGG_HEADER_BYTES + 255 + FRAMES_PER_PAGE * PACKET_BYTES_MAX];
    size_t len = ogg_page_write(page, flags, t->granule, t->serial, t->seq++, pkts, lens, n);
    return send_all(t->fd, page, len);
}

/* A slow A-major arpeggio, one note per half second with a soft envelope,
 * at about -14 dBFS: recognisable, not tiring. */
static void synth(struct testsig *t, float *out)
{
    static const double notes[] = {440.0, 554.37, 659.25, 880.0, 659.25, 554.37};
    const uint64_t note_len = RATE / 2;
    for (int i = 0; i < FRAME; i++, t->t++) {
        uint64_t k = t->t / note_len, pos = t->t % note_len;
        double f = notes[k % (sizeof(notes) / sizeof(notes[0]))];
        double env = sin(M_PI * (double)pos / (double)note_len);
        double ph = 2.0 * M_PI * f * (double)(t->t % RATE) / RATE;
        out[i] = (float)(0.2 * env * sin(ph));
    }
}

static void sleep_until_us(uint64_t when)
{
    uint64_t now = clock_mono_us();
    if (when <= now) return;
    struct timespec ts = {(time_t)((when - now) / 1000000), (long)((when - now) % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static void *run(void *arg)
{
    struct testsig *t = arg;
    uint8_t head[19], tags[64];
    const char *comments[] = {"TITLE=Podium test signal"};
    uint32_t hl = (uint32_t)opus_head_write(head, 1, (uint16_t)t->preskip);
    uint32_t tl = (uint32_t)opus_tags_write(tags, sizeof(tags), comments, 1);
    const uint8_t *hp[] = {head}, *tp[] = {tags};
    if (!send_page(t, OGG_FLAG_BOS, hp, &hl, 1) || !send_page(t, 0, tp, &tl, 1)) return NULL;
    t->granule = (uint64_t)t->preskip;

    uint64_t next = clock_mono_us();
    while (!atomic_load(&t->stop)) {
        static uint8_t pkt[FRAMES_PER_PAGE][PACKET_BYTES_MAX];
        const uint8_t *pkts[FRAMES_PER_PAGE];
        uint32_t lens[FRAMES_PER_PAGE];
        float pcm[FRAME];
        for (int f = 0; f < FRAMES_PER_PAGE; f++) {
            synth(t, pcm);
            opus_int32 n = opus_encode_float(t->enc, pcm, FRAME, pkt[f], PACKET_BYTES_MAX);
            if (n < 0) return NULL;
            pkts[f] = pkt[f];
            lens[f] = (uint32_t)n;
            t->granule += FRAME;
        }
        if (!send_page(t, 0, pkts, lens, FRAMES_PER_PAGE)) return NULL; /* server closed */
        next += 1000000ull * FRAME * FRAMES_PER_PAGE / RATE;
        sleep_until_us(next);
    }
    return NULL;
}

struct testsig *testsig_start(int *server_fd)
{
    int sv[2], err;
    struct testsig *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->enc = opus_encoder_create(RATE, 1, OPUS_APPLICATION_AUDIO, &err);
    if (!t->enc) goto out_free;
    opus_encoder_ctl(t->enc, OPUS_SET_BITRATE(BITRATE));
    opus_int32 lookahead = 0;
    opus_encoder_ctl(t->enc, OPUS_GET_LOOKAHEAD(&lookahead));
    t->preskip = lookahead;
    t->serial = (uint32_t)clock_mono_us() | 1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) goto out_enc;
    t->fd = sv[0];
    if (pthread_create(&t->thread, NULL, run, t) != 0) goto out_sock;
    *server_fd = sv[1];
    return t;

out_sock:
    close(sv[0]);
    close(sv[1]);
out_enc:
    opus_encoder_destroy(t->enc);
out_free:
    free(t);
    return NULL;
}

void testsig_stop(struct testsig *t)
{
    if (!t) return;
    atomic_store(&t->stop, true);
    shutdown(t->fd, SHUT_RDWR); /* unblocks a send stuck on a full socket */
    pthread_join(t->thread, NULL);
    close(t->fd);
    opus_encoder_destroy(t->enc);
    free(t);
}
