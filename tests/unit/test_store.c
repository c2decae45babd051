/* test_store: the SQLite store on a temporary data folder: schema creation
 * and version checks, WAL, spaces (validation reasons, ids, host keys that
 * never reach the disk, paging newest first, forward-only states, peaks),
 * speaker tokens (verify, revoke, limits), recordings, and start-up
 * recovery of spaces left live by a crash. */
#include "store.h"
#include "t.h"

#include <dirent.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#define NOW 1767225600000LL /* 2026-01-01T00:00:00Z */
#define DAY 86400000LL

static char dir[64];
static char err[STORE_REASON_BYTES];

static void rm_dir(const char *d)
{
    DIR *dp = opendir(d);
    struct dirent *e;
    char p[512];

    if (!dp) return;
    while ((e = readdir(dp))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof(p), "%s/%s", d, e->d_name);
        unlink(p);
    }
    closedir(dp);
    rmdir(d);
}

static struct store *open_store(void)
{
    struct store *s = NULL;
    int rc = store_open(&s, dir, err, sizeof(err));
    if (rc != 0) fprintf(stderr, "store_open: %d %s\n", rc, err);
    CHECK_EQ(rc, 0);
    return s;
}

/* raw_sql: runs <sql> on the database with a connection of our own and
 * returns the first column of the first row as an integer (or -1). */
static long long raw_sql(const char *sql)
{
    char path[128];
    sqlite3 *db;
    sqlite3_stmt *q;
    long long v = -1;

    snprintf(path, sizeof(path), "%s/podium.db", dir);
    if (sqlite3_open(path, &db) != SQLITE_OK) return -1;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK) {
        if (sqlite3_step(q) == SQLITE_ROW) v = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
    }
    sqlite3_close(db);
    return v;
}

