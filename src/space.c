/* space: live spaces on the origin — mix, stage, recording, mount. */
#include "space.h"

#include <errno.h>
#include <fcntl.h>
#include <opus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "conn.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "mixthread.h"
#include "mount.h"
#include "recording.h"
#include "rtp.h"
#include "server.h"
#include "source.h"
#include "stage.h"
#include "store.h"
#include "workers.h"

#define SPACE_PACE_PACKETS 128    /* a bursty source (1 s Ogg pages) may run this far ahead */
#define SPACE_PACE_LATE_MS 200    /* a paced source this late restarts its clock */
#define SPACE_HANDS_MAX 64        /* raised hands kept per space */
#define SPACE_ENDED_CLOSE_MS 1500 /* listeners of an ended space get this much more, then FIN */

#define SPACE_MIX_THREADS_AUTO_MAX 8 /* mix_threads = 0: one per online CPU, up to this */

struct pace_pkt {
    uint16_t len;
    uint8_t data[MIXER_PACKET_BYTES_MAX];
};

/* One mixer slot: a stage peer, a source or an RTP sender. It outlives a
 * disconnect by stage_grace_ms, so a speaker who comes back gets it again. */
struct space_speaker {
    uint32_t num;
    char speaker_id[16];
    char name[72];
    struct stage_peer *peer;
    uint64_t gone_since_ms; /* 0 while connected */
    uint64_t rtp_last_ms;   /* RTP: the last datagram (it has no connection to lose) */
    bool muted, active, in_use;
};

struct hand {
    uint32_t id;
    char name[72];
};

struct space_rt {
    char id[STORE_ID_CHARS + 1];
    uint32_t num; /* the mix thread's id for it */
    struct server *srv;
    struct mixthread *mt; /* the thread that mixes it, for its whole life */
    struct mixthread_space *mts;
    struct mount *mount;
    struct recording *rec;
    struct space_speaker spk[MIXER_SPEAKERS_MAX];
    uint32_t next_speaker_num;
    struct stage_peer *peers;
    uint64_t host_gone_since_ms; /* 0 while the host is connected */
    uint64_t peak_stored;

    /* a PUT/SOURCE input, paced to real time */
    struct source *src;
    uint32_t src_num;
    struct pace_pkt *pace;
    uint32_t pace_head, pace_len;
    uint64_t pace_t0_us, pace_n;
    uint16_t pace_seq;

    struct hand hands[SPACE_HANDS_MAX];
    uint32_t hands_len, next_hand;
};

/* Where RTP from an address goes: spaces not ended that enabled RTP. */
#define SPACE_RTP_ROUTES_MAX 256
struct rtp_route {
    uint8_t addr[16]; /* IPv4 as IPv4-mapped IPv6 */
    uint16_t port;    /* 0: any */
    char id[STORE_ID_CHARS + 1];
};

struct space_sys {
    struct rtp_route routes[SPACE_RTP_ROUTES_MAX];
    uint32_t routes_len;
    struct mixthread **mt; /* mt_len threads, each watched by its mix_io[i] */
    struct io *mix_io;
    uint32_t mt_len;
    struct timer pace_timer;
    struct space_rt **rt;
    uint32_t len;
    uint32_t next_num;
    uint16_t preskip;
    struct mixer_config mcfg;
};

static int64_t wall_ms(void)
{
    return api_wall_ms();
}

static struct space_rt *rt_find(const struct server *srv, const char *id)
{
    const struct space_sys *ss = srv->spaces;
    if (!ss) return NULL;
    for (uint32_t i = 0; i < ss->len; i++)
        if (!strcmp(ss->rt[i]->id, id)) return ss->rt[i];
    return NULL;
}

static struct space_rt *rt_by_num(const struct server *srv, uint32_t num)
{
    const struct space_sys *ss = srv->spaces;
    for (uint32_t i = 0; i < ss->len; i++)
        if (ss->rt[i]->num == num) return ss->rt[i];
    return NULL;
}

static struct space_speaker *spk_by_num(struct space_rt *sp, uint32_t num)
{
    for (unsigned i = 0; i < MIXER_SPEAKERS_MAX; i++)
        if (sp->spk[i].in_use && sp->spk[i].num == num) return &sp->spk[i];
    return NULL;
}

static struct space_speaker *spk_by_id(struct space_rt *sp, const char *speaker_id)
{
    for (unsigned i = 0; i < MIXER_SPEAKERS_MAX; i++)
        if (sp->spk[i].in_use && !strcmp(sp->spk[i].speaker_id, speaker_id)) return &sp->spk[i];
    return NULL;
}

/* ---- events to the stage --------------------------------------------- */

/* Sending may close a peer (and so change the list): send to a snapshot;
 * peers stay allocated until the loop iteration ends. */
static void broadcast(struct space_rt *sp, const char *json, size_t len)
{
    struct stage_peer *to[MIXER_SPEAKERS_MAX * 2];
    unsigned n = 0;
    for (struct stage_peer *p = sp->peers; p && n < MIXER_SPEAKERS_MAX * 2; p = p->next)
        to[n++] = p;
    for (unsigned i = 0; i < n; i++)
        stage_send_text(to[i], json, len);
}

static void event(struct space_rt *sp, const char *type, const struct space_speaker *k)
{
    char buf[256];
    struct json_writer w;
    json_w_init(&w, buf, sizeof(buf));
    json_w_object_begin(&w);
    json_w_kstr(&w, "type", type);
    if (k) {
        json_w_kstr(&w, "speaker", k->speaker_id);
        json_w_kstr(&w, "name", k->name);
        json_w_kbool(&w, "muted", k->muted);
    }
    json_w_object_end(&w);
    if (json_w_finish(&w) >= 0) broadcast(sp, buf, w.len);
}

