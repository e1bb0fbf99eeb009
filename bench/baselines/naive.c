/*
 * naive.c: the naive budget (naive.h) over glibc's malloc.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "naive.h"

#include <stdlib.h>

static void *libc_alloc(size_t size)
{
    return malloc(size);
}

static void libc_free(void *ptr, size_t size)
{
    (void)size;
    free(ptr);
}

int bl_naive_create(bl_pool **out, size_t buffer_size, size_t max_memory)
{
    return bl_pool_new(out, buffer_size, max_memory);
}

/* libc_alloc/libc_free are constants here, so they are inlined: the naive
 * baseline pays no indirect call. */
int bl_naive_allocate(bl_pool *p, size_t n, bl_alloc **out)
{
    return naive_allocate(p, n, out, libc_alloc);
}

void bl_naive_release(bl_alloc *a)
{
    naive_release(a, libc_free);
}

void bl_naive_destroy(bl_pool *p)
{
    if (p)
        bl_pool_free(p);
}
