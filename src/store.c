/* store: SQLite persistence of spaces, speaker tokens and recordings. */
#include "store.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "b64.h"
#include "json.h"
#include "log.h"

#define HASH_BYTES 32 /* SHA-256 */

/* Migrations: migrations[i] takes the schema from version i to i + 1.
 * Append only; never edit a step that has shipped. */
static const char *const migrations[] = {
    /* 0 -> 1: the first schema. */
    "CREATE TABLE spaces ("
    " id TEXT PRIMARY KEY,"
    " title TEXT NOT NULL,"
    " description TEXT NOT NULL,"
    " scheduled_start_ms INTEGER NOT NULL,"
    " access TEXT NOT NULL CHECK (access IN ('open', 'ticketed')),"
    " host_key_hash BLOB NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('scheduled', 'live', 'ended')),"
    " created_ms INTEGER NOT NULL,"
    " started_ms INTEGER NOT NULL DEFAULT 0,"
    " ended_ms INTEGER NOT NULL DEFAULT 0,"
    " peak_listeners INTEGER NOT NULL DEFAULT 0,"
    " listeners_max INTEGER NOT NULL,"
    " admit_per_s INTEGER NOT NULL,"
    " rtp_enabled INTEGER NOT NULL,"
    " rtp_source_addr TEXT NOT NULL,"
    " rtp_source_port INTEGER NOT NULL);"
    "CREATE INDEX spaces_newest ON spaces (created_ms DESC, id DESC);"
    "CREATE INDEX spaces_state ON spaces (state);"
    "CREATE TABLE speakers ("
    " id TEXT PRIMARY KEY,"
    " space_id TEXT NOT NULL REFERENCES spaces (id),"
    " token_hash BLOB NOT NULL UNIQUE,"
    " name TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " revoked_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX speakers_space ON speakers (space_id, created_ms);"
    "CREATE TABLE recordings ("
    " space_id TEXT PRIMARY KEY REFERENCES spaces (id),"
    " path TEXT NOT NULL,"
    " bytes INTEGER NOT NULL,"
    " duration_ms INTEGER NOT NULL,"
    " complete INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL);",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

#define SPACE_COLUMNS                                                                              \
    "id, title, description, scheduled_start_ms, access, state, created_ms, started_ms,"           \
    " ended_ms, peak_listeners, listeners_max, admit_per_s, rtp_enabled, rtp_source_addr,"         \
    " rtp_source_port"
#define SPEAKER_COLUMNS "id, space_id, name, created_ms, revoked_ms"

enum stmt {
    ST_SPACE_INSERT,
    ST_SPACE_GET,
    ST_SPACE_LIST,
    ST_SPACE_STATE,
    ST_SPACE_EXISTS,
    ST_SPACE_PEAK,
    ST_HOST_HASH,
    ST_SPEAKER_COUNT,
    ST_SPEAKER_INSERT,
    ST_SPEAKER_BY_HASH,
    ST_SPEAKER_REVOKE,
    ST_SPEAKER_GET,
    ST_SPEAKER_LIST,
    ST_RECORDING_UPSERT,
    ST_RECORDING_GET,
    ST_RECOVER,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_SPACE_INSERT] = "INSERT INTO spaces (id, title, description, scheduled_start_ms, access,"
                        " host_key_hash, state, created_ms, listeners_max, admit_per_s,"
                        " rtp_enabled, rtp_source_addr, rtp_source_port)"
                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'scheduled', ?7, ?8, ?9, ?10, ?11, ?12)",
    [ST_SPACE_GET] = "SELECT " SPACE_COLUMNS " FROM spaces WHERE id = ?1",
    [ST_SPACE_LIST] = "SELECT " SPACE_COLUMNS " FROM spaces"
                      " WHERE (?2 = '' OR created_ms < ?1 OR (created_ms = ?1 AND id < ?2))"
                      " AND (?3 IS NULL OR state = ?3)"
                      " ORDER BY created_ms DESC, id DESC LIMIT ?4",
    /* Forward only: the WHERE clause is the transition table. */
    [ST_SPACE_STATE] = "UPDATE spaces SET state = ?2,"
                       " started_ms = CASE WHEN ?2 = 'live' THEN ?3 ELSE started_ms END,"
                       " ended_ms = CASE WHEN ?2 = 'ended' THEN ?3 ELSE ended_ms END"
                       " WHERE id = ?1 AND ((?2 = 'live' AND state = 'scheduled')"
                       " OR (?2 = 'ended' AND state IN ('scheduled', 'live')))",
    [ST_SPACE_EXISTS] = "SELECT state FROM spaces WHERE id = ?1",
    [ST_SPACE_PEAK] = "UPDATE spaces SET peak_listeners = MAX(peak_listeners, ?2) WHERE id = ?1",
    [ST_HOST_HASH] = "SELECT host_key_hash FROM spaces WHERE id = ?1",
    [ST_SPEAKER_COUNT] = "SELECT COUNT(*) FROM speakers WHERE space_id = ?1",
    [ST_SPEAKER_INSERT] = "INSERT INTO speakers (id, space_id, token_hash, name, created_ms)"
                          " VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_SPEAKER_BY_HASH] = "SELECT " SPEAKER_COLUMNS " FROM speakers WHERE token_hash = ?1",
    [ST_SPEAKER_REVOKE] = "UPDATE speakers SET revoked_ms = ?3"
                          " WHERE space_id = ?1 AND id = ?2 AND revoked_ms = 0",
    [ST_SPEAKER_GET] = "SELECT " SPEAKER_COLUMNS " FROM speakers WHERE space_id = ?1 AND id = ?2",
    [ST_SPEAKER_LIST] = "SELECT " SPEAKER_COLUMNS " FROM speakers WHERE space_id = ?1"
                        " ORDER BY created_ms, id",
    [ST_RECORDING_UPSERT] = "INSERT INTO recordings (space_id, path, bytes, duration_ms, complete,"
                            " updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                            " ON CONFLICT (space_id) DO UPDATE SET path = excluded.path,"
                            " bytes = excluded.bytes, duration_ms = excluded.duration_ms,"
                            " complete = excluded.complete, updated_ms = excluded.updated_ms",
    [ST_RECORDING_GET] = "SELECT space_id, path, bytes, duration_ms, complete, updated_ms"
                         " FROM recordings WHERE space_id = ?1",
    [ST_RECOVER] = "UPDATE spaces SET state = 'ended', ended_ms = MAX(started_ms, COALESCE("
                   "(SELECT updated_ms FROM recordings r WHERE r.space_id = spaces.id), ?1))"
                   " WHERE state = 'live'",
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
};

