/*
 * isolation.c: a protected tenant beside a greedy one on one budget
 * (section "isolation"; issue [accounts]).
 *
 * Method: 64 MiB of 4 KiB buffers.  The protected tenant is one thread
 * that loops: allocate n = 1..16 buffers (random, blocking), write a byte
 * into each, think 20 us, release; each allocate call is timed (its wait).
 * The greedy tenant is two threads that each allocate n = 64 (256 KiB,
 * blocking) until they hold IS_HOLD allocations (together more than the
 * budget), hold them 2 ms, and release them all.  Three set-ups:
 *   shared     one pool of 64 MiB, plain calls for both tenants;
 *   static     one pool per tenant: 16 MiB protected, 48 MiB greedy;
 *   accounts   one pool of 64 MiB, an account per tenant: the protected
 *              one reserves 16 MiB (min_bytes), the greedy one has no
 *              limit of its own.
 * Rounds of IS_DUR interleaved across set-ups (order rotated).  Cells:
 * the protected tenant's wait p50 and p99 (us) over all its calls of a
 * round and its allocations per second; the greedy tenant's; their sum;
 * median (min..max) over the rounds.
 *
 * Targets: accounts give the protected tenant the wait p99 of static
 * partitioning (at most 1.2x) and both tenants together at least 0.9x the
 * throughput of the shared pool.
 */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#define IS_BS 4096
#define IS_BUDGET (64 * MiB)
#define IS_PROTECTED (16 * MiB)
#define IS_GREEDY_N 64
#define IS_HOLD 160 /* 2 x 160 x 256 KiB = 80 MiB: more than the budget */
#define IS_THINK_NS 20000u
#define IS_HOLD_NS 2000000u
#define IS_MAX_ROUNDS 9
#define IS_MAX_SAMPLES (1u << 20)

enum { IS_SHARED, IS_STATIC, IS_ACCOUNTS, IS_NSETUP };
static const char *const is_names[IS_NSETUP] = {"shared pool", "pool per tenant (16 + 48 MiB)",
                                                "accounts (16 MiB reserved)"};

struct is_tenant {
    bufpool *pool;
    bufpool_account *acct; /* NULL: plain calls */
    atomic_bool *stop;
    uint64_t seed;
    uint64_t *waits; /* protected: one sample per call */
    atomic_size_t nwaits;
    atomic_ullong ops;
};

/* timeout_ns UINT64_MAX (BUFPOOL_FOREVER): blocking */
static int is_get(struct is_tenant *t, size_t n, uint64_t timeout_ns, bufpool_alloc **a)
{
    if (t->acct)
        return bufpool_account_allocate(t->acct, n, timeout_ns, a);
    return timeout_ns == BUFPOOL_FOREVER ? bufpool_allocate(t->pool, n, a)
                                         : bufpool_allocate_timeout(t->pool, n, timeout_ns, a);
}

static void *is_protected(void *arg)
{
    struct is_tenant *t = arg;
    while (!atomic_load_explicit(t->stop, memory_order_relaxed)) {
        size_t n = 1 + bench_xorshift(&t->seed) % 16;
        bufpool_alloc *a;
        uint64_t t0 = bench_now_ns();
        if (is_get(t, n, BUFPOOL_FOREVER, &a) != 0)
            bench_die("isolation: protected allocate failed");
        uint64_t w = bench_now_ns() - t0;
        size_t i = atomic_load_explicit(&t->nwaits, memory_order_relaxed);
        if (i < IS_MAX_SAMPLES) {
            t->waits[i] = w;
            atomic_store_explicit(&t->nwaits, i + 1, memory_order_release);
        }
        bench_touch(bufpool_alloc_first(a), n, IS_BS, 1, true);
        bench_sleep_ns(IS_THINK_NS);
        bufpool_alloc_release(a);
        atomic_fetch_add_explicit(&t->ops, 1, memory_order_relaxed);
    }
    return NULL;
}

