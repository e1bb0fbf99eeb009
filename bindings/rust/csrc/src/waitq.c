/*
 * The wait queue: blocked calls, async waiters, and the wakeups that serve
 * them.
 *
 * THE WAIT PROTOCOL, and why no wakeup is lost.  Its rules are numbered
 * W1-W11 in docs/design.md ("The wait protocol"); code sites cite them.
 *
 * A request that cannot be served at once takes pool->lock, increments
 * pool->nwait and links a node into the queue (register), then takes every
 * cached allocation (bufpool__steal) and serves the queue (look).  Only
 * then does it sleep, on its node's futex word, until a server sets it to
 * WN_DONE.  Every path that gives memory back does the opposite order:
 *
 *   release:  push into the thread cache (plain stores in    -- give
 *             the owner's busy window), or join the cache's run,
 *             or put a full bin into the depot (a seq_cst CAS),
 *             or free into the arena (under its lock)
 *             load nwait                                    -- look
 *             if nonzero: lock, take its own cache, serve, unlock
 *
 * A refill that moves part of a depot chain into its bin hides it from a
 * waiter that has looked, as a push does, and looks afterwards the same
 * way (depot.c).
 *
 * The waiter's increment is a seq_cst RMW; its look at the caches is the
 * steal, which begins with a barrier (steal_begin in cache.c).  A push and
 * the release's load of nwait have no fence between them, so the CPU may
 * make the push visible only after the load; the steal's barrier rules
 * that out: membarrier() runs a full barrier on the releasing thread's CPU
 * somewhere between its entry and return, and the steal then waits for
 * every owner's window to close.  If the release's load comes after that
 * barrier it sees the increment (made before the membarrier()); if it
 * came before, the push came before too and is visible to the steal.  In
 * fenced mode the release fences after its push (pool.c) and the steal
 * fences after its stores, the classic seq_cst Dekker pattern.  A put
 * into the depot is a seq_cst CAS and the steal loads every slot seq_cst
 * after the increment: in their single order either the steal sees the
 * chain or the release's load sees the increment.  A give
 * into the arena happens under a lock that the waiter's
 * attempt takes after its increment: if the waiter's critical section
 * comes first, the increment happens before the release's load, which
 * then sees it; otherwise the waiter's attempt sees the freed run (or, in
 * REGION mode, the uncharge that went with it, a seq_cst fetch_sub under
 * the same lock).  Otherwise the release sees nwait != 0 and serves the
 * queue itself under the lock, where the waiter's node already is, with
 * what it just gave (found in its own cache or the depot).  Either way the
 * memory reaches the queue.  So a waiter takes every thread's cache once,
 * when it registers, and a slow release takes only its own.  Serving happens under the lock, so it never
 * races with a node being linked, unlinked or timing out.
 *
 * The sleep itself is a futex wait on node->state, which the kernel checks
 * against WN_WAITING atomically with queueing the sleeper; the server
 * stores WN_DONE (under the lock) before FUTEX_WAKE (after the unlock, in
 * bufpool__unlock).  So either the sleeper sees WN_DONE before it sleeps,
 * or it is asleep when the wake comes.  The store is the server's last
 * touch of the node: the woken thread may return, and its stack frame
 * (the node) die, before the wake.  FUTEX_WAKE never reads the word, so a
 * wake on a dead address is harmless; at worst it is a spurious wakeup for
 * an unrelated futex on that address, which every futex user tolerates.
 *
 * Async waiters use the same queue; instead of a futex wake the server
 * writes their eventfd, or for a callback waiter queues its call for the
 * unlock (bufpool__waiter_signal).  BUFPOOL_FIFO serves strictly from the head and
 * stops at the first request that does not fit, granting each the memory
 * before it wakes it.  The default mode serves every request that fits, in
 * arrival order, by telling it so (finish with no grant): the woken call
 * starts over (acquire_search in pool.c), and a thread that is running may
 * take the memory first.  Granting there would hand every released buffer
 * to a thread that still has to be scheduled: with more threads than CPUs
 * each buffer then waits out a wakeup latency per use.  Nothing is lost by
 * telling: what the server found stays in the depot or the arena, within
 * reach of the retry, and a retry that loses registers and looks again
 * like any request.  A blocked request told BUFPOOL__TELLS_MAX times is
 * granted from then on.  Telling bounds nothing for a request that never
 * fits while others keep taking part of the budget (a request for all of
 * it against many small ones): that request is never told.  So, after
 * Go's sync.Mutex, a blocked request that has waited BUFPOOL__STARVE_NS
 * without the memory it needs ever being free for it turns starving
 * (starving_now), and while one is queued the pool hands off: serve works as in FIFO
 * mode, and the gate sends every allocation, and every told call's retry,
 * to the queue behind it.  The hand-off ends when no starving request is
 * queued (dequeue).  Turning starving changes only who is served first,
 * not how a server reaches a sleeper, so the argument above holds as it
 * is (the model checks it, STARVE).
 *
 * Watches (bufring.c).  A request larger than the budget is not queued
 * (-E2BIG; a shrink fails those queued), so nothing in the queue tells a
 * bufring that the budget grew back, and a full ring has nothing queued
 * that a shutdown would fail.  Its waiter watches instead: linked in
 * pool->watchers with a byte threshold, fired (unlinked, fd written) by
 * bufpool_set_max_memory when max_memory reaches it and by
 * bufpool_shutdown always; it ends there, at the waiter's next watch, or
 * at bufpool_waiter_cancel (and _destroy).  bufpool_waiter_allocate leaves
 * it alone, so a ring's fast path need not re-arm it; a request queued
 * beside a watch costs at most one spurious readiness (the threshold
 * watch fires before such a request can queue: both look at max_memory
 * under the lock).  No firing is lost: the watch drains the fd, reads shut
 * and max_memory and links, all under pool->lock, and the growth or the
 * shutdown stores its value and walks the list under the same lock;
 * whichever comes second sees what the first did, so either the watch
 * sees the new value and writes the fd itself, or the walk finds it
 * linked.  Only the waiter's own calls drain the fd (a later watch,
 * bufpool_waiter_allocate, _cancel), each under the lock, before it looks.
 *
 * Model: tests/model/waitq.pml checks this protocol with spin.
 */
