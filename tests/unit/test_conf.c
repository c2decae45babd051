/* test_conf: the settings table (defaults, bounds, reasons), the config file
 * reader, cross-field checks; and the mount path and name rules. */
#include "conf.h"

#include <stdlib.h>
#include <unistd.h>

#include "mount.h"
#include "t.h"

static char err[512];

/* Every key conf_help lists, set from its printed default into a zeroed
 * conf, must be accepted and give exactly conf_defaults(). */
static void test_defaults_round_trip(void)
{
    char *text = NULL;
    size_t text_len = 0;
    FILE *f = open_memstream(&text, &text_len);
    CHECK(f != NULL);
    if (!f) return;
    conf_help(f);
    fclose(f);

    struct conf want, got;
    conf_defaults(&want);
    memset(&got, 0, sizeof(got));
    unsigned keys = 0;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        /* "  %-22s %-16s %s": name at 2, default in columns 25..40. */
        char name[64] = "", def[64] = "";
        CHECK(sscanf(line, " %63s", name) == 1);
        size_t ll = strlen(line);
        if (ll > 25) {
            size_t n = ll - 25 < 16 ? ll - 25 : 16;
            memcpy(def, line + 25, n);
            def[n] = 0;
            char *e = def + strlen(def);
            while (e > def && e[-1] == ' ') *--e = 0;
        }
        err[0] = 0;
        if (conf_set(&got, name, def, err, sizeof(err)) != 0) {
            fprintf(stderr, "default of %s refused: %s\n", name, err);
            CHECK(0);
        }
        keys++;
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    CHECK(keys >= 25);
    CHECK(memcmp(&got, &want, sizeof(got)) == 0);

    /* A few spelled out, as a user reads them in the docs. */
    CHECK_STR(want.listen, "127.0.0.1:8000");
    CHECK_STR(want.source_password, "");
    CHECK(want.demo);
    CHECK_EQ(want.header_bytes_max, 8192);
    CHECK_EQ(want.uri_bytes_max, 2048);
    CHECK_EQ(want.burst_ms, 2000);
    CHECK_EQ(want.flush_ms, 1000);
    CHECK_EQ(want.ring_ms, 30000);
    CHECK_EQ(want.page_ms, 100);
    CHECK_EQ(want.connections_max, 0);
    CHECK_EQ(conf_check(&want, err, sizeof(err)), 0);
}

/* conf_set must refuse, leave the field alone, and name the key. */
static void refuses(const char *key, const char *value)
{
    struct conf c, before;
    conf_defaults(&c);
    before = c;
    err[0] = 0;
    int r = conf_set(&c, key, value, err, sizeof(err));
    if (r != -1) fprintf(stderr, "conf_set(%s, \"%.40s\") accepted\n", key, value);
    CHECK_EQ(r, -1);
    CHECK(strstr(err, key) != NULL);
    CHECK(memcmp(&c, &before, sizeof(c)) == 0);
}

static void test_set_refuses(void)
{
    refuses("no_such_key", "1");
    refuses("", "1");
    refuses("Backlog", "4096"); /* keys are case-sensitive */
    refuses("headers_max", "");
    refuses("headers_max", "abc");
    refuses("headers_max", "12a");
    refuses("headers_max", "1.5");
    refuses("headers_max", "0x10");
    refuses("headers_max", "-1");
    refuses("headers_max", "-0");
    refuses("connections_max", "-0"); /* min 0: only the sign check refuses it */
    refuses("headers_max", "3");  /* min 4 */
    refuses("headers_max", "49"); /* max 48 */
    refuses("ring_ms", "999");
    refuses("ring_ms", "600001");
    refuses("connections_max", "10000001");
    refuses("connections_max", "4294967296");            /* past uint32 */
    refuses("connections_max", "99999999999999999999999"); /* past uint64 */
    refuses("demo", "maybe");
    refuses("demo", "");
    refuses("demo", "2");

    char longs[CONF_STR_MAX + 1];
    memset(longs, 'a', CONF_STR_MAX);
    longs[CONF_STR_MAX] = 0;
    refuses("source_password", longs); /* 256 bytes: one too many */

    /* Bounds are inclusive; the longest string fits. */
    struct conf c;
    conf_defaults(&c);
    CHECK_EQ(conf_set(&c, "headers_max", "4", err, sizeof(err)), 0);
    CHECK_EQ(c.headers_max, 4);
    CHECK_EQ(conf_set(&c, "headers_max", "48", err, sizeof(err)), 0);
    CHECK_EQ(c.headers_max, 48);
    CHECK_EQ(conf_set(&c, "connections_max", "10000000", err, sizeof(err)), 0);
    CHECK_EQ(c.connections_max, 10000000);
    longs[CONF_STR_MAX - 1] = 0;
    CHECK_EQ(conf_set(&c, "source_password", longs, err, sizeof(err)), 0);
    CHECK_EQ(strlen(c.source_password), CONF_STR_MAX - 1);
    CHECK_EQ(conf_set(&c, "demo", "off", err, sizeof(err)), 0);
    CHECK(!c.demo);
    CHECK_EQ(conf_set(&c, "demo", "yes", err, sizeof(err)), 0);
    CHECK(c.demo);
    CHECK_EQ(conf_set(&c, "demo", "0", err, sizeof(err)), 0);
    CHECK(!c.demo);
    CHECK_EQ(conf_set(&c, "data", "/srv/podium", err, sizeof(err)), 0);
    CHECK_STR(c.data_dir, "/srv/podium");

    /* A small error buffer truncates, never overflows. */
    char small[8];
    CHECK_EQ(conf_set(&c, "headers_max", "x", small, sizeof(small)), -1);
    CHECK_EQ(strlen(small), sizeof(small) - 1);
}

