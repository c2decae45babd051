/* storm: `podium storm` — CLI, loopback guard, resource limits and the choice
 * between one worker and several processes; `podium storm merge`.
 */
#include "storm.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "arm.h"
#include "loop.h"
#include "report.h"
#include "result.h"
#include "run.h"
#include "sopt.h"
#include "split.h"

#define STORM_LISTENERS_MAX 10000000u
#define STORM_CONNS_ONE_SOURCE 10000u /* up to this many connections, 127.0.0.1 and the kernel's ports */
#define STORM_SOURCES_MAX 253u        /* 127.0.0.2 .. 127.0.0.254 */

static void usage(FILE *f)
{
    fputs("usage: podium storm --target http://127.0.0.1:8000 --mount /live/NAME.opus\n"
          "         [--listeners N] [--arrival burst|ramp:10s|rate:5000/s] [--duration 60s]\n"
          "         [--attack slowloris=N,idle=N,flood=N/s,slow-readers=N,reconnect-storm@30s,\n"
          "                   forged-tickets=N/s,join-flood=N/s]\n"
          "         [--space ID [--prefixes N[@127.A.B.0]] [--join-log FILE]]\n"
          "         [--sources 127.0.0.2-127.0.0.40] [--slo ttfa_p99=1s,stalls=0,joined=100%]\n"
          "         [--json FILE] [--html FILE] [--procs N] [--src-ports explicit|kernel] [--quiet]\n"
          "         [--allow-remote] [--allow-remote-attack]\n"
          "       podium storm merge A.json B.json... [--json FILE] [--html FILE] [--slo SPEC]\n"
          "\n"
          "Plays a flash crowd (open arrival, closed listening) plus optional attack traffic\n"
          "against an Icecast-compatible mount, verifies every Ogg page every virtual listener\n"
          "receives, and gates on SLOs. SLO keys: ttfa_p50 ttfa_p90 ttfa_p99 ttfa_p999 ttfa_max\n"
          "(times), stalls stalled_listeners failed integrity_errors (counts), joined (count or %).\n"
          "--space ID: every listener joins the space through the gate first (POST .../join,\n"
          "waits its turn, solves puzzles) and listens with its ticket; join.* counters in the\n"
          "attack section. --prefixes spreads listeners over N /24 networks of 127/8.\n"
          "SIGINT/SIGTERM ends the run early with its report (a second one ends it at once).\n"
          "Exit: 0 every SLO held, 1 an SLO failed, 2 usage error or the run could not be made.\n",
          f);
}

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "podium storm: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
    fprintf(stderr, "try 'podium storm --help'\n");
    return 2;
}

