/* test_recording: real Opus (libopus) recorded, then read back with libogg
 * and decoded with libopus, which are independent of our writer: pages,
 * CRCs, granule positions, page durations, end-of-stream. Then the crash
 * cases: the file cut at many byte offsets and repaired, corrupted and
 * repaired, and a writer process killed with SIGKILL mid-recording; each
 * time every remaining page must be valid and the duration within 1 s of
 * what was handed to the writer. Also the sync cadence and byte ranges. */
#include "recording.h"
#include "t.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <ogg/ogg.h>
#include <opus.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ogg.h"

static char dir[64];

/* Packets -------------------------------------------------------------- */

#define PACKETS_MAX 600

static uint8_t pk[PACKETS_MAX][1275];
static size_t pk_len[PACKETS_MAX];
static int pk_ms; /* duration of each packet */
static int lookahead;

/* encode: n packets of frame_ms each of a gliding tone, from libopus. */
static void encode(int n, int frame_ms)
{
    int err;
    OpusEncoder *enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_AUDIO, &err);
    float pcm[2880];
    int frame = 48 * frame_ms;
    double phase = 0;

    opus_encoder_ctl(enc, OPUS_SET_BITRATE(32000));
    opus_encoder_ctl(enc, OPUS_GET_LOOKAHEAD(&lookahead));
    for (int i = 0; i < n; i++) {
        for (int s = 0; s < frame; s++) {
            phase += 2 * M_PI * (220.0 + (i % 50) * 10) / 48000.0;
            pcm[s] = (float)(0.3 * sin(phase));
        }
        opus_int32 len = opus_encode_float(enc, pcm, frame, pk[i], sizeof(pk[i]));
        CHECK(len > 0);
        pk_len[i] = (size_t)len;
    }
    opus_encoder_destroy(enc);
    pk_ms = frame_ms;
}

/* Reading back --------------------------------------------------------- */

struct readback {
    int pages, holes, decode_errors, packet_gaps;
    bool bos_first, eos_last, eos_early, heads_ok;
    int64_t last_granule;
    int64_t max_page_samples;
    int64_t decoded;
    uint64_t consumed, size;
};

static void read_file(const char *path, uint8_t **data, size_t *size)
{
    struct stat st;
    int fd = open(path, O_RDONLY);
    *data = NULL;
    *size = 0;
    if (fd < 0 || fstat(fd, &st) < 0) return;
    *size = (size_t)st.st_size;
    *data = malloc(*size + 1);
    CHECK_EQ(read(fd, *data, *size), (ssize_t)*size);
    close(fd);
}

/* readback: libogg pages and packets, libopus decoding. */
static void readback(const char *path, struct readback *rb)
{
    uint8_t *data;
    size_t size;
    ogg_sync_state oy;
    ogg_stream_state os;
    ogg_page og;
    ogg_packet op;
    float pcm[5760];
    int packets = 0;
    bool stream = false;
    OpusDecoder *dec = opus_decoder_create(48000, 1, &(int){0});

    memset(rb, 0, sizeof(*rb));
    read_file(path, &data, &size);
    rb->size = size;
    ogg_sync_init(&oy);
    char *b = ogg_sync_buffer(&oy, (long)size + 1);
    memcpy(b, data, size);
    ogg_sync_wrote(&oy, (long)size);
    for (;;) {
        int r = ogg_sync_pageout(&oy, &og);
        if (r == 0) break;
        if (r < 0) {
            rb->holes++;
            continue;
        }
        if (rb->eos_last) rb->eos_early = true; /* a page after an EOS page */
        rb->consumed += (uint64_t)(og.header_len + og.body_len);
        if (!stream) {
            ogg_stream_init(&os, ogg_page_serialno(&og));
            stream = true;
            rb->bos_first = ogg_page_bos(&og);
        }
        int64_t g = ogg_page_granulepos(&og);
        if (rb->pages >= 2 && g - rb->last_granule > rb->max_page_samples)
            rb->max_page_samples = g - rb->last_granule;
        if (g >= 0) rb->last_granule = g;
        rb->eos_last = ogg_page_eos(&og);
        rb->pages++;
        CHECK_EQ(ogg_stream_pagein(&os, &og), 0);
        while ((r = ogg_stream_packetout(&os, &op)) != 0) {
            if (r < 0) {
                rb->packet_gaps++;
                continue;
            }
            struct opus_head h;
            if (packets == 0)
                rb->heads_ok = opus_head_parse(op.packet, (size_t)op.bytes, &h) == 0;
            else if (packets == 1)
                rb->heads_ok = rb->heads_ok && opus_is_tags(op.packet, (size_t)op.bytes);
            else {
                int n = opus_decode_float(dec, op.packet, (opus_int32)op.bytes, pcm, 5760, 0);
                if (n < 0)
                    rb->decode_errors++;
                else
                    rb->decoded += n;
            }
            packets++;
        }
    }
    if (stream) ogg_stream_clear(&os);
    ogg_sync_clear(&oy);
    opus_decoder_destroy(dec);
    free(data);
}

