/*
 * pressure.c: acting before blocking, what it costs the roundtrip
 * (section "pressure"; issue [pressure]).  The cache workload with and
 * without a reclaim callback is a section of its own (reclaim.c).
 *
 * The allocate+release roundtrip (64 B, n = 1, one thread) of
 *   - a plain pool;
 *   - a pool with BUFPOOL_TRACK (1 allocation in 113 sampled: the sampled
 *     one takes the full path, records its site and forgets it at
 *     release);
 *   - a pool with a watch armed (bufpool_watch_create at half and a
 *     quarter of the budget: the roundtrip never crosses them, so the row
 *     is the cost of being armed; no system call happens without a
 *     crossing);
 * side by side, measured as the latency section does
 * (bench_measure_latency: interleaved rounds).  The same loop runs for
 * all three (impls.c: loop_bufpool).  A pool without tracking pays one
 * decrement a roundtrip, and the instr section counts each row's
 * instructions.
 *
 * Target: tracking at 1 in 113 costs the roundtrip at most 5% more time.
 * (The armed watch's target is on its instructions: instr.c.)
 */
#include "harness.h"

void bench_section_pressure(void)
{
    static const int list[] = {IMPL_BUFPOOL, IMPL_TRACK, IMPL_WATCH};
    int ids[3];
    int n = bench_available(list, 3, ids);
    bench_progress("pressure: tracking's and an armed watch's cost, %d implementations ...\n", n);
    bench_spread ns[3];
    bench_measure_latency(ids, n, 64, 1, ns);
    bench_out("## Leak tracking and watches: what they cost the roundtrip (64 B, n = 1, one "
              "thread)\n\n");
    bench_out("ns per allocate+release, median (min..max) of interleaved rounds; BUFPOOL_TRACK samples 1 "
              "allocation in 113 (its call site recorded, forgotten at its release); the armed "
              "watch's thresholds (half and a quarter of the budget) are never crossed.\n\n");
    bench_out("| pool | ns per roundtrip | vs plain |\n|:--|--:|--:|\n");
    for (int k = 0; k < n; k++)
        bench_out("| %s | %s | %.3fx |\n", bench_impls[ids[k]].name, BENCH_SPREAD(ns[k], 2),
                  ns[k].med / ns[0].med);
    bench_out("\n");
    int bp = bench_find(ids, n, IMPL_BUFPOOL), tr = bench_find(ids, n, IMPL_TRACK);
    if (bp >= 0 && tr >= 0)
        bench_target("leak tracking at 1 in 113: roundtrip time vs untracked", ns[tr].med / ns[bp].med,
                      BENCH_AT_MOST, 1.05, "x");
}
