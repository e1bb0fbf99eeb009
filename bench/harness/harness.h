/*
 * harness.h: what the bench sections share.  main.c parses the arguments
 * and runs the sections in order; the rest of bench/harness/ implements
 * this header, a file per concern: output.c (tables, progress, data
 * files), machine.c (the machine table), stats.c (medians, percentiles,
 * CDFs), impls.c (the implementations and their timed loops), measure.c
 * (the interleaved latency measurement), children.c (child processes) and
 * summary.c (the targets).
 *
 * A section is one function, bench_section_NAME(void), in a file of its
 * own in bench/sections/: it measures, prints its markdown tables with
 * bench_out(), writes the data files plot.gp reads with bench_data_file(),
 * and hands the summary its verdicts with bench_target().  Sections share
 * no results with each other.  Adding a section: its file, and one line in
 * BENCH_SECTIONS below.
 *
 * Method, common to every timed table: a warm-up, then rounds in which the
 * implementations take turns, the order rotated each round, so that drift
 * in CPU frequency or neighbours hits all of them alike.  A table cell is
 * the median of the rounds with their range: "12.3 (11.9..13.0)" is a
 * median of 12.3 and rounds between 11.9 and 13.0.
 */
#ifndef BENCH_HARNESS_H
#define BENCH_HARNESS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bufpool.h"
#include "baselines.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define MiB ((size_t)1 << 20)
#define KiB ((size_t)1 << 10)

/* ---- the sections -------------------------------------------------------
 * X(name, what): the --section name and a line for --help, in the order
 * they run.  The machine table comes first and the summary last, always. */
#define BENCH_SECTIONS(X)                                                         \
    X(latency, "allocate+release latency, one thread, 64 B, n = 1")              \
    X(n, "latency by number of buffers, 64 B and 4 KiB")                          \
    X(threads, "throughput of 1..4 threads sharing one pool")                     \
    X(backpressure, "producers -> queue -> consumer: closed loop, then paced")    \
    X(wake, "wake latency: release -> blocked allocate returns")                  \
    X(cpu, "CPU used by a blocked waiter")                                        \
    X(rss, "peak RSS under churn, one child process per implementation")          \
    X(region, "BUFPOOL_REGION: latency and a fragmenting workload")               \
    X(syscalls, "system calls per roundtrip, counted by strace")                  \
    X(mixed, "random 1..256 x 4 KiB: 16 live per thread; allocate+release")       \
    X(footprint, "RSS of page-sized buffers and of 1M tiny ones; pool create")           \
    X(xthread, "cross-thread release: producer allocates, consumer releases, 4 KiB")    \
    X(oversub, "8 and 32 threads on a 16 KiB budget: throughput, per-thread spread")    \
    X(starve, "a whole-budget request against 16 threads taking 1 buffer each")         \
    X(isolation, "a protected tenant beside a greedy one: shared, per-tenant pools, accounts") \
    X(pressure, "acting before blocking: what leak tracking costs the roundtrip")       \
    X(reclaim, "a cache beside bursts over the budget: with and without reclaim")       \
    X(instr, "instructions per cached roundtrip, counted by callgrind")                  \
    X(bufring, "io_uring provided-buffer rings: receive MB/s and peak RSS, N connections")

#define BENCH_DECLARE_SECTION(name, what) void bench_section_##name(void);
BENCH_SECTIONS(BENCH_DECLARE_SECTION)
#undef BENCH_DECLARE_SECTION

/* syscalls.c: the child that `strace` counts (main.c dispatches to it when
 * argv[1] is "--syscall-child"). */
int bench_syscalls_child(int argc, char **argv);

/* ---- child processes ------------------------------------------------------
 * A section that wants a fresh process (an RSS figure that inherits no heap
 * state from the sections before it, an allocator that shares its process
 * with no other) runs this binary again as `bench --child NAME FD ARG...`;
 * main.c hands that to bench_child_main, which calls
 * bench_child_NAME(fd, argc, argv) with the ARGs only.  The child writes
 * its results to fd (bench_child_write), reads the parent's commands, if
 * any, from stdin (bench_child_read), and returns 0.  X(name): every child. */
#define BENCH_CHILDREN(X)                                                                  \
    X(mixed_time) X(mixed_rss) X(pages) X(meta) X(create) X(instr) X(bufring) X(busy) X(reclaim)
#define BENCH_DECLARE_CHILD(name) int bench_child_##name(int fd, int argc, char **argv);
BENCH_CHILDREN(BENCH_DECLARE_CHILD)
#undef BENCH_DECLARE_CHILD
int bench_child_main(int argc, char **argv);
/* In the child: exactly len bytes of command (false at EOF: the parent is
 * done), and a result. */
bool bench_child_read(void *buf, size_t len);
bool bench_child_write(int fd, const void *buf, size_t len);

