/*
 * xthread.c: cross-thread release (section "xthread"): one thread
 * allocates, another releases, as in every pipeline that hands a buffer to
 * a writer (issue [contention], target 2).
 *
 * Method: a producer thread allocates n buffers of 4 KiB (n = 1 and n =
 * 16; blocking allocate), writes one byte into each buffer and pushes the
 * handle into a bounded single-producer single-consumer ring; a consumer
 * thread pops the handle, reads the first byte and releases it.  Budgets of
 * 1 MiB (tight: 256 buffers, so 256 allocations of n = 1 or 16 of n = 16)
 * and 256 MiB (loose).  The ring has XT_RING = 512 slots, more than the
 * tight budget's allocations, so on the tight budget the budget binds
 * before the ring: the producer blocks in allocate whenever the consumer
 * falls behind or released memory is cached out of its reach (the second
 * table shows how often it waited); on the loose one only the ring pushes
 * back (the producer spins).
 * Both threads spin politely on a full or empty ring: a few pause
 * instructions, then sched_yield (2 threads on a machine of 2 CPUs; the
 * timing thread sleeps).  The ring keeps each side's copy of the other's
 * index, so the threads share its cache lines only when they must.
 *
 * One pool per implementation and case, created before the case's rounds
 * and warmed up by one untimed run (page faults, allocator caches); every
 * run starts the two threads anew, lets them run XT_WARM, then counts the
 * consumer's releases over XT_DUR.  Rounds are interleaved across
 * implementations, the order rotated each round; cells are the median
 * (min..max) of the rounds, in M allocations/s (an allocation is n
 * buffers).
 *
 * Implementations: bufpool, bufpool 1.0 (v10.h; left out when it was not
 * built) and the malloc-based pools of baselines.h: naive (CAS budget over
 * malloc), mutex, jemalloc and mimalloc (loaded when installed); and two
 * rows that are no pool (xt_nopool below: blocks go straight back to the
 * producer), for what the shape itself costs here.
 * Writes xthread.dat.
 *
 * The loose cases run twice: as the scheduler places the two threads, and
 * with both pinned to one CPU.  The kernel puts them on one CPU now and
 * then on its own (a busy or stolen CPU), and the shape changes with it:
 * the producer fills the ring before the consumer runs, so releases come
 * in bursts of XT_RING, and cross-CPU cache traffic is gone.  Pinned, the
 * runs are in that state every time rather than in some rounds.
 *
 * Targets: bufpool at least 3x bufpool 1.0 on the tight budget and 1.5x on
 * the loose one, as the scheduler places the threads; at least every
 * malloc-based pool in every case; each n alike.
 */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#define XT_BS 4096
#define XT_RING 512 /* > 256, the tight budget's allocations of n = 1 */
#define XT_MAX_ROUNDS 16
#define XT_CASES 6

static const int xt_list[] = {IMPL_BUFPOOL, IMPL_V10,      IMPL_NAIVE,
                              IMPL_MUTEX,   IMPL_JEMALLOC, IMPL_MIMALLOC};
/* the malloc-based pools, for the "every malloc-based pool" targets */
static const int xt_malloc_based[] = {IMPL_NAIVE, IMPL_MUTEX, IMPL_JEMALLOC, IMPL_MIMALLOC};

static const struct {
    size_t n, budget;
    const char *label;
    bool tight, one_cpu;
} xt_cases[XT_CASES] = {
    {1, 1 * MiB, "n = 1, 1 MiB", true, false},
    {16, 1 * MiB, "n = 16, 1 MiB", true, false},
    {1, 256 * MiB, "n = 1, 256 MiB", false, false},
    {16, 256 * MiB, "n = 16, 256 MiB", false, false},
    {1, 256 * MiB, "n = 1, 256 MiB, one CPU", false, true},
    {16, 256 * MiB, "n = 16, 256 MiB, one CPU", false, true},
};

struct xt_ring {
    alignas(64) _Atomic unsigned tail; /* written by the producer */
    unsigned head_seen;                /* the producer's copy of head */
    alignas(64) _Atomic unsigned head; /* written by the consumer */
    unsigned tail_seen;                /* the consumer's copy of tail */
    alignas(64) void *slot[XT_RING];
};

struct xt_run {
    const bench_impl *im;
    void *pool;
    size_t n;
    struct xt_ring ring;
    alignas(64) atomic_bool stop;
    alignas(64) _Atomic uint64_t released; /* written by the consumer */
};

/* A polite spin: pause a while, then give the CPU away. */
static inline void xt_wait(unsigned *spins)
{
    if (++*spins < 64)
        bench_cpu_relax();
    else
        sched_yield();
}

