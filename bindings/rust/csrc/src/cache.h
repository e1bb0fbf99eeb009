/*
 * cache.h: the owner's side of a thread cache, inline for the fast paths
 * (pool.c) and the other owner-side steps (cache.c, waitq.c): the busy
 * window, a bin's pop and push, the counters.  cache.c has the argument
 * for the handshake with a stealer.
 */
#ifndef BUFPOOL_CACHE_H
#define BUFPOOL_CACHE_H

#include "internal.h"

/* initial-exec: one TLS load even from the shared library, instead of a
 * call to __tls_get_addr (the slots are small enough for the static TLS
 * surplus glibc keeps for libraries loaded later). */
extern __thread struct tl_slot bufpool__tl[TL_SLOTS] __attribute__((tls_model("initial-exec")));

/* A cache's bins are its owner's: debug builds assert that the caller
 * has tc in one of its slots, or holds the pool's lock (a steal, or an
 * owner's _locked step). */
#ifdef BUFPOOL_DEBUG
static inline bool bufpool__tc_owned(const struct tcache *tc)
{
    for (int i = 0; i < TL_SLOTS; i++)
        if (bufpool__tl[i].tc == tc)
            return true;
    return load_relaxed(&tc->pool->lock_holder) == BUFPOOL__SELF;
}
#endif
#define BUFPOOL__ASSERT_OWNER(tc) BUFPOOL__ASSERT(bufpool__tc_owned(tc), "cache owner or pool->lock")

/* The calling thread's cache for pool, or NULL when none can be made. */
static inline struct tcache *bufpool__tcache_get(struct bufpool *pool, uint64_t id)
{
    if (likely(bufpool__tl[0].id == id))
        return bufpool__tl[0].tc;
    return bufpool__tcache_get_slow(pool);
}


static inline unsigned bufpool__bin_index(size_t n)
{
    /* n = 1..16 get bin n (bin 0 stays empty, so that the address of a
     * bin is the cache plus n times 32); larger n share 4 bins by log2. */
    if (n <= 16)
        return (unsigned)n;
    return 17 + ((63u - (unsigned)__builtin_clzll(n)) & 3u);
}

/* Count an allocation handed out, in the owner's counters (no RMW), or in
 * pool->orphan under the lock for a thread that could get no cache. */
static inline void bufpool__count_alloc(struct tc_counters *c, size_t n)
{
    counter_add(&c->allocs, 1);
    counter_add(&c->bufs, n);
}

static inline void bufpool__count_free(struct tc_counters *c, size_t n)
{
    counter_add(&c->bufs, -(uint64_t)n);
    /* release: pairs with the load_acquire in bufpool__sum_counters, so a
     * destroyer that sees this count also sees the push before it. */
    store_release(&c->frees, load_relaxed(&c->frees) + 1);
}

static inline void bufpool__count_n(struct tc_counters *c, size_t n, bool alloc)
{
    if (alloc)
        bufpool__count_alloc(c, n);
    else
        bufpool__count_free(c, n);
}

/* Count inside a window of the caller's cache, or under pool->lock: so a
 * watch's arm, which waits for every window, misses no count (watch.c). */
static inline void bufpool__account_alloc(struct bufpool *pool, struct tcache *tc,
                                          struct bufpool_alloc *a)
{
    VG_HAND_OUT(a->first, bufpool__bytes(pool, a->n));
    bufpool__count_alloc(tc ? &tc->c : &pool->orphan, a->n);
}

/* After a full path's call, r its result and a what it hands out: the
 * sample, if this call is the one (leaks.c).  A fast path that ran before
 * it (counted) has counted the call already and may have reached 0;
 * otherwise (no slot, FIFO, a length above the fast paths') the call
 * counts here.  A call that is due but fails leaves the sample to the
 * next call: the count never stays at 0, where a fast path's decrement
 * would wrap it. */
static inline void bufpool__sample_after(struct tcache *tc, bool counted, int r, struct bufpool_alloc *a,
                                         void *site)
{
    if (!counted && tc->sample_left > 0)
        tc->sample_left--;
    if (likely(tc->sample_left != 0))
        return;
    if (r) {
        tc->sample_left = 1;
        return;
    }
    tc->sample_left = bufpool__sample_period(tc->pool);
    bufpool__leak_add(tc->pool, a, site);
}

