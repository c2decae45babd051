/* vl: virtual listener state machine (see vl.h). */
#include "vl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "run.h"

static void vl_io(struct loop *loop, struct io *io, uint32_t events);

/* Failure before the first audio: counted once per listener by reason. */
static void fail(struct vl *v, uint64_t now_us, const char *reason)
{
    struct run *r = v->run;
    if (v->flags & VL_F_REJOIN) {
        char k[RES_KEY_BYTES];
        snprintf(k, sizeof(k), "reconnect_storm.failed_%s", reason);
        res_map_add(&r->res->attack, k, 1);
    } else {
        r->res->failed++;
        res_map_add(&r->res->by_reason, reason, 1);
        r->res->tl[run_tick_index(r, now_us)].failures++;
    }
    vl_finish(v, now_us, "failed");
}

static const char *errno_reason(int err)
{
    switch (err) {
    case ECONNREFUSED: return "connect_refused";
    case ECONNRESET: return "reset";
    case ETIMEDOUT: return "connect_timeout";
    case EMFILE: case ENFILE: return "local_out_of_fds";
    case EADDRNOTAVAIL: case EADDRINUSE: return "local_out_of_ports";
    case ENETUNREACH: case EHOSTUNREACH: return "unreachable";
    case EPIPE: return "reset";
    default: return "socket_error";
    }
}

void vl_arm(struct run *r, struct vl *v, int fd)
{
    io_init(&v->io, fd, vl_io, v);
    /* Edge-triggered: the unconnected socket's readiness (HUP|OUT) is
     * reported once and dropped; the next edge is the connect completing. */
    io_set(r->loop, &v->io, LOOP_READ | LOOP_WRITE | LOOP_EDGE); /* else: at launch */
}

void vl_launch(struct run *r, struct vl *v, uint64_t intended_us)
{
    uint64_t now = loop_now_us(r->loop);
    int fd = v->io.fd; /* prepared before the start (vl_arm), or -1 */
    bool first = !(v->flags & VL_F_REJOIN);
    v->run = r;
    v->intended_us = intended_us;
    v->first_audio_us = 0;
    v->status = 0;
    v->hdr_bytes = 0;
    v->st_phase = 0;
    v->nl = 0;
    oggv_init(&v->ov);
    play_init(&v->play);
    if (first) hist_record(&r->res->lag, now > intended_us ? now - intended_us : 0);
    if (r->join) {
        /* Through the gate first (--space): the stream socket is made when
         * the ticket comes, so a socket armed before the start goes. */
        if (fd >= 0) {
            io_set(r->loop, &v->io, 0);
            close(fd);
            r->open_fds--;
            v->io.fd = -1;
        }
        join_launch(r->join, v);
        return;
    }
    if (fd < 0) {
        fd = run_socket(r);
        if (fd >= 0) r->open_fds++;
        io_init(&v->io, fd, vl_io, v);
    }
    v->state = VL_CONNECTING; /* from here vl_finish accounts it and closes fd */
    if (fd < 0) {
        fail(v, now, errno_reason(-fd));
        return;
    }
    /* The moment the connect() is issued, on a fresh clock: the loop's
     * cached time goes stale within a burst of thousands. */
    uint64_t t = clock_mono_us();
    if (first) hist_record(&r->res->issue, t > intended_us ? t - intended_us : 0);
    int rc = run_issue(r, fd);
    if (rc < 0) {
        fail(v, now, errno_reason(-rc));
        return;
    }
    /* Only the connect() on the launch path: the GET goes when the socket
     * reports writable, so a burst is issued as fast as connect() allows. */
    if (!v->io.events && io_set(r->loop, &v->io, LOOP_READ | LOOP_WRITE) < 0)
        fail(v, now, "local_epoll");
}

void vl_connect(struct run *r, struct vl *v, int fd)
{
    uint64_t now = loop_now_us(r->loop);
    if (fd < 0) {
        io_init(&v->io, -1, vl_io, v);
        v->state = VL_CONNECTING; /* so vl_finish accounts it */
        fail(v, now, errno_reason(-fd));
        return;
    }
    r->open_fds++;
    io_init(&v->io, fd, vl_io, v);
    v->state = VL_CONNECTING;
    int rc = io_set(r->loop, &v->io, LOOP_READ | LOOP_WRITE);
    if (rc < 0) fail(v, now, "local_epoll");
}

void vl_finish(struct vl *v, uint64_t now_us, const char *how)
{
    struct run *r = v->run;
    if (v->state == VL_DONE || v->state == VL_WAIT) return;
    if (v->first_audio_us) {
        r->playing--;
        r->res->listen_ms += (now_us - v->first_audio_us) / 1000;
        r->res->audio_ms += v->play.audio_us / 1000;
        r->res->stall_ms += v->play.stall_ms;
    }
    if (!(v->flags & VL_F_REJOIN) || strcmp(how, "failed") != 0) res_map_add(&r->res->ended, how, 1);
    r->res->bytes += v->bytes;
    v->bytes = 0;
    if (v->io.fd >= 0) {
        io_set(r->loop, &v->io, 0);
        close(v->io.fd);
        r->open_fds--;
        v->io.fd = -1;
    }
    v->state = VL_DONE;
}

static void count_stall(struct vl *v, uint64_t now_us)
{
    struct run *r = v->run;
    r->res->stalls++;
    r->res->tl[run_tick_index(r, now_us)].stalls++;
    if (!(v->flags & VL_F_STALLED)) {
        v->flags |= VL_F_STALLED;
        r->res->stalled_listeners++;
    }
}

