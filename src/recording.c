/* recording: crash-safe Ogg Opus writer, start-up repair, byte ranges. */
#include "recording.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ogg.h"

#define RATE_HZ 48000 /* Opus granule positions count 48 kHz samples */
#define SPACE_ID_BYTES_MAX 64

struct recording {
    int fd;
    int err; /* sticky: the first failed write */
    uint32_t serial, seq;
    uint16_t preskip;
    uint32_t page_samples;
    uint32_t sync_ms;
    uint64_t granule; /* samples of every packet taken so far */

    /* The page under construction: packets copied back to back. */
    uint8_t body[RECORDING_BODY_BYTES_MAX];
    uint32_t lens[OGG_SEGMENTS_MAX];
    unsigned packets, segs;
    size_t body_len;
    uint32_t pending_samples;

    /* The last page written, kept so close can flag it end-of-stream in
     * place (the file is not O_APPEND: under it Linux's pwrite appends). */
    uint8_t page[OGG_PAGE_BYTES_MAX];
    size_t page_len;
    uint64_t page_off;

    _Atomic uint64_t bytes; /* on disk; written here, read by sync and servers */
    uint64_t synced_bytes;  /* sync side only */
    int64_t synced_ms;
    bool synced_once;
};

static bool id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

int recording_path(char *out, size_t cap, const char *data_dir, const char *space_id)
{
    size_t n = strlen(space_id);

    if (n == 0 || n > SPACE_ID_BYTES_MAX) return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!id_char(space_id[i])) return -EINVAL;
    int w = snprintf(out, cap, "%s/recordings/%s.opus", data_dir, space_id);
    if (w < 0 || (size_t)w >= cap) return -ENAMETOOLONG;
    return 0;
}

/* pwrite_all: the whole buffer at <off>, through EINTR and short writes.
 * Pages are appended at the end the writer tracks (r->bytes), and the last
 * one is rewritten in place at close. */
static int pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* set_eos: flags the page in p[0..len) end-of-stream and recomputes its CRC. */
static void set_eos(uint8_t *p, size_t len)
{
    p[5] |= OGG_FLAG_EOS;
    put_le32(p + 22, 0);
    put_le32(p + 22, ogg_crc(0, p, len));
}

/* emit: writes one page of the given packets and remembers it. */
static int emit(struct recording *r, uint8_t flags, const uint8_t *const *pkts,
                const uint32_t *lens, unsigned n)
{
    uint64_t off = atomic_load_explicit(&r->bytes, memory_order_relaxed);
    size_t len = ogg_page_write(r->page, flags, r->granule, r->serial, r->seq, pkts, lens, n);
    int rc = pwrite_all(r->fd, r->page, len, off);

    if (rc < 0) {
        r->err = rc;
        return rc;
    }
    r->seq++;
    r->page_len = len;
    r->page_off = off;
    atomic_store_explicit(&r->bytes, off + len, memory_order_release);
    return 0;
}

static int flush_page(struct recording *r, uint8_t flags)
{
    const uint8_t *pkts[OGG_SEGMENTS_MAX];
    size_t at = 0;

    for (unsigned i = 0; i < r->packets; i++) {
        pkts[i] = r->body + at;
        at += r->lens[i];
    }
    int rc = emit(r, flags, pkts, r->lens, r->packets);
    r->packets = r->segs = 0;
    r->body_len = 0;
    r->pending_samples = 0;
    return rc;
}

/* open_file: the recordings folder (created on first use) and a new file
 * in it, never replacing one. */
static int open_file(const char *data_dir, const char *path, int *dir_fd)
{
    char dir[PATH_MAX];

    if (snprintf(dir, sizeof(dir), "%s/recordings", data_dir) >= (int)sizeof(dir))
        return -ENAMETOOLONG;
    if (mkdir(dir, 0750) < 0 && errno != EEXIST) return -errno;
    *dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*dir_fd < 0) return -errno;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) {
        int rc = -errno;
        close(*dir_fd);
        return rc;
    }
    return fd;
}