static void xt_push(struct xt_ring *q, void *a)
{
    unsigned t = atomic_load_explicit(&q->tail, memory_order_relaxed);
    if (t - q->head_seen == XT_RING) {
        unsigned spins = 0;
        while (t - (q->head_seen = atomic_load_explicit(&q->head, memory_order_acquire)) ==
               XT_RING)
            xt_wait(&spins);
    }
    q->slot[t % XT_RING] = a;
    atomic_store_explicit(&q->tail, t + 1, memory_order_release);
}

static void *xt_pop(struct xt_ring *q)
{
    unsigned h = atomic_load_explicit(&q->head, memory_order_relaxed);
    if (h == q->tail_seen) {
        unsigned spins = 0;
        while (h == (q->tail_seen = atomic_load_explicit(&q->tail, memory_order_acquire)))
            xt_wait(&spins);
    }
    void *a = q->slot[h % XT_RING];
    atomic_store_explicit(&q->head, h + 1, memory_order_release);
    return a;
}

static void *xt_producer(void *arg)
{
    struct xt_run *r = arg;
    const bench_impl *im = r->im;
    char v = 0;
    while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
        void *a;
        int err = im->allocate(r->pool, r->n, &a);
        if (err)
            bench_die("%s: allocate(%zu) failed: %s", im->name, r->n, strerror(-err));
        char *p = im->first(a);
        v++;
        for (size_t i = 0; i < r->n; i++) /* one byte per buffer */
            p[i * XT_BS] = v;
        xt_push(&r->ring, a);
    }
    xt_push(&r->ring, NULL); /* the end */
    return NULL;
}

static void *xt_consumer(void *arg)
{
    struct xt_run *r = arg;
    const bench_impl *im = r->im;
    uint64_t done = 0;
    uintptr_t acc = 0;
    for (;;) {
        void *a = xt_pop(&r->ring);
        if (!a)
            break;
        acc += (uintptr_t)im->first(a)[0]; /* read what the producer wrote */
        im->release(a);
        atomic_store_explicit(&r->released, ++done, memory_order_relaxed);
    }
    bench_sink += acc;
    return NULL;
}

/* Attributes that put a thread on the last CPU this process may use (the
 * timing thread keeps the others); false when it may use only one. */
static bool xt_one_cpu(pthread_attr_t *attr)
{
    cpu_set_t all, one;
    if (sched_getaffinity(0, sizeof all, &all) || CPU_COUNT(&all) < 2)
        return false;
    int last = CPU_SETSIZE - 1;
    while (!CPU_ISSET(last, &all))
        last--;
    CPU_ZERO(&one);
    CPU_SET(last, &one);
    return !pthread_attr_setaffinity_np(attr, sizeof one, &one);
}

/* One run on an existing pool: M allocations/s over dur_ns after warm_ns,
 * and the share of allocate calls that waited (in %) over the same span;
 * with one_cpu, both threads on one CPU. */
static void xt_run_once(const bench_impl *im, void *pool, size_t n, bool one_cpu,
                        uint64_t warm_ns, uint64_t dur_ns, double *mops, double *waited)
{
    struct xt_run *r = aligned_alloc(64, (sizeof *r + 63) / 64 * 64);
    if (!r)
        bench_die("out of memory");
    memset(r, 0, sizeof *r);
    r->im = im;
    r->pool = pool;
    r->n = n;
    atomic_init(&r->ring.tail, 0);
    atomic_init(&r->ring.head, 0);
    atomic_init(&r->stop, false);
    atomic_init(&r->released, 0);
    pthread_t pt, ct;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr))
        bench_die("pthread_attr_init failed");
    if (one_cpu && !xt_one_cpu(&attr))
        bench_progress("xthread: cannot pin to one CPU; both threads run unpinned\n");
    if (pthread_create(&ct, &attr, xt_consumer, r) || pthread_create(&pt, &attr, xt_producer, r))
        bench_die("pthread_create failed");
    pthread_attr_destroy(&attr);
    bench_sleep_ns(warm_ns);
    size_t w0 = im->total_waits(pool);
    uint64_t c0 = atomic_load_explicit(&r->released, memory_order_relaxed);
    uint64_t t0 = bench_now_ns();
    bench_sleep_ns(dur_ns);
    uint64_t c1 = atomic_load_explicit(&r->released, memory_order_relaxed);
    uint64_t t1 = bench_now_ns();
    size_t w1 = im->total_waits(pool);
    atomic_store(&r->stop, true);
    pthread_join(pt, NULL);
    pthread_join(ct, NULL);
    *mops = (double)(c1 - c0) / (double)(t1 - t0) * 1e3;
    *waited = c1 > c0 ? 100.0 * (double)(w1 - w0) / (double)(c1 - c0) : 0;
    free(r);
}

