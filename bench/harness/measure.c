/*
 * measure.c: the interleaved latency measurement (bench_measure_latency):
 * pools side by side, rounds in which they take turns.
 */
#include "harness.h"

#include <string.h>

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
