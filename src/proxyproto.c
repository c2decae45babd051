/* proxyproto: PROXY v1/v2 headers, trusted CIDR lists, X-Forwarded-For. */
#include "proxyproto.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#pragma GCC poison strcpy sprintf gets strtok atoi

static const uint8_t v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char v1_sig[] = "PROXY ";
#define V1_SIG_LEN (sizeof(v1_sig) - 1)

static void set4(struct sockaddr_storage *ss, socklen_t *len, const uint8_t a[4], uint16_t port)
{
    struct sockaddr_in *s = (struct sockaddr_in *)ss;
    memset(ss, 0, sizeof(*ss));
    s->sin_family = AF_INET;
    memcpy(&s->sin_addr, a, 4);
    s->sin_port = htons(port);
    *len = sizeof(*s);
}

static void set6(struct sockaddr_storage *ss, socklen_t *len, const uint8_t a[16], uint16_t port)
{
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof(*ss));
    s->sin6_family = AF_INET6;
    memcpy(&s->sin6_addr, a, 16);
    s->sin6_port = htons(port);
    *len = sizeof(*s);
}

/* ---- v1 ----------------------------------------------------------------- */

static bool v1_char(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'f') || c == '.' ||
           c == ':' || c == ' ';
}

/* next_token: the text up to the next single space (or the end) of
 * line[*pos..end); false for an empty token (two spaces, trailing space). */
static bool next_token(const uint8_t *line, size_t end, size_t *pos, char *tok, size_t tok_max)
{
    size_t s = *pos, e = s;
    while (e < end && line[e] != ' ')
        e++;
    if (e == s || e - s >= tok_max) return false;
    memcpy(tok, line + s, e - s);
    tok[e - s] = '\0';
    *pos = e < end ? e + 1 : e;
    if (e < end && *pos == end) return false; /* a trailing space */
    return true;
}

static bool parse_port(const char *s, uint16_t *port)
{
    size_t n = strlen(s);
    unsigned long v = 0;
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0')) return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > 65535) return false;
    *port = (uint16_t)v;
    return true;
}

static int parse_v1(const uint8_t *buf, size_t len, struct proxy_hdr *out)
{
    size_t i, cr;
    if (len < V1_SIG_LEN) return memcmp(buf, v1_sig, len) == 0 ? PROXY_NEED_MORE : PROXY_INVALID;
    if (memcmp(buf, v1_sig, V1_SIG_LEN) != 0) return PROXY_INVALID;
    for (i = V1_SIG_LEN;; i++) {
        if (i >= PROXY_V1_BYTES_MAX - 1) return PROXY_INVALID; /* no CRLF in 107 bytes */
        if (i >= len) return PROXY_NEED_MORE;
        if (buf[i] == '\r') break;
        if (!v1_char(buf[i])) return PROXY_INVALID;
    }
    cr = i;
    if (cr + 1 >= len) return PROXY_NEED_MORE;
    if (buf[cr + 1] != '\n') return PROXY_INVALID;

    char proto[8], src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], sp[8], dp[8];
    size_t pos = V1_SIG_LEN;
    memset(out, 0, sizeof(*out));
    out->version = 1;
    if (!next_token(buf, cr, &pos, proto, sizeof(proto))) return PROXY_INVALID;
    if (strcmp(proto, "UNKNOWN") == 0) {
        out->local = true; /* whatever follows is ignored */
        return (int)(cr + 2);
    }
    int af = strcmp(proto, "TCP4") == 0 ? AF_INET : strcmp(proto, "TCP6") == 0 ? AF_INET6 : 0;
    if (!af) return PROXY_INVALID;
    uint16_t sport, dport;
    if (!next_token(buf, cr, &pos, src, sizeof(src)) ||
        !next_token(buf, cr, &pos, dst, sizeof(dst)) ||
        !next_token(buf, cr, &pos, sp, sizeof(sp)) || !next_token(buf, cr, &pos, dp, sizeof(dp)) ||
        pos != cr || !parse_port(sp, &sport) || !parse_port(dp, &dport))
        return PROXY_INVALID;
    uint8_t a[16], b[16];
    if (inet_pton(af, src, a) != 1 || inet_pton(af, dst, b) != 1) return PROXY_INVALID;
    if (af == AF_INET) {
        set4(&out->src, &out->src_len, a, sport);
        set4(&out->dst, &out->dst_len, b, dport);
    } else {
        set6(&out->src, &out->src_len, a, sport);
        set6(&out->dst, &out->dst_len, b, dport);
    }
    return (int)(cr + 2);
}