/* check_valid: what every recording on disk must be after close or repair. */
static void check_valid(const struct readback *rb)
{
    CHECK_EQ(rb->holes, 0);
    CHECK_EQ(rb->packet_gaps, 0);
    CHECK_EQ(rb->decode_errors, 0);
    CHECK_EQ(rb->consumed, rb->size);
    CHECK(rb->pages >= 2);
    CHECK(rb->bos_first);
    CHECK(rb->heads_ok);
    CHECK(rb->eos_last);
    CHECK(!rb->eos_early);
    /* The granule counts every decoded sample, pre-skip included. */
    CHECK_EQ(rb->decoded, rb->last_granule);
}

/* Recording ------------------------------------------------------------ */

/* One entry per write: bytes on disk and audio handed over after it. */
struct log_entry {
    uint64_t bytes;
    int64_t written_ms;
};
static struct log_entry wlog[PACKETS_MAX + 1];
static int wlog_len;

static void path_of(char *out, size_t cap, const char *id)
{
    CHECK_EQ(recording_path(out, cap, dir, id), 0);
}

/* record: n packets into space <id>, logging bytes on disk after each. */
static void record(const char *id, int n, uint32_t page_ms, struct recording_info *info)
{
    struct recording *r = NULL;
    struct recording_params p = {.channels = 1,
                                 .preskip = (uint16_t)lookahead,
                                 .serial = 0x5eed,
                                 .page_ms = page_ms,
                                 .title = "Morning show"};

    CHECK_EQ(recording_open(&r, dir, id, &p), 0);
    if (!r) return;
    wlog_len = 0;
    wlog[wlog_len++] = (struct log_entry){recording_bytes(r), 0};
    for (int i = 0; i < n; i++) {
        CHECK_EQ(recording_write_packet(r, pk[i], pk_len[i]), 0);
        wlog[wlog_len++] = (struct log_entry){recording_bytes(r), (int64_t)(i + 1) * pk_ms};
    }
    CHECK_EQ(recording_close(r, info), 0);
}

static void test_clean(void)
{
    char path[256];
    struct recording_info info;
    struct readback rb;

    encode(500, 20);
    record("clean", 500, 0, &info);
    path_of(path, sizeof(path), "clean");
    readback(path, &rb);
    check_valid(&rb);
    CHECK_EQ(rb.pages, 2 + 10); /* 10 s in pages of 1 s */
    CHECK_EQ(rb.last_granule, 500 * 960);
    CHECK_EQ(rb.max_page_samples, 48000);
    CHECK(info.complete);
    CHECK_EQ(info.bytes, rb.size);
    CHECK_EQ(info.duration_ms, (500 * 960 - lookahead) / 48);
    /* Bytes on disk only ever grow by whole pages: every value the writer
     * reported is where libogg sees a page end. */
    for (int i = 1; i < wlog_len; i++)
        CHECK(wlog[i].bytes >= wlog[i - 1].bytes);
    CHECK_EQ(wlog[50].bytes - wlog[49].bytes > 0, 1); /* the 50th packet completed a page */
    CHECK_EQ(wlog[49].bytes, wlog[1].bytes);          /* ...and nothing before it */

    /* Pages never hold more than page_ms, with packets that do not divide
     * it: 60 ms packets, pages of at most 1000 ms (16 packets, 960 ms). */
    encode(100, 60);
    record("sixty", 100, 1000, &info);
    path_of(path, sizeof(path), "sixty");
    readback(path, &rb);
    check_valid(&rb);
    CHECK_EQ(rb.max_page_samples, 16 * 2880);
    CHECK_EQ(rb.last_granule, 100 * 2880);
    /* Shorter pages on request. */
    encode(100, 20);
    record("short", 100, 200, &info);
    path_of(path, sizeof(path), "short");
    readback(path, &rb);
    check_valid(&rb);
    CHECK_EQ(rb.pages, 2 + 10);
    CHECK_EQ(rb.max_page_samples, 200 * 48);
}

