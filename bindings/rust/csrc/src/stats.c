/*
 * Statistics.  The hot paths keep per-thread counters that only their owner
 * writes (no shared cache line, no RMW); a snapshot sums them.  The sum is
 * not one atomic instant across threads, which is the price of a roundtrip
 * that never touches shared memory.  The budget figures (charged, maximum)
 * are exact; peak_in_use_bytes is sampled whenever the budget is charged,
 * a waiter is served, or a snapshot is taken.
 */
#include "cache.h"

#include <string.h>

/* Sum every thread's counters; safe without the lock (the list is
 * append-only while the pool lives, see cache.c). */
void bufpool__sum_counters(struct bufpool *pool, struct tc_counters *sum)
{
    uint64_t allocs = load_relaxed(&pool->orphan.allocs), frees = load_relaxed(&pool->orphan.frees);
    uint64_t bufs = load_relaxed(&pool->orphan.bufs);
    /* pairs with the store_release in bufpool__tcache_get_slow's attach */
    for (struct tcache *tc = load_acquire(&pool->tcaches); tc; tc = tc->next) {
        /* frees first, with acquire: pairs with the store_release in
         * bufpool__account_free; an allocation is counted before its
         * free, so live counts never go negative. */
        frees += load_acquire(&tc->c.frees);
        bufs += load_relaxed(&tc->c.bufs);
        allocs += load_relaxed(&tc->c.allocs);
    }
    atomic_init(&sum->allocs, allocs);
    atomic_init(&sum->frees, frees);
    atomic_init(&sum->bufs, bufs);
}

/* Bytes in use: the sum wraps through zero while the threads' figures are
 * read a moment apart, so a "negative" sum is 0. */
static size_t in_use_of(const struct bufpool *pool, const struct tc_counters *s)
{
    uint64_t b = load_relaxed(&s->bufs);
    if ((int64_t)b <= 0)
        return 0;
    return b > (SIZE_MAX >> pool->shift) ? SIZE_MAX : (size_t)b << pool->shift;
}

/* Raise the peak to in_use.  Relaxed: a monotonic maximum that orders
 * nothing else. */
static void peak_raise(struct bufpool *pool, size_t in_use)
{
    size_t peak = load_relaxed(&pool->peak_in_use);
    while (in_use > peak && !cas_relaxed(&pool->peak_in_use, &peak, in_use))
        ;
}

void bufpool__sample_peak(struct bufpool *pool)
{
    struct tc_counters sum;
    bufpool__sum_counters(pool, &sum);
    size_t in_use = in_use_of(pool, &sum);
    size_t charged = load_relaxed(&pool->charged);
    peak_raise(pool, in_use > charged ? charged : in_use); /* summed a moment apart */
}

/* The counts kept under the lock, and the stall (when stall is not NULL). */
static void fill_locked_counts(bufpool *pool, bufpool_stats *out, uint64_t *stall)
{
    bufpool__lock(pool);
    out->waiters = pool->queued;
    out->total_waits = pool->total_waits;
    out->total_wait_ns = load_relaxed(&pool->total_wait_ns);
    if (stall)
        *stall = bufpool__stall_at(pool->stall_ns, pool->stall_since, pool->nstall, bufpool__now_ns());
    bufpool__unlock_plain(pool);
}

BUFPOOL__API void bufpool_get_stats(bufpool *pool, bufpool_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!pool)
        return;
    bufpool__check_pool(pool, "bufpool_get_stats");
    struct tc_counters sum;
    bufpool__sum_counters(pool, &sum);
    fill_locked_counts(pool, out, NULL);

    size_t charged = load_relaxed(&pool->charged);
    out->buffer_size = pool->buffer_size;
    out->max_memory = load_relaxed(&pool->max_memory);
    out->in_use_bytes = in_use_of(pool, &sum);
    if (out->in_use_bytes > charged) /* counters read a moment apart */
        out->in_use_bytes = charged;
    out->cached_bytes = charged - out->in_use_bytes;
    /* The snapshot's sample of the peak, from the same sum, so that the
     * in_use it reports never exceeds the peak it reports. */
    peak_raise(pool, out->in_use_bytes);
    out->peak_in_use_bytes = load_relaxed(&pool->peak_in_use);
    uint64_t allocs = load_relaxed(&sum.allocs), frees = load_relaxed(&sum.frees);
    out->live_allocations = allocs > frees ? (size_t)(allocs - frees) : 0;
    out->total_allocations = allocs;
    out->total_failures = load_relaxed(&pool->failures);
    if (pool->flags & BUFPOOL_REGION)
        out->largest_free_run = bufpool__arena_largest(pool->arena);
}

BUFPOOL__API int bufpool_get_stats_ex(bufpool *pool, bufpool_stats_ex *out, size_t size)
{
    if (!pool || !out || size < sizeof(bufpool_stats))
        return -EINVAL;
    bufpool_stats_ex ex;
    bufpool_get_stats(pool, &ex.stats);
    uint64_t stall;
    fill_locked_counts(pool, &ex.stats, &stall); /* the waits and the stall of one moment */
    ex.stall_ns = stall;
    size_t known = size < sizeof ex ? size : sizeof ex;
    memcpy(out, &ex, known);
    if (size > known) /* a newer caller's fields this library does not know */
        memset((char *)out + known, 0, size - known);
    return 0;
}
