/*
 * latency.c: allocate+release latency on one thread (sections "latency"
 * and "n").
 *
 * "latency": 64 B buffers, n = 1, every implementation, and the cost of
 * one FUTEX_WAKE system call with nobody waiting (what each of the
 * original's two unconditional notifies per roundtrip costs here).
 * "n": the same roundtrip for n = 1, 16, 1024 buffers of 64 B, then 4 KiB
 * buffers with n = 1 and 256 (1 MiB); writes latency.dat for the plot.
 *
 * Method (bench_measure_latency in measure.c): pools side by side, a
 * warm-up, calibration to ~20 ms batches, interleaved rounds; median and
 * range of the rounds' ns per roundtrip.
 *
 * Targets: the roundtrip at most 1/20 of the original's and no slower than
 * the naive CAS pool, for every n; flat in n (n = 1024 within 1.5x of
 * n = 1; 4 KiB n = 256 within 3x of n = 1).
 */
#include "harness.h"

#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ns per FUTEX_WAKE with nobody waiting, 5 rounds. */
static bench_spread futex_wake_ns(void)
{
    static uint32_t word;
    double s[5];
    int iters = bench_opt.quick ? 2000 : 20000;
    for (int r = 0; r < 5; r++) {
        uint64_t t0 = bench_now_ns();
        for (int i = 0; i < iters; i++)
            syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
        s[r] = (double)(bench_now_ns() - t0) / iters;
    }
    return bench_spread_of(s, 5);
}

/* Throughput (M/s) from latency (ns): the range turns around. */
static bench_spread per_us(bench_spread ns)
{
    return (bench_spread){1e3 / ns.med, 1e3 / ns.hi, 1e3 / ns.lo};
}

/* The latency targets for one n, from a row of results for ids. */
static void judge_latency(const char *label, const int *ids, int n, const bench_spread *res)
{
    int bp = bench_find(ids, n, IMPL_BUFPOOL), orig = bench_find(ids, n, IMPL_ORIGINAL),
        naive = bench_find(ids, n, IMPL_NAIVE);
    if (bp < 0)
        return;
    char what[128];
    snprintf(what, sizeof what, "roundtrip latency, %s: at most the original's / 20", label);
    bench_target(what, res[bp].med, BENCH_AT_MOST, orig < 0 ? NAN : res[orig].med / 20, "ns");
    snprintf(what, sizeof what, "roundtrip latency, %s: at most naive's", label);
    bench_target(what, res[bp].med, BENCH_AT_MOST, naive < 0 ? NAN : res[naive].med, "ns");
}

void bench_section_latency(void)
{
    int ids[NIMPL];
    int n = bench_available(bench_general, bench_ngeneral, ids);
    bench_spread ns[NIMPL];
    bench_progress("latency: 64 B, n=1 ...\n");
    bench_measure_latency(ids, n, 64, 1, ns);
    int bp = bench_find(ids, n, IMPL_BUFPOOL), orig = bench_find(ids, n, IMPL_ORIGINAL);
    double bpv = ns[bp].med, origv = orig < 0 ? NAN : ns[orig].med;

    bench_out("## Roundtrip latency: allocate+release, one thread, 64 B buffers, n = 1\n\n");
    bench_out("Median (min..max) of %d interleaved rounds. The original's docs report ~254 ns and "
              "~3.94 M/s on its author's laptop.\n\n",
              bench_rounds());
    bench_out("| implementation | latency (ns) | throughput (M/s) | x bufpool |\n");
    bench_out("|:--|--:|--:|--:|\n");
    for (int k = 0; k < n; k++)
        bench_out("| %s | %s | %s | %.1f |\n", bench_impls[ids[k]].name, BENCH_SPREAD(ns[k], 1),
                  BENCH_SPREAD(per_us(ns[k]), 2), ns[k].med / bpv);
    bench_spread fw = futex_wake_ns();
    bench_out("\noriginal / bufpool = **%.1fx** (the original's design measured here: %.0f ns). "
              "One FUTEX_WAKE system call with nobody waiting costs %.0f ns (%.0f..%.0f over 5 "
              "rounds) on this machine; the original makes two per roundtrip, so %.0f ns of its "
              "time are system calls.\n\n",
              origv / bpv, origv, fw.med, fw.lo, fw.hi, 2 * fw.med);
    judge_latency("64 B n=1", ids, n, ns);
}

