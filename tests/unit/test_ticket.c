/* test_ticket: sign/verify, expiry edges, clock skew, forgery
 * (every character altered), another master, wrong kind/space/prefix, key
 * rotation by epoch (previous valid, older refused), two nodes agreeing,
 * and replay as documented (reusable within its prefix until expiry). */
#include "ticket.h"

#include <errno.h>

#include "t.h"

static const uint8_t master[32] = "0123456789abcdef0123456789abcdef";
#define T0 1700000000u /* a Unix time, mid-epoch for rotate_s = 3600 */

static struct prefix v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    struct prefix p;
    uint8_t addr[4] = {a, b, c, d};
    prefix_from_v4(&p, addr);
    return p;
}

static struct ticket_ring ring(uint64_t now)
{
    struct ticket_ring r;
    CHECK_EQ(ticket_ring_init(&r, master, sizeof(master), 3600, 3600, 30, now), 0);
    return r;
}

static void issue(struct ticket_ring *r, enum ticket_kind kind, uint32_t space, uint64_t number,
                  const struct prefix *p, uint64_t now, uint32_t ttl,
                  char out[TICKET_TEXT_BYTES + 1])
{
    struct ticket t = {.kind = kind, .space = space, .number = number};
    CHECK_EQ(ticket_issue(r, &t, p, now, ttl, out, TICKET_TEXT_BYTES + 1), TICKET_TEXT_BYTES);
}

static void test_init_errors(void)
{
    struct ticket_ring r;
    CHECK_EQ(ticket_ring_init(&r, master, 15, 3600, 60, 0, T0), -EINVAL);
    CHECK_EQ(ticket_ring_init(&r, master, 65, 3600, 60, 0, T0), -EINVAL);
    CHECK_EQ(ticket_ring_init(&r, master, 32, 0, 60, 0, T0), -EINVAL);
    CHECK_EQ(ticket_ring_init(&r, master, 32, 60, 0, 0, T0), -EINVAL);
    CHECK_EQ(ticket_ring_init(&r, master, 32, 60, 61, 0, T0), -EINVAL);
    CHECK_EQ(ticket_ring_init(&r, master, 16, 60, 60, 0, T0), 0);
    ticket_ring_free(&r);
    CHECK_EQ(r.master[0], 0);
    CHECK(r.cur.mac == NULL);
    r = ring(T0);
    struct prefix p = v4(192, 0, 2, 1);
    struct ticket t = {.kind = TICKET_ADMISSION};
    char out[TICKET_TEXT_BYTES + 1];
    CHECK_EQ(ticket_issue(&r, &t, &p, T0, 60, out, TICKET_TEXT_BYTES), -ENOSPC);
    CHECK_EQ(ticket_issue(&r, &t, &p, T0, 0, out, sizeof(out)), -EINVAL);
    CHECK_EQ(ticket_issue(&r, &t, &p, T0, 3601, out, sizeof(out)), -EINVAL);
    CHECK_EQ(ticket_issue(&r, &t, &p, UINT32_MAX - 10, 60, out, sizeof(out)), -EINVAL);
    ticket_ring_free(&r);
}

static void test_round_trip(void)
{
    struct ticket_ring r = ring(T0);
    struct prefix p = v4(192, 0, 2, 1);
    char text[TICKET_TEXT_BYTES + 1];
    struct ticket t = {
        .kind = TICKET_PUZZLE, .aux = 17, .space = 42, .number = 0x0102030405060708ull};
    CHECK_EQ(ticket_issue(&r, &t, &p, T0, 300, text, sizeof(text)), 64);
    CHECK_EQ(strlen(text), 64);
    CHECK_EQ(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 64);
    struct ticket got;
    CHECK_EQ(ticket_verify(&r, text, 64, TICKET_PUZZLE, 42, &p, T0 + 10, &got), TICKET_OK);
    CHECK_EQ(got.kind, TICKET_PUZZLE);
    CHECK_EQ(got.aux, 17);
    CHECK_EQ(got.space, 42);
    CHECK(got.number == 0x0102030405060708ull);
    CHECK_EQ(got.issued_unix_s, T0);
    CHECK_EQ(got.expires_unix_s, T0 + 300);
    CHECK_EQ(got.epoch, (uint16_t)(T0 / 3600));
    CHECK_EQ(got.prefix_tag, t.prefix_tag);
    /* out may be NULL */
    CHECK_EQ(ticket_verify(&r, text, 64, TICKET_PUZZLE, 42, &p, T0, NULL), TICKET_OK);
    ticket_ring_free(&r);
}

