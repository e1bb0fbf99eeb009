/*
 * Per-thread caches of released allocations, and stealing them (the depot
 * between them is depot.c).
 *
 * A released allocation keeps its budget charge and goes into the releasing
 * thread's cache, so the next allocation of the same length is a pop: no
 * lock, no locked instruction, no system call, no budget traffic.  Cached
 * bytes count in the budget; whoever needs budget that caches hold takes
 * every cache at once under pool->lock (bufpool__steal) and frees what it
 * does not hand on.
 *
 * THE STEAL HANDSHAKE, and why an owner and a stealer never both touch a
 * bin.  The owner's step is: store busy = 1, load stop, if stop is clear
 * work on the bins, store busy = 0 (bufpool__tc_enter/_exit in internal.h).
 * A stealer, under pool->lock, stores stop = 1 in every cache, then runs
 * one barrier, then waits for each busy to read 0 and takes the bins.
 * Store-then-load on both sides is Dekker's pattern: with a full barrier
 * between each side's store and load, either the owner sees stop (and
 * does its step under pool->lock, which the stealer holds), or the stealer
 * sees busy = 1 and waits for the step to end.  The owner executes no
 * barrier.  The stealer's barrier is membarrier(PRIVATE_EXPEDITED): it
 * runs a full barrier on every CPU that runs one of our threads (threads
 * not running are past a context switch, itself a barrier), at a point
 * between the syscall's entry and return.  An owner step that loads stop
 * after that point sees the stealer's stop; one whose store of busy came
 * before it is seen by the stealer after the return.  The same barrier
 * serves the wait protocol: a release pushes, then loads nwait, and a
 * waiter increments nwait before it steals, so either the release sees
 * the waiter or the steal sees the push (waitq.c).
 *
 * membarrier() sends IPIs and costs microseconds (docs/tuning.md), too
 * much when steals come every few microseconds (FIFO under a tight budget).  So a steal that finds them
 * coming that often (steal_gap_ns, a moving average, below FENCE_GAP_NS)
 * also sets pool->fenced before its membarrier(): from then on owners
 * add a full fence after their store of
 * busy (and a release one before its nwait load), and stealers need only a
 * fence of their own, the classic symmetric Dekker.  An owner that read
 * fenced = 0 before the switch is covered by the membarrier() that came
 * with it.  The fence is not free either: it waits for the owner's stores
 * to drain, and a pool fenced for a few hundred steals a second ran at a
 * quarter of the rate (8 threads, 16 KiB budget).  When the pool has no
 * waiter and its steals stopped or slowed down, an owner's fenced step
 * clears fenced again under pool->lock; every stealer reads fenced under
 * that lock, so the next one uses membarrier() again.
 * A pool is fenced for good when the kernel lacks membarrier().
 *
 * Ownership of a cache: the thread (through its TLS slot) and the pool each
 * hold one count in tc->owners.  A thread that exits, or evicts the slot,
 * drops its count; the pool may later adopt the cache for another thread.
 * The pool drops its count at destroy.  The last one frees the cache.  A
 * thread never touches a destroyed pool: ids are never reused, so its slot
 * for that pool never matches again.
 */
#include "cache.h"
#include "account.h"

#include <linux/membarrier.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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

/* Find an unowned cache of the pool, or make one. */
static struct tcache *tcache_attach(struct bufpool *pool)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    for (struct tcache *tc = load_acquire(&pool->tcaches); tc; tc = tc->next) {
        int one = 1;
        /* pairs with the fetch_sub in tcache_disown: adopting sees the
         * previous owner's writes to the bins and counters. */
        if (load_relaxed(&tc->owners) == 1 && cas_acqrel(&tc->owners, &one, 2)) {
            tc->spin_limit = 0; /* the floor is the new owner's (waitq.c) */
            return tc;
        }
    }
    /* Cache-line aligned: two threads' caches never share a line. */
    struct tcache *tc;
    if (posix_memalign((void **)&tc, CACHELINE, sizeof *tc) != 0)
        return NULL;
    memset(tc, 0, sizeof *tc);
    tc->pool = pool;
    tc->home = pool->ncaches++;
    tc->sample_left = bufpool__sample_period(pool);
    atomic_init(&tc->owners, 2);
    /* and the watches' bits: its owner's first window comes after this
     * section, through the lock (watch.c) */
    atomic_init(&tc->stop, (load_relaxed(&pool->fenced) ? STOP_FENCED : 0) | pool->watch_stop);
    tc->next = load_relaxed(&pool->tcaches);
    /* pairs with the load_acquire in bufpool__sum_counters, which walks the
     * list without the lock. */
    store_release(&pool->tcaches, tc);
    return tc;
}

