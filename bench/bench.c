/*
 * bench: the benchmark behind `make bench` (issue 3).
 *
 * Compares bufpool with baseline pools built into the same binary (see
 * baselines.h): the original Rust design ported to C, a naive CAS pool, a
 * mutex+condvar pool, plain malloc, and jemalloc/mimalloc behind the naive
 * budget when installed.  Prints markdown tables (also written to --md FILE)
 * and data files for bench/plot.gp.
 *
 * Method: a warm-up and calibration per implementation, then several
 * rounds in which the implementations take turns (the order rotates each
 * round, so drift in CPU frequency or neighbours hits all of them alike);
 * reported figures are medians over rounds.  Every roundtrip writes a byte
 * into the first and the last buffer and folds the pointer into a volatile
 * sink, so the compiler cannot delete the work.  (--touch-all writes into
 * every buffer instead; that measures memory stores more than the pool.)
 *
 * Usage: bench [--quick] [--section NAME[,NAME...]]... [--out DIR]
 *              [--md FILE] [--touch-all]
 * Sections: latency n threads backpressure wake cpu rss region syscalls
 * (backpressure has a closed-loop and a paced run; syscalls needs strace)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bufpool.h"
#include "baselines.h"

#include <errno.h>
#include <gnu/libc-version.h>
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- options and output ------------------------------------------------ */

static bool quick;
static bool touch_all;
static const char *out_dir = "build/bench";
static const char *md_path; /* default: out_dir/results.md */
static FILE *md;
static char sections[256]; /* comma-separated list; empty: all */
static volatile uintptr_t sink;

#define MiB ((size_t)1 << 20)
#define KiB ((size_t)1 << 10)

/* printf to stdout and to the markdown file: `make bench` shows the run
 * live and keeps it, without a shell pipe that would hide the exit code. */
__attribute__((format(printf, 1, 2))) static void out(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
    if (md) {
        va_start(ap, fmt);
        vfprintf(md, fmt, ap);
        va_end(ap);
        fflush(md);
    }
}

