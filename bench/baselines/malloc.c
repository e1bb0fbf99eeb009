/*
 * malloc.c: plain malloc/free behind the pool API, no budget: the floor.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "pool.h"

#include <stdlib.h>

int bl_malloc_create(bl_pool **out, size_t buffer_size, size_t max_memory)
{
    return bl_pool_new(out, buffer_size, max_memory);
}

int bl_malloc_allocate(bl_pool *p, size_t n, bl_alloc **out)
{
    *out = NULL;
    if (n == 0)
        return -EINVAL;
    void *block = malloc(HDR + n * p->buffer_size);
    if (!block)
        return -ENOMEM;
    *out = fill(p, block, n);
    return 0;
}

void bl_malloc_release(bl_alloc *a)
{
    free(block_of(a));
}

void bl_malloc_destroy(bl_pool *p)
{
    if (p)
        bl_pool_free(p);
}
