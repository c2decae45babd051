/* mount: registry, packaging into our own Ogg stream, grace periods. */
#include "mount.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fanout.h"
#include "log.h"
#include "server.h"
#include "source.h"
#include "workers.h"

bool mount_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > MOUNT_NAME_BYTES_MAX || name[0] == '.') return false;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || ch == '.'))
            return false;
    }
    return true;
}

bool mount_from_path(const char *path, size_t len, char out[MOUNT_NAME_BYTES_MAX + 1])
{
    static const char pre[] = "/live/", suf[] = ".opus";
    const size_t pl = sizeof(pre) - 1, sl = sizeof(suf) - 1;
    if (len <= pl + sl || memcmp(path, pre, pl) != 0 || memcmp(path + len - sl, suf, sl) != 0)
        return false;
    size_t nl = len - pl - sl;
    if (!mount_name_valid(path + pl, nl)) return false;
    memcpy(out, path + pl, nl);
    out[nl] = 0;
    return true;
}

struct mount *mount_find(struct server *srv, const char *name)
{
    for (uint32_t i = 0; i < srv->mounts_len; i++)
        if (!strcmp(srv->mounts[i]->name, name)) return srv->mounts[i];
    return NULL;
}

static uint32_t random_u32(void)
{
    uint32_t v = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &v, sizeof(v)) != sizeof(v)) v = 0;
        close(fd);
    }
    return v ? v : (uint32_t)getpid() * 2654435761u;
}

struct mount *mount_get(struct server *srv, const char *name)
{
    struct mount *m = mount_find(srv, name);
    if (m) return m;
    if (srv->mounts_len >= srv->conf.mounts_max) return NULL;
    struct mount **arr = realloc(srv->mounts, (srv->mounts_len + 1) * sizeof(*arr));
    if (!arr) return NULL;
    srv->mounts = arr;
    m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    /* Window: ring_ms of audio in pages of page_ms, plus slack for short
     * pages; bytes bounded too, at 64 kB/s (16x the default bitrate). */
    uint32_t pages = srv->conf.ring_ms / srv->conf.page_ms + 8;
    uint64_t bytes = (uint64_t)srv->conf.ring_ms * 64;
    if (ring_init(&m->ring, pages, bytes) < 0) {
        free(m);
        return NULL;
    }
    snprintf(m->name, sizeof(m->name), "%s", name);
    m->srv = srv;
    m->id = ++srv->next_mount_id;
    m->serial = random_u32();
    /* Sequence numbers 0 and 1 are the header pages. */
    ring_reset_seq(&m->ring, 2);
    srv->mounts[srv->mounts_len++] = m;
    return m;
}

void mount_free(struct mount *m)
{
    ring_destroy(&m->ring);
    free(m->flat);
    if (m->prelude) chunk_unref(m->prelude);
    free(m);
}

static const char listener_http[] = "HTTP/1.1 200 OK\r\n"
                                    "Content-Type: audio/ogg\r\n"
                                    "Cache-Control: no-cache, no-store\r\n"
                                    "Pragma: no-cache\r\n"
                                    "Access-Control-Allow-Origin: *\r\n"
                                    "X-Content-Type-Options: nosniff\r\n"
                                    "Connection: close\r\n"
                                    "\r\n";

int mount_set_prelude(struct mount *m, const uint8_t *pages, uint32_t len)
{
    size_t http = sizeof(listener_http) - 1;
    struct chunk *c = chunk_new((uint32_t)(http + len));
    if (!c) return -ENOMEM;
    memcpy(c->data, listener_http, http);
    memcpy(c->data + http, pages, len);
    if (m->prelude) chunk_unref(m->prelude);
    m->prelude = c;
    m->prelude_http_len = (uint32_t)http;
    return 0;
}

int mount_set_head(struct mount *m, const struct opus_head *h)
{
    uint8_t head[19], tags[256], pages[512];
    if (m->prelude) return 0;
    char title[96];
    snprintf(title, sizeof(title), "TITLE=%s", m->name);
    const char *comments[] = {title};
    size_t hl = opus_head_write(head, h->channels, h->preskip);
    size_t tl = opus_tags_write(tags, sizeof(tags), comments, 1);
    const uint8_t *hp[] = {head}, *tp[] = {tags};
    uint32_t hlen[] = {(uint32_t)hl}, tlen[] = {(uint32_t)tl};
    size_t s1 = ogg_page_size(hlen, 1), s2 = ogg_page_size(tlen, 1);
    if (s1 + s2 > sizeof(pages)) return -EINVAL;
    ogg_page_write(pages, OGG_FLAG_BOS, 0, m->serial, 0, hp, hlen, 1);
    ogg_page_write(pages + s1, 0, 0, m->serial, 1, tp, tlen, 1);
    int e = mount_set_prelude(m, pages, (uint32_t)(s1 + s2));
    if (e < 0) return e;
    m->channels = h->channels;
    m->preskip = h->preskip;
    m->granule = h->preskip;
    workers_mount_open(m->srv, m);
    return 0;
}