/* Progress goes to stderr: not part of the results. */
__attribute__((format(printf, 1, 2))) static void progress(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static bool want(const char *name)
{
    if (!sections[0])
        return true;
    size_t len = strlen(name);
    for (const char *s = sections; *s;) {
        const char *e = strchr(s, ',');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (l == len && !strncmp(s, name, len))
            return true;
        if (!e)
            break;
        s = e + 1;
    }
    return false;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, size_t n)
{
    double tmp[64];
    if (n == 0 || n > 64)
        return NAN;
    memcpy(tmp, v, n * sizeof *v);
    qsort(tmp, n, sizeof *tmp, cmp_double);
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

/* q-quantile of sorted samples (nearest rank). */
static uint64_t pct(const uint64_t *sorted, size_t n, double q)
{
    if (n == 0)
        return 0;
    double x = q * (double)n;
    size_t i = (size_t)x;
    if ((double)i < x) /* ceil without libm */
        i++;
    return sorted[i ? i - 1 : 0];
}

/* ---- implementations --------------------------------------------------- */

/* The buffer writes that keep the work alive (see the top comment). */
static inline void touch(char *p, size_t n, size_t bs, char v)
{
    if (touch_all) {
        for (size_t i = 0; i < n; i++)
            p[i * bs] = v;
    } else {
        p[0] = v;
        p[(n - 1) * bs] = v;
    }
}

__attribute__((noreturn, cold)) static void alloc_failed(int err)
{
    die("allocate failed in a timed loop: %s", strerror(-err));
}

/* One allocate+release roundtrip loop per implementation, with direct calls
 * (a function pointer per call would add a few ns to every pool alike, and
 * hide the differences we want to see).  Returns folded pointers. */
#define DEFINE_LOOP(fname, PT, AT, ALLOC, FIRST, RELEASE)                       \
    static uintptr_t fname(void *pool_, size_t n, size_t bs, uint64_t iters)   \
    {                                                                           \
        PT *pool = pool_;                                                       \
        uintptr_t acc = 0;                                                      \
        for (uint64_t i = 0; i < iters; i++) {                                  \
            AT *a;                                                              \
            int err = ALLOC(pool, n, &a);                                       \
            if (__builtin_expect(err != 0, 0))                                  \
                alloc_failed(err);                                              \
            char *p = FIRST(a);                                                 \
            touch(p, n, bs, (char)i);                                           \
            acc += (uintptr_t)p;                                                \
            RELEASE(a);                                                         \
        }                                                                       \
        return acc;                                                             \
    }

#define BL_FIRST(a) ((a)->first)
DEFINE_LOOP(loop_bufpool, bufpool, bufpool_alloc, bufpool_allocate, (char *)bufpool_alloc_first,
            bufpool_alloc_release)
DEFINE_LOOP(loop_original, bl_pool, bl_alloc, bl_original_allocate, BL_FIRST, bl_original_release)
DEFINE_LOOP(loop_naive, bl_pool, bl_alloc, bl_naive_allocate, BL_FIRST, bl_naive_release)
DEFINE_LOOP(loop_mutex, bl_pool, bl_alloc, bl_mutex_allocate, BL_FIRST, bl_mutex_release)
DEFINE_LOOP(loop_malloc, bl_pool, bl_alloc, bl_malloc_allocate, BL_FIRST, bl_malloc_release)
DEFINE_LOOP(loop_jemalloc, bl_pool, bl_alloc, bl_jemalloc_allocate, BL_FIRST, bl_jemalloc_release)
DEFINE_LOOP(loop_mimalloc, bl_pool, bl_alloc, bl_mimalloc_allocate, BL_FIRST, bl_mimalloc_release)

/* The same operations through pointers, for the threaded scenarios where a
 * call's few ns do not matter. */
typedef struct impl {
    const char *name;
    int (*create)(void **pool, size_t bs, size_t max_memory);
    int (*allocate)(void *pool, size_t n, void **a);
    char *(*first)(void *a);
    void (*release)(void *a);
    void (*destroy)(void *pool);
    size_t (*waiters)(void *pool);
    uintptr_t (*loop)(void *pool, size_t n, size_t bs, uint64_t iters);
    const char *note; /* non-NULL: not available, why */
} impl;

static int bp_create_flags(void **pool, size_t bs, size_t max_memory, unsigned flags)
{
    bufpool_config cfg = {.buffer_size = bs, .max_memory = max_memory, .flags = flags};
    bufpool *p = NULL;
    int err = bufpool_create(&p, &cfg);
    *pool = p;
    return err;
}
static int bp_create(void **pool, size_t bs, size_t max_memory)
{
    return bp_create_flags(pool, bs, max_memory, 0);
}
static int bp_create_region(void **pool, size_t bs, size_t max_memory)
{
    return bp_create_flags(pool, bs, max_memory, BUFPOOL_REGION);
}
static int bp_allocate(void *pool, size_t n, void **a)
{
    bufpool_alloc *x = NULL;
    int err = bufpool_allocate(pool, n, &x);
    *a = x;
    return err;
}
static char *bp_first(void *a)
{
    return bufpool_alloc_first(a);
}
static void bp_release(void *a)
{
    bufpool_alloc_release(a);
}
static void bp_destroy(void *pool)
{
    bufpool_destroy(pool);
}
static size_t bp_waiters(void *pool)
{
    bufpool_stats s;
    bufpool_get_stats(pool, &s);
    return s.waiters;
}

static char *blw_first(void *a)
{
    return ((bl_alloc *)a)->first;
}
static size_t blw_waiters(void *pool)
{
    return bl_waiters(pool);
}
#define BL_WRAP(kind)                                                               \
    static int blw_##kind##_create(void **pool, size_t bs, size_t max_memory)       \
    {                                                                               \
        bl_pool *p = NULL;                                                          \
        int err = bl_##kind##_create(&p, bs, max_memory);                           \
        *pool = p;                                                                  \
        return err;                                                                 \
    }                                                                               \
    static int blw_##kind##_allocate(void *pool, size_t n, void **a)                \
    {                                                                               \
        bl_alloc *x = NULL;                                                         \
        int err = bl_##kind##_allocate(pool, n, &x);                                \
        *a = x;                                                                     \
        return err;                                                                 \
    }                                                                               \
    static void blw_##kind##_release(void *a) { bl_##kind##_release(a); }           \
    static void blw_##kind##_destroy(void *pool) { bl_##kind##_destroy(pool); }
BL_WRAP(original)
BL_WRAP(naive)
BL_WRAP(mutex)
BL_WRAP(malloc)
BL_WRAP(jemalloc)
BL_WRAP(mimalloc)

#define BL_IMPL(kind)                                                                   \
    {#kind, blw_##kind##_create, blw_##kind##_allocate, blw_first, blw_##kind##_release, \
     blw_##kind##_destroy, blw_waiters, loop_##kind, NULL}

enum { I_BUFPOOL, I_ORIGINAL, I_NAIVE, I_MUTEX, I_MALLOC, I_JEMALLOC, I_MIMALLOC, I_REGION, NIMPL };

static impl impls[NIMPL] = {
    [I_BUFPOOL] = {"bufpool", bp_create, bp_allocate, bp_first, bp_release, bp_destroy,
                   bp_waiters, loop_bufpool, NULL},
    [I_ORIGINAL] = BL_IMPL(original),
    [I_NAIVE] = BL_IMPL(naive),
    [I_MUTEX] = BL_IMPL(mutex),
    [I_MALLOC] = BL_IMPL(malloc),
    [I_JEMALLOC] = BL_IMPL(jemalloc),
    [I_MIMALLOC] = BL_IMPL(mimalloc),
    [I_REGION] = {"bufpool REGION", bp_create_region, bp_allocate, bp_first, bp_release,
                  bp_destroy, bp_waiters, loop_bufpool, NULL},
};

/* The implementations compared in the general tables: all but REGION. */
static const int general[] = {I_BUFPOOL, I_ORIGINAL, I_NAIVE, I_MUTEX, I_MALLOC, I_JEMALLOC, I_MIMALLOC};
#define NGENERAL (sizeof general / sizeof general[0])

/* Results kept for the closing summary and the plot; NAN: not measured. */
static struct {
    double lat[NIMPL][3]; /* 64 B: n = 1, 16, 1024 */
    double lat4k[NIMPL][2]; /* 4 KiB: n = 1, 256 */
    double thr[NIMPL][4]; /* M ops/s with 1..4 threads */
    double bp_thr[NIMPL], bp_p50[NIMPL], bp_p99[NIMPL];       /* closed loop */
    double pc_thr[NIMPL], pc_p50[NIMPL], pc_p99[NIMPL], pc_p999[NIMPL]; /* paced */
    double wake_p50[NIMPL], wake_p99[NIMPL];
    double cpu_pct[NIMPL];
    double rss_ratio[NIMPL];
} R;

static void results_init(void)
{
    double *d = (double *)&R;
    for (size_t i = 0; i < sizeof R / sizeof(double); i++)
        d[i] = NAN;
}

static int available(const int *list, size_t n, int *outv)
{
    int k = 0;
    for (size_t i = 0; i < n; i++)
        if (!impls[list[i]].note)
            outv[k++] = list[i];
    return k;
}

/* ---- machine ----------------------------------------------------------- */

static void section_machine(void)
{
    char model[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (!strncmp(line, "model name", 10)) {
                char *c = strchr(line, ':');
                if (c) {
                    c += 1 + (c[1] == ' ');
                    c[strcspn(c, "\n")] = 0;
                    snprintf(model, sizeof model, "%s", c);
                }
                break;
            }
        }
        fclose(f);
    }
    struct utsname u;
    uname(&u);
    time_t t = time(NULL);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    out("# bufpool benchmark\n\n");
    out("| machine | |\n|:--|:--|\n");
    out("| CPU | %s (%ld online CPUs) |\n", model, sysconf(_SC_NPROCESSORS_ONLN));
    out("| kernel | %s %s %s |\n", u.sysname, u.release, u.machine);
    out("| compiler | %s |\n", __VERSION__);
    out("| libc | glibc %s |\n", gnu_get_libc_version());
    int v = bufpool_version();
    out("| bufpool | %d.%d.%d |\n", v / 10000, v / 100 % 100, v % 100);
    out("| date | %s |\n", date);
    out("| mode | %s%s |\n\n", quick ? "--quick (short rounds: numbers are rough)" : "full",
        touch_all ? ", --touch-all" : "");
    for (int i = 0; i < NIMPL; i++)
        if (impls[i].note)
            out("Note: %s\n\n", impls[i].note);
}

/* ---- single-thread latency --------------------------------------------- */

static int rounds(void)
{
    return quick ? 3 : 9;
}

static double time_batch(const impl *im, void *pool, size_t n, size_t bs, uint64_t iters)
{
    uint64_t t0 = now_ns();
    uintptr_t acc = im->loop(pool, n, bs, iters);
    uint64_t t1 = now_ns();
    sink += acc;
    return (double)(t1 - t0) / (double)iters;
}

/* ns per allocate+release of n buffers of bs bytes, for each listed
 * implementation: pools created side by side, warm-up, calibration to a
 * batch of ~20 ms (2 ms with --quick), interleaved rounds, median. */
static void measure_latency(const int *ids, int nids, size_t bs, size_t n, double *res)
{
    void *pools[NIMPL];
    uint64_t iters[NIMPL];
    double samples[NIMPL][16];
    const double batch_ns = quick ? 2e6 : 20e6;
    size_t max_memory = 64 * MiB;
    if (max_memory < 4 * n * bs)
        max_memory = 4 * n * bs;

    for (int k = 0; k < nids; k++) {
        const impl *im = &impls[ids[k]];
        int err = im->create(&pools[k], bs, max_memory);
        if (err)
            die("%s: create(%zu, %zu) failed: %s", im->name, bs, max_memory, strerror(-err));
        time_batch(im, pools[k], n, bs, 2000); /* warm-up: caches, page faults */
        double est = time_batch(im, pools[k], n, bs, 2000);
        double it = batch_ns / (est > 0.5 ? est : 0.5);
        iters[k] = it < 1000 ? 1000 : it > 5e7 ? 50000000 : (uint64_t)it;
    }
    int nr = rounds();
    for (int r = 0; r < nr; r++)
        for (int j = 0; j < nids; j++) {
            int k = (j + r) % nids; /* rotate who goes first */
            samples[k][r] = time_batch(&impls[ids[k]], pools[k], n, bs, iters[k]);
        }
    for (int k = 0; k < nids; k++) {
        res[k] = median(samples[k], (size_t)nr);
        impls[ids[k]].destroy(pools[k]);
    }
}

/* ns per FUTEX_WAKE system call with nobody waiting: what each of the
 * original's unconditional notifies costs on this machine. */
static double futex_wake_ns(void)
{
    static uint32_t word;
    double s[5];
    int iters = quick ? 2000 : 20000;
    for (int r = 0; r < 5; r++) {
        uint64_t t0 = now_ns();
        for (int i = 0; i < iters; i++)
            syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
        s[r] = (double)(now_ns() - t0) / iters;
    }
    return median(s, 5);
}

static void section_latency(void)
{
    int ids[NIMPL];
    int n = available(general, NGENERAL, ids);
    double ns[NIMPL];
    progress("latency: 64 B, n=1 ...\n");
    measure_latency(ids, n, 64, 1, ns);
    double bp = ns[0]; /* bufpool is first in `general` */
    double orig = NAN;
    for (int k = 0; k < n; k++)
        if (ids[k] == I_ORIGINAL)
            orig = ns[k];

    out("## Table 1: allocate+release, one thread, 64 B buffers, n = 1\n\n");
    out("Median of %d interleaved rounds. The original's docs report ~254 ns and ~3.94 M/s on "
        "its author's laptop.\n\n",
        rounds());
    out("| implementation | latency (ns) | throughput (M/s) | x bufpool |\n");
    out("|:--|--:|--:|--:|\n");
    for (int k = 0; k < n; k++) {
        out("| %s | %.1f | %.2f | %.1f |\n", impls[ids[k]].name, ns[k], 1e3 / ns[k], ns[k] / bp);
        R.lat[ids[k]][0] = ns[k];
    }
    double fw = futex_wake_ns();
    out("\noriginal / bufpool = **%.1fx** (the original's design measured here: %.0f ns). "
        "One FUTEX_WAKE system call with nobody waiting costs %.0f ns on this machine; the "
        "original makes two per roundtrip, so %.0f ns of its time are system calls.\n\n",
        orig / bp, orig, fw, 2 * fw);
}

static void section_n(void)
{
    int ids[NIMPL];
    int n = available(general, NGENERAL, ids);
    static const size_t ns_[3] = {1, 16, 1024};
    double res[3][NIMPL];
    for (int j = 0; j < 3; j++) {
        progress("latency: 64 B, n=%zu ...\n", ns_[j]);
        measure_latency(ids, n, 64, ns_[j], res[j]);
    }
    out("## Table 2: latency by number of buffers (ns per allocate+release, 64 B buffers)\n\n");
    out("The original's docs report 246 / 251 / 300 ns for n = 1 / 16 / 1024.\n\n");
    out("| implementation | n = 1 | n = 16 | n = 1024 | n=1024 / n=1 |\n|:--|--:|--:|--:|--:|\n");
    for (int k = 0; k < n; k++) {
        out("| %s | %.1f | %.1f | %.1f | %.2f |\n", impls[ids[k]].name, res[0][k], res[1][k],
            res[2][k], res[2][k] / res[0][k]);
        for (int j = 0; j < 3; j++)
            R.lat[ids[k]][j] = res[j][k];
    }

    double r4[2][NIMPL];
    progress("latency: 4 KiB, n=1 and n=256 ...\n");
    measure_latency(ids, n, 4096, 1, r4[0]);
    measure_latency(ids, n, 4096, 256, r4[1]);
    out("\n### 4 KiB buffers: one buffer vs 1 MiB (n = 256)\n\n");
    out("| implementation | n = 1 (ns) | n = 256 (ns) | n=256 / n=1 |\n|:--|--:|--:|--:|\n");
    for (int k = 0; k < n; k++) {
        out("| %s | %.1f | %.1f | %.2f |\n", impls[ids[k]].name, r4[0][k], r4[1][k],
            r4[1][k] / r4[0][k]);
        R.lat4k[ids[k]][0] = r4[0][k];
        R.lat4k[ids[k]][1] = r4[1][k];
    }
    out("\n");

    /* Data for the plot: one row per implementation. */
    char path[512];
    snprintf(path, sizeof path, "%s/latency.dat", out_dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "impl \"n=1\" \"n=16\" \"n=1024\" \"4KiB n=1\" \"4KiB n=256\"\n");
        for (int k = 0; k < n; k++)
            fprintf(f, "\"%s\" %.2f %.2f %.2f %.2f %.2f\n", impls[ids[k]].name, res[0][k],
                    res[1][k], res[2][k], r4[0][k], r4[1][k]);
        fclose(f);
    }
}

/* ---- threads ----------------------------------------------------------- */

struct thr_ctx {
    const impl *im;
    void *pool;
    pthread_barrier_t *start;
    atomic_bool *stop;
    uint64_t ops, ns;
};

static void *thr_main(void *arg)
{
    struct thr_ctx *c = arg;
    uint64_t ops = 0;
    c->im->loop(c->pool, 1, 64, 1000); /* warm this thread's caches */
    pthread_barrier_wait(c->start);
    uint64_t t0 = now_ns();
    while (!atomic_load_explicit(c->stop, memory_order_relaxed)) {
        sink += c->im->loop(c->pool, 1, 64, 256);
        ops += 256;
    }
    c->ns = now_ns() - t0;
    c->ops = ops;
    return NULL;
}

/* Total M ops/s of nt threads doing roundtrips on one shared pool. */
static double run_threads(const impl *im, int nt, uint64_t dur_ns)
{
    void *pool;
    int err = im->create(&pool, 64, 64 * MiB);
    if (err)
        die("%s: create failed: %s", im->name, strerror(-err));
    pthread_t th[4];
    struct thr_ctx ctx[4];
    pthread_barrier_t start;
    atomic_bool stop = false;
    pthread_barrier_init(&start, NULL, (unsigned)nt + 1);
    for (int i = 0; i < nt; i++) {
        ctx[i] = (struct thr_ctx){im, pool, &start, &stop, 0, 0};
        if (pthread_create(&th[i], NULL, thr_main, &ctx[i]))
            die("pthread_create failed");
    }
    pthread_barrier_wait(&start);
    sleep_ns(dur_ns);
    atomic_store(&stop, true);
    double total = 0;
    for (int i = 0; i < nt; i++) {
        pthread_join(th[i], NULL);
        total += (double)ctx[i].ops / (double)ctx[i].ns * 1e3; /* ops/ns -> M ops/s */
    }
    pthread_barrier_destroy(&start);
    im->destroy(pool);
    return total;
}

static void section_threads(void)
{
    int ids[NIMPL];
    int n = available(general, NGENERAL, ids);
    int nr = quick ? 2 : 7;
    uint64_t dur = quick ? 20000000u : 150000000u;
    double s[NIMPL][4][16];
    progress("threads: 1..4 threads x %d implementations x %d rounds ...\n", n, nr);
    for (int r = 0; r < nr; r++)
        for (int j = 0; j < n; j++) {
            int k = (j + r) % n;
            for (int t = 1; t <= 4; t++)
                s[k][t - 1][r] = run_threads(&impls[ids[k]], t, dur);
        }
    out("## Throughput with threads sharing one pool (64 B, n = 1)\n\n");
    out("Total M allocate+release/s, median of %d rounds of %.0f ms; speedup over one thread in "
        "parentheses. This machine has %ld CPUs.\n\n",
        nr, (double)dur / 1e6, sysconf(_SC_NPROCESSORS_ONLN));
    out("| implementation | 1 thread | 2 threads | 3 threads | 4 threads |\n|:--|--:|--:|--:|--:|\n");
    for (int k = 0; k < n; k++) {
        double m[4];
        for (int t = 0; t < 4; t++) {
            m[t] = median(s[k][t], (size_t)nr);
            R.thr[ids[k]][t] = m[t];
        }
        out("| %s | %.2f | %.2f (%.2fx) | %.2f (%.2fx) | %.2f (%.2fx) |\n", impls[ids[k]].name, m[0],
            m[1], m[1] / m[0], m[2], m[2] / m[0], m[3], m[3] / m[0]);
    }
    out("\n");
    char path[512];
    snprintf(path, sizeof path, "%s/threads.dat", out_dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "threads");
        for (int k = 0; k < n; k++)
            fprintf(f, " \"%s\"", impls[ids[k]].name);
        fprintf(f, "\n");
        for (int t = 0; t < 4; t++) {
            fprintf(f, "%d", t + 1);
            for (int k = 0; k < n; k++)
                fprintf(f, " %.3f", R.thr[ids[k]][t]);
            fprintf(f, "\n");
        }
        fclose(f);
    }
}

