/* test_proxyproto: PROXY v1 and v2 (TCP4, TCP6, UNKNOWN/LOCAL/UNSPEC, TLVs)
 * with every truncation needing more and each malformation refused, the
 * 107-byte and bytes_max bounds; trusted CIDR lists; X-Forwarded-For walked
 * from the right. */
#include "proxyproto.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "t.h"

static const char *addr_text(const struct sockaddr_storage *ss)
{
    static char out[INET6_ADDRSTRLEN + 16];
    char a[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
        snprintf(out, sizeof(out), "%s:%u", a, ntohs(s->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
        snprintf(out, sizeof(out), "[%s]:%u", a, ntohs(s->sin6_port));
    } else {
        snprintf(out, sizeof(out), "family %d", ss->ss_family);
    }
    return out;
}

static int parse(const void *b, size_t n, size_t max, struct proxy_hdr *h)
{
    return proxy_parse(b, n, max, h);
}

/* Every strict prefix of a complete header needs more. */
static void check_prefixes(const void *b, size_t total, size_t max)
{
    struct proxy_hdr h;
    for (size_t n = 0; n < total; n++) {
        int r = parse(b, n, max, &h);
        if (r != PROXY_NEED_MORE) {
            fprintf(stderr, "prefix %zu of %zu: %d\n", n, total, r);
            CHECK_EQ(r, PROXY_NEED_MORE);
            return;
        }
    }
}

static int v1(const char *s, struct proxy_hdr *h)
{
    return parse(s, strlen(s), 4096, h);
}

static void test_v1_ok(void)
{
    struct proxy_hdr h;
    const char *s = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n";
    int n = (int)(strstr(s, "GET") - s);
    CHECK_EQ(v1(s, &h), n);
    CHECK_EQ(h.version, 1);
    CHECK(!h.local);
    CHECK_STR(addr_text(&h.src), "192.0.2.1:56324");
    CHECK_STR(addr_text(&h.dst), "198.51.100.2:443");
    CHECK_EQ(h.src_len, sizeof(struct sockaddr_in));
    check_prefixes(s, (size_t)n, 4096);

    s = "PROXY TCP6 2001:db8::1 2001:db8::2 0 65535\r\n";
    CHECK_EQ(v1(s, &h), (int)strlen(s));
    CHECK_STR(addr_text(&h.src), "[2001:db8::1]:0");
    CHECK_STR(addr_text(&h.dst), "[2001:db8::2]:65535");
    check_prefixes(s, strlen(s), 4096);

    CHECK_EQ(v1("PROXY UNKNOWN\r\n", &h), 15);
    CHECK(h.local);
    s = "PROXY UNKNOWN ffff:f::1 ffff:f::2 1 2\r\n";
    CHECK_EQ(v1(s, &h), (int)strlen(s));
    CHECK(h.local);
}

static void test_v1_invalid(void)
{
    struct proxy_hdr h;
    static const char *bad[] = {
        "GET / HTTP/1.1\r\n",
        "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",     /* LF alone */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", /* CR not followed by LF */
        "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",  /* two spaces */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",  /* trailing space */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",     /* a field missing */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", /* one too many */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", /* leading zero */
        "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
        "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
        "PROXY TCP4 ::1 5.6.7.8 1 2\r\n", /* v6 in TCP4 */
        "PROXY TCP6 1.2.3.4 ::1 1 2\r\n", /* v4 in TCP6 */
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\x00\r\n",
        "PROXY \r\n",
        "PROXY UNKNOWN \r\n",
        "PROXY TCP4 1.2.3.4%eth0 5.6.7.8 1 2\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = strlen(bad[i]);
        if (i == 16) n = strlen(bad[i]) + 3; /* include what follows the NUL */
        int r = parse(bad[i], n, 4096, &h);
        if (r != PROXY_INVALID) fprintf(stderr, "case %zu: %d\n", i, r);
        CHECK_EQ(r, PROXY_INVALID);
    }
    /* refused early, before any CRLF: a character no valid line has */
    CHECK_EQ(v1("PROXY TCP4 1.2.3.4\x01", &h), PROXY_INVALID);
    CHECK_EQ(v1("PROXY TCP4 1.2.3.4/", &h), PROXY_INVALID);
    CHECK_EQ(v1("PROXZ", &h), PROXY_INVALID);
    CHECK_EQ(v1("PROX", &h), PROXY_NEED_MORE);
    CHECK_EQ(v1("", &h), PROXY_NEED_MORE);
}

static void test_v1_length_bound(void)
{
    struct proxy_hdr h;
    char line[200];
    /* an UNKNOWN line of exactly 107 bytes is the longest accepted */
    memset(line, 0, sizeof(line));
    memcpy(line, "PROXY UNKNOWN ", 14);
    memset(line + 14, 'a', 107 - 14 - 2);
    memcpy(line + 105, "\r\n", 2);
    CHECK_EQ(parse(line, 107, 4096, &h), 107);
    /* 108: refused */
    memset(line + 14, 'a', 108 - 14 - 2);
    memcpy(line + 106, "\r\n", 2);
    CHECK_EQ(parse(line, 108, 4096, &h), PROXY_INVALID);
    /* no CRLF: need more until 106 bytes, then refused without waiting */
    memset(line + 14, 'a', 150);
    CHECK_EQ(parse(line, 105, 4096, &h), PROXY_NEED_MORE);
    CHECK_EQ(parse(line, 106, 4096, &h), PROXY_INVALID);
    CHECK_EQ(parse(line, 150, 4096, &h), PROXY_INVALID);
}

/* v2 header: sig, ver_cmd, fam, len, then <body>. */
static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *body, size_t n)
{
    static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                    0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    memcpy(out, sig, 12);
    out[12] = ver_cmd;
    out[13] = fam;
    out[14] = (uint8_t)(n >> 8);
    out[15] = (uint8_t)n;
    if (n) memcpy(out + 16, body, n);
    return 16 + n;
}

static void test_v2_ok(void)
{
    struct proxy_hdr h;
    uint8_t b[512];
    uint8_t a4[12] = {192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x01, 0xbb};
    size_t n = v2(b, 0x21, 0x11, a4, sizeof(a4));
    memcpy(b + n, "GET", 3);
    CHECK_EQ(parse(b, n + 3, 536, &h), 28);
    CHECK_EQ(h.version, 2);
    CHECK(!h.local);
    CHECK_STR(addr_text(&h.src), "192.0.2.1:56324");
    CHECK_STR(addr_text(&h.dst), "198.51.100.2:443");
    check_prefixes(b, n, 536);

    uint8_t a6[36] = {0x20, 0x01, 0x0d,     0xb8,        [15] = 1, [16] = 0x20, 0x01,
                      0x0d, 0xb8, [31] = 2, [32] = 0x30, 0x39,     0x00,        0x50};
    n = v2(b, 0x21, 0x21, a6, sizeof(a6));
    CHECK_EQ(parse(b, n, 536, &h), 52);
    CHECK_STR(addr_text(&h.src), "[2001:db8::1]:12345");
    CHECK_STR(addr_text(&h.dst), "[2001:db8::2]:80");
    check_prefixes(b, n, 536);

    /* TLVs after the addresses are skipped: consumed covers them */
    uint8_t tlv[12 + 7];
    memcpy(tlv, a4, 12);
    memcpy(tlv + 12, "\x01\x00\x02h2\x04\x00", 7); /* ALPN "h2", NOOP truncated is fine */
    n = v2(b, 0x21, 0x11, tlv, sizeof(tlv));
    CHECK_EQ(parse(b, n, 536, &h), 35);
    CHECK_STR(addr_text(&h.src), "192.0.2.1:56324");

    /* LOCAL (health checks), with or without a body */
    n = v2(b, 0x20, 0x00, NULL, 0);
    CHECK_EQ(parse(b, n, 536, &h), 16);
    CHECK(h.local);
    n = v2(b, 0x20, 0x11, a4, sizeof(a4));
    CHECK_EQ(parse(b, n, 536, &h), 28);
    CHECK(h.local);
    /* PROXY with UNSPEC, UNIX, or UDP: no address we use */
    n = v2(b, 0x21, 0x00, NULL, 0);
    CHECK_EQ(parse(b, n, 536, &h), 16);
    CHECK(h.local);
    uint8_t unix_body[216] = {0};
    n = v2(b, 0x21, 0x31, unix_body, sizeof(unix_body));
    CHECK_EQ(parse(b, n, 536, &h), 232);
    CHECK(h.local);
    n = v2(b, 0x21, 0x12, a4, sizeof(a4));
    CHECK_EQ(parse(b, n, 536, &h), 28);
    CHECK(h.local);
}

static void test_v2_invalid(void)
{
    struct proxy_hdr h;
    uint8_t b[512], a4[12] = {1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2};
    size_t n = v2(b, 0x21, 0x11, a4, sizeof(a4));
    /* any signature byte changed */
    for (size_t i = 0; i < 12; i++) {
        uint8_t c[512];
        memcpy(c, b, n);
        c[i] ^= 0x40;
        CHECK_EQ(parse(c, n, 536, &h), PROXY_INVALID);
        CHECK_EQ(parse(c, i + 1, 536, &h), PROXY_INVALID); /* as soon as it is seen */
    }
    b[12] = 0x11; /* version 1 in binary */
    CHECK_EQ(parse(b, 13, 536, &h), PROXY_INVALID);
    b[12] = 0x22; /* command 2 */
    CHECK_EQ(parse(b, 13, 536, &h), PROXY_INVALID);
    b[12] = 0x21;
    b[13] = 0x41; /* family 4 */
    CHECK_EQ(parse(b, 14, 536, &h), PROXY_INVALID);
    b[13] = 0x13; /* protocol 3 */
    CHECK_EQ(parse(b, 14, 536, &h), PROXY_INVALID);
    /* an address block too short for its family, refused at the header */
    n = v2(b, 0x21, 0x11, a4, 8);
    CHECK_EQ(parse(b, 16, 536, &h), PROXY_INVALID);
    uint8_t a6[35] = {0};
    n = v2(b, 0x21, 0x21, a6, sizeof(a6));
    CHECK_EQ(parse(b, n, 536, &h), PROXY_INVALID);
    /* bytes_max bounds the declared length, before it arrives */
    n = v2(b, 0x21, 0x11, a4, sizeof(a4));
    CHECK_EQ(parse(b, n, 27, &h), PROXY_INVALID);
    CHECK_EQ(parse(b, 16, 27, &h), PROXY_INVALID);
    CHECK_EQ(parse(b, n, 28, &h), 28);
    b[14] = 0xff;
    b[15] = 0xff; /* 65535 declared */
    CHECK_EQ(parse(b, 16, 4096, &h), PROXY_INVALID);
    /* neither version */
    CHECK_EQ(parse("\x16\x03\x01", 3, 536, &h), PROXY_INVALID); /* a TLS hello */
}

static struct sockaddr_storage sa(const char *s, socklen_t *len)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        *len = sizeof(*a4);
    } else {
        CHECK_EQ(inet_pton(AF_INET6, s, &a6->sin6_addr), 1);
        a6->sin6_family = AF_INET6;
        *len = sizeof(*a6);
    }
    return ss;
}