/* ---- the mix thread's output ----------------------------------------- */

static void on_tick(struct server *srv, const struct mixthread_out *o)
{
    struct space_rt *sp = rt_by_num(srv, o->space_id);
    if (!sp) return;
    const struct mixer_out *mx = &o->mix;
    if (mx->program_len) {
        if (sp->mount) mount_packet(sp->mount, mx->program, mx->program_len, MIXER_FRAME_SAMPLES);
        if (sp->rec && recording_write_packet(sp->rec, mx->program, mx->program_len) < 0)
            srv->m.recording_errors++;
    }
    for (unsigned i = 0; i < mx->returns; i++) {
        const struct mixer_return *r = &mx->ret[i];
        struct space_speaker *k = spk_by_num(sp, r->speaker_id);
        if (!k) continue;
        k->active = r->active;
        if (k->peer && r->data) stage_send_audio(k->peer, (uint32_t)mx->ts, r->data, r->len);
    }
}

static void on_mix_output(struct loop *loop, struct io *io, uint32_t events)
{
    struct server *srv = io->data;
    struct mixthread *mt = srv->spaces->mt[io - srv->spaces->mix_io];
    uint64_t v;
    struct mixthread_out o;
    /* Clear the eventfd first, so output queued while draining wakes us
     * again; EAGAIN (nothing new) changes nothing: drain anyway. */
    ssize_t n = read(io->fd, &v, sizeof(v));
    (void)n;
    while (mixthread_next(mt, &o) == 1)
        if (o.kind == MIXTHREAD_OUT_TICK) on_tick(srv, &o);
}

/* ---- lifecycle -------------------------------------------------------- */

static uint16_t program_preskip(void)
{
    int err;
    opus_int32 la = 312;
    OpusEncoder *e = opus_encoder_create(48000, 1, OPUS_APPLICATION_AUDIO, &err);
    if (e) {
        opus_encoder_ctl(e, OPUS_GET_LOOKAHEAD(&la));
        opus_encoder_destroy(e);
    }
    return (uint16_t)la;
}

/* The store's row for <sp>'s recording: its path relative to the data
 * folder, written now. */
static void recording_row(const struct space_rt *sp, struct store_recording *r)
{
    memset(r, 0, sizeof(*r));
    memcpy(r->space_id, sp->id, sizeof(r->space_id));
    recording_path(r->path, sizeof(r->path), "", sp->id);
    if (r->path[0] == '/') memmove(r->path, r->path + 1, strlen(r->path));
    r->updated_ms = wall_ms();
}

/* rt_start: the runtime of space <row> (which goes live). NULL with a
 * one-line reason when it cannot start. */
static struct space_rt *rt_start(struct server *srv, const struct store_space *row,
                                 const char **why)
{
    struct space_sys *ss = srv->spaces;
    struct space_rt *sp = rt_find(srv, row->id);
    if (sp) return sp;
    *why = "the server is at its limit of live spaces";
    if (ss->len >= srv->conf.mounts_max) return NULL;
    struct space_rt **arr = realloc(ss->rt, (ss->len + 1) * sizeof(*arr));
    if (!arr) return NULL;
    ss->rt = arr;
    sp = calloc(1, sizeof(*sp));
    if (!sp) return NULL;
    memcpy(sp->id, row->id, sizeof(sp->id));
    sp->srv = srv;
    sp->num = ++ss->next_num;
    sp->next_speaker_num = 1;
    sp->mt = ss->mt[mixthread_least_loaded(ss->mt, ss->mt_len)];
    sp->mts = mixthread_space_add(sp->mt, sp->num, &ss->mcfg);
    sp->mount = mount_get(srv, sp->id);
    if (!sp->mts || !sp->mount) {
        if (sp->mts) mixthread_space_remove(sp->mt, sp->mts);
        free(sp);
        return NULL;
    }
    sp->mount->space = sp;
    sp->mount->orphan_since_ms = 0;
    /* Workers learn the access mode from OPEN: a mount that already has its
     * prelude is announced again when the mode changes. */
    bool ticketed = row->access == STORE_ACCESS_TICKETED;
    if (sp->mount->ticketed != ticketed) {
        sp->mount->ticketed = ticketed;
        if (sp->mount->prelude) workers_mount_open(srv, sp->mount);
    }
    struct opus_head h = {.version = 1, .channels = 1, .preskip = ss->preskip, .input_rate = 48000};
    mount_set_head(sp->mount, &h);

    struct recording_params rp = {
        .channels = 1, .preskip = ss->preskip, .serial = sp->mount->serial, .title = row->title};
    if (recording_open(&sp->rec, srv->conf.data_dir, sp->id, &rp) < 0) {
        log_error("space %s: cannot open its recording; it goes on unrecorded", sp->id);
        sp->rec = NULL;
    } else {
        struct store_recording r;
        char err[STORE_REASON_BYTES];
        recording_row(sp, &r);
        store_recording_upsert(srv->store, &r, err, sizeof(err));
    }
    if (row->state == STORE_SCHEDULED)
        store_space_set_state(srv->store, sp->id, STORE_LIVE, wall_ms());
    ss->rt[ss->len++] = sp;
    srv->m.spaces_started++;
    log_info("space %s is live: /live/%s.opus", sp->id, sp->id);
    return sp;
}