static void test_close_edges(void)
{
    char path[256];
    struct recording_info info;
    struct readback rb;

    encode(50, 20);
    /* Nothing pending at close: the last page written is re-flagged. */
    record("exact", 50, 0, &info);
    path_of(path, sizeof(path), "exact");
    readback(path, &rb);
    check_valid(&rb);
    CHECK_EQ(rb.pages, 3);
    CHECK_EQ(info.bytes, rb.size);
    /* No audio at all: the tags page ends the stream. */
    record("empty", 0, 0, &info);
    path_of(path, sizeof(path), "empty");
    readback(path, &rb);
    check_valid(&rb);
    CHECK_EQ(rb.pages, 2);
    CHECK_EQ(info.duration_ms, 0);
    CHECK(info.complete);
}

static void copy_prefix(const uint8_t *data, size_t n, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, data, n), (ssize_t)n);
    close(fd);
}

/* audio_by: audio handed to the writer by the last moment the file was
 * no longer than <bytes> (so every page up to then was complete on disk). */
static int64_t audio_by(uint64_t bytes)
{
    int64_t a = -1;
    for (int i = 0; i < wlog_len; i++)
        if (wlog[i].bytes <= bytes) a = wlog[i].written_ms;
    return a;
}

static void test_truncate_repair(void)
{
    char path[256], cut[256];
    struct recording_info info;
    struct readback rb;
    uint8_t *data;
    size_t size;

    encode(500, 20);
    record("full", 500, 0, &info);
    path_of(path, sizeof(path), "full");
    read_file(path, &data, &size);
    snprintf(cut, sizeof(cut), "%s/cut.opus", dir);
    uint64_t headers = wlog[0].bytes;

    /* Every byte offset near the header boundary and the first page, then
     * random ones over the whole file, then the whole file. */
    uint64_t offsets[400];
    int n = 0;
    for (uint64_t x = 0; x < 60; x++)
        offsets[n++] = x;
    for (uint64_t x = headers - 30; x < headers + 30; x++)
        offsets[n++] = x;
    uint32_t seed = 12345;
    while (n < 399) {
        seed = seed * 1103515245u + 12345u;
        offsets[n++] = (seed >> 4) % size;
    }
    offsets[n++] = size;

    int checked = 0;
    for (int k = 0; k < n; k++) {
        uint64_t x = offsets[k];
        copy_prefix(data, (size_t)x, cut);
        CHECK_EQ(recording_repair(cut, &info), 0);
        struct stat st;
        CHECK_EQ(stat(cut, &st), 0);
        CHECK_EQ((uint64_t)st.st_size, info.bytes);
        if (x < headers) {
            /* Not even the headers: nothing left to keep. */
            CHECK_EQ(info.bytes, 0);
            continue;
        }
        readback(cut, &rb);
        check_valid(&rb);
        int64_t a = audio_by(x), d = (int64_t)info.duration_ms;
        if (d > a || a - d > 1000)
            fprintf(stderr, "offset %" PRIu64 ": wrote %lld ms, kept %lld ms\n", x, (long long)a,
                    (long long)d);
        CHECK(d <= a);
        CHECK(a - d <= 1000);
        CHECK_EQ(info.complete, x == size);
        checked++;
    }
    CHECK(checked > 300);

    /* Repairing twice changes nothing. */
    copy_prefix(data, size / 2, cut);
    CHECK_EQ(recording_repair(cut, &info), 0);
    uint64_t once = info.bytes;
    CHECK(!info.complete);
    CHECK_EQ(recording_repair(cut, &info), 0);
    CHECK_EQ(info.bytes, once);
    CHECK(info.complete);
    free(data);
}

