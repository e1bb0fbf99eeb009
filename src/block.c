/*
 * block.c: allocations as the layers above see them, a header and its run
 * of buffers, made from and given back to the arena (which charges the
 * budget).
 *
 * Headers are 40 bytes, packed into slabs the pool owns and frees only at
 * destroy (type-stable: a header is only ever recycled as a header).  A
 * thread keeps a stash of spare headers in its cache, so carving a run
 * from the arena, or cutting one from the cache's run, takes no pool lock;
 * stashes trade with the pool's spare list in batches.
 */
#include "internal.h"

#include <stdlib.h>

/* ---- headers ------------------------------------------------------------- */

struct slab {
    struct slab *next;
    alignas(8) char hdrs[];
};

/* A spare header from the pool, carving a new slab when none is left.
 * */
static struct bufpool_alloc *hdr_get_locked(struct bufpool *pool)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    struct bufpool_alloc *h = pool->free_hdrs;
    if (h) {
        pool->free_hdrs = load_relaxed(&h->next);
        return h;
    }
    if (pool->slab_left == 0) {
        struct slab *s = malloc(SLAB_BYTES);
        if (!s)
            return NULL;
        s->next = pool->slabs;
        pool->slabs = s;
        pool->slab_next = s->hdrs;
        pool->slab_left = (SLAB_BYTES - sizeof *s) / sizeof *h;
    }
    h = (struct bufpool_alloc *)pool->slab_next;
    pool->slab_next += sizeof *h;
    pool->slab_left--;
    h->pool = pool;
    h->magic = BUFPOOL__MAGIC_ALLOC;
    return h;
}

static void hdr_put_locked(struct bufpool *pool, struct bufpool_alloc *h)
{
    store_relaxed(&h->next, pool->free_hdrs);
    pool->free_hdrs = h;
}

/* A header for the owner of tc (NULL: none), from its stash, refilled from
 * the pool in one batch under the lock. */
/* A header for the owner of tc (NULL: none): off its stash, else from
 * the pool with a batch more for the stash, so that one thread's headers
 * share no cache line with another's.  Under the lock. */
static struct bufpool_alloc *hdr_get_for_locked(struct bufpool *pool, struct tcache *tc)
{
    struct bufpool_alloc *h;
    if (tc && (h = tc->stash)) {
        tc->stash = load_relaxed(&h->next);
        tc->nstash--;
        return h;
    }
    h = hdr_get_locked(pool);
    for (int i = 1; tc && h && i < STASH_BATCH; i++) {
        struct bufpool_alloc *more = hdr_get_locked(pool);
        if (!more)
            break;
        store_relaxed(&more->next, tc->stash);
        tc->stash = more;
        tc->nstash++;
    }
    return h;
}

static struct bufpool_alloc *hdr_get(struct bufpool *pool, struct tcache *tc)
{
    struct bufpool_alloc *h;
    if (tc && (h = tc->stash)) { /* without the lock: the owner's */
        tc->stash = load_relaxed(&h->next);
        tc->nstash--;
        return h;
    }
    bufpool__lock(pool);
    h = hdr_get_for_locked(pool, tc);
    bufpool__unlock_plain(pool);
    return h;
}

struct bufpool_alloc *bufpool__hdr_stash_pop(struct tcache *tc)
{
    struct bufpool_alloc *h = tc->stash;
    if (h) {
        tc->stash = load_relaxed(&h->next);
        tc->nstash--;
    }
    return h;
}

void bufpool__hdr_put(struct bufpool *pool, struct tcache *tc, struct bufpool_alloc *h)
{
    if (!tc) {
        bufpool__lock(pool);
        hdr_put_locked(pool, h);
        bufpool__unlock_plain(pool);
        return;
    }
    store_relaxed(&h->next, tc->stash);
    tc->stash = h;
    if (++tc->nstash <= STASH_MAX)
        return;
    bufpool__lock(pool);
    while (tc->nstash > STASH_MAX - STASH_BATCH) {
        struct bufpool_alloc *x = tc->stash;
        tc->stash = load_relaxed(&x->next);
        tc->nstash--;
        hdr_put_locked(pool, x);
    }
    bufpool__unlock_plain(pool);
}

/* ---- the committed bytes ------------------------------------------------- */

/*
 * committed += bytes - credit, if that stays within max_memory (credit:
 * reserved bytes the request uses, already in committed; at most bytes).
 * seq_cst, as budget_try_charge: a waiter registers in nwait, then tries
 * this; a free into the arena uncommits, then loads nwait (W2).
 */