/* In the parent: a conversation with a child. */
struct bench_proc {
    int pid, to, from;
};
/* Start `bench --child name FD args[0..nargs)`; dies if it cannot. */
void bench_child_spawn(const char *name, const char *const *args, int nargs, struct bench_proc *p);
/* Exactly len bytes to / from the child; false if it is gone. */
bool bench_child_send(struct bench_proc *p, const void *buf, size_t len);
bool bench_child_recv(struct bench_proc *p, void *buf, size_t len);
/* Close both ends (the child sees EOF) and reap it: 0 if it exited 0, else
 * -1 and *why says how it ended (static storage, until the next call). */
int bench_child_wait(struct bench_proc *p, const char **why);
/* The one-shot form: spawn, read len bytes of result into res, reap. */
int bench_child(const char *name, const char *const *args, int nargs, void *res, size_t len,
                const char **why);

/* ---- busy threads (busy.c) ----------------------------------------------
 * --busy N: main.c starts N CPU-bound threads in a child process (the
 * child "busy") before each section and stops them after it.  The child
 * also ends when the bench's main thread dies and after a hard time limit,
 * so a crash of the bench cannot leave it running. */
/* The hard limit: longer than any section's full run, short enough that a
 * hung bench does not keep the CPUs busy for long. */
#define BENCH_BUSY_LIMIT_S 900
void bench_busy_start(int n); /* returns once every thread spins; dies if it cannot */
void bench_busy_stop(void);   /* notes in the tables if they had stopped early */
bool bench_busy_running(void);

/* ---- options (set by main.c before any section runs) -------------------- */

struct bench_options {
    bool quick;          /* --quick: short rounds, rough numbers */
    bool touch_all;      /* --touch-all: write every buffer, not first and last */
    int busy;            /* --busy N: N busy threads around each section; 0: none */
    const char *out_dir; /* --out: where the data files go */
};
extern struct bench_options bench_opt;

/* ---- output ------------------------------------------------------------- */

/* printf to stdout and to the markdown file (bench_md_open). */
void bench_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Progress to stderr: not part of the results. */
void bench_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn, format(printf, 1, 2))) void bench_die(const char *fmt, ...);
/* Open the markdown copy of bench_out, truncated or appended to; stdout
 * only if it fails. */
void bench_md_open(const char *path, bool append);
void bench_md_close(void);
/* Until called again with NULL, every "## " heading bench_out prints ends
 * with ", note": the busy run's tables say so in their titles. */
void bench_heading_note(const char *note);
/* out_dir/name opened for writing, or NULL (said on stderr). */
FILE *bench_data_file(const char *name);

/* The machine table at the top of the results; also writes machine.gp (the
 * plot's label: CPU model, CPU count, kernel, mode). */
void bench_machine(void);
long bench_cpus(void); /* online CPUs */

/* ---- time --------------------------------------------------------------- */

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A pause in a spin loop: lets the sibling hyperthread run. */
static inline void bench_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

void bench_sleep_ns(uint64_t ns);

static inline uint64_t bench_xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* ---- statistics --------------------------------------------------------- */

/* Rounds of the latency tables (3 with --quick, else 9). */
int bench_rounds(void);

/* The median of some rounds and their range. */
typedef struct bench_spread {
    double med, lo, hi;
} bench_spread;

/* Median, min and max of v[0..n); NAN for n == 0 or n > 64. */
bench_spread bench_spread_of(const double *v, size_t n);
/* "12.3 (11.9..13.0)" with prec digits after the point, into buf. */
const char *bench_fmt_spread(char *buf, size_t len, bench_spread s, int prec);
/* The same into a temporary that lives until the end of the enclosing
 * statement's block: bench_out("| %s |", BENCH_SPREAD(s, 1)). */
#define BENCH_SPREAD(s, prec) bench_fmt_spread((char[80]){0}, 80, (s), (prec))

int bench_cmp_u64(const void *a, const void *b);
/* q-quantile of sorted samples (nearest rank); 0 for no samples. */
uint64_t bench_pct(const uint64_t *sorted, size_t n, double q);
/* A CDF data file for plot.gp: column 1 the cumulative fraction q (0.000 ..
 * 1.000 in steps of 0.001), then one column per series, the q-quantile of
 * its sorted samples in us.  names[] head the columns. */
void bench_write_cdf(const char *file, int nseries, const char *const names[],
                     uint64_t *const sorted[], const size_t counts[]);

/* ---- implementations ---------------------------------------------------- */

