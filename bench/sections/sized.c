/*
 * sized.c: the implementations of the mixed-size and footprint sections,
 * their timed loops, and the threaded runner (sized.h says what each is).
 */
#include "sized.h"

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

/* ---- bufpool ------------------------------------------------------------ */

static int bp_create_sz(void **pool, size_t bs, size_t max_memory)
{
    bufpool_config cfg = {.buffer_size = bs, .max_memory = max_memory, .flags = 0};
    bufpool *p = NULL;
    int err = bufpool_create(&p, &cfg);
    *pool = p;
    return err;
}

/* REGION, pre-faulted: one write into every page of the region, once. */
static int region_create_sz(void **pool, size_t bs, size_t max_memory)
{
    bufpool_config cfg = {.buffer_size = bs, .max_memory = max_memory, .flags = BUFPOOL_REGION};
    bufpool *p = NULL;
    int err = bufpool_create(&p, &cfg);
    *pool = p;
    if (err)
        return err;
    struct iovec iov;
    if ((err = bufpool_region(p, &iov))) {
        bufpool_destroy(p);
        *pool = NULL;
        return err;
    }
    volatile char *base = iov.iov_base;
    for (size_t off = 0; off < iov.iov_len; off += 4096)
        base[off] = 0;
    return 0;
}

static inline int bp_alloc_sz(void *pool, size_t n, bench_slot *s)
{
    bufpool_alloc *a = NULL;
    int err = bufpool_allocate(pool, n, &a);
    s->h = a;
    s->p = a ? bufpool_alloc_first(a) : NULL;
    s->n = n;
    return err;
}

static inline void bp_release_sz(void *pool, bench_slot *s)
{
    (void)pool;
    bufpool_alloc_release(s->h);
    s->h = NULL;
}

static void bp_destroy_sz(void *pool)
{
    bufpool_destroy(pool);
}

/* ---- the original ------------------------------------------------------- */

static int orig_create_sz(void **pool, size_t bs, size_t max_memory)
{
    bl_pool *p = NULL;
    int err = bl_original_create(&p, bs, max_memory);
    *pool = p;
    return err;
}

static inline int orig_alloc_sz(void *pool, size_t n, bench_slot *s)
{
    bl_alloc *a = NULL;
    int err = bl_original_allocate(pool, n, &a);
    s->h = a;
    s->p = a ? a->first : NULL;
    s->n = n;
    return err;
}

static inline void orig_release_sz(void *pool, bench_slot *s)
{
    (void)pool;
    if (s->h)
        bl_original_release(s->h);
    s->h = NULL;
}

static void orig_destroy_sz(void *pool)
{
    bl_original_destroy(pool);
}

/* ---- an allocator behind a budget counter ------------------------------- */

struct heap_pool {
    alignas(64) _Atomic size_t used;
    size_t max_memory, buffer_size, align;
};

static int heap_create_sz(void **pool, size_t bs, size_t max_memory)
{
    *pool = NULL;
    if (bs == 0 || max_memory < bs)
        return -EINVAL;
    struct heap_pool *p = aligned_alloc(64, sizeof *p);
    if (!p)
        return -ENOMEM;
    atomic_init(&p->used, 0);
    p->max_memory = max_memory;
    p->buffer_size = bs;
    p->align = bs < 4096 ? bs : 4096;
    *pool = p;
    return 0;
}

static void heap_destroy_sz(void *pool)
{
    free(pool);
}

static inline int heap_alloc_sz(void *pool, size_t n, bench_slot *s, enum bl_heap heap)
{
    struct heap_pool *p = pool;
    s->h = s->p = NULL;
    s->n = n;
    if (n == 0 || n > p->max_memory / p->buffer_size)
        return n == 0 ? -EINVAL : -E2BIG;
    size_t bytes = n * p->buffer_size;
    size_t cur = atomic_load_explicit(&p->used, memory_order_relaxed);
    do {
        if (cur + bytes > p->max_memory)
            return -EAGAIN; /* the workloads never get here (sized.h) */
    } while (!atomic_compare_exchange_weak_explicit(&p->used, &cur, cur + bytes,
                                                    memory_order_acq_rel, memory_order_relaxed));
    char *mem = bl_heap_alloc(heap, bytes, p->align);
    if (!mem) {
        atomic_fetch_sub(&p->used, bytes);
        return -ENOMEM;
    }
    s->h = s->p = mem;
    return 0;
}

static inline void heap_release_sz(void *pool, bench_slot *s, enum bl_heap heap)
{
    struct heap_pool *p = pool;
    if (!s->h)
        return;
    size_t bytes = s->n * p->buffer_size;
    bl_heap_free(heap, s->h, bytes, p->align);
    atomic_fetch_sub_explicit(&p->used, bytes, memory_order_acq_rel);
    s->h = NULL;
}

