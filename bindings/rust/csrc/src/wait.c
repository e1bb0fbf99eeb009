/*
 * wait.c: how a call waits, on the queue that waitq.c keeps: a blocked
 * call's slow path (register, look, sleep; the spin before it), a
 * release's slow path (serve the queue with what it gave), and async
 * waiters, whose readiness is an eventfd.  The protocol they follow, and
 * why no wakeup is lost, is at the top of waitq.c (rules W1-W11 in
 * docs/design.md).
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

/* Sleep until w is done or end (CLOCK_MONOTONIC ns; UINT64_MAX: none)
 * passes.  0 or -ETIMEDOUT. */
static int wait_node(struct waitnode *w, uint64_t end)
{
    struct timespec ts, *deadline = NULL;
    if (end != UINT64_MAX) {
        ts.tv_sec = (time_t)(end / 1000000000u);
        ts.tv_nsec = (long)(end % 1000000000u);
        deadline = &ts;
    }
    for (int i = 0; i < SPIN_ITERS; i++) {
        /* pairs with the store_release in finish */
        if (load_acquire(&w->state) != WN_WAITING)
            return 0;
        cpu_relax();
    }
    /* pairs with the store_release in finish; the kernel re-checks the
     * word against WN_WAITING under its own lock, so a wake between our
     * load and the syscall makes the syscall return at once. */
    while (load_acquire(&w->state) == WN_WAITING) {
        long r = syscall(SYS_futex, &w->state, FUTEX_WAIT_BITSET_PRIVATE, WN_WAITING,
                         deadline, NULL, FUTEX_BITSET_MATCH_ANY);
        if (r == -1 && errno == ETIMEDOUT)
            return load_acquire(&w->state) == WN_WAITING ? -ETIMEDOUT : 0;
    }
    return 0;
}

/*
 * A short spin before queueing.  In a pipeline the memory a request lacks
 * is usually one release away on another CPU, and a sleep and a wakeup
 * cost more than that release takes.  The spin watches what a release on
 * another thread changes: the depot's chains of length n, and the budget
 * (a free into the arena).  It registers nothing and takes nothing, so it
 * is not part of the wait protocol; whatever it sees, the caller takes the
 * ordinary way, and if that fails it queues as before.  Adaptive, per
 * cache: a spin that saw memory doubles the next one's limit, up to
 * SPIN_MAX pauses, and one that did not halves it, down to a floor.  The
 * floor is SPIN_MIN while the thread may run on more than one CPU: a spin
 * shorter than a releaser takes to fill a depot chain (33 releases) can
 * never succeed, so it would never grow back, and each shortage would
 * become a sleep and a wake (docs/tuning.md).  A thread allowed on one CPU only shares
 * it with whoever would release, so spinning only delays them: its floor
 * is SPIN_MIN_ONE_CPU.  Not in FIFO mode, where a request may not
 * overtake those queued.
 */

/* May the calling thread run on one CPU only?  (False when unknown.) */
static bool one_cpu(void)
{
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) == 1;
}

/* Relaxed loads, hints only: whatever they see, the caller takes the
 * memory the ordinary way, with that path's own orders. */
static bool memory_seen(struct bufpool *pool, size_t n, size_t bytes)
{
    if (n <= FAST_N) {
        for (unsigned i = 0; i < DEPOT_SLOTS; i++)
            if (load_relaxed(&pool->depot[n].slot[i]))
                return true;
    }
    size_t charged = load_relaxed(&pool->charged), dirty = bufpool__arena_dirty(pool->arena);
    size_t used = charged > dirty ? charged - dirty : 0;
    return used <= load_relaxed(&pool->max_memory) - bytes;
}

