/*
 * mixed.c: allocations of mixed sizes (section "mixed").
 *
 * Ring: each thread keeps 16 live allocations; an op releases a random
 * slot's allocation and allocates a random n in 1..256 buffers of 4 KiB
 * (4 KiB .. 1 MiB) into it, then writes one byte into every buffer of it
 * (the workload and the implementations are in sized.h).  64 MiB budget;
 * live bytes never exceed 16 MiB per thread, so the budget never binds and
 * what is measured is how each one serves and recycles varied lengths.
 * 1 and 2 threads on one pool, each thread its own ring.  Then "once": the
 * same random n, allocated, written and released at once, one thread.
 *
 * Method: each implementation in a fresh process of its own (this binary
 * run again), so that its allocator's state depends on no other's and not
 * on the sections that ran before (see measure()); in it one pool and the
 * threads' rings, kept full from one round to the next.  Setup: the rings
 * filled and a warm-up of 512 ops per thread (or 1 s, 30 ms with --quick,
 * whichever comes first: long enough for caches to fill the budget).  Then
 * bench_rounds() interleaved rounds (the order rotated) of 150 ms (15 ms
 * with --quick), every implementation given the same seeds in a round; a
 * cell is the total ops/s (each thread's ops over its own elapsed time,
 * summed), median (min..max) of the rounds.
 *
 * Peak RSS: one fresh child process per implementation and thread count
 * (bench_child: this binary run again, so no heap state is inherited): the
 * rings filled, then 2048 ops per thread (128 with --quick), the same
 * sequence for every implementation, or 2 s (50 ms), whichever comes
 * first; growth = VmHWM at the end minus VmRSS before the pool was created
 * (peak reset via clear_refs), over the budget.  One run each.  Writes
 * mixed.dat for the plot.
 *
 * Targets (bufpool, default mode), 1 and 2 threads: ops/s at least the
 * best malloc-based baseline's (glibc, jemalloc, mimalloc, original) and at
 * least 5x glibc's; peak RSS growth at most 1.05x the budget.  Once: at
 * least the best malloc-based baseline's.
 */
#include "sized.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MX_NT 2
/* Warm-up: this many ops per thread, or this long, whichever comes first. */
#define MX_WARMUP_OPS 512u
#define MX_WARMUP_NS (bench_opt.quick ? 30000000u : 1000000000u)
/* The RSS children: this many ops per thread (the same sequence for all),
 * or this long, whichever comes first. */
#define MX_RSS_OPS (bench_opt.quick ? 128u : 2048u)
#define MX_RSS_NS (bench_opt.quick ? 50000000u : 2000000000u)
static const int mx_threads[MX_NT] = {1, 2};

/* ---- the timings: one child per implementation, rounds interleaved ----
 * Each implementation runs in a process of its own (bench_child_spawn),
 * so that no allocator's state depends on another's (glibc's mmap and trim
 * thresholds move with everything freed in the process, and the original
 * and the glibc baseline share that heap) or on the sections that ran
 * before.  The parent interleaves the rounds: it tells one child at a time
 * to run a round and waits for its figure, rotating the order each round.
 * The commands: */
enum { MX_QUIT, MX_SETUP, MX_ROUND };
struct mx_cmd {
    uint64_t op, seed;
};