void bench_section_n(void)
{
    int ids[NIMPL];
    int n = bench_available(bench_general, bench_ngeneral, ids);
    static const size_t ns_[3] = {1, 16, 1024};
    static const char *const label[3] = {"64 B n=1", "64 B n=16", "64 B n=1024"};
    bench_spread res[3][NIMPL];
    for (int j = 0; j < 3; j++) {
        bench_progress("latency: 64 B, n=%zu ...\n", ns_[j]);
        bench_measure_latency(ids, n, 64, ns_[j], res[j]);
    }
    bench_out("## Latency by number of buffers (ns per allocate+release, 64 B buffers)\n\n");
    bench_out("Median (min..max) of %d interleaved rounds. The original's docs report "
              "246 / 251 / 300 ns for n = 1 / 16 / 1024.\n\n",
              bench_rounds());
    bench_out("| implementation | n = 1 | n = 16 | n = 1024 | n=1024 / n=1 |\n"
              "|:--|--:|--:|--:|--:|\n");
    for (int k = 0; k < n; k++)
        bench_out("| %s | %s | %s | %s | %.2f |\n", bench_impls[ids[k]].name,
                  BENCH_SPREAD(res[0][k], 1), BENCH_SPREAD(res[1][k], 1),
                  BENCH_SPREAD(res[2][k], 1), res[2][k].med / res[0][k].med);

    bench_spread r4[2][NIMPL];
    bench_progress("latency: 4 KiB, n=1 and n=256 ...\n");
    bench_measure_latency(ids, n, 4096, 1, r4[0]);
    bench_measure_latency(ids, n, 4096, 256, r4[1]);
    bench_out("\n### 4 KiB buffers: one buffer vs 1 MiB (n = 256)\n\n");
    bench_out("| implementation | n = 1 (ns) | n = 256 (ns) | n=256 / n=1 |\n|:--|--:|--:|--:|\n");
    for (int k = 0; k < n; k++)
        bench_out("| %s | %s | %s | %.2f |\n", bench_impls[ids[k]].name,
                  BENCH_SPREAD(r4[0][k], 1), BENCH_SPREAD(r4[1][k], 1),
                  r4[1][k].med / r4[0][k].med);
    bench_out("\n");

    for (int j = 0; j < 3; j++)
        judge_latency(label[j], ids, n, res[j]);
    int bp = bench_find(ids, n, IMPL_BUFPOOL);
    bench_target("flat in n: 64 B n=1024 / n=1", res[2][bp].med / res[0][bp].med, BENCH_AT_MOST,
                 1.5, "x");
    bench_target("flat in n: 4 KiB n=256 / n=1", r4[1][bp].med / r4[0][bp].med, BENCH_AT_MOST,
                 3.0, "x");

    /* For the plot: one row per implementation, median min max per case. */
    FILE *f = bench_data_file("latency.dat");
    if (f) {
        const bench_spread *cols[5];
        fprintf(f, "impl");
        static const char *const head[5] = {"n=1", "n=16", "n=1024", "4KiB n=1", "4KiB n=256"};
        for (int c = 0; c < 5; c++)
            fprintf(f, " \"%s\" min max", head[c]);
        fprintf(f, "\n");
        for (int k = 0; k < n; k++) {
            cols[0] = &res[0][k];
            cols[1] = &res[1][k];
            cols[2] = &res[2][k];
            cols[3] = &r4[0][k];
            cols[4] = &r4[1][k];
            fprintf(f, "\"%s\"", bench_impls[ids[k]].name);
            for (int c = 0; c < 5; c++)
                fprintf(f, " %.2f %.2f %.2f", cols[c]->med, cols[c]->lo, cols[c]->hi);
            fprintf(f, "\n");
        }
        fclose(f);
    }
}