bool bufpool__spin_for(struct bufpool *pool, struct tcache *tc, size_t n, uint64_t end)
{
    if (pool->flags & BUFPOOL_FIFO)
        return false;
    size_t bytes = bufpool__bytes(pool, n); /* at most max_memory: checked */
    if (!tc->spin_limit) { /* its first spin since it was made or adopted */
        tc->spin_limit = SPIN_MAX / 4;
        tc->spin_min = one_cpu() ? SPIN_MIN_ONE_CPU : SPIN_MIN;
    }
    unsigned limit = tc->spin_limit;
    for (unsigned i = 0; i < limit; i++) {
        if (end != UINT64_MAX && i % 64 == 0 && bufpool__now_ns() >= end)
            return false; /* a timed call: the deadline ends the spin too */
        cpu_relax();
        if (memory_seen(pool, n, bytes)) {
            tc->spin_limit = limit * 2 < SPIN_MAX ? limit * 2 : SPIN_MAX;
            return true;
        }
    }
    tc->spin_limit = limit / 2 > tc->spin_min ? limit / 2 : tc->spin_min;
    return false;
}

/* W1: register the node, then look: take every cache and the depot and
 * serve the queue.  False while the node still waits.  Under pool->lock. */
static bool register_and_look(struct bufpool *pool, struct waitnode *node)
{
    bufpool__enqueue(pool, node);
    bufpool__serve(pool, bufpool__steal(pool, NULL));
    return load_relaxed(&node->state) != WN_WAITING;
}

/* After a look that left the node waiting: its reclaim call, if one may
 * make room (reclaim.c); a blocked request calls again at once while
 * memory came back during its call but went to others (bufpool__reclaim
 * says so), as after a wake that still finds it short.  True: the node is
 * served.  Under the lock. */
static bool reclaimed(struct bufpool *pool, struct waitnode *me, struct call_state *call, bool try)
{
    int r;
    while ((r = bufpool__reclaim(pool, me, call, try)) != RECLAIM_NONE) {
        if (load_relaxed(&me->state) == WN_DONE)
            return true;
        if (!me->queued) /* a try waited for its call out of the queue */
            return register_and_look(pool, me);
        if (r != RECLAIM_AGAIN)
            break;
    }
    return false;
}

/* Back under the lock after a wake: was it a turn for a reclaim call
 * (reclaim.c), with the node still queued and not served?  Then the node
 * waits again. */
static bool turn_taken(struct waitnode *me)
{
    if (load_relaxed(&me->state) != WN_TURN) /* written under the lock */
        return false;
    store_relaxed(&me->state, WN_WAITING);
    return true;
}

/* A turn of r's: the call, if the request still needs r's (a changed
 * limit or a removed callback may have made it another's or none); a
 * turn not used on r goes on to the next request that waits for r. */
static void take_turn(struct bufpool *pool, struct waitnode *me, struct call_state *call)
{
    struct reclaimer *r = me->turn_of;
    me->turn_of = NULL;
    (void)reclaimed(pool, me, call, false);
    if (!r->busy)
        bufpool__pass_turn(pool, r);
}

/* Sleep, the lock dropped, until the node is served or end passes.  A
 * wake for a reclaim turn takes the lock, makes the call, and sleeps
 * again unless it served the node.  True: served (result and grant were
 * stored before the state), the lock not held.  False: timed out, under
 * the lock again, the node out of the queue (or served as it timed
 * out). */
static bool sleep_queued(struct bufpool *pool, struct waitnode *me, uint64_t end,
                         struct call_state *call)
{
    for (;;) {
        bufpool__unlock(pool);
        uint64_t start = bufpool__now_ns();
        int wr = wait_node(me, end);
        fetch_add_relaxed(&pool->total_wait_ns, bufpool__now_ns() - start);
        /* pairs with the store_release in finish */
        if (wr == 0 && load_acquire(&me->state) == WN_DONE) {
            (void)BUFPOOL__HOOK(BUFPOOL__HOOK_WAKE_SERVED, pool);
            return true;
        }
        bufpool__lock(pool);
        if (wr != 0)
            break;
        if (turn_taken(me))
            take_turn(pool, me, call);
        if (load_relaxed(&me->state) == WN_DONE) { /* served under the lock */
            bufpool__unlock(pool);
            return true;
        }
    }
    if (me->queued) {
        bufpool__dequeue(pool, me);
        me->result = -ETIMEDOUT;
        bufpool__serve(pool, NULL); /* those behind a FIFO head that gave up may fit now */
    }
    return false;
}