/* ---- backpressure: producers -> queue -> consumer ----------------------- */

static uint64_t xorshift(uint64_t *s);

#define BP_PRODUCERS 2
#define BP_N 4                 /* buffers per allocation */
#define BP_BS 4096
#define BP_ALLOCS 8            /* the budget, in allocations */
#define QCAP 16                /* > BP_ALLOCS + producers: the pool, not the queue, pushes back */
#define BP_MAXSAMPLES (1u << 20)

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t nonempty;
    void *items[QCAP];
    unsigned head, tail;
    bool sleeping;
};

static void q_push(struct queue *q, void *item)
{
    pthread_mutex_lock(&q->lock);
    if (q->tail - q->head == QCAP)
        die("backpressure queue overflow: a pool exceeded its budget");
    q->items[q->tail++ % QCAP] = item;
    bool wake = q->sleeping;
    pthread_mutex_unlock(&q->lock);
    if (wake)
        pthread_cond_signal(&q->nonempty);
}

static void *q_pop(struct queue *q)
{
    pthread_mutex_lock(&q->lock);
    while (q->head == q->tail) {
        q->sleeping = true;
        pthread_cond_wait(&q->nonempty, &q->lock);
    }
    q->sleeping = false;
    void *item = q->items[q->head++ % QCAP];
    pthread_mutex_unlock(&q->lock);
    return item;
}

struct bp_ctx {
    const impl *im;
    void *pool;
    struct queue *q;
    atomic_bool *stop;
    uint64_t *wait; /* per-call time inside allocate */
    size_t nwait;
    uint64_t items;
};

static void *bp_producer(void *arg)
{
    struct bp_ctx *c = arg;
    while (!atomic_load_explicit(c->stop, memory_order_relaxed)) {
        void *a;
        uint64_t t0 = now_ns();
        int err = c->im->allocate(c->pool, BP_N, &a);
        uint64_t t1 = now_ns();
        if (err)
            die("%s: allocate failed: %s", c->im->name, strerror(-err));
        if (c->nwait < BP_MAXSAMPLES)
            c->wait[c->nwait++] = t1 - t0;
        touch(c->im->first(a), BP_N, BP_BS, 1);
        q_push(c->q, a);
    }
    q_push(c->q, NULL); /* end of this producer */
    return NULL;
}

static void *bp_consumer(void *arg)
{
    struct bp_ctx *c = arg;
    int ended = 0;
    while (ended < BP_PRODUCERS) {
        void *a = q_pop(c->q);
        if (!a) {
            ended++;
            continue;
        }
        char *p = c->im->first(a);
        sink += (uintptr_t)p[0]; /* read what the producer wrote */
        c->im->release(a);
        c->items++;
    }
    return NULL;
}

/* The producers' wait samples, merged and sorted; frees theirs, the
 * caller frees the result. */
static uint64_t *gather_waits(uint64_t *const wait[BP_PRODUCERS], const size_t nwait[BP_PRODUCERS],
                              size_t *total)
{
    size_t n = 0, at = 0;
    for (int i = 0; i < BP_PRODUCERS; i++)
        n += nwait[i];
    uint64_t *all = malloc((n ? n : 1) * sizeof *all);
    if (!all)
        die("out of memory");
    for (int i = 0; i < BP_PRODUCERS; i++) {
        memcpy(all + at, wait[i], nwait[i] * sizeof *all);
        at += nwait[i];
        free(wait[i]);
    }
    qsort(all, n, sizeof *all, cmp_u64);
    *total = n;
    return all;
}

/* One run: throughput (M allocations/s) and the p50/p99 of time in allocate. */
static void run_backpressure(const impl *im, uint64_t dur_ns, double *thr, double *p50, double *p99)
{
    void *pool;
    int err = im->create(&pool, BP_BS, (size_t)BP_ALLOCS * BP_N * BP_BS);
    if (err)
        die("%s: create failed: %s", im->name, strerror(-err));
    struct queue q = {.head = 0, .tail = 0, .sleeping = false};
    pthread_mutex_init(&q.lock, NULL);
    pthread_cond_init(&q.nonempty, NULL);
    atomic_bool stop = false;
    struct bp_ctx prod[BP_PRODUCERS], cons = {im, pool, &q, &stop, NULL, 0, 0};
    pthread_t pt[BP_PRODUCERS], ct;
    uint64_t t0 = now_ns();
    for (int i = 0; i < BP_PRODUCERS; i++) {
        prod[i] = (struct bp_ctx){im, pool, &q, &stop, malloc(BP_MAXSAMPLES * sizeof(uint64_t)), 0, 0};
        if (!prod[i].wait)
            die("out of memory");
        pthread_create(&pt[i], NULL, bp_producer, &prod[i]);
    }
    pthread_create(&ct, NULL, bp_consumer, &cons);
    sleep_ns(dur_ns);
    atomic_store(&stop, true);
    for (int i = 0; i < BP_PRODUCERS; i++)
        pthread_join(pt[i], NULL);
    pthread_join(ct, NULL);
    uint64_t t1 = now_ns();
    uint64_t *waits[BP_PRODUCERS];
    size_t nwaits[BP_PRODUCERS], total;
    for (int i = 0; i < BP_PRODUCERS; i++) {
        waits[i] = prod[i].wait;
        nwaits[i] = prod[i].nwait;
    }
    uint64_t *all = gather_waits(waits, nwaits, &total);
    *thr = (double)cons.items / (double)(t1 - t0) * 1e3;
    *p50 = (double)pct(all, total, 0.50) / 1e3;
    *p99 = (double)pct(all, total, 0.99) / 1e3;
    free(all);
    pthread_cond_destroy(&q.nonempty);
    pthread_mutex_destroy(&q.lock);
    im->destroy(pool);
}

