/*
 * pool.h: what the baseline pools share (baselines.h lists them; one file
 * each: original.c, naive.c, mutex.c, malloc.c, dlheap.c).
 *
 * All baselines share one pool struct.  All but "original" share one block
 * layout:
 *
 *   block = [ header (64 bytes, holds the public bl_alloc) ][ n * buffer_size ]
 *
 * so an allocation is exactly one allocator call and one free.  The 64-byte
 * header keeps the buffers 16-byte aligned, like malloc's own result.
 * "original" asks the allocator for exactly n * buffer_size bytes, as the
 * Rust code does, and keeps its handle in a second small block (see original.c).
 *
 * Budget rule for every budgeted kind: charge the budget before asking the
 * allocator, give the memory back before uncharging, so the bytes handed out
 * never exceed max_memory (the allocator's own caching is not counted: that
 * is one of the things the RSS benchmark shows).
 */
#ifndef BENCH_BASELINES_POOL_H
#define BENCH_BASELINES_POOL_H

#include "baselines.h"

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define HDR 64

struct bl_pool {
    alignas(64) _Atomic size_t used; /* bytes charged to the budget */
    size_t max_memory;
    size_t buffer_size;
    alignas(64) _Atomic size_t live; /* original: live allocations, for drop */
    _Atomic size_t waiters;          /* blocked requests (all kinds) */
    _Atomic size_t total_waits;      /* requests that ever waited (all kinds) */
    _Atomic uint32_t cv_seq;         /* original: its condvar's futex word */
    _Atomic uint32_t drop_seq;       /* original: the drop condvar's futex word */
    pthread_mutex_t lock;
    pthread_cond_t cond; /* naive, mutex */
};

/* The part of the header behind the public handle. */
struct hdr {
    bl_alloc pub;
    _Atomic size_t refs; /* original: the Arc-style reference count */
};
_Static_assert(sizeof(struct hdr) <= HDR, "header must fit in HDR bytes");

/* A pool with nothing charged (pool.c); -EINVAL for a zero buffer size or a
 * budget below one buffer. */
int bl_pool_new(bl_pool **out, size_t buffer_size, size_t max_memory);
void bl_pool_free(bl_pool *p);

/* n buffers -> bytes, or a negative errno. */
static inline int request_bytes(const bl_pool *p, size_t n, size_t *bytes)
{
    if (n == 0 || n > p->max_memory / p->buffer_size)
        return n == 0 ? -EINVAL : -E2BIG;
    *bytes = n * p->buffer_size;
    return 0;
}

static inline bl_alloc *fill(bl_pool *p, void *block, size_t n)
{
    struct hdr *h = block;
    h->pub.pool = p;
    h->pub.first = (char *)block + HDR;
    h->pub.n = n;
    atomic_store_explicit(&h->refs, 1, memory_order_relaxed);
    return &h->pub;
}

static inline void *block_of(bl_alloc *a)
{
    return (char *)a - offsetof(struct hdr, pub);
}

#endif /* BENCH_BASELINES_POOL_H */