/* Is tc held by one of the calling thread's slots? */
static bool tcache_mine(const struct tcache *tc)
{
    for (int i = 0; i < TL_SLOTS; i++)
        if (bufpool__tl[i].tc == tc)
            return true;
    return false;
}

static pthread_once_t asym_once = PTHREAD_ONCE_INIT;
static bool asym_ok;

static long membarrier(int cmd)
{
    return syscall(SYS_membarrier, cmd, 0, 0);
}

static void asym_init(void)
{
    long cmds = membarrier(MEMBARRIER_CMD_QUERY);
    asym_ok = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
              membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

bool bufpool__asym_available(void)
{
    return pthread_once(&asym_once, asym_init) == 0 && asym_ok;
}

/* Fenced mode on or off, in the pool and in every cache's stop word.
 * Under pool->lock, which every writer of stop holds. */
static void set_fenced(struct bufpool *pool, uint32_t on)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    store_relaxed(&pool->fenced, on);
    for (struct tcache *tc = load_acquire(&pool->tcaches); tc; tc = tc->next) {
        uint32_t stop = load_relaxed(&tc->stop);
        /* release: pairs with the owners' load_acquire of stop, as every
         * store of it does (the bits a watch's arm set, published with it) */
        store_release(&tc->stop, on ? stop | STOP_FENCED : stop & ~(uint32_t)STOP_FENCED);
    }
}

/* Leave fenced mode if the pool has been quiet.  Under pool->lock, where
 * every stealer reads fenced: the next one sees 0 and uses membarrier(). */
static void try_unfence(struct bufpool *pool)
{
    if (!bufpool__trylock(pool))
        return;
    if (asym_ok && !load_relaxed(&pool->nwait) &&
        (bufpool__now_ns() - pool->steal_ns > FENCED_QUIET_NS ||
         pool->steal_gap_ns >= 2 * FENCE_GAP_NS))
        set_fenced(pool, 0);
    bufpool__unlock_plain(pool);
}

void bufpool__tc_fence_slow(struct bufpool *pool, struct tcache *tc)
{
    /* pairs with the stealer's fence in steal_begin (and, in a release,
     * with a waiter's after its nwait increment) */
    fence_seqcst();
    if (++tc->fenced_ops >= FENCED_RECHECK) {
        tc->fenced_ops = 0;
        try_unfence(pool);
    }
}

struct bufpool_alloc *bufpool__tcache_pop_locked(struct tcache *tc, size_t n)
{
    bufpool__lock(tc->pool);
    struct bufpool_alloc *a = bufpool__bin_pop(tc, n);
    bufpool__unlock_plain(tc->pool);
    return a;
}

