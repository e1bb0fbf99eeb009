/*
 * mutex.c: mutex + condvar around the budget, malloc/free outside the lock.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "pool.h"

#include <stdlib.h>

int bl_mutex_create(bl_pool **out, size_t buffer_size, size_t max_memory)
{
    return bl_pool_new(out, buffer_size, max_memory);
}

int bl_mutex_allocate(bl_pool *p, size_t n, bl_alloc **out)
{
    size_t bytes;
    int err = request_bytes(p, n, &bytes);
    *out = NULL;
    if (err)
        return err;
    pthread_mutex_lock(&p->lock);
    if (atomic_load_explicit(&p->used, memory_order_relaxed) + bytes > p->max_memory) {
        atomic_fetch_add_explicit(&p->waiters, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->total_waits, 1, memory_order_relaxed);
        while (atomic_load_explicit(&p->used, memory_order_relaxed) + bytes > p->max_memory)
            pthread_cond_wait(&p->cond, &p->lock);
        atomic_fetch_sub_explicit(&p->waiters, 1, memory_order_relaxed);
    }
    atomic_store_explicit(&p->used, atomic_load_explicit(&p->used, memory_order_relaxed) + bytes,
                          memory_order_relaxed);
    pthread_mutex_unlock(&p->lock);
    void *block = malloc(HDR + bytes); /* outside the lock, as a real pool would */
    if (!block) {
        pthread_mutex_lock(&p->lock);
        atomic_store_explicit(&p->used,
                              atomic_load_explicit(&p->used, memory_order_relaxed) - bytes,
                              memory_order_relaxed);
        pthread_mutex_unlock(&p->lock);
        return -ENOMEM;
    }
    *out = fill(p, block, n);
    return 0;
}

void bl_mutex_release(bl_alloc *a)
{
    bl_pool *p = a->pool;
    size_t bytes = a->n * p->buffer_size;
    free(block_of(a));
    pthread_mutex_lock(&p->lock);
    atomic_store_explicit(&p->used, atomic_load_explicit(&p->used, memory_order_relaxed) - bytes,
                          memory_order_relaxed);
    /* A waiter increments `waiters` and waits without dropping the lock in
     * between, so a count read under the lock is exact: waiters > 0 means
     * they are already queued on the condvar and the broadcast reaches them
     * even after we unlock. */
    size_t w = atomic_load_explicit(&p->waiters, memory_order_relaxed);
    pthread_mutex_unlock(&p->lock);
    if (w)
        pthread_cond_broadcast(&p->cond);
}

void bl_mutex_destroy(bl_pool *p)
{
    if (p)
        bl_pool_free(p);
}