#include "cache.h"
#include "account.h"

#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void bufpool__enqueue(struct bufpool *pool, struct waitnode *w)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    /* Behind every node of its priority or higher (plain calls are 0) */
    struct waitnode *after = pool->qtail;
    while (after && after->priority < w->priority)
        after = after->prev;
    w->prev = after;
    w->next = after ? after->next : pool->qhead;
    if (w->next)
        w->next->prev = w;
    else
        pool->qtail = w;
    if (after)
        after->next = w;
    else
        pool->qhead = w;
    w->queued = true;
    uint64_t now = 0;
    pool->queued++;
    if (!w->brief)
        bufpool__stall_add(pool, 1);
    bufpool__acct_queued(w->acct, 1, &now);
    /* seq_cst: the "register" of W1; pairs with the nwait load of every
     * give (W2), e.g. in bufpool_alloc_release. */
    fetch_add_seqcst(&pool->nwait, 1);
}

void bufpool__dequeue(struct bufpool *pool, struct waitnode *w)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    if (w->prev)
        w->prev->next = w->next;
    else
        pool->qhead = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        pool->qtail = w->prev;
    w->prev = w->next = NULL;
    w->queued = false;
    uint64_t now = 0;
    pool->queued--;
    if (!w->brief)
        bufpool__stall_add(pool, (size_t)-1);
    bufpool__acct_queued(w->acct, (size_t)-1, &now);
    if (w->starving) {
        w->starving = false;
        if (--pool->starving == 0)
            bufpool__gate_update(pool); /* the hand-off ends */
    }
    if (w->turn_of) {
        struct reclaimer *r = w->turn_of;
        w->turn_of = NULL;
        if (load_relaxed(&w->state) == WN_TURN) /* a turn it leaves untaken */
            bufpool__pass_turn(pool, r);
    }
    /* Under the lock; a release that still sees the old count only takes
     * the slow path once more for nothing. */
    fetch_sub_seqcst(&pool->nwait, 1);
}

void bufpool__stall_add(struct bufpool *pool, size_t d)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    uint64_t now = 0;
    if (d == 1 && pool->nstall++ == 0)
        pool->stall_since = bufpool__now_once(&now);
    else if (d != 1 && --pool->nstall == 0)
        pool->stall_ns += bufpool__now_once(&now) - pool->stall_since;
}

