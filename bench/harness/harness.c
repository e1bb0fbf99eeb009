/*
 * harness.c: the machinery every bench section uses (declared in
 * harness.h): options, markdown output, the machine table, medians and
 * spreads, CDF data files, the table of implementations with their timed
 * loops, and the interleaved latency measurement.
 *
 * The implementations are bufpool (default, BUFPOOL_REGION and
 * BUFPOOL_FIFO), bufpool 1.0 (the 1.0.0 release built from the history,
 * v10.h) and the baseline pools of baselines.h: the original Rust design
 * ported to C, a naive CAS pool, a mutex+condvar pool, plain malloc, and
 * jemalloc and mimalloc behind the naive budget when installed.  Every timed roundtrip
 * writes a byte into the first and the last buffer (every buffer with
 * --touch-all) and folds the pointer into bench_sink, so the compiler
 * cannot delete the work.
 */
#include "harness.h"
#include "v10.h"

#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

struct bench_options bench_opt = {.quick = false, .touch_all = false, .out_dir = "build/bench"};
volatile uintptr_t bench_sink;

/* ---- output ------------------------------------------------------------- */

static FILE *md;

/* stdout and the markdown file: `make bench` shows the run live and keeps
 * it, without a shell pipe that would hide the exit code. */
void bench_out(const char *fmt, ...)
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

void bench_progress(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

void bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

void bench_md_open(const char *path)
{
    md = fopen(path, "w");
    if (!md)
        fprintf(stderr, "bench: cannot write %s: %s (stdout only)\n", path, strerror(errno));
}

void bench_md_close(void)
{
    if (md)
        fclose(md);
    md = NULL;
}

FILE *bench_data_file(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", bench_opt.out_dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "bench: cannot write %s: %s (plot data skipped)\n", path, strerror(errno));
    return f;
}

/* ---- the machine -------------------------------------------------------- */

long bench_cpus(void)
{
    return sysconf(_SC_NPROCESSORS_ONLN);
}

static void cpu_model(char *model, size_t len)
{
    snprintf(model, len, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "model name", 10)) {
            char *c = strchr(line, ':');
            if (c) {
                c += 1 + (c[1] == ' ');
                c[strcspn(c, "\n")] = 0;
                snprintf(model, len, "%s", c);
            }
            break;
        }
    }
    fclose(f);
}

/* A string for a gnuplot double-quoted literal: no quotes, no backslashes. */
static void gp_clean(char *s)
{
    for (; *s; s++)
        if (*s == '"' || *s == '\\')
            *s = '\'';
}

void bench_machine(void)
{
    char model[256];
    cpu_model(model, sizeof model);
    struct utsname u;
    uname(&u);
    time_t t = time(NULL);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    bench_out("# bufpool benchmark\n\n");
    bench_out("| machine | |\n|:--|:--|\n");
    bench_out("| CPU | %s (%ld online CPUs) |\n", model, bench_cpus());
    bench_out("| kernel | %s %s %s |\n", u.sysname, u.release, u.machine);
    bench_out("| compiler | %s |\n", __VERSION__);
    bench_out("| libc | glibc %s |\n", gnu_get_libc_version());
    int v = bufpool_version();
    bench_out("| bufpool | %d.%d.%d |\n", v / 10000, v / 100 % 100, v % 100);
#if BENCH_HAVE_V10
    v = bp10_version();
    bench_out("| bufpool 1.0 (baseline) | %d.%d.%d, commit f85f7bb |\n", v / 10000, v / 100 % 100,
              v % 100);
#else
    bench_out("| bufpool 1.0 (baseline) | not available (no git history) |\n");
#endif
    bench_out("| date | %s |\n", date);
    bench_out("| mode | %s%s |\n\n",
              bench_opt.quick ? "--quick (short rounds: numbers are rough)" : "full",
              bench_opt.touch_all ? ", --touch-all" : "");
    bench_out("In the timed tables a cell is the median of interleaved rounds and, in "
              "parentheses, the range of the rounds: 12.3 (11.9..13.0). Tables from a single "
              "run say so.\n\n");
    for (int i = 0; i < NIMPL; i++)
        if (bench_impls[i].note)
            bench_out("Note: %s\n\n", bench_impls[i].note);

    /* The plot's label. */
    FILE *f = bench_data_file("machine.gp");
    if (f) {
        char kernel[sizeof u.sysname + sizeof u.release + 2];
        snprintf(kernel, sizeof kernel, "%s %s", u.sysname, u.release);
        gp_clean(model);
        gp_clean(kernel);
        fprintf(f, "# written by bench: the machine, for plot.gp\n");
        fprintf(f, "machine_cpu = \"%s\"\n", model);
        fprintf(f, "machine_cpus = %ld\n", bench_cpus());
        fprintf(f, "machine_kernel = \"%s\"\n", kernel);
        fprintf(f, "machine_mode = \"%s\"\n", bench_opt.quick ? "--quick: rough numbers" : "full run");
        fclose(f);
    }
}

