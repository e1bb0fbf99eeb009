/*
 * Shared internal declarations of bufpool.  Nothing here is public API.
 *
 * The files, bottom up.  A file calls only files listed before it, never
 * one after it; tests/layers.sh checks this on the objects of every
 * library variant, so the call graph between files has no cycle.
 *
 * LAYERS: util region purge arena block debug leaks stats depot cache watch waitq reclaim wait fork account pool bufring
 *
 *   util.c    clock, bookkeeping memory, list helpers, process-wide words
 *   region.c  the carving allocator (an exact first-fit tree) the arena uses
 *   purge.c   the arena's free resident memory back to the system
 *   arena.c   every pool's memory, carved in runs; charges the byte budget
 *   block.c   an allocation as the layers above see it: a header and a run
 *   debug.c   misuse checks (BUFPOOL_DEBUG)
 *   leaks.c   leak tracking: sampled allocations by site, the report
 *   stats.c   statistics
 *   depot.c   released chains between threads, lock-free
 *   cache.c   per-thread caches of released allocations, the steal
 *   watch.c   watermark watches: the level they watch, arming, their calls
 *   waitq.c   the wait queue and serving it; the wait protocol's argument
 *   reclaim.c reclaim callbacks: called by a request before it sleeps
 *   wait.c    how a call waits: blocked calls, slow releases, async waiters
 *   fork.c    the registry of live pools and the fork() handlers
 *   account.c accounts: the tree of reservations and caps
 *   pool.c    create/destroy/shutdown, the allocate and release paths
 *   bufring.c io_uring provided-buffer rings, on the public API
 */
#ifndef BUFPOOL_INTERNAL_H
#define BUFPOOL_INTERNAL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bufpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define BUFPOOL__API __attribute__((visibility("default")))

#include "atomics.h"
#include "debug.h"
#include "track.h"
#include "tuning.h"
#include "types.h"

/* The interfaces between files, in the order of LAYERS above. */

/* ---- util.c ------------------------------------------------------------- */
uint64_t bufpool__now_ns(void); /* CLOCK_MONOTONIC */
/* The time, read once for all of a section's uses (*now 0: not yet). */
static inline uint64_t bufpool__now_once(uint64_t *now)
{
    if (!*now)
        *now = bufpool__now_ns();
    return *now;
}
/* Zeroed bookkeeping memory, mapped lazily when large; NULL on failure. */
void *bufpool__zalloc(size_t bytes);
void bufpool__zfree(void *p, size_t bytes);
/* more (a list, or NULL) put in front of list, by walking more. */
struct bufpool_alloc *bufpool__list_append(struct bufpool_alloc *list, struct bufpool_alloc *more);
extern unsigned bufpool__fork_gen; /* children forked so far in this line */
/* An eventfd made readable (write 1), or drained (non-blocking read). */
void bufpool__fd_signal(int fd);
void bufpool__fd_drain(int fd);

/* ---- region.c: the carving allocator ------------------------------------
 * The region is max_memory rounded up to a page (to 2 MiB with HUGEPAGES),
 * carved in units of one buffer.  Not thread-safe: the arena serializes
 * every call under a chunk's lock. */
struct bufpool__region;
int bufpool__region_create(struct bufpool__region **out, size_t buffer_size,
                           size_t max_memory, unsigned flags);
void bufpool__region_destroy(struct bufpool__region *r);
void *bufpool__region_base(const struct bufpool__region *r);
size_t bufpool__region_length(const struct bufpool__region *r); /* bytes */
/* A tree over memory it does not own (an arena's chunk). */
int bufpool__region_create_over(struct bufpool__region **out, void *base, size_t length,
                                size_t buffer_size);
size_t bufpool__region_find_locked(const struct bufpool__region *r, size_t n);
void bufpool__region_take_locked(struct bufpool__region *r, size_t index, size_t n);
void bufpool__region_give_locked(struct bufpool__region *r, size_t index, size_t n);
void bufpool__region_edges_locked(const struct bufpool__region *r, size_t *pre, size_t *suf,
                                  size_t *max);
size_t bufpool__region_units(const struct bufpool__region *r);
/* Are the units [index, index + n) all free? */
bool bufpool__region_free_locked(struct bufpool__region *r, size_t index, size_t n);

/* ---- arena.c: every pool's memory -----------------------------------------
 * Under the arena's innermost locks, one per chunk (pool->lock may be
 * held; see the top of arena.c). */