/* A queued blocked request has waited BUFPOOL__STARVE_NS: from now on it
 * is granted, not told, nobody behind it is served before it, and the
 * gate sends every allocation to the queue (GATE_FIFO) until no starving
 * request is left (dequeue). */
static void starve(struct bufpool *pool, struct waitnode *w)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    if (w->starving)
        return;
    w->starving = true;
    if (pool->starving++ == 0)
        bufpool__gate_update(pool);
}

/* A starving request that now waits on its own caps: outside the line, it
 * must not keep the pool handing off (GATE_FIFO closes every fast path);
 * its clock starts again.  Under the lock. */
static void unstarve(struct bufpool *pool, struct waitnode *w, uint64_t now)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    w->starving = false;
    w->fitted = false;
    w->clock = now;
    if (--pool->starving == 0)
        bufpool__gate_update(pool); /* the hand-off ends */
}

/* ---- watches (see the top comment) ------------------------------------ */

void bufpool__watch_unlink(struct bufpool *pool, struct bufpool_waiter *w)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    if (!w->watching)
        return;
    if (w->wprev)
        w->wprev->wnext = w->wnext;
    else
        pool->watchers = w->wnext;
    if (w->wnext)
        w->wnext->wprev = w->wprev;
    w->wprev = w->wnext = NULL;
    w->watching = false;
}

/* Fire the watches that max_memory reaches (all: every one).  Under the
 * lock. */
static void watchers_fire(struct bufpool *pool, bool all)
{
    size_t max = load_relaxed(&pool->max_memory);
    struct bufpool_waiter *w = pool->watchers, *next;
    for (; w; w = next) {
        next = w->wnext;
        if (all || w->watch_bytes <= max) {
            bufpool__watch_unlink(pool, w);
            bufpool__fd_signal(w->fd);
        }
    }
}

void bufpool__watchers_grown(struct bufpool *pool)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    watchers_fire(pool, false);
}

int bufpool__waiter_watch(bufpool_waiter *w, size_t bytes)
{
    if (w->gen != bufpool__fork_gen)
        return -EBADF; /* its fd is the parent's too */
    struct bufpool *pool = w->pool;
    int r = 0;
    bufpool__lock(pool);
    bufpool__watch_unlink(pool, w);
    bufpool__fd_drain(w->fd); /* before the looks below, under the lock (W9, W10) */
    if (load_relaxed(&pool->shut)) {
        bufpool__fd_signal(w->fd);
        r = -ECANCELED;
    } else if (bytes <= load_relaxed(&pool->max_memory)) {
        bufpool__fd_signal(w->fd);
    } else {
        w->watch_bytes = bytes;
        w->wprev = NULL;
        w->wnext = pool->watchers;
        if (pool->watchers)
            pool->watchers->wprev = w;
        pool->watchers = w;
        w->watching = true;
    }
    bufpool__unlock(pool);
    return r;
}

/* pool->held: async nodes whose grant waits for its waiter.  Under the
 * lock; a node is in the queue or here, never both. */
static void held_link(struct bufpool *pool, struct waitnode *w)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    w->prev = NULL;
    w->next = pool->held;
    if (pool->held)
        pool->held->prev = w;
    pool->held = w;
    w->held = true;
}

/* Take w's grant (NULL if none) off the held list. */
struct bufpool_alloc *bufpool__grant_take(struct bufpool *pool, struct waitnode *w)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    struct bufpool_alloc *h = w->grant;
    w->grant = NULL;
    if (w->held) {
        if (w->prev)
            w->prev->next = w->next;
        else
            pool->held = w->next;
        if (w->next)
            w->next->prev = w->prev;
        w->prev = w->next = NULL;
        w->held = false;
    }
    if (h)
        store_relaxed(&h->next, NULL);
    return h;
}

/* Drop w's grant, if it has one, into *spare: one made through an account
 * is uncharged first (what that reopens of a reservation goes to the
 * arena instead, account.h).  Under the lock. */
