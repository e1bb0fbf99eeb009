/*
 * watch.c: watermark watches (issue 23).  A watch is an eventfd that turns
 * readable when the level, the bytes in use of the pool or of an account,
 * rises to high or above, and again when it falls to low or below after
 * that; bufpool_watch_state drains it and says which side the level is on.
 * docs/pressure.md has the design; this comment has the argument.
 *
 * THE POOL'S LEVEL.  The fast paths write no shared word: each thread
 * counts in its own cache (tc_counters), and the sum over the threads is
 * the level.  A watch needs each move of the level as it happens, so while
 * a watch of the pool is armed every cache's stop word carries STOP_WATCH,
 * which closes the fast windows (cache.h), and every allocation and
 * release takes a path that first moves pool->wlevel, then counts as
 * before (bufpool__watch_level, internal.h).  wlevel is a spinlock and its
 * value in one word: a thread takes it with an exchange that leaves
 * WLOCKED and returns the level, and gives it back with a store of the
 * new level.  Holding it, the thread compares the level with the band,
 * the range in which no watch's state changes (its bounds the thresholds
 * that the watches' states wait for, kept under the lock); outside it, it
 * flips the state of each watch that crossed and writes its fd
 * (bufpool__watch_cross).  One move at a time, so each watch's state is
 * exactly what the sequence of levels makes it: its fd is written once
 * per crossing, by the call that crossed, before that call returns, and
 * never for a move within (low, high).  The paths: a cache hit takes the
 * fast path's own window, which pool.c hands on still open
 * (acquire_stopped, release_stopped); a count anywhere else outside
 * pool->lock is made in a window of its own (bufpool__count_watched,
 * cache.h); a count under pool->lock moves the level there
 * (bufpool__watch_counted_locked).  A window may take wlevel: its holder
 * never waits for a window nor for pool->lock.  pool->lock holders take
 * it too, never the other way round.
 *
 * ARMING.  The first watch of the pool's level takes the level as the
 * sum of the counters, and it must be exact: a count the sum misses, and
 * that moves no wlevel, would leave wlevel off for as long as the watch is
 * armed.  So every count happens inside a window of the counting thread's
 * cache (the fast paths count before they close theirs; the others use
 * bufpool__count_watched) or under pool->lock.  The arm, under pool->lock,
 * sets STOP_WATCH and STOP_ARMING in every cache and waits for every
 * window that began before (bufpool__tcache_stop_watch: a barrier, then
 * each cache's busy).  Then no count is in flight: a window that began
 * before has ended, its count visible; one that began after sees
 * STOP_ARMING and leaves its count to pool->lock, which the arm holds; a
 * count under the lock waits for it.  The sum then is the level; the arm
 * stores it in wlevel (what windows it waited for left there is
 * replaced), gives the watch its first state (written at once if at or
 * above high) and clears STOP_ARMING.  A count that waited for the lock
 * moves the level there.  Watches after the first only link under
 * wlevel's lock.  When the last goes, STOP_WATCH is cleared without a
 * wait: a window that still saw it moves a level nobody reads, and the
 * next arm waits for it before it sums.  For the same reason a window may
 * read stop again and act on what it finds then (acquire_stopped).
 *
 * LIFETIME.  A release's count is its last touch of the pool that
 * bufpool_destroy relies on (pool.c), so the level moves first, then the
 * count: wlevel is given back before the count.  The watches themselves
 * are read only under wlevel's lock (the pool's) or pool->lock (an
 * account's), and bufpool_watch_destroy unlinks under both: after that
 * nobody reads it.
 *
 * AN ACCOUNT'S LEVEL (use less what the account caches of its subtree
 * hold, as bufpool_account_get_stats computes it) changes only under
 * pool->lock once those caches are frozen: while any watch is armed
 * (STOP_WATCH or STOP_AWATCH) their windows refuse (bufpool__tc_enter_acct,
 * cache.h), so nothing is pushed into or popped from them, and the arm's
 * wait (above) saw the last such step end.  The grant of a charge and the
 * uncharge of a release (account.h, account.c, waitq.c) check the
 * watches of the account and its ancestors under that lock.
 *
 * The fd is written where the crossing is found, under wlevel's lock or
 * pool->lock: a write to an eventfd whose counter is far below its
 * maximum never blocks.  Unread crossings coalesce in its counter;
 * bufpool_watch_state resets it and reads the state, which is always
 * current.
 *
 * fork(): the child inherits the watches with the parent's eventfds.  Its
 * copies are detached (bufpool__watch_forget), like async waiters: never
 * written, bufpool_watch_state says -EBADF, and bufpool_watch_destroy only
 * frees them (an account keeps counting them until then).
 */
#include "cache.h"

#include <sched.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* ---- the pool's level ------------------------------------------------------ */

int64_t bufpool__wlock_slow(struct bufpool *pool)
{
    for (unsigned spins = 0;;) {
        /* relaxed: only a hint to try again; the exchange orders */
        while (load_relaxed(&pool->wlevel) == WLOCKED) {
            if (spins++ < 64)
                cpu_relax();
            else
                sched_yield(); /* its holder was preempted */
        }
        int64_t level = exchange_acquire(&pool->wlevel, WLOCKED); /* as in bufpool__wlock */
        if (level != WLOCKED)
            return level;
    }
}