struct bufpool__arena;
int bufpool__arena_create(struct bufpool__arena **out, size_t bs, size_t max, unsigned flags);
void bufpool__arena_destroy(struct bufpool__arena *a);
/* n buffers, charging the budget for what is not resident yet: 0, -EAGAIN
 * (no budget, or in REGION mode no run, now), -ENOMEM.  *gave: it purged
 * without the pool lock, a give the caller looks after (W2).  _locked:
 * the caller holds pool->lock; a purge longer than the section's slice is
 * then left to bufpool__unlock (pool->purge_want), and the call fails with
 * -EAGAIN. */
int bufpool__arena_alloc(struct bufpool *pool, size_t n, unsigned home, bool *gave, char **first);
int bufpool__arena_alloc_locked(struct bufpool *pool, size_t n, unsigned home, char **first);
/* A pool over its budget is purged back down: by this call, or, _locked,
 * within the section's slice and the rest by bufpool__unlock. */
void bufpool__arena_free(struct bufpool *pool, char *first, size_t n);
void bufpool__arena_free_locked(struct bufpool *pool, char *first, size_t n);
/* Give back about `want` bytes of free resident memory if there is that
 * much; the bytes uncharged.  No lock is held across a madvise. */
size_t bufpool__arena_purge(struct bufpool *pool, size_t want);
/* Under pool->lock: purge want bytes now if the section may still purge
 * that much itself (a slice in all), else after the unlock. */
void bufpool__arena_trim_locked(struct bufpool *pool, size_t want);
/* Purge claims in flight: stable under every chunk's lock (fork.c). */
unsigned bufpool__arena_purging(struct bufpool__arena *a);
size_t bufpool__arena_dirty(const struct bufpool__arena *a); /* free resident bytes */
size_t bufpool__arena_largest(struct bufpool__arena *a);    /* in buffers */
/* Could a run of n buffers be carved now, the budget aside? */
bool bufpool__arena_fits(struct bufpool__arena *a, size_t n);
char *bufpool__arena_base(const struct bufpool__arena *a);  /* REGION, else NULL */
size_t bufpool__arena_length(const struct bufpool__arena *a); /* REGION, else 0 */
size_t bufpool__arena_piece(void); /* REGION: the largest io_uring fixed buffer */
/* May the adjacent runs at p and q be joined (one chunk, not REGION)? */
bool bufpool__arena_joinable(struct bufpool__arena *a, const char *p, const char *q);
void bufpool__arena_lock(struct bufpool__arena *a);   /* for fork.c */
void bufpool__arena_unlock(struct bufpool__arena *a);

/* ---- block.c ------------------------------------------------------------ */
/* A fresh allocation of n buffers from the arena, which charges the budget
 * as needed: 0, -EAGAIN (no budget, or no run in REGION mode, now),
 * -ENOMEM.  tc: the calling thread's cache (for its header stash) or NULL;
 * the caller does not hold pool->lock.  _locked: the caller does. */
/* *gave: it purged without the pool lock, a give the caller must look
 * after (waitq.c's protocol). */
int bufpool__block_new(struct bufpool *pool, struct tcache *tc, size_t n, bool *gave,
                       struct bufpool_alloc **out);
/* credit: bytes of a reservation the request uses (docs/accounts.md), 0
 * for a request that uses none.  tc: the caller's own cache, whose home
 * chunk and header stash serve it (NULL: a grant to another thread). */
/* Carved memory handed to a request with that credit (block.c). */
void bufpool__commit_credit(struct bufpool *pool, size_t credit);
int bufpool__block_new_locked(struct bufpool *pool, struct tcache *tc, size_t n, size_t credit,
                              struct bufpool_alloc **out);
/* The owner's spare headers (block.c): one off its stash without a lock
 * (NULL when empty), and one back (may take pool->lock). */
struct bufpool_alloc *bufpool__hdr_stash_pop(struct tcache *tc);
void bufpool__hdr_put(struct bufpool *pool, struct tcache *tc, struct bufpool_alloc *h);
/* Give an allocation's run back to the arena and its header to the spares. */
void bufpool__block_free(struct bufpool *pool, struct tcache *tc, struct bufpool_alloc *a);
void bufpool__block_free_locked(struct bufpool *pool, struct bufpool_alloc *a);
/* Free a list of allocations.  Under the lock. */
void bufpool__free_list(struct bufpool *pool, struct bufpool_alloc *list);
void bufpool__free_hdrs(struct bufpool *pool);