/*
 * No pool: what this shape costs with no pool's bookkeeping at all.  The
 * consumer hands each block straight back to the producer, which takes it
 * from there (or from malloc while the budget's worth of blocks is not made
 * yet): no header, no budget word, no lock, no wait path.  Only this shape
 * allows it (one allocating and one releasing thread).  Two ways back:
 * a second SPSC ring (FIFO reuse, no locked instruction) and a lock-free
 * stack that the producer empties with one exchange (LIFO reuse, the most
 * recently written blocks first, one CAS per release).  One instance at a
 * time, so the release finds it through a static pointer.
 */
#define XT_NP_RING 8192 /* > the most blocks a budget holds (256 MiB / 4 KiB) */
struct xt_nopool {
    size_t made, max;
    void *mine;                        /* LIFO: the producer's taken stack */
    alignas(64) _Atomic unsigned tail; /* FIFO: written by the consumer */
    alignas(64) _Atomic unsigned head; /* FIFO: written by the producer */
    alignas(64) _Atomic(void *) top;   /* LIFO: pushed by the consumer */
    alignas(64) void *slot[XT_NP_RING];
};
static struct xt_nopool *xt_np_now;

static int xt_np_create(void **pool, size_t bs, size_t max_memory)
{
    struct xt_nopool *b = aligned_alloc(64, (sizeof *b + 63) / 64 * 64);
    if (!b)
        return -ENOMEM;
    memset(b, 0, sizeof *b);
    b->max = max_memory / bs;
    xt_np_now = b;
    *pool = b;
    return 0;
}

/* A new block while the budget has room for one, else NULL. */
static void *xt_np_new(struct xt_nopool *b, size_t n)
{
    if ((b->made + 1) * n > b->max)
        return NULL;
    void *a = aligned_alloc(XT_BS, n * XT_BS);
    if (!a)
        bench_die("out of memory");
    b->made++;
    return a;
}

static int xt_fifo_allocate(void *pool, size_t n, void **a)
{
    struct xt_nopool *b = pool;
    unsigned h = atomic_load_explicit(&b->head, memory_order_relaxed), spins = 0;
    for (;;) {
        if (h != atomic_load_explicit(&b->tail, memory_order_acquire)) {
            *a = b->slot[h % XT_NP_RING];
            atomic_store_explicit(&b->head, h + 1, memory_order_release);
            return 0;
        }
        if ((*a = xt_np_new(b, n)))
            return 0;
        xt_wait(&spins);
    }
}

static void xt_fifo_release(void *a)
{
    struct xt_nopool *b = xt_np_now;
    unsigned t = atomic_load_explicit(&b->tail, memory_order_relaxed);
    b->slot[t % XT_NP_RING] = a; /* never full: at most `made` blocks are out */
    atomic_store_explicit(&b->tail, t + 1, memory_order_release);
}

/* LIFO: a block's link is its first word (the bench reads only byte 0,
 * before it releases). */
static int xt_lifo_allocate(void *pool, size_t n, void **a)
{
    struct xt_nopool *b = pool;
    for (unsigned spins = 0; !b->mine; xt_wait(&spins)) {
        if (atomic_load_explicit(&b->top, memory_order_relaxed))
            b->mine = atomic_exchange_explicit(&b->top, NULL, memory_order_acquire);
        else if ((*a = xt_np_new(b, n)))
            return 0;
    }
    *a = b->mine;
    b->mine = *(void **)b->mine;
    return 0;
}

static void xt_lifo_release(void *a)
{
    struct xt_nopool *b = xt_np_now;
    void *top = atomic_load_explicit(&b->top, memory_order_relaxed);
    do
        *(void **)a = top;
    while (!atomic_compare_exchange_weak_explicit(&b->top, &top, a, memory_order_release,
                                                  memory_order_relaxed));
}

static char *xt_np_first(void *a)
{
    return a;
}

static void xt_np_free_list(void *p)
{
    while (p) {
        void *next = *(void **)p;
        free(p);
        p = next;
    }
}

static void xt_np_destroy(void *pool)
{
    struct xt_nopool *b = pool;
    unsigned h = atomic_load_explicit(&b->head, memory_order_relaxed);
    for (; h != atomic_load_explicit(&b->tail, memory_order_relaxed); h++)
        free(b->slot[h % XT_NP_RING]);
    xt_np_free_list(b->mine);
    xt_np_free_list(atomic_load_explicit(&b->top, memory_order_relaxed));
    free(b);
}