static inline void bufpool__account_free(struct bufpool *pool, struct tcache *tc, size_t n)
{
    bufpool__count_free(tc ? &tc->c : &pool->orphan, n);
}

/*
 * A count of n buffers handed out (alloc) or taken back by tc, the
 * caller's own cache, outside any window and outside pool->lock: in a
 * window of its own, so that a watch's arm either waits for it or is seen
 * by it, and with a watch armed the pool's level moved first (watch.c).
 * A window like any other: a stealer (fork()'s quiesce among them) that
 * set STOP_STEAL waits for it or is seen by it, and then the count is made
 * under the lock, wholly before or after the steal (or the fork).  A
 * release's last touch of the pool.
 */
static inline void bufpool__count_watched(struct bufpool *pool, struct tcache *tc, size_t n, bool alloc)
{
    (void)BUFPOOL__HOOK(BUFPOOL__HOOK_COUNT, pool);
    store_relaxed(&tc->busy, 1);
    compiler_fence();
    /* acquire: as in bufpool__tc_enter */
    if (unlikely(load_acquire(&tc->stop) & (STOP_WATCH | STOP_ARMING | STOP_FENCED | STOP_STEAL))) {
        bufpool__watch_count_slow(pool, tc, n, alloc);
        return;
    }
    (void)BUFPOOL__HOOK(BUFPOOL__HOOK_COUNT_IN, pool);
    bufpool__count_n(&tc->c, n, alloc);
    store_release(&tc->busy, 0); /* as bufpool__tc_exit */
}

static inline void bufpool__account_alloc_watched(struct bufpool *pool, struct tcache *tc,
                                                  struct bufpool_alloc *a)
{
    VG_HAND_OUT(a->first, bufpool__bytes(pool, a->n));
    bufpool__count_watched(pool, tc, a->n, true);
}

/* Give an empty bin a length.  One bin holds at most 1/CACHE_SHARE of the budget, so
 * that under a tight budget released memory flows through the depot to
 * other threads instead of piling up in one thread's cache. */
static inline void bufpool__bin_tag(struct tc_bin *b, struct bufpool *pool, size_t n)
{
    size_t fit = (load_relaxed(&pool->max_memory) / CACHE_SHARE) / (n << pool->shift);
    b->n = n;
    b->cap = fit < 1 ? 1 : fit > TC_BIN_CAP ? TC_BIN_CAP : (unsigned)fit;
    b->room = b->cap;
}

/* Open the owner's busy window: false when a stealer is at work (the
 * caller then takes its _locked step).  The compiler fence keeps the
 * compiler from moving the load of stop above the store of busy; the CPU
 * may, and that is what a stealer's membarrier() rules out, or, while the
 * pool is fenced (STOP_FENCED, read inside the window), the fence here
 * and the stealer's: see cache.c. */
static inline bool bufpool__tc_enter(struct bufpool *pool, struct tcache *tc)
{
    store_relaxed(&tc->busy, 1);
    compiler_fence();
    /* acquire: pairs with the stealer's store_release clearing STOP_STEAL,
     * so a step after a steal sees the bins the stealer emptied */
    uint32_t stop = load_acquire(&tc->stop);
    if (unlikely(stop & STOP_FENCED)) {
        bufpool__tc_fence_slow(pool, tc);
        stop = load_acquire(&tc->stop); /* as above */
    }
    if (likely(!(stop & STOP_STEAL)))
        return true;
    store_release(&tc->busy, 0);
    return false;
}

/* The fast path's window: false when the pool is fenced or a stealer is
 * at work (either bit of stop), and the caller then takes its full path.
 * No call, so that the caller needs no stack frame. */
static inline bool bufpool__tc_try_enter(struct tcache *tc)
{
    store_relaxed(&tc->busy, 1);
    compiler_fence();
    /* acquire on stop: as in bufpool__tc_enter */
    if (likely(!load_acquire(&tc->stop)))
        return true;
    store_release(&tc->busy, 0);
    return false;
}