static void section_backpressure(void)
{
    static const int list[] = {I_BUFPOOL, I_MUTEX, I_ORIGINAL, I_NAIVE};
    int ids[NIMPL];
    int n = available(list, sizeof list / sizeof list[0], ids);
    int nr = quick ? 2 : 5;
    uint64_t dur = quick ? 50000000u : 250000000u;
    double thr[NIMPL][16], p50[NIMPL][16], p99[NIMPL][16];
    progress("backpressure ...\n");
    for (int r = 0; r < nr; r++)
        for (int j = 0; j < n; j++) {
            int k = (j + r) % n;
            run_backpressure(&impls[ids[k]], dur, &thr[k][r], &p50[k][r], &p99[k][r]);
        }
    out("## Backpressure: %d producers -> queue -> 1 consumer\n\n", BP_PRODUCERS);
    out("Producers allocate n = %d x %d B and pass them to a consumer that releases them; the "
        "budget holds %d such allocations, so producers block in allocate. Wait = time inside "
        "allocate, every call counted. Median of %d rounds of %.0f ms. A closed loop: "
        "throughput is its measure; its waits are taken at each pool's own throughput (see the "
        "paced run below for waits at one offered load).\n\n",
        BP_N, BP_BS, BP_ALLOCS, nr, (double)dur / 1e6);
    out("| implementation | throughput (M alloc/s) | wait p50 (us) | wait p99 (us) |\n|:--|--:|--:|--:|\n");
    for (int k = 0; k < n; k++) {
        int i = ids[k];
        R.bp_thr[i] = median(thr[k], (size_t)nr);
        R.bp_p50[i] = median(p50[k], (size_t)nr);
        R.bp_p99[i] = median(p99[k], (size_t)nr);
        out("| %s | %.3f | %.2f | %.2f |\n", impls[i].name, R.bp_thr[i], R.bp_p50[i], R.bp_p99[i]);
    }
    out("\n");
}

/* ---- backpressure, paced (open loop) ------------------------------------
 * The closed loop above runs every implementation as fast as it can, so
 * each one sees a different load: a faster pool moves the bottleneck onto
 * its own budget and its producers wait there, while a slower pool's
 * producers are held back elsewhere (the queue, the allocator) and rarely
 * find the budget full.  Its wait percentiles therefore compare different
 * loads.  Here every implementation gets the same offered load instead.
 *
 * Parameters, and why (from queueing arithmetic and this machine's costs,
 * fixed before looking at which pool wins):
 * - Arrivals: two producers issue at Poisson times (open-loop load
 *   generators such as wrk2 do the same: real requests come in bursts, and
 *   bursts are what fill a budget).  The schedule is absolute: a producer
 *   that falls behind (it was blocked, or overslept) issues at once until
 *   it has caught up, so a slow pool cannot lower its own load.  The same
 *   seeds in a round give every implementation the same arrival times.
 *   Producers sleep between issues (clock_nanosleep, 1 ns timer slack):
 *   on a 2-CPU machine, producers that spin would take the consumer's CPU.
 * - Service: the consumer polls the queue (it never sleeps, so no queue
 *   wake-up enters the numbers) and holds each allocation PC_SERVICE_NS,
 *   busy-waiting, before it releases it.
 * - Utilisation rho = rate x service = 0.8: with a budget of 8 allocations
 *   a queue model (M/D/1) puts a few percent of requests at a full budget,
 *   so the median times the path without waiting and p99/p99.9 the
 *   blocking path and the release's wakeup.  At rho ~ 0 the budget would
 *   never bind; near 1 the run would measure an overloaded queue.
 * - Why the service is 100 us and not a few hundred ns: once the budget
 *   binds, every release must wake a blocked producer, and that wake costs
 *   the releasing thread ~10 us on these VMs (an inter-processor interrupt
 *   to an idle vCPU).  If the service is not long compared with that, the
 *   consumer's capacity drops below the offered rate the first time the
 *   budget binds and never recovers (tried: at 8 us and 40 us service every
 *   pool collapsed into >90% of requests blocked, at any rho).  With 100 us,
 *   even a release that wakes keeps rho near 0.9.  Then the rate follows:
 *   0.8 / 100 us = 8,000 allocations/s in total, a fixed rate far below
 *   what any implementation sustains in the closed loop (>= 0.1 M/s here),
 *   and 250 us apart per producer, so a sleep's ~15 us overshoot hardly
 *   bends the Poisson arrivals.  The table shows the achieved rate.
 * - Wait = time inside allocate, every call counted; "blocked" = requests
 *   that took the pool's wait path (bufpool_stats.total_waits, and the same
 *   counter in the baselines). */

#define PC_RATE 8000.0          /* offered allocations/s, all producers together */
#define PC_SERVICE_NS 100000u   /* the consumer holds each allocation this long */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Multi-producer, single-consumer ring: producers serialise among
 * themselves with a mutex; the consumer polls `tail` without a lock. */
struct pqueue {
    pthread_mutex_t plock;
    _Atomic unsigned tail;
    _Atomic unsigned head;
    void *items[QCAP];
};

static void pq_push(struct pqueue *q, void *item)
{
    pthread_mutex_lock(&q->plock);
    unsigned t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    if (t - atomic_load_explicit(&q->head, memory_order_acquire) == QCAP)
        die("paced queue overflow: a pool exceeded its budget");
    q->items[t % QCAP] = item;
    atomic_store_explicit(&q->tail, t + 1, memory_order_release);
    pthread_mutex_unlock(&q->plock);
}

static void *pq_pop(struct pqueue *q)
{
    unsigned h = atomic_load_explicit(&q->head, memory_order_relaxed);
    while (atomic_load_explicit(&q->tail, memory_order_acquire) == h)
        cpu_relax();
    void *item = q->items[h % QCAP];
    atomic_store_explicit(&q->head, h + 1, memory_order_release);
    return item;
}

struct pc_ctx {
    const impl *im;
    void *pool;
    struct pqueue *q;
    uint64_t start, end; /* schedule window (CLOCK_MONOTONIC ns) */
    uint64_t seed;
    uint64_t *wait;
    size_t nwait, cap;
    uint64_t items, last_release;
};

static size_t impl_total_waits(const impl *im, void *pool)
{
    if (im->create == bp_create) {
        bufpool_stats s;
        bufpool_get_stats(pool, &s);
        return (size_t)s.total_waits;
    }
    return bl_total_waits(pool);
}

static void *pc_producer(void *arg)
{
    struct pc_ctx *c = arg;
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL); /* sleep to the ns asked */
    const double mean_gap = 1e9 * BP_PRODUCERS / PC_RATE;
    double next = (double)c->start;
    for (;;) {
        /* exponential gap: uniform u in (0, 1], -ln(u) * mean */
        double u = (double)((xorshift(&c->seed) >> 11) + 1) / 9007199254740992.0;
        next += -log(u) * mean_gap;
        if (next >= (double)c->end)
            break;
        uint64_t due = (uint64_t)next;
        if (now_ns() < due) {
            struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
                ;
        }
        void *a;
        uint64_t t0 = now_ns();
        int err = c->im->allocate(c->pool, BP_N, &a);
        uint64_t t1 = now_ns();
        if (err)
            die("%s: allocate failed: %s", c->im->name, strerror(-err));
        if (c->nwait < c->cap)
            c->wait[c->nwait++] = t1 - t0;
        touch(c->im->first(a), BP_N, BP_BS, 1);
        pq_push(c->q, a);
    }
    pq_push(c->q, NULL);
    return NULL;
}

static void *pc_consumer(void *arg)
{
    struct pc_ctx *c = arg;
    int ended = 0;
    while (ended < BP_PRODUCERS) {
        void *a = pq_pop(c->q);
        if (!a) {
            ended++;
            continue;
        }
        uint64_t t0 = now_ns();
        char *p = c->im->first(a);
        sink += (uintptr_t)p[0]; /* read what the producer wrote */
        while (now_ns() - t0 < PC_SERVICE_NS) /* the work, holding the buffers */
            cpu_relax();
        c->im->release(a);
        c->items++;
    }
    c->last_release = now_ns();
    return NULL;
}

struct pc_result {
    double thr, p50, p99, p999, blocked_pct;
};

