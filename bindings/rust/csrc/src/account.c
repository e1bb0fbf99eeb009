/*
 * account.c: accounts, a tree of consumers sharing the pool's budget, each
 * with a reservation (min), a cap (max) and a priority.  docs/accounts.md
 * has the design; this file keeps the tree's arithmetic, under pool->lock.
 *
 * Each account keeps what its subtree reserves, eff = max(min, the sum of
 * its children's eff), and what of that is not in use,
 * unused = max(eff - use, the sum of its children's unused): a child's
 * reservation is carved out of its parent's, and a parent's own share
 * (its min beyond its children's) serves its own requests and its
 * children's beyond their reservations.  The pool keeps the sums over the
 * top level: reserved (it must fit the budget) and reserve (the memory
 * nobody else may take).  Every change of min, use or the tree moves these
 * sums up the path at once (refresh_up), so each is exact under the lock.
 */
#include "cache.h"
#include "account.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>


static size_t round_down(const struct bufpool *pool, size_t bytes)
{
    return bytes >> pool->shift << pool->shift;
}

/* Would a reservation of the subtree below `parent` going from old_eff to
 * new_eff fit every max above it and the budget?  Under the lock. */
static bool fits_up(struct bufpool *pool, struct bufpool_account *parent, size_t old_eff,
                    size_t new_eff)
{
    for (struct bufpool_account *p = parent; p; p = p->parent) {
        size_t eff = bufpool__max2(p->min, p->kids_eff - old_eff + new_eff);
        if (eff > p->max)
            return false;
        old_eff = p->eff;
        new_eff = eff;
    }
    return pool->reserved - old_eff + new_eff <= load_relaxed(&pool->max_memory);
}

/*
 * The reservations moved by delta (wrapped): move committed with them.
 * Less reserved is a give (W2): serve under the lock, where waiters
 * register.  More may take committed over the budget (a reservation made
 * while its memory is in use): the caches go back to the arena at once,
 * and while still over, releases give back (GATE_OVER), so that the
 * reservation fills from releases (docs/accounts.md).  Under the lock.
 */
static void reserve_moved(struct bufpool *pool, size_t delta)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    if (delta == 0)
        return;
    /* seq_cst: pairs with commit_try's CAS (block.c) and, for a decrease,
     * with a waiter's nwait increment before its attempt */
    fetch_add_seqcst(&pool->committed, delta);
    if ((ptrdiff_t)delta < 0) {
        bufpool__serve_uncharged(pool, NULL);
        return;
    }
    if (!bufpool__over_budget(pool))
        return;
    bufpool__free_list(pool, bufpool__steal(pool, NULL));
    if (!pool->over && bufpool__over_budget(pool)) {
        pool->over = true;
        bufpool__gate_update(pool);
    }
}

/* min and max as the tree keeps them: whole buffers, max SIZE_MAX for
 * none.  -EINVAL for a max that rounds to 0 or a min above the max. */
static int limits(const struct bufpool *pool, size_t min_bytes, size_t max_bytes, size_t *min,
                  size_t *max)
{
    *min = round_down(pool, min_bytes);
    *max = max_bytes ? round_down(pool, max_bytes) : SIZE_MAX;
    if (*max == 0 || *min > *max)
        return -EINVAL;
    return 0;
}

static bool account_ok(const struct bufpool_account *a)
{
    return a && a->magic == BUFPOOL__MAGIC_ACCOUNT;
}

static void link_child(struct bufpool *pool, struct bufpool_account *a)
{
    struct bufpool_account **head = a->parent ? &a->parent->children : &pool->accounts;
    a->prev = NULL;
    a->next = *head;
    if (*head)
        (*head)->prev = a;
    *head = a;
}

static void unlink_child(struct bufpool *pool, struct bufpool_account *a)
{
    if (a->prev)
        a->prev->next = a->next;
    else if (a->parent)
        a->parent->children = a->next;
    else
        pool->accounts = a->next;
    if (a->next)
        a->next->prev = a->prev;
}

/* A new account, not yet linked: name copied, limits as given. */
static struct bufpool_account *account_new(struct bufpool *pool, struct bufpool_account *parent,
                                           const bufpool_account_config *cfg, size_t min, size_t max)
{
    struct bufpool_account *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->name = strdup(cfg->name ? cfg->name : "");
    if (!a->name) {
        free(a);
        return NULL;
    }
    a->magic = BUFPOOL__MAGIC_ACCOUNT;
    a->pool = pool;
    a->parent = parent;
    a->priority = cfg->priority;
    a->min = min;
    a->max = max;
    return a;
}