void bufpool__grant_drop(struct bufpool *pool, struct waitnode *w, struct bufpool_alloc **spare)
{
    struct bufpool_alloc *h = bufpool__grant_take(pool, w);
    if (h && h->acct) {
        struct bufpool_account *a = h->acct;
        h->acct = NULL;
        bufpool__set_length(h, h->n); /* its bin again */
        for (struct bufpool_account *p = a; p; p = p->parent)
            p->total_allocations--; /* never handed out */
        h = bufpool__acct_settle(pool, h, bufpool__acct_uncharge(pool, a, bufpool__bytes(pool, h->n), 1));
        bufpool__watch_acct_changed(pool, a);
    }
    *spare = bufpool__list_append(*spare, h);
}

/* TLS: the calls of fn this thread is running, innermost first (a fn may
 * release memory, whose unlock runs other calls). */
struct running {
    struct bufpool_waiter *w;
    struct running *outer;
};
static __thread struct running *running_fn;
/*
 * Make w's owner call again: write its eventfd, or queue fn(arg) for
 * the unlock of this section (W5: no owner runs into the lock its waker
 * holds, and fn may call into the pool).  Under the lock.
 *
 * Why no call is lost: notify_queued stays 1 from here until the runner
 * (run_notified) is about to call fn, so a signal that finds it 1 skips,
 * and that is safe: this section's change (made before this signal,
 * under the lock) precedes the runner's clear, which precedes fn, which
 * precedes the owner's retry; the retry takes the lock, so it sees this
 * section's change.  The acquire load pairs with the runner's release
 * clear, so the link written here comes after the runner's read of it.
 */
void bufpool__waiter_signal(struct bufpool *pool, struct bufpool_waiter *w)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    if (!w->fn) {
        bufpool__fd_signal(w->fd);
        return;
    }
    if (load_acquire(&w->notify_queued))
        return;
    /* relaxed: later signals read it under this lock; only the runner's
     * clear, outside it, needs the release/acquire pair above */
    store_relaxed(&w->notify_queued, 1);
    /* counted under the lock: destroy waits for 0 after its own section */
    fetch_add_relaxed(&w->calls, 1);
    w->notify_next = pool->notify;
    pool->notify = w;
}

/* Reset w's readiness (W9): drain its fd, or take back a call of its fn
 * that this section queued.  A call already handed to a runner by an
 * earlier section stays, a spurious retry at worst.  Under the lock. */
void bufpool__waiter_drain(struct bufpool *pool, struct bufpool_waiter *w)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    if (!w->fn) {
        bufpool__fd_drain(w->fd);
        return;
    }
    for (struct bufpool_waiter **p = &pool->notify; *p; p = &(*p)->notify_next) {
        if (*p == w) {
            *p = w->notify_next;
            store_relaxed(&w->notify_queued, 0); /* not handed to a runner: only under the lock */
            fetch_sub_relaxed(&w->calls, 1); /* never ran: nothing to publish */
            return;
        }
    }
}

/* The calls queued by a section, after its unlock (reverse order of the
 * signals: the list is a stack).  After fn, the release half of the
 * decrement pairs with the load_acquire in bufpool__waiter_quiesce: fn's
 * last touch of w and arg comes before destroy frees them.  A waiter
 * destroyed from inside its own fn is freed by the last of its calls. */
static void run_notified(struct bufpool_waiter *w)
{
    while (w) {
        struct bufpool_waiter *next = w->notify_next;
        /* pairs with the load_acquire in bufpool__waiter_signal */
        store_release(&w->notify_queued, 0);
        struct running me = {w, running_fn};
        running_fn = &me;
        w->fn(w->arg);
        running_fn = me.outer;
        bool orphaned = w->orphaned; /* set by this thread only (quiesce) */
        if (fetch_sub_acqrel(&w->calls, 1) == 1 && orphaned)
            free(w);
        w = next;
    }
}

/* Wait until no call of w's fn runs but the caller's own (from inside
 * it, perhaps nested): their count, so that w outlives them if nonzero. */
unsigned bufpool__waiter_quiesce(struct bufpool_waiter *w)
{
    unsigned mine = 0;
    for (struct running *r = running_fn; r; r = r->outer)
        mine += r->w == w;
    /* pairs with the fetch_sub_acqrel in run_notified */
    for (unsigned spins = 0; load_acquire(&w->calls) > mine; spins++) {
        if (spins < 64)
            cpu_relax();
        else
            sched_yield();
    }
    return mine;
}

/* Finish a queued request: unlink it, store its outcome, wake its owner
 * (W5: the wake itself comes after the unlock). */
