/* hiccup: how long a real-time thread that does nothing is held off its
 * CPU. One SCHED_FIFO thread per online CPU (pinned) wakes every period on
 * an absolute CLOCK_MONOTONIC deadline and records how late it woke. On an
 * idle machine that lateness is the platform's: a VM whose vCPUs the
 * hypervisor deschedules (steal), SMIs, long interrupts. A pause seen on
 * every CPU at once is the whole VM stopping. The mixer's deadline misses
 * (bench/mixer --realtime) read against it: a tick of W ms misses when a
 * pause longer than 20 - W ms lands in it, whatever the mixer does.
 *
 *   hiccup [--seconds 10] [--period-us 1000] [--rt-priority 20]
 *
 * Prints per CPU the wake-ups late by more than 2, 5, 10 and 20 ms and the
 * worst, then each pause of 10 ms or more (time from start, CPUs it hit).
 * libc only, like floor: nothing of the server in it. Exit 0, or 2 on a
 * usage error.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#pragma GCC poison strcpy sprintf gets strtok atoi

#define CPUS_MAX 64
#define PAUSES_MAX 256     /* pauses of PAUSE_US or more kept per CPU */
#define PAUSE_US 10000     /* a pause worth listing */
#define SAME_PAUSE_US 3000 /* pauses this close on two CPUs are one */

static const uint64_t late_us[] = {2000, 5000, 10000, 20000};
#define LATE_STEPS (sizeof(late_us) / sizeof(late_us[0]))

struct pause {
    uint64_t at_us, late_us; /* wake-up deadline from the start; lateness */
};

struct probe {
    unsigned cpu;
    bool realtime;
    uint64_t wakeups, worst_us, over[LATE_STEPS];
    struct pause pauses[PAUSES_MAX];
    unsigned npauses;
};

static unsigned seconds = 10, period_us = 1000;
static int rt_priority = 20;
static uint64_t t0_us;

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void *probe_run(void *arg)
{
    struct probe *p = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(p->cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    struct sched_param prio = {.sched_priority = rt_priority};
    p->realtime = pthread_setschedparam(pthread_self(), SCHED_FIFO, &prio) == 0;
    uint64_t end = t0_us + (uint64_t)seconds * 1000000u;
    uint64_t next = t0_us + period_us;
    while (next < end) {
        struct timespec ts = {(time_t)(next / 1000000), (long)(next % 1000000) * 1000};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
        }
        uint64_t now = mono_us(), late = now - next;
        p->wakeups++;
        if (late > p->worst_us) p->worst_us = late;
        for (unsigned i = 0; i < LATE_STEPS; i++)
            p->over[i] += late > late_us[i];
        if (late >= PAUSE_US && p->npauses < PAUSES_MAX)
            p->pauses[p->npauses++] = (struct pause){next - t0_us, late};
        /* Next deadline on the grid after now: a pause is counted once,
         * not once per period it covered. */
        next += period_us * ((now - next) / period_us + 1);
    }
    return NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: hiccup [--seconds S] [--period-us P] [--rt-priority P]\n");
    exit(2);
}

static unsigned number(const char *s, unsigned lo, unsigned hi)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) usage();
    return (unsigned)v;
}

/* Lists each pause once, with the CPUs that saw it within SAME_PAUSE_US. */
static void print_pauses(struct probe *p, unsigned n)
{
    unsigned idx[CPUS_MAX] = {0};
    for (unsigned round = 0; round < (unsigned)CPUS_MAX * PAUSES_MAX; round++) {
        unsigned first = n;
        for (unsigned c = 0; c < n; c++)
            if (idx[c] < p[c].npauses &&
                (first == n || p[c].pauses[idx[c]].at_us < p[first].pauses[idx[first]].at_us))
                first = c;
        if (first == n) return;
        uint64_t at = p[first].pauses[idx[first]].at_us, worst = 0;
        char cpus[CPUS_MAX * 4] = "";
        size_t len = 0;
        unsigned hit = 0;
        for (unsigned c = 0; c < n; c++) {
            if (idx[c] >= p[c].npauses || p[c].pauses[idx[c]].at_us > at + SAME_PAUSE_US) continue;
            if (p[c].pauses[idx[c]].late_us > worst) worst = p[c].pauses[idx[c]].late_us;
            int w = snprintf(cpus + len, sizeof(cpus) - len, "%s%u", hit ? "," : "", c);
            if (w > 0 && (size_t)w < sizeof(cpus) - len) len += (size_t)w;
            hit++;
            idx[c]++;
        }
        printf("  at %7.3f s: %6.1f ms on cpu %s%s\n", at / 1e6, worst / 1e3, cpus,
               hit == n && n > 1 ? " (all: the whole machine stopped)" : "");
    }
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        i++;
        if (!strcmp(a, "--seconds"))
            seconds = number(v, 1, 3600);
        else if (!strcmp(a, "--period-us"))
            period_us = number(v, 100, 1000000);
        else if (!strcmp(a, "--rt-priority"))
            rt_priority = (int)number(v, 1, 99);
        else
            usage();
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned n = online < 1 ? 1 : online > CPUS_MAX ? CPUS_MAX : (unsigned)online;
    static struct probe p[CPUS_MAX];
    pthread_t th[CPUS_MAX];
    unsigned started = 0;
    t0_us = mono_us();
    for (; started < n; started++) {
        p[started].cpu = started;
        if (pthread_create(&th[started], NULL, probe_run, &p[started])) {
            perror("pthread_create");
            break;
        }
    }
    for (unsigned c = 0; c < started; c++)
        pthread_join(th[c], NULL);
    printf("hiccup: %u CPUs, %u s, a wake-up every %u us at SCHED_FIFO %d\n", started, seconds,
           period_us, rt_priority);
    for (unsigned c = 0; c < started; c++)
        printf("  cpu %u%s: %llu wake-ups; late >2 ms %llu, >5 ms %llu, >10 ms %llu, "
               ">20 ms %llu; worst %.1f ms\n",
               c, p[c].realtime ? "" : " (not SCHED_FIFO)", (unsigned long long)p[c].wakeups,
               (unsigned long long)p[c].over[0], (unsigned long long)p[c].over[1],
               (unsigned long long)p[c].over[2], (unsigned long long)p[c].over[3],
               p[c].worst_us / 1e3);
    print_pauses(p, started);
    return 0;
}
