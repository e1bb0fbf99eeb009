/*
 * naive.h: the naive budget (naive.c over glibc, dlheap.c over jemalloc
 * and mimalloc), inline so that the allocator's functions, constants at
 * each call, are called directly.
 *
 * CAS on the budget, the allocator, and no system call unless somebody
 * waits.  Why no wakeup is lost: a waiter increments `waiters` (seq_cst)
 * and then re-checks the budget under the lock; a release subtracts from
 * `used` (seq_cst) and then loads `waiters`.  In the single order of those
 * seq_cst operations either the waiter's re-check sees the release, or the
 * release sees waiters > 0 and broadcasts under the lock, which the waiter
 * holds from its re-check until pthread_cond_wait has queued it. */
#ifndef BENCH_BASELINES_NAIVE_H
#define BENCH_BASELINES_NAIVE_H

#include "pool.h"

static inline int naive_allocate(bl_pool *p, size_t n, bl_alloc **out,
                                 void *(*xalloc)(size_t))
{
    size_t bytes;
    int err = request_bytes(p, n, &bytes);
    *out = NULL;
    if (err)
        return err;
    size_t cur = atomic_load_explicit(&p->used, memory_order_relaxed);
    for (;;) {
        if (cur + bytes <= p->max_memory) {
            if (atomic_compare_exchange_weak_explicit(&p->used, &cur, cur + bytes,
                                                      memory_order_acq_rel,
                                                      memory_order_relaxed))
                break;
            continue;
        }
        pthread_mutex_lock(&p->lock);
        atomic_fetch_add(&p->waiters, 1);
        atomic_fetch_add_explicit(&p->total_waits, 1, memory_order_relaxed);
        while (atomic_load(&p->used) + bytes > p->max_memory)
            pthread_cond_wait(&p->cond, &p->lock);
        atomic_fetch_sub(&p->waiters, 1);
        pthread_mutex_unlock(&p->lock);
        cur = atomic_load_explicit(&p->used, memory_order_relaxed);
    }
    void *block = xalloc(HDR + bytes);
    if (!block) {
        atomic_fetch_sub(&p->used, bytes);
        return -ENOMEM;
    }
    *out = fill(p, block, n);
    return 0;
}

static inline void naive_release(bl_alloc *a, void (*xfree)(void *, size_t))
{
    bl_pool *p = a->pool;
    size_t bytes = a->n * p->buffer_size;
    xfree(block_of(a), HDR + bytes);
    atomic_fetch_sub(&p->used, bytes);
    if (atomic_load(&p->waiters) != 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->cond); /* requests differ in size: wake all */
        pthread_mutex_unlock(&p->lock);
    }
}

#endif /* BENCH_BASELINES_NAIVE_H */
