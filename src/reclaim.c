/*
 * reclaim.c: reclaim callbacks (bufpool_set_reclaim, and an account's).
 * A request that is short calls its callback before it sleeps, outside
 * every lock of the pool, with the bytes it lacks, so that the application
 * can release memory (evict, spill) instead of waiting for someone else
 * to.  docs/pressure.md has the rules and why they are these.
 *
 * Why no wakeup is lost.  The call runs between the request's register
 * and look (W1) and its sleep, with its node queued and the lock dropped:
 * exactly the window in which any other thread may release and serve
 * (W2).  A release made by the callback itself is such a release; it
 * serves the queue, this node included, and the sleep that follows
 * returns at once for a node served meanwhile (its state is not
 * WN_WAITING).  So the protocol is the one tests/model/waitq.pml checks,
 * with a longer window; nothing in it depends on the window's length.
 *
 * One call per reclaimer at a time: `busy`, under the lock.  A blocked
 * request that finds it busy sleeps with turn_of set; the call's end
 * passes the turn to the first such node still queued (WN_TURN, a wake
 * like a grant's, W5; bufpool__pass_turn in waitq.c), which calls its own
 * if it is still short.  Busy, turn_of and the pass are all under the
 * lock, so a skipper is either seen by the pass or finds busy clear; and
 * a node that leaves the queue with its turn untaken (served, timed out)
 * passes it on, so no turn is lost either.
 *
 * A try waits for its call out of the queue (it will leave without
 * waiting, and a request queued behind it would be left unserved: FIFO's
 * serve stops at the head, a tell it does not use holds others back), and
 * looks anew after it.  Model: tests/model/waitq.pml -DRECLAIM, suites
 * reclaim-default and reclaim-fifo; rule W13 in docs/design.md.
 */
#include "cache.h"
#include "account.h"

#include <stdlib.h>

/* The reclaim calls running on this thread, innermost first: an allocate
 * on one of their pools refuses (-EDEADLK).  initial-exec, as bufpool__tl. */
struct frame {
    struct bufpool *pool;
    struct reclaimer *r;
    struct frame *up;
};
static __thread struct frame *frames __attribute__((tls_model("initial-exec")));

/*
 * Is the calling thread inside a reclaim call of pool?  Then an allocate
 * on it refuses.  The fast paths cannot ask (that would cost every
 * roundtrip a load): the call set this thread's sample countdown to 1
 * (run below), so every allocation on pool reaches a full path, which
 * asks; it sets the countdown back to 1, which the fast path's decrement
 * brought to 0.
 */
bool bufpool__reclaim_refuses(struct bufpool *pool)
{
    for (struct frame *f = frames; f; f = f->up) {
        if (f->pool != pool)
            continue;
        for (int i = 0; i < TL_SLOTS; i++)
            if (bufpool__tl[i].id == pool->id && bufpool__tl[i].tc->sample_left == 0)
                bufpool__tl[i].tc->sample_left = 1;
        return true;
    }
    return false;
}

/* Is r's call running on this thread (a set from inside the callback)? */
static bool running_here(const struct reclaimer *r)
{
    for (struct frame *f = frames; f; f = f->up)
        if (f->r == r)
            return true;
    return false;
}

static size_t over(size_t need, size_t add, size_t max)
{
    size_t sum = need + add < need ? SIZE_MAX : need + add;
    return sum > max ? sum - max : 0;
}

/*
 * The bytes the pool lacks for w, with `credit` of a reservation: what
 * its in-use memory and its commitments (reservations included) exceed
 * the budget by once w's bytes are added, and in line (FIFO, a hand-off)
 * the bytes of the requests ahead of it too.  Memory the arena has but
 * cannot give as one run (REGION mode's fragments) is not counted: then
 * the lack is the request's size.  Under the lock.
 */
static size_t pool_lack(struct bufpool *pool, const struct waitnode *w, size_t credit)
{
    size_t b = bufpool__bytes(pool, w->n), ahead = 0, c;
    if ((pool->flags & BUFPOOL_FIFO) || pool->starving)
        for (const struct waitnode *q = pool->qhead; q && q != w; q = q->next)
            if (!q->acct || bufpool__acct_admit(q->acct, bufpool__bytes(pool, q->n), &c))
                ahead += bufpool__bytes(pool, q->n);
    size_t charged = load_relaxed(&pool->charged), dirty = bufpool__arena_dirty(pool->arena);
    size_t used = charged > dirty ? charged - dirty : 0, max = load_relaxed(&pool->max_memory);
    size_t lack = over(used + ahead < used ? SIZE_MAX : used + ahead, b, max);
    size_t lack_c = over(load_relaxed(&pool->committed) + ahead, b - credit, max);
    lack = lack > lack_c ? lack : lack_c;
    return lack ? lack : b;
}

/* Whose callback, with which lack: the nearest account on w's path whose
 * max binds and that has one; if no max binds, the pool's.  NULL: none. */
static struct reclaimer *reclaimer_for(struct bufpool *pool, struct waitnode *w, size_t *lack)
{
    size_t b = bufpool__bytes(pool, w->n), credit = 0;
    if (w->acct) {
        bool bound;
        struct bufpool_account *a = bufpool__acct_bound(w->acct, b, lack, &bound);
        if (bound)
            return a ? &a->reclaim : NULL;
        (void)bufpool__acct_admit(w->acct, b, &credit); /* admitted: no max binds */
    }
    if (!pool->reclaim.fn)
        return NULL;
    *lack = pool_lack(pool, w, credit);
    return &pool->reclaim;
}