int bufpool__tcache_push_locked(struct tcache *tc, struct bufpool_alloc *a)
{
    bufpool__lock(tc->pool);
    int r = bufpool__bin_push(tc, a);
    bufpool__unlock_plain(tc->pool);
    return r;
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
    bufpool__lock(pool);
    struct tcache *tc = tcache_attach(pool);
    bufpool__unlock_plain(pool);
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
 * The run.  Misses of many lengths (storage extents, messages) would each
 * carve the arena's tree and give the run back on release: two tree walks
 * under a chunk lock per allocation.  A thread keeps one run of released
 * memory instead, still charged (it counts as cached, and a steal takes it
 * like a bin): a miss that fits is cut from its front, and a release
 * adjacent to it joins it again, so an allocate-then-release of any
 * length costs no lock and no tree walk.  A release that does not join
 * replaces a shorter run (which goes to the arena) or goes to the arena
 * itself.  A run holds at most 1/CACHE_SHARE of the budget, as a bin does.  In
 * REGION mode it stays within one piece, so that what is cut from it never
 * straddles two: only a release of at most a piece (which lies in one)
 * starts or joins it, and only within the same piece (arena_joinable).
 */
struct bufpool_alloc *bufpool__run_take(struct bufpool *pool, struct tcache *tc, size_t n)
{
    if (!bufpool__tc_enter(pool, tc))
        return NULL;
    struct bufpool_alloc *r = tc->run, *a = NULL;
    if (r && r->n == n) {
        tc->run = NULL;
        a = r;
    } else if (r && r->n > n && (a = bufpool__hdr_stash_pop(tc))) {
        a->first = r->first;
        bufpool__set_length(a, n);
        a->acct = NULL;
        r->first += bufpool__bytes(pool, n);
        (void)BUFPOOL__HOOK(BUFPOOL__HOOK_RUN_CUT, pool);
        bufpool__set_length(r, r->n - n);
    }
    bufpool__tc_exit(tc);
    if (a)
        store_relaxed(&a->next, NULL);
    return a;
}

bool bufpool__run_give(struct bufpool *pool, struct tcache *tc, struct bufpool_alloc *a)
{
    /* as a bin: memory kept for one thread */
    size_t cap = (load_relaxed(&pool->max_memory) / CACHE_SHARE) >> pool->shift;
    if ((pool->flags & BUFPOOL_REGION) && a->n > (bufpool__arena_piece() >> pool->shift))
        cap = 0; /* it may span pieces */
    if (a->n > cap || !bufpool__tc_enter(pool, tc))
        return false;
    struct bufpool_alloc *r = tc->run, *hdr = NULL, *arena = NULL;
    char *a_end = a->first + bufpool__bytes(pool, a->n);
    if (!r) {
        store_relaxed(&a->next, NULL);
        tc->run = a;
    } else if (r->n + a->n > cap) {
        arena = a;
    } else if (a_end == r->first && bufpool__arena_joinable(pool->arena, a->first, r->first)) {
        r->first = a->first; /* a joins the run's front */
        bufpool__set_length(r, r->n + a->n);
        hdr = a;
    } else if (r->first + bufpool__bytes(pool, r->n) == a->first &&
               bufpool__arena_joinable(pool->arena, r->first, a->first)) {
        bufpool__set_length(r, r->n + a->n); /* ... or its end */
        hdr = a;
    } else if (a->n > r->n) {
        store_relaxed(&a->next, NULL);
        tc->run = a; /* keep the longer one */
        arena = r;
    } else {
        arena = a;
    }
    bufpool__tc_exit(tc);
    if (hdr) {
        hdr->first = NULL;
        bufpool__hdr_put(pool, tc, hdr);
    }
    if (arena)
        bufpool__block_free(pool, tc, arena);
    return true;
}

/*
 * A full bin on release: the bin and a go to the depot as one chain.  The
 * bin is the owner's, emptied inside its window; while a steal is on, the
 * stealer takes the bin and a goes alone.
 */
void bufpool__tcache_overflow(struct bufpool *pool, struct tcache *tc, struct bufpool_alloc *a)
{
    struct bufpool_alloc *list = NULL;
    size_t count = 1;
    if (bufpool__tc_enter(pool, tc)) {
        struct tc_bin *b = &tc->bins[a->n];
        if (b->n == a->n) {
            list = b->head;
            count += b->cap - b->room;
            b->head = NULL;
            b->room = b->cap;
        }
        bufpool__tc_exit(tc);
    }
    store_relaxed(&a->next, list);
    bufpool__depot_give(pool, tc, a->n, a, count);
}

/* Put count entries of list into tc's empty bin for length n, as far as
 * its room goes; returns the rest (*count: how many). */
static struct bufpool_alloc *fill_bin(struct bufpool *pool, struct tcache *tc, size_t n,
                                      struct bufpool_alloc *list, size_t *count)
{
    BUFPOOL__ASSERT_OWNER(tc);
    if (!bufpool__tc_enter(pool, tc))
        return list; /* a steal is on: keep nothing back from it */
    struct tc_bin *b = &tc->bins[n];
    if (b->n != n && !b->head)
        bufpool__bin_tag(b, pool, n);
    if (b->n == n && !b->head && b->room) {
        size_t take = *count < b->room ? *count : b->room;
        struct bufpool_alloc *rest = NULL;
        if (take < *count) { /* the chain is longer than the room: cut it */
            struct bufpool_alloc *last = list;
            for (size_t i = 1; i < take; i++)
                last = load_relaxed(&last->next);
            rest = load_relaxed(&last->next);
            store_relaxed(&last->next, NULL);
        }
        compiler_fence(); /* linked, then published, as in bufpool__bin_push */
        b->head = list;
        b->room -= (unsigned)take;
        *count -= take;
        list = rest;
    }
    bufpool__tc_exit(tc);
    return list;
}

/*
 * A miss of length n <= FAST_N: take a chain from the depot, keep its first
 * allocation for the caller, and the rest for the bin, whose room is what
 * a chain from a full bin holds.  What does not fit goes back as it is.
 * *hid: entries went into the bin, out of a waiter's sight, as a
 * release's push does; the caller looks at nwait (pool.c).
 */
struct bufpool_alloc *bufpool__tcache_refill(struct bufpool *pool, struct tcache *tc, size_t n,
                                             bool *hid)
{
    size_t count;
    struct bufpool_alloc *got = bufpool__depot_get(pool, n, &count);
    if (!got)
        return NULL;
    struct bufpool_alloc *rest = load_relaxed(&got->next);
    count--;
    (void)BUFPOOL__HOOK(BUFPOOL__HOOK_REFILL_TAKEN, pool);
    if (rest) {
        rest = fill_bin(pool, tc, n, rest, &count);
        if (rest)
            bufpool__depot_give(pool, tc, n, rest, count);
        *hid = true;
    }
    store_relaxed(&got->next, NULL);
    return got;
}

/*
 * The account cache's memory, under pool->lock: uncharged from the
 * account's path, its live count brought up to date.  What that reopens of
 * a reservation goes to the arena, committed growing by less than it
 * shrinks (docs/accounts.md); the rest joins list as spares.
 */
/*
 * Must a steal take this account cache?  Not when its account and every
 * ancestor keep their own use and their children's unused reservations
 * within their reservation (use + kids_unused <= eff) and none has a
 * waiter: then each one's unused is eff - use, so uncharging the cache
 * only reopens reservations (by its bytes, up to the top), the memory
 * would go to the arena with committed as it was, and no waiting request
 * could use it.  So a look (W1) leaves a reserved tenant's cache alone.
 * bufpool_destroy flushes all (pool->flush_accts); a request short of
 * memory or over a cap flushes the subtree that may hold what it needs
 * (pool->flush_under), and no other: another tenant's reservation is no
 * use to it.
 */
static bool acct_wanted(struct bufpool *pool, const struct bufpool_account *a)
{
    if (pool->flush_accts)
        return true;
    for (; a; a = a->parent)
        if (a == pool->flush_under || a->use + a->kids_unused > a->eff || a->waiters || a->nwaiters)
            return true;
    return false;
}

/* The cache's account memory (all of it when `all`, else when a steal
 * wants it, acct_wanted) ... */
static struct bufpool_alloc *take_acct(struct tcache *tc, struct bufpool_alloc *list, bool all)
{
    struct bufpool_account *a = tc->acct;
    struct bufpool *pool = tc->pool;
    if (!a || !(all || acct_wanted(pool, a)))
        return list;
    struct bufpool_alloc *got = NULL;
    size_t bytes = 0;
    for (int n = 1; n <= FAST_N; n++) {
        for (struct bufpool_alloc *h = tc->acct_head[n], *next; h; h = next) {
            next = load_relaxed(&h->next);
            h->acct = NULL;
            bufpool__set_length(h, h->n);
            store_relaxed(&h->next, got);
            got = h;
            bytes += bufpool__bytes(pool, h->n);
        }
        tc->acct_head[n] = NULL;
        tc->acct_count[n] = 0;
    }
    uint64_t allocs = load_relaxed(&tc->acct_allocs);
    for (struct bufpool_account *p = a; p; p = p->parent)
        p->total_allocations += allocs;
    /* live: what the fast paths handed out less what they took back */
    size_t live = (size_t)(allocs - load_relaxed(&tc->acct_frees));
    store_relaxed(&tc->acct_allocs, 0);
    store_relaxed(&tc->acct_frees, 0);
    store_relaxed(&tc->acct_bytes, 0);
    tc->acct = NULL;
    size_t reopened = bufpool__acct_uncharge(pool, a, bytes, -live);
    return bufpool__list_append(list, bufpool__acct_settle(pool, got, reopened));
}

/* The calling thread's cache serves account a from now on; what its
 * account cache held is returned as spares, for the caller to serve with
 * (a give, W2).  Under pool->lock; tc is the caller's. */
struct bufpool_alloc *bufpool__tcache_acct_switch(struct tcache *tc, struct bufpool_account *a)
{
    BUFPOOL__ASSERT_LOCKED(tc->pool);
    if (tc->acct == a)
        return NULL;
    struct bufpool_alloc *spare = take_acct(tc, NULL, true);
    tc->acct = a;
    return spare;
}

/* Take every bin of tc, and its run; the caller owns tc, or has its
 * handshake. */
static struct bufpool_alloc *take_bins(struct tcache *tc, struct bufpool_alloc *list)
{
    list = take_acct(tc, list, false);
    if (tc->run) {
        store_relaxed(&tc->run->next, list);
        list = tc->run;
        tc->run = NULL;
    }
    for (int i = 0; i < TC_BINS; i++) {
        struct tc_bin *b = &tc->bins[i];
        if (b->head)
            list = bufpool__list_append(list, b->head);
        /* untagged: the next push tags it again, with the cap the budget
         * allows then */
        b->head = NULL;
        b->n = 0;
        b->room = 0;
    }
    return list;
}

/* Set STOP_STEAL in every cache.  Under pool->lock, which every writer of
 * stop holds. */
static void stop_all(struct bufpool *pool)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    for (struct tcache *tc = load_acquire(&pool->tcaches); tc; tc = tc->next)
        store_release(&tc->stop, load_relaxed(&tc->stop) | STOP_STEAL); /* as in set_fenced */
}