/* ---- stats.c ------------------------------------------------------------ */
void bufpool__sum_counters(struct bufpool *pool, struct tc_counters *sum);

/* A new peak of in-use bytes, sampled when the pool takes more memory. */
void bufpool__sample_peak(struct bufpool *pool);

/* ---- depot.c ------------------------------------------------------------
 * Lock-free; lengths 1..FAST_N only. */
/* A chain of count allocations of length n into the depot, or the arena. */
void bufpool__depot_give(struct bufpool *pool, struct tcache *tc, size_t n,
                         struct bufpool_alloc *chain, size_t count);
/* One chain of length n out of the depot (NULL: none), *count its length. */
struct bufpool_alloc *bufpool__depot_get(struct bufpool *pool, size_t n, size_t *count);
/* A steal: every chain, appended to list. */
struct bufpool_alloc *bufpool__depot_take(struct bufpool *pool, struct bufpool_alloc *list);
/* Leftovers of serving, under pool->lock: into the depot or the arena. */
void bufpool__depot_stash(struct bufpool *pool, struct bufpool_alloc *spare);

/* ---- cache.c ------------------------------------------------------------ */
struct tcache *bufpool__tcache_get_slow(struct bufpool *pool);
/* Can stealers use membarrier() (asked once per process)?  If not, every
 * pool stays fenced. */
bool bufpool__asym_available(void);
/* The fenced half of bufpool__tc_enter: a full fence, and now and then an
 * attempt to leave fenced mode. */
void bufpool__tc_fence_slow(struct bufpool *pool, struct tcache *tc);
/* The cache's run: a cut of n buffers (NULL if it is shorter, or a steal
 * is on), and a released allocation joined to it or kept as the run
 * (false: not taken, the caller frees it). */
struct bufpool_alloc *bufpool__run_take(struct bufpool *pool, struct tcache *tc, size_t n);
bool bufpool__run_give(struct bufpool *pool, struct tcache *tc, struct bufpool_alloc *a);
/* Owner-side steps for when bufpool__tc_enter fails (a steal is on):
 * the same pop and push under pool->lock. */
struct bufpool_alloc *bufpool__tcache_pop_locked(struct tcache *tc, size_t n);
int bufpool__tcache_push_locked(struct tcache *tc, struct bufpool_alloc *a);
/* Under pool->lock: take the cached allocations of tc (NULL: of every
 * thread) and the depot, as one list (their bytes stay charged). */
struct bufpool_alloc *bufpool__steal(struct bufpool *pool, struct tcache *tc);
void bufpool__tcache_pool_fini(struct bufpool *pool);
void bufpool__tcache_forget_others(struct bufpool *pool);
/* Under pool->lock, the caller's own cache: serve account a from now on;
 * the memory it cached for another account, as spares to serve with. */
struct bufpool_alloc *bufpool__tcache_acct_switch(struct tcache *tc, struct bufpool_account *a);
/* watch.c, under pool->lock: set and clear the watches' STOP_ bits in
 * every cache; after a set, every window sees it and none that did not is
 * still open. */
void bufpool__tcache_stop_watch(struct bufpool *pool, uint32_t set, uint32_t clear);
/* fork.c, under pool->lock: no owner inside a step from quiesce to resume. */
void bufpool__tcache_quiesce(struct bufpool *pool);
void bufpool__tcache_resume(struct bufpool *pool);
/* A full bin on release: the bin and a into the depot (or the arena). */
void bufpool__tcache_overflow(struct bufpool *pool, struct tcache *tc, struct bufpool_alloc *a);
/* A miss: one depot chain's first allocation, the rest into tc's bin
 * (*hid set: the caller looks at nwait); NULL. */
struct bufpool_alloc *bufpool__tcache_refill(struct bufpool *pool, struct tcache *tc, size_t n,
                                             bool *hid);

/* ---- watch.c: watermark watches ----------------------------------------- */
/* pool->wlevel is held by another thread: spin until it is not, take it
 * and return its level. */
int64_t bufpool__wlock_slow(struct bufpool *pool);
/* The pool's level, held, is outside the band: flip the state of each
 * watch that crossed and write its fd; the band anew. */
