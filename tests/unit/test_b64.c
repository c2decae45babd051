/* test_b64: both forms against RFC 4648's vectors, strict decoding of what
 * a client could send (bad characters, misplaced padding, unused bits set,
 * impossible lengths), the output bounds, and a round trip of every length. */
#include "b64.h"

#include <errno.h>
#include <string.h>

#include "t.h"

static const char *enc(enum b64_form f, const char *s)
{
    static char out[64];
    CHECK(b64_encode(f, (const uint8_t *)s, strlen(s), out, sizeof(out)) >= 0);
    return out;
}

static int dec(enum b64_form f, const char *s, uint8_t *out, size_t out_len)
{
    return b64_decode(f, s, strlen(s), out, out_len);
}

static void test_rfc4648_vectors(void)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const std[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *const url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (unsigned i = 0; i < 7; i++) {
        uint8_t out[16];
        size_t n = strlen(plain[i]);
        CHECK_STR(enc(B64_STD, plain[i]), std[i]);
        CHECK_STR(enc(B64_URL, plain[i]), url[i]);
        CHECK_EQ(b64_len(B64_STD, n), strlen(std[i]));
        CHECK_EQ(b64_len(B64_URL, n), strlen(url[i]));
        CHECK_EQ(dec(B64_STD, std[i], out, sizeof(out)), (int)n);
        CHECK(memcmp(out, plain[i], n) == 0);
        CHECK_EQ(dec(B64_URL, url[i], out, sizeof(out)), (int)n);
        CHECK(memcmp(out, plain[i], n) == 0);
        /* padding is optional in the standard form */
        CHECK_EQ(dec(B64_STD, url[i], out, sizeof(out)), (int)n);
    }
    /* the two alphabets differ in 62 and 63 only */
    CHECK_STR(enc(B64_STD, "\xfb\xff"), "+/8=");
    CHECK_STR(enc(B64_URL, "\xfb\xff"), "-_8");
}

static void test_strict(void)
{
    uint8_t out[16];
    CHECK_EQ(dec(B64_URL, "Zh", out, sizeof(out)), -1);   /* unused bits set */
    CHECK_EQ(dec(B64_STD, "Zh==", out, sizeof(out)), -1); /* same, padded */
    CHECK_EQ(dec(B64_URL, "Zg==", out, sizeof(out)), -1); /* no padding in URLs */
    CHECK_EQ(dec(B64_URL, "Z", out, sizeof(out)), -1);    /* 1 mod 4 */
    CHECK_EQ(dec(B64_STD, "Z===", out, sizeof(out)), -1);
    CHECK_EQ(dec(B64_STD, "Zg=", out, sizeof(out)), -1);  /* padding to no quantum */
    CHECK_EQ(dec(B64_STD, "Zg=a", out, sizeof(out)), -1); /* padding inside */
    CHECK_EQ(dec(B64_URL, "Zm+v", out, sizeof(out)), -1);
    CHECK_EQ(dec(B64_URL, "Zm/v", out, sizeof(out)), -1);
    CHECK_EQ(dec(B64_STD, "Zm-v", out, sizeof(out)), -1);
    CHECK_EQ(dec(B64_STD, "Zm_v", out, sizeof(out)), -1);
    CHECK_EQ(dec(B64_STD, "Zm9v\n", out, sizeof(out)), -1);
    CHECK_EQ(b64_decode(B64_STD, "Zm\0v", 4, out, sizeof(out)), -1);
    CHECK_EQ(dec(B64_STD, "Zm9v", out, 2), -ENOSPC);
    char small[4];
    CHECK_EQ(b64_encode(B64_URL, (const uint8_t *)"foo", 3, small, 4), -ENOSPC);
    CHECK_EQ(b64_encode(B64_STD, (const uint8_t *)"f", 1, small, 4), -ENOSPC);
}

static void test_round_trip(void)
{
    uint8_t in[40], back[40];
    char text[64];
    for (int f = B64_STD; f <= B64_URL; f++) {
        for (size_t n = 0; n <= sizeof(in); n++) {
            for (size_t i = 0; i < n; i++)
                in[i] = (uint8_t)(i * 77 + n * 13 + 255);
            int m = b64_encode((enum b64_form)f, in, n, text, sizeof(text));
            CHECK_EQ(m, (int)b64_len((enum b64_form)f, n));
            CHECK_EQ(b64_decode((enum b64_form)f, text, (size_t)m, back, sizeof(back)), (int)n);
            CHECK(memcmp(in, back, n) == 0);
        }
    }
}

int main(void)
{
    T_RUN(test_rfc4648_vectors);
    T_RUN(test_strict);
    T_RUN(test_round_trip);
    T_DONE();
}