/* The stealer's barrier of the handshake, after stop_all: a fence if the
 * pool was fenced before it (pairs with the owners' fence in
 * bufpool__tc_fence_slow), else membarrier(). */
static void stop_barrier(bool fenced)
{
    if (fenced) {
        fence_seqcst();
        return;
    }
    if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) {
        /* Registered in asym_init, so the kernel cannot refuse. */
        fprintf(stderr, "bufpool: membarrier failed after registration\n");
        abort();
    }
}

/* Wait for tc's owner to leave its window.  acquire: pairs with the
 * owner's store_release in bufpool__tc_exit, so what the caller reads of
 * the cache next is what the owner's step left. */
static void wait_idle(struct tcache *tc)
{
    if (load_acquire(&tc->busy))
        (void)BUFPOOL__HOOK(BUFPOOL__HOOK_STEAL_WAIT, tc->pool);
    for (unsigned spins = 0; load_acquire(&tc->busy); spins++) {
        if (spins < 64)
            cpu_relax();
        else
            sched_yield(); /* the owner was preempted inside its step */
    }
}

/* Clear STOP_STEAL: release pairs with the owner's load_acquire of stop. */
static void resume(struct tcache *tc)
{
    store_release(&tc->stop, load_relaxed(&tc->stop) & ~(uint32_t)STOP_STEAL);
}