static size_t xt_np_waits(void *pool)
{
    (void)pool;
    return 0;
}

#define XT_NOPOOLS 2
static const bench_impl xt_nopool[XT_NOPOOLS] = {
    {.name = "no pool: return ring (FIFO)", .create = xt_np_create,
     .allocate = xt_fifo_allocate, .first = xt_np_first, .release = xt_fifo_release,
     .destroy = xt_np_destroy, .total_waits = xt_np_waits},
    {.name = "no pool: return stack (LIFO)", .create = xt_np_create,
     .allocate = xt_lifo_allocate, .first = xt_np_first, .release = xt_lifo_release,
     .destroy = xt_np_destroy, .total_waits = xt_np_waits},
};

/* A table of one figure per implementation (row) and case (column). */
static void xt_table(const int *ids, int n, bench_spread v[XT_CASES][NIMPL], int prec)
{
    bench_out("| implementation |");
    for (int c = 0; c < XT_CASES; c++)
        bench_out(" %s |", xt_cases[c].label);
    bench_out("\n|:--|");
    for (int c = 0; c < XT_CASES; c++)
        bench_out("--:|");
    bench_out("\n");
    for (int k = 0; k < n; k++) {
        bench_out("| %s |", bench_impls[ids[k]].name);
        for (int c = 0; c < XT_CASES; c++)
            bench_out(" %s |", BENCH_SPREAD(v[c][k], prec));
        bench_out("\n");
    }
}