static void finish(struct bufpool *pool, struct waitnode *w, int result, struct bufpool_alloc *grant)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    bufpool__dequeue(pool, w);
    w->result = result;
    w->grant = grant;
    if (w->async) {
        if (grant)
            held_link(pool, w);
        store_relaxed(&w->state, WN_DONE); /* read under the lock */
        bufpool__waiter_signal(pool, w->async);
    } else if (pool->nwake < sizeof pool->wake / sizeof *pool->wake) {
        pool->wake[pool->nwake++] = &w->state;
        /* pairs with the load_acquire in wait_node; the last touch of w */
        store_release(&w->state, WN_DONE);
    } else {
        store_release(&w->state, WN_DONE); /* as above */
        syscall(SYS_futex, &w->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }
}

/*
 * A reclaim call of r ended (reclaim.c): wake the first queued request
 * that found r busy, for a call of its own (WN_TURN, a wake as finish's,
 * W5).  One turn at a time: none if that request has its turn already.
 * Its owner takes the lock before it touches the node again (wait.c,
 * sleep_queued); a node that leaves the queue with its turn untaken
 * passes it on (dequeue).  Under the lock.
 */
void bufpool__pass_turn(struct bufpool *pool, struct reclaimer *r)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    struct waitnode *w = pool->qhead;
    while (w && w->turn_of != r)
        w = w->next;
    if (!w || load_relaxed(&w->state) == WN_TURN)
        return;
    if (pool->nwake < sizeof pool->wake / sizeof *pool->wake) {
        pool->wake[pool->nwake++] = &w->state;
        /* pairs with the load_acquire in wait_node */
        store_release(&w->state, WN_TURN);
    } else {
        store_release(&w->state, WN_TURN); /* as above */
        syscall(SYS_futex, &w->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }
}