static bool trusted(const struct proxy_trust *t, const char *addr)
{
    socklen_t len;
    struct sockaddr_storage ss = sa(addr, &len);
    return proxy_trust_match(t, (struct sockaddr *)&ss, len);
}

static void test_trust(void)
{
    struct proxy_trust t;
    char err[128];
    CHECK_EQ(proxy_trust_parse(&t, " 10.0.0.0/8, 192.0.2.7 2001:db8::/32,::1 ", err, sizeof(err)),
             0);
    CHECK_EQ(t.n, 4);
    CHECK(trusted(&t, "10.1.2.3"));
    CHECK(!trusted(&t, "11.0.0.1"));
    CHECK(trusted(&t, "192.0.2.7"));
    CHECK(!trusted(&t, "192.0.2.8"));
    CHECK(trusted(&t, "2001:db8:ffff::1"));
    CHECK(!trusted(&t, "2001:db9::"));
    CHECK(trusted(&t, "::1"));
    CHECK(!trusted(&t, "::2"));
    CHECK(trusted(&t, "::ffff:10.9.9.9")); /* mapped is IPv4 */
    CHECK(trusted(&t, "::ffff:192.0.2.7"));

    CHECK_EQ(proxy_trust_parse(&t, "", err, sizeof(err)), 0);
    CHECK_EQ(t.n, 0);
    CHECK(!trusted(&t, "127.0.0.1"));
    CHECK_EQ(proxy_trust_parse(&t, "0.0.0.0/0", err, sizeof(err)), 0);
    CHECK(trusted(&t, "203.0.113.1"));
    CHECK(!trusted(&t, "2001:db8::1"));
    CHECK_EQ(proxy_trust_parse(&t, "10.128.0.0/9 172.16.0.0/12", err, sizeof(err)), 0);
    CHECK(trusted(&t, "10.200.0.1"));
    CHECK(!trusted(&t, "10.127.255.255"));
    CHECK(trusted(&t, "172.31.255.255"));
    CHECK(!trusted(&t, "172.32.0.0"));

    static const char *bad[] = {"10.0.0.1/8",  "10.0.0.0/33",    "300.0.0.0",      "10.0.0.0/",
                                "10.0.0.0/08", "2001:db8::/129", "2001:db8::1/32", "host.example",
                                "10.0.0.0/8x", "10.0.0.0/-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ(proxy_trust_parse(&t, bad[i], err, sizeof(err)), -1);
    CHECK(strstr(err, "10.0.0.0/-1") != NULL);
    CHECK_EQ(proxy_trust_parse(&t, "10.0.0.1/8", err, sizeof(err)), -1);
    CHECK(strstr(err, "host bits") != NULL);
    char many[PROXY_TRUST_MAX * 12 + 16] = "";
    for (int i = 0; i <= PROXY_TRUST_MAX; i++) {
        char one[16];
        snprintf(one, sizeof(one), "10.0.%d.1 ", i);
        strcat(many, one);
    }
    CHECK_EQ(proxy_trust_parse(&t, many, err, sizeof(err)), -1);
    CHECK(strstr(err, "more than") != NULL);
}

static const char *xff(const struct proxy_trust *t, const char *v)
{
    struct sockaddr_storage out;
    socklen_t len;
    if (proxy_xff_client(v, strlen(v), t, &out, &len) != 0) return "invalid";
    return addr_text(&out);
}

static void test_xff(void)
{
    struct proxy_trust t;
    char err[128];
    CHECK_EQ(proxy_trust_parse(&t, "10.0.0.0/8 2001:db8:ffff::/48", err, sizeof(err)), 0);
    CHECK_STR(xff(&t, "203.0.113.9"), "203.0.113.9:0");
    CHECK_STR(xff(&t, "203.0.113.9, 10.0.0.2"), "203.0.113.9:0");
    /* the client wrote 1.1.1.1 itself: ignored, our proxies' view wins */
    CHECK_STR(xff(&t, "1.1.1.1, 203.0.113.9,10.0.0.2 ,  10.0.0.3"), "203.0.113.9:0");
    CHECK_STR(xff(&t, "10.0.0.5, 10.0.0.2"), "10.0.0.5:0"); /* all ours: the leftmost */
    CHECK_STR(xff(&t, "[2001:db8::1]:4711, 10.0.0.2"), "[2001:db8::1]:0");
    CHECK_STR(xff(&t, "2001:db8::1, 2001:db8:ffff::9"), "[2001:db8::1]:0");
    CHECK_STR(xff(&t, "[2001:db8::1]"), "[2001:db8::1]:0");
    CHECK_STR(xff(&t, "203.0.113.9:1234"), "203.0.113.9:0");
    CHECK_STR(xff(&t, "unknown, 203.0.113.9"), "203.0.113.9:0"); /* never reached */
    CHECK_STR(xff(&t, "unknown, 10.0.0.2"), "invalid");
    CHECK_STR(xff(&t, ""), "invalid");
    CHECK_STR(xff(&t, " , 10.0.0.2"), "invalid");
    CHECK_STR(xff(&t, "203.0.113.9,"), "invalid");
    CHECK_STR(xff(&t, "garbage"), "invalid");
    CHECK_STR(xff(&t, "203.0.113.9:"), "invalid");
    CHECK_STR(xff(&t, "203.0.113.9:123456"), "invalid");
    CHECK_STR(xff(&t, "[2001:db8::1"), "invalid");
    CHECK_STR(xff(&t, "[2001:db8::1]x"), "invalid");
    CHECK_STR(xff(&t, "[203.0.113.9]"), "invalid");
    char many[PROXY_XFF_HOPS_MAX * 11 + 16] = "";
    for (int i = 0; i <= PROXY_XFF_HOPS_MAX; i++)
        strcat(many, i ? ",10.0.0.1" : "10.0.0.1");
    CHECK_STR(xff(&t, many), "invalid"); /* would read past the hop limit */
}

int main(void)
{
    T_RUN(test_v1_ok);
    T_RUN(test_v1_invalid);
    T_RUN(test_v1_length_bound);
    T_RUN(test_v2_ok);
    T_RUN(test_v2_invalid);
    T_RUN(test_trust);
    T_RUN(test_xff);
    T_DONE();
}