static void run_paced(const impl *im, uint64_t dur_ns, uint64_t seed, struct pc_result *res)
{
    void *pool;
    int err = im->create(&pool, BP_BS, (size_t)BP_ALLOCS * BP_N * BP_BS);
    if (err)
        die("%s: create failed: %s", im->name, strerror(-err));
    struct pqueue q;
    pthread_mutex_init(&q.plock, NULL);
    atomic_init(&q.tail, 0);
    atomic_init(&q.head, 0);
    /* room for every sample: the offered count is ~rate x duration */
    size_t cap = (size_t)(PC_RATE / BP_PRODUCERS * (double)dur_ns / 1e9 * 1.5) + 1024;
    uint64_t start = now_ns() + 2000000u; /* 2 ms for the threads to start */
    struct pc_ctx prod[BP_PRODUCERS], cons = {.im = im, .pool = pool, .q = &q};
    pthread_t pt[BP_PRODUCERS], ct;
    pthread_create(&ct, NULL, pc_consumer, &cons);
    for (int i = 0; i < BP_PRODUCERS; i++) {
        /* The same seeds for every implementation: the same arrival times. */
        prod[i] = (struct pc_ctx){im, pool, &q, start, start + dur_ns,
                                  seed * 0x9e3779b97f4a7c15u + (uint64_t)i * 0x2545f4914f6cdd1du + 1,
                                  malloc(cap * sizeof(uint64_t)), 0, cap, 0, 0};
        if (!prod[i].wait)
            die("out of memory");
        pthread_create(&pt[i], NULL, pc_producer, &prod[i]);
    }
    for (int i = 0; i < BP_PRODUCERS; i++)
        pthread_join(pt[i], NULL);
    pthread_join(ct, NULL);
    uint64_t *waits[BP_PRODUCERS];
    size_t nwaits[BP_PRODUCERS], total;
    for (int i = 0; i < BP_PRODUCERS; i++) {
        waits[i] = prod[i].wait;
        nwaits[i] = prod[i].nwait;
    }
    uint64_t *all = gather_waits(waits, nwaits, &total);
    /* achieved: allocations released per second from the schedule's start
     * to the last release (a pool that falls behind finishes late) */
    res->thr = (double)cons.items / (double)(cons.last_release - start) * 1e3;
    res->p50 = (double)pct(all, total, 0.50) / 1e3;
    res->p99 = (double)pct(all, total, 0.99) / 1e3;
    res->p999 = (double)pct(all, total, 0.999) / 1e3;
    res->blocked_pct = total ? 100.0 * (double)impl_total_waits(im, pool) / (double)total : 0;
    free(all);
    pthread_mutex_destroy(&q.plock);
    im->destroy(pool);
}

static void section_paced(void)
{
    static const int list[] = {I_BUFPOOL, I_MUTEX, I_ORIGINAL, I_NAIVE};
    int ids[NIMPL];
    int n = available(list, sizeof list / sizeof list[0], ids);
    int nr = quick ? 2 : 5;
    uint64_t dur = quick ? 150000000u : 1000000000u;
    double thr[NIMPL][16], p50[NIMPL][16], p99[NIMPL][16], p999[NIMPL][16], blk[NIMPL][16];
    progress("backpressure, paced ...\n");
    for (int r = 0; r < nr; r++)
        for (int j = 0; j < n; j++) {
            int k = (j + r) % n;
            struct pc_result res;
            run_paced(&impls[ids[k]], dur, (uint64_t)r + 1, &res);
            thr[k][r] = res.thr;
            p50[k][r] = res.p50;
            p99[k][r] = res.p99;
            p999[k][r] = res.p999;
            blk[k][r] = res.blocked_pct;
        }
    out("## Backpressure, paced: the same offered load for every implementation\n\n");
    out("%d producers issue n = %d x %d B allocations at Poisson times, %.0f per second in "
        "total (a fixed rate, the same for every implementation and round; an absolute schedule, "
        "so a producer that falls behind catches up). One consumer polls the queue and holds "
        "each allocation %.0f us (busy-wait) before releasing it: %.0f%% busy. The budget holds "
        "%d allocations, so bursts fill it at times. Wait = time inside allocate, every call "
        "counted; blocked = requests that took the pool's wait path. Median of %d interleaved "
        "rounds of %.0f ms (the same arrival times for every implementation in a round). The "
        "service is long because a release that wakes a blocked producer costs the consumer "
        "~10 us on these VMs: with a service of a few hundred ns, the first burst that fills "
        "the budget leaves the consumer too slow to ever drain it (bench.c explains the "
        "parameters).\n\n",
        BP_PRODUCERS, BP_N, BP_BS, PC_RATE, PC_SERVICE_NS / 1e3,
        PC_RATE * PC_SERVICE_NS / 1e9 * 100, BP_ALLOCS, nr, (double)dur / 1e6);
    out("| implementation | achieved (k alloc/s) | blocked (%% of calls) | wait p50 (us) | "
        "wait p99 (us) | wait p99.9 (us) |\n|:--|--:|--:|--:|--:|--:|\n");
    bool short_fall = false;
    for (int k = 0; k < n; k++) {
        int i = ids[k];
        R.pc_thr[i] = median(thr[k], (size_t)nr);
        R.pc_p50[i] = median(p50[k], (size_t)nr);
        R.pc_p99[i] = median(p99[k], (size_t)nr);
        R.pc_p999[i] = median(p999[k], (size_t)nr);
        double b = median(blk[k], (size_t)nr);
        short_fall |= R.pc_thr[i] < 0.97 * PC_RATE / 1e6;
        out("| %s | %.2f | %.1f | %.2f | %.2f | %.2f |\n", impls[i].name, R.pc_thr[i] * 1e3, b,
            R.pc_p50[i], R.pc_p99[i], R.pc_p999[i]);
    }
    out("\n");
    if (short_fall)
        out("Note: an implementation achieved less than 97%% of the offered %.2f k/s: it did not "
            "sustain the load, and its waits are those of an overloaded pipeline.\n\n",
            PC_RATE / 1e3);
}

/* ---- wake latency ------------------------------------------------------ */

struct wake_ctx {
    const impl *im;
    void *pool;
    _Atomic uint64_t go, done; /* sample numbers, 1-based */
    _Atomic uint64_t t_release;
    uint64_t *lat;
    size_t count;
};

static void *wake_waiter(void *arg)
{
    struct wake_ctx *c = arg;
    for (size_t s = 1; s <= c->count; s++) {
        while (atomic_load(&c->go) < s)
            sched_yield();
        void *a;
        int err = c->im->allocate(c->pool, 1, &a); /* blocks: the pool is full */
        uint64_t t = now_ns();
        if (err)
            die("%s: allocate failed: %s", c->im->name, strerror(-err));
        c->lat[s - 1] = t - atomic_load(&c->t_release);
        c->im->release(a);
        atomic_store(&c->done, s);
    }
    return NULL;
}

/* count wake latencies (ns) into lat: a pool of one buffer; we hold it, the
 * waiter blocks for it, we stamp the time and release. */
static bool run_wake(const impl *im, uint64_t *lat, size_t count)
{
    struct wake_ctx c = {.im = im, .lat = lat, .count = count};
    int err = im->create(&c.pool, 64, 64);
    if (err)
        die("%s: create failed: %s", im->name, strerror(-err));
    atomic_init(&c.go, 0);
    atomic_init(&c.done, 0);
    atomic_init(&c.t_release, 0);
    pthread_t th;
    pthread_create(&th, NULL, wake_waiter, &c);
    bool saw_waiter = true;
    for (size_t s = 1; s <= count; s++) {
        void *a;
        if ((err = im->allocate(c.pool, 1, &a)) != 0)
            die("%s: allocate failed: %s", im->name, strerror(-err));
        atomic_store(&c.go, s);
        /* Wait until the waiter is counted as blocked, then a little more so
         * that it is asleep in the kernel, not on its way there. */
        uint64_t deadline = now_ns() + 200000000u;
        while (im->waiters(c.pool) == 0 && now_ns() < deadline)
            sleep_ns(10000);
        if (im->waiters(c.pool) == 0)
            saw_waiter = false;
        sleep_ns(50000);
        atomic_store(&c.t_release, now_ns());
        im->release(a);
        while (atomic_load(&c.done) < s)
            sched_yield();
    }
    pthread_join(th, NULL);
    im->destroy(c.pool);
    return saw_waiter;
}

static void section_wake(void)
{
    static const int list[] = {I_BUFPOOL, I_MUTEX, I_ORIGINAL};
    int ids[NIMPL];
    int n = available(list, sizeof list / sizeof list[0], ids);
    const size_t per_round = quick ? 50 : 200, nr = quick ? 2 : 10;
    const size_t total = per_round * nr;
    uint64_t *lat[NIMPL];
    bool saw[NIMPL];
    progress("wake latency ...\n");
    for (int k = 0; k < n; k++) {
        lat[k] = malloc(total * sizeof(uint64_t));
        if (!lat[k])
            die("out of memory");
        saw[k] = true;
    }
    for (size_t r = 0; r < nr; r++)
        for (int j = 0; j < n; j++) {
            int k = (int)((j + r) % (size_t)n);
            saw[k] &= run_wake(&impls[ids[k]], lat[k] + r * per_round, per_round);
        }
    out("## Wake latency: release -> blocked allocate returns\n\n");
    out("One thread blocks in allocate on a full pool; another stamps CLOCK_MONOTONIC and "
        "releases. %zu samples each, in %zu interleaved rounds.\n\n",
        total, nr);
    out("| implementation | p50 (us) | p99 (us) |\n|:--|--:|--:|\n");
    for (int k = 0; k < n; k++) {
        int i = ids[k];
        qsort(lat[k], total, sizeof(uint64_t), cmp_u64);
        R.wake_p50[i] = (double)pct(lat[k], total, 0.5) / 1e3;
        R.wake_p99[i] = (double)pct(lat[k], total, 0.99) / 1e3;
        out("| %s | %.1f | %.1f |%s\n", impls[i].name, R.wake_p50[i], R.wake_p99[i],
            saw[k] ? "" : " (waiter count never seen: some samples may not have blocked)");
        free(lat[k]);
    }
    out("\n");
}

