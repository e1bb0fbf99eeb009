/*
 * The depot: released memory moving between threads without pool->lock.
 *
 * A thread that releases what another thread allocated (a pipeline: one
 * thread fills buffers, another writes them out) fills its own bin and
 * never empties it.  When the bin is full, the whole bin and the release
 * go to the depot as one chain; a thread that misses takes one chain, keeps
 * one allocation and puts the rest into its empty bin.  So a pipeline pays
 * one atomic operation on each side per binful (up to TC_BIN_CAP + 1
 * allocations), not a lock per miss.
 *
 * The depot holds chains of the lengths that have bins of their own (n <=
 * FAST_N), DEPOT_SLOTS per length.  A slot
 * is empty (NULL) or holds one chain, linked through ->next.  A chain goes
 * in with a CAS from NULL, and comes out with an exchange to NULL.  Neither
 * compares a pointer that could have been recycled in between, so there is
 * no ABA problem and no chain is ever walked to find its tail: a refill
 * that took more than its bin holds puts the suffix back into a slot as it
 * is.  When every slot is full the chain goes to the arena, where it stays
 * resident for any length (as longer lengths always do: they have no
 * depot, since their bins share lengths).
 *
 * DEPOT_SLOTS slots a length (about 1000 allocations): a pipeline whose
 * two threads share a CPU, or whose writer wakes for a batch, releases in
 * bursts as deep as its queue, and the arena is the slow way back (a tree
 * update per run under the chunk's lock); docs/tuning.md.  Put and take
 * scan from slot 0 with relaxed loads, so an idle depot costs one cache
 * line; a steal reads every slot, which it does only on its slow path.
 *
 * The wait protocol (waitq.c) sees the depot through bufpool__depot_take,
 * which a waiter's steal runs after its nwait increment.  Both the put
 * (CAS) and the take (load, exchange) are seq_cst, and every put is
 * followed by a seq_cst load of nwait: in their single total order either
 * the put comes first, and the waiter's load of the slot sees the chain,
 * or the putter's load sees the increment, and it serves the waiter
 * (bufpool__release_pushed).  A refill that moves entries into its bin hides
 * them from a waiter that has looked already, as a release's push does, so
 * its caller looks at nwait afterwards, as after a release.
 */
#include "internal.h"

/*
 * A slot holds a chain's first header and its length, so that a refill
 * puts a whole chain into its bin without walking it (the headers were
 * just written on another CPU: a walk is a cache miss per entry).  The
 * length rides in the pointer's top 16 bits, which are 0 in every user
 * address of x86-64 and arm64 with 48-bit virtual addresses; a header at
 * an address that has them set (57-bit address spaces hand such addresses
 * out only on request) is never put into the depot.  Without 64-bit
 * pointers there is no depot.
 */
#if UINTPTR_MAX > 0xffffffffu
#define CHAIN_SHIFT 48
#define CHAIN_MAX 0xffffu
static bool chain_packable(struct bufpool_alloc *h)
{
    return ((uintptr_t)h >> CHAIN_SHIFT) == 0;
}
#else
#define CHAIN_SHIFT 0
#define CHAIN_MAX 0u
static bool chain_packable(struct bufpool_alloc *h)
{
    (void)h;
    return false;
}
#endif

static struct bufpool_alloc *chain_head(uintptr_t v)
{
    return (struct bufpool_alloc *)(v & (((uintptr_t)1 << CHAIN_SHIFT) - 1));
}

static size_t chain_count(uintptr_t v)
{
    return (size_t)(v >> CHAIN_SHIFT);
}

/* Put a chain of count allocations of length n into an empty slot; false
 * when none is, or the chain cannot be packed. */
static bool depot_put(struct bufpool *pool, size_t n, struct bufpool_alloc *chain, size_t count)
{
    if (!chain_packable(chain) || count > CHAIN_MAX)
        return false;
    uintptr_t v = (uintptr_t)chain | ((uintptr_t)count << CHAIN_SHIFT);
    struct depot_bin *d = &pool->depot[n];
    for (unsigned i = 0; i < DEPOT_SLOTS; i++) {
        uintptr_t expect = 0;
        /* The relaxed load is a hint (no locked instruction on a full
         * slot).  seq_cst CAS: publishes the chain's links (release) to
         * the taker's exchange, and orders the put before the caller's
         * nwait load */
        if (!load_relaxed(&d->slot[i]) && cas_seqcst(&d->slot[i], &expect, v))
            return true;
    }
    return false;
}

/* A chain into the depot, or into the arena when the depot is full. */
void bufpool__depot_give(struct bufpool *pool, struct tcache *tc, size_t n,
                       struct bufpool_alloc *chain, size_t count)
{
    if (depot_put(pool, n, chain, count))
        return;
    while (chain) {
        struct bufpool_alloc *next = load_relaxed(&chain->next);
        bufpool__block_free(pool, tc, chain);
        chain = next;
    }
}

/* Take one chain of length n out of the depot: its first header (NULL
 * when every slot is empty) and, in *count, how many it links. */
struct bufpool_alloc *bufpool__depot_get(struct bufpool *pool, size_t n, size_t *count)
{
    struct depot_bin *d = &pool->depot[n];
    uintptr_t v = 0;
    for (unsigned i = 0; i < DEPOT_SLOTS && !v; i++) {
        /* the relaxed load: a hint, as in depot_put; the exchange is
         * seq_cst: pairs with depot_put's CAS (the chain's links) */
        if (load_relaxed(&d->slot[i]))
            v = exchange_seqcst(&d->slot[i], 0);
    }
    *count = chain_count(v);
    return chain_head(v);
}

/* Every chain, for a steal (cache.c): appended to list.  The loads are
 * seq_cst: the waiter's half of the order argued at the top. */
struct bufpool_alloc *bufpool__depot_take(struct bufpool *pool, struct bufpool_alloc *list)
{
    for (size_t n = 1; n <= FAST_N; n++) {
        struct depot_bin *d = &pool->depot[n];
        for (unsigned i = 0; i < DEPOT_SLOTS; i++) {
            if (!load_seqcst(&d->slot[i]))
                continue;
            list = bufpool__list_append(list, chain_head(exchange_seqcst(&d->slot[i], 0)));
        }
    }
    return list;
}

/*
 * What serving left over (waitq.c): lengths with a depot go there, one
 * chain per length, the others to the arena, and everything to the arena
 * when the pool is over its budget or going away.  Under pool->lock, where
 * waiters register: a later waiter finds the chains in its steal.
 */
void bufpool__depot_stash(struct bufpool *pool, struct bufpool_alloc *spare)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    struct bufpool_alloc *by_n[FAST_N + 1] = {NULL};
    size_t count[FAST_N + 1] = {0};
    bool keep = !pool->destroying && !bufpool__over_budget(pool);
    while (spare) {
        struct bufpool_alloc *h = spare;
        spare = load_relaxed(&h->next);
        if (!keep || h->n > FAST_N || count[h->n] == CHAIN_MAX) {
            bufpool__block_free_locked(pool, h);
            continue;
        }
        store_relaxed(&h->next, by_n[h->n]);
        by_n[h->n] = h;
        count[h->n]++;
    }
    for (size_t n = 1; n <= FAST_N; n++)
        if (by_n[n] && !depot_put(pool, n, by_n[n], count[n]))
            bufpool__free_list(pool, by_n[n]);
}