/*
 * An account's request (account.c) waits here: registered and looked at
 * (W1) like any call, and served as one (serve_one in waitq.c) once it
 * fits its caps and the memory with its credit: told (the caller tries
 * again under the lock) or granted (node->grant, charged to the account).
 * Before it sleeps, its reclaim call (a try's only one: end 0).  Under
 * the lock, which it holds again on return.  0: told or granted,
 * -ETIMEDOUT, -EAGAIN (a try), or the result serve stored (-ECANCELED,
 * -E2BIG).  A request served as it timed out keeps what it was served.
 */
int bufpool__wait_told(struct bufpool *pool, struct waitnode *node, uint64_t end,
                       struct call_state *call)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    node->state = WN_WAITING;
    node->result = 0;
    if (register_and_look(pool, node) || reclaimed(pool, node, call, end == 0))
        return node->result;
    if (end == 0) { /* a try: no sleep */
        if (node->queued)
            bufpool__dequeue(pool, node);
        return -EAGAIN;
    }
    if (sleep_queued(pool, node, end, call))
        bufpool__lock(pool);
    return node->result; /* -ETIMEDOUT if sleep_queued took it out itself */
}

/*
 * How a call leaves acquire_slow, with its result in me and without the
 * lock.  Told (no grant): the call keeps its count in inside and starts
 * over (acquire_search in pool.c).  Otherwise it accounts what it got and
 * drops the count, its last touch of the pool: bufpool_destroy may free the
 * pool as soon as it reads inside at 0 and the counts balanced.
 */
static int slow_leave(struct bufpool *pool, struct tcache *tc, struct waitnode *me, bool *told,
                      struct bufpool_alloc **out)
{
    int r = me->result;
    *told = r == 0 && !me->grant;
    if (*told)
        return 0;
    if (r == 0) {
        *out = me->grant;
        bufpool__account_alloc_watched(pool, tc, me->grant);
        bufpool__sample_peak(pool);
    } else {
        fetch_add_relaxed(&pool->failures, 1);
    }
    bufpool__inside_leave(pool);
    return r;
}

/*
 * Everything the fast path could not do: trim caches, queue, sleep.  The
 * caller has validated the arguments.  Accounts the allocation it returns.
 */
int bufpool__acquire_slow(struct bufpool *pool, struct tcache *tc, size_t n, int kind,
                          uint64_t end, unsigned tells, struct call_state *call, bool *told,
                          struct bufpool_alloc **out)
{
    struct waitnode me = {.n = n, .tells = tells, .brief = kind == ACQ_TRY};

    if (kind != ACQ_TIMED)
        end = UINT64_MAX;
    (void)BUFPOOL__HOOK(BUFPOOL__HOOK_SLOW_ENTER, pool);
    /* FIFO: while this call waits for the lock it is not in the queue yet,
     * and with many threads the wait for the lock is where they spend
     * their time; a thread that never needs the lock would pass them all
     * on its fast path (its own cache, nwait 0).  `arriving` makes it
     * queue too.  Not part of the wakeup protocol: it only sends more
     * requests to this path, so relaxed. */
    bool fifo = load_relaxed(&pool->gate) & GATE_FIFO; /* FIFO or a hand-off */
    if (fifo)
        fetch_add_relaxed(&pool->arriving, 1);
    bufpool__lock(pool);
    if (fifo) /* from here to the enqueue this call holds the lock */
        fetch_sub_relaxed(&pool->arriving, 1);
    if (!tells) /* a told call (tells > 0) is counted already */
        bufpool__inside_enter(pool);
    /* Again under the lock: a shrink since the caller's check fails only
     * requests already queued (bufpool__fail_impossible). */
    if (bufpool__bytes(pool, n) > load_relaxed(&pool->max_memory)) {
        me.result = -E2BIG;
        goto out;
    }
    if (load_relaxed(&pool->shut)) {
        me.result = -ECANCELED;
        goto out;
    }
    if (kind == ACQ_TRY && bufpool__line_ahead(pool, 0)) {
        me.result = -EAGAIN;
        goto out;
    }
    if (!(pool->flags & BUFPOOL_FIFO) && kind != ACQ_TRY)
        me.clock = bufpool__now_ns(); /* its starvation clock (starving_now) */
    if (!register_and_look(pool, &me)) {
        if (kind != ACQ_TRY && !call->waited) { /* a told call that queues again is still one request */
            call->waited = true;
            pool->total_waits++;
        }
        if (reclaimed(pool, &me, call, kind == ACQ_TRY))
            goto out;
        if (kind == ACQ_TRY) {
            if (me.queued) /* not if served as the call ended */
                bufpool__dequeue(pool, &me);
            me.result = -EAGAIN;
            goto out;
        }
        if (sleep_queued(pool, &me, end, call))
            return slow_leave(pool, tc, &me, told, out);
    }
out:
    bufpool__unlock(pool);
    return slow_leave(pool, tc, &me, told, out);
}