__attribute__((format(printf, 3, 4))) static int reason(char *err, size_t err_len, const char *fmt,
                                                        ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (err_len) vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* db_fail: logs SQLite's own message for the operator; callers get -EIO. */
static int db_fail(struct store *s, const char *what)
{
    log_error("store: %s: %s", what, sqlite3_errmsg(s->db));
    return -EIO;
}

/* stmt: the prepared statement <id>, reset and unbound, ready to bind. */
static sqlite3_stmt *stmt(struct store *s, enum stmt id)
{
    sqlite3_stmt *q = s->st[id];

    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return q;
}

static void copy_text(char *dst, size_t cap, sqlite3_stmt *q, int col)
{
    const unsigned char *t = sqlite3_column_text(q, col);

    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

/* run: steps a bound statement that returns no rows and resets it.
 * Returns the rows it changed, -EEXIST for a constraint it violated (the
 * caller knows which one that can be), or -EIO. */
static int run(struct store *s, sqlite3_stmt *q, const char *what)
{
    int rc = sqlite3_step(q);

    sqlite3_reset(q);
    if (rc == SQLITE_DONE) return sqlite3_changes(s->db);
    return rc == SQLITE_CONSTRAINT ? -EEXIST : db_fail(s, what);
}

/* get_one: steps a bound statement that returns at most one row, hands
 * the row to fill(q, out), resets. Returns 0, -ENOENT or -EIO. */
static int get_one(struct store *s, sqlite3_stmt *q, void (*fill)(sqlite3_stmt *, void *),
                   void *out, const char *what)
{
    int rc = sqlite3_step(q);

    if (rc == SQLITE_ROW) fill(q, out);
    sqlite3_reset(q);
    if (rc == SQLITE_ROW) return 0;
    return rc == SQLITE_DONE ? -ENOENT : db_fail(s, what);
}

/* Random ids and secrets ------------------------------------------------ */

static int random_b64url(char *out, size_t bytes)
{
    uint8_t raw[32];

    assert(bytes <= sizeof(raw));
    if (RAND_bytes(raw, (int)bytes) != 1) {
        log_error("store: RAND_bytes failed");
        return -EIO;
    }
    b64_encode(B64_URL, raw, bytes, out, b64_len(B64_URL, bytes) + 1);
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}

static int sha256(const void *p, size_t n, uint8_t out[HASH_BYTES])
{
    unsigned len = 0;

    if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 || len != HASH_BYTES) return -EIO;
    return 0;
}

/* new_secret: a fresh key (base64url of 32 random bytes) and its hash. */
static int new_secret(char key[STORE_KEY_CHARS + 1], uint8_t hash[HASH_BYTES])
{
    int rc = random_b64url(key, 32);

    if (rc == 0) rc = sha256(key, STORE_KEY_CHARS, hash);
    return rc;
}

/* Opening and migrating ------------------------------------------------- */

static int exec(struct store *s, const char *sql, const char *what)
{
    char *msg = NULL;

    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
    log_error("store: %s: %s", what, msg ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    return -EIO;
}

/* schema_version: the version recorded in the database (0 when the
 * version table is new or empty), or -EIO. */
static int schema_version(struct store *s)
{
    sqlite3_stmt *q;
    int v = 0;

    if (exec(s, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
             "schema_version") < 0)
        return -EIO;
    if (sqlite3_prepare_v2(s->db, "SELECT MAX(version) FROM schema_version", -1, &q, NULL) !=
        SQLITE_OK)
        return db_fail(s, "schema_version");
    if (sqlite3_step(q) == SQLITE_ROW) v = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return v;
}

/* migrate: runs the missing steps, each in its own transaction with the
 * version bump, so a crash mid-way leaves a consistent older version. */
static int migrate(struct store *s, char *err, size_t err_len)
{
    int v = schema_version(s);
    char sql[96];

    if (v < 0) {
        reason(err, err_len, "cannot read the schema version");
        return -EIO;
    }
    if (v > SCHEMA_VERSION) {
        reason(err, err_len, "database schema version %d is newer than this build's (%d)", v,
               SCHEMA_VERSION);
        return -EPROTO;
    }
    for (; v < SCHEMA_VERSION; v++) {
        snprintf(sql, sizeof(sql),
                 "DELETE FROM schema_version; INSERT INTO schema_version "
                 "VALUES (%d);",
                 v + 1);
        if (exec(s, "BEGIN IMMEDIATE", "migrate") < 0) goto fail;
        if (exec(s, migrations[v], "migrate") < 0 || exec(s, sql, "migrate") < 0 ||
            exec(s, "COMMIT", "migrate") < 0) {
            exec(s, "ROLLBACK", "migrate");
            goto fail;
        }
        log_info("store: schema migrated to version %d", v + 1);
    }
    return 0;
fail:
    reason(err, err_len, "migrating the schema to version %d failed", v + 1);
    return -EIO;
}

int store_open(struct store **out, const char *data_dir, char *err, size_t err_len)
{
    char path[PATH_MAX];
    struct store *s;
    int rc;

    *out = NULL;
    if (snprintf(path, sizeof(path), "%s/podium.db", data_dir) >= (int)sizeof(path)) {
        reason(err, err_len, "data folder path too long");
        return -ENAMETOOLONG;
    }
    if (mkdir(data_dir, 0700) < 0 && errno != EEXIST) {
        rc = -errno;
        reason(err, err_len, "%s: %s", data_dir, strerror(errno));
        return rc;
    }
    s = calloc(1, sizeof(*s));
    if (!s) return -ENOMEM;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        reason(err, err_len, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        rc = -EIO;
        goto out_close;
    }
    sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
    /* WAL: readers never wait for the writer; NORMAL sync is durable
     * against a process crash, which is what start-up recovery assumes. */
    if (exec(s,
             "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
             " PRAGMA foreign_keys = ON;",
             "pragmas") < 0) {
        reason(err, err_len, "%s: %s", path, sqlite3_errmsg(s->db));
        rc = -EIO;
        goto out_close;
    }
    if ((rc = migrate(s, err, err_len)) < 0) goto out_close;
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                               NULL) != SQLITE_OK) {
            reason(err, err_len, "preparing statement %d: %s", i, sqlite3_errmsg(s->db));
            rc = -EIO;
            goto out_close;
        }
    }
    *out = s;
    return 0;