void bufpool__watch_cross(struct bufpool *pool, int64_t level);
/* The rest of bufpool__count_watched (cache.h), its window open: a watch
 * armed or arming, or a fenced pool.  Closes the window. */
void bufpool__watch_count_slow(struct bufpool *pool, struct tcache *tc, size_t n, bool alloc);
/* a's use moved (a grant, an uncharge): the watches of a and its
 * ancestors.  Under pool->lock (bufpool__watch_acct_changed). */
void bufpool__watch_acct_moved(struct bufpool *pool, struct bufpool_account *a);
/* fork() child, under pool->lock: the inherited watches detached. */
void bufpool__watch_forget(struct bufpool *pool);

/* ---- waitq.c: the queue and serving it ---------------------------------- */
void bufpool__serve(struct bufpool *pool, struct bufpool_alloc *spare);
/* Unlock pool->lock, then wake the sleepers served under it (W5). */
void bufpool__unlock(struct bufpool *pool);
/* Under pool->lock; enqueue registers (W1). */
void bufpool__enqueue(struct bufpool *pool, struct waitnode *w);
void bufpool__dequeue(struct bufpool *pool, struct waitnode *w);
/* One request more (+1) or less (-1, wrapped) waiting: stall_ns runs
 * while any does (a queued node that is no try's look, a try in its
 * reclaim call). */
void bufpool__stall_add(struct bufpool *pool, size_t d);
/* r's reclaim call ended: wake the first request queued for its turn. */
void bufpool__pass_turn(struct bufpool *pool, struct reclaimer *r);
/* Memory for n buffers: a spare of that length, else fresh from the
 * arena (charging the budget), giving up spares to make room: 0,
 * -EAGAIN, -ENOMEM. */
int bufpool__take(struct bufpool *pool, struct tcache *tc, size_t n, size_t credit,
                  struct bufpool_alloc **spare,
                  struct bufpool_alloc **out);
/* A node's grant (NULL if none), off the held list; or dropped into
 * *spare, uncharged from its account first. */
struct bufpool_alloc *bufpool__grant_take(struct bufpool *pool, struct waitnode *w);
void bufpool__grant_drop(struct bufpool *pool, struct waitnode *w, struct bufpool_alloc **spare);
/* Must a new request of this priority queue behind those waiting (FIFO, a
 * hand-off)?  Under pool->lock. */
bool bufpool__line_ahead(struct bufpool *pool, int prio);
void bufpool__cancel_all(struct bufpool *pool);
void bufpool__fail_impossible(struct bufpool *pool);
/* For fork.c: blocked calls queued, and the child's detach of the rest. */
size_t bufpool__blocked_queued(struct bufpool *pool);
void bufpool__forget_others(struct bufpool *pool);
/* For a bufring's waiter: reset its fd, then watch for max_memory to
 * reach `bytes` (SIZE_MAX: never) or a shutdown; the fd turns readable at
 * whichever comes first, at once if one has.  Ends when it fires, at the
 * next watch, or at bufpool_waiter_cancel; bufpool_waiter_allocate leaves
 * it.  0, -ECANCELED (shut down: the fd is readable), or -EBADF
 * (inherited across fork()). */
int bufpool__waiter_watch(struct bufpool_waiter *w, size_t bytes);
void bufpool__watch_unlink(struct bufpool *pool, struct bufpool_waiter *w);
/* max_memory grew: fire the watches it reaches. */
void bufpool__watchers_grown(struct bufpool *pool);
/* Make an async waiter's owner call again: its fd, or its fn after the
 * unlock.  Under pool->lock. */
void bufpool__waiter_signal(struct bufpool *pool, struct bufpool_waiter *w);
/* Reset an async waiter's readiness (W9).  Under pool->lock. */
void bufpool__waiter_drain(struct bufpool *pool, struct bufpool_waiter *w);
/* Wait for the calls of w's fn on other threads; returns how many run on
 * this one (destroy from inside fn: the last frees w). */
unsigned bufpool__waiter_quiesce(struct bufpool_waiter *w);

/* ---- reclaim.c: reclaim callbacks --------------------------------------- */
/* Before queued node w sleeps: the reclaim call that may make room for it
 * (try: once, never waiting for a busy one).  RECLAIM_RAN: one ran, the
 * lock dropped meanwhile (w may be served); RECLAIM_AGAIN: and w may call
 * again at once.  Under pool->lock. */