/* Close the window: release pairs with the stealer's load_acquire of busy,
 * which then sees every store made inside. */
static inline void bufpool__tc_exit(struct tcache *tc)
{
    store_release(&tc->busy, 0);
}

/* The fast window, left open either way: 0, or the stop word, and the
 * caller's ..._stopped path (pool.c) decides and closes it. */
static inline uint32_t bufpool__tc_open(struct tcache *tc)
{
    store_relaxed(&tc->busy, 1);
    compiler_fence(); /* as in bufpool__tc_enter */
    /* acquire on stop: as in bufpool__tc_enter */
    return load_acquire(&tc->stop);
}

/* The full window for an account cache (account.c, pool.c): refused too
 * while a watch is armed, which freezes those caches (watch.c).  The
 * second load of stop comes after the first, inside the window. */
static inline bool bufpool__tc_enter_acct(struct bufpool *pool, struct tcache *tc)
{
    if (!bufpool__tc_enter(pool, tc))
        return false;
    /* relaxed: tc_enter's acquire load came first */
    if (likely(!(load_relaxed(&tc->stop) & STOP_WATCHES)))
        return true;
    bufpool__tc_exit(tc);
    return false;
}

/* Unlink bin b's first entry h.  The next one's header is prefetched, in
 * flight while the caller uses h: it is cold when another thread released
 * it (a pipeline), and its pop writes it.  A prefetch of NULL is harmless. */
static inline void bufpool__bin_unlink(struct tc_bin *b, struct bufpool_alloc *h)
{
    struct bufpool_alloc *next = load_relaxed(&h->next);
    __builtin_prefetch(next, 1);
    b->head = next;
    b->room++;
}

/* Pop a cached allocation of length n: inside the owner's window or
 * under pool->lock. */
static inline struct bufpool_alloc *bufpool__bin_pop(struct tcache *tc, size_t n)
{
    BUFPOOL__ASSERT_OWNER(tc);
    struct tc_bin *b = &tc->bins[bufpool__bin_index(n)];
    struct bufpool_alloc *h = b->head;
    if (b->n != n || !h)
        return NULL;
    bufpool__bin_unlink(b, h);
    return h;
}

/* What a push did. */
enum { PUSHED, PUSH_FULL, PUSH_OTHER /* the bin holds another length */ };

/* Push a released allocation: as above. */
static inline int bufpool__bin_push(struct tcache *tc, struct bufpool_alloc *a)
{
    BUFPOOL__ASSERT_OWNER(tc);
    struct tc_bin *b = &tc->bins[bufpool__bin_index(a->n)];
    struct bufpool_alloc *h = b->head;
    if (b->n != a->n) {
        if (h)
            return PUSH_OTHER;
        bufpool__bin_tag(b, a->pool, a->n);
    } else if (!b->room) {
        return PUSH_FULL;
    }
    b->room--;
    store_relaxed(&a->next, h);
    compiler_fence(); /* linked, then published */
    b->head = a;
    return PUSHED;
}

/* The owner's pop: in the busy window, or under the lock while a steal is
 * on. */
static inline struct bufpool_alloc *bufpool__tcache_pop(struct bufpool *pool, struct tcache *tc,
                                                        size_t n)
{
    if (unlikely(!bufpool__tc_enter(pool, tc)))
        return bufpool__tcache_pop_locked(tc, n);
    (void)BUFPOOL__HOOK(BUFPOOL__HOOK_IN_WINDOW, pool);
    struct bufpool_alloc *a = bufpool__bin_pop(tc, n);
    bufpool__tc_exit(tc);
    return a;
}

static inline int bufpool__tcache_push(struct bufpool *pool, struct tcache *tc,
                                       struct bufpool_alloc *a)
{
    if (unlikely(!bufpool__tc_enter(pool, tc)))
        return bufpool__tcache_push_locked(tc, a);
    int r = bufpool__bin_push(tc, a);
    bufpool__tc_exit(tc);
    return r;
}

#endif /* BUFPOOL_CACHE_H */