out_close:
    store_close(s);
    return rc;
}

void store_close(struct store *s)
{
    if (!s) return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    free(s);
}

const char *store_access_name(enum store_access a)
{
    return a == STORE_ACCESS_TICKETED ? "ticketed" : "open";
}

const char *store_state_name(enum store_state st)
{
    return st == STORE_LIVE ? "live" : st == STORE_ENDED ? "ended" : "scheduled";
}

static enum store_state state_from(const char *t)
{
    if (t && !strcmp(t, "live")) return STORE_LIVE;
    if (t && !strcmp(t, "ended")) return STORE_ENDED;
    return STORE_SCHEDULED;
}

/* Validation ------------------------------------------------------------ */

/* check_text: <s> is UTF-8 of at most <max> bytes, without control
 * characters (newline and tab allowed when <multiline>). */
static int check_text(const char *field, const char *s, size_t max, bool multiline, char *err,
                      size_t err_len)
{
    size_t n = strlen(s);
    struct json_utf8 u = {0};

    if (n > max) return reason(err, err_len, "%s is longer than %zu bytes", field, max);
    if (!json_utf8_feed(&u, (const uint8_t *)s, n) || !json_utf8_complete(&u))
        return reason(err, err_len, "%s is not valid UTF-8", field);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 && !(multiline && (ch == '\n' || ch == '\t'))) || ch == 0x7f)
            return reason(err, err_len, "%s contains control characters", field);
    }
    return 0;
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