/*
 * Serve the queue after a give (W2): with the giver's own cache (every
 * other push since the waiters took all caches was followed by its
 * pusher's own look, so its own is enough), the depot and `a`, after
 * counting a release of n buffers (0: none).  Counted under the lock, so
 * a destroyer cannot see the pool idle before this call is done with it.
 */
static void serve_after_give(struct bufpool *pool, struct tcache *tc, struct bufpool_alloc *a,
                             size_t n)
{
    bufpool__lock(pool);
    pool->gives++;
    struct bufpool_alloc *spare = bufpool__steal(pool, tc);
    if (n) {
        bufpool__watch_counted_locked(pool, -(int64_t)n);
        bufpool__account_free(pool, tc, n);
    }
    if (a) {
        store_relaxed(&a->next, spare);
        spare = a;
    }
    bufpool__serve(pool, spare);
    bufpool__over_end(pool); /* back within a shrunk budget: releases may cache */
    if (pool->destroying)
        pthread_cond_broadcast(&pool->idle);
    bufpool__unlock(pool);
}

void bufpool__release_pushed(struct bufpool *pool, struct tcache *tc, size_t n)
{
    serve_after_give(pool, tc, NULL, n);
}

void bufpool__release_to_queue(struct bufpool *pool, struct tcache *tc, struct bufpool_alloc *a)
{
    serve_after_give(pool, tc, a, a->n);
}

void bufpool__gave(struct bufpool *pool, struct tcache *tc)
{
    serve_after_give(pool, tc, NULL, 0);
}

/*
 * Serve after a give of room under a cap or a reservation (an account's
 * uncharge, a reservation that shrank, a grant dropped), with `spare` and
 * the depot.  A request that waits on its caps may fit now with memory
 * cached since it looked (W1): every push since then was followed by its
 * pusher's look (W2), and so was every refill that hid depot memory in a
 * bin; those looks could not serve it then, and left the memory in the
 * depot, where this look finds it.  Under the lock.
 */
void bufpool__serve_uncharged(struct bufpool *pool, struct bufpool_alloc *spare)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    pool->gives++;
    bufpool__serve(pool, bufpool__depot_take(pool, spare));
    bufpool__over_end(pool); /* the account's releases may cache again */
}

struct bufpool_alloc *bufpool__steal_under(struct bufpool *pool, struct bufpool_account *top)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    pool->flush_under = top;
    struct bufpool_alloc *got = bufpool__steal(pool, NULL);
    pool->flush_under = NULL;
    return got;
}

/*
 * One attempt under the lock: the caps and the credit (account.h), then
 * the memory: this thread's cache, the depot and the arena, with the
 * credit (bufpool__take); failing that, every thread's cache (a steal:
 * memory cached anywhere is free for a request that fits its caps, which
 * the work-conserving rule asks of a try too).  0 and *out,
 * -EAGAIN, -ENOMEM.
 */