static void test_corrupt_repair(void)
{
    char path[256], cut[256];
    struct recording_info info;
    struct readback rb;
    uint8_t *data;
    size_t size;

    encode(500, 20);
    record("corrupt", 500, 0, &info);
    path_of(path, sizeof(path), "corrupt");
    read_file(path, &data, &size);
    snprintf(cut, sizeof(cut), "%s/bad.opus", dir);

    /* One flipped bit in the 6th audio page's body: the 5 before it stay. */
    uint64_t page6 = wlog[5 * 50].bytes; /* where the 6th page starts */
    data[page6 + 200] ^= 0x10;
    copy_prefix(data, size, cut);
    CHECK_EQ(recording_repair(cut, &info), 0);
    CHECK_EQ(info.bytes, page6);
    readback(cut, &rb);
    check_valid(&rb);
    CHECK_EQ(rb.pages, 2 + 5);
    CHECK_EQ(info.duration_ms, (5 * 48000 - lookahead) / 48);
    data[page6 + 200] ^= 0x10;

    /* Junk after a clean end is cut off; the end stays. */
    uint8_t *more = malloc(size + 100);
    memcpy(more, data, size);
    memset(more + size, 'x', 100);
    copy_prefix(more, size + 100, cut);
    CHECK_EQ(recording_repair(cut, &info), 0);
    CHECK_EQ(info.bytes, size);
    CHECK(info.complete);
    /* A valid page of another stream after the headers is not ours. */
    memcpy(more, data, size);
    uint64_t p3 = wlog[50].bytes; /* the second audio page */
    more[p3 + 14] ^= 1;           /* serial number */
    uint32_t segs = more[p3 + 26], body = 0;
    for (uint32_t i = 0; i < segs; i++)
        body += more[p3 + 27 + i];
    memset(more + p3 + 22, 0, 4);
    uint32_t crc = ogg_crc(0, more + p3, 27 + segs + body);
    for (int i = 0; i < 4; i++)
        more[p3 + 22 + i] = (uint8_t)(crc >> (8 * i));
    copy_prefix(more, size, cut);
    CHECK_EQ(recording_repair(cut, &info), 0);
    CHECK_EQ(info.bytes, p3);
    readback(cut, &rb);
    check_valid(&rb);
    /* Not an Ogg file at all. */
    copy_prefix((const uint8_t *)"ID3\x03 not ogg at all", 19, cut);
    CHECK_EQ(recording_repair(cut, &info), 0);
    CHECK_EQ(info.bytes, 0);
    CHECK_EQ(recording_repair("/nonexistent/x.opus", &info), -ENOENT);
    free(more);
    free(data);
}

/* A writer killed with SIGKILL while recording: the file holds every
 * complete page, and repair makes it a valid stream. */
static void test_kill9(void)
{
    char path[256];
    int fds[2];
    struct recording_info info;
    struct readback rb;
    const int n = 270; /* 5.4 s: 5 whole pages and 0.4 s pending */

    encode(n, 20);
    CHECK_EQ(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        struct recording *r = NULL;
        struct recording_params p = {.channels = 1, .preskip = (uint16_t)lookahead};
        if (recording_open(&r, dir, "killed", &p) < 0) _exit(1);
        for (int i = 0; i < n; i++)
            if (recording_write_packet(r, pk[i], pk_len[i]) < 0) _exit(1);
        if (write(fds[1], "k", 1) != 1) _exit(1);
        for (;;)
            pause();
    }
    char c = 0;
    CHECK_EQ(read(fds[0], &c, 1), 1);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    close(fds[0]);
    close(fds[1]);

    path_of(path, sizeof(path), "killed");
    CHECK_EQ(recording_repair(path, &info), 0);
    readback(path, &rb);
    check_valid(&rb);
    CHECK(!info.complete);
    CHECK_EQ(rb.pages, 2 + 5);
    int64_t written = n * 20;
    CHECK(written - (int64_t)info.duration_ms <= 1000);
    CHECK_EQ(info.duration_ms, (5 * 48000 - lookahead) / 48);
}

