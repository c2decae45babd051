/* split: multi-process storm (see split.h). */
#include "split.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

uint64_t split_fds_per_proc(uint64_t nofile)
{
    return nofile > 2 * SPLIT_FDS_SPARE ? nofile - SPLIT_FDS_SPARE : nofile / 2;
}

uint32_t split_procs_needed(uint64_t conns, uint64_t nofile)
{
    uint64_t per = split_fds_per_proc(nofile);
    uint64_t n = per ? (conns + per - 1) / per : 1;
    if (n < 1) n = 1;
    return n > SPLIT_PROCS_MAX ? SPLIT_PROCS_MAX : (uint32_t)n;
}

struct child {
    pid_t pid;
    int fd;    /* status pipe, -1 once closed */
    int go_fd; /* start pipe (t0), -1 once sent */
    bool armed;
    char path[96];
    char line[256];
    size_t line_len;
    /* latest snapshot */
    unsigned tick, playing, joins;
    unsigned long long joined, failed, stalls, errors, p50, p99, issue_p99, cpu_us;
    int bound;
};

/* A worker only notes the request; the parent forwards one SIGTERM, and a
 * terminal's SIGINT reaches both: neither may kill the worker outright. */
static void on_stop_signal(int sig)
{
    (void)sig;
    run_stop_requested = 1;
}

static void child_main(const struct run_cfg *base, uint32_t k, uint32_t n, int wfd, int gfd,
                       const char *path)
{
    struct run_cfg cfg = *base;
    static struct storm_result res; /* large: not on the stack */
    cfg.shard = k;
    cfg.shards = n;
    cfg.live = false;
    cfg.status_fd = wfd;
    cfg.go_fd = gfd;
    cfg.t0_us = 0;
    run_catch_stop(on_stop_signal);
    res_init(&res);
    int rc = run_worker(&cfg, &res);
    FILE *f = fopen(path, "w");
    if (!f) _exit(3);
    if (res_write_json(&res, f) < 0) rc = -EIO;
    if (fclose(f) != 0) rc = -EIO;
    _exit(rc < 0 ? 3 : 0);
}

/* "R <armed>": the worker's sockets are prepared; "S ...": a second's
 * snapshot (see run.c tick). */
static void parse_status(struct child *c)
{
    c->line[c->line_len] = 0;
    if (c->line[0] == 'R') {
        c->armed = true;
        return;
    }
    sscanf(c->line, "S %u %u %u %llu %llu %llu %llu %llu %llu %d %llu %llu", &c->tick, &c->playing,
           &c->joins, &c->joined, &c->failed, &c->stalls, &c->errors, &c->p50, &c->p99, &c->bound,
           &c->issue_p99, &c->cpu_us);
}

/* Reads what the workers sent for at most <wait_ms>; returns how many
 * status pipes are still open. */
static uint32_t pump(struct child *cs, uint32_t n, int wait_ms)
{
    struct pollfd pf[SPLIT_PROCS_MAX];
    uint32_t open = 0;
    for (uint32_t k = 0; k < n; k++) pf[k] = (struct pollfd){.fd = cs[k].fd, .events = POLLIN};
    if (poll(pf, n, wait_ms) < 0 && errno != EINTR) return 0;
    for (uint32_t k = 0; k < n; k++) {
        if (cs[k].fd < 0) continue;
        if (!(pf[k].revents & (POLLIN | POLLHUP | POLLERR))) {
            open++;
            continue;
        }
        char buf[1024];
        ssize_t r = read(cs[k].fd, buf, sizeof(buf));
        if (r <= 0) {
            close(cs[k].fd);
            cs[k].fd = -1;
            continue;
        }
        open++;
        for (ssize_t i = 0; i < r; i++) {
            if (buf[i] == '\n') {
                parse_status(&cs[k]);
                cs[k].line_len = 0;
            } else if (cs[k].line_len < sizeof(cs[k].line) - 1) {
                cs[k].line[cs[k].line_len++] = buf[i];
            }
        }
    }
    return open;
}

/* Once every worker has armed its sockets: one t0 for all, a moment ahead
 * so each has woken up by then. 0 or -errno. */
static int send_start(struct child *cs, uint32_t n, uint64_t *t0_out)
{
    uint64_t deadline = clock_mono_us() + RUN_START_WAIT_MS * 1000ull;
    for (;;) {
        uint32_t armed = 0;
        for (uint32_t k = 0; k < n; k++) armed += cs[k].armed;
        if (armed == n) break;
        if (clock_mono_us() > deadline) return -ETIMEDOUT;
        if (pump(cs, n, 100) < n) return -EIO; /* a worker died while arming */
    }
    uint64_t t0 = clock_mono_us() + RUN_START_MARGIN_US;
    char line[48];
    int len = snprintf(line, sizeof(line), "T %llu\n", (unsigned long long)t0);
    for (uint32_t k = 0; k < n; k++) {
        if (write(cs[k].go_fd, line, (size_t)len) != len) return -EIO;
        close(cs[k].go_fd);
        cs[k].go_fd = -1;
    }
    *t0_out = t0;
    return 0;
}