static int check_space_new(const struct store_space_new *in, int64_t now_ms,
                           enum store_access *access, char *err, size_t err_len)
{
    const char *title = or_empty(in->title), *acc = or_empty(in->access);
    const char *addr = or_empty(in->rtp_source_addr);
    int64_t start = in->scheduled_start_ms ? in->scheduled_start_ms : now_ms;
    uint8_t ip[16];

    if (!title[0]) return reason(err, err_len, "title is required");
    if (check_text("title", title, STORE_TITLE_BYTES_MAX, false, err, err_len) < 0) return -EINVAL;
    if (check_text("description", or_empty(in->description), STORE_DESCRIPTION_BYTES_MAX, true, err,
                   err_len) < 0)
        return -EINVAL;
    if (!acc[0] || !strcmp(acc, "open"))
        *access = STORE_ACCESS_OPEN;
    else if (!strcmp(acc, "ticketed"))
        *access = STORE_ACCESS_TICKETED;
    else
        return reason(err, err_len, "access must be 'open' or 'ticketed'");
    if (start < now_ms - STORE_START_PAST_MS_MAX)
        return reason(err, err_len, "scheduled_start is more than a day in the past");
    if (start > now_ms + STORE_START_AHEAD_MS_MAX)
        return reason(err, err_len, "scheduled_start is more than 366 days ahead");
    if (in->listeners_max < 0 || in->listeners_max > STORE_LISTENERS_MAX)
        return reason(err, err_len, "listeners_max must be 0..%d", STORE_LISTENERS_MAX);
    if (in->admit_per_s < 0 || in->admit_per_s > STORE_ADMIT_PER_S_MAX)
        return reason(err, err_len, "admit_per_s must be 0..%d", STORE_ADMIT_PER_S_MAX);
    if (in->rtp_enabled && !addr[0])
        return reason(err, err_len, "rtp_source_addr is required when rtp is enabled");
    if (addr[0] && (strlen(addr) > STORE_ADDR_BYTES_MAX ||
                    (inet_pton(AF_INET, addr, ip) != 1 && inet_pton(AF_INET6, addr, ip) != 1)))
        return reason(err, err_len, "rtp_source_addr is not an IP address");
    if (in->rtp_source_port < 0 || in->rtp_source_port > 65535)
        return reason(err, err_len, "rtp_source_port must be 0..65535");
    return 0;
}

