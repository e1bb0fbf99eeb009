/*
 * Per-thread caches of released allocations, and the shared depot behind
 * them.
 *
 * A released allocation keeps its budget charge and goes into the releasing
 * thread's cache, so the next allocation of the same length is a pop: no
 * lock, no system call, no budget traffic.  Cached bytes count in the
 * budget; whoever needs budget that caches hold takes every cache at once
 * under pool->lock (bufpool__steal) and frees what it does not hand on.
 *
 * Ownership of a cache: the thread (through its TLS slot) and the pool each
 * hold one count in tc->owners.  A thread that exits, or evicts the slot,
 * drops its count; the pool may later adopt the cache for another thread.
 * The pool drops its count at destroy.  The last one frees the cache.  A
 * thread never touches a destroyed pool: ids are never reused, so its slot
 * for that pool never matches again.
 *
 * Headers are type-stable: while the pool lives, a header is never given
 * back to malloc, only recycled through pool->free_hdrs.  That is what makes
 * the owner's pop safe against a concurrent steal: it may read ->next of a
 * header the trimmer just took, but that memory is still a header, and its
 * CAS then fails because the bin's head has changed.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

__thread struct tl_slot bufpool__tl[TL_SLOTS] __attribute__((tls_model("initial-exec")));

static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;
static __thread bool tl_registered;

static void tcache_disown(struct tcache *tc)
{
    /* acq_rel: pairs with the other owner's fetch_sub (in tcache_pool_fini
     * or here), so the last one sees every write before it frees. */
    if (fetch_sub_acqrel(&tc->owners, 1) == 1)
        free(tc);
}

/* Thread exit: drop this thread's claim on each cache it holds. */
static void tl_exit(void *unused)
{
    (void)unused;
    /* A later bufpool call from another thread-local destructor registers
     * again, and glibc runs this once more. */
    tl_registered = false;
    for (int i = 0; i < TL_SLOTS; i++) {
        if (bufpool__tl[i].tc)
            tcache_disown(bufpool__tl[i].tc);
        bufpool__tl[i].tc = NULL;
        bufpool__tl[i].id = 0;
    }
}

static void tl_key_create(void)
{
    (void)pthread_key_create(&tl_key, tl_exit);
}

/* Find an unowned cache of the pool, or make one.  Under pool->lock. */
static struct tcache *tcache_attach(struct bufpool *pool)
{
    for (struct tcache *tc = load_acquire(&pool->tcaches); tc; tc = tc->next) {
        int one = 1;
        /* pairs with the fetch_sub in tcache_disown: adopting sees the
         * previous owner's writes to the bins and counters. */
        if (load_relaxed(&tc->owners) == 1 && cas_acqrel(&tc->owners, &one, 2))
            return tc;
    }
    /* Cache-line aligned: two threads' caches never share a line. */
    struct tcache *tc;
    if (posix_memalign((void **)&tc, CACHELINE, sizeof *tc) != 0)
        return NULL;
    memset(tc, 0, sizeof *tc);
    tc->pool = pool;
    tc->home = pool->ncaches++;
    atomic_init(&tc->owners, 2);
    tc->next = load_relaxed(&pool->tcaches);
    /* pairs with the load_acquire in bufpool__sum_counters, which walks the
     * list without the lock. */
    store_release(&pool->tcaches, tc);
    return tc;
}

/* The slow part of bufpool__tcache_get: another slot, or a new cache. */
struct tcache *bufpool__tcache_get_slow(struct bufpool *pool)
{
    struct tl_slot *tl = bufpool__tl;
    for (int i = 1; i < TL_SLOTS; i++) {
        if (tl[i].id == pool->id) {
            struct tl_slot hit = tl[i];
            tl[i] = tl[0];
            tl[0] = hit;
            return hit.tc;
        }
    }
    if (!tl_registered) {
        if (pthread_once(&tl_once, tl_key_create) != 0 ||
            pthread_setspecific(tl_key, (void *)1) != 0)
            return NULL;
        tl_registered = true;
    }
    pthread_mutex_lock(&pool->lock);
    struct tcache *tc = tcache_attach(pool);
    pthread_mutex_unlock(&pool->lock);
    if (!tc)
        return NULL;
    /* Evict the least recent slot; its cache stays with its pool. */
    if (tl[TL_SLOTS - 1].tc)
        tcache_disown(tl[TL_SLOTS - 1].tc);
    for (int i = TL_SLOTS - 1; i > 0; i--)
        tl[i] = tl[i - 1];
    tl[0].id = pool->id;
    tl[0].tc = tc;
    return tc;
}

/*
 * A cache miss: take a batch of this length from the depot.  Under the lock
 * no trimmer runs, so the owner may refill its own bin with plain pushes.
 */
struct bufpool_alloc *bufpool__tcache_refill(struct tcache *tc, size_t n)
{
    struct bufpool *pool = tc->pool;
    struct bufpool_alloc *got = NULL;
    unsigned idx = bufpool__bin_index(n);