/* Unlock pool->lock, then wake the sleepers served under it. */
static void unlock_wake(struct bufpool *pool)
{
    _Atomic uint32_t *wake[sizeof pool->wake / sizeof *pool->wake];
    unsigned n = pool->nwake;
    for (unsigned i = 0; i < n; i++)
        wake[i] = pool->wake[i];
    pool->nwake = 0;
    struct bufpool_waiter *notify = pool->notify;
    pool->notify = NULL;
    bufpool__unlock_plain(pool);
    for (unsigned i = 0; i < n; i++)
        syscall(SYS_futex, wake[i], FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    run_notified(notify);
}

/*
 * Unlock, wake, then make the purge the section left (pool->purge_want):
 * a shrink's (bufpool_set_max_memory), a free into an arena over its
 * budget, or a take that needed more than a slice (arena.c).  Why it is
 * correct:
 *
 * - No lock is held across a madvise, so nobody waits behind it: a purge
 *   takes its ranges out of the arena first (arena.c, claims), so nobody
 *   can carve them meanwhile, and they stay charged until given back.
 * - The call stays counted in pool->inside from the section that left the
 *   purge (the increment is under the lock, as bufpool__inside_enter
 *   wants) until its last touch of the pool, so bufpool_destroy does not
 *   free the pool under it, and fork() waits for it (fork.c, settled), as
 *   for a call in acquire_slow.
 * - No wakeup is lost: the purge's uncharges are gives of the wait
 *   protocol, and this call then takes the lock and serves the queue,
 *   which holds every waiter that registered before; one that registers
 *   after sees the uncharges (they happened before, through the lock).
 *   That serve may leave a purge again; the loop goes on while purges make
 *   progress (they shrink the free resident memory), and a purge that
 *   finds nothing to take ends it: memory claimed by another purge in
 *   flight is served by that purge's caller, and memory freed later is a
 *   give of its own.
 * - It also clears pool->over once the pool is back within its budget, as
 *   bufpool__release_pushed does, so releases may cache again.
 * - One such purge at a time (pool->purge_active): the others' unlocks
 *   leave theirs in purge_want, which the running one takes at its next
 *   relock, so a never-blocking call does not do a shrink's purge.
 */
void bufpool__unlock(struct bufpool *pool) /* W5: the wakes after the unlock */
{
    /* While one call purges here, the others leave their purges to it:
     * it takes pool->purge_want at each relock, and recomputes how far the
     * pool is over its budget; so a call documented never to block does
     * not make the purge of a shrink running in another thread. */
    size_t want = pool->purge_active ? 0 : pool->purge_want;
    pool->purged_locked = 0; /* the next section has its slice (arena.c) */
    if (likely(!want)) {
        unlock_wake(pool);
        return;
    }
    pool->purge_want = 0;
    pool->purge_active++;
    bufpool__inside_enter(pool); /* under the lock */
    unlock_wake(pool);
    for (;;) {
        size_t charged = load_relaxed(&pool->charged), max = load_relaxed(&pool->max_memory);
        if (charged > max && charged - max > want)
            want = charged - max; /* down to the budget, whatever it is now */
        size_t got = bufpool__arena_purge(pool, want);
        bufpool__lock(pool);
        if (got)
            bufpool__serve(pool, NULL);
        bufpool__over_end(pool);
        if (pool->destroying)
            pthread_cond_broadcast(&pool->idle);
        /* got 0: nothing left to take; a purge left meanwhile (by a free
         * since) stays for the next unlock */
        want = got ? pool->purge_want : 0;
        if (want)
            pool->purge_want = 0;
        else
            pool->purge_active--;
        pool->purged_locked = 0;
        unlock_wake(pool);
        if (!want)
            break;
    }
    bufpool__inside_leave(pool); /* the last touch of the pool */
}

/* Take a spare of length n out of *spare, or NULL.  The links are written
 * atomically: an owner's stale pop may be reading them (cache.c). */
static struct bufpool_alloc *spare_take(struct bufpool_alloc **spare, size_t n)
{
    struct bufpool_alloc *prev = NULL;
    for (struct bufpool_alloc *h = *spare; h; prev = h, h = load_relaxed(&h->next)) {
        if (h->n != n)
            continue;
        struct bufpool_alloc *next = load_relaxed(&h->next);
        if (prev)
            store_relaxed(&prev->next, next);
        else
            *spare = next;
        store_relaxed(&h->next, NULL);
        store_relaxed(&h->refs, 1);
        return h;
    }
    return NULL;
}

/*
 * Memory for n buffers under the lock: a spare of that length, else fresh
 * budget; spares of other lengths are given up first when the budget (or
 * the region) is short.  0, -EAGAIN (does not fit now), -ENOMEM.
 */
int bufpool__take(struct bufpool *pool, struct tcache *tc, size_t n, size_t credit,
                  struct bufpool_alloc **spare, struct bufpool_alloc **out)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    /* A spare of this length is ready memory, unless the pool is over a
     * shrunk budget: then the spares must go back first.  It is committed
     * already: only the credit comes off (docs/accounts.md). */
    if (!bufpool__over_budget(pool) && (*out = spare_take(spare, n))) {
        bufpool__commit_credit(pool, credit);
        return 0;
    }
    /* The arena charges what it must and purges free memory for it. */
    int r = bufpool__block_new_locked(pool, tc, n, credit, out);
    if (r != -EAGAIN || !*spare)
        return r;
    /* Give the spares back to the arena and try again.  Nothing is lost:
     * they stay resident there, coalesced, for any length, and the arena
     * purges only what the request needs. */
    bufpool__free_list(pool, *spare);
    *spare = NULL;
    return bufpool__block_new_locked(pool, tc, n, credit, out);
}

/* Would n buffers fit now, counting memory already promised to woken async
 * waiters?  Free memory the arena keeps resident is as good as free budget
 * (it is reused, or purged for the request).  Opportunistic async waiters
 * are told, not given. */
static bool within(size_t used, size_t bytes, size_t max)
{
    return used <= max && bytes <= max - used;
}

/* As would_fit, for a request that uses `credit` bytes of a reservation:
 * the memory in full, committed less the credit (docs/accounts.md).
 * promised_c: what the requests told before it may add to committed. */
static bool would_fit_credit(struct bufpool *pool, size_t n, size_t promised, size_t promised_c,
                             size_t credit)
{
    size_t bytes = bufpool__bytes(pool, n);
    size_t charged = load_relaxed(&pool->charged), dirty = bufpool__arena_dirty(pool->arena);
    size_t used = (charged > dirty ? charged - dirty : 0) + promised;
    size_t committed = load_relaxed(&pool->committed) + promised_c;
    size_t max = load_relaxed(&pool->max_memory);
    if (!within(used, bytes, max) || !within(committed, bytes - credit, max))
        return false;
    return bufpool__arena_fits(pool->arena, n);
}