/* Does a level cross w's threshold, the one its state waits for? */
static bool crosses(const struct bufpool_watch *w, int64_t level)
{
    return w->state ? level <= w->low : level >= w->high;
}

static void flip(struct bufpool_watch *w)
{
    w->state = !w->state;
    bufpool__fd_signal(w->fd);
}

/* The band of the pool's watches (types.h): no watch crosses while the
 * level stays strictly inside.  Under wlevel's lock. */
static void band(struct bufpool *pool)
{
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    for (struct bufpool_watch *w = pool->watches; w; w = w->next) {
        if (w->state && w->low > lo)
            lo = w->low;
        if (!w->state && w->high < hi)
            hi = w->high;
    }
    pool->band_lo = lo;
    pool->band_hi = hi;
}

void bufpool__watch_cross(struct bufpool *pool, int64_t level)
{
    for (struct bufpool_watch *w = pool->watches; w; w = w->next)
        if (crosses(w, level))
            flip(w);
    band(pool);
}

void bufpool__watch_count_slow(struct bufpool *pool, struct tcache *tc, size_t n, bool alloc)
{
    /* acquire: as in bufpool__tc_enter */
    uint32_t stop = load_acquire(&tc->stop);
    if (stop & STOP_FENCED) {
        /* as in bufpool__tc_enter: a stealer of a fenced pool (a steal,
         * fork()'s quiesce) and, where the kernel lacks membarrier(), the
         * arm (bufpool__tcache_stop_watch) fence instead: this pairs */
        bufpool__tc_fence_slow(pool, tc);
        stop = load_acquire(&tc->stop); /* as above */
    }
    int64_t d = alloc ? (int64_t)n : -(int64_t)n;
    if (stop & (STOP_ARMING | STOP_STEAL)) {
        /* the arm holds the lock until the level is taken; a stealer
         * until its steal (or fork()) is done */
        bufpool__tc_exit(tc);
        bufpool__lock(pool);
        bufpool__watch_counted_locked(pool, d);
        bufpool__count_n(&tc->c, n, alloc); /* a release's last touch but the unlock */
        bufpool__unlock_plain(pool);
        return;
    }
    if (stop & STOP_WATCH)
        bufpool__watch_level(pool, d);
    bufpool__count_n(&tc->c, n, alloc);
    bufpool__tc_exit(tc);
}

/* ---- an account's level ------------------------------------------------------ */

/* Bytes in use of a, as bufpool_account_get_stats computes them: its use
 * less what the account caches of its subtree hold (frozen while a watch
 * is armed).  Under pool->lock. */
static size_t acct_in_use(struct bufpool *pool, const struct bufpool_account *a)
{
    size_t cached = 0;
    /* load_acquire: pairs with tcache_attach's store_release */
    for (struct tcache *tc = load_acquire(&pool->tcaches); tc; tc = tc->next)
        for (const struct bufpool_account *p = tc->acct; p; p = p->parent)
            if (p == a) {
                cached += load_relaxed(&tc->acct_bytes);
                break;
            }
    return cached < a->use ? a->use - cached : 0;
}

/* w's state brought to a level of `in_use` bytes, its fd written if it
 * changes. */
static void settle(const struct bufpool *pool, struct bufpool_watch *w, size_t in_use)
{
    if (crosses(w, (int64_t)(in_use >> pool->shift)))
        flip(w);
}

void bufpool__watch_acct_moved(struct bufpool *pool, struct bufpool_account *a)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    for (; a; a = a->parent) {
        if (!a->watches)
            continue;
        size_t in_use = acct_in_use(pool, a);
        for (struct bufpool_watch *w = a->watches; w; w = w->next)
            settle(pool, w, in_use);
    }
}

/* ---- arming ------------------------------------------------------------------ */

/* The watches' STOP_ bits in every cache, and in pool->watch_stop for the
 * caches made later (tcache_attach).  Under pool->lock. */
static void set_stop(struct bufpool *pool, uint32_t set, uint32_t clear)
{
    pool->watch_stop = (pool->watch_stop | set) & ~clear;
    bufpool__tcache_stop_watch(pool, set, clear);
}

/* The pool's level now (see the top: no count in flight).  Under
 * pool->lock, every cache stopped. */
static int64_t level_now(struct bufpool *pool)
{
    struct tc_counters sum;
    bufpool__sum_counters(pool, &sum);
    return (int64_t)load_relaxed(&sum.bufs);
}

/* Link w and give it its first state.  Under pool->lock. */
static void arm(struct bufpool *pool, struct bufpool_watch *w)
{
    struct bufpool_account *a = w->acct;
    if (a) {
        w->next = a->watches;
        a->watches = w;
        a->nwatches++;
        if (pool->nwatch_acct++ == 0)
            set_stop(pool, STOP_AWATCH, 0); /* the account caches frozen from now on */
        settle(pool, w, acct_in_use(pool, a));
        return;
    }
    bool first = pool->nwatch_pool++ == 0;
    if (first)
        set_stop(pool, STOP_WATCH | STOP_ARMING, 0);
    int64_t level = bufpool__wlock(pool);
    if (first)
        level = level_now(pool);
    w->next = pool->watches;
    pool->watches = w;
    if (crosses(w, level))
        flip(w); /* readable at once */
    band(pool);
    bufpool__wunlock(pool, level);
    if (first)
        set_stop(pool, 0, STOP_ARMING);
}