int bench_child_mixed_time(int fd, int argc, char **argv)
{
    if (argc != 4)
        return 2;
    int impl = atoi(argv[0]), nt = atoi(argv[1]);
    bool once = atoi(argv[2]) != 0;
    bench_opt.quick = atoi(argv[3]) != 0;
    if (impl < 0 || impl >= NSZ || nt < 1 || nt > BENCH_MIXED_MAX_THREADS)
        return 2;
    bench_sized_load();
    const bench_sized *im = &bench_sized_impls[impl];
    static bench_slot rings[BENCH_MIXED_MAX_THREADS][BENCH_RING];
    uint64_t dur = bench_opt.quick ? 15000000u : 150000000u;
    void *pool = NULL;
    struct mx_cmd c;
    while (bench_child_read(&c, sizeof c) && c.op != MX_QUIT) {
        double v;
        if (c.op == MX_SETUP && !pool) {
            int err = im->note ? -ENOTSUP : im->create(&pool, BENCH_MIXED_BS, BENCH_MIXED_BUDGET);
            v = err;
            if (!err) {
                uint64_t seed = c.seed;
                if (!once)
                    for (int t = 0; t < nt; t++)
                        bench_ring_fill(im, pool, rings[t], &seed);
                /* long enough for caches to fill the budget */
                bench_mixed_run(im, pool, nt, once ? NULL : rings, MX_WARMUP_NS, MX_WARMUP_OPS,
                                seed, NULL);
            } else {
                pool = NULL;
            }
        } else if (c.op == MX_ROUND && pool) {
            v = bench_mixed_run(im, pool, nt, once ? NULL : rings, dur, 0, c.seed, NULL);
        } else {
            return 2;
        }
        if (!bench_child_write(fd, &v, sizeof v))
            return 3;
    }
    if (pool) {
        if (!once)
            for (int t = 0; t < nt; t++)
                bench_ring_drain(im, pool, rings[t]);
        im->destroy(pool);
    }
    return 0;
}

/* k ops/s of ids[0..n) with nt threads (ring or once), res[k] for ids[k]. */
static void measure(const int *ids, int n, int nt, bool once, bench_spread *res)
{
    struct bench_proc procs[NSZ];
    double samples[NSZ][16], v;
    int nr = bench_rounds();
    char a[4][16];
    const char *args[4] = {a[0], a[1], a[2], a[3]}, *why;
    for (int k = 0; k < n; k++) {
        snprintf(a[0], sizeof a[0], "%d", ids[k]);
        snprintf(a[1], sizeof a[1], "%d", nt);
        snprintf(a[2], sizeof a[2], "%d", once);
        snprintf(a[3], sizeof a[3], "%d", bench_opt.quick);
        bench_child_spawn("mixed_time", args, 4, &procs[k]);
    }
    /* One at a time: a setup's warm-up must not overlap another's. */
    for (int k = 0; k < n; k++) {
        struct mx_cmd c = {MX_SETUP, 0x51ed270b27d3f1a5u};
        if (!bench_child_send(&procs[k], &c, sizeof c) || !bench_child_recv(&procs[k], &v, sizeof v))
            bench_die("mixed: %s: its child died in setup", bench_sized_impls[ids[k]].name);
        if (v != 0)
            bench_die("mixed: %s: create failed: %s", bench_sized_impls[ids[k]].name,
                      strerror((int)-v));
    }
    for (int r = 0; r < nr; r++)
        for (int j = 0; j < n; j++) {
            int k = (j + r) % n; /* rotate who goes first */
            struct mx_cmd c = {MX_ROUND, 0x243f6a8885a308d3u * (uint64_t)(r + 1)};
            if (!bench_child_send(&procs[k], &c, sizeof c) ||
                !bench_child_recv(&procs[k], &v, sizeof v))
                bench_die("mixed: %s: its child died in round %d", bench_sized_impls[ids[k]].name,
                          r);
            samples[k][r] = v / 1e3;
        }
    for (int k = 0; k < n; k++) {
        struct mx_cmd c = {MX_QUIT, 0};
        bench_child_send(&procs[k], &c, sizeof c);
        if (bench_child_wait(&procs[k], &why))
            bench_die("mixed: %s: %s", bench_sized_impls[ids[k]].name, why);
        res[k] = bench_spread_of(samples[k], (size_t)nr);
    }
}

/* The best malloc-based median of res (index into ids), or -1. */
static int best_malloc(const int *ids, int n, const bench_spread *res)
{
    int best = -1;
    for (int k = 0; k < n; k++)
        if (bench_sized_impls[ids[k]].malloc_based && (best < 0 || res[k].med > res[best].med))
            best = k;
    return best;
}

/* ---- peak RSS, in a fresh child ------------------------------------------ */