/* Spaces ---------------------------------------------------------------- */

static void row_to_space(sqlite3_stmt *q, void *out)
{
    struct store_space *sp = out;

    memset(sp, 0, sizeof(*sp));
    copy_text(sp->id, sizeof(sp->id), q, 0);
    copy_text(sp->title, sizeof(sp->title), q, 1);
    copy_text(sp->description, sizeof(sp->description), q, 2);
    sp->scheduled_start_ms = sqlite3_column_int64(q, 3);
    const char *acc = (const char *)sqlite3_column_text(q, 4);
    sp->access = acc && !strcmp(acc, "ticketed") ? STORE_ACCESS_TICKETED : STORE_ACCESS_OPEN;
    sp->state = state_from((const char *)sqlite3_column_text(q, 5));
    sp->created_ms = sqlite3_column_int64(q, 6);
    sp->started_ms = sqlite3_column_int64(q, 7);
    sp->ended_ms = sqlite3_column_int64(q, 8);
    sp->peak_listeners = (uint32_t)sqlite3_column_int64(q, 9);
    sp->listeners_max = (uint32_t)sqlite3_column_int64(q, 10);
    sp->admit_per_s = (uint32_t)sqlite3_column_int64(q, 11);
    sp->rtp_enabled = sqlite3_column_int(q, 12) != 0;
    copy_text(sp->rtp_source_addr, sizeof(sp->rtp_source_addr), q, 13);
    sp->rtp_source_port = (uint16_t)sqlite3_column_int(q, 14);
}

int store_space_create(struct store *s, const struct store_space_new *in, int64_t now_ms,
                       struct store_space *out, char host_key[STORE_KEY_CHARS + 1], char *err,
                       size_t err_len)
{
    enum store_access access = STORE_ACCESS_OPEN;
    uint8_t hash[HASH_BYTES];
    char id[STORE_ID_CHARS + 1];
    int rc;

    if ((rc = check_space_new(in, now_ms, &access, err, err_len)) < 0) return rc;
    /* 72 random bits make a clash of ids unlikely, not impossible: retry. */
    for (int attempt = 0; attempt < 3; attempt++) {
        if ((rc = new_secret(host_key, hash)) < 0 || (rc = random_b64url(id, 9)) < 0) return rc;
        sqlite3_stmt *q = stmt(s, ST_SPACE_INSERT);
        sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, in->title, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, or_empty(in->description), -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 4, in->scheduled_start_ms ? in->scheduled_start_ms : now_ms);
        sqlite3_bind_text(q, 5, store_access_name(access), -1, SQLITE_STATIC);
        sqlite3_bind_blob(q, 6, hash, HASH_BYTES, SQLITE_STATIC);
        sqlite3_bind_int64(q, 7, now_ms);
        sqlite3_bind_int64(q, 8, in->listeners_max);
        sqlite3_bind_int64(q, 9, in->admit_per_s);
        sqlite3_bind_int(q, 10, in->rtp_enabled);
        sqlite3_bind_text(q, 11, or_empty(in->rtp_source_addr), -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 12, in->rtp_source_port);
        if ((rc = run(s, q, "space insert")) != -EEXIST) break;
    }
    if (rc == -EEXIST) rc = db_fail(s, "space insert: ids keep clashing");
    return rc < 0 ? rc : store_space_get(s, id, out);
}