static void finish_recording(struct space_rt *sp)
{
    struct server *srv = sp->srv;
    struct recording_info info;
    if (!sp->rec) return;
    if (recording_close(sp->rec, &info) < 0) srv->m.recording_errors++;
    sp->rec = NULL;
    struct store_recording r;
    char err[STORE_REASON_BYTES];
    recording_row(sp, &r);
    r.bytes = info.bytes;
    r.duration_ms = info.duration_ms;
    r.complete = info.complete;
    store_recording_upsert(srv->store, &r, err, sizeof(err));
}

static void rt_stop(struct space_rt *sp, const char *why)
{
    struct server *srv = sp->srv;
    struct space_sys *ss = srv->spaces;
    event(sp, "ending", NULL);
    while (sp->peers)
        stage_close(sp->peers, WS_CLOSE_NORMAL, why);
    if (sp->src) conn_close(source_conn(sp->src));
    mixthread_space_remove(sp->mt, sp->mts);
    /* Ticks already queued for it are dropped by on_tick (no runtime). */
    finish_recording(sp);
    if (sp->mount) {
        mount_flush_pending(sp->mount);
        sp->mount->space = NULL;
        uint64_t now = loop_now_ms(srv->loop);
        uint64_t grace = srv->conf.mount_grace_ms;
        sp->mount->orphan_since_ms =
            now > grace && grace > SPACE_ENDED_CLOSE_MS ? now - grace + SPACE_ENDED_CLOSE_MS : 1;
    }
    for (uint32_t i = 0; i < ss->len; i++)
        if (ss->rt[i] == sp) {
            ss->rt[i] = ss->rt[--ss->len];
            break;
        }
    free(sp->pace);
    free(sp);
}

void space_end(struct server *srv, const char *id_in, const char *why)
{
    char id[STORE_ID_CHARS + 1]; /* <id_in> may be the runtime's own, freed below */
    snprintf(id, sizeof(id), "%s", id_in);
    store_space_end(srv->store, id, wall_ms());
    space_rtp_refresh(srv);
    struct space_rt *sp = rt_find(srv, id);
    if (sp) rt_stop(sp, why);
    log_info("space %s ended: %s", id, why);
}

/* ---- speakers ---------------------------------------------------------- */

/* speaker_slot: the slot of <speaker_id>, the one it had if it comes back
 * within the grace, or a new one. NULL when the stage is full. */
static struct space_speaker *speaker_slot(struct space_rt *sp, const char *speaker_id,
                                          const char *name)
{
    struct space_speaker *k = spk_by_id(sp, speaker_id);
    if (k) return k;
    for (unsigned i = 0; i < MIXER_SPEAKERS_MAX; i++) {
        k = &sp->spk[i];
        if (k->in_use) continue;
        memset(k, 0, sizeof(*k));
        k->num = sp->next_speaker_num++;
        if (mixthread_speaker_add(sp->mt, sp->mts, k->num) < 0) return NULL;
        k->in_use = true;
        snprintf(k->speaker_id, sizeof(k->speaker_id), "%s", speaker_id);
        snprintf(k->name, sizeof(k->name), "%s", name);
        return k;
    }
    return NULL;
}

static void speaker_free(struct space_rt *sp, struct space_speaker *k)
{
    mixthread_speaker_remove(sp->mt, sp->mts, k->num);
    k->in_use = false;
}

void space_peer_packet(struct stage_peer *p, uint16_t seq, uint32_t ts, const uint8_t *pkt,
                       uint32_t len)
{
    struct space_rt *sp = p->space;
    struct server *srv = sp->srv;
    if (mixthread_push(sp->mt, sp->mts, p->num, seq, ts, pkt, len, loop_now_us(srv->loop)) < 0)
        srv->m.stage_audio_drops++;
}

void space_peer_gone(struct stage_peer *p)
{
    struct space_rt *sp = p->space;
    struct stage_peer **pp = &sp->peers;
    while (*pp && *pp != p)
        pp = &(*pp)->next;
    if (*pp) *pp = p->next;
    struct space_speaker *k = spk_by_num(sp, p->num);
    if (k) {
        k->peer = NULL;
        k->gone_since_ms = loop_now_ms(sp->srv->loop);
        if (!k->gone_since_ms) k->gone_since_ms = 1;
        event(sp, "left", k);
    }
    if (p->is_host) {
        sp->host_gone_since_ms = loop_now_ms(sp->srv->loop);
        if (!sp->host_gone_since_ms) sp->host_gone_since_ms = 1;
    }
}

static void set_mute(struct space_rt *sp, struct space_speaker *k, bool muted)
{
    k->muted = muted;
    mixthread_speaker_mute(sp->mt, sp->mts, k->num, muted);
    event(sp, muted ? "muted" : "unmuted", k);
}

/* A JSON command from a peer: {"type":"mute","speaker":ID,"muted":true},
 * {"type":"remove","speaker":ID}, {"type":"end"} (host); a speaker may
 * mute or unmute itself. */
void space_peer_command(struct stage_peer *p, char *json, size_t len)
{
    struct space_rt *sp = p->space;
    struct json_doc d;
    char err[JSON_REASON_BYTES];
    if (json_parse(json, len, &d, err, sizeof(err)) < 0) {
        p->bad_messages++;
        return;
    }
    const struct json_member *t = json_find(&d, "type"), *who = json_find(&d, "speaker"),
                             *mu = json_find(&d, "muted");
    if (!t || t->type != JSON_STRING) return;
    struct space_speaker *k = NULL;
    if (who && who->type == JSON_STRING)
        k = spk_by_id(sp, who->str);
    else
        k = spk_by_num(sp, p->num);
    bool self = k && k->num == p->num;
    if (!strcmp(t->str, "mute") && k && (p->is_host || self) && mu && mu->type == JSON_BOOL) {
        set_mute(sp, k, mu->b);
    } else if (!strcmp(t->str, "remove") && p->is_host && k && !self) {
        if (k->peer) stage_close(k->peer, 4001, "removed by the host");
        speaker_free(sp, k);
    } else if (!strcmp(t->str, "end") && p->is_host) {
        space_end(sp->srv, sp->id, "ended by the host");
    } else {
        p->bad_messages++;
    }
}