#define HEAP_KIND(kind, HEAP)                                                          \
    static inline int kind##_alloc_sz(void *pool, size_t n, bench_slot *s)             \
    {                                                                                  \
        return heap_alloc_sz(pool, n, s, HEAP);                                        \
    }                                                                                  \
    static inline void kind##_release_sz(void *pool, bench_slot *s)                    \
    {                                                                                  \
        heap_release_sz(pool, s, HEAP);                                                \
    }
HEAP_KIND(glibc, BL_HEAP_GLIBC)
HEAP_KIND(je, BL_HEAP_JEMALLOC)
HEAP_KIND(mi, BL_HEAP_MIMALLOC)

/* ---- the timed loops, direct calls -------------------------------------- */

__attribute__((noreturn, cold)) static void op_failed(size_t n, int err)
{
    bench_die("allocate(%zu) failed in a timed loop: %s", n, strerror(-err));
}

#define SIZED_LOOPS(kind, ALLOC, RELEASE)                                              \
    static uintptr_t kind##_ring(void *pool, bench_slot *ring, uint64_t *seed,         \
                                 uint64_t iters)                                       \
    {                                                                                  \
        uintptr_t acc = 0;                                                             \
        for (uint64_t i = 0; i < iters; i++) {                                         \
            uint64_t r = bench_xorshift(seed);                                         \
            bench_slot *s = &ring[bench_mixed_slot(r)];                                \
            RELEASE(pool, s);                                                          \
            size_t n = bench_mixed_n(r);                                               \
            int err = ALLOC(pool, n, s);                                               \
            if (__builtin_expect(err != 0, 0))                                         \
                op_failed(n, err);                                                     \
            bench_touch(s->p, n, BENCH_MIXED_BS, (char)i, true);                       \
            acc += (uintptr_t)s->p;                                                    \
        }                                                                              \
        return acc;                                                                    \
    }                                                                                  \
    static uintptr_t kind##_once(void *pool, uint64_t *seed, uint64_t iters)           \
    {                                                                                  \
        uintptr_t acc = 0;                                                             \
        bench_slot s;                                                                  \
        for (uint64_t i = 0; i < iters; i++) {                                         \
            size_t n = bench_mixed_n(bench_xorshift(seed));                            \
            int err = ALLOC(pool, n, &s);                                              \
            if (__builtin_expect(err != 0, 0))                                         \
                op_failed(n, err);                                                     \
            bench_touch(s.p, n, BENCH_MIXED_BS, (char)i, true);                        \
            acc += (uintptr_t)s.p;                                                     \
            RELEASE(pool, &s);                                                         \
        }                                                                              \
        return acc;                                                                    \
    }                                                                                  \
    static int kind##_alloc_fn(void *pool, size_t n, bench_slot *s)                    \
    {                                                                                  \
        return ALLOC(pool, n, s);                                                      \
    }                                                                                  \
    static void kind##_release_fn(void *pool, bench_slot *s)                           \
    {                                                                                  \
        RELEASE(pool, s);                                                              \
    }

SIZED_LOOPS(bp, bp_alloc_sz, bp_release_sz)
SIZED_LOOPS(orig, orig_alloc_sz, orig_release_sz)
SIZED_LOOPS(glibc, glibc_alloc_sz, glibc_release_sz)
SIZED_LOOPS(je, je_alloc_sz, je_release_sz)
SIZED_LOOPS(mi, mi_alloc_sz, mi_release_sz)