static bool would_fit(struct bufpool *pool, size_t n, size_t promised)
{
    return would_fit_credit(pool, n, promised, promised, 0);
}

/*
 * Has blocked request w, which does not fit now, starved?  Its clock (the
 * start of its window, set when it queued) runs while the memory it needs
 * is never free for it.  A look that finds it would fit but for the
 * claims of requests ahead of it (promised: its turn in arrival order is
 * coming, as for one buffer among many threads on a tight budget) marks
 * the window, and a marked window that ends starts a new one.  A window
 * of BUFPOOL__STARVE_NS without a mark (a request for the whole budget
 * against many small ones) starves it.  The servers keep the clock, not
 * the sleeper: a timed sleep costs every wakeup a timer, and a woken sleeper may wait for a lock its releasers keep
 * taking far longer than 1 ms.  A told request that queues again starts a
 * new clock: it was told because it fitted; BUFPOOL__TELLS_MAX bounds how
 * often, and from then on it is never told.  Under pool->lock (W7).
 */
static bool starving_now(struct bufpool *pool, struct waitnode *w, size_t promised, uint64_t *now)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    if (!w->clock) /* an async waiter, or a try: never starving */
        return false;
    if (promised && would_fit(pool, w->n, 0)) {
        w->fitted = true;
        return false;
    }
    if (!*now)
        *now = bufpool__now_ns();
    if (*now - w->clock < BUFPOOL__STARVE_NS)
        return false;
    if (w->fitted) {
        w->fitted = false;
        w->clock = *now;
        return false;
    }
    starve(pool, w);
    return true;
}

/* What one pass of serve carries from request to request. */
struct pass {
    bool fifo;          /* in order from here: FIFO, or a starving request met */
    size_t promised;    /* bytes told this pass, which their owners may take */
    size_t promised_c;  /* what those may add to committed (less their credits) */
    uint64_t now;       /* read once, if a request's clock needs it */
    struct bufpool_alloc *spare;
};

/* One verdict per try, each taken as it is (W8): a fast path may charge
 * the budget between two looks (no lock), and a second look that then
 * failed, with the spares still in hand, would leave them in the depot
 * and w asleep beside them.  So the spares are given up before the one
 * look that counts them. */
static bool pass_fits(struct bufpool *pool, struct pass *p, size_t n, size_t credit)
{
    if (would_fit_credit(pool, n, p->promised, p->promised_c, credit))
        return true;
    if (!p->spare)
        return false;
    bufpool__free_list(pool, p->spare);
    p->spare = NULL;
    return would_fit_credit(pool, n, p->promised, p->promised_c, credit);
}

/*
 * Serve w: told when it fits (W6), granted in order in FIFO, while a
 * request starves, and once told BUFPOOL__TELLS_MAX times (W7).  A request
 * through an account counts its credit (docs/accounts.md), and its grant
 * is charged to it; one that waits on its account's caps is outside the
 * line: it delays nobody.  False: the line stops at w.
 */
static bool serve_one(struct bufpool *pool, struct pass *p, struct waitnode *w)
{
    size_t b = bufpool__bytes(pool, w->n), credit = 0;
    if (w->acct && !bufpool__acct_admit(w->acct, b, &credit)) {
        if (w->starving)
            unstarve(pool, w, bufpool__now_once(&p->now));
        return true;
    }
    if (!p->fifo && (w->async || w->tells < BUFPOOL__TELLS_MAX)) {
        if (pass_fits(pool, p, w->n, credit)) {
            p->promised += b;
            p->promised_c += b - credit;
            finish(pool, w, 0, NULL);
            return true;
        }
        if (!starving_now(pool, w, p->promised, &p->now))
            return true;
        p->fifo = true; /* w starves: served as in FIFO mode from here on */
    }
    struct bufpool_alloc *h;
    int r = bufpool__take(pool, NULL, w->n, credit, &p->spare, &h);
    if (r == 0 && w->acct)
        bufpool__acct_grant(pool, w->acct, h);
    if (r != -EAGAIN)
        finish(pool, w, r, r == 0 ? h : NULL);
    return r != -EAGAIN || !p->fifo;
}

