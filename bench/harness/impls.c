/*
 * impls.c: the implementations the sections compare, behind one set of
 * pointers (bench_impls), each with its timed roundtrip loop of direct
 * calls.
 *
 * They are bufpool (default, BUFPOOL_REGION, BUFPOOL_FIFO, BUFPOOL_TRACK,
 * with a watch armed, and through one account with
 * bufpool_account_allocate), bufpool 1.0
 * (the 1.0.0 release built from the history, v10.h) and the baseline pools
 * of baselines.h: the original Rust design ported to C, a naive CAS pool, a
 * mutex+condvar pool, plain malloc, and jemalloc and mimalloc behind the
 * naive budget when installed.  Every timed roundtrip writes a byte into
 * the first and the last buffer (every buffer with --touch-all) and folds
 * the pointer into bench_sink, so the compiler cannot delete the work.
 */
#include "harness.h"
#include "v10.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

volatile uintptr_t bench_sink;

__attribute__((noreturn, cold)) static void alloc_failed(int err)
{
    bench_die("allocate failed in a timed loop: %s", strerror(-err));
}

/* One allocate+release roundtrip loop per implementation, direct calls. */
#define DEFINE_LOOP(fname, PT, AT, ALLOC, FIRST, RELEASE)                       \
    static uintptr_t fname(void *pool_, size_t n, size_t bs, uint64_t iters)   \
    {                                                                           \
        PT *pool = pool_;                                                       \
        uintptr_t acc = 0;                                                      \
        for (uint64_t i = 0; i < iters; i++) {                                  \
            AT *a;                                                              \
            int err = ALLOC(pool, n, &a);                                       \
            if (__builtin_expect(err != 0, 0))                                  \
                alloc_failed(err);                                              \
            char *p = FIRST(a);                                                 \
            bench_touch(p, n, bs, (char)i, bench_opt.touch_all);                \
            acc += (uintptr_t)p;                                                \
            RELEASE(a);                                                         \
        }                                                                       \
        return acc;                                                             \
    }

#define BL_FIRST(a) ((a)->first)
DEFINE_LOOP(loop_bufpool, bufpool, bufpool_alloc, bufpool_allocate, (char *)bufpool_alloc_first,
            bufpool_alloc_release)
DEFINE_LOOP(loop_original, bl_pool, bl_alloc, bl_original_allocate, BL_FIRST, bl_original_release)
DEFINE_LOOP(loop_naive, bl_pool, bl_alloc, bl_naive_allocate, BL_FIRST, bl_naive_release)
DEFINE_LOOP(loop_mutex, bl_pool, bl_alloc, bl_mutex_allocate, BL_FIRST, bl_mutex_release)
DEFINE_LOOP(loop_malloc, bl_pool, bl_alloc, bl_malloc_allocate, BL_FIRST, bl_malloc_release)
DEFINE_LOOP(loop_jemalloc, bl_pool, bl_alloc, bl_jemalloc_allocate, BL_FIRST, bl_jemalloc_release)
DEFINE_LOOP(loop_mimalloc, bl_pool, bl_alloc, bl_mimalloc_allocate, BL_FIRST, bl_mimalloc_release)

/* bufpool through one account: the pool and the account behind one pointer */
struct bp_acct {
    bufpool *pool;
    bufpool_account *acct;
};
static inline int acct_alloc(struct bp_acct *b, size_t n, bufpool_alloc **a)
{
    return bufpool_account_allocate(b->acct, n, BUFPOOL_FOREVER, a);
}
DEFINE_LOOP(loop_account, struct bp_acct, bufpool_alloc, acct_alloc, (char *)bufpool_alloc_first,
            bufpool_alloc_release)

#if BENCH_HAVE_V10
DEFINE_LOOP(loop_v10, bp10_pool, bp10_alloc, bp10_allocate, (char *)bp10_alloc_first,
            bp10_alloc_release)
#endif

/* bufpool behind the pointers */
static int bp_create_flags(void **pool, size_t bs, size_t max_memory, unsigned flags)
{
    bufpool_config cfg = {.buffer_size = bs, .max_memory = max_memory, .flags = flags};
    bufpool *p = NULL;
    int err = bufpool_create(&p, &cfg);
    *pool = p;
    return err;
}
static int bp_create(void **pool, size_t bs, size_t max_memory)
{
    return bp_create_flags(pool, bs, max_memory, 0);
}
static int bp_create_region(void **pool, size_t bs, size_t max_memory)
{
    return bp_create_flags(pool, bs, max_memory, BUFPOOL_REGION);
}
static int bp_create_fifo(void **pool, size_t bs, size_t max_memory)
{
    return bp_create_flags(pool, bs, max_memory, BUFPOOL_FIFO);
}
static int bp_create_track(void **pool, size_t bs, size_t max_memory)
{
    return bp_create_flags(pool, bs, max_memory, BUFPOOL_TRACK);
}
/* bufpool with a watch armed: the pool itself behind the pointer, so that
 * its timed loop is loop_bufpool, the plain pool's; the watch waits in a
 * side table for destroy.  Thresholds at half and a quarter of the budget:
 * a roundtrip never crosses them, so what the row shows is the cost of
 * being armed. */