static void *is_greedy(void *arg)
{
    struct is_tenant *t = arg;
    bufpool_alloc *held[IS_HOLD];
    while (!atomic_load_explicit(t->stop, memory_order_relaxed)) {
        int k = 0;
        /* a timed call: two greedy threads that each held part and blocked
         * for more would wait for each other forever; a timeout ends the
         * grab and starts the hold */
        for (; k < IS_HOLD && !atomic_load_explicit(t->stop, memory_order_relaxed); k++) {
            int r = is_get(t, IS_GREEDY_N, IS_HOLD_NS / 2, &held[k]);
            if (r == -ETIMEDOUT)
                break;
            if (r != 0)
                bench_die("isolation: greedy allocate failed");
            bench_sink += (uintptr_t)bufpool_alloc_first(held[k]);
            atomic_fetch_add_explicit(&t->ops, 1, memory_order_relaxed);
        }
        bench_sleep_ns(IS_HOLD_NS);
        while (k > 0)
            bufpool_alloc_release(held[--k]);
    }
    return NULL;
}

static bufpool *is_pool(size_t budget)
{
    bufpool_config c = {.buffer_size = IS_BS, .max_memory = budget};
    bufpool *p;
    if (bufpool_create(&p, &c) != 0)
        bench_die("isolation: bufpool_create");
    return p;
}

struct is_result {
    double p50, p99, prot_ops, greedy_ops;
};

/* One run of a set-up: the tenants for dur_ns after warm_ns.  The greedy
 * threads are stopped first; the pools are destroyed after both stop. */
static void is_run(int setup, uint64_t warm_ns, uint64_t dur_ns, uint64_t *waits, struct is_result *res)
{
    atomic_bool stop = false;
    bufpool *shared = NULL, *pp = NULL, *gp = NULL;
    bufpool_account *pa = NULL, *ga = NULL;
    if (setup == IS_STATIC) {
        pp = is_pool(IS_PROTECTED);
        gp = is_pool(IS_BUDGET - IS_PROTECTED);
    } else {
        shared = pp = gp = is_pool(IS_BUDGET);
    }
    if (setup == IS_ACCOUNTS) {
        bufpool_account_config pc = {.name = "protected", .min_bytes = IS_PROTECTED};
        bufpool_account_config gc = {.name = "greedy"};
        if (bufpool_account_create(shared, NULL, &pc, &pa) || bufpool_account_create(shared, NULL, &gc, &ga))
            bench_die("isolation: bufpool_account_create");
    }
    struct is_tenant prot = {.pool = pp, .acct = pa, .stop = &stop, .seed = 88172645463325252ull, .waits = waits};
    struct is_tenant greedy[2] = {{.pool = gp, .acct = ga, .stop = &stop, .seed = 1},
                                  {.pool = gp, .acct = ga, .stop = &stop, .seed = 2}};
    pthread_t tp, tg[2];
    pthread_create(&tp, NULL, is_protected, &prot);
    for (int i = 0; i < 2; i++)
        pthread_create(&tg[i], NULL, is_greedy, &greedy[i]);
    bench_sleep_ns(warm_ns);
    size_t w0 = atomic_load_explicit(&prot.nwaits, memory_order_acquire);
    uint64_t p0 = atomic_load(&prot.ops), g0 = atomic_load(&greedy[0].ops) + atomic_load(&greedy[1].ops);
    uint64_t t0 = bench_now_ns();
    bench_sleep_ns(dur_ns);
    uint64_t p1 = atomic_load(&prot.ops), g1 = atomic_load(&greedy[0].ops) + atomic_load(&greedy[1].ops);
    uint64_t t1 = bench_now_ns();
    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(tg[i], NULL);
    pthread_join(tp, NULL);
    size_t all = atomic_load(&prot.nwaits), nw = all > w0 ? all - w0 : 0;
    qsort(waits + w0, nw, sizeof *waits, bench_cmp_u64);
    res->p50 = (double)bench_pct(waits + w0, nw, 0.50) / 1e3;
    res->p99 = (double)bench_pct(waits + w0, nw, 0.99) / 1e3;
    res->prot_ops = (double)(p1 - p0) / ((double)(t1 - t0) / 1e9);
    res->greedy_ops = (double)(g1 - g0) / ((double)(t1 - t0) / 1e9);
    if (pa) {
        bufpool_account_destroy(pa);
        bufpool_account_destroy(ga);
    }
    bufpool_destroy(pp);
    if (gp != pp)
        bufpool_destroy(gp);
}