static bool url_safe(const char *s, size_t n)
{
    if (strlen(s) != n) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* file_has: does any file of the data folder hold <needle>? */
static bool file_has(const char *needle)
{
    const char *names[] = {"podium.db", "podium.db-wal"};
    bool found = false;

    for (size_t i = 0; i < 2; i++) {
        char p[128];
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        FILE *f = fopen(p, "rb");
        if (!f) continue;
        static char buf[1 << 22];
        size_t n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        if (memmem(buf, n, needle, strlen(needle))) found = true;
    }
    return found;
}

static void test_open(void)
{
    struct store *s = open_store();
    CHECK(s != NULL);
    CHECK_EQ(raw_sql("SELECT MAX(version) FROM schema_version"), 1);
    CHECK_EQ(raw_sql("SELECT COUNT(*) FROM schema_version"), 1);
    store_close(s);
    /* WAL stays set in the file; reopening migrates nothing. */
    s = open_store();
    CHECK_EQ(raw_sql("SELECT COUNT(*) FROM schema_version"), 1);
    CHECK_EQ(raw_sql("SELECT COUNT(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"), 1);
    store_close(s);
    store_close(NULL);

    /* A database from a newer build is refused, untouched. */
    raw_sql("UPDATE schema_version SET version = 99 RETURNING version");
    CHECK_EQ(raw_sql("SELECT version FROM schema_version"), 99);
    struct store *t = NULL;
    CHECK_EQ(store_open(&t, dir, err, sizeof(err)), -EPROTO);
    CHECK(t == NULL);
    CHECK_STR(err, "database schema version 99 is newer than this build's (1)");
    raw_sql("UPDATE schema_version SET version = 1 RETURNING version");

    /* A folder that cannot be created. */
    CHECK(store_open(&t, "/proc/podium-no-such/dir", err, sizeof(err)) < 0);
    CHECK(t == NULL);
}

static struct store_space_new valid_new(void)
{
    struct store_space_new in = {
        .title = "Morning show",
        .description = "Line one\nline two\twith a tab",
        .scheduled_start_ms = NOW + DAY,
        .access = "ticketed",
        .listeners_max = 50000,
        .admit_per_s = 2000,
    };
    return in;
}

static void test_space_create(void)
{
    struct store *s = open_store();
    struct store_space_new in = valid_new();
    struct store_space sp, got;
    char key[STORE_KEY_CHARS + 1], key2[STORE_KEY_CHARS + 1];

    CHECK_EQ(store_space_create(s, &in, NOW, &sp, key, err, sizeof(err)), 0);
    CHECK(url_safe(sp.id, STORE_ID_CHARS));
    CHECK(url_safe(key, STORE_KEY_CHARS));
    CHECK_STR(sp.title, "Morning show");
    CHECK_STR(sp.description, "Line one\nline two\twith a tab");
    CHECK_EQ(sp.scheduled_start_ms, NOW + DAY);
    CHECK_EQ(sp.access, STORE_ACCESS_TICKETED);
    CHECK_EQ(sp.state, STORE_SCHEDULED);
    CHECK_EQ(sp.created_ms, NOW);
    CHECK_EQ(sp.started_ms, 0);
    CHECK_EQ(sp.ended_ms, 0);
    CHECK_EQ(sp.peak_listeners, 0);
    CHECK_EQ(sp.listeners_max, 50000);
    CHECK_EQ(sp.admit_per_s, 2000);
    CHECK(!sp.rtp_enabled);
    CHECK_STR(sp.rtp_source_addr, "");

    CHECK_EQ(store_space_get(s, sp.id, &got), 0);
    CHECK(memcmp(&sp, &got, sizeof(sp)) == 0);
    CHECK_EQ(store_space_get(s, "nope", &got), -ENOENT);
    CHECK_EQ(store_space_get(s, "", &got), -ENOENT);

    /* The host key: right, wrong, other space's, truncated. */
    CHECK(store_host_key_verify(s, sp.id, key, strlen(key)));
    char bad[STORE_KEY_CHARS + 1];
    memcpy(bad, key, sizeof(bad));
    bad[10] = bad[10] == 'A' ? 'B' : 'A';
    CHECK(!store_host_key_verify(s, sp.id, bad, strlen(bad)));
    CHECK(!store_host_key_verify(s, sp.id, key, strlen(key) - 1));
    CHECK(!store_host_key_verify(s, "nope", key, strlen(key)));
    struct store_space sp2;
    in = (struct store_space_new){.title = "Second",
                                  .access = "open",
                                  .rtp_enabled = true,
                                  .rtp_source_addr = "2001:db8::7",
                                  .rtp_source_port = 5004};
    CHECK_EQ(store_space_create(s, &in, NOW, &sp2, key2, err, sizeof(err)), 0);
    CHECK(strcmp(sp.id, sp2.id) != 0 && strcmp(key, key2) != 0);
    CHECK(!store_host_key_verify(s, sp2.id, key, strlen(key)));
    CHECK(store_host_key_verify(s, sp2.id, key2, strlen(key2)));
    CHECK_EQ(sp2.access, STORE_ACCESS_OPEN);
    CHECK_EQ(sp2.scheduled_start_ms, NOW); /* 0 means now */
    CHECK(sp2.rtp_enabled);
    CHECK_STR(sp2.rtp_source_addr, "2001:db8::7");
    CHECK_EQ(sp2.rtp_source_port, 5004);

    /* Only hashes reach the disk. */
    store_close(s);
    CHECK(!file_has(key));
    CHECK(!file_has(key2));
    CHECK(file_has("Morning show"));
}

struct bad_new {
    struct store_space_new in;
    const char *reason;
};

static void test_space_validation(void)
{
    struct store *s = open_store();
    struct store_space sp;
    char key[STORE_KEY_CHARS + 1];
    static char long_title[STORE_TITLE_BYTES_MAX + 2], long_desc[STORE_DESCRIPTION_BYTES_MAX + 2];
    memset(long_title, 'x', STORE_TITLE_BYTES_MAX + 1);
    memset(long_desc, 'x', STORE_DESCRIPTION_BYTES_MAX + 1);

    const struct bad_new cases[] = {
        {{.title = NULL}, "title is required"},
        {{.title = ""}, "title is required"},
        {{.title = long_title}, "title is longer than 200 bytes"},
        {{.title = "a\nb"}, "title contains control characters"},
        {{.title = "a\x7f"}, "title contains control characters"},
        {{.title = "caf\xc3"}, "title is not valid UTF-8"},
        {{.title = "t", .description = long_desc}, "description is longer than 2000 bytes"},
        {{.title = "t", .description = "bell\a"}, "description contains control characters"},
        {{.title = "t", .description = "\xed\xa0\x80"}, "description is not valid UTF-8"},
        {{.title = "t", .access = "private"}, "access must be 'open' or 'ticketed'"},
        {{.title = "t", .access = "Open"}, "access must be 'open' or 'ticketed'"},
        {{.title = "t", .scheduled_start_ms = NOW - DAY - 1},
         "scheduled_start is more than a day in the past"},
        {{.title = "t", .scheduled_start_ms = -5},
         "scheduled_start is more than a day in the past"},
        {{.title = "t", .scheduled_start_ms = NOW + 367 * DAY},
         "scheduled_start is more than 366 days ahead"},
        {{.title = "t", .listeners_max = -1}, "listeners_max must be 0..10000000"},
        {{.title = "t", .listeners_max = 10000001}, "listeners_max must be 0..10000000"},
        {{.title = "t", .admit_per_s = 1000001}, "admit_per_s must be 0..1000000"},
        {{.title = "t", .rtp_enabled = true}, "rtp_source_addr is required when rtp is enabled"},
        {{.title = "t", .rtp_enabled = true, .rtp_source_addr = "example.org"},
         "rtp_source_addr is not an IP address"},
        {{.title = "t", .rtp_source_addr = "1.2.3.4 "}, "rtp_source_addr is not an IP address"},
        {{.title = "t",
          .rtp_enabled = true,
          .rtp_source_addr = "10.0.0.1",
          .rtp_source_port = 65536},
         "rtp_source_port must be 0..65535"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        int rc = store_space_create(s, &cases[i].in, NOW, &sp, key, err, sizeof(err));
        if (rc != -EINVAL || strcmp(err, cases[i].reason))
            fprintf(stderr, "case %zu: %s\n", i, err);
        CHECK_EQ(rc, -EINVAL);
        CHECK_STR(err, cases[i].reason);
    }
    /* The edges that pass. */
    long_title[STORE_TITLE_BYTES_MAX] = '\0';
    long_desc[STORE_DESCRIPTION_BYTES_MAX] = '\0';
    struct store_space_new ok = {.title = long_title,
                                 .description = long_desc,
                                 .scheduled_start_ms = NOW - DAY,
                                 .listeners_max = 10000000,
                                 .admit_per_s = 1000000};
    CHECK_EQ(store_space_create(s, &ok, NOW, &sp, key, err, sizeof(err)), 0);
    CHECK_EQ(strlen(sp.title), STORE_TITLE_BYTES_MAX);
    CHECK_EQ(strlen(sp.description), STORE_DESCRIPTION_BYTES_MAX);
    ok = (struct store_space_new){.title = "\xf0\x9f\x8e\x99 Podcast",
                                  .scheduled_start_ms = NOW + 366 * DAY};
    CHECK_EQ(store_space_create(s, &ok, NOW, &sp, key, err, sizeof(err)), 0);
    CHECK_STR(sp.title, "\xf0\x9f\x8e\x99 Podcast");
    store_close(s);
}

struct collect {
    char ids[64][STORE_ID_CHARS + 1];
    int64_t created[64];
    int n;
    int stop_after;
};

static int collect_fn(void *ctx, const struct store_space *sp)
{
    struct collect *c = ctx;
    if (c->n < 64) {
        memcpy(c->ids[c->n], sp->id, sizeof(sp->id));
        c->created[c->n] = sp->created_ms;
    }
    c->n++;
    return c->stop_after && c->n == c->stop_after ? 7 : 0;
}

static void test_space_list(void)
{
    rm_dir(dir);
    struct store *s = open_store();
    struct store_space sp;
    char key[STORE_KEY_CHARS + 1];
    struct store_space_new in = {.title = "t"};

    /* 25 spaces; created times repeat in pairs so ties need the id. */
    for (int i = 0; i < 25; i++)
        CHECK_EQ(store_space_create(s, &in, NOW + i / 2, &sp, key, err, sizeof(err)), 0);

    struct collect all = {0};
    struct store_page pg = {.limit = 100};
    CHECK_EQ(store_space_list(s, &pg, collect_fn, &all), 25);
    for (int i = 1; i < 25; i++) {
        bool newer_first =
            all.created[i - 1] > all.created[i] ||
            (all.created[i - 1] == all.created[i] && strcmp(all.ids[i - 1], all.ids[i]) > 0);
        CHECK(newer_first);
    }

    /* Pages of 10 walk the same sequence with no gap and no repeat. */
    struct collect page;
    int seen = 0, pages = 0;
    memset(&pg, 0, sizeof(pg));
    pg.limit = 10;
    for (;;) {
        memset(&page, 0, sizeof(page));
        int n = store_space_list(s, &pg, collect_fn, &page);
        CHECK(n >= 0 && n <= 10);
        if (n <= 0) break;
        for (int i = 0; i < n; i++)
            CHECK_STR(page.ids[i], all.ids[seen + i]);
        seen += n;
        pages++;
        pg.before_created_ms = page.created[n - 1];
        memcpy(pg.before_id, page.ids[n - 1], sizeof(pg.before_id));
    }
    CHECK_EQ(seen, 25);
    CHECK_EQ(pages, 3);

    /* Defaults and bounds of the limit. */
    memset(&pg, 0, sizeof(pg));
    memset(&page, 0, sizeof(page));
    CHECK_EQ(store_space_list(s, &pg, collect_fn, &page), STORE_LIST_LIMIT_DEFAULT);
    for (int i = 0; i < 90; i++)
        CHECK_EQ(store_space_create(s, &in, NOW + 100, &sp, key, err, sizeof(err)), 0);
    pg.limit = 1000;
    memset(&page, 0, sizeof(page));
    CHECK_EQ(store_space_list(s, &pg, collect_fn, &page), STORE_LIST_LIMIT_MAX);

    /* A callback's non-zero return stops the listing and is returned. */
    memset(&page, 0, sizeof(page));
    page.stop_after = 3;
    CHECK_EQ(store_space_list(s, &pg, collect_fn, &page), 7);
    CHECK_EQ(page.n, 3);

    /* By state. */
    CHECK_EQ(store_space_set_state(s, all.ids[3], STORE_LIVE, NOW + 500), 0);
    CHECK_EQ(store_space_set_state(s, all.ids[5], STORE_LIVE, NOW + 500), 0);
    pg = (struct store_page){.by_state = true, .state = STORE_LIVE};
    memset(&page, 0, sizeof(page));
    CHECK_EQ(store_space_list(s, &pg, collect_fn, &page), 2);
    CHECK_STR(page.ids[0], all.ids[3]);
    CHECK_STR(page.ids[1], all.ids[5]);
    store_close(s);
}

static void test_space_state(void)
{
    struct store *s = open_store();
    struct store_space sp, got;
    char key[STORE_KEY_CHARS + 1];
    struct store_space_new in = {.title = "t"};

    CHECK_EQ(store_space_create(s, &in, NOW, &sp, key, err, sizeof(err)), 0);
    CHECK_EQ(store_space_set_state(s, sp.id, STORE_LIVE, NOW + 10), 0);
    CHECK_EQ(store_space_get(s, sp.id, &got), 0);
    CHECK_EQ(got.state, STORE_LIVE);
    CHECK_EQ(got.started_ms, NOW + 10);
    CHECK_EQ(store_space_set_state(s, sp.id, STORE_LIVE, NOW + 20), -EALREADY);
    CHECK_EQ(store_space_end(s, sp.id, NOW + 30), 0);
    CHECK_EQ(store_space_get(s, sp.id, &got), 0);
    CHECK_EQ(got.state, STORE_ENDED);
    CHECK_EQ(got.started_ms, NOW + 10);
    CHECK_EQ(got.ended_ms, NOW + 30);
    CHECK_EQ(store_space_end(s, sp.id, NOW + 40), -EALREADY);
    CHECK_EQ(store_space_set_state(s, sp.id, STORE_LIVE, NOW + 40), -EALREADY);
    CHECK_EQ(store_space_get(s, sp.id, &got), 0);
    CHECK_EQ(got.ended_ms, NOW + 30);
    CHECK_EQ(store_space_end(s, "nope", NOW), -ENOENT);
    CHECK_EQ(store_space_set_state(s, "nope", STORE_LIVE, NOW), -ENOENT);

    /* A scheduled space may be called off without going live. */
    CHECK_EQ(store_space_create(s, &in, NOW, &sp, key, err, sizeof(err)), 0);
    CHECK_EQ(store_space_end(s, sp.id, NOW + 5), 0);
    CHECK_EQ(store_space_get(s, sp.id, &got), 0);
    CHECK(got.state == STORE_ENDED && got.started_ms == 0 && got.ended_ms == NOW + 5);

    /* The peak only rises. */
    CHECK_EQ(store_space_peak(s, sp.id, 100), 0);
    CHECK_EQ(store_space_peak(s, sp.id, 40), 0);
    CHECK_EQ(store_space_get(s, sp.id, &got), 0);
    CHECK_EQ(got.peak_listeners, 100);
    CHECK_EQ(store_space_peak(s, sp.id, 4000000000u), 0);
    CHECK_EQ(store_space_get(s, sp.id, &got), 0);
    CHECK_EQ(got.peak_listeners, 4000000000u);
    CHECK_EQ(store_space_peak(s, "nope", 1), -ENOENT);
    CHECK_STR(store_state_name(STORE_SCHEDULED), "scheduled");
    CHECK_STR(store_state_name(STORE_LIVE), "live");
    CHECK_STR(store_state_name(STORE_ENDED), "ended");
    CHECK_STR(store_access_name(STORE_ACCESS_OPEN), "open");
    store_close(s);
}

static int count_fn(void *ctx, const struct store_speaker *sp)
{
    int *n = ctx;
    (*n)++;
    return 0;
}

static void test_speakers(void)
{
    struct store *s = open_store();
    struct store_space sp, other;
    struct store_speaker spk, got;
    char key[STORE_KEY_CHARS + 1], tok[STORE_KEY_CHARS + 1], tok2[STORE_KEY_CHARS + 1];
    struct store_space_new in = {.title = "t"};

    CHECK_EQ(store_space_create(s, &in, NOW, &sp, key, err, sizeof(err)), 0);
    CHECK_EQ(store_space_create(s, &in, NOW, &other, key, err, sizeof(err)), 0);
    CHECK_EQ(store_speaker_create(s, sp.id, "Ada", NOW + 1, &spk, tok, err, sizeof(err)), 0);
    CHECK(url_safe(spk.id, STORE_ID_CHARS));
    CHECK(url_safe(tok, STORE_KEY_CHARS));
    CHECK_STR(spk.space_id, sp.id);
    CHECK_STR(spk.name, "Ada");
    CHECK_EQ(spk.created_ms, NOW + 1);
    CHECK_EQ(spk.revoked_ms, 0);

    memset(&got, 0, sizeof(got));
    CHECK(store_speaker_verify(s, sp.id, tok, strlen(tok), &got));
    CHECK_STR(got.id, spk.id);
    CHECK(store_speaker_verify(s, sp.id, tok, strlen(tok), NULL));
    CHECK(!store_speaker_verify(s, other.id, tok, strlen(tok), NULL));
    CHECK(!store_speaker_verify(s, sp.id, key, strlen(key), NULL));
    CHECK(!store_speaker_verify(s, sp.id, tok, 10, NULL));
    CHECK(!store_speaker_verify(s, sp.id, "", 0, NULL));

    CHECK_EQ(store_speaker_create(s, sp.id, "Grace", NOW + 2, &got, tok2, err, sizeof(err)), 0);
    CHECK_EQ(store_speaker_revoke(s, sp.id, spk.id, NOW + 3), 0);
    CHECK(!store_speaker_verify(s, sp.id, tok, strlen(tok), NULL));
    CHECK(store_speaker_verify(s, sp.id, tok2, strlen(tok2), NULL));
    CHECK_EQ(store_speaker_revoke(s, sp.id, spk.id, NOW + 4), -EALREADY);
    CHECK_EQ(store_speaker_revoke(s, other.id, spk.id, NOW + 4), -ENOENT);
    CHECK_EQ(store_speaker_revoke(s, sp.id, "nope", NOW + 4), -ENOENT);
    int n = 0;
    CHECK_EQ(store_speaker_list(s, sp.id, count_fn, &n), 2);
    CHECK_EQ(n, 2);
    n = 0;
    CHECK_EQ(store_speaker_list(s, other.id, count_fn, &n), 0);

    /* Refusals. */
    CHECK_EQ(store_speaker_create(s, "nope", "x", NOW, &got, tok, err, sizeof(err)), -ENOENT);
    CHECK_EQ(store_speaker_create(s, sp.id, "", NOW, &got, tok, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, "name is required");
    CHECK_EQ(store_speaker_create(s, sp.id, "a\tb", NOW, &got, tok, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, "name contains control characters");
    char long_name[STORE_NAME_BYTES_MAX + 2];
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    CHECK_EQ(store_speaker_create(s, sp.id, long_name, NOW, &got, tok, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, "name is longer than 64 bytes");
    for (int i = 2; i < STORE_SPEAKERS_MAX; i++)
        CHECK_EQ(store_speaker_create(s, sp.id, "x", NOW, &got, tok, err, sizeof(err)), 0);
    CHECK_EQ(store_speaker_create(s, sp.id, "x", NOW, &got, tok, err, sizeof(err)), -ENOSPC);
    CHECK_STR(err, "a space has at most 100 speaker tokens");
    CHECK_EQ(store_space_end(s, other.id, NOW), 0);
    CHECK_EQ(store_speaker_create(s, other.id, "x", NOW, &got, tok, err, sizeof(err)), -EINVAL);
    CHECK_STR(err, "the space has ended");
    store_close(s);
    CHECK(!file_has(tok2));
}

static void test_recordings(void)
{
    struct store *s = open_store();
    struct store_space sp;
    struct store_recording r = {0}, got;
    char key[STORE_KEY_CHARS + 1];
    struct store_space_new in = {.title = "t"};

    CHECK_EQ(store_space_create(s, &in, NOW, &sp, key, err, sizeof(err)), 0);
    CHECK_EQ(store_recording_get(s, sp.id, &got), -ENOENT);
    memcpy(r.space_id, sp.id, sizeof(r.space_id));
    snprintf(r.path, sizeof(r.path), "recordings/%s.opus", sp.id);
    r.bytes = 12345;
    r.duration_ms = 60000;
    r.updated_ms = NOW + 60000;
    CHECK_EQ(store_recording_upsert(s, &r, err, sizeof(err)), 0);
    CHECK_EQ(store_recording_get(s, sp.id, &got), 0);
    CHECK(memcmp(&r, &got, sizeof(r)) == 0);
    r.bytes = 99999;
    r.complete = true;
    CHECK_EQ(store_recording_upsert(s, &r, err, sizeof(err)), 0);
    CHECK_EQ(store_recording_get(s, sp.id, &got), 0);
    CHECK(got.bytes == 99999 && got.complete);

    static const struct {
        const char *path, *reason;
    } bad[] = {
        {"", "recording path must be 1..255 bytes"},
        {"/etc/passwd", "recording path must be relative"},
        {"..", "recording path must not contain '..'"},
        {"../x.opus", "recording path must not contain '..'"},
        {"recordings/../../x", "recording path must not contain '..'"},
        {"recordings/..", "recording path must not contain '..'"},
        {"a\nb", "recording path contains control characters"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(r.path, sizeof(r.path), "%s", bad[i].path);
        CHECK_EQ(store_recording_upsert(s, &r, err, sizeof(err)), -EINVAL);
        CHECK_STR(err, bad[i].reason);
    }
    snprintf(r.path, sizeof(r.path), "recordings/..x/a..b.opus");
    CHECK_EQ(store_recording_upsert(s, &r, err, sizeof(err)), 0);
    snprintf(r.space_id, sizeof(r.space_id), "nope");
    CHECK_EQ(store_recording_upsert(s, &r, err, sizeof(err)), -ENOENT);
    store_close(s);
}

static void test_recover(void)
{
    rm_dir(dir);
    struct store *s = open_store();
    struct store_space a, b, c, d, got;
    char key[STORE_KEY_CHARS + 1];
    struct store_space_new in = {.title = "t"};

    CHECK_EQ(store_space_create(s, &in, NOW, &a, key, err, sizeof(err)), 0);
    CHECK_EQ(store_space_create(s, &in, NOW, &b, key, err, sizeof(err)), 0);
    CHECK_EQ(store_space_create(s, &in, NOW, &c, key, err, sizeof(err)), 0);
    CHECK_EQ(store_space_create(s, &in, NOW, &d, key, err, sizeof(err)), 0);
    CHECK_EQ(store_space_set_state(s, a.id, STORE_LIVE, NOW + 1000), 0);
    CHECK_EQ(store_space_set_state(s, b.id, STORE_LIVE, NOW + 1000), 0);
    CHECK_EQ(store_space_set_state(s, d.id, STORE_LIVE, NOW + 1000), 0);
    CHECK_EQ(store_space_end(s, d.id, NOW + 2000), 0);
    struct store_recording r = {.bytes = 1, .duration_ms = 5000, .updated_ms = NOW + 6000};
    memcpy(r.space_id, a.id, sizeof(r.space_id));
    snprintf(r.path, sizeof(r.path), "recordings/%s.opus", a.id);
    CHECK_EQ(store_recording_upsert(s, &r, err, sizeof(err)), 0);
    store_close(s);

    /* "Restart": a is live with a recording, b live without, c scheduled,
     * d ended. */
    s = open_store();
    CHECK_EQ(store_recover(s, NOW + 99000), 2);
    CHECK_EQ(store_space_get(s, a.id, &got), 0);
    CHECK(got.state == STORE_ENDED && got.ended_ms == NOW + 6000);
    CHECK_EQ(store_space_get(s, b.id, &got), 0);
    CHECK(got.state == STORE_ENDED && got.ended_ms == NOW + 99000);
    CHECK_EQ(store_space_get(s, c.id, &got), 0);
    CHECK(got.state == STORE_SCHEDULED && got.ended_ms == 0);
    CHECK_EQ(store_space_get(s, d.id, &got), 0);
    CHECK(got.state == STORE_ENDED && got.ended_ms == NOW + 2000);
    CHECK_EQ(store_recover(s, NOW + 100000), 0);
    store_close(s);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/podium-store-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    T_RUN(test_open);
    T_RUN(test_space_create);
    T_RUN(test_space_validation);
    T_RUN(test_space_list);
    T_RUN(test_space_state);
    T_RUN(test_speakers);
    T_RUN(test_recordings);
    T_RUN(test_recover);
    rm_dir(dir);
    T_DONE();
}
