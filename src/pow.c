/* pow: SHA-256, the puzzle check and solver, difficulty, replay set. */
#include "pow.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC poison strcpy sprintf gets strtok atoi

/* ---- SHA-256, written from FIPS 180-4 ------------------------------------ */

/* First 32 bits of the fractional parts of the cube roots of the first 64
 * primes (FIPS 180-4, 4.2.2). */
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t ror(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static void compress(uint32_t h[8], const uint8_t blk[64])
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)blk[4 * i] << 24 | (uint32_t)blk[4 * i + 1] << 16 |
               (uint32_t)blk[4 * i + 2] << 8 | blk[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 =
            k + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
}

void pow_sha256_init(struct pow_sha256 *s)
{
    /* fractional parts of the square roots of the first 8 primes */
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, h0, sizeof(h0));
    s->bytes = 0;
}

void pow_sha256_update(struct pow_sha256 *s, const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t used = s->bytes % 64;
    s->bytes += len;
    if (used) {
        size_t take = 64 - used < len ? 64 - used : len;
        memcpy(s->buf + used, p, take);
        p += take;
        len -= take;
        if (used + take < 64) return;
        compress(s->h, s->buf);
    }
    for (; len >= 64; p += 64, len -= 64)
        compress(s->h, p);
    memcpy(s->buf, p, len);
}

void pow_sha256_final(struct pow_sha256 *s, uint8_t out[32])
{
    uint64_t bits = s->bytes * 8;
    size_t used = s->bytes % 64;
    s->buf[used++] = 0x80;
    if (used > 56) {
        memset(s->buf + used, 0, 64 - used);
        compress(s->h, s->buf);
        used = 0;
    }
    memset(s->buf + used, 0, 56 - used);
    for (int i = 0; i < 8; i++)
        s->buf[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    compress(s->h, s->buf);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->h[i];
    }
}

void pow_sha256(const void *data, size_t len, uint8_t out[32])
{
    struct pow_sha256 s;
    pow_sha256_init(&s);
    pow_sha256_update(&s, data, len);
    pow_sha256_final(&s, out);
}

unsigned pow_leading_zero_bits(const uint8_t d[32])
{
    unsigned n = 0;
    for (int i = 0; i < 32; i++) {
        if (d[i]) return n + (unsigned)__builtin_clz(d[i]) - 24;
        n += 8;
    }
    return n;
}

/* ---- puzzle -------------------------------------------------------------- */

static bool try_counter(const struct pow_sha256 *prefix, uint64_t c, unsigned difficulty)
{
    struct pow_sha256 s = *prefix;
    uint8_t be[8], d[32];
    for (int i = 0; i < 8; i++)
        be[i] = (uint8_t)(c >> (56 - 8 * i));
    pow_sha256_update(&s, be, sizeof(be));
    pow_sha256_final(&s, d);
    return pow_leading_zero_bits(d) >= difficulty;
}

bool pow_check(const char *challenge, size_t len, uint64_t counter, unsigned difficulty)
{
    struct pow_sha256 s;
    if (counter >= POW_COUNTER_MAX) return false;
    pow_sha256_init(&s);
    pow_sha256_update(&s, challenge, len);
    return try_counter(&s, counter, difficulty);
}

int pow_solve(const char *challenge, size_t len, unsigned difficulty, uint64_t start,
              uint64_t iters_max, uint64_t *counter)
{
    struct pow_sha256 s;
    if (difficulty > POW_DIFFICULTY_MAX || start >= POW_COUNTER_MAX) return -EINVAL;
    if (iters_max > POW_COUNTER_MAX - start) iters_max = POW_COUNTER_MAX - start;
    pow_sha256_init(&s);
    pow_sha256_update(&s, challenge, len); /* the challenge's whole blocks, once */
    for (uint64_t c = start; c - start < iters_max; c++) {
        if (try_counter(&s, c, difficulty)) {
            *counter = c;
            return 0;
        }
    }
    return -EAGAIN;
}