static bool commit_try(struct bufpool *pool, size_t bytes, size_t credit)
{
    size_t add = bytes - credit, c = load_relaxed(&pool->committed);
    for (;;) {
        size_t max = load_relaxed(&pool->max_memory);
        if (add > max || c > max - add)
            return false;
        if (cas_seqcst(&pool->committed, &c, c + add))
            return true;
    }
}

/* Memory already carved (a cache's, a spare) handed to a request that
 * uses `credit` bytes of a reservation: the reservation's part leaves
 * committed, which counted it twice until now.  seq_cst: pairs as in
 * commit_try.  Under pool->lock. */
void bufpool__commit_credit(struct bufpool *pool, size_t credit)
{
    if (credit)
        fetch_sub_seqcst(&pool->committed, credit);
}

static void uncommit(struct bufpool *pool, size_t bytes)
{
    fetch_sub_seqcst(&pool->committed, bytes); /* pairs as in commit_try */
}

/* ---- blocks: a header and its run ---------------------------------------- */

static void block_init(struct bufpool_alloc *h, char *mem, size_t n)
{
    h->first = mem;
    h->acct = NULL;
    bufpool__set_length(h, n);
    store_relaxed(&h->next, NULL);
    store_relaxed(&h->refs, 1);
}

/* The run first, then its header: a header that cannot be had gives the
 * run (and the charge it took) back, and the caller's -ENOMEM path then
 * serves whoever queued meanwhile (pool.c).  The hook point stands for that
 * failure in the race tests. */
int bufpool__block_new(struct bufpool *pool, struct tcache *tc, size_t n, bool *gave,
                       struct bufpool_alloc **out)
{
    struct bufpool_alloc *h;
    char *mem;
    int err = bufpool__arena_alloc(pool, n, tc ? tc->home : 0, gave, &mem);
    if (err)
        return err;
    /* After the arena, so that a pool without reservations fails as it
     * always did (committed <= charged then: this cannot fail). */
    if (!commit_try(pool, bufpool__bytes(pool, n), 0)) {
        bufpool__arena_free(pool, mem, n);
        *gave = true; /* the run the arena took for it is free again (W2) */
        return -EAGAIN;
    }
    if (BUFPOOL__HOOK(BUFPOOL__HOOK_BLOCK_NEW, pool) || !(h = hdr_get(pool, tc))) {
        bufpool__arena_free(pool, mem, n);
        uncommit(pool, bufpool__bytes(pool, n));
        return -ENOMEM;
    }
    block_init(h, mem, n);
    *out = h;
    return 0;
}

int bufpool__block_new_locked(struct bufpool *pool, struct tcache *tc, size_t n, size_t credit,
                              struct bufpool_alloc **out)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    struct bufpool_alloc *h;
    char *mem;
    size_t bytes = bufpool__bytes(pool, n);
    int err = bufpool__arena_alloc_locked(pool, n, tc ? tc->home : 0, &mem);
    if (err)
        return err;
    if (!commit_try(pool, bytes, credit)) { /* as in bufpool__block_new */
        bufpool__arena_free_locked(pool, mem, n);
        return -EAGAIN;
    }
    if (!(h = hdr_get_for_locked(pool, tc))) {
        bufpool__arena_free_locked(pool, mem, n);
        uncommit(pool, bytes - credit); /* as it was, the credit included */
        return -ENOMEM;
    }
    block_init(h, mem, n);
    *out = h;
    return 0;
}

void bufpool__block_free(struct bufpool *pool, struct tcache *tc, struct bufpool_alloc *a)
{
    bufpool__arena_free(pool, a->first, a->n);
    uncommit(pool, bufpool__bytes(pool, a->n));
    a->first = NULL;
    bufpool__hdr_put(pool, tc, a);
}

void bufpool__block_free_locked(struct bufpool *pool, struct bufpool_alloc *a)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    bufpool__arena_free_locked(pool, a->first, a->n);
    uncommit(pool, bufpool__bytes(pool, a->n));
    a->first = NULL;
    hdr_put_locked(pool, a);
}

/* */
void bufpool__free_list(struct bufpool *pool, struct bufpool_alloc *list)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    while (list) {
        struct bufpool_alloc *next = load_relaxed(&list->next);
        bufpool__block_free_locked(pool, list);
        list = next;
    }
}

/* Destroy: give every slab back to malloc (stashes live in the slabs). */
void bufpool__free_hdrs(struct bufpool *pool)
{
    for (struct slab *s = pool->slabs, *next; s; s = next) {
        next = s->next;
        free(s);
    }
    pool->slabs = NULL;
    pool->free_hdrs = NULL;
}