void space_speaker_revoked(struct server *srv, const char *id, const char *speaker_id)
{
    struct space_rt *sp = rt_find(srv, id);
    if (!sp) return;
    struct space_speaker *k = spk_by_id(sp, speaker_id);
    if (!k) return;
    if (k->peer) stage_close(k->peer, WS_CLOSE_POLICY, "speaker token revoked");
    speaker_free(sp, k);
}

/* ---- the stage endpoint ------------------------------------------------ */

static bool bearer_or_token(const struct http_request *req, const char **v, size_t *vl)
{
    if (http_query_param(req->query, req->query_len, "token", v, vl) && *vl) return true;
    return api_bearer(req, v, vl);
}

static void stage_route(struct conn *c, const struct http_request *req, const char *id)
{
    struct server *srv = c->srv;
    const char *why, *tok;
    size_t tl;
    struct store_space row;
    struct store_speaker sk;
    int st = ws_handshake_check(req, &why);
    if (st) {
        conn_reject(c, st, REJ_BAD_REQUEST, why, ws_refusal_headers(st));
        return;
    }
    int e = store_space_get(srv->store, id, &row);
    if (e == -ENOENT) return api_error(c, 404, "not_found", "no such space");
    if (e < 0) return api_storage_error(c);
    if (row.state == STORE_ENDED) return api_error(c, 410, "ended", "the space has ended");
    if (!bearer_or_token(req, &tok, &tl))
        return api_error(c, 401, "unauthorized", "a host key or speaker token is needed");
    bool host = store_host_key_verify(srv->store, id, tok, tl);
    if (!host && !store_speaker_verify(srv->store, id, tok, tl, &sk))
        return api_error(c, 403, "forbidden", "wrong or revoked token");
    struct space_rt *sp = rt_start(srv, &row, &why);
    if (!sp) return api_error(c, 503, "busy", why);
    const char *sid = host ? "host" : sk.id, *name = host ? "host" : sk.name;
    struct space_speaker *k = speaker_slot(sp, sid, name);
    if (!k) {
        srv->m.stage_refused++;
        return api_error(c, 503, "stage_full", "the stage has its most speakers");
    }
    if (k->peer) stage_close(k->peer, 4002, "replaced by a new connection");
    struct stage_peer *p = stage_accept(c, req, sp, sid, name, host, k->num);
    if (!p) return;
    k->peer = p;
    k->gone_since_ms = 0;
    p->muted = k->muted;
    p->next = sp->peers;
    sp->peers = p;
    if (host) sp->host_gone_since_ms = 0;
    srv->m.stage_joins++;

    char hello[256];
    struct json_writer w;
    json_w_init(&w, hello, sizeof(hello));
    json_w_object_begin(&w);
    json_w_kstr(&w, "type", "hello");
    json_w_kstr(&w, "space", sp->id);
    json_w_kstr(&w, "speaker", sid);
    json_w_kbool(&w, "host", host);
    json_w_kbool(&w, "muted", k->muted);
    json_w_object_end(&w);
    if (json_w_finish(&w) >= 0) stage_send_text(p, hello, w.len);
    event(sp, "joined", k);
}

void space_write_stage(struct json_writer *w, const struct server *srv, const char *id)
{
    struct space_rt *sp = rt_find(srv, id);
    json_w_array_begin(w);
    if (sp)
        for (unsigned i = 0; i < MIXER_SPEAKERS_MAX; i++) {
            const struct space_speaker *k = &sp->spk[i];
            if (!k->in_use) continue;
            json_w_object_begin(w);
            json_w_kstr(w, "speaker", k->speaker_id);
            json_w_kstr(w, "name", k->name);
            json_w_kbool(w, "connected", k->peer != NULL || (sp->src && k->num == sp->src_num));
            json_w_kbool(w, "speaking", k->active);
            json_w_kbool(w, "muted", k->muted);
            json_w_object_end(w);
        }
    json_w_array_end(w);
}

/* ---- recordings -------------------------------------------------------- */

