/* test_pow: SHA-256 against FIPS vectors and libcrypto, the shared puzzle
 * vector (also checked against web/pow.js by tests/integration/
 * test_pow_js.py), solve and check, difficulty steps, challenge issue and
 * verification (forged, wrong prefix, expired, wrong kind, unsolved), and the
 * replay set. */
#include "pow.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>

#include "t.h"

/* The shared vector: the same challenge text and smallest counters are in
 * tests/integration/test_pow_js.py. */
#define VECTOR_CHALLENGE "podium-pow-vector-1_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH"
#define VECTOR_D8 362
#define VECTOR_D12 9798
#define VECTOR_D16 13608

static const char *hex(const uint8_t *d, size_t n)
{
    static char out[129];
    for (size_t i = 0; i < n && i < 64; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    return out;
}

static const char *sha_hex(const char *s, size_t n)
{
    uint8_t d[32];
    pow_sha256(s, n, d);
    return hex(d, 32);
}

static void test_sha256_vectors(void)
{
    CHECK_STR(sha_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_STR(sha_hex("abc", 3),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    CHECK_STR(sha_hex(m448, strlen(m448)),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* one million 'a', fed in uneven pieces */
    struct pow_sha256 s;
    char a[1000];
    uint8_t d[32];
    memset(a, 'a', sizeof(a));
    pow_sha256_init(&s);
    size_t fed = 0;
    for (size_t piece = 1; fed < 1000000; piece = piece % 997 + 1) {
        size_t n = piece < 1000000 - fed ? piece : 1000000 - fed;
        pow_sha256_update(&s, a, n);
        fed += n;
    }
    pow_sha256_final(&s, d);
    CHECK_STR(hex(d, 32), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_sha256_matches_libcrypto(void)
{
    uint8_t buf[300], mine[32], theirs[32];
    unsigned int n;
    uint32_t x = 12345;
    for (size_t len = 0; len <= sizeof(buf); len++) {
        for (size_t i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            buf[i] = (uint8_t)(x >> 16);
        }
        pow_sha256(buf, len, mine);
        CHECK(EVP_Digest(buf, len, theirs, &n, EVP_sha256(), NULL) == 1);
        CHECK(memcmp(mine, theirs, 32) == 0);
        /* split in two at every 7th point */
        struct pow_sha256 s;
        pow_sha256_init(&s);
        pow_sha256_update(&s, buf, len / 7);
        pow_sha256_update(&s, buf + len / 7, len - len / 7);
        pow_sha256_final(&s, mine);
        CHECK(memcmp(mine, theirs, 32) == 0);
    }
}

static void test_leading_zero_bits(void)
{
    uint8_t d[32] = {0};
    CHECK_EQ(pow_leading_zero_bits(d), 256);
    d[0] = 0x80;
    CHECK_EQ(pow_leading_zero_bits(d), 0);
    d[0] = 0x01;
    CHECK_EQ(pow_leading_zero_bits(d), 7);
    d[0] = 0;
    d[1] = 0x10;
    CHECK_EQ(pow_leading_zero_bits(d), 11);
    d[1] = 0;
    d[31] = 1;
    CHECK_EQ(pow_leading_zero_bits(d), 255);
}

static void test_shared_vector(void)
{
    const char *ch = VECTOR_CHALLENGE;
    size_t len = strlen(ch);
    uint64_t c = 0;
    CHECK_EQ(len, 64);
    CHECK_EQ(pow_solve(ch, len, 8, 0, 1u << 20, &c), 0);
    CHECK_EQ(c, VECTOR_D8);
    CHECK_EQ(pow_solve(ch, len, 12, 0, 1u << 20, &c), 0);
    CHECK_EQ(c, VECTOR_D12);
    CHECK_EQ(pow_solve(ch, len, 16, 0, 1u << 20, &c), 0);
    CHECK_EQ(c, VECTOR_D16);
    CHECK(pow_check(ch, len, VECTOR_D16, 16));
    CHECK(!pow_check(ch, len, VECTOR_D16 - 1, 16));
    CHECK(pow_check(ch, len, VECTOR_D16, 0)); /* difficulty 0: anything */
    /* the digest behind it, as hashlib computes it */
    uint8_t msg[72], d[32];
    memcpy(msg, ch, 64);
    for (int i = 0; i < 8; i++)
        msg[64 + i] = (uint8_t)((uint64_t)VECTOR_D16 >> (56 - 8 * i));
    pow_sha256(msg, sizeof(msg), d);
    CHECK_STR(hex(d, 32), "0000cac7d1a3a98337637a708253482ec46fc73c2f9018b1d02c68ec317ea1a5");
    /* resuming past a solution finds the next one; a short range finds none */
    CHECK_EQ(pow_solve(ch, len, 16, VECTOR_D16 + 1, 1u << 22, &c), 0);
    CHECK(c > VECTOR_D16 && pow_check(ch, len, c, 16));
    CHECK_EQ(pow_solve(ch, len, 16, 0, VECTOR_D16, &c), -EAGAIN);
    CHECK_EQ(pow_solve(ch, len, POW_DIFFICULTY_MAX + 1, 0, 1, &c), -EINVAL);
    CHECK_EQ(pow_solve(ch, len, 8, POW_COUNTER_MAX, 1, &c), -EINVAL);
    CHECK(!pow_check(ch, len, POW_COUNTER_MAX, 0));
}

static void test_difficulty_steps(void)
{
    struct pow_policy pp = POW_POLICY_DEFAULT;
    CHECK_EQ(pow_difficulty(&pp, 0, 1000), 0);
    CHECK_EQ(pow_difficulty(&pp, 999, 1000), 0);
    CHECK_EQ(pow_difficulty(&pp, 1000, 1000), 16);
    CHECK_EQ(pow_difficulty(&pp, 1999, 1000), 16);
    CHECK_EQ(pow_difficulty(&pp, 2000, 1000), 18);
    CHECK_EQ(pow_difficulty(&pp, 3999, 1000), 18);
    CHECK_EQ(pow_difficulty(&pp, 4000, 1000), 20);
    CHECK_EQ(pow_difficulty(&pp, 8000, 1000), 22);
    CHECK_EQ(pow_difficulty(&pp, 16000, 1000), 24);
    CHECK_EQ(pow_difficulty(&pp, 1000000000, 1000), 24);
    CHECK_EQ(pow_difficulty(&pp, UINT64_MAX, 1), 24);
    CHECK_EQ(pow_difficulty(&pp, 1, 0), 24);
    CHECK_EQ(pow_difficulty(&pp, 0, 0), 0);
    /* puzzles from 80 % of capacity, 1 bit per doubling, cap 18 */
    pp = (struct pow_policy){.on_permille = 800, .base_bits = 14, .step_bits = 1, .max_bits = 18};
    CHECK_EQ(pow_difficulty(&pp, 79, 100), 0);
    CHECK_EQ(pow_difficulty(&pp, 80, 100), 14);
    CHECK_EQ(pow_difficulty(&pp, 160, 100), 15);
    CHECK_EQ(pow_difficulty(&pp, 320, 100), 16);
    CHECK_EQ(pow_difficulty(&pp, 100000, 100), 18);
}

#define NOW 1700000000u
static const uint8_t master[32] = "pow test master secret, 32 bytes";

static void test_issue_verify(void)
{
    struct ticket_ring r;
    struct pow_replay rs;
    CHECK_EQ(ticket_ring_init(&r, master, sizeof(master), 3600, 600, 5, NOW), 0);
    CHECK_EQ(pow_replay_init(&rs, 1024), 0);
    struct prefix p, q;
    uint8_t a[4] = {203, 0, 113, 5}, b[4] = {203, 0, 114, 5};
    prefix_from_v4(&p, a);
    prefix_from_v4(&q, b);
    char ch[TICKET_TEXT_BYTES + 1];
    CHECK_EQ(pow_issue(&r, 7, &p, 0, 1, NOW, 60, ch, sizeof(ch)), -EINVAL);
    CHECK_EQ(pow_issue(&r, 7, &p, POW_DIFFICULTY_MAX + 1, 1, NOW, 60, ch, sizeof(ch)), -EINVAL);
    CHECK_EQ(pow_issue(&r, 7, &p, 10, 0xdeadbeefull, NOW, 60, ch, sizeof(ch)), TICKET_TEXT_BYTES);
    uint64_t c;
    CHECK_EQ(pow_solve(ch, TICKET_TEXT_BYTES, 10, 0, 1u << 24, &c), 0);
    enum ticket_status why;
    unsigned diff = 0;
    /* an unsolved counter first: it must not use up the challenge */
    uint64_t wrong = c + 1;
    while (pow_check(ch, TICKET_TEXT_BYTES, wrong, 10))
        wrong++;
    CHECK_EQ(pow_verify(&r, &rs, ch, 64, wrong, 7, &p, NOW + 1, &why, &diff), POW_UNSOLVED);
    CHECK_EQ(why, TICKET_OK);
    CHECK_EQ(pow_verify(&r, &rs, ch, 64, c, 7, &q, NOW + 1, &why, &diff), POW_BAD_CHALLENGE);
    CHECK_EQ(why, TICKET_WRONG_PREFIX);
    CHECK_EQ(pow_verify(&r, &rs, ch, 64, c, 8, &p, NOW + 1, &why, &diff), POW_BAD_CHALLENGE);
    CHECK_EQ(why, TICKET_WRONG_SPACE);
    CHECK_EQ(pow_verify(&r, &rs, ch, 64, c, 7, &p, NOW + 60, &why, &diff), POW_BAD_CHALLENGE);
    CHECK_EQ(why, TICKET_EXPIRED);
    CHECK_EQ(pow_verify(&r, &rs, ch, 64, c, 7, &p, NOW + 1, &why, &diff), POW_OK);
    CHECK_EQ(diff, 10);
    /* the same solution again: a replay */
    CHECK_EQ(pow_verify(&r, &rs, ch, 64, c, 7, &p, NOW + 2, &why, NULL), POW_REPLAYED);
    /* forged: any changed character breaks the MAC */
    char forged[TICKET_TEXT_BYTES + 1];
    memcpy(forged, ch, sizeof(forged));
    forged[30] = forged[30] == 'A' ? 'B' : 'A';
    CHECK_EQ(pow_verify(&r, &rs, forged, 64, c, 7, &p, NOW + 1, &why, NULL), POW_BAD_CHALLENGE);
    CHECK_EQ(why, TICKET_BAD_SIGNATURE);
    /* an admission ticket is not a challenge, even with a solution */
    struct ticket t = {.kind = TICKET_ADMISSION, .aux = 1, .space = 7, .number = 5};
    CHECK_EQ(ticket_issue(&r, &t, &p, NOW, 60, forged, sizeof(forged)), 64);
    CHECK_EQ(pow_solve(forged, 64, 1, 0, 1000, &c), 0);
    CHECK_EQ(pow_verify(&r, &rs, forged, 64, c, 7, &p, NOW + 1, &why, NULL), POW_BAD_CHALLENGE);
    CHECK_EQ(why, TICKET_WRONG_KIND);
    CHECK_STR(pow_status_name(POW_REPLAYED), "replayed");
    pow_replay_free(&rs);
    ticket_ring_free(&r);
}

static void test_replay_set(void)
{
    struct pow_replay rs;
    CHECK_EQ(pow_replay_init(&rs, 0), -EINVAL);
    CHECK_EQ(pow_replay_init(&rs, 1), 0);
    CHECK_EQ(rs.mask, POW_REPLAY_PROBES - 1); /* at least one probe window */
    CHECK(pow_replay_add(&rs, 100, 50, 10));
    CHECK(!pow_replay_add(&rs, 100, 50, 11));
    CHECK(!pow_replay_add(&rs, 100, 50, 49));
    CHECK(pow_replay_add(&rs, 100, 90, 50)); /* expired: the slot is free again */
    /* fill the window with live nonces that expire at 100 + i */
    pow_replay_free(&rs);
    CHECK_EQ(pow_replay_init(&rs, 16), 0);
    for (uint64_t i = 0; i < 16; i++)
        CHECK(pow_replay_add(&rs, i, (uint32_t)(100 + i), 0));
    CHECK_EQ(rs.evicted_live, 0);
    for (uint64_t i = 0; i < 16; i++)
        CHECK(!pow_replay_add(&rs, i, 200, 0));
    CHECK(pow_replay_add(&rs, 1000, 300, 0)); /* full: the soonest (nonce 0) goes */
    CHECK_EQ(rs.evicted_live, 1);
    CHECK(pow_replay_add(&rs, 0, 300, 0)); /* forgotten: accepted again (counted above) */
    CHECK(!pow_replay_add(&rs, 1000, 300, 0));
    pow_replay_free(&rs);
}

int main(void)
{
    T_RUN(test_sha256_vectors);
    T_RUN(test_sha256_matches_libcrypto);
    T_RUN(test_leading_zero_bits);
    T_RUN(test_shared_vector);
    T_RUN(test_difficulty_steps);
    T_RUN(test_issue_verify);
    T_RUN(test_replay_set);
    T_DONE();
}