/* Run r's callback with the lock dropped, as a frame of this thread, its
 * allocations on pool refused (bufpool__reclaim_refuses).  Under the lock
 * before and after. */
static size_t run(struct bufpool *pool, struct reclaimer *r, size_t lack)
{
    bufpool_reclaim_fn fn = r->fn;
    void *arg = r->arg;
    struct tcache *tc = NULL;
    for (int i = 0; i < TL_SLOTS && !tc; i++)
        if (bufpool__tl[i].id == pool->id)
            tc = bufpool__tl[i].tc;
    uint64_t left = tc ? tc->sample_left : 0;
    if (tc)
        tc->sample_left = 1; /* its allocations on pool take a full path */
    struct frame f = {.pool = pool, .r = r, .up = frames};
    frames = &f;
    bufpool__unlock(pool);
    size_t got = fn(arg, lack);
    bufpool__lock(pool);
    frames = f.up;
    if (tc)
        tc->sample_left = left;
    return got;
}

/* Would a try's request w call a reclaim callback now?  (An account's try
 * asks before it queues.)  Under the lock. */
bool bufpool__reclaim_ready(struct bufpool *pool, struct waitnode *w, const struct call_state *call)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    size_t lack;
    struct reclaimer *r;
    return !call->reclaim_done && !load_relaxed(&pool->shut) &&
           (r = reclaimer_for(pool, w, &lack)) && !r->busy;
}

/*
 * Before w sleeps (w queued, looked at, not served): call the reclaim
 * callback that may make room for it, unless this call had its last one
 * (call->reclaim_done), the pool is shut down, or there is none.  One
 * that is busy: a blocked request waits for its turn (turn_of), a try or
 * an async request answers as it is.  A try calls once.  RECLAIM_NONE: no
 * call; RECLAIM_RAN: a call ran (w may be served now; a try's w is out
 * of the queue, for the caller's new look); RECLAIM_AGAIN: and
 * it returned nonzero while memory came back (pool->gives moved), so a
 * request still short lost that memory to others and may call again
 * without a sleep, which no release would end (the application's cache
 * holds what could be evicted).  Each AGAIN needs a give during the call,
 * so the calls stop when nothing comes back.  Under the lock, dropped
 * during the call.
 */
int bufpool__reclaim(struct bufpool *pool, struct waitnode *w, struct call_state *call, bool try)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    size_t lack;
    struct reclaimer *r;
    if (call->reclaim_done || load_relaxed(&pool->shut) || !(r = reclaimer_for(pool, w, &lack)))
        return RECLAIM_NONE;
    if (r->busy) {
        if (!try && !w->async)
            w->turn_of = r;
        return RECLAIM_NONE;
    }
    r->busy = true;
    call->reclaim_done = try || w->async;
    /* A try waits for its call out of the queue: nobody may queue behind
     * a request that will leave without waiting, or a serve that stopped
     * at it (FIFO's line, a tell it will not use) would leave them
     * unserved.  Its look after the call is a new register and look
     * (wait.c).  It counts as waiting meanwhile. */
    bool out = try && !w->async && w->queued;
    if (out) {
        bufpool__dequeue(pool, w);
        bufpool__stall_add(pool, 1);
    }
    uint64_t gives = pool->gives;
    if (run(pool, r, lack) == 0)
        call->reclaim_done = true;
    if (out)
        bufpool__stall_add(pool, (size_t)-1);
    r->busy = false;
    bufpool__pass_turn(pool, r);
    pthread_cond_broadcast(&pool->idle); /* a set waits for the call's end */
    return !call->reclaim_done && pool->gives != gives ? RECLAIM_AGAIN : RECLAIM_RAN;
}

/* Set r's callback (bufpool_set_reclaim, bufpool_account_set_reclaim):
 * after a running call of the old one ends, unless this thread runs it. */
void bufpool__reclaim_set_locked(struct bufpool *pool, struct reclaimer *r, bufpool_reclaim_fn fn,
                                 void *arg)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    while (r->busy && !running_here(r)) {
        BUFPOOL__SET_HOLDER(pool, 0);
        pthread_cond_wait(&pool->idle, &pool->lock);
        BUFPOOL__SET_HOLDER(pool, BUFPOOL__SELF);
    }
    /* the count is a hint for a try (pool.c): relaxed */
    if (!r->fn != !fn)
        store_relaxed(&pool->reclaimers, load_relaxed(&pool->reclaimers) + (fn ? 1 : -1));
    r->fn = fn;
    r->arg = arg;
}

BUFPOOL__API int bufpool_set_reclaim(bufpool *pool, bufpool_reclaim_fn fn, void *arg)
{
    if (!pool)
        return -EINVAL;
    bufpool__check_pool(pool, "bufpool_set_reclaim");
    bufpool__lock(pool);
    bufpool__reclaim_set_locked(pool, &pool->reclaim, fn, arg);
    bufpool__unlock(pool);
    return 0;
}

static void forget_tree(struct bufpool_account *a)
{
    for (; a; a = a->next) {
        a->reclaim.busy = false;
        forget_tree(a->children);
    }
}

/* In a child of fork(), under the lock: the calls that ran on other
 * threads are gone; this thread's (a fork from inside a callback) go on. */
void bufpool__reclaim_forget(struct bufpool *pool)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    pool->reclaim.busy = false;
    forget_tree(pool->accounts);
    for (struct frame *f = frames; f; f = f->up)
        if (f->pool == pool)
            f->r->busy = true;
}