int recording_open(struct recording **out, const char *data_dir, const char *space_id,
                   const struct recording_params *p)
{
    char path[PATH_MAX], title[256 + 8];
    uint8_t head[19], tags[512];
    const char *comments[1];
    struct recording *r;
    int rc, dir_fd = -1;

    *out = NULL;
    uint32_t page_ms = p->page_ms ? p->page_ms : RECORDING_PAGE_MS_DEFAULT;
    if (p->channels < 1 || p->channels > 2 || page_ms < RECORDING_PAGE_MS_MIN ||
        page_ms > RECORDING_PAGE_MS_MAX)
        return -EINVAL;
    if (p->title && strlen(p->title) > 256) return -EINVAL;
    if ((rc = recording_path(path, sizeof(path), data_dir, space_id)) < 0) return rc;

    r = calloc(1, sizeof(*r));
    if (!r) return -ENOMEM;
    r->serial = p->serial;
    r->preskip = p->preskip;
    r->page_samples = page_ms * (RATE_HZ / 1000);
    r->sync_ms = p->sync_ms ? p->sync_ms : RECORDING_SYNC_MS_DEFAULT;
    r->fd = open_file(data_dir, path, &dir_fd);
    if (r->fd < 0) {
        rc = r->fd;
        goto out_free;
    }

    unsigned nc = 0;
    if (p->title) {
        snprintf(title, sizeof(title), "TITLE=%s", p->title);
        comments[nc++] = title;
    }
    uint32_t hl = (uint32_t)opus_head_write(head, p->channels, p->preskip);
    uint32_t tl = (uint32_t)opus_tags_write(tags, sizeof(tags), comments, nc);
    const uint8_t *hp = head, *tp = tags;
    assert(tl > 0);
    if ((rc = emit(r, OGG_FLAG_BOS, &hp, &hl, 1)) < 0 || (rc = emit(r, 0, &tp, &tl, 1)) < 0)
        goto out_unlink;
    /* The headers and the folder entry reach the disk before any audio,
     * so even a power loss leaves a file that repair can work with. */
    if (fdatasync(r->fd) < 0 || fsync(dir_fd) < 0) {
        rc = -errno;
        goto out_unlink;
    }
    close(dir_fd);
    r->synced_bytes = atomic_load(&r->bytes);
    *out = r;
    return 0;
out_unlink:
    unlink(path);
    close(r->fd);
    close(dir_fd);
out_free:
    free(r);
    return rc;
}

int recording_write_packet(struct recording *r, const uint8_t *pkt, size_t len)
{
    int rc;

    if (r->err) return r->err;
    if (len == 0 || len > RECORDING_PACKET_BYTES_MAX) return -EINVAL;
    int samples = opus_packet_samples(pkt, len);
    if (samples <= 0) return -EINVAL;

    /* Close the page first when this packet would make it longer than
     * page_ms or need more than 255 lacing values. */
    unsigned segs = (unsigned)(len / 255 + 1);
    if (r->packets > 0 && (r->pending_samples + (uint32_t)samples > r->page_samples ||
                           r->segs + segs > OGG_SEGMENTS_MAX)) {
        if ((rc = flush_page(r, 0)) < 0) return rc;
    }
    memcpy(r->body + r->body_len, pkt, len);
    r->body_len += len;
    r->lens[r->packets++] = (uint32_t)len;
    r->segs += segs;
    r->pending_samples += (uint32_t)samples;
    r->granule += (uint64_t)samples;
    if (r->pending_samples >= r->page_samples) return flush_page(r, 0);
    return 0;
}

int recording_sync(struct recording *r, int64_t now_ms)
{
    uint64_t b = atomic_load_explicit(&r->bytes, memory_order_acquire);

    if (b == r->synced_bytes) return 0;
    if (r->synced_once && now_ms - r->synced_ms < (int64_t)r->sync_ms) return 0;
    if (fdatasync(r->fd) < 0) return -errno;
    r->synced_bytes = b;
    r->synced_ms = now_ms;
    r->synced_once = true;
    return 1;
}

uint64_t recording_bytes(const struct recording *r)
{
    return atomic_load_explicit(&r->bytes, memory_order_acquire);
}

static uint64_t duration_ms(uint64_t granule, uint16_t preskip)
{
    return granule > preskip ? (granule - preskip) * 1000 / RATE_HZ : 0;
}

void recording_info_get(const struct recording *r, struct recording_info *info)
{
    info->bytes = recording_bytes(r);
    /* Only what is on disk: pending packets are not yet. */
    info->duration_ms = duration_ms(r->granule - r->pending_samples, r->preskip);
    info->complete = false;
}