int store_space_get(struct store *s, const char *id, struct store_space *out)
{
    sqlite3_stmt *q = stmt(s, ST_SPACE_GET);

    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    return get_one(s, q, row_to_space, out, "space get");
}

int store_space_list(struct store *s, const struct store_page *pg, store_space_fn fn, void *ctx)
{
    sqlite3_stmt *q = stmt(s, ST_SPACE_LIST);
    uint32_t limit = pg->limit ? pg->limit : STORE_LIST_LIMIT_DEFAULT;
    struct store_space sp;
    int rc, count = 0;

    if (limit > STORE_LIST_LIMIT_MAX) limit = STORE_LIST_LIMIT_MAX;
    sqlite3_bind_int64(q, 1, pg->before_created_ms);
    sqlite3_bind_text(q, 2, pg->before_id, -1, SQLITE_STATIC);
    if (pg->by_state) sqlite3_bind_text(q, 3, store_state_name(pg->state), -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 4, (int)limit);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        row_to_space(q, &sp);
        count++;
        int stop = fn(ctx, &sp);
        if (stop) {
            sqlite3_reset(q);
            return stop;
        }
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? count : db_fail(s, "space list");
}

static void row_to_state(sqlite3_stmt *q, void *out)
{
    *(enum store_state *)out = state_from((const char *)sqlite3_column_text(q, 0));
}

/* space_state: the state of space <id>, -ENOENT or -EIO. */
static int space_state(struct store *s, const char *id)
{
    sqlite3_stmt *q = stmt(s, ST_SPACE_EXISTS);
    enum store_state st;

    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    int rc = get_one(s, q, row_to_state, &st, "space state");
    return rc < 0 ? rc : (int)st;
}

int store_space_set_state(struct store *s, const char *id, enum store_state st, int64_t now_ms)
{
    sqlite3_stmt *q = stmt(s, ST_SPACE_STATE);
    int rc;

    assert(st == STORE_LIVE || st == STORE_ENDED);
    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, store_state_name(st), -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, now_ms);
    if ((rc = run(s, q, "space state")) != 0) return rc < 0 ? rc : 0;
    rc = space_state(s, id);
    return rc < 0 ? rc : -EALREADY;
}

int store_space_end(struct store *s, const char *id, int64_t now_ms)
{
    return store_space_set_state(s, id, STORE_ENDED, now_ms);
}

int store_space_peak(struct store *s, const char *id, uint32_t listeners)
{
    sqlite3_stmt *q = stmt(s, ST_SPACE_PEAK);

    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, listeners);
    int rc = run(s, q, "space peak");
    return rc < 0 ? rc : rc == 1 ? 0 : -ENOENT;
}

bool store_host_key_verify(struct store *s, const char *id, const char *key, size_t key_len)
{
    uint8_t want[HASH_BYTES], got[HASH_BYTES];
    sqlite3_stmt *q = stmt(s, ST_HOST_HASH);
    bool found = false;

    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_bytes(q, 0) == HASH_BYTES) {
        memcpy(want, sqlite3_column_blob(q, 0), HASH_BYTES);
        found = true;
    }
    sqlite3_reset(q);
    if (!found || key_len != STORE_KEY_CHARS || sha256(key, key_len, got) < 0) return false;
    return CRYPTO_memcmp(want, got, HASH_BYTES) == 0;
}

