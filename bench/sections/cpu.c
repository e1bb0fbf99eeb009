/*
 * cpu.c: section "cpu", the CPU a waiter burns while it is blocked:
 * getrusage(RUSAGE_THREAD) around one allocate that blocks ~200 ms (20 ms
 * with --quick); one run per implementation.
 *
 * Target: a blocked waiter's CPU at most 1% of the time it waits.
 */
#include "harness.h"

#include <pthread.h>
#include <string.h>
#include <sys/resource.h>

static const int cpu_list[] = {IMPL_BUFPOOL, IMPL_MUTEX, IMPL_ORIGINAL, IMPL_NAIVE};

struct cpu_ctx {
    const bench_impl *im;
    void *pool;
    double cpu_us, wall_us;
};

static double thread_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
}

static void *cpu_waiter(void *arg)
{
    struct cpu_ctx *c = arg;
    void *a;
    double c0 = thread_cpu_us();
    uint64_t t0 = bench_now_ns();
    int err = c->im->allocate(c->pool, 1, &a);
    c->wall_us = (double)(bench_now_ns() - t0) / 1e3;
    c->cpu_us = thread_cpu_us() - c0;
    if (err)
        bench_die("%s: allocate failed: %s", c->im->name, strerror(-err));
    c->im->release(a);
    return NULL;
}

void bench_section_cpu(void)
{
    int ids[NIMPL];
    int n = bench_available(cpu_list, sizeof cpu_list / sizeof cpu_list[0], ids);
    uint64_t block_ns = bench_opt.quick ? 20000000u : 200000000u;
    bench_progress("cpu of a blocked waiter ...\n");
    bench_out("## CPU used by a blocked waiter\n\n");
    bench_out("A thread blocks in allocate on a full pool for ~%.0f ms; getrusage(RUSAGE_THREAD) "
              "around the call. One run per implementation.\n\n",
              (double)block_ns / 1e6);
    bench_out("| implementation | blocked (ms) | CPU (us) | CPU / wall |\n|:--|--:|--:|--:|\n");
    for (int k = 0; k < n; k++) {
        const bench_impl *im = &bench_impls[ids[k]];
        struct cpu_ctx c = {.im = im};
        int err = im->create(&c.pool, 64, 64);
        if (err)
            bench_die("%s: create failed: %s", im->name, strerror(-err));
        void *a;
        if ((err = im->allocate(c.pool, 1, &a)) != 0)
            bench_die("%s: allocate failed: %s", im->name, strerror(-err));
        pthread_t th;
        pthread_create(&th, NULL, cpu_waiter, &c);
        bench_sleep_ns(block_ns);
        im->release(a);
        pthread_join(th, NULL);
        im->destroy(c.pool);
        double pct = c.cpu_us / c.wall_us * 100;
        bench_out("| %s | %.1f | %.0f | %.2f%% |\n", im->name, c.wall_us / 1e3, c.cpu_us, pct);
        if (ids[k] == IMPL_BUFPOOL)
            bench_target("blocked waiter CPU / wall", pct, BENCH_AT_MOST, 1.0, "%");
    }
    bench_out("\n");
}