void bench_section_isolation(void)
{
    int nr = bench_opt.quick ? 2 : 5;
    uint64_t dur = bench_opt.quick ? 150000000u : 600000000u, warm = bench_opt.quick ? 30000000u : 100000000u;
    uint64_t *waits = malloc(IS_MAX_SAMPLES * sizeof *waits);
    if (!waits)
        bench_die("isolation: no memory for samples");
    static struct is_result res[IS_NSETUP][IS_MAX_ROUNDS];
    bench_progress("isolation: %d set-ups x %d rounds ...\n", IS_NSETUP, nr);
    for (int r = 0; r < nr; r++)
        for (int j = 0; j < IS_NSETUP; j++) {
            int s = (j + r) % IS_NSETUP;
            is_run(s, warm, dur, waits, &res[s][r]);
        }
    free(waits);

    bench_spread p50[IS_NSETUP], p99[IS_NSETUP], po[IS_NSETUP], go[IS_NSETUP], to[IS_NSETUP];
    for (int s = 0; s < IS_NSETUP; s++) {
        double a[IS_MAX_ROUNDS], b[IS_MAX_ROUNDS], c[IS_MAX_ROUNDS], d[IS_MAX_ROUNDS], e[IS_MAX_ROUNDS];
        for (int r = 0; r < nr; r++) {
            a[r] = res[s][r].p50;
            b[r] = res[s][r].p99;
            c[r] = res[s][r].prot_ops / 1e3;
            d[r] = res[s][r].greedy_ops / 1e3;
            e[r] = c[r] + d[r];
        }
        p50[s] = bench_spread_of(a, (size_t)nr);
        p99[s] = bench_spread_of(b, (size_t)nr);
        po[s] = bench_spread_of(c, (size_t)nr);
        go[s] = bench_spread_of(d, (size_t)nr);
        to[s] = bench_spread_of(e, (size_t)nr);
    }
    bench_out("## Isolation: a protected tenant beside a greedy one, 64 MiB of 4 KiB buffers\n\n");
    bench_out("The protected tenant (1 thread) allocates n = 1..16 buffers at random (blocking), "
              "writes them, thinks %.0f us and releases; each call's wait is timed. The greedy "
              "tenant (2 threads) allocates n = %d (blocking) until each holds %d allocations "
              "(together more than the budget), holds them %.0f ms and releases them all. Set-ups: "
              "one shared pool; one pool per tenant (16 + 48 MiB, static partitioning); one pool "
              "with an account per tenant, the protected one reserving 16 MiB. Median (min..max) "
              "of %d interleaved rounds of %.0f ms after %.0f ms of warm-up.\n\n",
              IS_THINK_NS / 1e3, IS_GREEDY_N, IS_HOLD, IS_HOLD_NS / 1e6, nr, (double)dur / 1e6,
              (double)warm / 1e6);
    bench_out("| set-up | protected wait p50 (us) | protected wait p99 (us) | protected (k alloc/s) "
              "| greedy (k alloc/s) | both (k alloc/s) |\n|:--|--:|--:|--:|--:|--:|\n");
    for (int s = 0; s < IS_NSETUP; s++)
        bench_out("| %s | %s | %s | %s | %s | %s |\n", is_names[s], BENCH_SPREAD(p50[s], 2),
                  BENCH_SPREAD(p99[s], 1), BENCH_SPREAD(po[s], 1), BENCH_SPREAD(go[s], 1),
                  BENCH_SPREAD(to[s], 1));
    bench_out("\n");
    bench_target("isolation: accounts' protected wait p99 vs static partitioning's x 1.2",
                 p99[IS_ACCOUNTS].med, BENCH_AT_MOST, 1.2 * p99[IS_STATIC].med, "us");
    bench_target("isolation: both tenants' throughput with accounts vs the shared pool's x 0.9",
                 to[IS_ACCOUNTS].med, BENCH_AT_LEAST, 0.9 * to[IS_SHARED].med, "k/s");
}
