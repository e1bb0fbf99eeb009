/*
 * sized.h: the implementations of the mixed-size and footprint sections
 * (mixed.c, footprint.c), behind an interface whose release is given the
 * allocation's length back, so that a malloc-based baseline needs no
 * handle: its allocation is the pointer and n, as with malloc itself.
 *
 *   bufpool         default mode
 *   bufpool REGION  BUFPOOL_REGION, the region pre-faulted once at create by
 *                   writing every page of it, as a user of a region would
 *   glibc           posix_memalign(4096, n * 4096) + a budget counter
 *   jemalloc        mallocx(n * 4096, MALLOCX_LG_ALIGN(12)) + the counter
 *   mimalloc        mi_malloc_aligned(n * 4096, 4096) + the counter
 *   original        the original's design (original.c), malloc underneath
 *
 * (For a buffer size below 4096 the alignment is the buffer size, as
 * bufpool's.)  The budget counter is one CAS loop each way, the same as
 * the naive baseline's; it does not wait: these workloads never hold more
 * than the budget, so a charge that fails is reported as an error.
 * glibc, jemalloc, mimalloc and original are the "malloc-based" baselines.
 *
 * The workload (one thread's share): a ring of BENCH_RING live
 * allocations; each op picks a random slot, releases its allocation and
 * allocates a random n in 1..BENCH_MIXED_MAXN buffers of 4 KiB into it,
 * then writes one byte into every buffer of it and folds the pointer into
 * the sink.  The "once" variant allocates, writes and releases at once.
 * Both loops are direct calls per implementation (no function pointer per
 * op).
 */
#ifndef BENCH_SIZED_H
#define BENCH_SIZED_H

#include "harness.h"

#define BENCH_RING 16           /* live allocations per thread */
#define BENCH_MIXED_MAXN 256    /* n is random in 1..256 */
#define BENCH_MIXED_BS 4096
#define BENCH_MIXED_BUDGET (64 * MiB)

/* One allocation: its handle (the pointer itself for the malloc-based
 * ones), first byte and length.  h == NULL: the slot is empty. */
typedef struct bench_slot {
    void *h;
    char *p;
    size_t n;
} bench_slot;

enum { SZ_BUFPOOL, SZ_REGION, SZ_GLIBC, SZ_JEMALLOC, SZ_MIMALLOC, SZ_ORIGINAL, NSZ };

typedef struct bench_sized {
    const char *name;
    bool malloc_based; /* glibc, jemalloc, mimalloc, original */
    int (*create)(void **pool, size_t bs, size_t max_memory);
    /* 0 or a negative errno; fills *s */
    int (*allocate)(void *pool, size_t n, bench_slot *s);
    /* releases *s (if not empty) and empties it */
    void (*release)(void *pool, bench_slot *s);
    void (*destroy)(void *pool);
    /* iters ring ops over ring[0..BENCH_RING) (every slot full) */
    uintptr_t (*ring)(void *pool, bench_slot *ring, uint64_t *seed, uint64_t iters);
    /* iters allocate+write+release at once */
    uintptr_t (*once)(void *pool, uint64_t *seed, uint64_t iters);
    const char *note; /* non-NULL: not available, why */
} bench_sized;

extern bench_sized bench_sized_impls[NSZ];

/* Loads jemalloc and mimalloc if needed and probes REGION mode; sets the
 * notes of what is missing.  Idempotent. */
void bench_sized_load(void);
/* The available implementations into ids (all NSZ in order); how many. */
int bench_sized_available(int *ids);

/* Fill every slot of ring with a random allocation; release them all. */
void bench_ring_fill(const bench_sized *im, void *pool, bench_slot *ring, uint64_t *seed);
void bench_ring_drain(const bench_sized *im, void *pool, bench_slot *ring);

/* The random n and slot of one op, from one xorshift draw. */
static inline size_t bench_mixed_n(uint64_t r)
{
    return 1 + (size_t)((r >> 24) % BENCH_MIXED_MAXN);
}
static inline size_t bench_mixed_slot(uint64_t r)
{
    return (size_t)((r >> 8) % BENCH_RING);
}

/* Timed runs of the workload: nt threads on one pool.  rings[0..nt): the
 * threads' rings, filled by the caller (bench_ring_fill) and left full, so
 * that rounds continue from the state the last one left; rings == NULL:
 * the allocate-then-release-at-once loop instead.  Thread i draws from
 * seed + i.  A thread stops after max_ops ops (0: no limit) or when dur_ns
 * have passed, whichever comes first.  Returns the total ops/s (the sum of
 * each thread's ops over its own elapsed time); *ops, if not NULL, the ops
 * done. */
#define BENCH_MIXED_MAX_THREADS 4
double bench_mixed_run(const bench_sized *im, void *pool, int nt, bench_slot (*rings)[BENCH_RING],
                       uint64_t dur_ns, uint64_t max_ops, uint64_t seed, uint64_t *ops);

/* ---- child processes (children.c: bench_child) ---------------------------
 * RSS figures come from a fresh process per implementation: this binary
 * run again as `bench --child NAME FD ARGS...`, writing its result struct
 * to FD.  A fresh process inherits no heap state from the sections that
 * ran before (a fork would: glibc's free lists, jemalloc's dirty pages). */

/* /proc/self/status: the value of key (VmRSS, VmHWM) in KiB, or -1. */
long bench_status_kb(const char *key);
/* Reset VmHWM to the current RSS (clear_refs 5; Linux >= 4.0). */
void bench_reset_hwm(void);

#endif /* BENCH_SIZED_H */