static void test_expiry_and_skew(void)
{
    struct ticket_ring r = ring(T0);
    struct prefix p = v4(192, 0, 2, 1);
    char text[TICKET_TEXT_BYTES + 1];
    issue(&r, TICKET_ADMISSION, 1, 7, &p, T0, 60, text);
    CHECK_EQ(ticket_verify(&r, text, 64, TICKET_ADMISSION, 1, &p, T0 + 59, NULL), TICKET_OK);
    CHECK_EQ(ticket_verify(&r, text, 64, TICKET_ADMISSION, 1, &p, T0 + 60, NULL), TICKET_EXPIRED);
    CHECK_EQ(ticket_verify(&r, text, 64, TICKET_ADMISSION, 1, &p, T0 + 100000, NULL),
             TICKET_EXPIRED); /* the ring was not ticked: still its keys */
    /* an issuing node 30 s ahead is tolerated, 31 s is not */
    CHECK_EQ(ticket_verify(&r, text, 64, TICKET_ADMISSION, 1, &p, T0 - 30, NULL), TICKET_OK);
    CHECK_EQ(ticket_verify(&r, text, 64, TICKET_ADMISSION, 1, &p, T0 - 31, NULL),
             TICKET_NOT_YET_VALID);
    ticket_ring_free(&r);
}

static void test_wrong_claims(void)
{
    struct ticket_ring r = ring(T0);
    struct prefix p = v4(192, 0, 2, 1), same24 = v4(192, 0, 2, 254), other = v4(192, 0, 3, 1);
    char text[TICKET_TEXT_BYTES + 1];
    issue(&r, TICKET_QUEUE, 5, 1234, &p, T0, 60, text);
    struct ticket got;
    CHECK_EQ(ticket_verify(&r, text, 64, TICKET_ADMISSION, 5, &p, T0, &got), TICKET_WRONG_KIND);
    CHECK(got.number == 1234); /* filled: the caller may count it by kind */
    CHECK_EQ(ticket_verify(&r, text, 64, TICKET_QUEUE, 6, &p, T0, NULL), TICKET_WRONG_SPACE);
    CHECK_EQ(ticket_verify(&r, text, 64, TICKET_QUEUE, 5, &other, T0, NULL), TICKET_WRONG_PREFIX);
    CHECK_EQ(ticket_verify(&r, text, 64, TICKET_QUEUE, 5, &same24, T0, NULL), TICKET_OK);
    /* IPv6: a /48 binds, a neighbour /48 does not */
    struct prefix a6, b6, c6;
    uint8_t x[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1};
    prefix_from_v6(&a6, x);
    x[7] = 99;
    prefix_from_v6(&b6, x);
    x[5] = 2;
    prefix_from_v6(&c6, x);
    issue(&r, TICKET_ADMISSION, 5, 1, &a6, T0, 60, text);
    CHECK_EQ(ticket_verify(&r, text, 64, TICKET_ADMISSION, 5, &b6, T0, NULL), TICKET_OK);
    CHECK_EQ(ticket_verify(&r, text, 64, TICKET_ADMISSION, 5, &c6, T0, NULL), TICKET_WRONG_PREFIX);
    CHECK_EQ(ticket_verify(&r, text, 64, TICKET_ADMISSION, 5, &p, T0, NULL), TICKET_WRONG_PREFIX);
    ticket_ring_free(&r);
}

static void test_forgery(void)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    struct ticket_ring r = ring(T0);
    struct prefix p = v4(10, 9, 8, 7);
    char text[TICKET_TEXT_BYTES + 1], bad[TICKET_TEXT_BYTES + 1];
    issue(&r, TICKET_ADMISSION, 9, 99, &p, T0, 600, text);
    unsigned counts[TICKET_WRONG_PREFIX + 1] = {0};
    /* every single-character change, to every other character */
    for (size_t i = 0; i < TICKET_TEXT_BYTES; i++) {
        for (size_t c = 0; c < 64; c++) {
            if (alpha[c] == text[i]) continue;
            memcpy(bad, text, sizeof(bad));
            bad[i] = alpha[c];
            enum ticket_status s = ticket_verify(&r, bad, 64, TICKET_ADMISSION, 9, &p, T0, NULL);
            CHECK(s != TICKET_OK);
            if (s <= TICKET_WRONG_PREFIX) counts[s]++;
        }
    }
    CHECK_EQ(counts[TICKET_OK], 0);
    /* all rejections come from the first three gates */
    CHECK_EQ(counts[TICKET_MALFORMED] + counts[TICKET_UNKNOWN_EPOCH] + counts[TICKET_BAD_SIGNATURE],
             64 * 63);
    CHECK(counts[TICKET_BAD_SIGNATURE] > 3500);
    /* wrong length, non-alphabet, bad version */
    CHECK_EQ(ticket_verify(&r, text, 63, TICKET_ADMISSION, 9, &p, T0, NULL), TICKET_MALFORMED);
    memcpy(bad, text, sizeof(bad));
    bad[10] = '+';
    CHECK_EQ(ticket_verify(&r, bad, 64, TICKET_ADMISSION, 9, &p, T0, NULL), TICKET_MALFORMED);
    memcpy(bad, text, sizeof(bad));
    bad[0] = 'I'; /* 0x20: version 2 */
    CHECK_EQ(ticket_verify(&r, bad, 64, TICKET_ADMISSION, 9, &p, T0, NULL), TICKET_MALFORMED);
    /* a well-formed ticket under another master */
    struct ticket_ring other;
    CHECK_EQ(ticket_ring_init(&other, (const uint8_t *)"another secret, 32 bytes long!!!", 32, 3600,
                              3600, 30, T0),
             0);
    issue(&other, TICKET_ADMISSION, 9, 99, &p, T0, 600, bad);
    CHECK_EQ(ticket_verify(&r, bad, 64, TICKET_ADMISSION, 9, &p, T0, NULL), TICKET_BAD_SIGNATURE);
    ticket_ring_free(&r);
    ticket_ring_free(&other);
}