    pthread_mutex_lock(&pool->lock);
    struct tc_bin *d = &pool->depot[idx];
    struct tc_bin *b = &tc->bins[idx];
    struct bufpool_alloc *list = load_relaxed(&d->head);
    if (list && d->n == n && (b->n == n || !load_relaxed(&b->head))) {
        if (b->n != n)
            bufpool__bin_tag(b, pool, n);
        got = list;
        list = load_relaxed(&got->next);
        unsigned moved = 1;
        /* Extra entries only while nobody waits: memory moved into a bin
         * is seen by a waiter only through that thread's next release,
         * and the waiters have already looked (waitq.c).  nwait is exact
         * here: waiters register under this lock. */
        while (list && moved <= b->cap / 2 && !load_relaxed(&pool->nwait)) {
            struct bufpool_alloc *next = load_relaxed(&list->next);
            store_relaxed(&list->next, load_relaxed(&b->head));
            store_relaxed(&b->head, list);
            b->count++;
            list = next;
            moved++;
        }
        store_relaxed(&d->head, list);
        d->count -= moved;
        store_relaxed(&pool->depot_count, load_relaxed(&pool->depot_count) - moved);
    }
    pthread_mutex_unlock(&pool->lock);
    return got;
}

/*
 * A full or foreign bin on release: move the bin's list and a into the
 * depot, or free them when the depot's bin holds another length.  Called
 * with pool->lock held.
 */
void bufpool__cache_overflow(struct tcache *tc, struct bufpool_alloc *a)
{
    struct bufpool *pool = a->pool;
    unsigned idx = bufpool__bin_index(a->n);
    struct tc_bin *b = &tc->bins[idx];
    struct bufpool_alloc *list = NULL;
    unsigned count = 1;

    if (b->n == a->n) {
        /* pairs with the CAS in bufpool__tcache_push (our own earlier
         * pushes; the lock keeps trimmers out). */
        list = exchange_seqcst(&b->head, NULL);
        count += b->count;
        b->count = 0;
    }
    store_relaxed(&a->next, list);
    struct tc_bin *d = &pool->depot[idx];
    if (d->n != a->n && load_relaxed(&d->head)) {
        bufpool__free_list(pool, a);
        return;
    }
    d->n = a->n;
    struct bufpool_alloc *tail = a;
    while (load_relaxed(&tail->next))
        tail = load_relaxed(&tail->next);
    store_relaxed(&tail->next, load_relaxed(&d->head));
    store_relaxed(&d->head, a);
    d->count += count;
    store_relaxed(&pool->depot_count, load_relaxed(&pool->depot_count) + count);
}

static struct bufpool_alloc *append(struct bufpool_alloc *list, struct bufpool_alloc *more)
{
    if (!more)
        return list;
    struct bufpool_alloc *tail = more;
    while (load_relaxed(&tail->next))
        tail = load_relaxed(&tail->next);
    store_relaxed(&tail->next, list);
    return more;
}

static struct bufpool_alloc *steal_bins(struct tcache *tc, struct bufpool_alloc *list)
{
    for (int i = 0; i < TC_BINS; i++) {
        /* seq_cst load, then exchange only a non-empty bin: the load is
         * enough for the waiter's "look" (it pairs with the CAS in
         * bufpool__tcache_push and the nwait load after it in
         * bufpool_alloc_release), and leaves empty bins' lines shared
         * instead of pulling every one of them over. */
        if (load_seqcst(&tc->bins[i].head))
            list = append(list, exchange_seqcst(&tc->bins[i].head, NULL));
    }
    return list;
}

/*
 * Take cached allocations, under pool->lock: those of one thread's cache,
 * or of every thread's when tc is NULL, and the depot's.  A waiter takes
 * every cache when it registers (that is its "look", see waitq.c).  After
 * that, anything pushed into a cache is followed by its pusher's own slow
 * release, which only needs to take its own cache.
 */
struct bufpool_alloc *bufpool__steal(struct bufpool *pool, struct tcache *tc)
{
    struct bufpool_alloc *list = NULL;
    if (tc)
        list = steal_bins(tc, list);
    else
        for (tc = load_acquire(&pool->tcaches); tc; tc = tc->next)
            list = steal_bins(tc, list);
    for (int i = 0; i < TC_BINS; i++) {
        list = append(list, load_relaxed(&pool->depot[i].head));
        store_relaxed(&pool->depot[i].head, NULL);
        pool->depot[i].count = 0;
    }
    store_relaxed(&pool->depot_count, 0);
    return list;
}

/* In a child of fork(), under pool->lock: caches held by threads other
 * than this one (the only one left) lose their thread's claim, so that
 * the child's threads may adopt them and destroy may free them. */
void bufpool__tcache_forget_others(struct bufpool *pool)
{
    for (struct tcache *tc = load_acquire(&pool->tcaches); tc; tc = tc->next) {
        bool mine = false;
        for (int i = 0; i < TL_SLOTS; i++)
            mine |= bufpool__tl[i].tc == tc;
        if (!mine && load_relaxed(&tc->owners) == 2)
            store_relaxed(&tc->owners, 1); /* one thread in the process now */
    }
}

/* Destroy: every cache is empty by now; drop the pool's claim on each. */
void bufpool__tcache_pool_fini(struct bufpool *pool)
{
    struct tcache *tc = load_acquire(&pool->tcaches);
    while (tc) {
        struct tcache *next = tc->next;
        tcache_disown(tc);
        tc = next;
    }
    store_relaxed(&pool->tcaches, NULL);
}