enum {
    IMPL_BUFPOOL,
    IMPL_ORIGINAL,
    IMPL_NAIVE,
    IMPL_MUTEX,
    IMPL_MALLOC,
    IMPL_JEMALLOC,
    IMPL_MIMALLOC,
    IMPL_REGION, /* bufpool with BUFPOOL_REGION */
    IMPL_FIFO,   /* bufpool with BUFPOOL_FIFO */
    IMPL_V10,    /* bufpool 1.0.0, built from the history (v10.h); noted when not built */
    IMPL_ACCOUNT, /* bufpool through one account (a 1 MiB reservation) */
    IMPL_TRACK,   /* bufpool with BUFPOOL_TRACK: 1 allocation in 113 sampled */
    IMPL_WATCH,   /* bufpool with a watch armed that the roundtrip never crosses */
    NIMPL
};

/* Every pool behind one set of pointers, for the threaded scenarios where a
 * call's few ns do not matter; `loop` is the timed roundtrip loop with
 * direct calls (a pointer per call would add a few ns to every pool alike
 * and hide the differences we want to see). */
typedef struct bench_impl {
    const char *name;
    int (*create)(void **pool, size_t bs, size_t max_memory);
    int (*allocate)(void *pool, size_t n, void **a);
    char *(*first)(void *a);
    void (*release)(void *a);
    void (*destroy)(void *pool);
    size_t (*waiters)(void *pool);     /* blocked in allocate right now */
    size_t (*total_waits)(void *pool); /* requests that took the wait path */
    /* iters allocate+release roundtrips of n buffers of bs bytes; returns
     * the pointers folded together, for bench_sink */
    uintptr_t (*loop)(void *pool, size_t n, size_t bs, uint64_t iters);
    const char *note; /* non-NULL: not available, why */
} bench_impl;

extern bench_impl bench_impls[NIMPL];
/* The implementations of the general tables: all but REGION, FIFO and
 * 1.0 (the sections of issue [contention] add those two themselves). */
extern const int bench_general[];
extern const size_t bench_ngeneral;

/* The available ones of list[0..n) into ids; returns how many. */
int bench_available(const int *list, size_t n, int *ids);
/* Position of implementation `impl` in ids[0..n), or -1. */
int bench_find(const int *ids, int n, int impl);

/* The summary's note when bufpool 1.0 was not built (v10.h). */
#define BENCH_V10_MISSING                                                                  \
    "bufpool 1.0 was not built (no git history with its release, commit f85f7bb): its rows " \
    "say not available and the targets against it were not judged."

/* Loads jemalloc and mimalloc (baselines/dlheap.c) and notes what is missing. */
void bench_impls_load(void);

/* Everything a timed loop computes is folded in here, so the compiler
 * cannot delete the work. */
extern volatile uintptr_t bench_sink;

/* The buffer writes that keep a roundtrip's work alive: the first and last
 * buffer, or every buffer with --touch-all (that measures memory stores
 * more than the pool). */
static inline void bench_touch(char *p, size_t n, size_t bs, char v, bool all)
{
    if (all) {
        for (size_t i = 0; i < n; i++)
            p[i * bs] = v;
    } else {
        p[0] = v;
        p[(n - 1) * bs] = v;
    }
}

/* ns per allocate+release of n buffers of bs bytes for each of ids[0..nids):
 * pools side by side, warm-up, calibration to a batch of ~20 ms (2 ms with
 * --quick), bench_rounds() interleaved rounds; res[k] for ids[k]. */
void bench_measure_latency(const int *ids, int nids, size_t bs, size_t n, bench_spread *res);

/* ---- churn: the workload of rss.c, also run by region.c ----------------- */

#define BENCH_CHURN_THREADS 4
#define BENCH_CHURN_BUDGET (64 * MiB)
#define BENCH_CHURN_BS 4096

/* One churning thread: random 1..256 x 4 KiB blocks, every page touched, a
 * FIFO of live blocks within `quota` bytes. */
struct bench_churn {
    const bench_impl *im;
    void *pool;
    atomic_bool *stop;
    size_t quota; /* bytes this thread may hold: the quotas add up to the budget */
    uint64_t seed, ops, timeouts;
    bool region;  /* bufpool with a 2 s timeout, for region.c's fragmenting workload */
};
void *bench_churn_main(void *arg); /* pthread entry; arg: struct bench_churn */

/* ---- targets: the closing summary (summary.c) ---------------------------
 * Each section judges its own numbers against its targets as it finishes;
 * the summary prints the verdicts in the order recorded.  A later verdict
 * with the same `what` replaces the earlier one in place (the n section
 * re-measures what the latency section measured). */

enum bench_cmp { BENCH_AT_MOST, BENCH_AT_LEAST };

/* "value unit" against "<= limit unit" (or >=); skipped if either is NaN. */
void bench_target(const char *what, double value, enum bench_cmp cmp, double limit,
                  const char *unit);
/* A verdict whose measured and limit cells the section words itself. */
void bench_target_text(const char *what, const char *measured, const char *limit, bool met);
/* A paragraph printed after the verdicts (once per text). */
void bench_target_note(const char *text);
/* The summary table; main.c calls it after the sections. */
void bench_summary(void);

#endif /* BENCH_HARNESS_H */
