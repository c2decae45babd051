/* run: one storm worker (see run.h). */
#include "run.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attack.h"
#include "vl.h"

uint64_t run_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

int run_cpustat_read(struct run_cpustat *s)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -errno;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 5) return -EINVAL;
    s->total = 0;
    for (int i = 0; i < 8; i++) s->total += v[i];
    s->idle = v[3] + v[4]; /* idle + iowait */
    return 0;
}

uint32_t run_cpustat_busy_ppm(const struct run_cpustat *a, const struct run_cpustat *b)
{
    if (b->total <= a->total || b->idle < a->idle) return 0;
    uint64_t dt = b->total - a->total, di = b->idle - a->idle;
    return di >= dt ? 0 : (uint32_t)((dt - di) * 1000000u / dt);
}

uint32_t run_tick_index(const struct run *r, uint64_t now_us)
{
    uint64_t t = now_us > r->t0_us ? (now_us - r->t0_us) / 1000000u : 0;
    return t < RES_TIMELINE_MAX ? (uint32_t)t : RES_TIMELINE_MAX - 1;
}

int run_socket(struct run *r)
{
    const struct run_cfg *c = r->cfg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (c->src_count) {
        /* Past ~28k ephemeral ports per address pair: spread over many
         * 127.x source addresses; the port is chosen at connect() time so
         * the whole 4-tuple, not the source port alone, must be unique. */
        int one = 1;
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(c->src_first + r->src_rr++ % c->src_count);
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
    }
    return fd;
}

int run_issue(struct run *r, int fd)
{
    const struct run_cfg *c = r->cfg;
    if (connect(fd, (const struct sockaddr *)&c->target.addr, sizeof(c->target.addr)) < 0 &&
        errno != EINPROGRESS)
        return -errno;
    return 0;
}