/* ---- CPU of a blocked waiter ------------------------------------------- */

struct cpu_ctx {
    const impl *im;
    void *pool;
    double cpu_us, wall_us;
};

static double thread_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
}

static void *cpu_waiter(void *arg)
{
    struct cpu_ctx *c = arg;
    void *a;
    double c0 = thread_cpu_us();
    uint64_t t0 = now_ns();
    int err = c->im->allocate(c->pool, 1, &a);
    c->wall_us = (double)(now_ns() - t0) / 1e3;
    c->cpu_us = thread_cpu_us() - c0;
    if (err)
        die("%s: allocate failed: %s", c->im->name, strerror(-err));
    c->im->release(a);
    return NULL;
}

static void section_cpu(void)
{
    static const int list[] = {I_BUFPOOL, I_MUTEX, I_ORIGINAL, I_NAIVE};
    int ids[NIMPL];
    int n = available(list, sizeof list / sizeof list[0], ids);
    uint64_t block_ns = quick ? 20000000u : 200000000u;
    progress("cpu of a blocked waiter ...\n");
    out("## CPU used by a blocked waiter\n\n");
    out("A thread blocks in allocate on a full pool for ~%.0f ms; getrusage(RUSAGE_THREAD) "
        "around the call.\n\n",
        (double)block_ns / 1e6);
    out("| implementation | blocked (ms) | CPU (us) | CPU / wall |\n|:--|--:|--:|--:|\n");
    for (int k = 0; k < n; k++) {
        const impl *im = &impls[ids[k]];
        struct cpu_ctx c = {.im = im};
        int err = im->create(&c.pool, 64, 64);
        if (err)
            die("%s: create failed: %s", im->name, strerror(-err));
        void *a;
        if ((err = im->allocate(c.pool, 1, &a)) != 0)
            die("%s: allocate failed: %s", im->name, strerror(-err));
        pthread_t th;
        pthread_create(&th, NULL, cpu_waiter, &c);
        sleep_ns(block_ns);
        im->release(a);
        pthread_join(th, NULL);
        im->destroy(c.pool);
        R.cpu_pct[ids[k]] = c.cpu_us / c.wall_us * 100;
        out("| %s | %.1f | %.0f | %.2f%% |\n", im->name, c.wall_us / 1e3, c.cpu_us,
            R.cpu_pct[ids[k]]);
    }
    out("\n");
}

/* ---- peak RSS under churn (one child process per implementation) ------- */

#define RSS_THREADS 4
#define RSS_BUDGET (64 * MiB)
#define RSS_BS 4096

static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

struct churn_ctx {
    const impl *im;
    void *pool;
    atomic_bool *stop;
    size_t quota;   /* bytes this thread may hold: the quotas add up to the budget */
    uint64_t seed, ops, timeouts;
    bool region;    /* bufpool with a timeout, for the fragmenting workload */
};

/* Allocate random 4 KiB .. 1 MiB blocks, touch every page, keep a FIFO of
 * live blocks within the thread's quota.  The quotas add up to at most the
 * budget, so threads cannot deadlock on the budget itself; whatever the
 * pool keeps cached beyond live blocks is its own business (and shows). */
static void *churn_main(void *arg)
{
    struct churn_ctx *c = arg;
    void *ring[256];
    size_t bytes[256];
    unsigned head = 0, tail = 0;
    size_t held = 0;
    while (!atomic_load_explicit(c->stop, memory_order_relaxed)) {
        size_t n = 1 + (size_t)(xorshift(&c->seed) % 256);
        size_t b = n * RSS_BS;
        while (held + b > c->quota || tail - head == 256) {
            c->im->release(ring[head % 256]);
            held -= bytes[head % 256];
            head++;
        }
        void *a;
        int err;
        if (c->region) {
            bufpool_alloc *x = NULL;
            err = bufpool_allocate_timeout(c->pool, n, 2000000000u, &x);
            a = x;
            if (err == -ETIMEDOUT) { /* no run long enough: give back all, go on */
                c->timeouts++;
                while (head != tail) {
                    c->im->release(ring[head % 256]);
                    head++;
                }
                held = 0;
                continue;
            }
        } else {
            err = c->im->allocate(c->pool, n, &a);
        }
        if (err)
            die("%s: allocate(%zu) failed: %s", c->im->name, n, strerror(-err));
        char *p = c->im->first(a);
        for (size_t i = 0; i < n; i++) /* every page: RSS must be real */
            p[i * RSS_BS] = (char)i;
        ring[tail % 256] = a;
        bytes[tail % 256] = b;
        tail++;
        held += b;
        c->ops++;
    }
    while (head != tail) {
        c->im->release(ring[head % 256]);
        head++;
    }
    return NULL;
}

struct rss_result {
    long base_kb, hwm_kb;
    uint64_t ops;
    int err;
    bool has_stats; /* bufpool only: its own wait counters */
    uint64_t waits, wait_ns;
};

static void rss_child(const impl *im, uint64_t dur_ns, int fd)
{
    struct rss_result res = {0, 0, 0, 0, false, 0, 0};
    /* Reset the peak to the current RSS (Linux >= 4.0), so the peak is
     * this child's own, not the parent's before fork. */
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
    res.base_kb = status_kb("VmRSS");
    void *pool;
    res.err = im->create(&pool, RSS_BS, RSS_BUDGET);
    if (!res.err) {
        atomic_bool stop = false;
        struct churn_ctx c[RSS_THREADS];
        pthread_t th[RSS_THREADS];
        for (int i = 0; i < RSS_THREADS; i++) {
            c[i] = (struct churn_ctx){im, pool, &stop, RSS_BUDGET / RSS_THREADS,
                                      0x9e3779b97f4a7c15u * (uint64_t)(i + 1), 0, 0, false};
            pthread_create(&th[i], NULL, churn_main, &c[i]);
        }
        sleep_ns(dur_ns);
        atomic_store(&stop, true);
        for (int i = 0; i < RSS_THREADS; i++) {
            pthread_join(th[i], NULL);
            res.ops += c[i].ops;
        }
        res.hwm_kb = status_kb("VmHWM");
        if (im->create == bp_create) { /* why a slow run was slow */
            bufpool_stats st;
            bufpool_get_stats(pool, &st);
            res.has_stats = true;
            res.waits = st.total_waits;
            res.wait_ns = st.total_wait_ns;
        }
        im->destroy(pool);
    }
    if (write(fd, &res, sizeof res) != (ssize_t)sizeof res)
        _exit(2);
    _exit(0);
}

static void section_rss(void)
{
    int ids[NIMPL];
    int n = available(general, NGENERAL, ids);
    uint64_t dur = quick ? 150000000u : 2000000000u;
    progress("peak RSS: %d children x %.1f s ...\n", n, (double)dur / 1e9);
    out("## Peak RSS under churn\n\n");
    out("%d threads allocate random 1..256 x 4 KiB blocks (4 KiB .. 1 MiB), touch every page and "
        "keep a FIFO of live blocks within %zu MiB each, so live bytes never exceed the %zu MiB "
        "budget; %.1f s per implementation, each in its own child process. Growth = VmHWM at the "
        "end minus VmRSS at the start (peak reset via clear_refs).\n\n",
        RSS_THREADS, RSS_BUDGET / RSS_THREADS / MiB, RSS_BUDGET / MiB, (double)dur / 1e9);
    out("| implementation | allocations | peak RSS growth (MiB) | growth / budget | waits (time blocked) |\n"
        "|:--|--:|--:|--:|--:|\n");
    fflush(NULL);
    for (int k = 0; k < n; k++) {
        const impl *im = &impls[ids[k]];
        int fds[2];
        if (pipe(fds))
            die("pipe: %s", strerror(errno));
        pid_t pid = fork();
        if (pid < 0)
            die("fork: %s", strerror(errno));
        if (pid == 0) {
            close(fds[0]);
            alarm((unsigned)(dur / 1000000000u) + 60); /* a hung child must not hang the run */
            rss_child(im, dur, fds[1]);
        }
        close(fds[1]);
        struct rss_result res;
        ssize_t got = read(fds[0], &res, sizeof res);
        close(fds[0]);
        int status;
        waitpid(pid, &status, 0);
        if (got != (ssize_t)sizeof res || res.err) {
            out("| %s | failed (%s) | | | |\n", im->name,
                got != (ssize_t)sizeof res ? (WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "no result")
                                           : strerror(-res.err));
            continue;
        }
        double growth = (double)(res.hwm_kb - res.base_kb) * 1024.0;
        R.rss_ratio[ids[k]] = growth / (double)RSS_BUDGET;
        char waits[64] = "not counted";
        if (res.has_stats)
            snprintf(waits, sizeof waits, "%llu (%.0f ms over %d threads)",
                     (unsigned long long)res.waits, (double)res.wait_ns / 1e6, RSS_THREADS);
        out("| %s | %llu | %.1f | %.2f | %s |\n", im->name, (unsigned long long)res.ops,
            growth / (double)MiB, R.rss_ratio[ids[k]], waits);
    }
    out("\n");
}

/* ---- region mode ------------------------------------------------------- */

