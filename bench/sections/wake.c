/*
 * wake.c: section "wake", how long from a release to the return of the
 * allocate it lets in (cpu.c: what a blocked waiter costs meanwhile).
 *
 * A pool of one buffer: the main thread holds it, a waiter thread blocks
 * for it; once the pool counts the waiter as blocked (and 50 us more, so
 * it is asleep in the kernel, not on its way there) the main thread stamps
 * CLOCK_MONOTONIC and releases; the waiter stamps when its allocate
 * returns.  200 samples per round (50 with --quick), rounds
 * interleaved across implementations.  The cells are percentiles of all
 * samples pooled, with the range of the per-round percentiles.  Writes
 * wait_wake.dat (the CDF of all samples) for the plot.
 *
 * Target: wake p50 at most mutex+condvar's.
 */
#include "harness.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const int wake_list[] = {IMPL_BUFPOOL, IMPL_MUTEX, IMPL_ORIGINAL};

struct wake_ctx {
    const bench_impl *im;
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
        uint64_t t = bench_now_ns();
        if (err)
            bench_die("%s: allocate failed: %s", c->im->name, strerror(-err));
        c->lat[s - 1] = t - atomic_load(&c->t_release);
        c->im->release(a);
        atomic_store(&c->done, s);
    }
    return NULL;
}

/* count wake latencies (ns) into lat; false if the waiter was not always
 * seen blocked. */
static bool run_wake(const bench_impl *im, uint64_t *lat, size_t count)
{
    struct wake_ctx c = {.im = im, .lat = lat, .count = count};
    int err = im->create(&c.pool, 64, 64);
    if (err)
        bench_die("%s: create failed: %s", im->name, strerror(-err));
    atomic_init(&c.go, 0);
    atomic_init(&c.done, 0);
    atomic_init(&c.t_release, 0);
    pthread_t th;
    pthread_create(&th, NULL, wake_waiter, &c);
    bool saw_waiter = true;
    for (size_t s = 1; s <= count; s++) {
        void *a;
        if ((err = im->allocate(c.pool, 1, &a)) != 0)
            bench_die("%s: allocate failed: %s", im->name, strerror(-err));
        atomic_store(&c.go, s);
        /* Wait until the waiter is counted as blocked, then a little more so
         * that it is asleep in the kernel, not on its way there. */
        uint64_t deadline = bench_now_ns() + 200000000u;
        while (im->waiters(c.pool) == 0 && bench_now_ns() < deadline)
            bench_sleep_ns(10000);
        if (im->waiters(c.pool) == 0)
            saw_waiter = false;
        bench_sleep_ns(50000);
        atomic_store(&c.t_release, bench_now_ns());
        im->release(a);
        while (atomic_load(&c.done) < s)
            sched_yield();
    }
    pthread_join(th, NULL);
    im->destroy(c.pool);
    return saw_waiter;
}

/* Percentile q (us) of each round's samples: its own sorted copy. */
static bench_spread round_pct(const uint64_t *lat, size_t per_round, size_t nr, double q)
{
    double v[64];
    uint64_t *tmp = malloc(per_round * sizeof *tmp);
    if (!tmp)
        bench_die("out of memory");
    for (size_t r = 0; r < nr && r < 64; r++) {
        memcpy(tmp, lat + r * per_round, per_round * sizeof *tmp);
        qsort(tmp, per_round, sizeof *tmp, bench_cmp_u64);
        v[r] = (double)bench_pct(tmp, per_round, q) / 1e3;
    }
    free(tmp);
    return bench_spread_of(v, nr < 64 ? nr : 64);
}

void bench_section_wake(void)
{
    int ids[NIMPL];
    int n = bench_available(wake_list, sizeof wake_list / sizeof wake_list[0], ids);
    const size_t per_round = bench_opt.quick ? 50 : 200, nr = bench_opt.quick ? 2 : 10;
    const size_t total = per_round * nr;
    uint64_t *lat[NIMPL];
    bool saw[NIMPL];
    bench_progress("wake latency ...\n");
    for (int k = 0; k < n; k++) {
        lat[k] = malloc(total * sizeof(uint64_t));
        if (!lat[k])
            bench_die("out of memory");
        saw[k] = true;
    }
    for (size_t r = 0; r < nr; r++)
        for (int j = 0; j < n; j++) {
            int k = (int)((j + r) % (size_t)n);
            saw[k] &= run_wake(&bench_impls[ids[k]], lat[k] + r * per_round, per_round);
        }
    bench_out("## Wake latency: release -> blocked allocate returns\n\n");
    bench_out("One thread blocks in allocate on a full pool; another stamps CLOCK_MONOTONIC and "
              "releases. %zu samples each, in %zu interleaved rounds; the percentile of all "
              "samples, then (min..max) of the same percentile per round.\n\n",
              total, nr);
    bench_out("| implementation | p50 (us) | p99 (us) |\n|:--|--:|--:|\n");
    double p50[NIMPL];
    const char *names[NIMPL];
    size_t counts[NIMPL];
    for (int k = 0; k < n; k++) {
        bench_spread r50 = round_pct(lat[k], per_round, nr, 0.5);
        bench_spread r99 = round_pct(lat[k], per_round, nr, 0.99);
        qsort(lat[k], total, sizeof(uint64_t), bench_cmp_u64);
        r50.med = (double)bench_pct(lat[k], total, 0.5) / 1e3;
        r99.med = (double)bench_pct(lat[k], total, 0.99) / 1e3;
        p50[k] = r50.med;
        bench_out("| %s | %s | %s |%s\n", bench_impls[ids[k]].name, BENCH_SPREAD(r50, 1),
                  BENCH_SPREAD(r99, 1),
                  saw[k] ? "" : " (waiter count never seen: some samples may not have blocked)");
        names[k] = bench_impls[ids[k]].name;
        counts[k] = total;
    }
    bench_out("\n");
    bench_write_cdf("wait_wake.dat", n, names, lat, counts);
    for (int k = 0; k < n; k++)
        free(lat[k]);

    int bp = bench_find(ids, n, IMPL_BUFPOOL), mx = bench_find(ids, n, IMPL_MUTEX);
    bench_target("wake latency p50 vs mutex+condvar", p50[bp], BENCH_AT_MOST,
                 mx < 0 ? NAN : p50[mx], "us");
}