enum { RECLAIM_NONE, RECLAIM_RAN, RECLAIM_AGAIN };
int bufpool__reclaim(struct bufpool *pool, struct waitnode *w, struct call_state *call, bool try);
/* Would a try's request w call one now (not busy, not done)? */
bool bufpool__reclaim_ready(struct bufpool *pool, struct waitnode *w, const struct call_state *call);
/* Is this thread inside a reclaim call of pool (an allocate refuses)? */
bool bufpool__reclaim_refuses(struct bufpool *pool);
void bufpool__reclaim_set_locked(struct bufpool *pool, struct reclaimer *r, bufpool_reclaim_fn fn,
                                 void *arg);
/* fork() child, under the lock: other threads' calls are gone. */
void bufpool__reclaim_forget(struct bufpool *pool);

/* ---- wait.c: how a call waits ------------------------------------------- */
/* Queue and wait: 0 and *out, or a negative errno; blocks until end
 * (CLOCK_MONOTONIC ns; UINT64_MAX: no limit) for ACQ_TIMED.  *told: 0
 * without memory, told that the memory is there (W6); the caller tries
 * again with tells + 1, still counted in pool->inside (tells > 0: counted
 * on entry).  *call: what the call carries across tells (its wait counted
 * in total_waits once, its reclaim calls). */
int bufpool__acquire_slow(struct bufpool *pool, struct tcache *tc, size_t n, int kind,
                          uint64_t end, unsigned tells, struct call_state *call, bool *told,
                          struct bufpool_alloc **out);
/* Before queueing, in the default mode: spin a little (never past end, a
 * deadline as for acquire_slow) while watching for memory released
 * elsewhere; true when some may fit n now. */
bool bufpool__spin_for(struct bufpool *pool, struct tcache *tc, size_t n, uint64_t end);
/* After a give that saw a waiter (W2), serve the queue with the caller's
 * own cache and the depot: a release whose n buffers went into its cache
 * (counted here), a release that hands `a` to the queue itself, or a give
 * that is no release (a refill, a purge, a charge given back). */
void bufpool__release_pushed(struct bufpool *pool, struct tcache *tc, size_t n);
void bufpool__release_to_queue(struct bufpool *pool, struct tcache *tc, struct bufpool_alloc *a);
void bufpool__gave(struct bufpool *pool, struct tcache *tc);
/* An account's request waits: queued (its node's acct and priority set),
 * looked at, its reclaim call, told when it may fit or granted
 * (node->grant).  end 0: a try, which never sleeps (-EAGAIN).  Under
 * pool->lock, held again on return: 0, -ETIMEDOUT, or what serve stored. */
int bufpool__wait_told(struct bufpool *pool, struct waitnode *node, uint64_t end,
                       struct call_state *call);
/* An account's attempt under pool->lock (docs/accounts.md): its caps and
 * credit, then the memory; charged to its path.  0, -EAGAIN, -ENOMEM. */
int bufpool__acct_take_locked(struct bufpool *pool, struct tcache *tc, struct bufpool_account *a,
                              size_t n, struct bufpool_alloc **out);
/* Serve after an account's uncharge or a reservation's shrink: with
 * spare and the depot.  Under the lock. */
void bufpool__serve_uncharged(struct bufpool *pool, struct bufpool_alloc *spare);
/* A steal (bufpool__steal(pool, NULL)) that takes the account caches of
 * top's subtree too.  Under pool->lock. */
struct bufpool_alloc *bufpool__steal_under(struct bufpool *pool, struct bufpool_account *top);
/* A new async waiter: an eventfd one (fn NULL) or a callback one. */
int bufpool__waiter_new(bufpool *pool, bufpool_waiter_fn fn, void *arg, bufpool_waiter **out);

/* ---- fork.c ------------------------------------------------------------- */
int bufpool__registry_add(struct bufpool *pool);
void bufpool__registry_remove(struct bufpool *pool);