/* The stealer's half of the handshake (top of this file): stop every
 * cache, then one barrier (W3). */
static void steal_begin(struct bufpool *pool)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    stop_all(pool);
    uint64_t now = bufpool__now_ns(), gap = now - pool->steal_ns;
    pool->steal_ns = now;
    /* a moving average, 1/8 per steal; 0 at create, so a pool turns
     * fenced after a couple dozen close steals, not at its first */
    gap = gap < FENCED_QUIET_NS ? gap : FENCED_QUIET_NS;
    pool->steal_gap_ns = pool->steal_gap_ns - pool->steal_gap_ns / 8 + gap / 8;
    /* Fenced from now on when steals come close together.  An owner whose
     * store of busy comes after the membarrier()'s barrier on its CPU
     * reads STOP_FENCED in its window and fences; one whose store came
     * before is seen busy by steal_one, which waits for its step to end,
     * and its exit (a release store) publishes its push.  So no unfenced
     * step outlives this steal.  Without the switch, the membarrier()
     * alone is this steal's barrier, as for any unfenced steal. */
    bool fenced = load_relaxed(&pool->fenced);
    if (!fenced && pool->steal_gap_ns < FENCE_GAP_NS)
        set_fenced(pool, 1);
    stop_barrier(fenced);
}

/* Wait for tc's owner to leave its window, then take its bins. */
static struct bufpool_alloc *steal_one(struct tcache *tc, struct bufpool_alloc *list)
{
    wait_idle(tc);
    list = take_bins(tc, list);
    resume(tc);
    return list;
}