int bufpool__acct_take_locked(struct bufpool *pool, struct tcache *tc, struct bufpool_account *a, size_t n,
                       struct bufpool_alloc **out)
{
    size_t b = bufpool__bytes(pool, n), credit;
    if (!bufpool__acct_admit(a, b, &credit)) {
        /* Its caps count the memory account caches hold: take back those
         * of its top-level account's subtree, the only ones a cap on its
         * path counts (a steal, with its handshake), and ask again, so
         * that a try within the caps does not fail on cached memory. */
        struct bufpool_account *top = a;
        while (top->parent)
            top = top->parent;
        bool cached = false;
        /* load_acquire: pairs with tcache_attach's store_release */
        for (struct tcache *c = load_acquire(&pool->tcaches); c && !cached; c = c->next)
            for (struct bufpool_account *p = c->acct; p && !cached; p = p->parent)
                cached = p == top; /* tc->acct changes only under the lock */
        if (!cached)
            return -EAGAIN;
        bufpool__serve(pool, bufpool__steal_under(pool, top));
        if (!bufpool__acct_admit(a, b, &credit))
            return -EAGAIN;
    }
    /* In line (FIFO, a hand-off): memory beyond its reservation waits its
     * turn; within it, a request goes whoever waits. */
    if (credit < b && bufpool__line_ahead(pool, a->priority))
        return -EAGAIN;
    int r = 0;
    if (tc && (*out = bufpool__bin_pop(tc, n))) { /* its own cache: committed already */
        bufpool__commit_credit(pool, credit);
    } else {
        struct bufpool_alloc *spare = NULL;
        r = bufpool__take(pool, tc, n, credit, &spare, out);
        if (r == -EAGAIN) {
            /* every cache, and the account caches of its subtree: they
             * may hold its memory in other lengths (a try must not fail
             * on it); other accounts' are taken when above their
             * reservations (acct_wanted in cache.c) */
            spare = bufpool__steal_under(pool, a);
            /* the caches it uncharged may have reopened a's reservation:
             * the credit as it is now (the caps only loosen) */
            if (bufpool__acct_admit(a, b, &credit))
                r = bufpool__take(pool, tc, n, credit, &spare, out);
        }
        /* charged before what is left (and what a failed take gave the
         * arena) serves others: a give under the lock (W2), whose grants
         * must see this charge, or two requests use one credit */
        if (r == 0)
            bufpool__acct_grant(pool, a, *out);
        bufpool__serve(pool, spare);
        return r;
    }
    bufpool__acct_grant(pool, a, *out);
    return 0;
}

/* ---- async waiters ---------------------------------------------------- */

/* The common part of the creates: an eventfd when fn is NULL (fd -1
 * otherwise), fn and arg for a callback waiter. */
int bufpool__waiter_new(bufpool *pool, bufpool_waiter_fn fn, void *arg, bufpool_waiter **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!pool)
        return -EINVAL;
    bufpool__check_pool(pool, "bufpool_waiter_create");
    bufpool_waiter *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->fd = -1;
    if (!fn && (w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        int err = -errno;
        free(w);
        return err;
    }
    w->fn = fn;
    w->arg = arg;
    w->pool = pool;
    w->gen = bufpool__fork_gen;
    w->node.async = w;
    *out = w;
    return 0;
}

BUFPOOL__API int bufpool_waiter_create(bufpool *pool, bufpool_waiter **out)
{
    return bufpool__waiter_new(pool, NULL, NULL, out);
}

BUFPOOL__API int bufpool_waiter_create_callback(bufpool *pool, bufpool_waiter_fn fn, void *arg,
                                                bufpool_waiter **out)
{
    if (!fn) {
        if (out)
            *out = NULL;
        return -EINVAL;
    }
    return bufpool__waiter_new(pool, fn, arg, out);
}

BUFPOOL__API int bufpool_waiter_fd(const bufpool_waiter *w)
{
    return w && w->fd >= 0 ? w->fd : -EINVAL;
}

/* Give back what a finished node holds and forget its outcome.  Under the
 * lock. */
static void node_reset(struct bufpool *pool, struct waitnode *w)
{
    if (w->queued)
        bufpool__dequeue(pool, w);
    struct bufpool_alloc *spare = NULL;
    bufpool__grant_drop(pool, w, &spare);
    /* Serve even without a grant: in FIFO those behind us may fit now,
     * and in the default mode memory promised to us (would_fit) was held
     * back from the waiters behind us; a grant dropped was an uncharge. */
    bufpool__serve_uncharged(pool, spare);
    w->result = 0;
    store_relaxed(&w->state, WN_WAITING);
}

/* What an async waiter's previous request left, as its next call finds it. */
enum leftover {
    LEFT_GRANT,   /* memory set aside for this n: *out has it */
    LEFT_FAILED,  /* the request for this n failed: r says why */
    LEFT_PENDING, /* FIFO: the request for this n still waits its turn */
    LEFT_NONE,    /* nothing to collect: try afresh (*retry: the same request, told) */
};

