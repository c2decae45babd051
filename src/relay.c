/* relay: framed link between an origin and a fan-out node. */
#include "relay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define RELAY_READ_BYTES 65536 /* read step; the input buffer grows to one frame */
/* A lazy link reads on arrival while more than this came between two pumps:
 * the peer's socket buffer (wmem_default, 208 KiB of skb truesize, about
 * 1.3 KiB per small frame) must hold a whole pump period. */
#define RELAY_LAZY_FRAMES_MAX 100
#define RELAY_LAZY_BYTES_MAX (64u << 10)

static void relay_free(void *p)
{
    struct relay *r = p;
    free(r->out);
    free(r->in);
    free(r);
}

void relay_close(struct relay *r, const char *why)
{
    if (r->closed) return;
    r->closed = true;
    io_set(r->loop, &r->io, 0);
    close(r->io.fd);
    for (unsigned i = 0; i < r->fds_len; i++)
        close(r->fds[i]);
    r->fds_len = 0;
    if (r->on_close) r->on_close(r, why);
    if (loop_defer(r->loop, relay_free, r) < 0) relay_free(r);
}

/* The interest: input on arrival unless the link is lazy (then only the
 * peer closing), output while bytes wait. */
static int watch(struct relay *r)
{
    uint32_t want = (r->lazy && !r->busy ? LOOP_RDHUP : LOOP_READ) |
                    (r->out_len || r->want_write ? LOOP_WRITE : 0);
    if (want != r->io.events && io_set(r->loop, &r->io, want) < 0) return -EIO;
    return 0;
}

/* Writes queued bytes; arms EPOLLOUT only while some remain. */
static int flush_out(struct relay *r)
{
    while (r->out_len) {
        ssize_t w = send(r->io.fd, r->out, r->out_len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            return -errno;
        }
        r->bytes_out += (uint64_t)w;
        memmove(r->out, r->out + w, r->out_len - (size_t)w);
        r->out_len -= (size_t)w;
    }
    return watch(r);
}

static bool out_reserve(struct relay *r, size_t more)
{
    if (r->out_len + more > r->out_max) return false;
    if (r->out_len + more <= r->out_cap) return true;
    size_t cap = r->out_cap ? r->out_cap : 4096;
    while (cap < r->out_len + more)
        cap *= 2;
    if (cap > r->out_max) cap = r->out_max;
    uint8_t *p = realloc(r->out, cap);
    if (!p) return false;
    r->out = p;
    r->out_cap = cap;
    return true;
}

int relay_sendv(struct relay *r, uint8_t type, const void *const *parts, const size_t *lens,
                unsigned n)
{
    if (r->closed) return -EPIPE;
    size_t total = 1;
    for (unsigned i = 0; i < n; i++)
        total += lens[i];
    if (total > RELAY_FRAME_BYTES_MAX || !out_reserve(r, 4 + total)) {
        relay_close(r, "peer too far behind (output queue full)");
        return -ENOBUFS;
    }
    uint8_t *p = r->out + r->out_len;
    relay_put_u32(p, (uint32_t)total);
    p[4] = type;
    p += 5;
    for (unsigned i = 0; i < n; i++) {
        memcpy(p, parts[i], lens[i]);
        p += lens[i];
    }
    r->out_len += 4 + total;
    r->frames_out++;
    if (r->held) return 0;
    int e = flush_out(r);
    if (e < 0) {
        relay_close(r, strerror(-e));
        return -EPIPE;
    }
    return 0;
}

int relay_send_fd(struct relay *r, uint8_t type, const void *p, size_t len, int fd)
{
    if (r->closed) return -EPIPE;
    if (r->out_len) return -EAGAIN;
    if (len + 1 > RELAY_FRAME_BYTES_MAX) return -EMSGSIZE;
    uint8_t hdr[5];
    relay_put_u32(hdr, (uint32_t)(len + 1));
    hdr[4] = type;
    struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)p, len}};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } cm;
    memset(&cm, 0, sizeof(cm));
    struct msghdr mh = {
        .msg_iov = iov, .msg_iovlen = 2, .msg_control = cm.buf, .msg_controllen = sizeof(cm.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    ssize_t w;
    do
        w = sendmsg(r->io.fd, &mh, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w < 0) return errno == EAGAIN ? -EAGAIN : -errno;
    r->frames_out++;
    r->bytes_out += (uint64_t)w;
    size_t total = sizeof(hdr) + len;
    if ((size_t)w < total) {
        /* The descriptor left with the first byte; the rest follows in order. */
        size_t done = (size_t)w;
        if (!out_reserve(r, total - done)) {
            relay_close(r, "out of memory");
            return -ENOMEM;
        }
        if (done < sizeof(hdr)) {
            memcpy(r->out, hdr + done, sizeof(hdr) - done);
            memcpy(r->out + sizeof(hdr) - done, p, len);
        } else {
            memcpy(r->out, (const uint8_t *)p + (done - sizeof(hdr)), total - done);
        }
        r->out_len = total - done;
        int e = flush_out(r);
        if (e < 0) relay_close(r, strerror(-e));
    }
    return 0;
}

/* Takes the descriptors a message carried; any past the bound are closed
 * and make the link fail (a local peer never sends that many). */
static bool take_fds(struct relay *r, struct msghdr *mh)
{
    bool ok = !(mh->msg_flags & MSG_CTRUNC);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (r->fds_len < RELAY_FDS_PENDING_MAX)
                r->fds[r->fds_len++] = fd;
            else {
                close(fd);
                ok = false;
            }
        }
    }
    return ok;
}

