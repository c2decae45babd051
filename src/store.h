/* store: what Podium keeps across restarts, in SQLite at <data>/podium.db.
 *
 * Spaces (the scheduled or live events), speaker tokens, recordings. The
 * database runs in WAL mode with a busy timeout, every statement is
 * prepared once at open, and the schema carries a version table: opening a
 * database migrates it forward from whatever version it has (0: empty),
 * one transaction per step, and refuses one newer than this build.
 *
 * Secrets never reach the disk: a space's host key and a speaker's token
 * are 32 random bytes handed out once, base64url; only their SHA-256 is
 * stored, and checks compare hashes in constant time.
 *
 * Every call does disk I/O and may block (at most the busy timeout): call
 * from the control path (API requests, start-up), never from the audio
 * path. One thread at a time per struct store.
 *
 * Returns: 0 or -errno (-ENOENT no such space/speaker, -EINVAL refused
 * input with a one-line reason, -EALREADY a state change that is not
 * forward, -ENOSPC a per-space limit, -EIO SQLite trouble, logged).
 * Times are unix milliseconds passed in by the caller; 0 means "not yet".
 */
#ifndef PODIUM_STORE_H
#define PODIUM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_ID_CHARS 12                /* space and speaker ids: base64url of 9 random bytes */
#define STORE_KEY_CHARS 43               /* host keys, speaker tokens: base64url of 32 bytes */
#define STORE_TITLE_BYTES_MAX 200        /* space title (UTF-8) */
#define STORE_DESCRIPTION_BYTES_MAX 2000 /* space description (UTF-8) */
#define STORE_NAME_BYTES_MAX 64          /* speaker display name (UTF-8) */
#define STORE_ADDR_BYTES_MAX 45          /* an IPv6 address in text */
#define STORE_PATH_BYTES_MAX 255         /* recording path, relative to the data folder */
#define STORE_LIST_LIMIT_DEFAULT 20      /* spaces per page when the caller says 0 */
#define STORE_LIST_LIMIT_MAX 100         /* spaces per page at most */
#define STORE_SPEAKERS_MAX 100           /* speaker tokens per space, revoked ones included */
#define STORE_START_PAST_MS_MAX 86400000 /* a start time may lie this far in the past */
#define STORE_START_AHEAD_MS_MAX 31622400000 /* ... and this far ahead (366 days) */
#define STORE_LISTENERS_MAX 10000000         /* per-space listeners_max at most */
#define STORE_ADMIT_PER_S_MAX 1000000        /* per-space admit_per_s at most */
#define STORE_BUSY_TIMEOUT_MS 5000           /* wait this long for a lock before -EIO */
#define STORE_REASON_BYTES 128               /* room for every reason store writes */

enum store_access { STORE_ACCESS_OPEN, STORE_ACCESS_TICKETED };
enum store_state { STORE_SCHEDULED, STORE_LIVE, STORE_ENDED };

struct store_space {
    char id[STORE_ID_CHARS + 1];
    char title[STORE_TITLE_BYTES_MAX + 1];
    char description[STORE_DESCRIPTION_BYTES_MAX + 1];
    int64_t scheduled_start_ms;
    enum store_access access;
    enum store_state state;
    int64_t created_ms, started_ms, ended_ms;
    uint32_t peak_listeners;
    uint32_t listeners_max; /* 0: the server's default */
    uint32_t admit_per_s;   /* 0: the server's default */
    bool rtp_enabled;
    char rtp_source_addr[STORE_ADDR_BYTES_MAX + 1]; /* RTP accepted only from here */
    uint16_t rtp_source_port;                       /* ... and this port; 0: any port */
};

/* What a client may choose when creating a space. Strings are
 * NUL-terminated; NULL counts as "". */
struct store_space_new {
    const char *title; /* required */
    const char *description;
    int64_t scheduled_start_ms; /* 0: now */
    const char *access;         /* "open" (also for NULL or "") or "ticketed" */
    int64_t listeners_max;      /* 0..STORE_LISTENERS_MAX */
    int64_t admit_per_s;        /* 0..STORE_ADMIT_PER_S_MAX */
    bool rtp_enabled;
    const char *rtp_source_addr; /* an IPv4 or IPv6 address; required with rtp_enabled */
    int64_t rtp_source_port;     /* 0..65535 */
};

struct store_speaker {
    char id[STORE_ID_CHARS + 1];
    char space_id[STORE_ID_CHARS + 1];
    char name[STORE_NAME_BYTES_MAX + 1];
    int64_t created_ms;
    int64_t revoked_ms; /* 0: valid */
};

struct store_recording {
    char space_id[STORE_ID_CHARS + 1];
    char path[STORE_PATH_BYTES_MAX + 1]; /* relative to the data folder */
    uint64_t bytes;
    uint64_t duration_ms;
    bool complete;      /* closed cleanly (EOS written) */
    int64_t updated_ms; /* the last write the store knows of */
};

struct store;

/* store_open: opens (creating the folder and the file if needed) and
 * migrates <data_dir>/podium.db. Returns 0 with *out set, or -errno with a
 * reason (cannot open, schema newer than this build, ...). */
int store_open(struct store **out, const char *data_dir, char *err, size_t err_len);