int recording_close(struct recording *r, struct recording_info *info)
{
    int rc = 0;

    if (!r) return 0;
    if (r->err) {
        rc = r->err;
    } else if (r->packets > 0) {
        rc = flush_page(r, OGG_FLAG_EOS);
    } else {
        /* Nothing pending: the last page becomes the last page. */
        set_eos(r->page, r->page_len);
        rc = pwrite_all(r->fd, r->page, r->page_len, r->page_off);
    }
    if (fdatasync(r->fd) < 0 && rc == 0) rc = -errno;
    if (info) {
        recording_info_get(r, info);
        info->complete = rc == 0;
    }
    close(r->fd);
    free(r);
    return rc;
}

/* Repair ---------------------------------------------------------------- */

static int pread_all(int fd, uint8_t *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t got = pread(fd, p, n, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return -errno;
        if (got == 0) return -ENODATA;
        p += got;
        n -= (size_t)got;
        off += (uint64_t)got;
    }
    return 0;
}

/* read_page: the page at <off> of a file of <size> bytes into buf
 * (OGG_PAGE_BYTES_MAX). Returns its length, 0 when what is there is not a
 * whole page with a valid CRC, or -errno. */
static long read_page(int fd, uint64_t off, uint64_t size, uint8_t *buf)
{
    uint64_t room = size - off;
    int rc;

    if (room < OGG_HEADER_BYTES) return 0;
    if ((rc = pread_all(fd, buf, OGG_HEADER_BYTES, off)) < 0) return rc;
    if (memcmp(buf, "OggS", 4) != 0 || buf[4] != 0 || (buf[5] & ~7) != 0) return 0;
    size_t segs = buf[26], body = 0;
    if (room < OGG_HEADER_BYTES + segs) return 0;
    if ((rc = pread_all(fd, buf + OGG_HEADER_BYTES, segs, off + OGG_HEADER_BYTES)) < 0) return rc;
    for (size_t i = 0; i < segs; i++)
        body += buf[OGG_HEADER_BYTES + i];
    size_t len = OGG_HEADER_BYTES + segs + body;
    if (room < len) return 0;
    if ((rc = pread_all(fd, buf + OGG_HEADER_BYTES + segs, body, off + OGG_HEADER_BYTES + segs)) <
        0)
        return rc;
    uint32_t stored = get_le32(buf + 22);
    put_le32(buf + 22, 0);
    uint32_t crc = ogg_crc(0, buf, len);
    put_le32(buf + 22, stored);
    return crc == stored ? (long)len : 0;
}

struct scan {
    uint32_t serial, seq;
    uint64_t granule;
    uint16_t preskip;
    unsigned pages;
};

/* page_fits: does the page in buf (valid CRC) continue the stream as our
 * writer makes it? Whole packets only, headers first, one serial,
 * consecutive sequence numbers, granule positions that never go back. */
static bool page_fits(struct scan *s, const uint8_t *buf)
{
    uint8_t flags = buf[5];
    unsigned segs = buf[26];
    const uint8_t *lacing = buf + OGG_HEADER_BYTES, *body = lacing + segs;
    uint64_t granule = (uint64_t)get_le32(buf + 6) | (uint64_t)get_le32(buf + 10) << 32;
    uint32_t serial = get_le32(buf + 14), seq = get_le32(buf + 18);

    if (flags & OGG_FLAG_CONTINUED) return false;
    if (segs > 0 && lacing[segs - 1] == 255) return false; /* a packet left open */
    if ((flags & OGG_FLAG_BOS) != (s->pages == 0 ? OGG_FLAG_BOS : 0)) return false;
    if (s->pages > 0 && (serial != s->serial || seq != s->seq + 1 || granule < s->granule))
        return false;
    if (s->pages < 2) {
        /* The header pages: one packet each, OpusHead then OpusTags. */
        size_t plen = 0;
        unsigned i = 0;
        while (i < segs && lacing[i] == 255)
            plen += lacing[i++];
        if (i + 1 != segs || granule != 0) return false;
        plen += lacing[i];
        if (s->pages == 0) {
            struct opus_head h;
            if (opus_head_parse(body, plen, &h) < 0) return false;
            s->preskip = h.preskip;
        } else if (!opus_is_tags(body, plen)) {
            return false;
        }
    }
    s->serial = serial;
    s->seq = seq;
    s->granule = granule;
    s->pages++;
    return true;
}