static struct {
    bufpool *pool;
    bufpool_watch *w;
} bp_watches[4];
static int bp_create_watch(void **pool, size_t bs, size_t max_memory)
{
    int err = bp_create_flags(pool, bs, max_memory, 0);
    if (err)
        return err;
    for (size_t i = 0; i < sizeof bp_watches / sizeof bp_watches[0]; i++)
        if (!bp_watches[i].pool) {
            err = bufpool_watch_create(*pool, NULL, max_memory / 2, max_memory / 4, &bp_watches[i].w);
            if (err)
                break;
            bp_watches[i].pool = *pool;
            return 0;
        }
    bufpool_destroy(*pool);
    *pool = NULL;
    return err ? err : -ENOMEM;
}
static void bp_destroy_watch(void *pool)
{
    for (size_t i = 0; i < sizeof bp_watches / sizeof bp_watches[0]; i++)
        if (bp_watches[i].pool == pool) {
            bufpool_watch_destroy(bp_watches[i].w); /* before its pool */
            bp_watches[i].pool = NULL;
        }
    bufpool_destroy(pool);
}
static int bp_allocate(void *pool, size_t n, void **a)
{
    bufpool_alloc *x = NULL;
    int err = bufpool_allocate(pool, n, &x);
    *a = x;
    return err;
}
static char *bp_first(void *a)
{
    return bufpool_alloc_first(a);
}
static void bp_release(void *a)
{
    bufpool_alloc_release(a);
}
static void bp_destroy(void *pool)
{
    bufpool_destroy(pool);
}
static size_t bp_waiters(void *pool)
{
    bufpool_stats s;
    bufpool_get_stats(pool, &s);
    return s.waiters;
}
static size_t bp_total_waits(void *pool)
{
    bufpool_stats s;
    bufpool_get_stats(pool, &s);
    return (size_t)s.total_waits;
}
static int ba_create(void **pool, size_t bs, size_t max_memory)
{
    struct bp_acct *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    bufpool_account_config ac = {.name = "bench", .min_bytes = max_memory < MiB ? max_memory : MiB};
    int err = bp_create(pool, bs, max_memory);
    if (!err) {
        b->pool = *pool;
        err = bufpool_account_create(b->pool, NULL, &ac, &b->acct);
        if (err)
            bufpool_destroy(b->pool);
    }
    if (err) {
        free(b);
        b = NULL;
    }
    *pool = b;
    return err;
}
static int ba_allocate(void *pool, size_t n, void **a)
{
    bufpool_alloc *x = NULL;
    int err = acct_alloc(pool, n, &x);
    *a = x;
    return err;
}
static void ba_destroy(void *pool)
{
    struct bp_acct *b = pool;
    bufpool_destroy(b->pool); /* frees the account */
    free(b);
}
static size_t ba_waiters(void *pool)
{
    return bp_waiters(((struct bp_acct *)pool)->pool);
}
static size_t ba_total_waits(void *pool)
{
    return bp_total_waits(((struct bp_acct *)pool)->pool);
}

/* bufpool 1.0 behind the pointers (v10.h); without it, create fails and
 * bench_impls_load notes why */
#if BENCH_HAVE_V10
static int v10_create(void **pool, size_t bs, size_t max_memory)
{
    bufpool_config cfg = {.buffer_size = bs, .max_memory = max_memory, .flags = 0};
    bp10_pool *p = NULL;
    int err = bp10_create(&p, &cfg);
    *pool = p;
    return err;
}
static int v10_allocate(void *pool, size_t n, void **a)
{
    bp10_alloc *x = NULL;
    int err = bp10_allocate(pool, n, &x);
    *a = x;
    return err;
}
static char *v10_first(void *a)
{
    return bp10_alloc_first(a);
}
static void v10_release(void *a)
{
    bp10_alloc_release(a);
}
static void v10_destroy(void *pool)
{
    bp10_destroy(pool);
}
static size_t v10_waiters(void *pool)
{
    bufpool_stats s;
    bp10_get_stats(pool, &s);
    return s.waiters;
}
static size_t v10_total_waits(void *pool)
{
    bufpool_stats s;
    bp10_get_stats(pool, &s);
    return (size_t)s.total_waits;
}
#define V10_IMPL                                                                            \
    {"bufpool 1.0", v10_create, v10_allocate, v10_first, v10_release, v10_destroy,           \
     v10_waiters, v10_total_waits, loop_v10, NULL}