BUFPOOL__API int bufpool_account_create(bufpool *pool, bufpool_account *parent,
                                        const bufpool_account_config *cfg, bufpool_account **out)
{
    if (out)
        *out = NULL;
    if (!pool || !cfg || !out || (parent && (!account_ok(parent) || parent->pool != pool)))
        return -EINVAL;
    bufpool__check_pool(pool, "bufpool_account_create");
    size_t min, max;
    int r = limits(pool, cfg->min_bytes, cfg->max_bytes, &min, &max);
    if (r)
        return r;
    struct bufpool_account *a = account_new(pool, parent, cfg, min, max);
    if (!a)
        return -ENOMEM;
    bufpool__lock(pool);
    if (load_relaxed(&pool->shut))
        r = -ECANCELED;
    else if (!fits_up(pool, parent, 0, min))
        r = -ENOSPC;
    if (r == 0) {
        link_child(pool, a);
        reserve_moved(pool, bufpool__acct_refresh_up(pool, a));
    }
    bufpool__unlock(pool);
    if (r) {
        free(a->name);
        free(a);
        return r;
    }
    *out = a;
    return 0;
}

BUFPOOL__API int bufpool_account_set_limits(bufpool_account *acct, size_t min_bytes, size_t max_bytes)
{
    if (!account_ok(acct))
        return -EINVAL;
    struct bufpool *pool = acct->pool;
    size_t min, max;
    int r = limits(pool, min_bytes, max_bytes, &min, &max);
    if (r)
        return r;
    bufpool__lock(pool);
    size_t eff = bufpool__max2(min, acct->kids_eff);
    if (load_relaxed(&pool->shut))
        r = -ECANCELED;
    else if (eff > max || !fits_up(pool, acct->parent, acct->eff, eff))
        r = -ENOSPC;
    if (r == 0) {
        acct->min = min;
        acct->max = max;
        reserve_moved(pool, bufpool__acct_refresh_up(pool, acct));
        bufpool__fail_impossible(pool); /* requests a lower max leaves no room for */
    }
    bufpool__unlock(pool);
    return r;
}

BUFPOOL__API int bufpool_account_destroy(bufpool_account *acct)
{
    if (!acct)
        return 0;
    if (!account_ok(acct))
        return -EINVAL;
    struct bufpool *pool = acct->pool;
    bufpool__lock(pool);
    /* A thread cache that serves it (its memory, or only the pointer):
     * flushed first, through a steal's handshake, since owners read
     * tc->acct inside their window.  tc->acct changes only under the lock. */
    bool cached = false;
    /* load_acquire: pairs with tcache_attach's store_release */
    for (struct tcache *tc = load_acquire(&pool->tcaches); tc; tc = tc->next)
        cached |= tc->acct == acct;
    if (cached) {
        bufpool__serve(pool, bufpool__steal_under(pool, acct));
    }
    if (acct->live || acct->children || acct->waiters || acct->nwaiters || acct->nwatches) {
        bufpool__unlock(pool); /* the flush above served: its wakes (W5) */
        return -EBUSY;
    }
    bufpool__reclaim_set_locked(pool, &acct->reclaim, NULL, NULL); /* not busy: nobody waits */
    acct->min = 0; /* no children, nothing in use: eff and unused go to 0 */
    reserve_moved(pool, bufpool__acct_refresh_up(pool, acct));
    unlink_child(pool, acct);
    /* its reservation no longer counts against its ancestors' caps, even
     * where the top level's unused did not move: a give (W2) */
    bufpool__serve_uncharged(pool, NULL);
    acct->magic = BUFPOOL__MAGIC_DEAD;
    bufpool__unlock(pool);
    free(acct->name);
    free(acct);
    return 0;
}