void vl_sweep(struct vl *v, uint64_t now_us)
{
    if (v->state == VL_STREAM && play_check(&v->play, now_us)) count_stall(v, now_us);
}

static void on_connected(struct vl *v, uint64_t now)
{
    struct run *r = v->run;
    int err = 0;
    socklen_t el = sizeof(err);
    if (getsockopt(v->io.fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) err = errno;
    if (err) {
        fail(v, now, errno_reason(err));
        return;
    }
    /* A fresh socket's send buffer always holds the request whole. */
    const char *rq = r->request;
    size_t rl = r->request_len;
    if (r->join) join_request(r->join, v, &rq, &rl); /* the GET with the ticket */
    ssize_t n = send(v->io.fd, rq, rl, MSG_NOSIGNAL);
    if (n != (ssize_t)rl) {
        fail(v, now, n < 0 ? errno_reason(errno) : "local_short_write");
        return;
    }
    v->state = VL_HEADERS;
    if (io_set(r->loop, &v->io, LOOP_READ) < 0) fail(v, now, "local_epoll");
}

/* Response head, byte by byte: status code from the first line ("HTTP/1.x
 * 200" or "ICY 200"), end at the blank line. Returns bytes consumed, or
 * -1 when the head is refused (the listener has failed). */
static long parse_head(struct vl *v, const uint8_t *p, size_t len, uint64_t now)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t c = p[i];
        if (++v->hdr_bytes > RUN_HEADER_BYTES_MAX) {
            fail(v, now, "bad_response");
            return -1;
        }
        if (v->st_phase == 0) {
            if (c == ' ') v->st_phase = 1;
            else if (c == '\n') {
                fail(v, now, "bad_response");
                return -1;
            }
        } else if (v->st_phase <= 3) {
            if (c < '0' || c > '9') {
                fail(v, now, "bad_response");
                return -1;
            }
            v->status = (uint16_t)(v->status * 10 + (c - '0'));
            v->st_phase++;
        }
        if (c == '\n') {
            if (++v->nl == 2) {
                if (v->status != 200) {
                    char k[16];
                    snprintf(k, sizeof(k), "http_%u", v->status);
                    fail(v, now, k);
                    return -1;
                }
                v->state = VL_STREAM;
                return (long)i + 1;
            }
        } else if (c != '\r') {
            v->nl = 0;
        }
    }
    return (long)len;
}

static void on_audio(struct vl *v, const struct oggv_out *o, uint64_t now)
{
    struct run *r = v->run;
    struct storm_result *res = r->res;
    uint32_t tick = run_tick_index(r, now);
    if (o->err_capture | o->err_crc | o->err_seq | o->err_granule) {
        res->err_capture += o->err_capture;
        res->err_crc += o->err_crc;
        res->err_seq += o->err_seq;
        res->err_granule += o->err_granule;
        res->tl[tick].errors += o->err_capture + o->err_crc + o->err_seq + o->err_granule;
    }
    if (!o->audio_pages) return;
    uint64_t dur_us = o->audio_samples * 1000000u / OGGV_RATE_HZ;
    if (!v->first_audio_us) {
        v->first_audio_us = now;
        r->playing++;
        uint64_t ttfa = now > v->intended_us ? now - v->intended_us : 0;
        if (v->flags & VL_F_REJOIN) {
            hist_record(&res->rejoin, ttfa);
            res_map_add(&res->attack, "reconnect_storm.rejoined", 1);
        } else {
            v->flags |= VL_F_JOINED;
            hist_record(&res->ttfa, ttfa);
            for (int k = 0; k < RES_WITHIN_N; k++)
                if (ttfa <= res_within_ms[k] * 1000ull) res->within[k]++;
            res->joined++;
            res->tl[tick].joins++;
        }
        play_audio(&v->play, now, dur_us);
        return;
    }
    uint32_t before = v->play.stalls;
    play_audio(&v->play, now, dur_us);
    if (v->play.stalls != before) count_stall(v, now);
}

static void vl_io(struct loop *loop, struct io *io, uint32_t events)
{
    struct vl *v = io->data;
    struct run *r = v->run;
    uint64_t now = loop_now_us(loop);
    if (v->state == VL_WAIT) return; /* prepared, not launched: not connected yet */
    if (v->state == VL_CONNECTING) {
        on_connected(v, now);
        return;
    }
    ssize_t n = read(io->fd, r->rbuf, RUN_READ_BYTES);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        if (v->first_audio_us) vl_finish(v, now, "reset");
        else fail(v, now, errno_reason(errno));
        return;
    }
    if (n == 0) {
        if (v->first_audio_us) vl_finish(v, now, "server_closed");
        else fail(v, now, v->state == VL_HEADERS ? "closed_before_response" : "eof_before_audio");
        return;
    }
    v->bytes += (uint64_t)n;
    const uint8_t *p = r->rbuf;
    size_t len = (size_t)n;
    if (v->state == VL_HEADERS) {
        long used = parse_head(v, p, len, now);
        if (used < 0) return;
        p += used;
        len -= (size_t)used;
    }
    if (v->state != VL_STREAM || !len) return;
    struct oggv_out o = {0};
    oggv_feed(&v->ov, p, len, &o);
    on_audio(v, &o, now);
}