#else
static int v10_create(void **pool, size_t bs, size_t max_memory)
{
    (void)bs;
    (void)max_memory;
    *pool = NULL;
    return -ENOTSUP;
}
#define V10_NOTE                                                                            \
    "bufpool 1.0: not available (built without the git history that holds its release, "   \
    "commit f85f7bb: a tarball or a shallow clone); its rows are left out and the targets "   \
    "against it are not judged"
#define V10_IMPL                                                                            \
    {"bufpool 1.0", v10_create, NULL, NULL, NULL, NULL, NULL, NULL, NULL, V10_NOTE}
#endif

/* the baselines behind the pointers */
static char *blw_first(void *a)
{
    return ((bl_alloc *)a)->first;
}
static size_t blw_waiters(void *pool)
{
    return bl_waiters(pool);
}
static size_t blw_total_waits(void *pool)
{
    return bl_total_waits(pool);
}
#define BL_WRAP(kind)                                                               \
    static int blw_##kind##_create(void **pool, size_t bs, size_t max_memory)       \
    {                                                                               \
        bl_pool *p = NULL;                                                          \
        int err = bl_##kind##_create(&p, bs, max_memory);                           \
        *pool = p;                                                                  \
        return err;                                                                 \
    }                                                                               \
    static int blw_##kind##_allocate(void *pool, size_t n, void **a)                \
    {                                                                               \
        bl_alloc *x = NULL;                                                         \
        int err = bl_##kind##_allocate(pool, n, &x);                                \
        *a = x;                                                                     \
        return err;                                                                 \
    }                                                                               \
    static void blw_##kind##_release(void *a) { bl_##kind##_release(a); }           \
    static void blw_##kind##_destroy(void *pool) { bl_##kind##_destroy(pool); }
BL_WRAP(original)
BL_WRAP(naive)
BL_WRAP(mutex)
BL_WRAP(malloc)
BL_WRAP(jemalloc)
BL_WRAP(mimalloc)

#define BL_IMPL(kind)                                                                   \
    {#kind,           blw_##kind##_create, blw_##kind##_allocate, blw_first,          \
     blw_##kind##_release, blw_##kind##_destroy, blw_waiters, blw_total_waits,         \
     loop_##kind,     NULL}

bench_impl bench_impls[NIMPL] = {
    [IMPL_BUFPOOL] = {"bufpool", bp_create, bp_allocate, bp_first, bp_release, bp_destroy,
                      bp_waiters, bp_total_waits, loop_bufpool, NULL},
    [IMPL_ORIGINAL] = BL_IMPL(original),
    [IMPL_NAIVE] = BL_IMPL(naive),
    [IMPL_MUTEX] = BL_IMPL(mutex),
    [IMPL_MALLOC] = BL_IMPL(malloc),
    [IMPL_JEMALLOC] = BL_IMPL(jemalloc),
    [IMPL_MIMALLOC] = BL_IMPL(mimalloc),
    [IMPL_REGION] = {"bufpool REGION", bp_create_region, bp_allocate, bp_first, bp_release,
                     bp_destroy, bp_waiters, bp_total_waits, loop_bufpool, NULL},
    [IMPL_FIFO] = {"bufpool FIFO", bp_create_fifo, bp_allocate, bp_first, bp_release, bp_destroy,
                   bp_waiters, bp_total_waits, loop_bufpool, NULL},
    [IMPL_V10] = V10_IMPL,
    [IMPL_TRACK] = {"bufpool TRACK", bp_create_track, bp_allocate, bp_first, bp_release, bp_destroy,
                    bp_waiters, bp_total_waits, loop_bufpool, NULL},
    [IMPL_WATCH] = {"bufpool, watch armed", bp_create_watch, bp_allocate, bp_first, bp_release,
                    bp_destroy_watch, bp_waiters, bp_total_waits, loop_bufpool, NULL},
    [IMPL_ACCOUNT] = {"bufpool account", ba_create, ba_allocate, bp_first, bp_release, ba_destroy,
                      ba_waiters, ba_total_waits, loop_account, NULL},
};

const int bench_general[] = {IMPL_BUFPOOL, IMPL_ORIGINAL, IMPL_NAIVE, IMPL_MUTEX,
                             IMPL_MALLOC, IMPL_JEMALLOC, IMPL_MIMALLOC};
const size_t bench_ngeneral = sizeof bench_general / sizeof bench_general[0];

void bench_impls_load(void)
{
    const char *note;
    if (bl_jemalloc_load(&note))
        bench_impls[IMPL_JEMALLOC].note = note;
    if (bl_mimalloc_load(&note))
        bench_impls[IMPL_MIMALLOC].note = note;
}

int bench_available(const int *list, size_t n, int *ids)
{
    int k = 0;
    for (size_t i = 0; i < n; i++)
        if (!bench_impls[list[i]].note)
            ids[k++] = list[i];
    return k;
}

int bench_find(const int *ids, int n, int impl)
{
    for (int k = 0; k < n; k++)
        if (ids[k] == impl)
            return k;
    return -1;
}