/* Speakers -------------------------------------------------------------- */

static void row_to_speaker(sqlite3_stmt *q, void *out)
{
    struct store_speaker *sp = out;

    memset(sp, 0, sizeof(*sp));
    copy_text(sp->id, sizeof(sp->id), q, 0);
    copy_text(sp->space_id, sizeof(sp->space_id), q, 1);
    copy_text(sp->name, sizeof(sp->name), q, 2);
    sp->created_ms = sqlite3_column_int64(q, 3);
    sp->revoked_ms = sqlite3_column_int64(q, 4);
}

static int speaker_get(struct store *s, const char *space_id, const char *id,
                       struct store_speaker *out)
{
    sqlite3_stmt *q = stmt(s, ST_SPEAKER_GET);

    sqlite3_bind_text(q, 1, space_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, id, -1, SQLITE_STATIC);
    return get_one(s, q, row_to_speaker, out, "speaker get");
}

int store_speaker_create(struct store *s, const char *space_id, const char *name, int64_t now_ms,
                         struct store_speaker *out, char token[STORE_KEY_CHARS + 1], char *err,
                         size_t err_len)
{
    uint8_t hash[HASH_BYTES];
    char id[STORE_ID_CHARS + 1];
    sqlite3_stmt *q;
    int rc;

    name = or_empty(name);
    if (!name[0]) return reason(err, err_len, "name is required");
    if (check_text("name", name, STORE_NAME_BYTES_MAX, false, err, err_len) < 0) return -EINVAL;
    if ((rc = space_state(s, space_id)) < 0) return rc;
    if (rc == STORE_ENDED) return reason(err, err_len, "the space has ended");
    q = stmt(s, ST_SPEAKER_COUNT);
    sqlite3_bind_text(q, 1, space_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    int64_t count = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_reset(q);
    if (count < 0) return db_fail(s, "speaker count");
    if (count >= STORE_SPEAKERS_MAX) {
        reason(err, err_len, "a space has at most %d speaker tokens", STORE_SPEAKERS_MAX);
        return -ENOSPC;
    }
    for (int attempt = 0; attempt < 3; attempt++) {
        if ((rc = new_secret(token, hash)) < 0 || (rc = random_b64url(id, 9)) < 0) return rc;
        q = stmt(s, ST_SPEAKER_INSERT);
        sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, space_id, -1, SQLITE_STATIC);
        sqlite3_bind_blob(q, 3, hash, HASH_BYTES, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 5, now_ms);
        if ((rc = run(s, q, "speaker insert")) != -EEXIST) break;
    }
    if (rc == -EEXIST) rc = db_fail(s, "speaker insert: ids keep clashing");
    return rc < 0 ? rc : speaker_get(s, space_id, id, out);
}

bool store_speaker_verify(struct store *s, const char *space_id, const char *token,
                          size_t token_len, struct store_speaker *out)
{
    uint8_t hash[HASH_BYTES];
    struct store_speaker sp;
    bool ok = false;

    if (token_len != STORE_KEY_CHARS || sha256(token, token_len, hash) < 0) return false;
    /* Looked up by hash: timing can only tell about the hash, which an
     * attacker cannot steer toward a valid token's. */
    sqlite3_stmt *q = stmt(s, ST_SPEAKER_BY_HASH);
    sqlite3_bind_blob(q, 1, hash, HASH_BYTES, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW) {
        row_to_speaker(q, &sp);
        ok = sp.revoked_ms == 0 && strcmp(sp.space_id, space_id) == 0;
    }
    sqlite3_reset(q);
    if (ok && out) *out = sp;
    return ok;
}

