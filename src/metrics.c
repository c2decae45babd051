/* metrics: Prometheus text exposition (format 0.0.4). */
#include "metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "gate.h"
#include "gatejoin.h"
#include "mount.h"
#include "ring.h"
#include "server.h"
#include "space.h"
#include "workers.h"

static const char *const reason_names[REJ__COUNT] = {
    [REJ_BAD_REQUEST] = "bad_request",
    [REJ_METHOD] = "method_not_allowed",
    [REJ_HEADER_TOO_LARGE] = "header_too_large",
    [REJ_URI_TOO_LONG] = "uri_too_long",
    [REJ_NOT_FOUND] = "not_found",
    [REJ_UNAUTHORIZED] = "unauthorized",
    [REJ_MOUNT_BUSY] = "mount_busy",
    [REJ_UNSUPPORTED_MEDIA] = "unsupported_media",
    [REJ_LISTENER_CAP] = "listener_cap",
    [REJ_MOUNT_CAP] = "mount_cap",
    [REJ_HEADER_TIMEOUT] = "header_timeout",
    [REJ_CONNECTION_CAP] = "connection_cap",
    [REJ_OUT_OF_MEMORY] = "out_of_memory",
    [REJ_HANDOFF] = "handoff_busy",
    [REJ_BODY_TOO_LARGE] = "body_too_large",
};

const uint32_t flush_lag_bucket_ms[FLUSH_LAG_BUCKETS] = {50, 100, 250, 500, 1000, 2000};

void metrics_flush_lag(struct metrics *m, uint64_t lag_ms)
{
    m->flush_passes++;
    m->flush_lag_ms += lag_ms;
    for (int i = 0; i < FLUSH_LAG_BUCKETS; i++)
        if (lag_ms <= flush_lag_bucket_ms[i]) {
            m->flush_lag[i]++;
            return;
        }
}

const char *reject_reason_name(enum reject_reason r)
{
    return r < REJ__COUNT ? reason_names[r] : "unknown";
}

struct buf {
    char *p;
    size_t len, cap;
    int err;
};