int run_connect(struct run *r)
{
    int fd = run_socket(r);
    if (fd < 0) return fd;
    int rc = run_issue(r, fd);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

/* Makes every listener's socket of this shard before the start (see arm.h).
 * A socket that cannot be made now (out of files) is left to launch time,
 * where its failure is counted by reason. */
static void arm_shard(struct run *r)
{
    const struct run_cfg *c = r->cfg;
    uint32_t shards = c->shards ? c->shards : 1;
    uint64_t t = clock_mono_us();
    for (uint32_t j = 0; j < r->nvl; j++) {
        uint64_t gi = (uint64_t)j * shards + c->shard;
        bool fell_back;
        int fd = arm_socket(&c->arm, gi, &fell_back);
        if (fd < 0) {
            r->res->arm_failed++;
            continue;
        }
        vl_arm(r, &r->vls[j], fd);
        r->open_fds++;
        r->res->armed++;
        if (fell_back) r->res->port_fallback++;
    }
    /* Take the unconnected sockets' one readiness report now, not in the
     * middle of the burst (bounded: each is reported once). */
    for (uint32_t k = 0; k <= r->nvl / RUN_EVENTS_MAX + 1; k++)
        if (loop_once(r->loop, 0) <= 0) break;
    r->res->arm_ms = (clock_mono_us() - t) / 1000;
}

/* Closes the prepared sockets of listeners never launched. */
static void disarm(struct run *r)
{
    for (uint32_t j = 0; j < r->nvl; j++) {
        struct vl *v = &r->vls[j];
        if (v->state != VL_WAIT || v->io.fd < 0) continue;
        io_set(r->loop, &v->io, 0);
        close(v->io.fd);
        v->io.fd = -1;
        r->open_fds--;
    }
}

/* The common start. Alone: now. Under the splitter: tell the parent this
 * worker is armed ("R"), then wait (bounded) for the t0 it sends once every
 * worker is. Returns t0, or 0 when none came. */
static uint64_t start_sync(struct run *r)
{
    const struct run_cfg *c = r->cfg;
    if (c->go_fd < 0 || c->status_fd < 0) return c->t0_us ? c->t0_us : clock_mono_us();
    char line[64];
    int n = snprintf(line, sizeof(line), "R %llu\n", (unsigned long long)r->res->armed);
    if (n <= 0 || write(c->status_fd, line, (size_t)n) != n) return 0;
    size_t len = 0;
    uint64_t deadline = clock_mono_us() + RUN_START_WAIT_MS * 1000ull;
    while (len < sizeof(line) - 1) {
        uint64_t now = clock_mono_us();
        if (now >= deadline) return 0;
        struct pollfd pf = {.fd = c->go_fd, .events = POLLIN};
        int pr = poll(&pf, 1, (int)((deadline - now) / 1000 + 1));
        if (pr < 0 && errno != EINTR) return 0;
        if (pr <= 0) continue;
        ssize_t k = read(c->go_fd, line + len, sizeof(line) - 1 - len);
        if (k <= 0) return 0; /* the parent gave up */
        len += (size_t)k;
        line[len] = 0;
        unsigned long long t0;
        if (strchr(line, '\n')) return sscanf(line, "T %llu", &t0) == 1 ? (uint64_t)t0 : 0;
    }
    return 0;
}

static void launch_due(struct loop *loop, struct timer *t)
{
    struct run *r = t->data;
    uint64_t now = loop_now_us(loop);
    uint64_t slice_end = clock_mono_us() + RUN_LAUNCH_SLICE_MS * 1000u;
    unsigned batch = 0;
    /* Connects first: what is due is issued before any read is served, for
     * at most a slice; then one loop iteration of reads, then on. */
    while (r->next_launch < r->nvl && batch < RUN_LAUNCH_BATCH_MAX) {
        struct vl *v = &r->vls[r->next_launch];
        if (v->intended_us > now) break;
        vl_launch(r, v, v->intended_us);
        r->next_launch++;
        batch++;
        if ((batch & 255) == 0) {
            loop_update_time(loop); /* a long burst: keep "now" honest */
            now = loop_now_us(loop);
            if (clock_mono_us() >= slice_end) break;
        }
    }
    if (r->next_launch >= r->nvl || r->ended) return;
    uint64_t next = r->vls[r->next_launch].intended_us;
    uint64_t after_ms = next > now ? (next - now + 999) / 1000 : 0;
    timer_start(loop, t, after_ms);
}

volatile sig_atomic_t run_stop_requested;

void run_catch_stop(void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void end_run(struct loop *loop, struct timer *t);

static void sweep(struct loop *loop, struct timer *t)
{
    struct run *r = t->data;
    uint64_t now = loop_now_us(loop);
    if (run_stop_requested) {
        /* SIGINT/SIGTERM: end now, with a full report of what was seen. */
        end_run(loop, &r->end_timer);
        return;
    }
    for (uint32_t i = 0; i < r->next_launch; i++) vl_sweep(&r->vls[i], now);
    if (r->atk) attack_sweep(r->atk, now);
    timer_start(loop, t, RUN_SWEEP_MS);
}

/* Once a second: timeline, live line, status snapshot, own CPU. */
static void tick(struct loop *loop, struct timer *t)
{
    struct run *r = t->data;
    uint64_t now = loop_now_us(loop);
    struct storm_result *res = r->res;
    /* Counted, not derived from the clock: millisecond timers may fire a
     * hair early and one second must never be reported twice. */
    uint32_t i = ++r->tick_no < RES_TIMELINE_MAX ? r->tick_no : RES_TIMELINE_MAX - 1;
    uint32_t prev = i - 1;
    res->tl[prev].listeners = r->playing;
    if (i > res->ticks) res->ticks = i;
    uint64_t cpu = run_cpu_us();
    uint64_t used = cpu - r->cpu_tick_us;
    r->cpu_tick_us = cpu;
    res->tl[prev].tool_cpu_ms += (uint32_t)(used / 1000);
    /* A worker above 90 % of a core is the bottleneck. (The tool as a whole
     * above 90 % of the machine is judged from the timeline's sum.) */
    bool bound = used > 900000;
    if (bound) r->tool_bound_ticks++;
    /* Alone, the worker also watches the machine (the splitter's parent
     * does it for all its workers). */
    bool saturated = false;
    struct run_cpustat m;
    if (r->cfg->status_fd < 0 && r->machine.total && run_cpustat_read(&m) == 0) {
        saturated = run_cpustat_busy_ppm(&r->machine, &m) > RUN_MACHINE_SATURATED_PPM;
        r->machine = m;
        if (saturated) res->machine_saturated_s++;
    }
    uint64_t p50 = hist_quantile(&res->ttfa, 500000), p99 = hist_quantile(&res->ttfa, 990000);
    uint64_t ip99 = hist_quantile(&res->issue, 990000);
    bool late = ip99 > RES_ISSUE_LATE_US;
    if (r->cfg->live)
        fprintf(stderr,
                "storm t=%us listeners=%u joins/s=%u ttfa p50=%.0fms p99=%.0fms stalls=%llu "
                "errors crc=%llu seq=%llu granule=%llu capture=%llu failed=%llu "
                "issue p99=%.0fms%s%s%s\n",
                i, r->playing, res->tl[prev].joins, p50 / 1000.0, p99 / 1000.0,
                (unsigned long long)res->stalls, (unsigned long long)res->err_crc,
                (unsigned long long)res->err_seq, (unsigned long long)res->err_granule,
                (unsigned long long)res->err_capture, (unsigned long long)res->failed,
                ip99 / 1000.0, late ? " [tool late]" : "", bound ? " [tool cpu-bound]" : "",
                saturated ? " [machine saturated]" : "");
    if (r->cfg->status_fd >= 0) {
        char line[256];
        int n = snprintf(line, sizeof(line), "S %u %u %u %llu %llu %llu %llu %llu %llu %d %llu %llu\n",
                         i, r->playing, res->tl[prev].joins, (unsigned long long)res->joined,
                         (unsigned long long)res->failed, (unsigned long long)res->stalls,
                         (unsigned long long)res_integrity(res), (unsigned long long)p50,
                         (unsigned long long)p99, bound ? 1 : 0, (unsigned long long)ip99,
                         (unsigned long long)used);
        if (n > 0 && write(r->cfg->status_fd, line, (size_t)n) < 0) {
            /* parent gone: keep running, the result file still matters */
        }
    }
    uint64_t next_tick_us = r->t0_us + (uint64_t)(i + 1) * 1000000u;
    timer_start(loop, t, next_tick_us > now ? (next_tick_us - now + 999) / 1000 : 1);
}

static void reconnect_storm(struct loop *loop, struct timer *t)
{
    struct run *r = t->data;
    uint64_t now = loop_now_us(loop);
    uint32_t dropped = 0;
    for (uint32_t i = 0; i < r->next_launch; i++) {
        struct vl *v = &r->vls[i];
        if (v->state == VL_DONE || v->state == VL_WAIT) continue;
        vl_finish(v, now, "reconnect");
        dropped++;
    }
    /* Everyone rejoins at once: the intended arrival is the drop itself. */
    for (uint32_t i = 0; i < r->next_launch; i++) {
        struct vl *v = &r->vls[i];
        if (v->state != VL_DONE || !(v->flags & VL_F_JOINED) || (v->flags & VL_F_REJOIN)) continue;
        v->flags |= VL_F_REJOIN;
        vl_launch(r, v, now);
    }
    res_map_add(&r->res->attack, "reconnect_storm.dropped", dropped);
}

static void end_run(struct loop *loop, struct timer *t)
{
    struct run *r = t->data;
    uint64_t now = loop_now_us(loop);
    r->ended = true;
    if (r->join) join_stop(r->join, now); /* those still waiting in the gate */
    r->res->duration_ms = (now - r->t0_us) / 1000; /* less than planned if stopped early */
    if (now - r->t0_us > (uint64_t)r->tick_no * 1000000u + 500000u) tick(loop, &r->tick_timer);
    for (uint32_t i = 0; i < r->nvl; i++) {
        struct vl *v = &r->vls[i];
        if (v->state == VL_WAIT) continue;
        if (v->state == VL_DONE) continue;
        if (v->first_audio_us) {
            vl_finish(v, now, "completed");
            continue;
        }
        /* Still waiting when the run ends: a failed join, by phase. */
        const char *why = v->state == VL_CONNECTING ? "connect_pending_at_end"
                          : v->state == VL_HEADERS  ? "no_response_at_end"
                                                    : "no_audio_at_end";
        if (v->flags & VL_F_REJOIN) {
            char k[RES_KEY_BYTES];
            snprintf(k, sizeof(k), "reconnect_storm.failed_%s", why);
            res_map_add(&r->res->attack, k, 1);
        } else {
            r->res->failed++;
            res_map_add(&r->res->by_reason, why, 1);
        }
        vl_finish(v, now, "failed");
    }
    /* Never launched (the run ended before their time): not counted as joins. */
    uint32_t unlaunched = r->nvl - r->next_launch;
    if (unlaunched) res_map_add(&r->res->ended, "not_launched", unlaunched);
    disarm(r);
    if (r->atk) attack_stop(r->atk, now);
    timer_stop(loop, &r->launch_timer);
    timer_stop(loop, &r->sweep_timer);
    timer_stop(loop, &r->tick_timer);
    timer_stop(loop, &r->storm_timer);
    timer_stop(loop, &r->end_timer);
    loop_stop(loop);
}

static void build_request(struct run *r)
{
    const struct run_cfg *c = r->cfg;
    unsigned port = ntohs(c->target.addr.sin_port);
    int n = snprintf(r->request, sizeof(r->request),
                     "GET %s HTTP/1.0\r\nHost: %s:%u\r\nUser-Agent: podium-storm/1\r\n"
                     "Accept: */*\r\nIcy-MetaData: 0\r\n\r\n",
                     c->mount, c->target.host, port);
    r->request_len = n > 0 && (size_t)n < sizeof(r->request) ? (size_t)n : 0;
}

int run_worker(const struct run_cfg *cfg, struct storm_result *res)
{
    struct run r;
    int rc = -ENOMEM;
    memset(&r, 0, sizeof(r));
    r.cfg = cfg;
    r.res = res;
    res->procs = 1;
    /* Storm shares the cores with the server it measures. As a batch task
     * its wake-ups (one per listener's write, thousands a second) do not
     * preempt the server mid-pass; it reads what came when the scheduler
     * gives it the core, and a late read can only count against the
     * server. Best effort: no privilege is needed, a refusal changes
     * nothing else. */
    struct sched_param sp = {0};
    (void)sched_setscheduler(0, SCHED_BATCH, &sp);
    res->duration_ms = cfg->duration_us / 1000;
    uint32_t shards = cfg->shards ? cfg->shards : 1;
    r.nvl = cfg->listeners / shards + (cfg->shard < cfg->listeners % shards ? 1 : 0);
    res->listeners_target = r.nvl;
    r.loop = loop_new(RUN_EVENTS_MAX);
    if (!r.loop) return -errno;
    r.rbuf = malloc(RUN_READ_BYTES);
    r.vls = calloc(r.nvl ? r.nvl : 1, sizeof(*r.vls));
    if (!r.rbuf || !r.vls) goto out_free;
    for (uint32_t j = 0; j < r.nvl; j++) {
        r.vls[j].run = &r;
        r.vls[j].io.fd = -1;
    }
    build_request(&r);
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    res->cores = nc > 0 ? (uint64_t)nc : 1;
    /* Everything a join needs before its time, so that at t0 only
     * connect() calls are left (a burst is issued on schedule). */
    arm_shard(&r);
    r.t0_us = start_sync(&r);
    if (!r.t0_us) {
        rc = -ETIMEDOUT;
        goto out_free;
    }
    r.end_us = r.t0_us + cfg->duration_us;
    for (uint32_t j = 0; j < r.nvl; j++) {
        uint64_t gi = (uint64_t)j * shards + cfg->shard; /* global index: shards interleave */
        r.vls[j].intended_us = r.t0_us + sopt_arrival_at_us(&cfg->arrival, gi, cfg->listeners);
    }
    if (sopt_attack_any(&cfg->attack)) {
        r.atk = attack_new(&r);
        if (!r.atk) goto out_free;
    }
    if (cfg->join.space[0] && !(r.join = join_new(&r))) goto out_free;
    /* Wait for the common start (every worker is armed by then). */
    while (clock_mono_us() < r.t0_us) {
        uint64_t d = r.t0_us - clock_mono_us();
        usleep(d > 100000 ? 100000 : (useconds_t)d);
    }
    loop_update_time(r.loop);
    r.cpu_start_us = r.cpu_tick_us = run_cpu_us();
    if (cfg->status_fd < 0 && run_cpustat_read(&r.machine) < 0) r.machine.total = 0;
    timer_init(&r.launch_timer, launch_due, &r);
    timer_init(&r.sweep_timer, sweep, &r);
    timer_init(&r.tick_timer, tick, &r);
    timer_init(&r.end_timer, end_run, &r);
    timer_init(&r.storm_timer, reconnect_storm, &r);
    timer_start(r.loop, &r.launch_timer, 0);
    timer_start(r.loop, &r.sweep_timer, RUN_SWEEP_MS);
    timer_start(r.loop, &r.tick_timer, 1000);
    timer_start(r.loop, &r.end_timer, cfg->duration_us / 1000);
    if (cfg->attack.reconnect_at_us != UINT64_MAX && cfg->attack.reconnect_at_us < cfg->duration_us)
        timer_start(r.loop, &r.storm_timer, cfg->attack.reconnect_at_us / 1000);
    if (r.atk) attack_start(r.atk);
    if (r.join) join_start(r.join);
    rc = loop_run(r.loop);
    res->cpu_us = run_cpu_us() - r.cpu_start_us;
    res->tool_bound_s += r.tool_bound_ticks;
out_free:
    if (r.join) join_free(r.join);
    if (r.atk) attack_free(r.atk);
    if (r.vls) disarm(&r);
    free(r.vls);
    free(r.rbuf);
    loop_free(r.loop);
    return rc;
}