int store_speaker_revoke(struct store *s, const char *space_id, const char *speaker_id,
                         int64_t now_ms)
{
    struct store_speaker sp;
    sqlite3_stmt *q = stmt(s, ST_SPEAKER_REVOKE);
    int rc;

    sqlite3_bind_text(q, 1, space_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, speaker_id, -1, SQLITE_STATIC);
    /* revoked_ms = 0 means valid, so a revocation is never at 0. */
    sqlite3_bind_int64(q, 3, now_ms > 0 ? now_ms : 1);
    if ((rc = run(s, q, "speaker revoke")) != 0) return rc < 0 ? rc : 0;
    rc = speaker_get(s, space_id, speaker_id, &sp);
    return rc < 0 ? rc : -EALREADY;
}

int store_speaker_list(struct store *s, const char *space_id, store_speaker_fn fn, void *ctx)
{
    sqlite3_stmt *q = stmt(s, ST_SPEAKER_LIST);
    struct store_speaker sp;
    int rc, count = 0;

    sqlite3_bind_text(q, 1, space_id, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        row_to_speaker(q, &sp);
        count++;
        int stop = fn(ctx, &sp);
        if (stop) {
            sqlite3_reset(q);
            return stop;
        }
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? count : db_fail(s, "speaker list");
}

/* Recordings ------------------------------------------------------------ */

static int check_path(const char *p, char *err, size_t err_len)
{
    size_t n = strlen(p);

    if (n == 0 || n > STORE_PATH_BYTES_MAX)
        return reason(err, err_len, "recording path must be 1..%d bytes", STORE_PATH_BYTES_MAX);
    if (p[0] == '/') return reason(err, err_len, "recording path must be relative");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return reason(err, err_len, "recording path contains control characters");
    /* ".." as a whole component, anywhere. */
    for (const char *c = p; c; c = strchr(c, '/')) {
        if (*c == '/') c++;
        if (c[0] == '.' && c[1] == '.' && (c[2] == '/' || c[2] == '\0'))
            return reason(err, err_len, "recording path must not contain '..'");
    }
    return 0;
}

int store_recording_upsert(struct store *s, const struct store_recording *r, char *err,
                           size_t err_len)
{
    sqlite3_stmt *q;
    int rc;

    if ((rc = check_path(r->path, err, err_len)) < 0) return rc;
    if (r->bytes > INT64_MAX || r->duration_ms > INT64_MAX)
        return reason(err, err_len, "recording size out of range");
    q = stmt(s, ST_RECORDING_UPSERT);
    sqlite3_bind_text(q, 1, r->space_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, r->path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, (int64_t)r->bytes);
    sqlite3_bind_int64(q, 4, (int64_t)r->duration_ms);
    sqlite3_bind_int(q, 5, r->complete);
    sqlite3_bind_int64(q, 6, r->updated_ms);
    /* The only constraint an upsert can break is the space's foreign key. */
    rc = run(s, q, "recording upsert");
    return rc == -EEXIST ? -ENOENT : rc < 0 ? rc : 0;
}

static void row_to_recording(sqlite3_stmt *q, void *out)
{
    struct store_recording *r = out;

    memset(r, 0, sizeof(*r));
    copy_text(r->space_id, sizeof(r->space_id), q, 0);
    copy_text(r->path, sizeof(r->path), q, 1);
    r->bytes = (uint64_t)sqlite3_column_int64(q, 2);
    r->duration_ms = (uint64_t)sqlite3_column_int64(q, 3);
    r->complete = sqlite3_column_int(q, 4) != 0;
    r->updated_ms = sqlite3_column_int64(q, 5);
}

int store_recording_get(struct store *s, const char *space_id, struct store_recording *out)
{
    sqlite3_stmt *q = stmt(s, ST_RECORDING_GET);

    sqlite3_bind_text(q, 1, space_id, -1, SQLITE_STATIC);
    return get_one(s, q, row_to_recording, out, "recording get");
}

int store_recover(struct store *s, int64_t now_ms)
{
    sqlite3_stmt *q = stmt(s, ST_RECOVER);

    sqlite3_bind_int64(q, 1, now_ms);
    return run(s, q, "recover");
}