static void serve_recording(struct conn *c, const struct http_request *req, const char *id,
                            bool head)
{
    struct server *srv = c->srv;
    struct store_space row;
    struct store_recording r;
    char path[512], hdr[512], cr[128];
    int e = store_space_get(srv->store, id, &row);
    if (e == -ENOENT) return api_error(c, 404, "not_found", "no such space");
    if (e < 0) return api_storage_error(c);
    if (row.state != STORE_ENDED)
        return api_error(c, 409, "live", "the recording is served once the space has ended");
    if (store_recording_get(srv->store, id, &r) < 0)
        return api_error(c, 404, "not_found", "this space has no recording");
    snprintf(path, sizeof(path), "%s/%s", srv->conf.data_dir, r.path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat stt;
    if (fd < 0 || fstat(fd, &stt) < 0) {
        if (fd >= 0) close(fd);
        return api_error(c, 404, "not_found", "the recording file is missing");
    }
    const struct http_header *rh = http_find_header(req, "Range");
    struct recording_range rr;
    recording_range(rh ? rh->value : NULL, rh ? rh->value_len : 0, (uint64_t)stt.st_size, &rr);
    if (rr.status == 416) {
        close(fd);
        snprintf(cr, sizeof(cr), "Content-Range: bytes */%llu\r\n",
                 (unsigned long long)stt.st_size);
        return conn_reject(c, 416, REJ_BAD_REQUEST, "range not satisfiable", cr);
    }
    char crv[96];
    cr[0] = 0;
    if (rr.status == 206 &&
        recording_content_range(crv, sizeof(crv), &rr, (uint64_t)stt.st_size) > 0)
        snprintf(cr, sizeof(cr), "Content-Range: %s\r\n", crv);
    int n = snprintf(hdr, sizeof(hdr),
                     "HTTP/1.1 %d %s\r\nContent-Type: audio/ogg\r\nContent-Length: %llu\r\n"
                     "Accept-Ranges: bytes\r\n%sCache-Control: public, max-age=3600\r\n"
                     "Connection: close\r\n\r\n",
                     rr.status, http_status_text(rr.status), (unsigned long long)rr.length, cr);
    conn_send_file(c, hdr, (size_t)n, head ? -1 : fd, rr.first, rr.length);
    if (head) close(fd);
}

static void raise_hand(struct conn *c, const char *id, const char *body, size_t len)
{
    struct space_rt *sp = rt_find(c->srv, id);
    char copy[API_BODY_BYTES_MAX + 1], err[JSON_REASON_BYTES], buf[256];
    struct json_doc d;
    if (!sp) return api_error(c, 409, "not_live", "hands are raised in a live space");
    memcpy(copy, body, len);
    if (!len || json_parse(copy, len, &d, err, sizeof(err)) < 0)
        return api_error(c, 400, "bad_json", len ? err : "a JSON object with a name");
    const struct json_member *nm = json_find(&d, "name");
    if (!nm || nm->type != JSON_STRING || !nm->str_len || nm->str_len > 64)
        return api_error(c, 400, "bad_field", "name is a string of 1..64 bytes");
    if (sp->hands_len == SPACE_HANDS_MAX)
        return api_error(c, 429, "too_many", "the host has many raised hands already");
    struct hand *h = &sp->hands[sp->hands_len++];
    h->id = ++sp->next_hand;
    snprintf(h->name, sizeof(h->name), "%s", nm->str);
    struct json_writer w;
    json_w_init(&w, buf, sizeof(buf));
    json_w_object_begin(&w);
    json_w_kstr(&w, "type", "hand");
    json_w_kint(&w, "hand", h->id);
    json_w_kstr(&w, "name", h->name);
    json_w_object_end(&w);
    if (json_w_finish(&w) >= 0) {
        struct stage_peer *hostp = NULL;
        for (struct stage_peer *p = sp->peers; p; p = p->next)
            if (p->is_host) hostp = p;
        if (hostp) stage_send_text(hostp, buf, w.len); /* may close it: after the walk */
        conn_respond(c, 202, "application/json", buf, w.len, false);
    }
}

/* GET .../hands (host): the raised hands, oldest first. The host answers
 * one by inviting (POST .../speakers) and lowers it with ?lower=ID. */
static void list_hands(struct conn *c, const struct http_request *req, const char *id)
{
    struct space_rt *sp = rt_find(c->srv, id);
    const char *tok, *v;
    size_t tl, vl;
    if (!bearer_or_token(req, &tok, &tl) || !store_host_key_verify(c->srv->store, id, tok, tl))
        return api_error(c, 401, "unauthorized", "the host key is needed (Authorization: Bearer)");
    if (!sp) return api_error(c, 409, "not_live", "hands are raised in a live space");
    if (http_query_param(req->query, req->query_len, "lower", &v, &vl)) {
        uint32_t want = (uint32_t)strtoul(v, NULL, 10);
        for (uint32_t i = 0; i < sp->hands_len; i++)
            if (sp->hands[i].id == want) {
                memmove(&sp->hands[i], &sp->hands[i + 1],
                        (sp->hands_len - i - 1) * sizeof(sp->hands[0]));
                sp->hands_len--;
                break;
            }
    }
    char buf[SPACE_HANDS_MAX * 200 + 64];
    struct json_writer w;
    json_w_init(&w, buf, sizeof(buf));
    json_w_object_begin(&w);
    json_w_key(&w, "hands");
    json_w_array_begin(&w);
    for (uint32_t i = 0; i < sp->hands_len; i++) {
        json_w_object_begin(&w);
        json_w_kint(&w, "hand", sp->hands[i].id);
        json_w_kstr(&w, "name", sp->hands[i].name);
        json_w_object_end(&w);
    }
    json_w_array_end(&w);
    json_w_object_end(&w);
    int n = json_w_finish(&w);
    if (n < 0) return api_error(c, 500, "internal", "answer too large");
    conn_respond(c, 200, "application/json", buf, (size_t)n, false);
}

bool space_route(struct conn *c, const struct http_request *req, const char *id, const char *seg,
                 size_t seg_len, const char *body, size_t body_len)
{
    bool get = http_method_is(req, "GET"), head = http_method_is(req, "HEAD");
    if (seg_len == 5 && !memcmp(seg, "stage", 5)) {
        if (!get)
            api_error(c, 405, "method", "GET with Upgrade: websocket");
        else
            stage_route(c, req, id);
        return true;
    }
    if (seg_len == 9 && !memcmp(seg, "recording", 9)) {
        if (!get && !head)
            api_error(c, 405, "method", "GET or HEAD");
        else
            serve_recording(c, req, id, head);
        return true;
    }
    if (seg_len == 5 && !memcmp(seg, "hands", 5)) {
        if (http_method_is(req, "POST"))
            raise_hand(c, id, body, body_len);
        else if (get)
            list_hands(c, req, id);
        else
            api_error(c, 405, "method", "POST (raise) or GET (host: the list)");
        return true;
    }
    return false;
}

/* ---- a PUT/SOURCE into the mix, paced ---------------------------------- */

int space_source_attach(struct server *srv, const char *name, struct source *s)
{
    struct store_space row;
    const char *why;
    if (!srv->spaces || strlen(name) != STORE_ID_CHARS) return -ENOENT;
    if (store_space_get(srv->store, name, &row) < 0) return -ENOENT;
    if (row.state == STORE_ENDED) return -EINVAL;
    struct space_rt *sp = rt_start(srv, &row, &why);
    if (!sp) return -ENOSPC;
    if (sp->src) return -EBUSY;
    struct space_speaker *k = speaker_slot(sp, "source", "source");
    if (!k) return -ENOSPC;
    sp->pace = malloc(SPACE_PACE_PACKETS * sizeof(*sp->pace));
    if (!sp->pace) return -ENOMEM;
    sp->pace_head = sp->pace_len = 0;
    sp->pace_n = 0;
    sp->pace_t0_us = 0;
    sp->src = s;
    sp->src_num = k->num;
    k->gone_since_ms = 0;
    source_set_space(s, sp);
    if (!timer_armed(&srv->spaces->pace_timer))
        timer_start(srv->loop, &srv->spaces->pace_timer, MIXTHREAD_TICK_US / 1000);
    event(sp, "joined", k);
    return 0;
}

void space_source_packet(struct source *s, const uint8_t *pkt, uint32_t len, int samples)
{
    struct space_rt *sp = source_space(s);
    if (!sp || !sp->pace) return;
    if (len > MIXER_PACKET_BYTES_MAX || sp->pace_len == SPACE_PACE_PACKETS) {
        sp->srv->m.stage_audio_drops++;
        return;
    }
    struct pace_pkt *p = &sp->pace[(sp->pace_head + sp->pace_len++) % SPACE_PACE_PACKETS];
    p->len = (uint16_t)len;
    memcpy(p->data, pkt, len);
    (void)samples; /* 20 ms packets only; the mixer counts others as bad */
}

void space_source_detach(struct source *s)
{
    struct space_rt *sp = source_space(s);
    if (!sp) return;
    struct space_speaker *k = spk_by_num(sp, sp->src_num);
    if (k) {
        k->gone_since_ms = loop_now_ms(sp->srv->loop);
        if (!k->gone_since_ms) k->gone_since_ms = 1;
        event(sp, "left", k);
    }
    free(sp->pace);
    sp->pace = NULL;
    sp->src = NULL;
}

/* Releases each paced source's packets at 20 ms intervals from its first,
 * so a source that sends a second at a time reaches the jitter buffer as a
 * steady speaker would. */
static void on_pace(struct loop *loop, struct timer *t)
{
    struct server *srv = t->data;
    struct space_sys *ss = srv->spaces;
    uint64_t now = loop_now_us(loop);
    bool any = false;
    for (uint32_t i = 0; i < ss->len; i++) {
        struct space_rt *sp = ss->rt[i];
        if (!sp->src || !sp->pace) continue;
        any = true;
        if (!sp->pace_len) continue;
        if (!sp->pace_t0_us ||
            now > sp->pace_t0_us + (sp->pace_n * MIXTHREAD_TICK_US) + SPACE_PACE_LATE_MS * 1000) {
            sp->pace_t0_us = now; /* start, or restart after a pause */
            sp->pace_n = 0;
        }
        while (sp->pace_len && sp->pace_t0_us + sp->pace_n * MIXTHREAD_TICK_US <= now) {
            struct pace_pkt *p = &sp->pace[sp->pace_head];
            if (mixthread_push(sp->mt, sp->mts, sp->src_num, sp->pace_seq,
                               (uint32_t)(sp->pace_seq * MIXER_FRAME_SAMPLES), p->data, p->len,
                               now) < 0)
                srv->m.stage_audio_drops++;
            sp->pace_seq++;
            sp->pace_n++;
            sp->pace_head = (sp->pace_head + 1) % SPACE_PACE_PACKETS;
            sp->pace_len--;
        }
    }
    if (any) timer_start(loop, t, MIXTHREAD_TICK_US / 1000);
}

/* ---- RTP ---------------------------------------------------------------- */

static bool addr_key(const char *text, uint8_t out[16])
{
    struct in_addr a4;
    memset(out, 0, 16);
    if (inet_pton(AF_INET, text, &a4) == 1) {
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        return true;
    }
    return inet_pton(AF_INET6, text, out) == 1;
}

static int collect_route(void *ctx, const struct store_space *sp)
{
    struct space_sys *ss = ctx;
    if (!sp->rtp_enabled || ss->routes_len == SPACE_RTP_ROUTES_MAX) return 0;
    struct rtp_route *r = &ss->routes[ss->routes_len];
    if (!addr_key(sp->rtp_source_addr, r->addr)) return 0;
    r->port = sp->rtp_source_port;
    memcpy(r->id, sp->id, sizeof(r->id));
    ss->routes_len++;
    return 0;
}

void space_rtp_refresh(struct server *srv)
{
    struct space_sys *ss = srv->spaces;
    if (!ss || !srv->store) return;
    ss->routes_len = 0;
    struct store_page pg = {.by_state = true, .state = STORE_LIVE, .limit = STORE_LIST_LIMIT_MAX};
    store_space_list(srv->store, &pg, collect_route, ss);
    pg.state = STORE_SCHEDULED;
    store_space_list(srv->store, &pg, collect_route, ss);
}

void space_rtp_packet(struct server *srv, const struct sockaddr_storage *from,
                      const struct rtp_packet *pk)
{
    struct space_sys *ss = srv->spaces;
    uint8_t key[16] = {0};
    uint16_t port;
    if (from->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)from;
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &a->sin_addr, 4);
        port = ntohs(a->sin_port);
    } else {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)from;
        memcpy(key, &a->sin6_addr, 16);
        port = ntohs(a->sin6_port);
    }
    const struct rtp_route *r = NULL;
    for (uint32_t i = 0; i < ss->routes_len && !r; i++)
        if (!memcmp(ss->routes[i].addr, key, 16) &&
            (!ss->routes[i].port || ss->routes[i].port == port))
            r = &ss->routes[i];
    if (!r) {
        srv->m.rtp_unexpected++;
        return;
    }
    struct space_rt *sp = rt_find(srv, r->id);
    if (!sp) {
        struct store_space row;
        const char *why;
        if (store_space_get(srv->store, r->id, &row) < 0 || row.state == STORE_ENDED) return;
        sp = rt_start(srv, &row, &why);
        if (!sp) return;
    }
    struct space_speaker *k = speaker_slot(sp, "rtp", "rtp");
    if (!k) return;
    if (k->gone_since_ms) event(sp, "joined", k);
    k->gone_since_ms = 0;
    k->rtp_last_ms = loop_now_ms(srv->loop);
    if (mixthread_push(sp->mt, sp->mts, k->num, pk->seq, pk->ts, pk->payload,
                       (uint32_t)pk->payload_len, loop_now_us(srv->loop)) < 0)
        srv->m.stage_audio_drops++;
}