void bench_section_xthread(void)
{
    int ids[NIMPL];
    int n = bench_available(xt_list, sizeof xt_list / sizeof xt_list[0], ids);
    int nr = bench_opt.quick ? 2 : 5;
    uint64_t dur = bench_opt.quick ? 15000000u : 200000000u;
    uint64_t warm = bench_opt.quick ? 5000000u : 30000000u;
    static double mops[XT_CASES][NIMPL][XT_MAX_ROUNDS], waited[XT_CASES][NIMPL][XT_MAX_ROUNDS];
    static double nopool[XT_NOPOOLS][XT_CASES][XT_MAX_ROUNDS];
    bench_progress("xthread: %d cases x %d implementations x %d rounds ...\n", XT_CASES, n, nr);
    for (int c = 0; c < XT_CASES; c++) {
        void *pools[NIMPL];
        double junk, junkw;
        for (int k = 0; k < n; k++) {
            const bench_impl *im = &bench_impls[ids[k]];
            int err = im->create(&pools[k], XT_BS, xt_cases[c].budget);
            if (err)
                bench_die("%s: create failed: %s", im->name, strerror(-err));
            xt_run_once(im, pools[k], xt_cases[c].n, xt_cases[c].one_cpu, warm, dur / 2, &junk,
                        &junkw); /* warm-up */
        }
        for (int r = 0; r < nr; r++) {
            for (int j = 0; j < n; j++) {
                int k = (j + r) % n;
                xt_run_once(&bench_impls[ids[k]], pools[k], xt_cases[c].n, xt_cases[c].one_cpu,
                            warm, dur, &mops[c][k][r], &waited[c][k][r]);
            }
            /* no pool: a fresh one each round (its blocks are made in
             * the warm-up part of the run) */
            for (int q = 0; q < XT_NOPOOLS; q++) {
                void *np;
                if (xt_nopool[q].create(&np, XT_BS, xt_cases[c].budget))
                    bench_die("out of memory");
                xt_run_once(&xt_nopool[q], np, xt_cases[c].n, xt_cases[c].one_cpu, warm, dur,
                            &nopool[q][c][r], &junkw);
                xt_nopool[q].destroy(np);
            }
        }
        for (int k = 0; k < n; k++)
            bench_impls[ids[k]].destroy(pools[k]);
    }

    bench_spread m[XT_CASES][NIMPL], w[XT_CASES][NIMPL];
    for (int c = 0; c < XT_CASES; c++)
        for (int k = 0; k < n; k++) {
            m[c][k] = bench_spread_of(mops[c][k], (size_t)nr);
            w[c][k] = bench_spread_of(waited[c][k], (size_t)nr);
        }
    int bp = bench_find(ids, n, IMPL_BUFPOOL), v10 = bench_find(ids, n, IMPL_V10);

    bench_out("## Cross-thread release: a producer allocates, a consumer releases (4 KiB "
              "buffers)\n\n");
    bench_out("A producer thread allocates n buffers of %zu B (blocking), writes a byte into "
              "each and pushes the allocation into a single-producer single-consumer ring of %d "
              "slots; a consumer thread pops it, reads a byte and releases it. The tight budget "
              "(1 MiB) holds %zu allocations of n = 1 and %zu of n = 16, fewer than the ring has "
              "slots, so there the budget binds before the ring does: the producer blocks in "
              "allocate whenever the consumer falls behind or released memory sits where the "
              "producer cannot reach it (the second table shows how often it waited); on the "
              "loose one (256 MiB) only the ring pushes back. Both sides "
              "spin politely on a full or empty ring (pause, then sched_yield). M allocations/s "
              "released, median (min..max) of %d interleaved rounds of %.0f ms (after %.0f ms "
              "of warm-up in each run; one pool per implementation and case, warmed up "
              "first). The two \"no pool\" rows are not pools: the consumer hands each "
              "block straight back to the producer, through a second ring (FIFO reuse) or a "
              "lock-free stack (LIFO reuse), with no header, no budget word, no lock and no "
              "wait path: about the least this shape can cost here, where the producer's "
              "writes into its buffers are most of the time. The \"one CPU\" cases pin both "
              "threads to one CPU, a state the scheduler also picks now and then on its own: "
              "the producer then fills the ring before the consumer runs, so releases come in "
              "bursts of %d.\n\n",
              (size_t)XT_BS, XT_RING, MiB / XT_BS, MiB / XT_BS / 16, nr, (double)dur / 1e6,
              (double)warm / 1e6, XT_RING);
    xt_table(ids, n, m, 3);
    for (int q = 0; q < XT_NOPOOLS; q++) {
        bench_out("| %s |", xt_nopool[q].name);
        for (int c = 0; c < XT_CASES; c++) {
            bench_spread b = bench_spread_of(nopool[q][c], (size_t)nr);
            bench_out(" %s |", BENCH_SPREAD(b, 3));
        }
        bench_out("\n");
    }
    if (v10 < 0) {
        bench_out("| bufpool 1.0 |");
        for (int c = 0; c < XT_CASES; c++)
            bench_out(" not available |");
        bench_out("\n");
    } else {
        bench_out("| bufpool / bufpool 1.0 (medians) |");
        for (int c = 0; c < XT_CASES; c++)
            bench_out(" %.2fx |", m[c][bp].med / m[c][v10].med);
        bench_out("\n");
    }
    bench_out("\n### Allocate calls that waited (%% of allocations, median (min..max))\n\n");
    bench_out("From each pool's count of requests that took its wait path (bufpool_stats."
              "total_waits and the baselines' equivalent), over the timed part of each run.\n\n");
    xt_table(ids, n, w, 1);
    bench_out("\n");

    for (int c = 0; c < XT_CASES; c++) {
        char what[160];
        if (v10 >= 0 && !xt_cases[c].one_cpu) { /* the ratio: threads unpinned */
            snprintf(what, sizeof what, "cross-thread release, %s: bufpool / bufpool 1.0",
                     xt_cases[c].label);
            bench_target(what, m[c][bp].med / m[c][v10].med, BENCH_AT_LEAST,
                         xt_cases[c].tight ? 3.0 : 1.5, "x");
        }
        /* the best malloc-based pool of this case */
        int best = -1;
        for (size_t i = 0; i < sizeof xt_malloc_based / sizeof xt_malloc_based[0]; i++) {
            int k = bench_find(ids, n, xt_malloc_based[i]);
            if (k >= 0 && (best < 0 || m[c][k].med > m[c][best].med))
                best = k;
        }
        if (best >= 0) {
            snprintf(what, sizeof what,
                     "cross-thread release, %s: bufpool vs every malloc-based pool (best: %s)",
                     xt_cases[c].label, bench_impls[ids[best]].name);
            bench_target(what, m[c][bp].med, BENCH_AT_LEAST, m[c][best].med, "M/s");
        }
    }
    if (v10 < 0)
        bench_target_note(BENCH_V10_MISSING);

    /* For the plot: a row per implementation, median min max per case. */
    FILE *f = bench_data_file("xthread.dat");
    if (f) {
        fprintf(f, "impl");
        for (int c = 0; c < XT_CASES; c++)
            fprintf(f, " \"%s\" min max", xt_cases[c].label);
        fprintf(f, "\n");
        for (int k = 0; k < n; k++) {
            fprintf(f, "\"%s\"", bench_impls[ids[k]].name);
            for (int c = 0; c < XT_CASES; c++)
                fprintf(f, " %.4f %.4f %.4f", m[c][k].med, m[c][k].lo, m[c][k].hi);
            fprintf(f, "\n");
        }
        fclose(f);
    }
}