/*
 * Take cached allocations, under pool->lock: those of the caller's own
 * cache, or of every thread's when tc is NULL, and the depot's.  A waiter
 * takes every cache when it registers (that is its "look", see waitq.c).
 * After that, anything pushed into a cache is followed by its pusher's own
 * slow release, which only needs to take its own cache: no handshake, the
 * caller is its owner and not inside a step.
 */
struct bufpool_alloc *bufpool__steal(struct bufpool *pool, struct tcache *tc)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    struct bufpool_alloc *list = NULL;
    if (tc) {
        list = take_bins(tc, list);
    } else {
        steal_begin(pool);
        for (tc = load_acquire(&pool->tcaches); tc; tc = tc->next)
            list = steal_one(tc, list);
    }
    return bufpool__depot_take(pool, list);
}

/*
 * fork(): a child must find every cache as a running thread could have
 * left it between two calls, but an owner's step (a pop, a push, a cut of
 * its run: several plain stores) may be under way on another CPU when the
 * fork comes, and the child would inherit it half done.  So the prepare
 * handler, holding pool->lock, runs a steal's handshake without the steal:
 * stop every cache, one barrier, and wait until each owner is out of its
 * window.  From then until fork_parent or fork_child resumes the caches,
 * an owner that enters sees STOP_STEAL and takes its _locked step, which
 * waits for pool->lock.  The forking thread's own caches are not waited
 * for: it is in fork(), not in a step (unless a signal handler forked in
 * the middle of one, which would wait for itself).
 */
void bufpool__tcache_quiesce(struct bufpool *pool)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    stop_all(pool);
    stop_barrier(load_relaxed(&pool->fenced));
    for (struct tcache *tc = load_acquire(&pool->tcaches); tc; tc = tc->next)
        if (!tcache_mine(tc))
            wait_idle(tc);
}

/*
 * The watches' bits (watch.c): set `set` and clear `clear` in every
 * cache's stop word.  Setting, wait then until no owner is inside a window
 * that began before: a barrier, then each owner's busy, as a steal does;
 * after that every window sees the bits, and every count made in a window
 * that did not is visible (the fast paths count inside their windows).
 * The barrier is membarrier() wherever the kernel has it, whether or not
 * the pool is fenced now: the windows of watch.c's paths test stop without
 * a fence when the pool is not.  Where the kernel lacks it, every pool is
 * fenced for good, and those windows fence.  Clearing needs no wait.
 * Under pool->lock, which every writer of stop holds.
 */
void bufpool__tcache_stop_watch(struct bufpool *pool, uint32_t set, uint32_t clear)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    for (struct tcache *tc = load_acquire(&pool->tcaches); tc; tc = tc->next) {
        uint32_t stop = (load_relaxed(&tc->stop) | set) & ~clear;
        /* release: as resume's, pairs with the owner's load_acquire */
        store_release(&tc->stop, stop);
    }
    if (!set)
        return;
    stop_barrier(!asym_ok);
    for (struct tcache *tc = load_acquire(&pool->tcaches); tc; tc = tc->next)
        if (!tcache_mine(tc))
            wait_idle(tc);
}

/* After fork(), on both sides, under pool->lock. */
void bufpool__tcache_resume(struct bufpool *pool)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    for (struct tcache *tc = load_acquire(&pool->tcaches); tc; tc = tc->next)
        resume(tc);
}

/* In a child of fork(), under pool->lock: caches held by threads other
 * than this one (the only one left) lose their thread's claim, so that
 * the child's threads may adopt them and destroy may free them. */
void bufpool__tcache_forget_others(struct bufpool *pool)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    for (struct tcache *tc = load_acquire(&pool->tcaches); tc; tc = tc->next) {
        if (tcache_mine(tc))
            continue;
        if (load_relaxed(&tc->owners) == 2)
            store_relaxed(&tc->owners, 1); /* one thread in the process now */
        /* Its spare headers move outside the window (block.c), so their
         * list may be half linked: drop it.  The headers stay in the
         * pool's slabs, freed with them. */
        tc->stash = NULL;
        tc->nstash = 0;
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