int recording_repair(const char *path, struct recording_info *info)
{
    struct scan s = {0};
    struct stat st;
    uint64_t off = 0, last_off = 0;
    size_t last_len = 0;
    bool eos = false;
    int rc = 0;

    memset(info, 0, sizeof(*info));
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return -errno;
    uint8_t *buf = malloc(OGG_PAGE_BYTES_MAX);
    if (!buf) {
        rc = -ENOMEM;
        goto out_close;
    }
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto out_free;
    }
    uint64_t size = (uint64_t)st.st_size;
    while (!eos) {
        long len = read_page(fd, off, size, buf);
        if (len < 0) {
            rc = (int)len;
            goto out_free;
        }
        if (len == 0 || !page_fits(&s, buf)) break;
        eos = buf[5] & OGG_FLAG_EOS;
        last_off = off;
        last_len = (size_t)len;
        off += (uint64_t)len;
    }
    if (s.pages < 2) off = 0; /* not even the headers: nothing to keep */
    if (off < size && ftruncate(fd, (off_t)off) < 0) {
        rc = -errno;
        goto out_free;
    }
    if (off > 0 && !eos) {
        if ((rc = pread_all(fd, buf, last_len, last_off)) < 0) goto out_free;
        set_eos(buf, last_len);
        if ((rc = pwrite_all(fd, buf, last_len, last_off)) < 0) goto out_free;
    }
    if ((off < size || !eos) && fdatasync(fd) < 0) {
        rc = -errno;
        goto out_free;
    }
    info->bytes = off;
    info->duration_ms = off ? duration_ms(s.granule, s.preskip) : 0;
    info->complete = eos;
out_free:
    free(buf);
out_close:
    close(fd);
    return rc;
}

/* Byte ranges ----------------------------------------------------------- */

/* digits: a decimal number at *p, saturating at UINT64_MAX (a first byte
 * that large is simply past the end). False when there is no digit. */
static bool digits(const char **p, const char *end, uint64_t *out)
{
    const char *q = *p;
    uint64_t v = 0;

    while (q < end && *q >= '0' && *q <= '9') {
        unsigned d = (unsigned)(*q++ - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
    }
    if (q == *p) return false;
    *p = q;
    *out = v;
    return true;
}

static const char *skip_ows(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

int recording_range(const char *value, size_t len, uint64_t size, struct recording_range *r)
{
    const char *p = value, *end = value + len;
    uint64_t first = 0, last = UINT64_MAX, n;
    bool suffix = false;

    r->status = 200;
    r->first = 0;
    r->last = size ? size - 1 : 0;
    r->length = size;
    if (!value || len < 6 || strncasecmp(value, "bytes=", 6) != 0) return r->status;
    p = skip_ows(p + 6, end);
    if (p < end && *p == '-') {
        p++;
        if (!digits(&p, end, &n)) return r->status;
        suffix = true;
    } else {
        if (!digits(&p, end, &first) || p == end || *p++ != '-') return r->status;
        if (!digits(&p, end, &last)) last = UINT64_MAX;
        if (last < first) return r->status; /* an invalid range-spec: ignored */
    }
    if (skip_ows(p, end) != end) return r->status; /* several ranges, or junk */

    if (suffix) {
        if (n == 0 || size == 0) goto unsatisfiable;
        first = n >= size ? 0 : size - n;
        last = size - 1;
    } else {
        if (first >= size) goto unsatisfiable;
        if (last >= size) last = size - 1;
    }
    r->status = 206;
    r->first = first;
    r->last = last;
    r->length = last - first + 1;
    return r->status;
unsatisfiable:
    r->status = 416;
    r->first = r->last = r->length = 0;
    return r->status;
}

int recording_content_range(char *out, size_t cap, const struct recording_range *r, uint64_t size)
{
    int n;

    if (r->status == 206)
        n = snprintf(out, cap, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, r->first, r->last, size);
    else
        n = snprintf(out, cap, "bytes */%" PRIu64, size);
    if (n < 0 || (size_t)n >= cap) return -ENOBUFS;
    return n;
}
