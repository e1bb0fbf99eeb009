/*
 * threads.c: total throughput of 1..4 threads doing allocate+release
 * roundtrips (64 B, n = 1) on one shared pool (section "threads").
 *
 * Method: for each thread count a fresh pool; every thread warms its own
 * caches with 1,000 roundtrips, waits at a barrier, then runs batches of
 * 256 roundtrips (the implementation's direct-call loop) until told to
 * stop after 150 ms (20 ms with --quick); its rate is its roundtrips over
 * its own elapsed time, and the cell is the sum over threads.  Rounds are
 * interleaved across implementations (7, or 2 with --quick); cells are
 * the median (min..max) of the rounds.  Thread counts above the machine's
 * CPU count are oversubscribed, and marked so in the table and the plot.
 * Writes threads.dat for the plot.
 *
 * Beside the general implementations, bufpool through one account (each
 * thread's account cache; issue [accounts]).
 *
 * Targets: 2 threads at least 1.6x one thread; through one account 1.8x.
 */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define MAX_THREADS 4

struct thr_ctx {
    const bench_impl *im;
    void *pool;
    pthread_barrier_t *start;
    atomic_bool *stop;
    uint64_t ops, ns;
};

static void *thr_main(void *arg)
{
    struct thr_ctx *c = arg;
    uint64_t ops = 0;
    uintptr_t sink = c->im->loop(c->pool, 1, 64, 1000); /* warm this thread's caches */
    pthread_barrier_wait(c->start);
    uint64_t t0 = bench_now_ns();
    /* the results fold into a local: a store to the shared bench_sink
     * every 256 roundtrips would bounce its line between the threads and
     * measure that instead of the pool */
    while (!atomic_load_explicit(c->stop, memory_order_relaxed)) {
        sink += c->im->loop(c->pool, 1, 64, 256);
        ops += 256;
    }
    c->ns = bench_now_ns() - t0;
    c->ops = ops;
    bench_sink += sink;
    return NULL;
}

/* Total M ops/s of nt threads doing roundtrips on one shared pool. */
static double run_threads(const bench_impl *im, int nt, uint64_t dur_ns)
{
    void *pool;
    int err = im->create(&pool, 64, 64 * MiB);
    if (err)
        bench_die("%s: create failed: %s", im->name, strerror(-err));
    pthread_t th[MAX_THREADS];
    struct thr_ctx ctx[MAX_THREADS];
    pthread_barrier_t start;
    atomic_bool stop = false;
    pthread_barrier_init(&start, NULL, (unsigned)nt + 1);
    for (int i = 0; i < nt; i++) {
        ctx[i] = (struct thr_ctx){im, pool, &start, &stop, 0, 0};
        if (pthread_create(&th[i], NULL, thr_main, &ctx[i]))
            bench_die("pthread_create failed");
    }
    pthread_barrier_wait(&start);
    bench_sleep_ns(dur_ns);
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

void bench_section_threads(void)
{
    int list[NIMPL], ids[NIMPL];
    memcpy(list, bench_general, bench_ngeneral * sizeof *list);
    list[bench_ngeneral] = IMPL_ACCOUNT;
    int n = bench_available(list, bench_ngeneral + 1, ids);
    int nr = bench_opt.quick ? 2 : 7;
    uint64_t dur = bench_opt.quick ? 20000000u : 150000000u;
    long cpus = bench_cpus();
    double s[NIMPL][MAX_THREADS][16];
    bench_progress("threads: 1..%d threads x %d implementations x %d rounds ...\n", MAX_THREADS, n,
                   nr);
    for (int r = 0; r < nr; r++)
        for (int j = 0; j < n; j++) {
            int k = (j + r) % n;
            for (int t = 1; t <= MAX_THREADS; t++)
                s[k][t - 1][r] = run_threads(&bench_impls[ids[k]], t, dur);
        }
    bench_out("## Throughput with threads sharing one pool (64 B, n = 1)\n\n");
    bench_out("Total M allocate+release/s, median (min..max) of %d interleaved rounds of %.0f ms; "
              "speedup of the median over one thread after it. This machine has %ld CPUs",
              nr, (double)dur / 1e6, cpus);
    if (cpus < MAX_THREADS)
        bench_out(": columns with more threads than that are oversubscribed (the threads take "
                  "turns on the CPUs)");
    bench_out(".\n\n| implementation |");
    for (int t = 1; t <= MAX_THREADS; t++)
        bench_out(" %d thread%s%s |", t, t > 1 ? "s" : "", t > cpus ? " (oversubscribed)" : "");
    bench_out("\n|:--|");
    for (int t = 1; t <= MAX_THREADS; t++)
        bench_out("--:|");
    bench_out("\n");
    bench_spread m[NIMPL][MAX_THREADS];
    for (int k = 0; k < n; k++) {
        bench_out("| %s |", bench_impls[ids[k]].name);
        for (int t = 0; t < MAX_THREADS; t++) {
            m[k][t] = bench_spread_of(s[k][t], (size_t)nr);
            if (t == 0)
                bench_out(" %s |", BENCH_SPREAD(m[k][t], 2));
            else
                bench_out(" %s %.2fx |", BENCH_SPREAD(m[k][t], 2), m[k][t].med / m[k][0].med);
        }
        bench_out("\n");
    }
    bench_out("\n");

    int bp = bench_find(ids, n, IMPL_BUFPOOL);
    bench_target("thread scaling: 2 threads / 1 thread", m[bp][1].med / m[bp][0].med,
                 BENCH_AT_LEAST, 1.6, "x");
    int ba = bench_find(ids, n, IMPL_ACCOUNT);
    bench_target("thread scaling through one account: 2 threads / 1 thread",
                 m[ba][1].med / m[ba][0].med, BENCH_AT_LEAST, 1.8, "x");

    /* For the plot: a row per thread count, a column per implementation. */
    FILE *f = bench_data_file("threads.dat");
    if (f) {
        fprintf(f, "threads");
        for (int k = 0; k < n; k++)
            fprintf(f, " \"%s\"", bench_impls[ids[k]].name);
        fprintf(f, "\n");
        for (int t = 0; t < MAX_THREADS; t++) {
            fprintf(f, "%d", t + 1);
            for (int k = 0; k < n; k++)
                fprintf(f, " %.3f", m[k][t].med);
            fprintf(f, "\n");
        }
        fclose(f);
    }
}
