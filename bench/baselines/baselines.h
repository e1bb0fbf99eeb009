/*
 * Baseline pools for the benchmark: the same shape as bufpool's API
 * (create, allocate n buffers blocking, release, destroy), built on other
 * designs so that one run compares them side by side.  Benchmark code only:
 * nothing here is part of the library.  One file each:
 *
 *   original  the Rust module's design ported to C (original.c)
 *   naive     CAS on the budget + malloc/free, wakes only when someone
 *             waits (naive.h, naive.c)
 *   mutex     mutex + condvar around the budget, malloc/free (mutex.c)
 *   malloc    plain malloc/free, no budget: the floor (malloc.c)
 *   jemalloc  "naive" over jemalloc's mallocx/sdallocx (dlopen'ed, dlheap.c)
 *   mimalloc  "naive" over mimalloc's mi_malloc_aligned/mi_free (dlheap.c)
 *
 * and raw blocks from glibc, jemalloc or mimalloc (bl_heap_alloc, dlheap.c)
 * for the page-aligned, handle-less baselines of sections/sized.h.  What
 * the pools share: pool.h, pool.c.  bufpool 1.0's renamed API: v10.h.
 */
#ifndef BENCH_BASELINES_H
#define BENCH_BASELINES_H

#include <stddef.h>

typedef struct bl_pool bl_pool;

/* One allocation; the part of it the benchmark reads.  The baselines other
 * than "original" put this handle in the same heap block as the buffers, so
 * an allocation is one allocator call; "original" keeps it apart (see
 * original.c). */
typedef struct bl_alloc {
    bl_pool *pool;
    char *first; /* n * buffer_size bytes */
    size_t n;
} bl_alloc;

/* Functions of every baseline, declared per kind so that the benchmark's
 * hot loops call them directly (no function pointer in the timed path). */
#define BL_DECLARE(kind)                                                              \
    int bl_##kind##_create(bl_pool **out, size_t buffer_size, size_t max_memory);     \
    int bl_##kind##_allocate(bl_pool *p, size_t n, bl_alloc **out);                   \
    void bl_##kind##_release(bl_alloc *a);                                            \
    void bl_##kind##_destroy(bl_pool *p);

BL_DECLARE(original)
BL_DECLARE(naive)
BL_DECLARE(mutex)
BL_DECLARE(malloc)
BL_DECLARE(jemalloc)
BL_DECLARE(mimalloc)

/* Requests blocked in allocate right now (any kind).  The wake-latency
 * benchmark polls it to know that its waiter has gone to sleep. */
size_t bl_waiters(bl_pool *p);

/* Requests that had to wait since the pool was created (any kind): counted
 * once per request on its slow path only, like bufpool_stats.total_waits.
 * The paced backpressure run reports it to show how often the budget bound. */
size_t bl_total_waits(bl_pool *p);

/* Raw blocks from one of the three allocators, for the sections whose
 * baselines keep no handle (sized.c: the pointer and the length are the
 * caller's, as with malloc itself).  align: a power of two; up to 16 the
 * allocator's plain call (malloc, mallocx(size, 0), mi_malloc_aligned(size,
 * align)), above it the aligned one (posix_memalign, mallocx with
 * MALLOCX_LG_ALIGN, mi_malloc_aligned).  bl_heap_free takes the same size
 * and align (jemalloc's sized free uses them).  NULL when out of memory or
 * when the allocator is not loaded. */
enum bl_heap { BL_HEAP_GLIBC, BL_HEAP_JEMALLOC, BL_HEAP_MIMALLOC };
void *bl_heap_alloc(enum bl_heap heap, size_t size, size_t align);
void bl_heap_free(enum bl_heap heap, void *p, size_t size, size_t align);

/* Load jemalloc / mimalloc with dlopen(RTLD_LOCAL), so they do not replace
 * malloc for the rest of the process.  0 when loaded; -1 when not, with
 * *note set to a one-line explanation.  Idempotent.  The *_create of a kind
 * that is not loaded fails with -ENOTSUP. */
int bl_jemalloc_load(const char **note);
int bl_mimalloc_load(const char **note);

#endif /* BENCH_BASELINES_H */