/*
 * Serve the queue with the given spare allocations (cached memory already
 * charged), then put back whatever spare is left.  Under pool->lock (W4),
 * in the queue's order: priority, then arrival.
 */
void bufpool__serve(struct bufpool *pool, struct bufpool_alloc *spare)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    /* A starving request turns the pool FIFO until it is served. */
    struct pass p = {.fifo = (pool->flags & BUFPOOL_FIFO) || pool->starving, .spare = spare};
    for (struct waitnode *w = pool->qhead, *next; w; w = next) {
        next = w->next;
        if (!serve_one(pool, &p, w))
            break;
    }
    bufpool__depot_stash(pool, p.spare);
}

/*
 * Must a new request of priority prio queue behind the line?  Only in
 * FIFO and during a hand-off, and only while a request of its priority or
 * higher waits for memory: one waiting on its own account's caps is
 * outside the line.  Under the lock.
 */
bool bufpool__line_ahead(struct bufpool *pool, int prio)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    if (!(pool->flags & BUFPOOL_FIFO) && !pool->starving)
        return false;
    for (struct waitnode *w = pool->qhead; w && w->priority >= prio; w = w->next) {
        size_t credit;
        if (!w->acct || bufpool__acct_admit(w->acct, bufpool__bytes(pool, w->n), &credit))
            return true;
    }
    return false;
}

/*
 * Take back what async waiters hold set aside for requests of more than
 * max bytes: they learn `result` at their next call (their fd is readable
 * since the grant).  The memory joins *spare.
 */
static void revoke_held(struct bufpool *pool, size_t max, int result, struct bufpool_alloc **spare)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    struct waitnode *w = pool->held, *next;
    for (; w; w = next) {
        next = w->next;
        if (bufpool__bytes(pool, w->n) <= max)
            continue;
        bufpool__grant_drop(pool, w, spare);
        w->result = result;
        bufpool__waiter_signal(pool, w->async);
    }
}

/* Shutdown: fail everything queued and take back what was set aside.
 * */
void bufpool__cancel_all(struct bufpool *pool)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    while (pool->qhead)
        finish(pool, pool->qhead, -ECANCELED, NULL);
    struct bufpool_alloc *spare = NULL;
    revoke_held(pool, 0, -ECANCELED, &spare);
    watchers_fire(pool, true);
    bufpool__serve(pool, spare);
}

/* A shrunk budget: fail what can never fit, take back what was set aside
 * for it, then serve. */
void bufpool__fail_impossible(struct bufpool *pool)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    size_t max = load_relaxed(&pool->max_memory);
    struct waitnode *w = pool->qhead, *next;
    for (; w; w = next) {
        next = w->next;
        size_t b = bufpool__bytes(pool, w->n);
        if (b > max || (w->acct && bufpool__acct_never_fits(w->acct, b)))
            finish(pool, w, -E2BIG, NULL);
    }
    struct bufpool_alloc *spare = bufpool__steal(pool, NULL);
    revoke_held(pool, max, -E2BIG, &spare);
    bufpool__serve(pool, spare);
}

/* Blocked calls in the queue (async waiters not counted). */
size_t bufpool__blocked_queued(struct bufpool *pool)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    size_t count = 0;
    for (struct waitnode *w = pool->qhead; w; w = w->next)
        count += !w->async;
    return count;
}

/*
 * In a child of fork(): only the forking thread lives on.  Every blocked
 * call in the queue belonged to another thread (the forking one was in
 * fork), and every async waiter is the parent's, sharing its eventfd: drop
 * them all and take back what was set aside for them.  The caller held
 * the lock across fork() and made sure no served sleeper was still on its
 * way out (fork.c), so inside counts exactly the queued blocked calls.
 */
void bufpool__forget_others(struct bufpool *pool)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    struct bufpool_alloc *spare = NULL;
    while (pool->qhead) {
        struct waitnode *w = pool->qhead;
        if (!w->async)
            fetch_sub_relaxed(&pool->inside, 1);
        bufpool__dequeue(pool, w);
    }
    while (pool->held)
        bufpool__grant_drop(pool, pool->held, &spare);
    while (pool->watchers) /* the parent's fds: never written here */
        bufpool__watch_unlink(pool, pool->watchers);
    pool->nwake = 0;
    bufpool__serve(pool, spare);
}