/* Delivers every complete frame in the input buffer. */
static bool deliver(struct relay *r)
{
    size_t off = 0;
    while (!r->closed && r->in_len - off >= 5) {
        uint32_t len = relay_get_u32(r->in + off);
        if (len == 0 || len > RELAY_FRAME_BYTES_MAX) {
            relay_close(r, "bad frame length");
            return false;
        }
        if (r->in_len - off - 4 < len) break;
        uint8_t type = r->in[off + 4];
        int fd = -1;
        if (type == RELAY_HANDOFF) {
            if (!r->fds_len) {
                relay_close(r, "handoff frame without a descriptor");
                return false;
            }
            fd = r->fds[0];
            memmove(r->fds, r->fds + 1, --r->fds_len * sizeof(int));
        }
        r->frames_in++;
        r->delivering = true;
        bool ok = r->on_frame(r, type, r->in + off + 5, len - 1, fd);
        r->delivering = false;
        if (!ok) {
            relay_close(r, "frame refused");
            return false;
        }
        off += 4 + (size_t)len;
    }
    if (r->closed) return false;
    memmove(r->in, r->in + off, r->in_len - off);
    r->in_len -= off;
    return true;
}

/* read_in: reads and delivers what the socket holds, up to 64 steps; true
 * if it was emptied (a short read or EAGAIN), false if more may wait or the
 * link closed. */
static bool read_in(struct relay *r)
{
    for (unsigned rounds = 0; rounds < 64 && !r->closed; rounds++) {
        if (r->in_cap - r->in_len < RELAY_READ_BYTES) {
            size_t cap = r->in_len + RELAY_READ_BYTES;
            uint8_t *p = realloc(r->in, cap);
            if (!p) {
                relay_close(r, "out of memory");
                return false;
            }
            r->in = p;
            r->in_cap = cap;
        }
        union {
            struct cmsghdr h;
            char buf[CMSG_SPACE(sizeof(int) * 8)];
        } cm;
        struct iovec iov = {r->in + r->in_len, r->in_cap - r->in_len};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = cm.buf,
                            .msg_controllen = sizeof(cm.buf)};
        ssize_t n = recvmsg(r->io.fd, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return true;
        if (n <= 0) {
            relay_close(r, n == 0 ? "peer closed the link" : strerror(errno));
            return false;
        }
        if (!take_fds(r, &mh)) {
            relay_close(r, "too many descriptors");
            return false;
        }
        r->bytes_in += (uint64_t)n;
        r->in_len += (size_t)n;
        bool drained = (size_t)n < iov.iov_len;
        if (!deliver(r)) return false;
        /* A short read emptied the socket as it stood: the next bytes wake
         * us again (level-triggered), so a recvmsg only to see EAGAIN is
         * saved. */
        if (drained) return true;
        /* A frame larger than what we hold: make room for all of it. */
        if (r->in_len >= 4) {
            size_t need = 4 + (size_t)relay_get_u32(r->in);
            if (need > r->in_cap) {
                uint8_t *p = realloc(r->in, need + RELAY_READ_BYTES);
                if (!p) {
                    relay_close(r, "out of memory");
                    return false;
                }
                r->in = p;
                r->in_cap = need + RELAY_READ_BYTES;
            }
        }
    }
    return false;
}

static void relay_io(struct loop *loop, struct io *io, uint32_t events)
{
    struct relay *r = io->data;
    if (events & LOOP_WRITE) {
        int e = flush_out(r);
        if (e < 0) {
            relay_close(r, strerror(-e));
            return;
        }
        if (!r->out_len && r->want_write) {
            r->want_write = false;
            if ((e = flush_out(r)) < 0) { /* drops EPOLLOUT */
                relay_close(r, strerror(-e));
                return;
            }
            if (r->on_writable) r->on_writable(r);
            if (r->closed) return;
        }
    }
    if (events & (LOOP_READ | LOOP_HUP | LOOP_ERR | LOOP_RDHUP)) read_in(r);
}

void relay_set_lazy(struct relay *r, bool lazy)
{
    r->lazy = lazy;
    r->busy = false;
    r->pump_frames = r->frames_in;
    r->pump_bytes = r->bytes_in;
    if (!r->closed && watch(r) < 0) relay_close(r, "cannot watch the link");
}

void relay_pump(struct relay *r)
{
    /* Not from inside a frame callback: the input buffer is being walked. */
    if (r->closed || r->delivering) return;
    bool emptied = read_in(r);
    if (r->closed || !r->lazy) return;
    /* Busy: the socket was not emptied, or too much came since the last
     * pump for the peer's buffer to hold a period of it: read on arrival
     * until a period is small again. */
    r->busy = !emptied || r->frames_in - r->pump_frames > RELAY_LAZY_FRAMES_MAX ||
              r->bytes_in - r->pump_bytes > RELAY_LAZY_BYTES_MAX;
    r->pump_frames = r->frames_in;
    r->pump_bytes = r->bytes_in;
    if (watch(r) < 0) relay_close(r, "cannot watch the link");
}

void relay_hold(struct relay *r)
{
    r->held = true;
}

void relay_release(struct relay *r)
{
    r->held = false;
    if (r->closed) return;
    int e = flush_out(r);
    if (e < 0) relay_close(r, strerror(-e));
}

void relay_want_writable(struct relay *r)
{
    if (r->closed || r->want_write) return;
    r->want_write = true;
    if (flush_out(r) < 0) relay_close(r, "cannot watch for room");
}

struct relay *relay_open(struct loop *loop, int fd, size_t out_max, relay_frame_cb on_frame,
                         relay_close_cb on_close, void *data)
{
    struct relay *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    r->loop = loop;
    r->on_frame = on_frame;
    r->on_close = on_close;
    r->data = data;
    r->out_max = out_max;
    io_init(&r->io, fd, relay_io, r);
    if (io_set(loop, &r->io, LOOP_READ) < 0) {
        free(r);
        return NULL;
    }
    return r;
}