/* Take w out of its list.  Under pool->lock. */
static void disarm(struct bufpool *pool, struct bufpool_watch *w)
{
    struct bufpool_account *a = w->acct;
    int64_t level = a ? 0 : bufpool__wlock(pool);
    struct bufpool_watch **p = a ? &a->watches : &pool->watches;
    while (*p != w)
        p = &(*p)->next;
    *p = w->next;
    if (a) {
        a->nwatches--;
        if (--pool->nwatch_acct == 0)
            set_stop(pool, 0, STOP_AWATCH);
        return;
    }
    band(pool);
    bufpool__wunlock(pool, level);
    if (--pool->nwatch_pool == 0)
        set_stop(pool, 0, STOP_WATCH);
}

/* ---- the calls --------------------------------------------------------------- */

/* A new watch, not linked: its eventfd made, its thresholds in buffers
 * (risen at ceil(high / size), fallen at floor(low / size): low < high
 * stays so).  0, -ENOMEM or eventfd's error. */
static int watch_new(struct bufpool *pool, struct bufpool_account *acct, size_t high, size_t low,
                     struct bufpool_watch **out)
{
    struct bufpool_watch *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->fd < 0) {
        int err = -errno;
        free(w);
        return err;
    }
    w->pool = pool;
    w->acct = acct;
    w->gen = bufpool__fork_gen;
    w->high = (int64_t)((high >> pool->shift) + ((high & (pool->buffer_size - 1)) != 0));
    w->low = (int64_t)(low >> pool->shift);
    *out = w;
    return 0;
}

BUFPOOL__API int bufpool_watch_create(bufpool *pool, bufpool_account *acct, size_t high_bytes,
                                      size_t low_bytes, bufpool_watch **out)
{
    if (out)
        *out = NULL;
    if (!pool || !out || high_bytes == 0 || low_bytes >= high_bytes)
        return -EINVAL;
    bufpool__check_pool(pool, "bufpool_watch_create");
    if (acct && (acct->magic != BUFPOOL__MAGIC_ACCOUNT || acct->pool != pool))
        return -EINVAL;
    struct bufpool_watch *w = NULL;
    int r = watch_new(pool, acct, high_bytes, low_bytes, &w);
    if (r)
        return r;
    bufpool__lock(pool);
    if (load_relaxed(&pool->shut)) {
        bufpool__unlock_plain(pool);
        close(w->fd);
        free(w);
        return -ECANCELED;
    }
    arm(pool, w);
    bufpool__unlock_plain(pool);
    *out = w;
    return 0;
}

BUFPOOL__API int bufpool_watch_fd(const bufpool_watch *w)
{
    return w ? w->fd : -EINVAL;
}

BUFPOOL__API int bufpool_watch_state(bufpool_watch *w)
{
    if (!w)
        return -EINVAL;
    if (w->gen != bufpool__fork_gen)
        return -EBADF; /* inherited: its fd is the parent's too */
    struct bufpool *pool = w->pool;
    bufpool__check_pool(pool, "bufpool_watch_state");
    /* drain, then read: a change after the read writes the fd after the
     * drain, so it stays readable */
    bufpool__fd_drain(w->fd);
    int s;
    if (w->acct) {
        bufpool__lock(pool);
        s = w->state;
        bufpool__unlock_plain(pool);
    } else {
        int64_t level = bufpool__wlock(pool);
        s = w->state;
        bufpool__wunlock(pool, level);
    }
    return s;
}

BUFPOOL__API void bufpool_watch_destroy(bufpool_watch *w)
{
    if (!w)
        return;
    struct bufpool *pool = w->pool;
    bufpool__check_pool(pool, "bufpool_watch_destroy");
    bufpool__lock(pool);
    if (w->gen == bufpool__fork_gen)
        disarm(pool, w);
    else if (w->acct) /* inherited, detached: its account still counts it */
        w->acct->nwatches--;
    bufpool__unlock_plain(pool);
    close(w->fd);
    free(w);
}

/* ---- fork() ----------------------------------------------------------------- */

static void forget_accounts(struct bufpool_account *a)
{
    for (; a; a = a->next) {
        a->watches = NULL;
        forget_accounts(a->children);
    }
}

void bufpool__watch_forget(struct bufpool *pool)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    /* One thread in the child, outside any window; a thread that held
     * wlevel's lock at the fork (bufpool_watch_state) is gone with it. */
    store_relaxed(&pool->wlevel, 0);
    pool->watches = NULL;
    band(pool);
    forget_accounts(pool->accounts);
    pool->nwatch_pool = pool->nwatch_acct = 0;
    set_stop(pool, 0, STOP_WATCHES);
}
