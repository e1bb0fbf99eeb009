/*
 * region.c: BUFPOOL_REGION mode against the default mode (section
 * "region").
 *
 * Latency: 4 KiB buffers, n = 1, 16, 256, bufpool and bufpool REGION side
 * by side (bench_measure_latency: interleaved rounds, median and range).
 *
 * Fragmenting workload: the churn of rss.c (4 threads, random n =
 * 1..256 x 4 KiB) on a 64 MiB region, with quotas adding up to 3/4 of it
 * and bufpool_allocate_timeout (2 s), so that a pool that cannot find a
 * contiguous run shows up as timeouts rather than a hung run.  The main
 * thread samples bufpool_get_stats every 20 ms (5 ms with --quick): the
 * largest free run and the bytes in use.  One run.  Writes region_frag.dat
 * for the plot.
 */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

enum { MAXPTS = 4096 };

/* The largest free run sampled over time, for the plot and the table. */
struct frag_trace {
    double t_ms[MAXPTS];
    size_t run[MAXPTS], used[MAXPTS];
    size_t np;
};

static void region_latency(void)
{
    bench_progress("region: latency ...\n");
    const int ids[2] = {IMPL_BUFPOOL, IMPL_REGION};
    static const size_t ns_[3] = {1, 16, 256};
    bench_spread res[3][2];
    for (int j = 0; j < 3; j++)
        bench_measure_latency(ids, 2, 4096, ns_[j], res[j]);
    bench_out("Latency, 4 KiB buffers, ns per allocate+release, median (min..max) of %d "
              "interleaved rounds:\n\n",
              bench_rounds());
    bench_out("| n | default | REGION | REGION / default |\n|--:|--:|--:|--:|\n");
    for (int j = 0; j < 3; j++)
        bench_out("| %zu | %s | %s | %.2f |\n", ns_[j], BENCH_SPREAD(res[j][0], 1),
                  BENCH_SPREAD(res[j][1], 1), res[j][1].med / res[j][0].med);
    bench_out("\n");
}

static void write_trace(const struct frag_trace *tr)
{
    FILE *f = bench_data_file("region_frag.dat");
    if (!f)
        return;
    fprintf(f, "ms largest_free_run_buffers in_use_MiB\n");
    for (size_t i = 0; i < tr->np; i++)
        fprintf(f, "%.1f %zu %.2f\n", tr->t_ms[i], tr->run[i], (double)tr->used[i] / (double)MiB);
    fclose(f);
}

static size_t median_run(const struct frag_trace *tr)
{
    static size_t sorted[MAXPTS];
    size_t np = tr->np;
    memcpy(sorted, tr->run, np * sizeof *sorted);
    for (size_t i = 1; i < np; i++) /* insertion sort: np is small */
        for (size_t j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            size_t t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    return np ? sorted[np / 2] : 0;
}

static void region_fragmenting(void)
{
    bench_progress("region: fragmenting workload ...\n");
    uint64_t dur = bench_opt.quick ? 200000000u : 2000000000u;
    void *pv;
    int err = bench_impls[IMPL_REGION].create(&pv, BENCH_CHURN_BS, BENCH_CHURN_BUDGET);
    if (err)
        bench_die("region create failed: %s", bufpool_strerror(err));
    bufpool *pool = pv;
    atomic_bool stop = false;
    struct bench_churn c[BENCH_CHURN_THREADS];
    pthread_t th[BENCH_CHURN_THREADS];
    for (int i = 0; i < BENCH_CHURN_THREADS; i++) {
        c[i] = (struct bench_churn){&bench_impls[IMPL_REGION], pool, &stop,
                                    BENCH_CHURN_BUDGET / BENCH_CHURN_THREADS * 3 / 4,
                                    0x2545f4914f6cdd1du * (uint64_t)(i + 1), 0, 0, true};
        pthread_create(&th[i], NULL, bench_churn_main, &c[i]);
    }
    static struct frag_trace tr;
    tr.np = 0;
    uint64_t t0 = bench_now_ns();
    while (bench_now_ns() - t0 < dur && tr.np < MAXPTS) {
        bufpool_stats s;
        bufpool_get_stats(pool, &s);
        tr.t_ms[tr.np] = (double)(bench_now_ns() - t0) / 1e6;
        tr.run[tr.np] = s.largest_free_run;
        tr.used[tr.np] = s.in_use_bytes;
        tr.np++;
        bench_sleep_ns(bench_opt.quick ? 5000000u : 20000000u);
    }
    atomic_store(&stop, true);
    bool finished = true;
    uint64_t ops = 0, timeouts = 0;
    for (int i = 0; i < BENCH_CHURN_THREADS; i++) {
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
    size_t total_bufs = BENCH_CHURN_BUDGET / BENCH_CHURN_BS;
    size_t run_min = SIZE_MAX;
    for (size_t i = 0; i < tr.np; i++)
        if (tr.run[i] < run_min)
            run_min = tr.run[i];
    write_trace(&tr);
    bench_out("Fragmenting workload: %d threads, random n = 1..256 x 4 KiB, quotas adding up to "
              "3/4 of a %zu MiB region, %.1f s, allocate with a 2 s timeout; one run.\n\n",
              BENCH_CHURN_THREADS, BENCH_CHURN_BUDGET / MiB, (double)dur / 1e9);
    if (!finished) {
        bench_out("**did not finish: threads still blocked 15 s after the end (deadlock?)**\n\n");
        return; /* the pool is leaked on purpose: threads may still use it */
    }
    bufpool_stats s;
    bufpool_get_stats(pool, &s);
    size_t run_end = s.largest_free_run, run_med = median_run(&tr);
    const double bufs_mib = (double)BENCH_CHURN_BS / (double)MiB;
    if (!tr.np)
        run_min = 0;
    bench_out("| finished | allocations | timeouts | largest free run: min | median | after all "
              "released | region |\n|:--|--:|--:|--:|--:|--:|--:|\n");
    bench_out("| yes | %llu | %llu | %zu (%.1f MiB) | %zu (%.1f MiB) | %zu (%.1f MiB) | %zu buffers "
              "|\n\n",
              (unsigned long long)ops, (unsigned long long)timeouts, run_min,
              (double)run_min * bufs_mib, run_med, (double)run_med * bufs_mib, run_end,
              (double)run_end * bufs_mib, total_bufs);
    bufpool_destroy(pool);
}

void bench_section_region(void)
{
    bench_out("## Region mode (BUFPOOL_REGION)\n\n");
    void *probe;
    int err = bench_impls[IMPL_REGION].create(&probe, 4096, 64 * MiB);
    if (err) {
        bench_out("region: not available (%s)\n\n", bufpool_strerror(err));
        bench_impls[IMPL_REGION].note = "region: not available";
        return;
    }
    bufpool_destroy(probe);
    region_latency();
    region_fragmenting();
}