/* Collect what the previous request left (the node, reset unless it
 * still waits).  Under pool->lock, after the fd was drained (W9). */
static enum leftover waiter_collect(struct bufpool *pool, struct waitnode *node, size_t n,
                                    int *r, bool *retry, struct bufpool_alloc **out)
{
    bool fifo = pool->flags & BUFPOOL_FIFO;
    /* pairs with the store_release in finish */
    if (load_acquire(&node->state) == WN_DONE) {
        if (node->result == 0 && node->grant && node->grant->n == n) {
            *out = bufpool__grant_take(pool, node);
            store_relaxed(&node->state, WN_WAITING);
            return LEFT_GRANT;
        }
        *r = node->result;
        /* A failure answers the request it was for, not a new length; an
         * -E2BIG from a shrink that has been undone since (n fits, as
         * checked before) is stale: try afresh.  Told (the default mode)
         * and asking for the same n: the request that waited goes on, its
         * wait counted already. */
        bool failed = *r != 0 && *r != -E2BIG && node->grant == NULL && node->n == n;
        *retry = *r == 0 && node->grant == NULL && node->n == n;
        node_reset(pool, node);
        return failed ? LEFT_FAILED : LEFT_NONE;
    }
    if (node->queued && node->n == n) {
        if (fifo)
            return LEFT_PENDING; /* still waiting for its turn */
        *retry = true; /* a retry of the same wait */
    }
    if (node->queued)
        node_reset(pool, node);
    return LEFT_NONE;
}

/*
 * A fresh try: take it now if the queue allows, else register and look
 * (W1), as a blocked call does, and make its reclaim call (once, the lock
 * dropped meanwhile: a node served then is collected as one served at
 * the look); told (the default mode), the next round takes it unless a
 * racing allocation gets there first.  0 and *out,
 * -EAGAIN pending (the fd turns readable when served), or a failure.
 * Under pool->lock.
 */
static int waiter_try(bufpool_waiter *w, struct tcache *tc, size_t n, bool retry,
                      struct bufpool_alloc **out)
{
    struct call_state call = {0}; /* its reclaim call: once */
    struct bufpool *pool = w->pool;
    struct waitnode *node = &w->node;
    for (int round = 0; round < 3; round++) {
        if (w->acct) { /* its caps and credit, then the memory */
            int r = bufpool__acct_take_locked(pool, tc, w->acct, n, out);
            if (r != -EAGAIN)
                return r;
        } else if (!bufpool__line_ahead(pool, 0)) { /* may it overtake? */
            struct bufpool_alloc *h = tc ? bufpool__bin_pop(tc, n) : NULL;
            if (!h) {
                struct bufpool_alloc *spare = bufpool__steal(pool, NULL);
                int r = bufpool__take(pool, tc, n, 0, &spare, &h);
                bufpool__serve(pool, spare);
                if (r == -ENOMEM)
                    return r;
            }
            if (h) {
                *out = h;
                return 0;
            }
        }
        node->n = n;
        if (!register_and_look(pool, node) && !reclaimed(pool, node, &call, true)) {
            if (!retry) {
                pool->total_waits++;
                bufpool__acct_count(w->acct, 1, 0, 0);
            }
            return -EAGAIN;
        }
        bufpool__waiter_drain(pool, w);
        int r = node->result;
        if (r == 0 && node->grant)
            *out = bufpool__grant_take(pool, node);
        store_relaxed(&node->state, WN_WAITING);
        if (r != 0 || *out)
            return r;
    }
    bufpool__waiter_signal(pool, w); /* it fitted at the last look: let the loop retry */
    return -EAGAIN;
}

/*
 * Under the lock, so no shrink slips between this check and a queue
 * entry.  -E2BIG comes before -ECANCELED, as in the other calls.  For the
 * pending n it is the budget that shrank: that ends the pending request
 * and gives back what was set aside for it.  For another n the call is
 * invalid in itself and leaves the waiter as it was.
 */
