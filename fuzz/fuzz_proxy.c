/* fuzz_proxy: libFuzzer driver for src/proxyproto.c.
 *
 * Input layout: byte 0 chooses bytes_max (a control byte gives a small
 * limit that reaches the refusal paths; a printable one, as in the seeds,
 * gives 536); the rest is fed to proxy_parse(), and as text to the trusted
 * list parser and the X-Forwarded-For walker. The driver checks what the
 * parser promises: consumed <= len and within the bounds, the same answer on
 * the header alone, "need more" on every shorter prefix of a complete header
 * and of an incomplete input, addresses of the right family. Any broken
 * promise traps.
 */
#include "proxyproto.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define ASSERT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) __builtin_trap();                                                             \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_addr(const struct sockaddr_storage *ss, socklen_t len)
{
    ASSERT(ss->ss_family == AF_INET || ss->ss_family == AF_INET6);
    ASSERT(len ==
           (ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)));
}

static void check_header(const uint8_t *buf, size_t len, size_t max)
{
    struct proxy_hdr h, again;
    int r = proxy_parse(buf, len, max, &h);
    ASSERT(r > 0 || r == PROXY_NEED_MORE || r == PROXY_INVALID);
    if (r > 0) {
        ASSERT((size_t)r <= len);
        ASSERT(h.version == 1 || h.version == 2);
        if (h.version == 1) ASSERT(r <= PROXY_V1_BYTES_MAX && buf[r - 1] == '\n');
        if (h.version == 2) ASSERT((size_t)r <= max && r >= PROXY_V2_HEAD_BYTES);
        if (!h.local) {
            check_addr(&h.src, h.src_len);
            check_addr(&h.dst, h.dst_len);
            ASSERT(h.src.ss_family == h.dst.ss_family);
        }
        /* the header alone parses the same; no prefix of it is complete */
        ASSERT(proxy_parse(buf, (size_t)r, max, &again) == r);
        ASSERT(again.local == h.local && again.version == h.version);
        for (size_t n = 0; n < (size_t)r; n += 1 + n / 8)
            ASSERT(proxy_parse(buf, n, max, &again) == PROXY_NEED_MORE);
    } else if (r == PROXY_NEED_MORE) {
        /* less of an incomplete header is still incomplete */
        for (size_t n = 0; n < len; n += 1 + n / 8)
            ASSERT(proxy_parse(buf, n, max, &again) == PROXY_NEED_MORE);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t max = data[0] < 0x20 ? (size_t)data[0] * 8 : 536;
    size_t len = size - 1;
    uint8_t *buf = malloc(len ? len : 1); /* exact size: ASan sees overreads */
    memcpy(buf, data + 1, len);
    check_header(buf, len, max);

    /* the same bytes as configuration text and as a header value */
    char *text = malloc(len + 1);
    memcpy(text, buf, len);
    text[len] = '\0';
    struct proxy_trust t;
    char err[160];
    if (proxy_trust_parse(&t, text, err, sizeof(err)) == 0) {
        ASSERT(t.n <= PROXY_TRUST_MAX);
        for (size_t i = 0; i < t.n; i++)
            ASSERT(t.e[i].bits <= 128);
    } else {
        ASSERT(memchr(err, '\0', sizeof(err)) != NULL);
    }
    static const char trusted[] = "10.0.0.0/8 2001:db8::/32 127.0.0.1";
    struct proxy_trust ours;
    ASSERT(proxy_trust_parse(&ours, trusted, err, sizeof(err)) == 0);
    struct sockaddr_storage client;
    socklen_t client_len;
    if (proxy_xff_client((const char *)buf, len, &ours, &client, &client_len) == 0)
        check_addr(&client, client_len);

    free(text);
    free(buf);
    return 0;
}