/* store_close: finalizes the statements and closes; NULL is fine. */
void store_close(struct store *s);

const char *store_access_name(enum store_access a);
const char *store_state_name(enum store_state st);

/* store_space_create: validates <in> (see struct store_space_new; titles,
 * descriptions and names must be UTF-8 without control characters, a
 * description may hold newlines and tabs) and creates a 'scheduled' space
 * with a fresh id and host key. Returns 0 with *out and host_key (shown to
 * the creator once, never again), -EINVAL with a reason, -EIO. */
int store_space_create(struct store *s, const struct store_space_new *in, int64_t now_ms,
                       struct store_space *out, char host_key[STORE_KEY_CHARS + 1], char *err,
                       size_t err_len);

/* store_space_get: 0 with *out, -ENOENT, -EIO. <id> may be anything. */
int store_space_get(struct store *s, const char *id, struct store_space *out);

/* One page of spaces, newest first (created_ms, then id, descending).
 * The cursor is the last space of the previous page; before_id "" is the
 * first page. */
struct store_page {
    int64_t before_created_ms;
    char before_id[STORE_ID_CHARS + 1];
    uint32_t limit; /* 0: STORE_LIST_LIMIT_DEFAULT; above STORE_LIST_LIMIT_MAX: that */
    bool by_state;  /* only spaces in <state> */
    enum store_state state;
};

/* Called once per space; a non-zero return stops the listing and is
 * returned by it. It may call other store functions, but not list again. */
typedef int (*store_space_fn)(void *ctx, const struct store_space *sp);

/* store_space_list: calls fn for each space of the page. Returns the count
 * (>= 0), fn's non-zero return, or -EIO. */
int store_space_list(struct store *s, const struct store_page *pg, store_space_fn fn, void *ctx);

/* store_space_set_state: moves a space forward only: scheduled -> live
 * (sets started_ms), scheduled or live -> ended (sets ended_ms). <st> must
 * be STORE_LIVE or STORE_ENDED (asserted). Returns 0, -ENOENT, -EALREADY
 * (already there or past it), -EIO. */
int store_space_set_state(struct store *s, const char *id, enum store_state st, int64_t now_ms);

/* store_space_end: store_space_set_state(s, id, STORE_ENDED, now_ms). */
int store_space_end(struct store *s, const char *id, int64_t now_ms);

/* store_space_peak: raises peak_listeners to <listeners> if it is higher.
 * Returns 0, -ENOENT, -EIO. */
int store_space_peak(struct store *s, const char *id, uint32_t listeners);

/* store_host_key_verify: is key[0..key_len) the host key of space <id>?
 * The comparison of hashes is constant-time; unknown spaces and keys of
 * the wrong length are simply false. */
bool store_host_key_verify(struct store *s, const char *id, const char *key, size_t key_len);

/* store_speaker_create: a speaker token for space <space_id> under
 * <name> (1..STORE_NAME_BYTES_MAX bytes). Returns 0 with *out and
 * token (shown once), -ENOENT, -EINVAL with a reason (bad name, space
 * ended), -ENOSPC (STORE_SPEAKERS_MAX reached), -EIO. */
int store_speaker_create(struct store *s, const char *space_id, const char *name, int64_t now_ms,
                         struct store_speaker *out, char token[STORE_KEY_CHARS + 1], char *err,
                         size_t err_len);

/* store_speaker_verify: is token[0..token_len) a speaker token of space
 * <space_id> that is not revoked? When true and <out> is not NULL, the
 * speaker is copied there. */
bool store_speaker_verify(struct store *s, const char *space_id, const char *token,
                          size_t token_len, struct store_speaker *out);

/* store_speaker_revoke: revokes speaker <speaker_id> of <space_id>.
 * Returns 0, -ENOENT, -EALREADY, -EIO. */
int store_speaker_revoke(struct store *s, const char *space_id, const char *speaker_id,
                         int64_t now_ms);

typedef int (*store_speaker_fn)(void *ctx, const struct store_speaker *sp);

/* store_speaker_list: every speaker of <space_id>, oldest first, revoked
 * ones included (at most STORE_SPEAKERS_MAX). fn as for store_space_list.
 * Returns the count, fn's non-zero return, or -EIO. */
int store_speaker_list(struct store *s, const char *space_id, store_speaker_fn fn, void *ctx);

/* store_recording_upsert: records (or updates) the recording of
 * r->space_id. The path must be relative, without "..", control
 * characters or a leading '/', and at most STORE_PATH_BYTES_MAX bytes.
 * Returns 0, -ENOENT (no such space), -EINVAL with a reason, -EIO. */
int store_recording_upsert(struct store *s, const struct store_recording *r, char *err,
                           size_t err_len);

/* store_recording_get: 0 with *out, -ENOENT, -EIO. */
int store_recording_get(struct store *s, const char *space_id, struct store_recording *out);

/* store_recover: at start-up, every space still 'live' (the previous
 * process died) becomes 'ended'. Its end time is its recording's
 * updated_ms (so repair the recordings and upsert them first, with the
 * file's last write as updated_ms), or <now_ms> without a recording, and
 * never before its start. Returns the number of spaces ended, or -EIO. */
int store_recover(struct store *s, int64_t now_ms);

#endif