BUFPOOL__API void bufpool_account_get_stats(const bufpool_account *acct, bufpool_account_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!account_ok(acct))
        return;
    struct bufpool *pool = acct->pool;
    bufpool__lock(pool);
    out->min_bytes = acct->min;
    out->max_bytes = acct->max == SIZE_MAX ? 0 : acct->max;
    out->peak_in_use_bytes = acct->peak;
    /* what the fast paths handed out or took back since their caches were
     * last stolen: each cache's count, read under the lock (its account
     * changes only under it) */
    size_t live = acct->live, cached = 0;
    uint64_t allocs = acct->total_allocations;
    /* load_acquire: as above, pairs with tcache_attach's store_release */
    for (struct tcache *tc = load_acquire(&pool->tcaches); tc; tc = tc->next)
        for (struct bufpool_account *p = tc->acct; p; p = p->parent)
            if (p == acct) {
                live += (size_t)(load_relaxed(&tc->acct_allocs) - load_relaxed(&tc->acct_frees));
                cached += load_relaxed(&tc->acct_bytes);
                allocs += load_relaxed(&tc->acct_allocs);
            }
    out->live_allocations = live;
    /* use counts the account caches too; in use is what is live (a moment
     * apart from the caches' own counts: never below 0, never above use) */
    out->in_use_bytes = cached < acct->use ? acct->use - cached : 0;
    out->waiters = acct->waiters;
    out->total_allocations = allocs;
    out->total_waits = acct->total_waits;
    out->total_wait_ns = acct->total_wait_ns;
    out->total_failures = acct->total_failures;
    out->stall_ns = bufpool__stall_at(acct->stall_ns, acct->stall_since, acct->waiters, bufpool__now_ns());
    bufpool__unlock_plain(pool);
}

BUFPOOL__API int bufpool_account_set_reclaim(bufpool_account *acct, bufpool_reclaim_fn fn, void *arg)
{
    if (!account_ok(acct))
        return -EINVAL;
    bufpool__lock(acct->pool);
    bufpool__reclaim_set_locked(acct->pool, &acct->reclaim, fn, arg);
    bufpool__unlock(acct->pool);
    return 0;
}

/* The name never changes after create: no lock. */
BUFPOOL__API const char *bufpool_account_name(const bufpool_account *acct)
{
    return account_ok(acct) ? acct->name : NULL;
}

/* Would a budget of max_memory still hold the top-level reservations? */
bool bufpool__accounts_fit_locked(struct bufpool *pool, size_t max_memory)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    return pool->reserved <= max_memory;
}

static void free_tree(struct bufpool_account *a)
{
    while (a) {
        struct bufpool_account *next = a->next;
        free_tree(a->children);
        a->magic = BUFPOOL__MAGIC_DEAD;
        free(a->name);
        free(a);
        a = next;
    }
}

/* Destroy: the accounts left, whatever they hold (their allocations are
 * gone by then). */
void bufpool__accounts_free(struct bufpool *pool)
{
    free_tree(pool->accounts);
    pool->accounts = NULL;
    pool->reserved = pool->reserve = 0;
}

/* ---- allocations through an account ------------------------------------ */

/* Does b exceed a max on a's path or the budget (never fits)? */
static bool never_fits(struct bufpool *pool, const struct bufpool_account *a, size_t b)
{
    return b > load_relaxed(&pool->max_memory) || bufpool__acct_never_fits(a, b);
}

static uint64_t end_of(uint64_t timeout_ns)
{
    if (timeout_ns == BUFPOOL_FOREVER)
        return UINT64_MAX;
    uint64_t now = bufpool__now_ns();
    return timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
}

/* Wait for the request of node (bufpool__wait_told): 0 told or granted,
 * or why not.  Its path's `waiters` count it while queued (waitq.c).
 * Under the lock. */
static int wait_for(struct bufpool *pool, struct waitnode *node, uint64_t end, struct call_state *call)
{
    if (!call->waited) { /* a told request that waits again is still one request */
        call->waited = true;
        bufpool__acct_count(node->acct, 1, 0, 0);
        pool->total_waits++; /* under the lock, as acquire_slow counts */
    }
    uint64_t start = bufpool__now_ns();
    /* its starvation clock (waitq.c); FIFO serves in order already */
    node->clock = pool->flags & BUFPOOL_FIFO ? 0 : start;
    int r = bufpool__wait_told(pool, node, end, call);
    bufpool__acct_count(node->acct, 0, bufpool__now_ns() - start, 0);
    return r;
}

/* A try's one reclaim call (bufpool__wait_told with end 0: no sleep, no
 * wait counted): 0 told or granted, -EAGAIN, or what serve stored. */
static int try_reclaim(struct bufpool *pool, struct waitnode *node, struct call_state *call)
{
    node->brief = true; /* a look; a wait only while its call runs */
    node->clock = 0;
    return bufpool__wait_told(pool, node, 0, call);
}


/* Inside tc's window: pop a's cached allocation of length n and count it
 * (inside: watch.c), close the window, and hand it out. */
