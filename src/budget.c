/*
 * The byte budget and the memory it pays for.
 *
 * pool->charged is the exact number of bytes the pool holds from the
 * system: live allocations plus cached ones.  It moves only here, with one
 * atomic operation each way, and only on a cache miss or a trim, so the
 * common allocate/release roundtrip (a cache hit) never touches it.
 *
 * Memory comes from posix_memalign for small blocks and straight from mmap
 * for large ones (so their pages go back to the kernel on free and the
 * budget bounds RSS), or from the region in BUFPOOL_REGION mode.
 */
#include "internal.h"

#include <stdlib.h>
#include <sys/mman.h>

/* Blocks at least this large are mapped on their own. */
#define MMAP_MIN ((size_t)64 << 10)

bool bufpool__budget_try_charge(struct bufpool *pool, size_t bytes)
{
    size_t c = load_relaxed(&pool->charged);
    for (;;) {
        size_t max = load_relaxed(&pool->max_memory);
        if (bytes > max || c > max - bytes)
            return false;
        /* seq_cst: pairs with the fetch_sub in bufpool__budget_uncharge;
         * a waiter charges after registering in nwait (waitq.c). */
        if (cas_seqcst(&pool->charged, &c, c + bytes))
            return true;
    }
}

void bufpool__budget_uncharge(struct bufpool *pool, size_t bytes)
{
    /* seq_cst: a release that frees memory then loads nwait; pairs with a
     * waiter's nwait increment followed by its charge attempt. */
    fetch_sub_seqcst(&pool->charged, bytes);
}

/* A header: recycled from the pool (under the lock) or new. */
static struct bufpool_alloc *hdr_get(struct bufpool *pool, bool locked)
{
    struct bufpool_alloc *h = NULL;
    if (locked || load_relaxed(&pool->nfree_hdrs)) {
        if (!locked)
            pthread_mutex_lock(&pool->lock);
        h = pool->free_hdrs;
        if (h) {
            pool->free_hdrs = load_relaxed(&h->next);
            store_relaxed(&pool->nfree_hdrs, load_relaxed(&pool->nfree_hdrs) - 1);
        }
        if (!locked)
            pthread_mutex_unlock(&pool->lock);
    }
    if (!h) {
        if (posix_memalign((void **)&h, CACHELINE, sizeof *h) != 0)
            return NULL;
        h->pool = pool;
        h->magic = BUFPOOL__MAGIC_ALLOC;
    }
    return h;
}

static void hdr_put(struct bufpool *pool, struct bufpool_alloc *h)
{
    store_relaxed(&h->next, pool->free_hdrs);
    pool->free_hdrs = h;
    store_relaxed(&pool->nfree_hdrs, load_relaxed(&pool->nfree_hdrs) + 1);
}

int bufpool__block_new(struct bufpool *pool, size_t n, bool locked, struct bufpool_alloc **out)
{
    size_t bytes = bufpool__bytes(pool, n);
    struct bufpool_alloc *h = hdr_get(pool, locked);
    void *mem = NULL;
    int err = -ENOMEM;

    if (!h)
        return -ENOMEM;
    if (BUFPOOL__HOOK(BUFPOOL__HOOK_BLOCK_NEW, pool)) {
        mem = NULL;
    } else if (pool->region) {
        size_t idx = bufpool__region_alloc(pool->region, n);
        if (idx != SIZE_MAX)
            mem = (char *)bufpool__region_base(pool->region) + (idx << pool->shift);
        else
            err = -EAGAIN;
    } else if (bytes >= MMAP_MIN) {
        mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED)
            mem = NULL;
    } else if (posix_memalign(&mem, pool->align, bytes) != 0) {
        mem = NULL;
    }
    if (!mem) {
        if (!locked)
            pthread_mutex_lock(&pool->lock);
        hdr_put(pool, h);
        if (!locked)
            pthread_mutex_unlock(&pool->lock);
        return err;
    }
    h->first = mem;
    h->n = n;
    store_relaxed(&h->next, NULL);
    store_relaxed(&h->refs, 1);
    *out = h;
    return 0;
}

/* Under pool->lock. */
void bufpool__block_free(struct bufpool *pool, struct bufpool_alloc *a)
{
    size_t bytes = bufpool__bytes(pool, a->n);
    if (pool->region)
        bufpool__region_free(pool->region,
                             (size_t)(a->first - (char *)bufpool__region_base(pool->region)) >> pool->shift,
                             a->n);
    else if (bytes >= MMAP_MIN)
        munmap(a->first, bytes);
    else
        free(a->first);
    a->first = NULL;
    hdr_put(pool, a);
    bufpool__budget_uncharge(pool, bytes);
}

/* Under pool->lock. */
void bufpool__free_list(struct bufpool *pool, struct bufpool_alloc *list)
{
    while (list) {
        struct bufpool_alloc *next = load_relaxed(&list->next);
        bufpool__block_free(pool, list);
        list = next;
    }
}

/* Destroy: give every spare header back to malloc. */
void bufpool__free_hdrs(struct bufpool *pool)
{
    struct bufpool_alloc *h = pool->free_hdrs;
    while (h) {
        struct bufpool_alloc *next = load_relaxed(&h->next);
        free(h);
        h = next;
    }
    pool->free_hdrs = NULL;
}