#define SIZED_IMPL(name, mb, create, kind, destroy)                                     \
    {name, mb, create, kind##_alloc_fn, kind##_release_fn, destroy, kind##_ring, kind##_once, NULL}

bench_sized bench_sized_impls[NSZ] = {
    [SZ_BUFPOOL] = SIZED_IMPL("bufpool", false, bp_create_sz, bp, bp_destroy_sz),
    [SZ_REGION] = SIZED_IMPL("bufpool REGION", false, region_create_sz, bp, bp_destroy_sz),
    [SZ_GLIBC] = SIZED_IMPL("glibc", true, heap_create_sz, glibc, heap_destroy_sz),
    [SZ_JEMALLOC] = SIZED_IMPL("jemalloc", true, heap_create_sz, je, heap_destroy_sz),
    [SZ_MIMALLOC] = SIZED_IMPL("mimalloc", true, heap_create_sz, mi, heap_destroy_sz),
    [SZ_ORIGINAL] = SIZED_IMPL("original", true, orig_create_sz, orig, orig_destroy_sz),
};

void bench_sized_load(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    const char *note;
    if (bl_jemalloc_load(&note))
        bench_sized_impls[SZ_JEMALLOC].note = note;
    if (bl_mimalloc_load(&note))
        bench_sized_impls[SZ_MIMALLOC].note = note;
    bufpool_config cfg = {.buffer_size = 4096, .max_memory = BENCH_MIXED_BUDGET,
                          .flags = BUFPOOL_REGION};
    bufpool *p;
    if (bufpool_create(&p, &cfg))
        bench_sized_impls[SZ_REGION].note = "region: not available";
    else
        bufpool_destroy(p);
}

int bench_sized_available(int *ids)
{
    int k = 0;
    for (int i = 0; i < NSZ; i++)
        if (!bench_sized_impls[i].note)
            ids[k++] = i;
    return k;
}

void bench_ring_fill(const bench_sized *im, void *pool, bench_slot *ring, uint64_t *seed)
{
    for (int i = 0; i < BENCH_RING; i++) {
        size_t n = bench_mixed_n(bench_xorshift(seed));
        int err = im->allocate(pool, n, &ring[i]);
        if (err)
            bench_die("%s: allocate(%zu) failed: %s", im->name, n, strerror(-err));
        bench_touch(ring[i].p, n, BENCH_MIXED_BS, 1, true);
    }
}

void bench_ring_drain(const bench_sized *im, void *pool, bench_slot *ring)
{
    for (int i = 0; i < BENCH_RING; i++)
        im->release(pool, &ring[i]);
}

/* ---- the threaded runner ------------------------------------------------ */

struct run_ctx {
    const bench_sized *im;
    void *pool;
    bench_slot *ring; /* NULL: once */
    uint64_t seed, max_ops;
    pthread_barrier_t *start;
    atomic_bool *stop;
    atomic_int *running;
    uint64_t ops, ns;
};

static void *run_main(void *arg)
{
    struct run_ctx *c = arg;
    uint64_t seed = c->seed, ops = 0, max = c->max_ops ? c->max_ops : UINT64_MAX;
    uintptr_t acc = 0;
    pthread_barrier_wait(c->start);
    uint64_t t0 = bench_now_ns();
    /* One op per check: an op takes microseconds, the check a load. */
    while (ops < max && !atomic_load_explicit(c->stop, memory_order_relaxed)) {
        acc += c->ring ? c->im->ring(c->pool, c->ring, &seed, 1) : c->im->once(c->pool, &seed, 1);
        ops++;
    }
    c->ns = bench_now_ns() - t0;
    c->ops = ops;
    bench_sink += acc;
    atomic_fetch_sub(c->running, 1);
    return NULL;
}

double bench_mixed_run(const bench_sized *im, void *pool, int nt, bench_slot (*rings)[BENCH_RING],
                       uint64_t dur_ns, uint64_t max_ops, uint64_t seed, uint64_t *ops)
{
    pthread_t th[BENCH_MIXED_MAX_THREADS];
    struct run_ctx ctx[BENCH_MIXED_MAX_THREADS];
    pthread_barrier_t start;
    atomic_bool stop = false;
    atomic_int running = nt;
    if (nt < 1 || nt > BENCH_MIXED_MAX_THREADS)
        bench_die("bench_mixed_run: %d threads", nt);
    pthread_barrier_init(&start, NULL, (unsigned)nt + 1);
    for (int i = 0; i < nt; i++) {
        ctx[i] = (struct run_ctx){im, pool, rings ? rings[i] : NULL,
                                  seed + 0x9e3779b97f4a7c15u * (uint64_t)(i + 1), max_ops,
                                  &start, &stop, &running, 0, 0};
        if (pthread_create(&th[i], NULL, run_main, &ctx[i]))
            bench_die("pthread_create failed");
    }
    pthread_barrier_wait(&start);
    uint64_t t0 = bench_now_ns();
    while (atomic_load(&running) > 0) {
        uint64_t el = bench_now_ns() - t0;
        if (el >= dur_ns)
            break;
        bench_sleep_ns(dur_ns - el < 1000000u ? dur_ns - el : 1000000u);
    }
    atomic_store(&stop, true);
    double total = 0;
    uint64_t sum = 0;
    for (int i = 0; i < nt; i++) {
        pthread_join(th[i], NULL);
        total += ctx[i].ns ? (double)ctx[i].ops / (double)ctx[i].ns * 1e9 : 0;
        sum += ctx[i].ops;
    }
    pthread_barrier_destroy(&start);
    if (ops)
        *ops = sum;
    return total;
}

/* ---- /proc/self/status ---------------------------------------------------- */

long bench_status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

void bench_reset_hwm(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}