static inline __attribute__((always_inline)) bool acct_pop_exit(struct bufpool *pool, struct tcache *tc,
                                                               struct bufpool_account *a, size_t n,
                                                               bufpool_alloc **out)
{
    struct bufpool_alloc *h = tc->acct == a ? tc->acct_head[n] : NULL;
    if (h) {
        tc->acct_head[n] = load_relaxed(&h->next);
        tc->acct_count[n]--;
        store_relaxed(&tc->acct_allocs, load_relaxed(&tc->acct_allocs) + 1); /* owner only */
        store_relaxed(&tc->acct_bytes, load_relaxed(&tc->acct_bytes) - bufpool__bytes(pool, n));
        bufpool__account_alloc(pool, tc, h);
    }
    bufpool__tc_exit(tc);
    if (!h)
        return false;
    store_relaxed(&h->next, NULL);
    store_relaxed(&h->refs, 1);
    *out = h;
    return true;
}

/* May this call use the calling thread's account cache at all? */
static inline __attribute__((always_inline)) bool acct_cache_open(struct bufpool *pool, size_t n)
{
    return n - 1 < FAST_N && bufpool__tl[0].id == pool->id && !(load_relaxed(&pool->gate) & GATE_SHUT);
}

/* The hit again where the fast path's window was closed by a fenced pool
 * (tc_try_enter): the full window fences and goes on, as the plain full
 * path does (cache.h); only a steal at work sends it to the lock. */
static bool acct_hit_fenced(struct bufpool *pool, struct bufpool_account *a, size_t n, bufpool_alloc **out)
{
    if (!acct_cache_open(pool, n))
        return false;
    struct tcache *tc = bufpool__tl[0].tc;
    if (!bufpool__tc_enter_acct(pool, tc)) /* a steal, or frozen by a watch (watch.c) */
        return false;
    (void)BUFPOOL__HOOK(BUFPOOL__HOOK_IN_WINDOW, pool);
    return acct_pop_exit(pool, tc, a, n, out);
}

static __attribute__((noinline)) int account_allocate_full(bufpool_account *acct, size_t n,
                                                           uint64_t timeout_ns, bufpool_alloc **out,
                                                           void *site);

/*
 * The fast path: a hit in this thread's account cache, inside the cache's
 * window (the steal handshake, cache.c), as the plain fast path does.  The
 * memory is charged to the account already, so no shared word is written.
 * It stays open in FIFO and during a hand-off, where the plain fast path
 * closes: memory in an account cache is not the pool's.  While a request
 * on the account's path waits, or the path is above its reservations, the
 * waiter's look takes the cache (acct_wanted in cache.c), and every push
 * that sees nwait serves its own cache at once (W2); so what a hit finds
 * then is memory the waiters may not have: the account's reservation.
 * Only a shutdown closes it.
 */
static inline __attribute__((always_inline)) bool acct_hit(struct bufpool *pool, struct bufpool_account *a,
                                                         size_t n, bufpool_alloc **out)
{
    if (!acct_cache_open(pool, n))
        return false;
    struct tcache *tc = bufpool__tl[0].tc;
    /* counting down to the next sample, as pool.c's fast path does */
    return --tc->sample_left != 0 && bufpool__tc_try_enter(tc) && acct_pop_exit(pool, tc, a, n, out);
}

/* The fast path (acct_hit) apart from the full one, so that a hit saves
 * no registers (as pool.c's acquire). */
BUFPOOL__API int bufpool_account_allocate(bufpool_account *acct, size_t n, uint64_t timeout_ns,
                                          bufpool_alloc **out)
{
    if (likely(out && account_ok(acct) && acct_hit(acct->pool, acct, n, out)))
        return 0;
    return account_allocate_full(acct, n, timeout_ns, out, __builtin_return_address(0));
}