static char tmp_path[64];

static void write_tmp(const char *text)
{
    snprintf(tmp_path, sizeof(tmp_path), "/tmp/podium-test-conf-XXXXXX");
    int fd = mkstemp(tmp_path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    size_t n = strlen(text);
    CHECK_EQ(write(fd, text, n), n);
    close(fd);
}

static void test_load(void)
{
    struct conf c;
    conf_defaults(&c);
    write_tmp("# podium.conf\n"
              "\n"
              "   \n"
              "headers_max=20\n"
              "  burst_ms   =   2000   # two seconds\n"
              "\tlisten\t=\t0.0.0.0:8080\t\n"
              "demo = off\r\n"
              "# page_ms = 999\n"
              "source_password = pa#ss\n"
              "data = /var/lib/podium");             /* no final newline */
    CHECK_EQ(conf_load(&c, tmp_path, err, sizeof(err)), 0);
    CHECK_EQ(c.headers_max, 20);
    CHECK_EQ(c.burst_ms, 2000);
    CHECK_STR(c.listen, "0.0.0.0:8080");
    CHECK(!c.demo);
    CHECK_EQ(c.page_ms, 100);
    CHECK_STR(c.data_dir, "/var/lib/podium");
    CHECK_STR(c.source_password, "pa#ss");
    unlink(tmp_path);

    char want[128];
    /* Errors name the file and the line. */
    write_tmp("# ok\nheaders_max = 20\nbogus = 1\n");
    CHECK_EQ(conf_load(&c, tmp_path, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:3:", tmp_path);
    CHECK(strncmp(err, want, strlen(want)) == 0);
    CHECK(strstr(err, "bogus") != NULL);
    unlink(tmp_path);

    write_tmp("\n\nheaders_max 20\n");
    CHECK_EQ(conf_load(&c, tmp_path, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:3:", tmp_path);
    CHECK(strncmp(err, want, strlen(want)) == 0);
    unlink(tmp_path);

    write_tmp("headers_max = 20\nring_ms = 5\n");
    CHECK_EQ(conf_load(&c, tmp_path, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:2:", tmp_path);
    CHECK(strncmp(err, want, strlen(want)) == 0);
    CHECK(strstr(err, "ring_ms") != NULL);
    unlink(tmp_path);

    /* A line longer than the reader's buffer is refused, not split. */
    char *big = malloc(3000);
    memcpy(big, "listen = ", 9);
    memset(big + 9, 'x', 2000);
    memcpy(big + 2009, "\n", 2);
    write_tmp(big);
    free(big);
    CHECK_EQ(conf_load(&c, tmp_path, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:1:", tmp_path);
    CHECK(strncmp(err, want, strlen(want)) == 0);
    unlink(tmp_path);

    CHECK_EQ(conf_load(&c, "/tmp/podium-test-conf-missing/x.conf", err, sizeof(err)), -1);
    CHECK(strstr(err, "/tmp/podium-test-conf-missing/x.conf") != NULL);
}

static void test_check(void)
{
    struct conf c;
    conf_defaults(&c);
    CHECK_EQ(conf_check(&c, err, sizeof(err)), 0);

    c.uri_bytes_max = c.header_bytes_max; /* equal is refused */
    CHECK_EQ(conf_check(&c, err, sizeof(err)), -1);
    CHECK(strstr(err, "uri_bytes_max") != NULL);
    c.uri_bytes_max = c.header_bytes_max - 1;
    CHECK_EQ(conf_check(&c, err, sizeof(err)), 0);
    c.uri_bytes_max = c.header_bytes_max + 1;
    CHECK_EQ(conf_check(&c, err, sizeof(err)), -1);

    conf_defaults(&c);
    /* burst 2000 + two pages of 100 = 2200 */
    c.ring_ms = 2200;
    CHECK_EQ(conf_check(&c, err, sizeof(err)), 0);
    c.ring_ms = 2199;
    CHECK_EQ(conf_check(&c, err, sizeof(err)), -1);
    CHECK(strstr(err, "ring_ms") != NULL);
    CHECK_EQ(conf_set(&c, "burst_ms", "60000", err, sizeof(err)), 0);
    CHECK_EQ(conf_set(&c, "ring_ms", "30000", err, sizeof(err)), 0);
    CHECK_EQ(conf_check(&c, err, sizeof(err)), -1);

    conf_defaults(&c);
    c.data_dir[0] = 0;
    CHECK_EQ(conf_check(&c, err, sizeof(err)), -1);

    /* The gate: a secret of 16..64 bytes or none; every ticket life within
     * one key epoch; polls before a queue ticket expires; rising ladder. */
    conf_defaults(&c);
    CHECK_EQ(conf_set(&c, "gate_secret", "0123456789abcde", err, sizeof(err)), 0);
    CHECK_EQ(conf_check(&c, err, sizeof(err)), -1);
    CHECK(strstr(err, "gate_secret") != NULL);
    CHECK_EQ(conf_set(&c, "gate_secret", "0123456789abcdef", err, sizeof(err)), 0);
    CHECK_EQ(conf_check(&c, err, sizeof(err)), 0);
    c.ticket_ttl_s = c.ticket_rotate_s + 1;
    CHECK_EQ(conf_check(&c, err, sizeof(err)), -1);
    CHECK(strstr(err, "ticket_rotate_s") != NULL);
    conf_defaults(&c);
    c.poll_max_s = c.queue_ticket_ttl_s;
    CHECK_EQ(conf_check(&c, err, sizeof(err)), -1);
    conf_defaults(&c);
    c.overload_l3_permille = c.overload_l2_permille;
    CHECK_EQ(conf_check(&c, err, sizeof(err)), -1);
    conf_defaults(&c);
    c.overload_hyst_permille = c.overload_l1_permille;
    CHECK_EQ(conf_check(&c, err, sizeof(err)), -1);
}

static bool path_ok(const char *path, const char *want)
{
    char out[MOUNT_NAME_BYTES_MAX + 1];
    memset(out, '?', sizeof(out));
    bool ok = mount_from_path(path, strlen(path), out);
    if (ok && want) CHECK_STR(out, want);
    return ok;
}

static void test_mount_names(void)
{
    CHECK(path_ok("/live/demo.opus", "demo"));
    CHECK(path_ok("/live/a.opus", "a"));
    CHECK(path_ok("/live/Radio-1_hd.v2.opus", "Radio-1_hd.v2"));
    CHECK(path_ok("/live/x.opus.opus", "x.opus"));

    char path[128], name[80];
    memset(name, 'n', 64);
    name[64] = 0;
    snprintf(path, sizeof(path), "/live/%s.opus", name);
    CHECK(path_ok(path, name));
    name[64] = 'n';
    name[65] = 0;
    snprintf(path, sizeof(path), "/live/%s.opus", name);
    CHECK(!path_ok(path, NULL)); /* 65 */

    CHECK(!path_ok("/live/.opus", NULL));
    CHECK(!path_ok("/live/.hidden.opus", NULL));
    CHECK(!path_ok("/live/..opus", NULL));
    CHECK(!path_ok("/live/a b.opus", NULL));
    CHECK(!path_ok("/live/a/b.opus", NULL));
    CHECK(!path_ok("/live/../x.opus", NULL));
    CHECK(!path_ok("/live/a%2f.opus", NULL));
    CHECK(!path_ok("/live/a?.opus", NULL));
    CHECK(!path_ok("/live/demo.ogg", NULL));
    CHECK(!path_ok("/live/demo.OPUS", NULL));
    CHECK(!path_ok("/live/demo", NULL));
    CHECK(!path_ok("/live/", NULL));
    CHECK(!path_ok("/live", NULL));
    CHECK(!path_ok("", NULL));
    CHECK(!path_ok("/Live/demo.opus", NULL));
    CHECK(!path_ok("/live2/demo.opus", NULL));
    CHECK(!path_ok("live/demo.opus", NULL));
    CHECK(!path_ok("/xlive/demo.opus", NULL));

    /* Only <len> bytes count: the path is not NUL-terminated in a request. */
    char out[MOUNT_NAME_BYTES_MAX + 1];
    CHECK(mount_from_path("/live/demo.opus HTTP/1.1", 15, out));
    CHECK_STR(out, "demo");
    CHECK(!mount_from_path("/live/demo.opus", 14, out));
    CHECK(!mount_from_path("/live/de\0o.opus", 15, out)); /* embedded NUL */

    CHECK(mount_name_valid("a", 1));
    CHECK(mount_name_valid("a.", 2));
    CHECK(!mount_name_valid("", 0));
    CHECK(!mount_name_valid(".a", 2));
    CHECK(!mount_name_valid("a\nb", 3));
    CHECK(!mount_name_valid("\xc3\xa9t\xc3\xa9", 6)); /* UTF-8 is not in the set */
    memset(name, 'z', 65);
    CHECK(mount_name_valid(name, 64));
    CHECK(!mount_name_valid(name, 65));
}

int main(void)
{
    T_RUN(test_defaults_round_trip);
    T_RUN(test_set_refuses);
    T_RUN(test_load);
    T_RUN(test_check);
    T_RUN(test_mount_names);
    T_DONE();
}