struct mx_rss {
    long base_kb, hwm_kb;
    uint64_t ops;
    int err;
};

int bench_child_mixed_rss(int fd, int argc, char **argv)
{
    if (argc != 4)
        return 2;
    int impl = atoi(argv[0]), nt = atoi(argv[1]);
    uint64_t max_ops = strtoull(argv[2], NULL, 10), dur = strtoull(argv[3], NULL, 10);
    if (impl < 0 || impl >= NSZ || nt < 1 || nt > BENCH_MIXED_MAX_THREADS)
        return 2;
    bench_sized_load();
    const bench_sized *im = &bench_sized_impls[impl];
    static bench_slot rings[BENCH_MIXED_MAX_THREADS][BENCH_RING];
    struct mx_rss res = {0, 0, 0, 0};
    bench_reset_hwm();
    res.base_kb = bench_status_kb("VmRSS");
    void *pool;
    res.err = im->note ? -ENOTSUP : im->create(&pool, BENCH_MIXED_BS, BENCH_MIXED_BUDGET);
    if (!res.err) {
        uint64_t seed = 0x2545f4914f6cdd1du;
        for (int t = 0; t < nt; t++)
            bench_ring_fill(im, pool, rings[t], &seed);
        bench_mixed_run(im, pool, nt, rings, dur, max_ops, seed, &res.ops);
        res.hwm_kb = bench_status_kb("VmHWM");
        for (int t = 0; t < nt; t++)
            bench_ring_drain(im, pool, rings[t]);
        im->destroy(pool);
    }
    return bench_child_write(fd, &res, sizeof res) ? 0 : 3;
}

/* Growth / budget of impl with nt threads (NAN on failure, *why said). */
static double rss_growth(int impl, int nt, uint64_t *ops, const char **why)
{
    char a0[16], a1[16], a2[32], a3[32];
    snprintf(a0, sizeof a0, "%d", impl);
    snprintf(a1, sizeof a1, "%d", nt);
    snprintf(a2, sizeof a2, "%u", MX_RSS_OPS);
    snprintf(a3, sizeof a3, "%u", MX_RSS_NS);
    const char *args[4] = {a0, a1, a2, a3};
    struct mx_rss res;
    if (bench_child("mixed_rss", args, 4, &res, sizeof res, why))
        return NAN;
    if (res.err) {
        *why = strerror(-res.err);
        return NAN;
    }
    *ops = res.ops;
    return (double)(res.hwm_kb - res.base_kb) * 1024.0 / (double)BENCH_MIXED_BUDGET;
}

/* ---- the section ----------------------------------------------------------- */

static void ratio_cells(const bench_spread *res, int k, int best, int glibc)
{
    if (best >= 0)
        bench_out(" %.2f |", res[k].med / res[best].med);
    else
        bench_out(" |");
    if (glibc >= 0)
        bench_out(" %.2f |", res[k].med / res[glibc].med);
    else
        bench_out(" |");
}