static void test_sync(void)
{
    struct recording *r = NULL;
    struct recording_params p = {.channels = 1, .sync_ms = 5000};

    encode(200, 20);
    CHECK_EQ(recording_open(&r, dir, "sync", &p), 0);
    if (!r) return;
    CHECK_EQ(recording_sync(r, 1000), 0); /* the headers were synced by open */
    for (int i = 0; i < 50; i++)
        CHECK_EQ(recording_write_packet(r, pk[i], pk_len[i]), 0);
    CHECK_EQ(recording_sync(r, 1000), 1); /* new bytes, first sync */
    for (int i = 50; i < 100; i++)
        CHECK_EQ(recording_write_packet(r, pk[i], pk_len[i]), 0);
    CHECK_EQ(recording_sync(r, 3000), 0); /* not yet due */
    CHECK_EQ(recording_sync(r, 5999), 0);
    CHECK_EQ(recording_sync(r, 6000), 1);
    CHECK_EQ(recording_sync(r, 60000), 0); /* nothing new */
    for (int i = 100; i < 110; i++)
        CHECK_EQ(recording_write_packet(r, pk[i], pk_len[i]), 0);
    CHECK_EQ(recording_sync(r, 70000), 0); /* only pending packets: nothing on disk yet */
    struct recording_info info;
    recording_info_get(r, &info);
    CHECK_EQ(info.bytes, recording_bytes(r));
    CHECK_EQ(info.duration_ms, (100 * 960 - 0) / 48);
    CHECK(!info.complete);
    CHECK_EQ(recording_close(r, &info), 0);
    CHECK_EQ(info.duration_ms, 110 * 20);
}

static void test_refusals(void)
{
    char path[64];
    struct recording *r = NULL;
    struct recording_params p = {.channels = 1};

    CHECK_EQ(recording_path(path, sizeof(path), "/d", "ok-ID_9"), 0);
    CHECK_STR(path, "/d/recordings/ok-ID_9.opus");
    CHECK_EQ(recording_path(path, sizeof(path), "/d", ""), -EINVAL);
    CHECK_EQ(recording_path(path, sizeof(path), "/d", "../x"), -EINVAL);
    CHECK_EQ(recording_path(path, sizeof(path), "/d", "a/b"), -EINVAL);
    CHECK_EQ(recording_path(path, sizeof(path), "/d", "a.b"), -EINVAL);
    CHECK_EQ(recording_path(path, 10, "/d", "abc"), -ENAMETOOLONG);

    encode(10, 20);
    CHECK_EQ(recording_open(&r, dir, "twice", &p), 0);
    struct recording *r2 = NULL;
    CHECK_EQ(recording_open(&r2, dir, "twice", &p), -EEXIST);
    CHECK(r2 == NULL);
    CHECK_EQ(recording_write_packet(r, pk[0], 0), -EINVAL);
    CHECK_EQ(recording_write_packet(r, pk[0], 1276), -EINVAL);
    static const uint8_t code3_no_frames[] = {0x03, 0x00};
    CHECK_EQ(recording_write_packet(r, code3_no_frames, 2), -EINVAL);
    CHECK_EQ(recording_write_packet(r, pk[0], pk_len[0]), 0);
    CHECK_EQ(recording_close(r, NULL), 0);
    CHECK_EQ(recording_close(NULL, NULL), 0);

    struct recording_params bad = {.channels = 3};
    CHECK_EQ(recording_open(&r, dir, "bad", &bad), -EINVAL);
    bad = (struct recording_params){.channels = 1, .page_ms = 1001};
    CHECK_EQ(recording_open(&r, dir, "bad", &bad), -EINVAL);
    bad = (struct recording_params){.channels = 1, .page_ms = 100};
    CHECK_EQ(recording_open(&r, dir, "bad", &bad), -EINVAL);
    CHECK_EQ(recording_open(&r, dir, "../escape", &p), -EINVAL);
}

struct range_case {
    const char *value;
    uint64_t size;
    int status;
    uint64_t first, last, length;
    const char *content_range;
};