static int write_outputs(const struct storm_result *res, const char *json, const char *html)
{
    if (json) {
        FILE *f = strcmp(json, "-") ? fopen(json, "w") : stdout;
        if (!f || res_write_json(res, f) < 0 || (f != stdout && fclose(f) != 0)) {
            fprintf(stderr, "podium storm: cannot write %s: %s\n", json, strerror(errno));
            return -1;
        }
    }
    if (html) {
        FILE *f = fopen(html, "w");
        if (!f || report_html(res, f) < 0 || fclose(f) != 0) {
            fprintf(stderr, "podium storm: cannot write %s: %s\n", html, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* The verdict: 0 every SLO held (or none given), 1 one failed. */
static int verdict(const struct storm_result *res)
{
    char fails[SLO_MAX][160];
    int nf = res_slo_check(res, fails, SLO_MAX);
    if (!res->slo_spec[0]) return 0;
    if (nf == 0) {
        printf("SLO pass: %s\n", res->slo_spec);
        return 0;
    }
    for (int i = 0; i < nf && i < SLO_MAX; i++) printf("SLO FAIL: %s\n", fails[i]);
    return 1;
}

static int storm_merge(int argc, char **argv)
{
    static struct storm_result total, part;
    const char *json = NULL, *html = NULL, *slo = NULL;
    int files = 0;
    res_init(&total);
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "--html") || !strcmp(argv[i], "--slo")) {
            if (i + 1 >= argc) return usage_error("missing value for", argv[i]);
            if (argv[i][2] == 'j') json = argv[++i];
            else if (argv[i][2] == 'h') html = argv[++i];
            else slo = argv[++i];
            continue;
        }
        if (argv[i][0] == '-') return usage_error("unknown option", argv[i]);
        size_t len;
        char err[160];
        char *text = res_slurp(argv[i], &len);
        if (!text) {
            fprintf(stderr, "podium storm merge: cannot read %s: %s\n", argv[i], strerror(errno));
            return 2;
        }
        int rc = res_read_json(&part, text, len, err, sizeof(err));
        free(text);
        if (rc < 0) {
            fprintf(stderr, "podium storm merge: %s: %s\n", argv[i], err);
            return 2;
        }
        res_merge(&total, &part);
        files++;
    }
    if (files < 1) return usage_error("merge needs at least one report", NULL);
    if (slo) {
        struct slo tmp[SLO_MAX];
        if (sopt_slo_parse(slo, tmp, SLO_MAX) < 0) return usage_error("bad --slo", slo);
        snprintf(total.slo_spec, sizeof(total.slo_spec), "%s", slo);
    }
    report_summary(&total, stderr);
    if (write_outputs(&total, json ? json : "-", html) < 0) return 2;
    return verdict(&total);
}

/* Raises the soft open-file limit to the hard one; returns the limit. */
static uint64_t raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur == RLIM_INFINITY ? 1u << 20 : (uint64_t)rl.rlim_cur;
}

/* First SIGINT/SIGTERM: end the run at the next sweep with a full report.
 * A second one: die at once. */
static void on_stop_signal(int sig)
{
    if (run_stop_requested) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    run_stop_requested = 1;
}

static bool mount_ok(const char *m)
{
    if (m[0] != '/' || strlen(m) >= 160) return false;
    for (const char *p = m; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) return false;
    return true;
}

