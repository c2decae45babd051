/* mount: one live stream (/live/NAME.opus): its ring, its packaging state,
 * its source, its listeners.
 *
 * Packaging: whatever the source, the mount writes its own logical Ogg
 * stream: one serial number, page sequence numbers equal to ring sequence
 * numbers, a granule position that only grows. Incoming Opus packets are
 * gathered into pages of page_ms (100 ms by default) and published to the
 * ring. The header pages (OpusHead, OpusTags) and the HTTP answer form the
 * prelude, a chunk every listener starts with. So a source may drop and
 * another take over, and listeners see one continuous stream.
 */
#ifndef PODIUM_MOUNT_H
#define PODIUM_MOUNT_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "ogg.h"
#include "ring.h"

#define MOUNT_NAME_BYTES_MAX 64
#define MOUNT_PAGE_PACKETS_MAX 50 /* 50 x 20 ms; also bounds the lacing table */
#define MOUNT_PAGE_BYTES_MAX 8192 /* bytes of packets gathered into one page */

struct mount {
    char name[MOUNT_NAME_BYTES_MAX + 1]; /* NAME of /live/NAME.opus */
    uint32_t id;  /* the origin's number for it, carried by relay frames */
    bool relayed; /* pages come from the origin over the relay (worker side) */
    struct space_rt *space; /* fed by a space's mix (origin side) */
    bool ticketed; /* a ticketed space: listeners need an admission ticket (gate.c) */
    struct server *srv;
    struct ring ring;
    struct chunk *prelude; /* HTTP answer + header pages; NULL until a head arrived */
    uint32_t prelude_http_len;
    struct source *source; /* NULL when none is connected */
    uint64_t orphan_since_ms; /* when the last source left (0: has one) */
    struct conn_list listeners;
    bool dirty; /* pages published since the last flush pass */
    /* The pages published since the last pass, copied once into one block,
     * so a listener that kept up gets them in one contiguous write: pages
     * [flat_seq, flat_end), flat_len bytes (fanout_tick). */
    uint8_t *flat;
    uint32_t flat_len, flat_cap;
    uint64_t flat_seq, flat_end, flushed_head;

    /* packaging */
    uint32_t serial;
    uint8_t channels;
    uint16_t preskip;
    uint64_t granule; /* samples through the last gathered packet, incl. pre-skip */
    uint32_t pend_n, pend_bytes, pend_samples;
    uint32_t pend_lens[MOUNT_PAGE_PACKETS_MAX];
    uint8_t pend[MOUNT_PAGE_BYTES_MAX];

    /* per-mount counters */
    uint64_t joins, pages, peak_listeners;
};

/* mount_name_valid: NAME is 1..64 of [A-Za-z0-9._-], not starting with '.'. */
bool mount_name_valid(const char *name, size_t len);

/* mount_from_path: "/live/NAME.opus" -> NAME into out; false otherwise. */
bool mount_from_path(const char *path, size_t len, char out[MOUNT_NAME_BYTES_MAX + 1]);

struct mount *mount_find(struct server *srv, const char *name);
/* mount_get: finds or creates. NULL when mounts_max is reached or no memory. */
struct mount *mount_get(struct server *srv, const char *name);

/* mount_set_head: the canonical stream's format, from the first source. Builds
 * the prelude once; later heads (other sources) keep it. 0 or -ENOMEM. */
int mount_set_head(struct mount *m, const struct opus_head *h);

/* mount_set_prelude: the prelude from the Ogg header pages <pages> (OpusHead
 * and OpusTags pages as written by the origin). Replaces any previous one:
 * listeners keep the reference they hold. 0 or -ENOMEM. */
int mount_set_prelude(struct mount *m, const uint8_t *pages, uint32_t len);

/* mount_head_pages: the Ogg header pages inside the prelude (no HTTP). */
static inline const uint8_t *mount_head_pages(const struct mount *m, uint32_t *len)
{
    *len = m->prelude->len - m->prelude_http_len;
    return m->prelude->data + m->prelude_http_len;
}

/* mount_relay_page: a page relayed by the origin, with the origin's numbers;
 * a sequence gap restarts the window there. 0 or -ENOMEM. */
int mount_relay_page(struct mount *m, uint64_t seq, uint64_t granule, uint64_t born_us,
                     const uint8_t *page, uint32_t len);

/* mount_packet: gathers one Opus packet; publishes a page when page_ms of
 * audio is gathered. */
void mount_packet(struct mount *m, const uint8_t *pkt, uint32_t len, int samples);

/* mount_flush_pending: publishes whatever is gathered (source ended). */
void mount_flush_pending(struct mount *m);

/* mount_young: <m>'s window holds less than <ms> of audio (it went live
 * less than that ago): a listener who joins now gets less than its burst. */
bool mount_young(const struct mount *m, uint32_t ms);

/* mount_source_left: the source detached; starts the grace period. */
void mount_source_left(struct mount *m);

/* mount_housekeeping: closes listeners of mounts whose grace ran out and
 * frees mounts with neither source nor listeners. */
void mount_housekeeping(struct server *srv, uint64_t now_ms);

/* mount_close: closes the listeners of <m> and frees it (the origin ended it). */
void mount_close(struct mount *m);

void mount_free(struct mount *m);

#endif