unsigned pow_difficulty(const struct pow_policy *pp, uint64_t demand_per_s, uint64_t capacity_per_s)
{
    if (!demand_per_s) return 0;
    uint64_t ratio = capacity_per_s == 0                ? UINT64_MAX
                     : demand_per_s > UINT64_MAX / 1000 ? UINT64_MAX
                                                        : demand_per_s * 1000 / capacity_per_s;
    if (ratio < pp->on_permille) return 0;
    unsigned bits = pp->base_bits;
    uint64_t next = (uint64_t)(pp->on_permille ? pp->on_permille : 1) * 2;
    while (ratio >= next && bits < pp->max_bits) {
        bits += pp->step_bits ? pp->step_bits : pp->max_bits;
        if (next > UINT64_MAX / 2) break;
        next *= 2;
    }
    if (bits > pp->max_bits) bits = pp->max_bits;
    return bits > POW_DIFFICULTY_MAX ? POW_DIFFICULTY_MAX : bits;
}

int pow_issue(struct ticket_ring *r, uint32_t space, const struct prefix *p, unsigned difficulty,
              uint64_t nonce, uint64_t now_unix_s, uint32_t ttl_s, char *out, size_t out_len)
{
    if (difficulty < 1 || difficulty > POW_DIFFICULTY_MAX) return -EINVAL;
    struct ticket t = {
        .kind = TICKET_PUZZLE, .aux = (uint8_t)difficulty, .space = space, .number = nonce};
    return ticket_issue(r, &t, p, now_unix_s, ttl_s, out, out_len);
}

/* ---- replay set ---------------------------------------------------------- */

int pow_replay_init(struct pow_replay *s, uint32_t entries_max)
{
    memset(s, 0, sizeof(*s));
    if (entries_max == 0 || entries_max > POW_REPLAY_ENTRIES_MAX) return -EINVAL;
    uint32_t n = POW_REPLAY_PROBES;
    while (n < entries_max)
        n <<= 1;
    s->nonce = calloc(n, sizeof(*s->nonce));
    s->expires_unix_s = calloc(n, sizeof(*s->expires_unix_s));
    if (!s->nonce || !s->expires_unix_s) {
        pow_replay_free(s);
        return -ENOMEM;
    }
    s->mask = n - 1;
    return 0;
}

void pow_replay_free(struct pow_replay *s)
{
    free(s->nonce);
    free(s->expires_unix_s);
    memset(s, 0, sizeof(*s));
}

bool pow_replay_add(struct pow_replay *s, uint64_t nonce, uint32_t expires_unix_s,
                    uint64_t now_unix_s)
{
    assert(s->nonce);
    uint32_t free_slot = UINT32_MAX, soonest = UINT32_MAX;
    for (uint32_t i = 0; i < POW_REPLAY_PROBES; i++) {
        uint32_t k = ((uint32_t)nonce + i) & s->mask;
        uint32_t exp = s->expires_unix_s[k];
        bool live = exp > now_unix_s;
        if (live && s->nonce[k] == nonce) return false;
        if (!live) {
            if (free_slot == UINT32_MAX) free_slot = k;
        } else if (soonest == UINT32_MAX || exp < s->expires_unix_s[soonest]) {
            soonest = k;
        }
    }
    if (free_slot == UINT32_MAX) {
        free_slot = soonest;
        s->evicted_live++;
    }
    s->nonce[free_slot] = nonce;
    s->expires_unix_s[free_slot] = expires_unix_s;
    return true;
}

static const char *const status_names[] = {
    [POW_OK] = "ok",
    [POW_BAD_CHALLENGE] = "bad_challenge",
    [POW_UNSOLVED] = "unsolved",
    [POW_REPLAYED] = "replayed",
};

const char *pow_status_name(enum pow_status s)
{
    if ((unsigned)s >= sizeof(status_names) / sizeof(status_names[0])) return "?";
    return status_names[s];
}

enum pow_status pow_verify(struct ticket_ring *r, struct pow_replay *replay, const char *challenge,
                           size_t len, uint64_t counter, uint32_t space, const struct prefix *p,
                           uint64_t now_unix_s, enum ticket_status *why, unsigned *difficulty)
{
    struct ticket t;
    enum ticket_status ts =
        ticket_verify(r, challenge, len, TICKET_PUZZLE, space, p, now_unix_s, &t);
    if (why) *why = ts;
    if (ts != TICKET_OK) return POW_BAD_CHALLENGE;
    if (t.aux < 1 || t.aux > POW_DIFFICULTY_MAX) return POW_BAD_CHALLENGE;
    if (!pow_check(challenge, len, counter, t.aux)) return POW_UNSOLVED;
    if (!pow_replay_add(replay, t.number, t.expires_unix_s, now_unix_s)) return POW_REPLAYED;
    if (difficulty) *difficulty = t.aux;
    return POW_OK;
}
