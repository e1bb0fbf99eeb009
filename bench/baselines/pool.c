/*
 * pool.c: the baselines' pool struct (pool.h): create, free, and the
 * counters every kind keeps.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "pool.h"

#include <stdlib.h>

int bl_pool_new(bl_pool **out, size_t buffer_size, size_t max_memory)
{
    *out = NULL;
    if (buffer_size == 0 || max_memory < buffer_size)
        return -EINVAL;
    bl_pool *p = aligned_alloc(64, (sizeof *p + 63) / 64 * 64);
    if (!p)
        return -ENOMEM;
    atomic_init(&p->used, 0);
    atomic_init(&p->live, 0);
    atomic_init(&p->waiters, 0);
    atomic_init(&p->total_waits, 0);
    atomic_init(&p->cv_seq, 0);
    atomic_init(&p->drop_seq, 0);
    p->max_memory = max_memory;
    p->buffer_size = buffer_size;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    *out = p;
    return 0;
}

void bl_pool_free(bl_pool *p)
{
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

size_t bl_waiters(bl_pool *p)
{
    return atomic_load(&p->waiters);
}

size_t bl_total_waits(bl_pool *p)
{
    return atomic_load(&p->total_waits);
}