/* ---- v2 ----------------------------------------------------------------- */

static int parse_v2(const uint8_t *buf, size_t len, size_t bytes_max, struct proxy_hdr *out)
{
    size_t sig = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
    if (memcmp(buf, v2_sig, sig) != 0) return PROXY_INVALID;
    if (len > 12) {
        uint8_t ver = buf[12] >> 4, cmd = buf[12] & 15;
        if (ver != 2 || cmd > 1) return PROXY_INVALID;
    }
    if (len > 13) {
        uint8_t fam = buf[13] >> 4, proto = buf[13] & 15;
        if (fam > 3 || proto > 2) return PROXY_INVALID;
    }
    if (len < PROXY_V2_HEAD_BYTES) return PROXY_NEED_MORE;
    size_t alen = (size_t)buf[14] << 8 | buf[15], total = PROXY_V2_HEAD_BYTES + alen;
    if (total > bytes_max) return PROXY_INVALID;
    uint8_t cmd = buf[12] & 15, fam = buf[13];
    /* refuse a too-short address block before waiting for it */
    if (cmd == 1 && ((fam == 0x11 && alen < 12) || (fam == 0x21 && alen < 36)))
        return PROXY_INVALID;
    if (len < total) return PROXY_NEED_MORE;

    const uint8_t *a = buf + PROXY_V2_HEAD_BYTES;
    memset(out, 0, sizeof(*out));
    out->version = 2;
    if (cmd == 0 || (fam != 0x11 && fam != 0x21)) {
        out->local = true; /* LOCAL (health check), or nothing we route on */
        return (int)total;
    }
    if (fam == 0x11) {
        set4(&out->src, &out->src_len, a, (uint16_t)(a[8] << 8 | a[9]));
        set4(&out->dst, &out->dst_len, a + 4, (uint16_t)(a[10] << 8 | a[11]));
    } else {
        set6(&out->src, &out->src_len, a, (uint16_t)(a[32] << 8 | a[33]));
        set6(&out->dst, &out->dst_len, a + 16, (uint16_t)(a[34] << 8 | a[35]));
    }
    return (int)total; /* TLVs, if any, are skipped with the rest */
}

int proxy_parse(const uint8_t *buf, size_t len, size_t bytes_max, struct proxy_hdr *out)
{
    assert(out);
    if (len == 0) return PROXY_NEED_MORE;
    if (buf[0] == 'P') return parse_v1(buf, len, out);
    if (buf[0] == '\r') return parse_v2(buf, len, bytes_max, out);
    return PROXY_INVALID;
}

/* ---- trusted lists ------------------------------------------------------ */

/* to_v6: an address in IPv6 layout, IPv4 as ::ffff:a.b.c.d. */
static bool sockaddr_v6(const struct sockaddr *sa, socklen_t len, uint8_t out[16])
{
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return true;
    }
    return false;
}

static bool in_cidr(const struct proxy_cidr *c, const uint8_t a[16])
{
    unsigned whole = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->addr, a, whole) != 0) return false;
    if (!rest) return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (c->addr[whole] & mask) == (a[whole] & mask);
}

static int fail(char *err, size_t err_len, const char *what, const char *tok)
{
    snprintf(err, err_len, "trusted list: %s: '%s'", what, tok);
    return -1;
}

static int parse_cidr(const char *tok, struct proxy_cidr *c, char *err, size_t err_len)
{
    char addr[INET6_ADDRSTRLEN];
    const char *slash = strchr(tok, '/');
    size_t al = slash ? (size_t)(slash - tok) : strlen(tok);
    if (al == 0 || al >= sizeof(addr)) return fail(err, err_len, "not an address", tok);
    memcpy(addr, tok, al);
    addr[al] = '\0';
    int bits = -1, max;
    memset(c, 0, sizeof(*c));
    if (inet_pton(AF_INET, addr, c->addr + 12) == 1) {
        c->addr[10] = c->addr[11] = 0xff;
        max = 32;
    } else if (inet_pton(AF_INET6, addr, c->addr) == 1) {
        max = 128;
    } else {
        return fail(err, err_len, "not an address", tok);
    }
    if (slash) {
        const char *p = slash + 1;
        if (!*p || strlen(p) > 3 || (p[0] == '0' && p[1]))
            return fail(err, err_len, "bad mask", tok);
        bits = 0;
        for (; *p; p++) {
            if (*p < '0' || *p > '9') return fail(err, err_len, "bad mask", tok);
            bits = bits * 10 + (*p - '0');
        }
        if (bits > max) return fail(err, err_len, "mask too long", tok);
    } else {
        bits = max;
    }
    c->bits = (uint8_t)(bits + (max == 32 ? 96 : 0));
    for (unsigned b = c->bits; b < 128; b++)
        if (c->addr[b / 8] >> (7 - b % 8) & 1) return fail(err, err_len, "host bits set", tok);
    return 0;
}