/* ---- housekeeping ------------------------------------------------------ */

uint64_t space_listeners(const struct server *srv, const char *id)
{
    struct mount *m = mount_find((struct server *)srv, id);
    if (!m) return 0;
    uint64_t l, j;
    workers_mount_counts(srv, m, &l, &j);
    return l;
}

void space_housekeeping(struct server *srv, uint64_t now_ms)
{
    struct space_sys *ss = srv->spaces;
    if (!ss) return;
    for (uint32_t i = 0; i < ss->len;) {
        struct space_rt *sp = ss->rt[i];
        uint64_t grace = srv->conf.stage_grace_ms;
        if (sp->host_gone_since_ms && now_ms - sp->host_gone_since_ms >= grace) {
            space_end(srv, sp->id, "the host was gone past the grace period");
            continue; /* sp is gone; slot i holds another */
        }
        for (unsigned k = 0; k < MIXER_SPEAKERS_MAX; k++) {
            struct space_speaker *s = &sp->spk[k];
            if (s->in_use && s->rtp_last_ms && !s->gone_since_ms &&
                now_ms - s->rtp_last_ms >= srv->conf.source_timeout_ms)
                s->gone_since_ms = now_ms; /* RTP went quiet: like a disconnect */
            if (s->in_use && !s->peer && s->gone_since_ms && now_ms - s->gone_since_ms >= grace)
                speaker_free(sp, s);
        }
        struct stage_peer *pn;
        for (struct stage_peer *p = sp->peers; p; p = pn) {
            pn = p->next;
            stage_tick(p, now_ms);
        }
        if (sp->rec) recording_sync(sp->rec, (int64_t)now_ms);
        uint64_t l = space_listeners(srv, sp->id);
        if (l > sp->peak_stored) {
            sp->peak_stored = l;
            store_space_peak(srv->store, sp->id, (uint32_t)l);
        }
        i++;
    }
}