static void section_region(void)
{
    out("## Region mode (BUFPOOL_REGION)\n\n");
    void *probe;
    int err = bp_create_region(&probe, 4096, 64 * MiB);
    if (err) {
        out("region: not available (%s)\n\n", bufpool_strerror(err));
        impls[I_REGION].note = "region: not available";
        return;
    }
    bufpool_destroy(probe);

    progress("region: latency ...\n");
    const int ids[2] = {I_BUFPOOL, I_REGION};
    static const size_t ns_[3] = {1, 16, 256};
    double res[3][2];
    for (int j = 0; j < 3; j++)
        measure_latency(ids, 2, 4096, ns_[j], res[j]);
    out("Latency, 4 KiB buffers, ns per allocate+release (median of %d rounds):\n\n", rounds());
    out("| n | default | REGION | REGION / default |\n|--:|--:|--:|--:|\n");
    for (int j = 0; j < 3; j++)
        out("| %zu | %.1f | %.1f | %.2f |\n", ns_[j], res[j][0], res[j][1], res[j][1] / res[j][0]);
    out("\n");

    /* Fragmenting workload: threads with random n 1..256, quotas adding up
     * to 3/4 of the region, bufpool_allocate_timeout so that a pool that
     * cannot find a run shows up as timeouts rather than a hung run. */
    progress("region: fragmenting workload ...\n");
    uint64_t dur = quick ? 200000000u : 2000000000u;
    bufpool *pool;
    void *pv;
    if ((err = bp_create_region(&pv, RSS_BS, RSS_BUDGET)) != 0)
        die("region create failed: %s", bufpool_strerror(err));
    pool = pv;
    atomic_bool stop = false;
    struct churn_ctx c[RSS_THREADS];
    pthread_t th[RSS_THREADS];
    for (int i = 0; i < RSS_THREADS; i++) {
        c[i] = (struct churn_ctx){&impls[I_REGION], pool, &stop, RSS_BUDGET / RSS_THREADS * 3 / 4,
                                  0x2545f4914f6cdd1du * (uint64_t)(i + 1), 0, 0, true};
        pthread_create(&th[i], NULL, churn_main, &c[i]);
    }
    enum { MAXPTS = 4096 };
    static double pts_t[MAXPTS];
    static size_t pts_run[MAXPTS], pts_used[MAXPTS];
    size_t np = 0;
    uint64_t t0 = now_ns();
    while (now_ns() - t0 < dur && np < MAXPTS) {
        bufpool_stats s;
        bufpool_get_stats(pool, &s);
        pts_t[np] = (double)(now_ns() - t0) / 1e6;
        pts_run[np] = s.largest_free_run;
        pts_used[np] = s.in_use_bytes;
        np++;
        sleep_ns(quick ? 5000000u : 20000000u);
    }
    atomic_store(&stop, true);
    bool finished = true;
    uint64_t ops = 0, timeouts = 0;
    for (int i = 0; i < RSS_THREADS; i++) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 15;
        if (pthread_timedjoin_np(th[i], NULL, &dl) != 0) {
            finished = false;
            continue;
        }
        ops += c[i].ops;
        timeouts += c[i].timeouts;
    }
    size_t total_bufs = RSS_BUDGET / RSS_BS;
    size_t run_min = SIZE_MAX, run_end = 0;
    for (size_t i = 0; i < np; i++)
        if (pts_run[i] < run_min)
            run_min = pts_run[i];
    char path[512];
    snprintf(path, sizeof path, "%s/region_frag.dat", out_dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "ms largest_free_run_buffers in_use_MiB\n");
        for (size_t i = 0; i < np; i++)
            fprintf(f, "%.1f %zu %.2f\n", pts_t[i], pts_run[i], (double)pts_used[i] / (double)MiB);
        fclose(f);
    }
    out("Fragmenting workload: %d threads, random n = 1..256 x 4 KiB, quotas adding up to 3/4 "
        "of a %zu MiB region, %.1f s, allocate with a 2 s timeout.\n\n",
        RSS_THREADS, RSS_BUDGET / MiB, (double)dur / 1e9);
    if (!finished) {
        out("**did not finish: threads still blocked 15 s after the end (deadlock?)**\n\n");
        return; /* the pool is leaked on purpose: threads may still use it */
    }
    bufpool_stats s;
    bufpool_get_stats(pool, &s);
    run_end = s.largest_free_run;
    size_t sorted[MAXPTS];
    memcpy(sorted, pts_run, np * sizeof *sorted);
    for (size_t i = 1; i < np; i++) /* insertion sort: np is small */
        for (size_t j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            size_t t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    out("| finished | allocations | timeouts | largest free run: min | median | after all released "
        "| region |\n|:--|--:|--:|--:|--:|--:|--:|\n");
    out("| yes | %llu | %llu | %zu (%.1f MiB) | %zu (%.1f MiB) | %zu (%.1f MiB) | %zu buffers |\n\n",
        (unsigned long long)ops, (unsigned long long)timeouts, np ? run_min : 0,
        np ? (double)run_min * RSS_BS / (double)MiB : 0.0, np ? sorted[np / 2] : 0,
        np ? (double)sorted[np / 2] * RSS_BS / (double)MiB : 0.0, run_end,
        (double)run_end * RSS_BS / (double)MiB, total_bufs);
    bufpool_destroy(pool);
}

/* ---- system calls per roundtrip (target 3), counted by strace ----------
 * The bench binary runs itself as `bench --syscall-child KIND BS N ITERS`
 * under `strace -f -c`, twice per case: with ITERS = 0 and with ITERS =
 * 1,000,000.  Both runs start the same way, create the pool, warm it up
 * with the same 1,000 roundtrips and destroy it; only the timed loop
 * differs, so any difference in the syscall totals comes from the
 * roundtrips. */

#define SC_WARMUP 1000u

/* The child: no output, no jemalloc/mimalloc loading, nothing but the pool. */
static int syscall_child(int argc, char **argv)
{
    if (argc != 6)
        return 2;
    const char *kind = argv[2];
    size_t bs = strtoull(argv[3], NULL, 10), n = strtoull(argv[4], NULL, 10);
    uint64_t iters = strtoull(argv[5], NULL, 10);
    size_t max_memory = 64 * MiB > 4 * n * bs ? 64 * MiB : 4 * n * bs;
    const impl *im = !strcmp(kind, "bufpool") ? &impls[I_BUFPOOL]
                     : !strcmp(kind, "original") ? &impls[I_ORIGINAL] : NULL;
    if (!im || !bs || !n)
        return 2;
    void *pool;
    if (im->create(&pool, bs, max_memory))
        return 3;
    sink += im->loop(pool, n, bs, SC_WARMUP);
    sink += im->loop(pool, n, bs, iters);
    im->destroy(pool);
    return 0;
}

/* Total syscalls of `self --syscall-child ...` under strace -f -c, or -1
 * with why[] set. */
static long strace_count(const char *self, const char *kind, size_t bs, size_t n, uint64_t iters,
                         char *why, size_t whylen)
{
    char file[600], errf[600], a_bs[32], a_n[32], a_it[32];
    snprintf(file, sizeof file, "%s/strace_%s_%zux%zu_%llu.txt", out_dir, kind, n, bs,
             (unsigned long long)iters);
    snprintf(errf, sizeof errf, "%s/strace.err", out_dir);
    snprintf(a_bs, sizeof a_bs, "%zu", bs);
    snprintf(a_n, sizeof a_n, "%zu", n);
    snprintf(a_it, sizeof a_it, "%llu", (unsigned long long)iters);
    unlink(file);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        FILE *e = freopen(errf, "w", stderr);
        (void)e;
        if (!freopen("/dev/null", "w", stdout))
            _exit(126);
        execlp("strace", "strace", "-f", "-c", "-o", file, self, "--syscall-child", kind, a_bs, a_n,
               a_it, (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        snprintf(why, whylen, "strace is not installed (apt-get install strace)");
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char line[256] = "";
        FILE *f = fopen(errf, "r");
        if (f) {
            if (!fgets(line, sizeof line, f))
                line[0] = 0;
            fclose(f);
        }
        line[strcspn(line, "\n")] = 0;
        snprintf(why, whylen, "strace failed (exit %d%s%.256s); ptrace may not be permitted here",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1, line[0] ? ": " : "", line);
        return -1;
    }
    /* strace -c's last line: "100.00 secs usecs/call CALLS [ERRORS] total" */
    FILE *f = fopen(file, "r");
    long calls = -1;
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            double pctv, secs;
            long usecs, c;
            if (strstr(line, " total") &&
                sscanf(line, "%lf %lf %ld %ld", &pctv, &secs, &usecs, &c) == 4)
                calls = c;
        }
        fclose(f);
    }
    if (calls < 0)
        snprintf(why, whylen, "no 'total' line in strace's output (%.200s)", file);
    return calls;
}

static struct {
    bool done;
    long base[3], run[3];
    uint64_t iters;
} SC; /* bufpool's three cases, for the summary */

