/* main: `podium <role> [options]` — one binary, roles by subcommand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "conf.h"
#include "log.h"
#include "server.h"
#include "storm.h"

#define PODIUM_VERSION "0.1.0"

static void usage_main(FILE *out)
{
    fprintf(out, "usage: podium <command> [options]\n"
                 "\n"
                 "commands:\n"
                 "  serve     run the server (origin, fan-out); the default demo needs no options\n"
                 "  storm     rehearse a flash crowd and an attack against a server\n"
                 "  version   print the version\n"
                 "\n"
                 "`podium <command> --help` explains a command's options.\n");
}

static void usage_serve(FILE *out)
{
    fprintf(out,
            "usage: podium serve [options]\n"
            "\n"
            "  --listen HOST:PORT       address to listen on (default 127.0.0.1:8000)\n"
            "  --data DIR               data folder (default ./podium-data)\n"
            "  --config FILE            read settings from FILE (`key = value` lines)\n"
            "  --source-password PW     password of user 'source' for broadcasters\n"
            "                           (also env PODIUM_SOURCE_PASSWORD; default: random,\n"
            "                           printed at start)\n"
            "  --set KEY=VALUE          set any setting below (may repeat)\n"
            "  --no-demo                no built-in test-signal mount\n"
            "  -v, --verbose            log debug lines\n"
            "  -h, --help               this text\n"
            "\n"
            "Precedence: defaults < config file < environment < command line.\n"
            "\n"
            "settings (key, default, meaning):\n");
    conf_help(out);
}

/* Options that take a value: --opt VALUE or --opt=VALUE. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] != 0) return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "podium serve: %s needs a value\n", name);
        exit(2);
    }
    return argv[++*i];
}

static int cmd_serve(int argc, char **argv)
{
    struct conf conf;
    char err[256];
    const char *config = NULL;
    conf_defaults(&conf);

    /* First pass: find --config and --help, so the file applies before the
     * command line overrides it. */
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage_serve(stdout);
            return 0;
        }
        if ((v = opt_value(argc, argv, &i, "--config"))) config = v;
    }
    if (config && conf_load(&conf, config, err, sizeof(err)) < 0) {
        fprintf(stderr, "podium serve: %s\n", err);
        return 2;
    }
    const char *env_pw = getenv("PODIUM_SOURCE_PASSWORD");
    if (env_pw && *env_pw && conf_set(&conf, "source_password", env_pw, err, sizeof(err)) < 0) {
        fprintf(stderr, "podium serve: PODIUM_SOURCE_PASSWORD: %s\n", err);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *v, *key = NULL;
        char kv[CONF_STR_MAX + 64];
        if ((v = opt_value(argc, argv, &i, "--config"))) continue;
        if ((v = opt_value(argc, argv, &i, "--listen")))
            key = "listen";
        else if ((v = opt_value(argc, argv, &i, "--data")))
            key = "data";
        else if ((v = opt_value(argc, argv, &i, "--source-password")))
            key = "source_password";
        else if ((v = opt_value(argc, argv, &i, "--set"))) {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v || (size_t)(eq - v) >= 64) {
                fprintf(stderr, "podium serve: --set takes KEY=VALUE, got '%s'\n", v);
                return 2;
            }
            snprintf(kv, sizeof(kv), "%.*s", (int)(eq - v), v);
            key = kv;
            v = eq + 1;
        } else if (!strcmp(argv[i], "--no-demo")) {
            conf.demo = false;
            continue;
        } else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
            log_threshold = LOG_DEBUG;
            continue;
        } else {
            fprintf(stderr, "podium serve: unknown option '%s' (see podium serve --help)\n",
                    argv[i]);
            return 2;
        }
        if (conf_set(&conf, key, v, err, sizeof(err)) < 0) {
            fprintf(stderr, "podium serve: %s\n", err);
            return 2;
        }
    }

    struct server srv;
    if (server_init(&srv, &conf) < 0) {
        server_destroy(&srv);
        return 1;
    }
    int rc = server_run(&srv);
    server_destroy(&srv);
    log_info("stopped");
    return rc;
}

/* `podium worker N`: started by `podium serve` only, with its listening
 * socket as descriptor 3 and its relay link to the origin as 4. */
static int cmd_worker(int argc, char **argv)
{
    struct server srv;
    if (argc != 2) {
        fprintf(stderr, "podium worker: started by `podium serve`, not by hand\n");
        return 2;
    }
    uint32_t index = (uint32_t)strtoul(argv[1], NULL, 10);
    char tag[32];
    snprintf(tag, sizeof(tag), "worker %u", index);
    log_set_tag(tag); /* copied */
    /* Started through /proc/self/exe, the kernel names the process "exe";
     * top, ps -C and pgrep -x should find it as podium. */
    prctl(PR_SET_NAME, "podium", 0, 0, 0);
    if (server_init_worker(&srv, index, 3, 4) < 0) {
        server_destroy(&srv);
        return 1;
    }
    int rc = server_run(&srv);
    server_destroy(&srv);
    return rc;
}

int main(int argc, char **argv)
{
    setvbuf(stderr, NULL, _IOLBF, 0);
    if (argc < 2) {
        usage_main(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage_main(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("podium %s\n", PODIUM_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "serve")) return cmd_serve(argc - 1, argv + 1);
    if (!strcmp(cmd, "storm")) return storm_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "worker")) return cmd_worker(argc - 1, argv + 1);
    fprintf(stderr, "podium: unknown command '%s' (see podium --help)\n", cmd);
    return 2;
}
