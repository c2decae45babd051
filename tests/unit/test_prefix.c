/* test_prefix: /24 and /48 reduction, IPv4-mapped IPv6 as IPv4, sockaddr
 * families and lengths, and the text form. */
#include "prefix.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include "t.h"

static struct prefix from_text(const char *s)
{
    struct sockaddr_storage ss;
    struct prefix p;
    memset(&ss, 0, sizeof(ss));
    memset(&p, 0xee, sizeof(p));
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        CHECK_EQ(prefix_from_sockaddr(&p, (struct sockaddr *)a4, sizeof(*a4)), 0);
    } else {
        CHECK_EQ(inet_pton(AF_INET6, s, &a6->sin6_addr), 1);
        a6->sin6_family = AF_INET6;
        CHECK_EQ(prefix_from_sockaddr(&p, (struct sockaddr *)a6, sizeof(*a6)), 0);
    }
    return p;
}

static const char *fmt(const char *addr)
{
    static char out[PREFIX_TEXT_BYTES_MAX];
    struct prefix p = from_text(addr);
    CHECK(prefix_format(&p, out, sizeof(out)) > 0);
    return out;
}

static void test_v4(void)
{
    CHECK_STR(fmt("203.0.113.77"), "203.0.113.0/24");
    CHECK_STR(fmt("0.0.0.0"), "0.0.0.0/24");
    CHECK_STR(fmt("255.255.255.255"), "255.255.255.0/24");
    struct prefix a = from_text("198.51.100.1"), b = from_text("198.51.100.254"),
                  c = from_text("198.51.101.1");
    CHECK(prefix_eq(&a, &b));
    CHECK(!prefix_eq(&a, &c));
    CHECK(prefix_is_v4(&a));
}

static void test_v6(void)
{
    CHECK_STR(fmt("2001:db8:1:2:3:4:5:6"), "2001:db8:1::/48");
    CHECK_STR(fmt("2001:db8:1:ffff::1"), "2001:db8:1::/48");
    CHECK_STR(fmt("::1"), "::/48");
    CHECK_STR(fmt("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "ffff:ffff:ffff::/48");
    struct prefix a = from_text("2001:db8:1:2::1"), b = from_text("2001:db8:1:9999::1"),
                  c = from_text("2001:db8:2::1");
    CHECK(prefix_eq(&a, &b));
    CHECK(!prefix_eq(&a, &c));
    CHECK(!prefix_is_v4(&a));
}

static void test_mapped_is_v4(void)
{
    struct prefix m = from_text("::ffff:192.0.2.200"), v = from_text("192.0.2.1");
    CHECK(prefix_eq(&m, &v));
    CHECK(prefix_is_v4(&m));
    CHECK_STR(fmt("::ffff:192.0.2.200"), "192.0.2.0/24");
    /* ::ffff:0:0/96 with a different upper part is plain IPv6 */
    struct prefix n = from_text("1::ffff:192.0.2.200");
    CHECK(!prefix_is_v4(&n));
    CHECK(!prefix_eq(&n, &v));
    /* the all-zero /48 is not 0.0.0.0/24 */
    struct prefix z6 = from_text("::"), z4 = from_text("0.0.0.0");
    CHECK(!prefix_eq(&z6, &z4));
}

static void test_sockaddr_errors(void)
{
    struct prefix p;
    struct sockaddr_in a4 = {.sin_family = AF_INET};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
    struct sockaddr un = {.sa_family = AF_UNIX};
    CHECK_EQ(prefix_from_sockaddr(&p, (struct sockaddr *)&a4, sizeof(a4) - 1), -EINVAL);
    CHECK_EQ(prefix_from_sockaddr(&p, (struct sockaddr *)&a6, sizeof(struct sockaddr_in)), -EINVAL);
    CHECK_EQ(prefix_from_sockaddr(&p, &un, sizeof(un)), -EAFNOSUPPORT);
    CHECK_EQ(prefix_from_sockaddr(&p, &un, 1), -EINVAL);
}

static void test_format_space(void)
{
    struct prefix p = from_text("203.0.113.77");
    char out[PREFIX_TEXT_BYTES_MAX];
    CHECK_EQ(prefix_format(&p, out, 14), -ENOSPC); /* needs 14 + NUL */
    CHECK_STR(out, "");
    CHECK_EQ(prefix_format(&p, out, 15), 14);
    CHECK_STR(out, "203.0.113.0/24");
    CHECK_EQ(prefix_format(&p, out, 0), -ENOSPC);
    p = from_text("ffff:ffff:ffff::");
    CHECK_EQ(prefix_format(&p, out, sizeof(out)), 19);
}

int main(void)
{
    T_RUN(test_v4);
    T_RUN(test_v6);
    T_RUN(test_mapped_is_v4);
    T_RUN(test_sockaddr_errors);
    T_RUN(test_format_space);
    T_DONE();
}