/* ---- time and statistics ------------------------------------------------ */

void bench_sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int bench_rounds(void)
{
    return bench_opt.quick ? 3 : 9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int bench_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

bench_spread bench_spread_of(const double *v, size_t n)
{
    double tmp[64];
    if (n == 0 || n > 64)
        return (bench_spread){NAN, NAN, NAN};
    memcpy(tmp, v, n * sizeof *v);
    qsort(tmp, n, sizeof *tmp, cmp_double);
    double med = n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
    return (bench_spread){med, tmp[0], tmp[n - 1]};
}

const char *bench_fmt_spread(char *buf, size_t len, bench_spread s, int prec)
{
    snprintf(buf, len, "%.*f (%.*f..%.*f)", prec, s.med, prec, s.lo, prec, s.hi);
    return buf;
}

uint64_t bench_pct(const uint64_t *sorted, size_t n, double q)
{
    if (n == 0)
        return 0;
    double x = q * (double)n;
    size_t i = (size_t)x;
    if ((double)i < x) /* ceil */
        i++;
    return sorted[i ? i - 1 : 0];
}

void bench_write_cdf(const char *file, int nseries, const char *const names[],
                     uint64_t *const sorted[], const size_t counts[])
{
    FILE *f = bench_data_file(file);
    if (!f)
        return;
    fprintf(f, "q");
    for (int k = 0; k < nseries; k++)
        fprintf(f, " \"%s\"", names[k]);
    fprintf(f, "\n");
    for (int i = 0; i <= 1000; i++) {
        double q = i / 1000.0;
        fprintf(f, "%.3f", q);
        for (int k = 0; k < nseries; k++) {
            if (!counts[k])
                fprintf(f, " NaN");
            else /* q = 0: the fastest sample */
                fprintf(f, " %.3f", (double)(i ? bench_pct(sorted[k], counts[k], q) : sorted[k][0]) / 1e3);
        }
        fprintf(f, "\n");
    }
    fclose(f);
}

/* ---- implementations ---------------------------------------------------- */

__attribute__((noreturn, cold)) static void alloc_failed(int err)
{
    bench_die("allocate failed in a timed loop: %s", strerror(-err));
}

/* One allocate+release roundtrip loop per implementation, direct calls. */
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
            bench_touch(p, n, bs, (char)i, bench_opt.touch_all);                \
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

#if BENCH_HAVE_V10
DEFINE_LOOP(loop_v10, bp10_pool, bp10_alloc, bp10_allocate, (char *)bp10_alloc_first,
            bp10_alloc_release)
#endif

/* bufpool behind the pointers */
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
static int bp_create_fifo(void **pool, size_t bs, size_t max_memory)
{
    return bp_create_flags(pool, bs, max_memory, BUFPOOL_FIFO);
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
static size_t bp_total_waits(void *pool)
{
    bufpool_stats s;
    bufpool_get_stats(pool, &s);
    return (size_t)s.total_waits;
}

/* bufpool 1.0 behind the pointers (v10.h); without it, create fails and
 * bench_impls_load notes why */
#if BENCH_HAVE_V10
static int v10_create(void **pool, size_t bs, size_t max_memory)
{
    bufpool_config cfg = {.buffer_size = bs, .max_memory = max_memory, .flags = 0};
    bp10_pool *p = NULL;
    int err = bp10_create(&p, &cfg);
    *pool = p;
    return err;
}
static int v10_allocate(void *pool, size_t n, void **a)
{
    bp10_alloc *x = NULL;
    int err = bp10_allocate(pool, n, &x);
    *a = x;
    return err;
}
static char *v10_first(void *a)
{
    return bp10_alloc_first(a);
}
static void v10_release(void *a)
{
    bp10_alloc_release(a);
}
static void v10_destroy(void *pool)
{
    bp10_destroy(pool);
}
static size_t v10_waiters(void *pool)
{
    bufpool_stats s;
    bp10_get_stats(pool, &s);
    return s.waiters;
}
static size_t v10_total_waits(void *pool)
{
    bufpool_stats s;
    bp10_get_stats(pool, &s);
    return (size_t)s.total_waits;
}
#define V10_IMPL                                                                            \
    {"bufpool 1.0", v10_create, v10_allocate, v10_first, v10_release, v10_destroy,           \
     v10_waiters, v10_total_waits, loop_v10, NULL}
#else
static int v10_create(void **pool, size_t bs, size_t max_memory)
{
    (void)bs;
    (void)max_memory;
    *pool = NULL;
    return -ENOTSUP;
}
#define V10_NOTE                                                                            \
    "bufpool 1.0: not available (built without the git history that holds its release, "   \
    "commit f85f7bb: a tarball or a shallow clone); its rows are left out and the targets "   \
    "against it are not judged"
#define V10_IMPL                                                                            \
    {"bufpool 1.0", v10_create, NULL, NULL, NULL, NULL, NULL, NULL, NULL, V10_NOTE}
#endif

/* the baselines behind the pointers */
static char *blw_first(void *a)
{
    return ((bl_alloc *)a)->first;
}
static size_t blw_waiters(void *pool)
{
    return bl_waiters(pool);
}
static size_t blw_total_waits(void *pool)
{
    return bl_total_waits(pool);
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
    {#kind,           blw_##kind##_create, blw_##kind##_allocate, blw_first,          \
     blw_##kind##_release, blw_##kind##_destroy, blw_waiters, blw_total_waits,         \
     loop_##kind,     NULL}

bench_impl bench_impls[NIMPL] = {
    [IMPL_BUFPOOL] = {"bufpool", bp_create, bp_allocate, bp_first, bp_release, bp_destroy,
                      bp_waiters, bp_total_waits, loop_bufpool, NULL},
    [IMPL_ORIGINAL] = BL_IMPL(original),
    [IMPL_NAIVE] = BL_IMPL(naive),
    [IMPL_MUTEX] = BL_IMPL(mutex),
    [IMPL_MALLOC] = BL_IMPL(malloc),
    [IMPL_JEMALLOC] = BL_IMPL(jemalloc),
    [IMPL_MIMALLOC] = BL_IMPL(mimalloc),
    [IMPL_REGION] = {"bufpool REGION", bp_create_region, bp_allocate, bp_first, bp_release,
                     bp_destroy, bp_waiters, bp_total_waits, loop_bufpool, NULL},
    [IMPL_FIFO] = {"bufpool FIFO", bp_create_fifo, bp_allocate, bp_first, bp_release, bp_destroy,
                   bp_waiters, bp_total_waits, loop_bufpool, NULL},
    [IMPL_V10] = V10_IMPL,
};

const int bench_general[] = {IMPL_BUFPOOL, IMPL_ORIGINAL, IMPL_NAIVE, IMPL_MUTEX,
                             IMPL_MALLOC, IMPL_JEMALLOC, IMPL_MIMALLOC};
const size_t bench_ngeneral = sizeof bench_general / sizeof bench_general[0];

void bench_impls_load(void)
{
    const char *note;
    if (bl_jemalloc_load(&note))
        bench_impls[IMPL_JEMALLOC].note = note;
    if (bl_mimalloc_load(&note))
        bench_impls[IMPL_MIMALLOC].note = note;
}

int bench_available(const int *list, size_t n, int *ids)
{
    int k = 0;
    for (size_t i = 0; i < n; i++)
        if (!bench_impls[list[i]].note)
            ids[k++] = list[i];
    return k;
}

int bench_find(const int *ids, int n, int impl)
{
    for (int k = 0; k < n; k++)
        if (ids[k] == impl)
            return k;
    return -1;
}

/* ---- interleaved latency ------------------------------------------------ */

static double time_batch(const bench_impl *im, void *pool, size_t n, size_t bs, uint64_t iters)
{
    uint64_t t0 = bench_now_ns();
    uintptr_t acc = im->loop(pool, n, bs, iters);
    uint64_t t1 = bench_now_ns();
    bench_sink += acc;
    return (double)(t1 - t0) / (double)iters;
}

void bench_measure_latency(const int *ids, int nids, size_t bs, size_t n, bench_spread *res)
{
    void *pools[NIMPL];
    uint64_t iters[NIMPL];
    double samples[NIMPL][16];
    const double batch_ns = bench_opt.quick ? 2e6 : 20e6;
    size_t max_memory = 64 * MiB;
    if (max_memory < 4 * n * bs)
        max_memory = 4 * n * bs;

    for (int k = 0; k < nids; k++) {
        const bench_impl *im = &bench_impls[ids[k]];
        int err = im->create(&pools[k], bs, max_memory);
        if (err)
            bench_die("%s: create(%zu, %zu) failed: %s", im->name, bs, max_memory, strerror(-err));
        time_batch(im, pools[k], n, bs, 2000); /* warm-up: caches, page faults */
        double est = time_batch(im, pools[k], n, bs, 2000);
        double it = batch_ns / (est > 0.5 ? est : 0.5);
        iters[k] = it < 1000 ? 1000 : it > 5e7 ? 50000000 : (uint64_t)it;
    }
    int nr = bench_rounds();
    for (int r = 0; r < nr; r++)
        for (int j = 0; j < nids; j++) {
            int k = (j + r) % nids; /* rotate who goes first */
            samples[k][r] = time_batch(&bench_impls[ids[k]], pools[k], n, bs, iters[k]);
        }
    for (int k = 0; k < nids; k++) {
        res[k] = bench_spread_of(samples[k], (size_t)nr);
        bench_impls[ids[k]].destroy(pools[k]);
    }
}

/* ---- child processes ---------------------------------------------------- */

/* A child that hangs must not hang the run (a conversation re-arms it on
 * every command it reads, see bench_child_read). */
#define CHILD_TIMEOUT_S 120

int bench_child_main(int argc, char **argv)
{
    /* bench --child NAME FD ARG... */
    if (argc < 4)
        return 2;
    int fd = atoi(argv[3]);
    alarm(CHILD_TIMEOUT_S);
#define BENCH_DISPATCH_CHILD(name)                   \
    if (!strcmp(argv[2], #name))                     \
        return bench_child_##name(fd, argc - 4, argv + 4);
    BENCH_CHILDREN(BENCH_DISPATCH_CHILD)
#undef BENCH_DISPATCH_CHILD
    fprintf(stderr, "bench: unknown child '%s'\n", argv[2]);
    return 2;
}

/* Exactly len bytes from fd; false at EOF or on an error. */
static bool read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, (char *)buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

static bool write_full(int fd, const void *buf, size_t len)
{
    size_t put = 0;
    while (put < len) {
        ssize_t r = write(fd, (const char *)buf + put, len - put);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        put += (size_t)r;
    }
    return true;
}

bool bench_child_read(void *buf, size_t len)
{
    bool ok = read_full(0, buf, len);
    alarm(CHILD_TIMEOUT_S);
    return ok;
}

bool bench_child_write(int fd, const void *buf, size_t len)
{
    return write_full(fd, buf, len);
}

void bench_child_spawn(const char *name, const char *const *args, int nargs, struct bench_proc *p)
{
    char fdbuf[16];
    const char *argv[32];
    int res[2], cmd[2];
    if (nargs > 26)
        bench_die("bench_child: %d arguments", nargs);
    /* close-on-exec for the parent's ends, so that later children do not
     * inherit them (a child then sees EOF when the parent closes its end) */
    if (pipe2(res, O_CLOEXEC) || pipe2(cmd, O_CLOEXEC))
        bench_die("pipe: %s", strerror(errno));
    int k = 0;
    argv[k++] = "bench";
    argv[k++] = "--child";
    argv[k++] = name;
    argv[k++] = fdbuf;
    for (int i = 0; i < nargs; i++)
        argv[k++] = args[i];
    argv[k] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork: %s", strerror(errno));
    if (pid == 0) {
        /* the result pipe as a new fd without close-on-exec; commands on stdin */
        int wfd = dup(res[1]);
        if (wfd < 0 || (cmd[0] == 0 ? fcntl(0, F_SETFD, 0) : dup2(cmd[0], 0)) < 0)
            _exit(126);
        snprintf(fdbuf, sizeof fdbuf, "%d", wfd);
        execv("/proc/self/exe", (char *const *)argv);
        _exit(127);
    }
    close(res[1]);
    close(cmd[0]);
    p->pid = pid;
    p->from = res[0];
    p->to = cmd[1];
}

bool bench_child_send(struct bench_proc *p, const void *buf, size_t len)
{
    /* a child that died makes write fail with EPIPE, not kill us */
    struct sigaction sa = {.sa_handler = SIG_IGN}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, &old);
    bool ok = write_full(p->to, buf, len);
    sigaction(SIGPIPE, &old, NULL);
    return ok;
}

bool bench_child_recv(struct bench_proc *p, void *buf, size_t len)
{
    return read_full(p->from, buf, len);
}

int bench_child_wait(struct bench_proc *p, const char **why)
{
    static char msg[128];
    *why = msg;
    if (p->to >= 0)
        close(p->to);
    if (p->from >= 0)
        close(p->from);
    p->to = p->from = -1;
    int status;
    while (waitpid(p->pid, &status, 0) < 0)
        if (errno != EINTR) {
            snprintf(msg, sizeof msg, "waitpid: %s", strerror(errno));
            return -1;
        }
    if (WIFSIGNALED(status)) {
        snprintf(msg, sizeof msg, "child killed by %s", strsignal(WTERMSIG(status)));
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(msg, sizeof msg, "child exited %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return -1;
    }
    msg[0] = 0;
    return 0;
}

int bench_child(const char *name, const char *const *args, int nargs, void *res, size_t len,
                const char **why)
{
    struct bench_proc p;
    bench_child_spawn(name, args, nargs, &p);
    close(p.to); /* nothing to say: the child's stdin is at EOF */
    p.to = -1;
    bool got = bench_child_recv(&p, res, len);
    if (bench_child_wait(&p, why))
        return -1;
    if (!got) {
        *why = "no result from the child";
        return -1;
    }
    return 0;
}