static void put(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    if (b->err) return;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->err = -EINVAL;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->err = -ENOMEM;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(struct buf *b, const char *name, const char *type, const char *help, uint64_t v)
{
    family(b, name, type, help);
    put(b, "%s %llu\n", name, (unsigned long long)v);
}

int metrics_render(const struct server *srv, char **out, size_t *len)
{
    struct metrics total;
    const struct metrics *m = &total;
    struct buf b = {malloc(4096), 0, 4096, 0};
    if (!b.p) return -ENOMEM;
    workers_totals(srv, &total);
    uint64_t ml[srv->mounts_len + 1], mj[srv->mounts_len + 1];
    for (uint32_t i = 0; i < srv->mounts_len; i++)
        workers_mount_counts(srv, srv->mounts[i], &ml[i], &mj[i]);

    one(&b, "podium_listeners", "gauge", "Listeners connected now.", m->listeners);
    family(&b, "podium_mount_listeners", "gauge", "Listeners connected now, by mount.");
    for (uint32_t i = 0; i < srv->mounts_len; i++)
        put(&b, "podium_mount_listeners{mount=\"/live/%s.opus\"} %llu\n", srv->mounts[i]->name,
            (unsigned long long)ml[i]);
    one(&b, "podium_listener_joins_total", "counter",
        "Listeners that were answered 200 and started receiving.", m->listener_joins);
    family(&b, "podium_mount_listener_joins_total", "counter", "Listener joins, by mount.");
    for (uint32_t i = 0; i < srv->mounts_len; i++)
        put(&b, "podium_mount_listener_joins_total{mount=\"/live/%s.opus\"} %llu\n",
            srv->mounts[i]->name, (unsigned long long)mj[i]);
    one(&b, "podium_listener_leaves_total", "counter",
        "Listeners that disconnected or failed a write.", m->listener_leaves);
    one(&b, "podium_listener_junk_closes_total", "counter",
        "Listeners closed for sending data after their request.", m->junk_from_listeners);
    one(&b, "podium_bytes_sent_total", "counter", "Bytes written to listeners.", m->bytes_sent);
    one(&b, "podium_listener_writes_total", "counter", "Writes (send, sendmsg) to listeners.", m->writes);
    family(&b, "podium_flush_lag_seconds", "histogram",
           "Flush passes that wrote to listeners, by how long after their due time the last "
           "write was done.");
    {
        uint64_t cum = 0;
        for (int i = 0; i < FLUSH_LAG_BUCKETS; i++) {
            cum += m->flush_lag[i];
            put(&b, "podium_flush_lag_seconds_bucket{le=\"%g\"} %llu\n",
                flush_lag_bucket_ms[i] / 1000.0, (unsigned long long)cum);
        }
        put(&b, "podium_flush_lag_seconds_bucket{le=\"+Inf\"} %llu\n",
            (unsigned long long)m->flush_passes);
        put(&b, "podium_flush_lag_seconds_sum %.3f\n", m->flush_lag_ms / 1000.0);
        put(&b, "podium_flush_lag_seconds_count %llu\n", (unsigned long long)m->flush_passes);
    }
    family(&b, "podium_rejections_total", "counter", "Requests or connections refused, by reason.");
    for (int r = 0; r < REJ__COUNT; r++)
        put(&b, "podium_rejections_total{reason=\"%s\"} %llu\n", reason_names[r],
            (unsigned long long)m->rejects[r]);
    /* The gate's reasons in the same family (no name is in both lists):
     * each refusal is counted once, under the reason its answer names. */
    for (int r = 0; r < TIMELINE_REASONS; r++)
        put(&b, "podium_rejections_total{reason=\"%s\"} %llu\n",
            timeline_reason_name((enum timeline_reason)r), (unsigned long long)m->gate_rejects[r]);
    family(&b, "podium_gate_joins_total", "counter", "Join answers, by outcome.");
    for (int o = 0; o < TIMELINE_OUTCOMES; o++)
        put(&b, "podium_gate_joins_total{outcome=\"%s\"} %llu\n",
            timeline_outcome_name((enum timeline_outcome)o), (unsigned long long)m->gate_joins[o]);
    one(&b, "podium_gate_requests_total", "counter",
        "Requests the gate looked at (routed, refused at accept, malformed, timed out).",
        m->gate_requests);
    one(&b, "podium_gate_glitches_total", "counter",
        "Malformed input events (bad requests, header timeouts, forged tickets, bad puzzles).",
        m->gate_glitches);
    one(&b, "podium_gate_tickets_ok_total", "counter",
        "Stream requests on ticketed spaces whose admission ticket verified.", m->gate_tickets_ok);
    one(&b, "podium_gate_puzzles_issued_total", "counter", "Puzzles handed out with a 202.",
        m->gate_puzzles_issued);
    one(&b, "podium_gate_puzzles_solved_total", "counter", "Puzzle solutions accepted.",
        m->gate_puzzles_solved);
    one(&b, "podium_gate_proxied_total", "counter",
        "Requests whose client a trusted proxy named (PROXY header or X-Forwarded-For).",
        m->gate_proxied);
    if (srv->gate) {
        const struct gate *gt = srv->gate;
        one(&b, "podium_overload_level", "gauge",
            "This process's overload level (0..4; the origin's when workers run).", gt->ov.level);
        one(&b, "podium_overload_pressure_permille", "gauge",
            "Highest of CPU, memory and connection pressure at the last sample, in permille.",
            gt->ov.pressure_permille);
        one(&b, "podium_overload_transitions_total", "counter",
            "Overload level changes of this process.", gt->ov.transitions);
        one(&b, "podium_gate_prefixes", "gauge",
            "Client prefixes in this process's table.", gt->ipt.st.used);
        one(&b, "podium_gate_prefix_evictions_total", "counter",
            "Prefixes evicted from this process's full table (they start over, fail-open).",
            gt->ipt.st.evictions_idle + gt->ipt.st.evictions_busy);
        one(&b, "podium_gate_spaces", "gauge", "Spaces with admission state (deli counters).",
            gatejoin_space_count(srv));
        if (gt->tl_ok) {
            one(&b, "podium_gate_queue_waiting", "gauge",
                "Numbers handed out and not yet served, all spaces (at the last tick).",
                gt->gauges.waiting);
            one(&b, "podium_gate_pow_bits", "gauge",
                "Highest puzzle difficulty in force (0: no puzzles).", gt->gauges.pow_bits);
        }
    }
    one(&b, "podium_slow_listener_skips_total", "counter",
        "Slow listeners moved ahead to a page boundary after falling out of the window.",
        m->slow_skips);
    one(&b, "podium_slow_listener_drops_total", "counter",
        "Slow listeners disconnected (too many skips, or no progress for write_stall_ms).",
        m->slow_drops);
    one(&b, "podium_sources_connected", "gauge", "Sources feeding a mount now.", m->sources);
    one(&b, "podium_source_connects_total", "counter", "Sources accepted.", m->source_connects);
    one(&b, "podium_source_timeouts_total", "counter", "Sources closed for silence.",
        m->source_timeouts);
    one(&b, "podium_source_bytes_total", "counter", "Bytes read from sources.", m->source_bytes);
    one(&b, "podium_pages_published_total", "counter", "Ogg pages published to rings.", m->pages);
    one(&b, "podium_grace_closes_total", "counter",
        "Listeners closed because their mount had no source for mount_grace_ms.", m->grace_closes);
    one(&b, "podium_connections", "gauge", "Open client connections.", m->connections);
    one(&b, "podium_accepts_total", "counter", "TCP connections accepted.", m->accepts);
    one(&b, "podium_accept_pauses_total", "counter",
        "Times accepting stopped for lack of file descriptors or the connection cap.",
        m->accept_pauses);
    one(&b, "podium_workers", "gauge", "Fan-out worker processes running.",
        workers_running(srv));
    one(&b, "podium_worker_restarts_total", "counter",
        "Worker processes started again after they exited.", workers_restarts(srv));
    one(&b, "podium_handoffs_total", "counter",
        "Connections a worker handed to the origin (sources, /metrics, API).", m->handoffs);
    one(&b, "podium_api_requests_total", "counter", "Requests under /api.", m->api_requests);
    one(&b, "podium_api_errors_total", "counter", "API requests answered with a JSON error.",
        m->api_errors);
    one(&b, "podium_spaces_live", "gauge", "Spaces live now (being mixed).", space_live_count(srv));
    one(&b, "podium_spaces_started_total", "counter", "Spaces that went live.", m->spaces_started);
    one(&b, "podium_stage_joins_total", "counter", "Stage WebSockets accepted (host, speakers).",
        m->stage_joins);
    one(&b, "podium_stage_refused_total", "counter", "Stage joins refused: the stage was full.",
        m->stage_refused);
    one(&b, "podium_stage_audio_drops_total", "counter",
        "Speaker packets dropped before the mix (queue full, oversize).", m->stage_audio_drops);
    one(&b, "podium_stage_return_drops_total", "counter",
        "Mix-minus packets dropped because a speaker's connection was full.",
        m->stage_out_drops);
    one(&b, "podium_stage_bad_messages_total", "counter",
        "Malformed or refused stage messages (each closes or is ignored, counted here).",
        m->stage_bad_messages);
    one(&b, "podium_rtp_packets_total", "counter", "RTP datagrams received that parsed.",
        m->rtp_packets);
    one(&b, "podium_rtp_bad_total", "counter", "UDP datagrams on the RTP port that were not RTP.",
        m->rtp_bad);
    one(&b, "podium_rtp_unexpected_total", "counter",
        "RTP datagrams from an address no space expects (dropped).", m->rtp_unexpected);
    one(&b, "podium_recording_errors_total", "counter", "Recording writes or closes that failed.",
        m->recording_errors);
    {
        struct space_mix_stats ms;
        space_mix_stats(srv, &ms);
        one(&b, "podium_mix_ticks_total", "counter", "20 ms mix ticks run.", ms.ticks);
        one(&b, "podium_mix_deadline_misses_total", "counter",
            "Mix ticks that started late or overran their 20 ms.", ms.deadline_misses);
        one(&b, "podium_mix_skipped_ticks_total", "counter",
            "Mix ticks skipped because a mix thread fell a whole period behind.",
            ms.skipped_ticks);
        one(&b, "podium_mix_input_drops_total", "counter",
            "Speaker packets the mix threads' queues refused.", ms.in_drops);
        one(&b, "podium_mix_work_seconds_total", "counter", "Time the mix threads spent mixing.",
            ms.work_us / 1000000);
        one(&b, "podium_mix_threads", "gauge", "Mix threads running (spaces are spread over them).",
            ms.threads);
        one(&b, "podium_mix_realtime_threads", "gauge",
            "Mix threads running at SCHED_FIFO priority (mix_rt_priority granted).",
            ms.realtime_threads);
    }
    one(&b, "podium_ring_bytes", "gauge", "Bytes held in published chunks.", chunk_live_bytes);
    one(&b, "podium_uptime_seconds", "gauge", "Seconds since start.",
        (loop_now_ms(srv->loop) - srv->started_ms) / 1000);
    if (b.err) {
        free(b.p);
        return b.err;
    }
    *out = b.p;
    *len = b.len;
    return 0;
}