int storm_main(int argc, char **argv)
{
    static struct run_cfg cfg;
    static struct storm_result res;
    const char *target = "http://127.0.0.1:8000", *json = NULL, *html = NULL, *slo = NULL;
    const char *sources = NULL;
    bool allow_remote = false, allow_remote_attack = false, quiet = false;
    uint64_t v, procs = 0;
    struct slo slos[SLO_MAX];

    if (argc >= 2 && !strcmp(argv[1], "merge")) return storm_merge(argc, argv);
    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.mount, sizeof(cfg.mount), "/live/demo.opus");
    cfg.listeners = 100;
    cfg.duration_us = 60000000u;
    cfg.attack.reconnect_at_us = UINT64_MAX;
    cfg.status_fd = -1;
    cfg.go_fd = -1;
    bool explicit_ports = true;

    enum { O_ALLOW_REMOTE = 256, O_ALLOW_REMOTE_ATTACK, O_SPACE, O_PROCS, O_PREFIXES, O_JOIN_LOG,
           O_SRC_PORTS };
    static const struct option opts[] = {
        {"target", required_argument, 0, 't'},    {"mount", required_argument, 0, 'm'},
        {"listeners", required_argument, 0, 'n'}, {"arrival", required_argument, 0, 'a'},
        {"duration", required_argument, 0, 'd'},  {"attack", required_argument, 0, 'A'},
        {"sources", required_argument, 0, 's'},   {"slo", required_argument, 0, 'S'},
        {"json", required_argument, 0, 'j'},      {"html", required_argument, 0, 'H'},
        {"quiet", no_argument, 0, 'q'},           {"help", no_argument, 0, 'h'},
        {"procs", required_argument, 0, O_PROCS}, {"space", required_argument, 0, O_SPACE},
        {"prefixes", required_argument, 0, O_PREFIXES},
        {"join-log", required_argument, 0, O_JOIN_LOG},
        {"src-ports", required_argument, 0, O_SRC_PORTS},
        {"allow-remote", no_argument, 0, O_ALLOW_REMOTE},
        {"allow-remote-attack", no_argument, 0, O_ALLOW_REMOTE_ATTACK},
        {0, 0, 0, 0},
    };
    optind = 1;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, ":", opts, NULL);
        if (c == -1) break;
        switch (c) {
        case 't': target = optarg; break;
        case 'm':
            if (!mount_ok(optarg)) return usage_error("bad --mount (a path like /live/x.opus)", optarg);
            snprintf(cfg.mount, sizeof(cfg.mount), "%s", optarg);
            break;
        case 'n':
            if (sopt_u64_parse(optarg, strlen(optarg), &v) < 0 || v < 1 || v > STORM_LISTENERS_MAX)
                return usage_error("bad --listeners (1..10000000)", optarg);
            cfg.listeners = (uint32_t)v;
            break;
        case 'a':
            if (sopt_arrival_parse(optarg, &cfg.arrival) < 0)
                return usage_error("bad --arrival (burst, ramp:10s, rate:5000/s)", optarg);
            snprintf(res.arrival, sizeof(res.arrival), "%s", optarg);
            break;
        case 'd':
            if (sopt_duration_parse(optarg, 1000000, &cfg.duration_us) < 0 ||
                cfg.duration_us < 1000000 || cfg.duration_us > 24ull * 3600 * 1000000)
                return usage_error("bad --duration (1s..24h)", optarg);
            break;
        case 'A':
            if (sopt_attack_parse(optarg, &cfg.attack) < 0) return usage_error("bad --attack", optarg);
            break;
        case 's': sources = optarg; break;
        case 'S':
            if (sopt_slo_parse(optarg, slos, SLO_MAX) < 0) return usage_error("bad --slo", optarg);
            slo = optarg;
            break;
        case 'j': json = optarg; break;
        case 'H': html = optarg; break;
        case 'q': quiet = true; break;
        case 'h': usage(stdout); return 0;
        case O_PROCS:
            if (sopt_u64_parse(optarg, strlen(optarg), &procs) < 0 || procs < 1 ||
                procs > SPLIT_PROCS_MAX)
                return usage_error("bad --procs (1..64)", optarg);
            break;
        case O_SPACE: /* join.c */
            if (!join_space_valid(optarg)) return usage_error("bad --space (a space id)", optarg);
            snprintf(cfg.join.space, sizeof(cfg.join.space), "%s", optarg);
            snprintf(cfg.mount, sizeof(cfg.mount), "/live/%s.opus", optarg);
            break;
        case O_PREFIXES:
            if (join_prefixes_parse(optarg, &cfg.join) < 0)
                return usage_error("bad --prefixes (N or N@127.A.B.0)", optarg);
            break;
        case O_JOIN_LOG:
            snprintf(cfg.join.log_path, sizeof(cfg.join.log_path), "%s", optarg);
            break;
        case O_SRC_PORTS:
            if (strcmp(optarg, "explicit") && strcmp(optarg, "kernel"))
                return usage_error("bad --src-ports (explicit or kernel)", optarg);
            explicit_ports = !strcmp(optarg, "explicit");
            break;
        case O_ALLOW_REMOTE: allow_remote = true; break;
        case O_ALLOW_REMOTE_ATTACK: allow_remote_attack = true; break;
        case ':': return usage_error("missing value for", argv[optind - 1]);
        default: return usage_error("unknown option", argv[optind - 1]);
        }
    }
    if (optind < argc) return usage_error("unexpected argument", argv[optind]);
    if (!cfg.join.space[0] && (cfg.attack.forged_per_s || cfg.attack.join_flood_per_s ||
                               cfg.join.prefixes || cfg.join.log_path[0]))
        return usage_error("forged-tickets, join-flood, --prefixes and --join-log need --space", NULL);
    if (sopt_target_parse(target, &cfg.target) < 0)
        return usage_error("bad --target (http://IPv4[:PORT])", target);
    const char *why = sopt_target_guard(&cfg.target, sopt_attack_any(&cfg.attack), allow_remote,
                                        allow_remote_attack);
    if (why) return usage_error("refusing target", why);
    uint64_t conns = (uint64_t)cfg.listeners + cfg.attack.slowloris + cfg.attack.idle +
                     cfg.attack.slow_readers + (cfg.attack.flood_per_s ? 2000u : 0u);
    if (sources) {
        if (sopt_sources_parse(sources, &cfg.src_first, &cfg.src_count) < 0)
            return usage_error("bad --sources (127.x.y.z-127.x.y.z)", sources);
    } else if (cfg.target.loopback && conns > STORM_CONNS_ONE_SOURCE) {
        /* 127.0.0.2 onwards, few ports on each (arm.h: explicitly bound
         * ports leave the machine's ephemeral pool while the run holds them) */
        uint64_t n = (conns + ARM_PORTS_PER_SOURCE - 1) / ARM_PORTS_PER_SOURCE;
        cfg.src_first = (127u << 24) | 2u;
        cfg.src_count = (uint32_t)(n < STORM_SOURCES_MAX ? n : STORM_SOURCES_MAX);
    }
    uint32_t port_lo, port_hi;
    arm_port_range(&port_lo, &port_hi);
    arm_plan_make(&cfg.arm, cfg.src_first, cfg.src_count, cfg.listeners, explicit_ports, port_lo,
                  port_hi);
    uint64_t nofile = raise_nofile();
    uint32_t need = split_procs_needed(conns, nofile);
    if (!procs) procs = need;
    if (procs < need)
        fprintf(stderr, "podium storm: warning: %llu connections over %llu processes exceed the "
                "open-file limit %llu\n", (unsigned long long)conns, (unsigned long long)procs,
                (unsigned long long)nofile);
    if (procs > cfg.listeners) procs = cfg.listeners;

    uint64_t arrival_end = sopt_arrival_at_us(&cfg.arrival, cfg.listeners - 1, cfg.listeners);
    if (arrival_end >= cfg.duration_us)
        fprintf(stderr, "podium storm: warning: arrivals run to %.1f s but the run lasts %.1f s\n",
                arrival_end / 1e6, cfg.duration_us / 1e6);

    char arrival[sizeof(res.arrival)];
    snprintf(arrival, sizeof(arrival), "%s", res.arrival[0] ? res.arrival : "burst");
    res_init(&res); /* clears what option parsing wrote: keep the arrival */
    snprintf(res.arrival, sizeof(res.arrival), "%s", arrival);
    snprintf(res.target, sizeof(res.target), "%s", target);
    snprintf(res.mount, sizeof(res.mount), "%s", cfg.mount);
    cfg.live = !quiet;
    fprintf(stderr, "podium storm: %u listeners -> %s%s, arrival %s, %.0f s, %llu process%s\n",
            cfg.listeners, target, cfg.mount, res.arrival, cfg.duration_us / 1e6,
            (unsigned long long)procs, procs > 1 ? "es" : "");
    run_catch_stop(on_stop_signal);
    int rc;
    if (procs > 1) {
        rc = split_run(&cfg, (uint32_t)procs, &res); /* keeps res.target/mount/arrival */
    } else {
        rc = run_worker(&cfg, &res);
    }
    if (slo) snprintf(res.slo_spec, sizeof(res.slo_spec), "%s", slo);
    if (rc < 0) {
        fprintf(stderr, "podium storm: the run failed: %s\n", strerror(-rc));
        return 2;
    }
    report_summary(&res, stdout);
    if (write_outputs(&res, json, html) < 0) return 2;
    return verdict(&res);
}