uint32_t space_live_count(const struct server *srv)
{
    return srv->spaces ? srv->spaces->len : 0;
}

void space_mix_stats(const struct server *srv, struct space_mix_stats *out)
{
    const struct space_sys *ss = srv->spaces;
    memset(out, 0, sizeof(*out));
    if (!ss) return;
    for (uint32_t i = 0; i < ss->mt_len; i++) {
        struct mixthread_stats st;
        mixthread_stats(ss->mt[i], &st);
        out->ticks += st.ticks;
        out->deadline_misses += st.deadline_misses;
        out->skipped_ticks += st.skipped_ticks;
        out->in_drops += st.in_drops;
        out->work_us += st.work_us_total;
        out->realtime_threads += st.realtime;
    }
    out->threads = ss->mt_len;
}

/* ---- start and stop ---------------------------------------------------- */

static int collect_live(void *ctx, const struct store_space *sp)
{
    struct {
        struct store_space *a;
        uint32_t n;
    } *c = ctx;
    c->a[c->n++] = *sp;
    return 0;
}

/* Recordings of spaces the last process left live are repaired (cut to the
 * last whole page) before the store ends those spaces at their last write. */
static void recover_recordings(struct server *srv)
{
    struct store_page pg = {.by_state = true, .state = STORE_LIVE, .limit = STORE_LIST_LIMIT_MAX};
    struct store_space *live = calloc(STORE_LIST_LIMIT_MAX, sizeof(*live));
    struct {
        struct store_space *a;
        uint32_t n;
    } ctx = {live, 0};
    if (!live) return;
    store_space_list(srv->store, &pg, collect_live, &ctx);
    for (uint32_t i = 0; i < ctx.n; i++) {
        char path[512];
        struct recording_info info;
        struct store_recording r;
        struct stat st;
        char err[STORE_REASON_BYTES];
        if (store_recording_get(srv->store, live[i].id, &r) < 0) continue;
        snprintf(path, sizeof(path), "%s/%s", srv->conf.data_dir, r.path);
        if (recording_repair(path, &info) < 0) continue;
        r.bytes = info.bytes;
        r.duration_ms = info.duration_ms;
        r.complete = info.complete;
        if (stat(path, &st) == 0)
            r.updated_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        store_recording_upsert(srv->store, &r, err, sizeof(err));
        log_info("space %s: recording repaired after a crash (%llu ms)", live[i].id,
                 (unsigned long long)info.duration_ms);
    }
    free(live);
    int ended = store_recover(srv->store, wall_ms());
    if (ended > 0) log_info("%d space(s) left live by the last run are now ended", ended);
}