/* ---- leaks.c ------------------------------------------------------------ */
/* Create: the sampling rate (flags, environment) and its table. */
int bufpool__leaks_init(struct bufpool *pool, unsigned flags);
void bufpool__leaks_fini(struct bufpool *pool);
/* A thread cache's countdown to its next sample (UINT64_MAX: none). */
uint64_t bufpool__sample_period(const struct bufpool *pool);
/* Record a sampled allocation handed out to site; forget it at release. */
void bufpool__leak_add(struct bufpool *pool, struct bufpool_alloc *a, void *site);
void bufpool__leak_remove(struct bufpool *pool, struct bufpool_alloc *a);
/* fork(): the table's lock, taken after pool->lock. */
void bufpool__leaks_lock(struct bufpool *pool);
void bufpool__leaks_unlock(struct bufpool *pool);
/* Destroy with live allocations and BUFPOOL_TRACK in the environment. */
void bufpool__leaks_at_destroy(struct bufpool *pool, size_t live);

/* ---- account.c ---------------------------------------------------------- */
/* A stall's total at now: the ended periods, and the current one while
 * something waits. */
static inline uint64_t bufpool__stall_at(uint64_t ended, uint64_t since, bool waiting, uint64_t now)
{
    return ended + (waiting && now > since ? now - since : 0);
}
/* Would a budget of max_memory hold the accounts' reservations?  Under
 * pool->lock. */
bool bufpool__accounts_fit_locked(struct bufpool *pool, size_t max_memory);
/* Destroy: free every account left. */
void bufpool__accounts_free(struct bufpool *pool);
/* The last release of an allocation made through an account, when the
 * thread's account cache (pool.c) could not take it. */
void bufpool__acct_release(struct bufpool *pool, struct bufpool_alloc *a);

/* ---- pool->lock ---- */

/* Debug builds record the holder of pool->lock, so that a step that needs
 * it asserts so (BUFPOOL__ASSERT_LOCKED) instead of saying it in a
 * comment.  Relaxed: a thread compares the word with its own mark, which
 * only it writes, and clears it before it unlocks. */
#ifdef BUFPOOL_DEBUG
#define BUFPOOL__SET_HOLDER(pool, v) store_relaxed(&(pool)->lock_holder, (v))
#define BUFPOOL__ASSERT_LOCKED(pool) \
    BUFPOOL__ASSERT(load_relaxed(&(pool)->lock_holder) == BUFPOOL__SELF, "pool->lock held")
#else
#define BUFPOOL__SET_HOLDER(pool, v) ((void)0)
#define BUFPOOL__ASSERT_LOCKED(pool) ((void)0)
#endif

static inline void bufpool__lock(struct bufpool *pool)
{
    pthread_mutex_lock(&pool->lock);
    BUFPOOL__SET_HOLDER(pool, BUFPOOL__SELF);
}

static inline bool bufpool__trylock(struct bufpool *pool)
{
    if (pthread_mutex_trylock(&pool->lock) != 0)
        return false;
    BUFPOOL__SET_HOLDER(pool, BUFPOOL__SELF);
    return true;
}

/* Unlock without waking anyone: for sections that served nobody (the
 * waking unlock is bufpool__unlock, waitq.c). */
static inline void bufpool__unlock_plain(struct bufpool *pool)
{
    BUFPOOL__ASSERT(!pool->nwake && !pool->notify, "nobody served under a plain unlock");
    BUFPOOL__SET_HOLDER(pool, 0);
    pthread_mutex_unlock(&pool->lock);
}

/* ---- small helpers on the pool ---- */

/* Is the pool over its budget: more memory taken from the system (a
 * shrink), or more committed (a reservation made while its memory was in
 * use), than max_memory?  Then releases give back (GATE_OVER). */
static inline bool bufpool__over_budget(const struct bufpool *pool)
{
    size_t max = load_relaxed(&pool->max_memory);
    return load_relaxed(&pool->charged) > max || load_relaxed(&pool->committed) > max;
}

static inline void bufpool__gate_update(struct bufpool *pool);

/* Back within the budget after a shrink or a reservation made while its
 * memory was in use: releases may cache again (GATE_OVER off).  Under
 * pool->lock, after a give. */
static inline void bufpool__over_end(struct bufpool *pool)
{
    if (pool->over && !bufpool__over_budget(pool)) {
        pool->over = false;
        bufpool__gate_update(pool);
    }
}

/* Recompute the gate from its inputs, and the words the fast paths
 * test instead of it (fast_max, hit_max, fast_id).  Under pool->lock (or at
 * create). */