static void section_syscalls(void)
{
    out("## System calls per roundtrip (strace)\n\n");
    char self[512];
    ssize_t l = readlink("/proc/self/exe", self, sizeof self - 1);
    if (l <= 0) {
        out("Note: cannot read /proc/self/exe; section skipped.\n\n");
        return;
    }
    self[l] = 0;
    static const struct {
        size_t bs, n;
        const char *label;
    } cases[3] = {{64, 1, "64 B, n = 1"}, {64, 16, "64 B, n = 16"}, {4096, 256, "4 KiB, n = 256"}};
    static const int kinds[2] = {I_BUFPOOL, I_ORIGINAL};
    /* The original makes two syscalls per roundtrip, each one stopped and
     * counted by strace (several us): 1,000,000 of them would take minutes. */
    const uint64_t iters[2] = {1000000u, quick ? 2000u : 20000u};
    progress("syscalls: strace ...\n");
    char why[1024];
    long base[2][3], run[2][3];
    for (int k = 0; k < 2; k++)
        for (int c = 0; c < 3; c++) {
            const char *kind = impls[kinds[k]].name;
            base[k][c] = strace_count(self, kind, cases[c].bs, cases[c].n, 0, why, sizeof why);
            if (base[k][c] >= 0)
                run[k][c] = strace_count(self, kind, cases[c].bs, cases[c].n, iters[k], why,
                                         sizeof why);
            if (base[k][c] < 0 || run[k][c] < 0) {
                out("Note: %s; section skipped.\n\n", why);
                return;
            }
        }
    out("`strace -f -c` of this binary re-run as a child that creates a pool, warms it up with "
        "%u roundtrips and then does N allocate+release roundtrips; N = 0 against N = %llu "
        "(bufpool) or %llu (original: its two system calls per roundtrip are each stopped by "
        "strace, so a million would take minutes). Every system call of the process counts, "
        "start-up included; only the loop differs.\n\n",
        SC_WARMUP, (unsigned long long)iters[0], (unsigned long long)iters[1]);
    out("| implementation | case | syscalls, N = 0 | N | syscalls, N roundtrips | difference | "
        "per roundtrip |\n|:--|:--|--:|--:|--:|--:|--:|\n");
    for (int k = 0; k < 2; k++)
        for (int c = 0; c < 3; c++) {
            long d = run[k][c] - base[k][c];
            out("| %s | %s | %ld | %llu | %ld | %+ld | %.3f |\n", impls[kinds[k]].name,
                cases[c].label, base[k][c], (unsigned long long)iters[k], run[k][c], d,
                (double)d / (double)iters[k]);
        }
    out("\n");
    SC.done = true;
    SC.iters = iters[0];
    for (int c = 0; c < 3; c++) {
        SC.base[c] = base[0][c];
        SC.run[c] = run[0][c];
    }
}

/* ---- summary against issue 3's targets --------------------------------- */

static void verdict(const char *what, double value, double limit, bool le, const char *unit)
{
    if (isnan(value) || isnan(limit))
        return;
    bool ok = le ? value <= limit : value >= limit;
    out("| %s | %.2f %s | %s %.2f %s | %s |\n", what, value, unit, le ? "<=" : ">=", limit, unit,
        ok ? "met" : "**not met**");
}

static void section_summary(void)
{
    out("## Issue 3 targets, from this run\n\n");
    out("| target | measured | limit | verdict |\n|:--|--:|--:|:--|\n");
    static const char *nname[3] = {"1", "16", "1024"};
    char what[128];
    for (int j = 0; j < 3; j++) {
        snprintf(what, sizeof what, "1. latency n=%s vs original / 20", nname[j]);
        verdict(what, R.lat[I_BUFPOOL][j], R.lat[I_ORIGINAL][j] / 20, true, "ns");
        snprintf(what, sizeof what, "1. latency n=%s vs naive", nname[j]);
        verdict(what, R.lat[I_BUFPOOL][j], R.lat[I_NAIVE][j], true, "ns");
    }
    verdict("2. n=1024 / n=1", R.lat[I_BUFPOOL][2] / R.lat[I_BUFPOOL][0], 1.5, true, "x");
    verdict("2. 4 KiB n=256 / n=1", R.lat4k[I_BUFPOOL][1] / R.lat4k[I_BUFPOOL][0], 3.0, true, "x");
    if (SC.done) {
        static const char *lab[3] = {"64 B n=1", "64 B n=16", "4 KiB n=256"};
        for (int c = 0; c < 3; c++)
            out("| 3. syscalls, %llu roundtrips vs none, %s | %ld vs %ld (%+ld) | <= +0 | %s |\n",
                (unsigned long long)SC.iters, lab[c], SC.run[c], SC.base[c],
                SC.run[c] - SC.base[c], SC.run[c] <= SC.base[c] ? "met" : "**not met**");
    }
    verdict("4. 2 threads / 1 thread", R.thr[I_BUFPOOL][1] / R.thr[I_BUFPOOL][0], 1.6, false, "x");
    verdict("5. peak RSS growth / budget", R.rss_ratio[I_BUFPOOL], 1.10, true, "x");
    verdict("6. wake p50 vs mutex+condvar", R.wake_p50[I_BUFPOOL], R.wake_p50[I_MUTEX], true, "us");
    verdict("6. blocked waiter CPU / wall", R.cpu_pct[I_BUFPOOL], 1.0, true, "%");
    verdict("7. backpressure throughput vs mutex (closed loop)", R.bp_thr[I_BUFPOOL],
            R.bp_thr[I_MUTEX], false, "M/s");
    verdict("7. backpressure wait p50 vs mutex (paced, same load)", R.pc_p50[I_BUFPOOL],
            R.pc_p50[I_MUTEX], true, "us");
    verdict("7. backpressure wait p99 vs mutex (paced, same load)", R.pc_p99[I_BUFPOOL],
            R.pc_p99[I_MUTEX], true, "us");
    verdict("7. backpressure wait p99.9 vs mutex (paced, same load)", R.pc_p999[I_BUFPOOL],
            R.pc_p999[I_MUTEX], true, "us");
    if (!isnan(R.bp_thr[I_BUFPOOL]))
        out("\nTarget 7 takes throughput from the closed loop and wait percentiles from the paced "
            "run: in the closed loop each pool runs as fast as it can, so a faster pool moves the "
            "bottleneck onto its own budget and its producers wait there, while a slower pool's "
            "producers are held back elsewhere and rarely wait; their waits would be measured at "
            "different loads. The paced run offers every pool the same load, so its waits compare "
            "like with like.\n");
    out("\nMedians of short runs on a shared machine move by several percent between runs; "
        "a close call can flip.\n");
}

/* ---- main -------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: bench [--quick] [--section NAME[,NAME...]]... [--out DIR] [--md FILE]\n"
               "             [--touch-all]\n"
               "sections: latency n threads backpressure wake cpu rss region syscalls\n");
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--syscall-child")) /* section syscalls */
        return syscall_child(argc, argv);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--quick")) {
            quick = true;
        } else if (!strcmp(a, "--touch-all")) {
            touch_all = true;
        } else if (!strcmp(a, "--section") && i + 1 < argc) {
            size_t l = strlen(sections);
            snprintf(sections + l, sizeof sections - l, "%s%s", l ? "," : "", argv[++i]);
        } else if (!strcmp(a, "--out") && i + 1 < argc) {
            out_dir = argv[++i];
        } else if (!strcmp(a, "--md") && i + 1 < argc) {
            md_path = argv[++i];
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    static const char *known[] = {"latency", "n", "threads", "backpressure", "wake", "cpu",
                                  "rss", "region", "syscalls"};
    for (const char *s = sections; *s;) {
        size_t l = strcspn(s, ",");
        bool ok = false;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            ok |= strlen(known[k]) == l && !strncmp(known[k], s, l);
        if (!ok) {
            fprintf(stderr, "bench: unknown section '%.*s'\n", (int)l, s);
            usage(stderr);
            return 2;
        }
        s += l + (s[l] == ',');
    }

    /* jemalloc's library needs more static TLS than glibc leaves for
     * dlopen by default: run ourselves again, once, with a larger surplus
     * (a glibc tunable read only at process start). */
    const char *note;
    if (bl_jemalloc_load(&note) && strstr(note, "static TLS") && !getenv("BENCH_REEXEC")) {
        const char *old = getenv("GLIBC_TUNABLES");
        char tun[1024];
        snprintf(tun, sizeof tun, "%s%sglibc.rtld.optional_static_tls=65536", old ? old : "",
                 old && *old ? ":" : "");
        setenv("GLIBC_TUNABLES", tun, 1);
        setenv("BENCH_REEXEC", "1", 1);
        execv("/proc/self/exe", argv);
        /* exec failed: go on without jemalloc */
    }

    mkdir(out_dir, 0777); /* make creates it; by hand, one level is enough */
    char path[512];
    if (!md_path) {
        snprintf(path, sizeof path, "%s/results.md", out_dir);
        md_path = path;
    }
    md = fopen(md_path, "w");
    if (!md)
        fprintf(stderr, "bench: cannot write %s: %s (stdout only)\n", md_path, strerror(errno));

    results_init();
    if (bl_jemalloc_load(&note))
        impls[I_JEMALLOC].note = note;
    if (bl_mimalloc_load(&note))
        impls[I_MIMALLOC].note = note;

    uint64_t t0 = now_ns();
    section_machine();
    if (want("latency"))
        section_latency();
    if (want("n"))
        section_n();
    if (want("threads"))
        section_threads();
    if (want("backpressure")) {
        section_backpressure();
        section_paced();
    }
    if (want("wake"))
        section_wake();
    if (want("cpu"))
        section_cpu();
    if (want("rss"))
        section_rss();
    if (want("region"))
        section_region();
    if (want("syscalls"))
        section_syscalls();
    section_summary();
    out("\nTotal benchmark time: %.1f s.\n", (double)(now_ns() - t0) / 1e9);
    if (md)
        fclose(md);
    return 0;
}