/* mix_threads_start: conf.mix_threads threads (0: one per online CPU, up
 * to SPACE_MIX_THREADS_AUTO_MAX), each watched by the loop. A refused
 * SCHED_FIFO is logged once here and shows in /metrics; the threads then
 * run at normal priority. 0 or -1 (logged). */
static int mix_threads_start(struct server *srv, struct space_sys *ss)
{
    uint32_t n = srv->conf.mix_threads;
    if (n == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        if (cpus < 1) cpus = 1; /* sysconf failed */
        n = cpus > SPACE_MIX_THREADS_AUTO_MAX ? SPACE_MIX_THREADS_AUTO_MAX : (uint32_t)cpus;
    }
    ss->mt = calloc(n, sizeof(*ss->mt));
    ss->mix_io = calloc(n, sizeof(*ss->mix_io));
    if (!ss->mt || !ss->mix_io) {
        log_error("mix threads: out of memory");
        return -1;
    }
    struct mixthread_config mc;
    mixthread_config_default(&mc);
    mc.spaces_max = srv->conf.mounts_max;
    mc.rt_priority = (int)srv->conf.mix_rt_priority;
    /* The output ring is sized in ticks of all spaces; each thread holds
     * its share of them. */
    mc.out_queue_bytes_max /= n;
    if (mc.out_queue_bytes_max < (1u << 20)) mc.out_queue_bytes_max = 1u << 20;
    uint32_t realtime = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct mixthread *mt = mixthread_new(&mc);
        if (!mt) {
            log_error("mix thread: %s", strerror(errno));
            return -1;
        }
        ss->mt[ss->mt_len++] = mt; /* freed by space_system_stop from here on */
        int rc = mixthread_start(mt);
        if (rc < 0) {
            log_error("mix thread: %s", strerror(-rc));
            return -1;
        }
        io_init(&ss->mix_io[i], mixthread_fd(mt), on_mix_output, srv);
        io_set(srv->loop, &ss->mix_io[i], LOOP_READ);
        struct mixthread_stats st;
        mixthread_stats(mt, &st);
        realtime += st.realtime;
    }
    if (mc.rt_priority > 0 && realtime < n)
        log_warn("mix threads: SCHED_FIFO priority %d refused for %u of %u (it needs "
                 "CAP_SYS_NICE or an RLIMIT_RTPRIO of at least that): they run at normal "
                 "priority, where busy workers can delay the mix",
                 mc.rt_priority, n - realtime, n);
    else if (mc.rt_priority > 0)
        log_info("mix threads: %u at SCHED_FIFO priority %d", n, mc.rt_priority);
    else
        log_info("mix threads: %u at normal priority (mix_rt_priority = 0)", n);
    return 0;
}

int space_system_init(struct server *srv)
{
    char err[256];
    struct space_sys *ss = calloc(1, sizeof(*ss));
    if (!ss) return -1;
    srv->spaces = ss;
    if (store_open(&srv->store, srv->conf.data_dir, err, sizeof(err)) < 0) {
        log_error("store: %s", err);
        return -1;
    }
    recover_recordings(srv);
    space_rtp_refresh(srv);
    mixer_config_default(&ss->mcfg);
    ss->mcfg.program_bitrate_bps = srv->conf.mix_bitrate_bps;
    ss->preskip = program_preskip();
    timer_init(&ss->pace_timer, on_pace, srv);
    return mix_threads_start(srv, ss);
}

void space_system_stop(struct server *srv)
{
    struct space_sys *ss = srv->spaces;
    if (!ss) return;
    /* Spaces still live stay live in the store: a restart ends them (the
     * host may be back before that, with the grace period). Their
     * recordings are closed cleanly now. */
    for (uint32_t i = 0; i < ss->len; i++) {
        struct space_rt *sp = ss->rt[i];
        while (sp->peers)
            stage_close(sp->peers, WS_CLOSE_GOING_AWAY, "server stopping");
        if (sp->src) source_set_space(sp->src, NULL); /* it is closed as a plain source */
        finish_recording(sp);
        if (sp->mount) sp->mount->space = NULL;
        free(sp->pace);
        free(sp);
    }
    for (uint32_t i = 0; i < ss->mt_len; i++) {
        if (ss->mix_io[i].events) io_set(srv->loop, &ss->mix_io[i], 0);
        mixthread_free(ss->mt[i]);
    }
    free(ss->mt);
    free(ss->mix_io);
    timer_stop(srv->loop, &ss->pace_timer);
    free(ss->rt);
    free(ss);
    srv->spaces = NULL;
    store_close(srv->store);
    srv->store = NULL;
}
