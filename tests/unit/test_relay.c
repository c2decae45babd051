/* Unit tests for the relay link: framing across reads, and the lazy mode a
 * worker reads its origin in (only when pumped, unless the link is busy). */
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"
#include "relay.h"
#include "t.h"

static unsigned frames, closes;
static uint32_t last_len;
static bool pump_inside; /* on_frame pumps its own link, as a join inside a callback would */
static int pump_peer = -1; /* ... after one more frame arrived from here */

static void send_pages(int fd, unsigned n, uint32_t len);

static bool on_frame(struct relay *r, uint8_t type, const uint8_t *p, uint32_t len, int fd)
{
    (void)p;
    if (fd >= 0) close(fd);
    if (type != RELAY_PAGE) return false;
    frames++;
    last_len = len;
    if (pump_inside) {
        if (frames == 1) send_pages(pump_peer, 1, 300);
        relay_pump(r);
    }
    return true;
}

static void on_close(struct relay *r, const char *why)
{
    (void)r;
    (void)why;
    closes++;
}

/* The peer's side: <n> PAGE frames of <len> payload bytes, written raw. */
static void send_pages(int fd, unsigned n, uint32_t len)
{
    uint8_t buf[5 + 600];
    memset(buf, 0x5a, sizeof(buf));
    relay_put_u32(buf, len + 1);
    buf[4] = RELAY_PAGE;
    for (unsigned i = 0; i < n; i++)
        CHECK_EQ(write(fd, buf, 5 + len), (long)(5 + len));
}

static void spin(struct loop *l)
{
    for (int i = 0; i < 4; i++)
        loop_once(l, 0);
}

static struct relay *open_pair(struct loop *l, int *peer)
{
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    *peer = sv[1];
    frames = closes = 0;
    return relay_open(l, sv[0], 1 << 20, on_frame, on_close, NULL);
}

static void test_eager_reads_on_arrival(void)
{
    struct loop *l = loop_new(0);
    int peer;
    CHECK(open_pair(l, &peer) != NULL);
    send_pages(peer, 3, 400);
    spin(l);
    CHECK_EQ(frames, 3);
    CHECK_EQ(last_len, 400);
    close(peer);
    spin(l);
    CHECK_EQ(closes, 1);
    loop_free(l);
}

static void test_lazy_reads_when_pumped(void)
{
    struct loop *l = loop_new(0);
    int peer;
    struct relay *r = open_pair(l, &peer);
    relay_set_lazy(r, true);
    send_pages(peer, 10, 450); /* a second of 100 ms pages */
    spin(l);
    CHECK_EQ(frames, 0); /* no wake-up per page */
    relay_pump(r);
    CHECK_EQ(frames, 10);
    CHECK(!r->busy);

    /* More than a socket buffer safely holds between two pumps: busy, and
     * read on arrival until a period is small again. */
    send_pages(peer, 150, 450);
    relay_pump(r);
    CHECK_EQ(frames, 160);
    CHECK(r->busy);
    send_pages(peer, 5, 450);
    spin(l);
    CHECK_EQ(frames, 165);
    relay_pump(r);
    CHECK(!r->busy);
    send_pages(peer, 5, 450);
    spin(l);
    CHECK_EQ(frames, 165);
    relay_pump(r);
    CHECK_EQ(frames, 170);

    /* The peer going away is seen without a pump; what it sent first is
     * still delivered. */
    send_pages(peer, 2, 450);
    close(peer);
    spin(l);
    CHECK_EQ(frames, 172);
    CHECK_EQ(closes, 1);
    loop_free(l);
}

/* A pump from inside a frame callback must not walk the input again: each
 * frame is delivered once. */
static void test_pump_inside_a_callback(void)
{
    struct loop *l = loop_new(0);
    int peer;
    struct relay *r = open_pair(l, &peer);
    relay_set_lazy(r, true);
    send_pages(peer, 5, 300);
    pump_inside = true;
    pump_peer = peer;
    relay_pump(r);
    pump_inside = false;
    CHECK_EQ(frames, 5);
    relay_pump(r); /* the frame that came meanwhile */
    CHECK_EQ(frames, 6);
    close(peer);
    spin(l);
    CHECK_EQ(closes, 1);
    loop_free(l);
}

int main(void)
{
    T_RUN(test_eager_reads_on_arrival);
    T_RUN(test_lazy_reads_when_pumped);
    T_RUN(test_pump_inside_a_callback);
    T_DONE();
}