static void print_live(struct child *cs, uint32_t n, uint64_t cores, bool saturated)
{
    unsigned playing = 0, joins = 0, tick = 0;
    unsigned long long failed = 0, stalls = 0, errors = 0, p50 = 0, p99 = 0, ip99 = 0, cpu = 0;
    int bound = 0;
    for (uint32_t i = 0; i < n; i++) {
        playing += cs[i].playing;
        joins += cs[i].joins;
        failed += cs[i].failed;
        stalls += cs[i].stalls;
        errors += cs[i].errors;
        bound += cs[i].bound;
        if (cs[i].tick > tick) tick = cs[i].tick;
        if (cs[i].p50 > p50) p50 = cs[i].p50;
        if (cs[i].p99 > p99) p99 = cs[i].p99;
        if (cs[i].issue_p99 > ip99) ip99 = cs[i].issue_p99;
        cpu += cs[i].cpu_us;
    }
    /* The tool as a whole above 90 % of the machine competes with the server. */
    if (cpu > 900000ull * cores) bound = 1;
    /* Percentiles across workers are only exact after the final merge; live
     * we show the worst worker's. */
    fprintf(stderr,
            "storm t=%us listeners=%u joins/s=%u ttfa p50<=%.0fms p99<=%.0fms stalls=%llu "
            "integrity_errors=%llu failed=%llu issue p99<=%.0fms procs=%u%s%s%s\n",
            tick, playing, joins, p50 / 1000.0, p99 / 1000.0, stalls, errors, failed, ip99 / 1000.0,
            n, ip99 > RES_ISSUE_LATE_US ? " [tool late]" : "", bound ? " [tool cpu-bound]" : "",
            saturated ? " [machine saturated]" : "");
}

int split_run(const struct run_cfg *cfg, uint32_t n, struct storm_result *res)
{
    struct child cs[SPLIT_PROCS_MAX];
    int rc = 0;
    if (n < 1 || n > SPLIT_PROCS_MAX) return -EINVAL;
    memset(cs, 0, sizeof(cs));
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t cores = nc > 0 ? (uint64_t)nc : 1;
    fflush(NULL);
    uint32_t forked = 0;
    for (uint32_t k = 0; k < n; k++) {
        int p[2], g[2];
        snprintf(cs[k].path, sizeof(cs[k].path), "/tmp/podium-storm-%d-%u.json", (int)getpid(), k);
        if (pipe(p) < 0) {
            rc = -errno;
            break;
        }
        if (pipe(g) < 0) {
            rc = -errno;
            close(p[0]);
            close(p[1]);
            break;
        }
        pid_t pid = fork();
        if (pid < 0) {
            rc = -errno;
            close(p[0]);
            close(p[1]);
            close(g[0]);
            close(g[1]);
            break;
        }
        if (pid == 0) {
            close(p[0]);
            close(g[1]);
            for (uint32_t j = 0; j < k; j++) {
                close(cs[j].fd);
                close(cs[j].go_fd);
            }
            child_main(cfg, k, n, p[1], g[0], cs[k].path);
        }
        close(p[1]);
        close(g[0]);
        cs[k].pid = pid;
        cs[k].fd = p[0];
        cs[k].go_fd = g[1];
        forked++;
    }
    /* Every worker arms its sockets, then all start at one t0. */
    uint64_t t0 = 0;
    if (rc == 0) rc = send_start(cs, n, &t0);
    if (rc < 0) {
        for (uint32_t k = 0; k < forked; k++) {
            kill(cs[k].pid, SIGKILL);
            if (cs[k].fd >= 0) close(cs[k].fd);
            if (cs[k].go_fd >= 0) close(cs[k].go_fd);
            waitpid(cs[k].pid, NULL, 0);
            unlink(cs[k].path);
        }
        return rc;
    }
    /* Relay status until every worker closed its pipe; bounded by the run's
     * duration plus a grace period, after which workers are killed. */
    uint64_t deadline = t0 + cfg->duration_us + 30000000u;
    unsigned printed = 0;
    bool forwarded = false;
    struct run_cpustat m0 = {0}, m1;
    uint64_t saturated_s = 0;
    if (run_cpustat_read(&m0) < 0) m0.total = 0;
    for (;;) {
        if (run_stop_requested && !forwarded) {
            for (uint32_t k = 0; k < n; k++) kill(cs[k].pid, SIGTERM);
            forwarded = true;
        }
        if (clock_mono_us() > deadline) {
            for (uint32_t k = 0; k < n; k++)
                if (cs[k].fd >= 0) kill(cs[k].pid, SIGKILL);
            rc = -ETIMEDOUT;
            break;
        }
        if (pump(cs, n, 1000) == 0) break;
        unsigned lo = UINT32_MAX;
        for (uint32_t k = 0; k < n; k++)
            if (cs[k].tick < lo) lo = cs[k].tick;
        if (lo > printed && lo != UINT32_MAX) {
            /* One look at the machine per second of the run (the workers
             * do not: they would count the same second N times). */
            bool saturated = false;
            if (m0.total && run_cpustat_read(&m1) == 0) {
                saturated = run_cpustat_busy_ppm(&m0, &m1) > RUN_MACHINE_SATURATED_PPM;
                m0 = m1;
                saturated_s += saturated;
            }
            printed = lo;
            if (cfg->live) print_live(cs, n, cores, saturated);
        }
    }
    for (uint32_t k = 0; k < n; k++) {
        int st = 0;
        if (cs[k].fd >= 0) close(cs[k].fd);
        waitpid(cs[k].pid, &st, 0);
        size_t len;
        char *text = res_slurp(cs[k].path, &len);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !text) {
            fprintf(stderr, "podium storm: worker %u failed (status %d)\n", k, st);
            if (!rc) rc = -EIO;
        } else {
            static struct storm_result part;
            char err[160];
            if (res_read_json(&part, text, len, err, sizeof(err)) < 0) {
                fprintf(stderr, "podium storm: worker %u result: %s\n", k, err);
                if (!rc) rc = -EIO;
            } else {
                res_merge(res, &part);
            }
        }
        free(text);
        unlink(cs[k].path);
    }
    res->machine_saturated_s += saturated_s;
    return rc;
}
