/*
 * pressure.c: acting before blocking (section "pressure"; issue
 * [pressure]).
 *
 * Leak tracking: the allocate+release roundtrip (64 B, n = 1, one thread)
 * of a pool with BUFPOOL_TRACK (1 allocation in 113 sampled: the sampled
 * one takes the full path, records its site and forgets it at release)
 * beside the same pool without it, measured as the latency section does
 * (bench_measure_latency: side by side, interleaved rounds).  A pool
 * without tracking pays one decrement a roundtrip: the instr section
 * counts it.
 *
 * Target: tracking at 1 in 113 costs the roundtrip at most 5% more time.
 */
#include "harness.h"

void bench_section_pressure(void)
{
    static const int list[] = {IMPL_BUFPOOL, IMPL_TRACK};
    int ids[2];
    int n = bench_available(list, 2, ids);
    bench_progress("pressure: leak tracking's cost, %d implementations ...\n", n);
    bench_spread ns[2];
    bench_measure_latency(ids, n, 64, 1, ns);
    bench_out("## Leak tracking: what sampling costs the roundtrip (64 B, n = 1, one thread)\n\n");
    bench_out("ns per allocate+release, median (min..max) of interleaved rounds; BUFPOOL_TRACK samples 1 "
              "allocation in 113 (its call site recorded, forgotten at its release).\n\n");
    bench_out("| pool | ns per roundtrip | vs untracked |\n|:--|--:|--:|\n");
    for (int k = 0; k < n; k++)
        bench_out("| %s | %s | %.3fx |\n", bench_impls[ids[k]].name, BENCH_SPREAD(ns[k], 2),
                  ns[k].med / ns[0].med);
    bench_out("\n");
    int bp = bench_find(ids, n, IMPL_BUFPOOL), tr = bench_find(ids, n, IMPL_TRACK);
    if (bp >= 0 && tr >= 0)
        bench_target("leak tracking at 1 in 113: roundtrip time vs untracked", ns[tr].med / ns[bp].med,
                      BENCH_AT_MOST, 1.05, "x");
}