static void test_range(void)
{
    static const struct range_case cases[] = {
        {NULL, 1000, 200, 0, 999, 1000, NULL},
        {"bytes=0-99", 1000, 206, 0, 99, 100, "bytes 0-99/1000"},
        {"bytes=0-0", 1000, 206, 0, 0, 1, "bytes 0-0/1000"},
        {"bytes=500-", 1000, 206, 500, 999, 500, "bytes 500-999/1000"},
        {"bytes=0-", 1000, 206, 0, 999, 1000, "bytes 0-999/1000"},
        {"bytes=999-", 1000, 206, 999, 999, 1, "bytes 999-999/1000"},
        {"bytes=900-5000", 1000, 206, 900, 999, 100, "bytes 900-999/1000"},
        {"bytes=-100", 1000, 206, 900, 999, 100, "bytes 900-999/1000"},
        {"bytes=-5000", 1000, 206, 0, 999, 1000, "bytes 0-999/1000"},
        {"Bytes= 10-19 ", 1000, 206, 10, 19, 10, "bytes 10-19/1000"},
        {"bytes=0-18446744073709551615", 1000, 206, 0, 999, 1000, "bytes 0-999/1000"},
        {"bytes=0-99999999999999999999999", 1000, 206, 0, 999, 1000, "bytes 0-999/1000"},
        {"bytes=1000-", 1000, 416, 0, 0, 0, "bytes */1000"},
        {"bytes=1000-2000", 1000, 416, 0, 0, 0, "bytes */1000"},
        {"bytes=99999999999999999999999-", 1000, 416, 0, 0, 0, "bytes */1000"},
        {"bytes=-0", 1000, 416, 0, 0, 0, "bytes */1000"},
        {"bytes=0-", 0, 416, 0, 0, 0, "bytes */0"},
        {"bytes=-10", 0, 416, 0, 0, 0, "bytes */0"},
        /* Answered with the whole file. */
        {"bytes=0-1,5-6", 1000, 200, 0, 999, 1000, NULL},
        {"bytes=5-1", 1000, 200, 0, 999, 1000, NULL},
        {"items=0-1", 1000, 200, 0, 999, 1000, NULL},
        {"bytes=", 1000, 200, 0, 999, 1000, NULL},
        {"bytes=-", 1000, 200, 0, 999, 1000, NULL},
        {"bytes=a-b", 1000, 200, 0, 999, 1000, NULL},
        {"bytes=1", 1000, 200, 0, 999, 1000, NULL},
        {"bytes=1-2x", 1000, 200, 0, 999, 1000, NULL},
        {"bytes=--1", 1000, 200, 0, 999, 1000, NULL},
        {"bytes", 1000, 200, 0, 999, 1000, NULL},
        {"", 1000, 200, 0, 999, 1000, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct range_case *c = &cases[i];
        struct recording_range r;
        int st = recording_range(c->value, c->value ? strlen(c->value) : 0, c->size, &r);
        if (st != c->status) fprintf(stderr, "range case %zu: %d\n", i, st);
        CHECK_EQ(st, c->status);
        CHECK_EQ(r.status, c->status);
        CHECK_EQ(r.first, c->first);
        CHECK_EQ(r.last, c->last);
        CHECK_EQ(r.length, c->length);
        if (c->content_range) {
            char cr[64];
            CHECK_EQ(recording_content_range(cr, sizeof(cr), &r, c->size),
                     strlen(c->content_range));
            CHECK_STR(cr, c->content_range);
            CHECK_EQ(recording_content_range(cr, strlen(c->content_range), &r, c->size), -ENOBUFS);
        }
    }
    /* The value is bounded by its length, not by a NUL. */
    struct recording_range r;
    CHECK_EQ(recording_range("bytes=0-99999", 10, 1000, &r), 206);
    CHECK_EQ(r.last, 99);
    CHECK_EQ(recording_range("bytes=0-9", 8, 1000, &r), 206);
    CHECK_EQ(r.last, 999);
}

static void rm_tree(const char *d)
{
    DIR *dp = opendir(d);
    struct dirent *e;
    char p[512];

    if (!dp) return;
    while ((e = readdir(dp))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof(p), "%s/%s", d, e->d_name);
        if (e->d_type == DT_DIR)
            rm_tree(p);
        else
            unlink(p);
    }
    closedir(dp);
    rmdir(d);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/podium-rec-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    T_RUN(test_clean);
    T_RUN(test_close_edges);
    T_RUN(test_truncate_repair);
    T_RUN(test_corrupt_repair);
    T_RUN(test_kill9);
    T_RUN(test_sync);
    T_RUN(test_refusals);
    T_RUN(test_range);
    rm_tree(dir);
    T_DONE();
}