static int waiter_check_locked(bufpool_waiter *w, size_t n)
{
    struct bufpool *pool = w->pool;
    struct waitnode *node = &w->node;
    if (n > (SIZE_MAX >> pool->shift) || bufpool__bytes(pool, n) > load_relaxed(&pool->max_memory) ||
        (w->acct && bufpool__acct_never_fits(w->acct, bufpool__bytes(pool, n)))) {
        if (node->n == n && (node->queued || load_relaxed(&node->state) == WN_DONE)) {
            node_reset(pool, node);
            bufpool__waiter_drain(pool, w);
        }
        return -E2BIG;
    }
    bufpool__waiter_drain(pool, w);
    if (load_relaxed(&pool->shut)) {
        node_reset(pool, node);
        return -ECANCELED;
    }
    return 0;
}

/*
 * One try for an async waiter.  Under the lock, so it is ordered against
 * every server: readiness is reset first (the fd is drained, W9), then the
 * state is read, so a grant made after the drain leaves the fd readable.
 */
BUFPOOL__API int bufpool_waiter_allocate(bufpool_waiter *w, size_t n, bufpool_alloc **out)
{
    if (out)
        *out = NULL;
    if (!w)
        return -EINVAL;
    struct bufpool *pool = w->pool;
    bufpool__check_pool(pool, "bufpool_waiter_allocate");
    int r = -EINVAL;
    if (n == 0 || !out)
        goto fail;
    r = -EBADF; /* inherited across fork(): its fd is the parent's too */
    if (w->gen != bufpool__fork_gen)
        goto fail;
    r = -EDEADLK; /* from a reclaim callback of this pool */
    if (bufpool__reclaim_refuses(pool))
        goto fail;
    struct tcache *tc = bufpool__tcache_get(pool, pool->id);
    bool retry = false;
    bufpool__lock(pool);
    if ((r = waiter_check_locked(w, n)) == 0) {
        switch (waiter_collect(pool, &w->node, n, &r, &retry, out)) {
        case LEFT_GRANT: r = 0; break;
        case LEFT_FAILED: break;
        case LEFT_PENDING: r = -EAGAIN; break;
        case LEFT_NONE: r = waiter_try(w, tc, n, retry, out); break;
        }
    }
    if (r == 0) {
        store_relaxed(&(*out)->refs, 1);
        bufpool__watch_counted_locked(pool, (int64_t)n);
        bufpool__account_alloc(pool, tc, *out);
    } else if (r != -EAGAIN) { /* pending is no failure of its account */
        bufpool__acct_count(w->acct, 0, 0, 1);
    }
    if (tc) /* leaks.c: the sample, if this call is it (no fast path counted it) */
        bufpool__sample_after(tc, false, r, *out, __builtin_return_address(0));
    bufpool__unlock(pool);
    if (r == 0) {
        bufpool__sample_peak(pool);
        return 0;
    }
fail:
    fetch_add_relaxed(&pool->failures, 1);
    return r;
}

BUFPOOL__API void bufpool_waiter_cancel(bufpool_waiter *w)
{
    /* An inherited waiter was detached in the child (fork.c); draining its
     * fd would steal the parent's readiness. */
    if (!w || w->gen != bufpool__fork_gen)
        return;
    bufpool__lock(w->pool);
    bufpool__watch_unlink(w->pool, w);
    node_reset(w->pool, &w->node);
    bufpool__waiter_drain(w->pool, w);
    bufpool__unlock(w->pool);
}

BUFPOOL__API void bufpool_waiter_destroy(bufpool_waiter *w)
{
    if (!w)
        return;
    bufpool_waiter_cancel(w);
    if (w->acct) { /* inherited across fork() too: the child's copy counts it */
        bufpool__lock(w->pool);
        w->acct->nwaiters--; /* its account may go once none is left (account.c) */
        bufpool__unlock_plain(w->pool);
    }
    if (w->fd >= 0)
        close(w->fd);
    /* After the cancel nothing signals w again.  Inherited across fork(),
     * its calls ran in the parent's threads, which the child lacks. */
    if (w->fn && w->gen == bufpool__fork_gen && bufpool__waiter_quiesce(w)) {
        w->orphaned = true; /* destroyed from inside fn: its last call frees it */
        return;
    }
    free(w);
}