void bench_section_mixed(void)
{
    bench_sized_load();
    int ids[NSZ];
    int n = bench_sized_available(ids);
    int nr = bench_rounds();
    uint64_t dur = bench_opt.quick ? 15000000u : 150000000u;
    long cpus = bench_cpus();
    bench_spread ring[MX_NT][NSZ], once[NSZ];
    for (int t = 0; t < MX_NT; t++) {
        bench_progress("mixed: ring, %d thread(s) x %d implementations x %d rounds ...\n",
                       mx_threads[t], n, nr);
        measure(ids, n, mx_threads[t], false, ring[t]);
    }
    bench_progress("mixed: allocate then release at once x %d implementations ...\n", n);
    measure(ids, n, 1, true, once);

    int bp = bench_find(ids, n, SZ_BUFPOOL), gl = bench_find(ids, n, SZ_GLIBC);
    int best[MX_NT];
    for (int t = 0; t < MX_NT; t++)
        best[t] = best_malloc(ids, n, ring[t]);
    bench_out("## Mixed sizes: random 1..256 x 4 KiB, 16 live allocations per thread\n\n");
    bench_out("Each thread keeps a ring of %d live allocations; an op releases a random slot's "
              "allocation and allocates a random n in 1..%d buffers of 4 KiB (4 KiB .. 1 MiB) into "
              "it, then writes one byte into each buffer of it. Budget %zu MiB, one pool shared by "
              "the threads (live bytes stay under 16 MiB per thread: the budget never binds). "
              "glibc, jemalloc, mimalloc: the allocator's page-aligned call "
              "(posix_memalign(4096, n * 4096) for glibc) behind a budget counter; original: the "
              "original's design (glibc malloc); bufpool REGION: its region pre-faulted once at "
              "create. Each implementation runs in a fresh process of its own (this binary run "
              "again), so no allocator's state depends on another's or on the sections before; "
              "the rounds are interleaved across those processes. k ops/s, median (min..max) "
              "of %d interleaved rounds of %.0f ms after a warm-up; \"x best\": "
              "the ratio of medians to the best malloc-based baseline (glibc, jemalloc, mimalloc, "
              "original: %s at 1 thread, %s at 2), \"x glibc\" to glibc's. This machine has %ld "
              "CPUs%s.\n\n",
              BENCH_RING, BENCH_MIXED_MAXN, BENCH_MIXED_BUDGET / MiB, nr, (double)dur / 1e6,
              best[0] >= 0 ? bench_sized_impls[ids[best[0]]].name : "none",
              best[1] >= 0 ? bench_sized_impls[ids[best[1]]].name : "none", cpus,
              cpus < 2 ? " (2 threads are oversubscribed)" : "");
    bench_out("| implementation | 1 thread (k ops/s) | x best | x glibc | 2 threads (k ops/s) | "
              "x best | x glibc |\n|:--|--:|--:|--:|--:|--:|--:|\n");
    for (int k = 0; k < n; k++) {
        bench_out("| %s |", bench_sized_impls[ids[k]].name);
        for (int t = 0; t < MX_NT; t++) {
            bench_out(" %s |", BENCH_SPREAD(ring[t][k], 1));
            ratio_cells(ring[t], k, best[t], gl);
        }
        bench_out("\n");
    }
    bench_out("\n");

    /* Peak RSS, fresh children. */
    double growth[MX_NT][NSZ];
    uint64_t ops[MX_NT][NSZ];
    const char *fail[MX_NT][NSZ];
    bench_progress("mixed: peak RSS, %d children x up to %.1f s ...\n", MX_NT * n,
                   (double)MX_RSS_NS / 1e9);
    for (int t = 0; t < MX_NT; t++)
        for (int k = 0; k < n; k++) {
            const char *why = "";
            ops[t][k] = 0;
            growth[t][k] = rss_growth(ids[k], mx_threads[t], &ops[t][k], &why);
            fail[t][k] = isnan(growth[t][k]) ? strdup(why) : NULL;
        }
    bench_out("### Peak RSS growth under the mixed-size ring\n\n");
    bench_out("One fresh child process per implementation and thread count (this binary run "
              "again: no heap state inherited): the rings filled, then %u ops per thread (the "
              "same sequence for every implementation) or %.1f s, whichever comes first; growth "
              "= VmHWM at the end minus VmRSS before the pool is created (peak reset via "
              "clear_refs), in MiB and over the %zu MiB budget. One run each. REGION's growth "
              "includes its pre-faulted region.\n\n",
              MX_RSS_OPS, (double)MX_RSS_NS / 1e9, BENCH_MIXED_BUDGET / MiB);
    bench_out("| implementation | 1 thread (MiB) | x budget | 2 threads (MiB) | x budget | ops "
              "(1 / 2 threads) |\n|:--|--:|--:|--:|--:|--:|\n");
    for (int k = 0; k < n; k++) {
        bench_out("| %s |", bench_sized_impls[ids[k]].name);
        for (int t = 0; t < MX_NT; t++)
            if (fail[t][k])
                bench_out(" failed (%s) | |", fail[t][k]);
            else
                bench_out(" %.1f | %.2f |", growth[t][k] * (double)BENCH_MIXED_BUDGET / (double)MiB,
                          growth[t][k]);
        bench_out(" %llu / %llu |\n", (unsigned long long)ops[0][k], (unsigned long long)ops[1][k]);
    }
    bench_out("\n");

    int bo = best_malloc(ids, n, once);
    bench_out("## Allocate then release at once: random 1..256 x 4 KiB, one thread\n\n");
    bench_out("The same random n and the same writes, each allocation released right after it "
              "is written; one process per implementation as above; k ops/s, median (min..max) of %d "
              "interleaved rounds of %.0f ms; ratios "
              "of medians to the best malloc-based baseline (%s) and to glibc.\n\n",
              nr, (double)dur / 1e6, bo >= 0 ? bench_sized_impls[ids[bo]].name : "none");
    bench_out("| implementation | k ops/s | x best | x glibc |\n|:--|--:|--:|--:|\n");
    for (int k = 0; k < n; k++) {
        bench_out("| %s | %s |", bench_sized_impls[ids[k]].name, BENCH_SPREAD(once[k], 1));
        ratio_cells(once, k, bo, gl);
        bench_out("\n");
    }
    bench_out("\n");

    /* Verdicts: bufpool, default mode. */
    if (bp >= 0) {
        char what[160];
        for (int t = 0; t < MX_NT; t++) {
            int b = best[t];
            snprintf(what, sizeof what,
                     "mixed sizes, %d thread%s: ops/s at least the best malloc-based baseline's (%s)",
                     mx_threads[t], mx_threads[t] > 1 ? "s" : "",
                     b >= 0 ? bench_sized_impls[ids[b]].name : "none");
            bench_target(what, ring[t][bp].med, BENCH_AT_LEAST, b >= 0 ? ring[t][b].med : NAN,
                         "k ops/s");
            snprintf(what, sizeof what, "mixed sizes, %d thread%s: ops/s at least 5x glibc's",
                     mx_threads[t], mx_threads[t] > 1 ? "s" : "");
            bench_target(what, ring[t][bp].med, BENCH_AT_LEAST,
                         gl >= 0 ? 5 * ring[t][gl].med : NAN, "k ops/s");
            snprintf(what, sizeof what, "mixed sizes, %d thread%s: peak RSS growth / budget",
                     mx_threads[t], mx_threads[t] > 1 ? "s" : "");
            if (fail[t][bp])
                bench_target_text(what, fail[t][bp], "<= 1.05 x", false);
            else
                bench_target(what, growth[t][bp], BENCH_AT_MOST, 1.05, "x");
        }
        snprintf(what, sizeof what,
                 "allocate then release at once: ops/s at least the best malloc-based baseline's (%s)",
                 bo >= 0 ? bench_sized_impls[ids[bo]].name : "none");
        bench_target(what, once[bp].med, BENCH_AT_LEAST, bo >= 0 ? once[bo].med : NAN, "k ops/s");
    }

    /* For the plot: a row per implementation; 1 thread, 2 threads, once;
     * median min max each, in k ops/s. */
    FILE *f = bench_data_file("mixed.dat");
    if (f) {
        fprintf(f, "impl \"ring, 1 thread\" min max \"ring, 2 threads\" min max "
                   "\"alloc+release at once\" min max\n");
        for (int k = 0; k < n; k++) {
            fprintf(f, "\"%s\"", bench_sized_impls[ids[k]].name);
            const bench_spread *c[3] = {&ring[0][k], &ring[1][k], &once[k]};
            for (int i = 0; i < 3; i++)
                fprintf(f, " %.3f %.3f %.3f", c[i]->med, c[i]->lo, c[i]->hi);
            fprintf(f, "\n");
        }
        fclose(f);
    }
    for (int t = 0; t < MX_NT; t++)
        for (int k = 0; k < n; k++)
            free((void *)fail[t][k]);
}
