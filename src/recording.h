/* recording: a space's program as a crash-safe Ogg Opus file, and serving it.
 *
 * The file is <data>/recordings/<space>.opus: an OpusHead page, an
 * OpusTags page, then the program's Opus packets gathered into pages of at
 * most page_ms (1 s by default). Each page is written the moment it is
 * complete (one pwrite), so it is in the page cache and survives the death of the
 * process (kill -9, a crash): such a death loses only the packets of the
 * page under construction, under page_ms of audio. Surviving a power
 * loss is fdatasync's job, which recording_sync does at most every
 * sync_ms, away from the audio path (see recording_sync).
 *
 * At start-up, recording_repair cuts a file left by a dead process back to
 * its last complete page with a valid CRC and marks that page as the end
 * of the stream, so every recording on disk is a valid, decodable stream.
 *
 * recording_range answers a byte Range request over a recording file.
 */
#ifndef PODIUM_RECORDING_H
#define PODIUM_RECORDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RECORDING_PAGE_MS_DEFAULT 1000       /* audio per page: what kill -9 can cost */
#define RECORDING_PAGE_MS_MIN 120            /* one Opus packet holds at most 120 ms */
#define RECORDING_PAGE_MS_MAX 1000           /* the loss bound the design promises */
#define RECORDING_SYNC_MS_DEFAULT 5000       /* fdatasync at most this often */
#define RECORDING_PACKET_BYTES_MAX 1275      /* one Opus frame at most (RFC 6716 3.4) */
#define RECORDING_BODY_BYTES_MAX (255 * 255) /* one Ogg page's body */

struct recording_params {
    uint8_t channels;  /* 1 or 2 */
    uint16_t preskip;  /* the encoder's lookahead at 48 kHz (OPUS_GET_LOOKAHEAD) */
    uint32_t serial;   /* Ogg stream serial number; any value */
    uint32_t page_ms;  /* RECORDING_PAGE_MS_MIN..MAX; 0: RECORDING_PAGE_MS_DEFAULT */
    uint32_t sync_ms;  /* minimum interval between fdatasyncs; 0: the default */
    const char *title; /* written as a TITLE comment; NULL: none */
};

/* What is on disk, for the store (struct store_recording). */
struct recording_info {
    uint64_t bytes;       /* whole pages only */
    uint64_t duration_ms; /* playable audio: last granule minus pre-skip */
    bool complete;        /* ends with an end-of-stream page */
};

struct recording;

/* recording_path: "<data_dir>/recordings/<space_id>.opus" into out[0..cap).
 * Returns 0, -EINVAL when space_id is not 1..64 URL-safe characters
 * ([A-Za-z0-9_-]), -ENAMETOOLONG. */
int recording_path(char *out, size_t cap, const char *data_dir, const char *space_id);

/* recording_open: creates the recordings folder if needed and the file
 * (never over an existing one: -EEXIST), writes and fsyncs the two header
 * pages and the folder entry. Returns 0 with *out, or -errno (-EINVAL for
 * bad parameters). Blocks on the disk: call it from the control path. */
int recording_open(struct recording **out, const char *data_dir, const char *space_id,
                   const struct recording_params *p);

/* recording_write_packet: appends one Opus packet (1..RECORDING_PACKET_BYTES_MAX
 * bytes with a valid TOC). When it completes a page (page_ms of audio, or
 * 255 lacing values), the page is written at once. Runs on the audio path:
 * one write() of a page per page_ms, no fsync. Returns 0, -EINVAL for a
 * packet it refuses (nothing written), or the -errno of a failed write,
 * which sticks: the recording then refuses everything and the caller
 * should close it (what is on disk stays a valid stream after repair). */
int recording_write_packet(struct recording *r, const uint8_t *pkt, size_t len);

/* recording_sync: fdatasync when bytes were written since the last sync
 * and at least sync_ms have passed since it (now_ms: any monotonic clock in
 * ms). Returns 1 when it synced, 0 when there was nothing to do, -errno.
 * Where it runs: on a timer of the control (main loop) thread or an I/O
 * thread, never the media thread; it may run concurrently with
 * recording_write_packet (it reads only an atomic byte count and the fd),
 * but not with recording_close. */
int recording_sync(struct recording *r, int64_t now_ms);

/* recording_bytes: bytes on disk, always a page boundary: a live recording
 * may be served up to here. Safe from any thread. */
uint64_t recording_bytes(const struct recording *r);

/* recording_info_get: what is on disk now (complete is false until close). */
void recording_info_get(const struct recording *r, struct recording_info *info);

/* recording_close: ends the stream cleanly: the pending packets go out as a
 * last page flagged end-of-stream (or, with none pending, the last page
 * written is re-flagged), then fdatasync and close. Fills *info when not
 * NULL. Returns 0 or -errno (the file is closed either way). NULL is fine.
 * Blocks on the disk: call it from the control path. */
int recording_close(struct recording *r, struct recording_info *info);

/* recording_repair: makes <path> a valid stream again after a crash: keeps
 * the longest prefix of well-formed pages (capture pattern, version, CRC,
 * one serial, consecutive sequence numbers, OpusHead then OpusTags first,
 * nothing after an end-of-stream page), truncates the rest, flags the last
 * page end-of-stream and syncs. When not even the two header pages
 * survive, the file is truncated to 0 bytes (info->bytes 0: the caller
 * removes it). Fills *info (complete: the file already ended cleanly).
 * Returns 0 or -errno. */
int recording_repair(const char *path, struct recording_info *info);

/* Byte ranges (RFC 9110 14) over a file of <size> bytes. */
struct recording_range {
    int status;           /* 200 (whole file), 206 (one range) or 416 */
    uint64_t first, last; /* 206: the range, inclusive; 200: 0 and size - 1 */
    uint64_t length;      /* bytes of the answer's body (0 for 416) */
};

/* recording_range: answers the Range header value[0..len) (value NULL: no
 * header). Single ranges only: "bytes=a-b" (b clamped to the end),
 * "bytes=a-", "bytes=-n" (the last n bytes; all of them when n >= size).
 * A first byte at or past the end, or "-0", is 416. Everything else is
 * answered with the whole file (200), as RFC 9110 allows a server to
 * ignore Range: several ranges (we do not write multipart/byteranges; a
 * player asks for one), another unit, bad syntax. Returns r->status. */
int recording_range(const char *value, size_t len, uint64_t size, struct recording_range *r);

/* recording_content_range: the Content-Range value for a 206 ("bytes
 * a-b/size") or a 416 (an asterisk in place of "a-b") into out[0..cap),
 * NUL-terminated. Returns its length, or -ENOBUFS. */
int recording_content_range(char *out, size_t cap, const struct recording_range *r, uint64_t size);

#endif