int proxy_trust_parse(struct proxy_trust *t, const char *s, char *err, size_t err_len)
{
    char tok[PROXY_XFF_ENTRY_BYTES_MAX];
    memset(t, 0, sizeof(*t));
    if (strlen(s) > PROXY_TRUST_TEXT_MAX) {
        snprintf(err, err_len, "trusted list: longer than %d bytes", PROXY_TRUST_TEXT_MAX);
        return -1;
    }
    for (const char *p = s; *p;) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        if (!*p) break;
        size_t n = strcspn(p, ", \t");
        if (n >= sizeof(tok)) {
            snprintf(err, err_len, "trusted list: entry longer than %zu bytes", sizeof(tok) - 1);
            return -1;
        }
        memcpy(tok, p, n);
        tok[n] = '\0';
        p += n;
        if (t->n == PROXY_TRUST_MAX) {
            snprintf(err, err_len, "trusted list: more than %d entries", PROXY_TRUST_MAX);
            return -1;
        }
        if (parse_cidr(tok, &t->e[t->n], err, err_len) < 0) return -1;
        t->n++;
    }
    return 0;
}

bool proxy_trust_match(const struct proxy_trust *t, const struct sockaddr *sa, socklen_t len)
{
    uint8_t a[16];
    if (!t->n || !sockaddr_v6(sa, len, a)) return false;
    for (size_t i = 0; i < t->n; i++)
        if (in_cidr(&t->e[i], a)) return true;
    return false;
}

/* ---- X-Forwarded-For ---------------------------------------------------- */

static bool port_ok(const char *p, const char *end)
{
    size_t n = (size_t)(end - p);
    if (n == 0 || n > 5) return false;
    for (; p < end; p++)
        if (*p < '0' || *p > '9') return false;
    return true;
}

/* xff_entry: one entry e[0..n) (trimmed) into an address. */
static bool xff_entry(const char *e, size_t n, struct sockaddr_storage *out, socklen_t *out_len)
{
    char a[PROXY_XFF_ENTRY_BYTES_MAX];
    const char *s = e, *end = e + n;
    int colons = 0;
    uint8_t raw[16];
    if (n == 0 || n >= sizeof(a)) return false;
    for (size_t i = 0; i < n; i++)
        colons += e[i] == ':';
    if (e[0] == '[') {
        const char *rb = memchr(e, ']', n);
        if (!rb) return false;
        if (rb + 1 < end && (rb[1] != ':' || !port_ok(rb + 2, end))) return false;
        s = e + 1;
        end = rb;
    } else if (colons == 1) {
        const char *c = memchr(e, ':', n);
        if (!port_ok(c + 1, end)) return false;
        end = c;
    }
    size_t al = (size_t)(end - s);
    if (al == 0) return false;
    memcpy(a, s, al);
    a[al] = '\0';
    if (e[0] != '[' && colons <= 1 && inet_pton(AF_INET, a, raw) == 1) {
        set4(out, out_len, raw, 0);
        return true;
    }
    if ((e[0] == '[' || colons >= 2) && inet_pton(AF_INET6, a, raw) == 1) {
        set6(out, out_len, raw, 0);
        return true;
    }
    return false;
}

int proxy_xff_client(const char *v, size_t len, const struct proxy_trust *t,
                     struct sockaddr_storage *out, socklen_t *out_len)
{
    size_t end = len;
    for (unsigned hops = 0; hops < PROXY_XFF_HOPS_MAX; hops++) {
        size_t start = end;
        while (start > 0 && v[start - 1] != ',')
            start--;
        size_t s = start, e = end;
        while (s < e && (v[s] == ' ' || v[s] == '\t'))
            s++;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (!xff_entry(v + s, e - s, out, out_len)) return -1;
        if (start == 0 || !proxy_trust_match(t, (const struct sockaddr *)out, *out_len)) return 0;
        end = start - 1; /* before the comma */
    }
    return -1;
}