int mount_relay_page(struct mount *m, uint64_t seq, uint64_t granule, uint64_t born_us,
                     const uint8_t *page, uint32_t len)
{
    struct chunk *c = chunk_new(len);
    if (!c) return -ENOMEM;
    memcpy(c->data, page, len);
    c->granule = granule;
    c->born_us = born_us;
    /* A gap (this node joined late or lost its link) restarts the window:
     * cursors before it skip ahead as slow listeners would. */
    if (seq != m->ring.head) {
        ring_restart(&m->ring, seq);
        m->flat_end = m->flat_seq; /* its pages may come again with other bytes */
        m->flushed_head = seq;
    }
    ring_push(&m->ring, c);
    m->pages++;
    m->dirty = true;
    return 0;
}

static void publish(struct mount *m)
{
    struct server *srv = m->srv;
    const uint8_t *pkts[MOUNT_PAGE_PACKETS_MAX];
    const uint8_t *p = m->pend;
    if (!m->pend_n) return;
    for (uint32_t i = 0; i < m->pend_n; i++) {
        pkts[i] = p;
        p += m->pend_lens[i];
    }
    size_t size = ogg_page_size(m->pend_lens, m->pend_n);
    struct chunk *c = chunk_new((uint32_t)size);
    if (!c) {
        log_error("mount %s: out of memory, page dropped", m->name);
    } else {
        uint64_t seq = m->ring.head;
        ogg_page_write(c->data, 0, m->granule, m->serial, (uint32_t)seq, pkts, m->pend_lens,
                       m->pend_n);
        c->granule = m->granule;
        c->born_us = loop_now_us(srv->loop);
        ring_push(&m->ring, c);
        m->pages++;
        srv->m.pages++;
        m->dirty = true;
        workers_page(srv, m, c);
    }
    m->pend_n = m->pend_bytes = m->pend_samples = 0;
}

void mount_packet(struct mount *m, const uint8_t *pkt, uint32_t len, int samples)
{
    if (!m->prelude) return; /* no head yet: ogg_in refuses this */
    uint32_t lens[MOUNT_PAGE_PACKETS_MAX + 1];
    /* Would this packet overflow the page being gathered? Publish first. */
    if (m->pend_n) {
        memcpy(lens, m->pend_lens, m->pend_n * sizeof(*lens));
        lens[m->pend_n] = len;
        if (m->pend_n == MOUNT_PAGE_PACKETS_MAX || m->pend_bytes + len > MOUNT_PAGE_BYTES_MAX ||
            !ogg_page_size(lens, m->pend_n + 1))
            publish(m);
    }
    if (len > MOUNT_PAGE_BYTES_MAX) return; /* ogg_in bounds packets far below this */
    memcpy(m->pend + m->pend_bytes, pkt, len);
    m->pend_lens[m->pend_n++] = len;
    m->pend_bytes += len;
    m->pend_samples += (uint32_t)samples;
    m->granule += (uint64_t)samples;
    if (m->pend_samples >= m->srv->conf.page_ms * 48) publish(m);
}

bool mount_young(const struct mount *m, uint32_t ms)
{
    const struct ring *r = &m->ring;
    if (r->head == r->tail) return true;
    uint64_t newest = ring_get(r, r->head - 1)->granule, oldest = ring_get(r, r->tail)->granule;
    return newest - oldest < (uint64_t)ms * 48;
}

void mount_flush_pending(struct mount *m)
{
    publish(m);
}

void mount_source_left(struct mount *m)
{
    mount_flush_pending(m);
    m->source = NULL;
    m->orphan_since_ms = loop_now_ms(m->srv->loop);
    if (!m->orphan_since_ms) m->orphan_since_ms = 1;
}

void mount_housekeeping(struct server *srv, uint64_t now_ms)
{
    for (uint32_t i = 0; i < srv->mounts_len;) {
        struct mount *m = srv->mounts[i];
        if (m->source || m->relayed || m->space ||
            now_ms - m->orphan_since_ms < srv->conf.mount_grace_ms) {
            i++;
            continue;
        }
        if (m->listeners.len) log_info("mount %s: no source for %ums, closing %u listeners",
                                       m->name, srv->conf.mount_grace_ms, m->listeners.len);
        workers_mount_close(srv, m);
        mount_close(m); /* moves the last mount into slot i */
    }
}

void mount_close(struct mount *m)
{
    struct server *srv = m->srv;
    while (m->listeners.head) {
        srv->m.grace_closes++;
        conn_close(m->listeners.head);
    }
    for (uint32_t i = 0; i < srv->mounts_len; i++)
        if (srv->mounts[i] == m) {
            srv->mounts[i] = srv->mounts[--srv->mounts_len];
            break;
        }
    mount_free(m);
}