static void test_rotation(void)
{
    uint64_t e0 = (T0 / 3600) * 3600;
    struct ticket_ring r = ring(e0 + 3599); /* the last second of an epoch */
    struct prefix p = v4(172, 16, 0, 1);
    char text[TICKET_TEXT_BYTES + 1];
    issue(&r, TICKET_ADMISSION, 1, 1, &p, e0 + 3599, 3600, text);
    CHECK_EQ(ticket_ring_tick(&r, e0 + 3599), 0);
    CHECK_EQ(ticket_ring_tick(&r, e0 + 3600), 1); /* next epoch: previous still valid */
    CHECK_EQ(r.cur.epoch, e0 / 3600 + 1);
    CHECK_EQ(r.prev.epoch, e0 / 3600);
    CHECK_EQ(ticket_verify(&r, text, 64, TICKET_ADMISSION, 1, &p, e0 + 7198, NULL), TICKET_OK);
    CHECK_EQ(ticket_verify(&r, text, 64, TICKET_ADMISSION, 1, &p, e0 + 7199, NULL),
             TICKET_EXPIRED); /* its whole life was covered */
    CHECK_EQ(ticket_ring_tick(&r, e0 + 7200), 1);
    CHECK_EQ(ticket_verify(&r, text, 64, TICKET_ADMISSION, 1, &p, e0 + 7200, NULL),
             TICKET_UNKNOWN_EPOCH);
    /* new tickets use the current epoch */
    issue(&r, TICKET_ADMISSION, 1, 2, &p, e0 + 7200, 60, text);
    CHECK_EQ(ticket_verify(&r, text, 64, TICKET_ADMISSION, 1, &p, e0 + 7200, NULL), TICKET_OK);
    /* a jump of many epochs derives the previous key afresh */
    struct ticket_ring a = ring(e0 + 50 * 3600 + 10), b = ring(e0);
    issue(&a, TICKET_ADMISSION, 1, 3, &p, e0 + 50 * 3600 + 10, 60, text);
    CHECK_EQ(ticket_ring_tick(&b, e0 + 51 * 3600), 1);
    CHECK_EQ(ticket_verify(&b, text, 64, TICKET_ADMISSION, 1, &p, e0 + 50 * 3600 + 20, NULL),
             TICKET_OK);
    ticket_ring_free(&r);
    ticket_ring_free(&a);
    ticket_ring_free(&b);
}

static void test_two_nodes_and_replay(void)
{
    /* two nodes started at different times in one epoch share the keys */
    struct ticket_ring a = ring(T0), b = ring(T0 + 100);
    struct prefix p = v4(198, 51, 100, 10), neighbour = v4(198, 51, 100, 11);
    char text[TICKET_TEXT_BYTES + 1];
    issue(&a, TICKET_ADMISSION, 3, 77, &p, T0, 120, text);
    CHECK_EQ(ticket_verify(&b, text, 64, TICKET_ADMISSION, 3, &p, T0 + 100, NULL), TICKET_OK);
    /* replay: a ticket is not single-use; it verifies again and again, from
     * any address of the same /24, until it expires (see ticket.h) */
    for (int i = 0; i < 3; i++)
        CHECK_EQ(ticket_verify(&b, text, 64, TICKET_ADMISSION, 3, &neighbour, T0 + 101 + i, NULL),
                 TICKET_OK);
    CHECK_EQ(ticket_verify(&b, text, 64, TICKET_ADMISSION, 3, &p, T0 + 120, NULL), TICKET_EXPIRED);
    /* two tickets for the same claims differ when the numbers differ */
    char text2[TICKET_TEXT_BYTES + 1];
    issue(&a, TICKET_ADMISSION, 3, 78, &p, T0, 120, text2);
    CHECK(strcmp(text, text2) != 0);
    ticket_ring_free(&a);
    ticket_ring_free(&b);
}

static void test_names(void)
{
    CHECK_STR(ticket_status_name(TICKET_OK), "ok");
    CHECK_STR(ticket_status_name(TICKET_BAD_SIGNATURE), "bad_signature");
    CHECK_STR(ticket_status_name(TICKET_WRONG_PREFIX), "wrong_prefix");
    CHECK_STR(ticket_status_name((enum ticket_status)99), "?");
}

int main(void)
{
    T_RUN(test_init_errors);
    T_RUN(test_round_trip);
    T_RUN(test_expiry_and_skew);
    T_RUN(test_wrong_claims);
    T_RUN(test_forgery);
    T_RUN(test_rotation);
    T_RUN(test_two_nodes_and_replay);
    T_RUN(test_names);
    T_DONE();
}