static inline void bufpool__gate_update(struct bufpool *pool)
{
    uint32_t g = (load_relaxed(&pool->shut) ? GATE_SHUT : 0) |
                 ((pool->flags & BUFPOOL_FIFO) || pool->starving ? GATE_FIFO : 0) |
                 (pool->over ? GATE_OVER : 0);
    /* relaxed: hints for the fast paths, each of whose inputs has its own
     * ordering argument where it is set */
    store_relaxed(&pool->gate, g);
    size_t max = load_relaxed(&pool->max_memory) >> pool->shift;
    store_relaxed(&pool->fast_max, (g & GATE_ALLOC) ? 0 : max < FAST_N ? max : FAST_N);
    store_relaxed(&pool->hit_max, (g & GATE_ALLOC) ? 0 : max);
    store_relaxed(&pool->fast_id, (g & GATE_RELEASE) ? FAST_ID_NONE : pool->id);
}

/* pool->wlevel as a spinlock (watch.c): take it and return the level it
 * held; give it back with the level it holds from then on.  WLOCKED is no
 * level (levels are never negative) and an immediate operand on x86-64. */
#define WLOCKED ((int64_t)INT32_MIN)
static inline int64_t bufpool__wlock(struct bufpool *pool)
{
    /* acquire: pairs with the store_release of the previous holder's
     * bufpool__wunlock */
    int64_t level = exchange_acquire(&pool->wlevel, WLOCKED);
    if (unlikely(level == WLOCKED))
        level = bufpool__wlock_slow(pool);
    return level;
}

static inline void bufpool__wunlock(struct bufpool *pool, int64_t level)
{
    store_release(&pool->wlevel, level); /* pairs with the exchange above */
}

/* The pool's level moves by d buffers while a watch of it is armed
 * (watch.c): inside a window that saw STOP_WATCH and not STOP_ARMING, or
 * under pool->lock while pool->nwatch_pool; before the count of the move,
 * which may be a release's last touch of the pool. */
static inline void bufpool__watch_level(struct bufpool *pool, int64_t d)
{
    int64_t level = bufpool__wlock(pool) + d;
    if (unlikely(level <= pool->band_lo || level >= pool->band_hi))
        bufpool__watch_cross(pool, level);
    bufpool__wunlock(pool, level);
}

/* bufpool__watch_level without a call, for the armed hits (pool.c): true
 * when the level moved and no watch crossed; false, nothing changed, when
 * another thread holds the level or a watch would cross (the caller then
 * takes bufpool__watch_level). */
static inline bool bufpool__watch_level_try(struct bufpool *pool, int64_t d)
{
    int64_t old = exchange_acquire(&pool->wlevel, WLOCKED); /* as in bufpool__wlock */
    if (unlikely(old == WLOCKED))
        return false;
    int64_t level = old + d;
    bool in = level > pool->band_lo && level < pool->band_hi;
    bufpool__wunlock(pool, in ? level : old);
    return in;
}

/* The same for a count under pool->lock. */
static inline void bufpool__watch_counted_locked(struct bufpool *pool, int64_t d)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    if (unlikely(pool->nwatch_pool))
        bufpool__watch_level(pool, d);
}

/* After a change of a's use under pool->lock: its path's watches. */
static inline void bufpool__watch_acct_changed(struct bufpool *pool, struct bufpool_account *a)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    if (unlikely(pool->nwatch_acct))
        bufpool__watch_acct_moved(pool, a);
}

static inline size_t bufpool__bytes(const struct bufpool *pool, size_t n)
{
    return n << pool->shift;
}

/* An allocation's length, and the fast bin its release may use. */
static inline void bufpool__set_length(struct bufpool_alloc *a, size_t n)
{
    a->n = n;
    a->bin = n <= FAST_N ? (uint16_t)n : 0; /* bin 0 never has room */
}

/*
 * pool->inside counts the calls that bufpool_destroy and fork() wait for:
 * each call in acquire_slow from its lock on, and each told call while it
 * starts over (acquire_search in pool.c), until its last touch of the pool.
 * The increment is under pool->lock, which both readers hold, so relaxed.
 * The decrement is that last touch: release, pairs with the load_acquire
 * in bufpool_destroy and fork.c's settled(), which then see every count
 * the call made.
 */
static inline void bufpool__inside_enter(struct bufpool *pool)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    fetch_add_relaxed(&pool->inside, 1);
}

static inline void bufpool__inside_leave(struct bufpool *pool)
{
    fetch_sub_release(&pool->inside, 1);
}

#endif /* BUFPOOL_INTERNAL_H */