static __attribute__((noinline)) int account_allocate_full(bufpool_account *acct, size_t n,
                                                           uint64_t timeout_ns, bufpool_alloc **out,
                                                           void *site)
{
    if (out)
        *out = NULL;
    if (!account_ok(acct) || !out || n == 0)
        return -EINVAL;
    struct bufpool *pool = acct->pool;
    if (bufpool__reclaim_refuses(pool)) /* from a reclaim callback of this pool */
        return -EDEADLK;
    bool counted = acct_cache_open(pool, n); /* by the fast path (acct_hit) */
    if (acct_hit_fenced(pool, acct, n, out)) {
        bufpool__sample_after(bufpool__tl[0].tc, counted, 0, *out, site);
        return 0;
    }
    struct tcache *tc = bufpool__tcache_get(pool, pool->id);
    uint64_t end = timeout_ns ? end_of(timeout_ns) : 0;
    struct waitnode node = {.n = n, .acct = acct, .priority = acct->priority};
    struct call_state call = {0};
    int r;
    bufpool__lock(pool);
    bufpool__inside_enter(pool);
    for (;;) {
        r = -E2BIG;
        if (n > (SIZE_MAX >> pool->shift) || never_fits(pool, acct, bufpool__bytes(pool, n)))
            break;
        r = -ECANCELED;
        if (load_relaxed(&pool->shut))
            break;
        r = bufpool__acct_take_locked(pool, tc, acct, n, out);
        if (r != -EAGAIN || (timeout_ns == 0 && !bufpool__reclaim_ready(pool, &node, &call)))
            break;
        if (timeout_ns == 0)
            r = try_reclaim(pool, &node, &call);
        else
            r = wait_for(pool, &node, end, &call);
        if (r != 0 || (*out = bufpool__grant_take(pool, &node)))
            break;
        node.tells++; /* told: BUFPOOL__TELLS_MAX bounds the retries (waitq.c) */
    }
    if (r == 0) {
        bufpool__watch_counted_locked(pool, (int64_t)n);
        bufpool__account_alloc(pool, tc, *out);
        if (tc) /* its releases on this thread now fill the account cache */
            bufpool__serve_uncharged(pool, bufpool__tcache_acct_switch(tc, acct));
    }
    if (tc) /* leaks.c: the sample, if this call is it */
        bufpool__sample_after(tc, counted, r, *out, site);
    if (r) {
        bufpool__acct_count(acct, 0, 0, 1);
        fetch_add_relaxed(&pool->failures, 1); /* before inside_leave: W11 */
    }
    bufpool__inside_leave(pool);
    bufpool__unlock(pool);
    if (r == 0) /* the live allocation holds destroy back */
        bufpool__sample_peak(pool);
    return r;
}

/*
 * The last release of an allocation made through an account: uncharge the
 * path; what it reopens of a reservation (e <= b) goes back to committed
 * as the memory goes back to the arena (net -b + e: a release never takes
 * the pool over), else the memory goes to the depot as a spare.  Then
 * serve: a give under the lock (W2).
 */
void bufpool__acct_release(struct bufpool *pool, struct bufpool_alloc *a)
{
    struct tcache *tc = bufpool__tcache_get(pool, pool->id);
    size_t n = a->n, b = bufpool__bytes(pool, n);
    bufpool__lock(pool);
    struct bufpool_account *acct = a->acct;
    a->acct = NULL;
    bufpool__set_length(a, n); /* its bin again */
    size_t reopened = bufpool__acct_uncharge(pool, acct, b, 1);
    bufpool__watch_acct_changed(pool, acct);
    bufpool__watch_counted_locked(pool, -(int64_t)n);
    bufpool__account_free(pool, tc, n);
    store_relaxed(&a->next, NULL);
    bufpool__serve_uncharged(pool, bufpool__acct_settle(pool, a, reopened));
    if (pool->destroying)
        pthread_cond_broadcast(&pool->idle);
    bufpool__unlock(pool);
}

/* The two creates of an account's waiter: an eventfd one (fn NULL) or a
 * callback one, as bufpool__waiter_new makes them. */
static int account_waiter_new(bufpool_account *acct, bufpool_waiter_fn fn, void *arg, bufpool_waiter **out)
{
    if (out)
        *out = NULL;
    if (!account_ok(acct) || !out)
        return -EINVAL;
    struct bufpool *pool = acct->pool;
    bufpool_waiter *w;
    int r = bufpool__waiter_new(pool, fn, arg, &w);
    if (r)
        return r;
    bufpool__lock(pool);
    if (load_relaxed(&pool->shut)) {
        bufpool__unlock_plain(pool);
        bufpool_waiter_destroy(w);
        return -ECANCELED;
    }
    w->acct = w->node.acct = acct;
    w->node.priority = acct->priority;
    acct->nwaiters++;
    bufpool__unlock_plain(pool);
    *out = w;
    return 0;
}

BUFPOOL__API int bufpool_account_waiter_create(bufpool_account *acct, bufpool_waiter **out)
{
    return account_waiter_new(acct, NULL, NULL, out);
}

BUFPOOL__API int bufpool_account_waiter_create_callback(bufpool_account *acct, bufpool_waiter_fn fn, void *arg,
                                                        bufpool_waiter **out)
{
    if (!fn) {
        if (out)
            *out = NULL;
        return -EINVAL;
    }
    return account_waiter_new(acct, fn, arg, out);
}
