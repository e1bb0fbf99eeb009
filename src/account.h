/*
 * account.h: the accounts' admission arithmetic (docs/accounts.md), inline
 * so that the wait queue (waitq.c) can ask it below account.c.  Under
 * pool->lock; pure reads of the tree.
 */
#ifndef BUFPOOL_ACCOUNT_H
#define BUFPOOL_ACCOUNT_H

#include "internal.h"

static inline size_t bufpool__max2(size_t a, size_t b)
{
    return a > b ? a : b;
}

/*
 * May account a take b more bytes under every max on its path, and how
 * much of the reservations would that use (*credit: the drop of the top
 * level's unused, docs/accounts.md)?  A cap counts the unused
 * reservations of the other descendants below it: a's own request never
 * takes its children's, and a sibling's never takes a's.
 */
static inline bool bufpool__acct_admit(const struct bufpool_account *a, size_t b, size_t *credit)
{
    size_t others = a->kids_unused, old = a->unused, now;
    size_t use = a->use + b;
    if (use + others < use || use + others > a->max)
        return false;
    now = a->eff > use ? a->eff - use : 0;
    now = now > a->kids_unused ? now : a->kids_unused;
    for (const struct bufpool_account *p = a->parent; p; p = p->parent) {
        size_t kids = p->kids_unused - old + now; /* with the child's new unused */
        use = p->use + b;
        others = p->kids_unused - old;           /* the other children's */
        if (use + others < use || use + others > p->max)
            return false;
        old = p->unused;
        now = p->eff > use ? p->eff - use : 0;
        now = now > kids ? now : kids;
    }
    *credit = old - now;
    return true;
}

/* Over max by how much (0: within), saturating. */
static inline size_t bufpool__over_max(size_t use, size_t others, size_t max)
{
    size_t sum = use + others < use ? SIZE_MAX : use + others;
    return sum > max ? sum - max : 0;
}

/*
 * Whose reclaim callback may make room for b more bytes through a, when
 * a max on its path holds them back (reclaim.c): the nearest account
 * whose max binds and that has a callback, with the bytes it lacks
 * (*lack).  *bound: some max binds (then the pool's memory is not what a
 * request waits for).  The arithmetic of bufpool__acct_admit.
 */
static inline struct bufpool_account *bufpool__acct_bound(struct bufpool_account *a, size_t b,
                                                          size_t *lack, bool *bound)
{
    size_t old = a->unused, now, over = bufpool__over_max(a->use + b, a->kids_unused, a->max);
    struct bufpool_account *found = NULL;
    *bound = over != 0;
    if (over && a->reclaim.fn) {
        found = a;
        *lack = over;
    }
    now = a->eff > a->use + b ? a->eff - a->use - b : 0;
    now = now > a->kids_unused ? now : a->kids_unused;
    for (struct bufpool_account *p = a->parent; p; p = p->parent) {
        size_t kids = p->kids_unused - old + now, use = p->use + b;
        over = bufpool__over_max(use, p->kids_unused - old, p->max);
        *bound |= over != 0;
        if (over && p->reclaim.fn && !found) {
            found = p;
            *lack = over;
        }
        old = p->unused;
        now = p->eff > use ? p->eff - use : 0;
        now = now > kids ? now : kids;
    }
    return found;
}

/* Does b exceed a max on a's path (a request that can never fit)? */
static inline bool bufpool__acct_never_fits(const struct bufpool_account *a, size_t b)
{
    for (; a; a = a->parent)
        if (b > a->max)
            return true;
    return false;
}

/* Recompute a's eff and unused from its own fields, and carry the changes
 * up to the pool's sums (size_t arithmetic wraps, so a decrease adds its
 * two's complement).  Under the lock.  Returns how much pool->reserve
 * moved (wrapped), for the caller to move committed by. */
static inline size_t bufpool__acct_refresh_up(struct bufpool *pool, struct bufpool_account *a)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    for (;;) {
        size_t old_eff = a->eff, old_unused = a->unused;
        a->eff = bufpool__max2(a->min, a->kids_eff);
        a->unused = bufpool__max2(a->eff > a->use ? a->eff - a->use : 0, a->kids_unused);
        struct bufpool_account *p = a->parent;
        if (!p) {
            pool->reserved += a->eff - old_eff;
            pool->reserve += a->unused - old_unused;
            return a->unused - old_unused;
        }
        p->kids_eff += a->eff - old_eff;
        p->kids_unused += a->unused - old_unused;
        a = p;
    }
}

/* Charge b bytes (one allocation more) to a and its ancestors.  The
 * reservations they use came off committed with the carve's credit, so
 * the reserve's move is not applied again. */
static inline void bufpool__acct_charge_path(struct bufpool *pool, struct bufpool_account *a, size_t b)
{
    for (struct bufpool_account *p = a; p; p = p->parent) {
        p->use += b;
        p->live++;
        p->total_allocations++;
        if (p->use > p->peak)
            p->peak = p->use;
    }
    (void)bufpool__acct_refresh_up(pool, a);
}

/* Give b bytes and `live` allocations back from a's path (live wraps for
 * a negative delta, as the account caches' counts do).  Under the lock.
 * Returns what that reopens of the reservations, as refresh_up. */
static inline size_t bufpool__acct_uncharge(struct bufpool *pool, struct bufpool_account *a, size_t b,
                                            size_t live)
{
    for (struct bufpool_account *p = a; p; p = p->parent) {
        p->use -= b;
        p->live -= live;
    }
    return bufpool__acct_refresh_up(pool, a);
}

/* Uncharged memory (list) whose uncharge reopened `reopened` bytes of the
 * reservations: that much must leave committed's carved part, so the list
 * goes to the arena and committed grows by reopened (net: never up); with
 * nothing reopened the list stays, as spares.  Under the lock.  Returns
 * what is left to serve with. */
static inline struct bufpool_alloc *bufpool__acct_settle(struct bufpool *pool, struct bufpool_alloc *list,
                                                         size_t reopened)
{
    if (!reopened)
        return list;
    bufpool__free_list(pool, list);
    /* seq_cst: pairs with commit_try's CAS (block.c), as reserve_moved */
    fetch_add_seqcst(&pool->committed, reopened);
    return NULL;
}

/* h, just taken with a's credit, is a's: charged to its path, its release
 * sent to the full path (bin 0, pool.c).  Under the lock. */
static inline void bufpool__acct_grant(struct bufpool *pool, struct bufpool_account *a, struct bufpool_alloc *h)
{
    store_relaxed(&h->next, NULL);
    store_relaxed(&h->refs, 1);
    h->acct = a;
    h->bin = 0;
    bufpool__acct_charge_path(pool, a, bufpool__bytes(pool, h->n));
    bufpool__watch_acct_changed(pool, a);
}

/* Count on a's path: requests that waited, the time they waited, and
 * requests that failed.  Under the lock. */
static inline void bufpool__acct_count(struct bufpool_account *a, uint64_t waits, uint64_t wait_ns,
                                       uint64_t failures)
{
    for (; a; a = a->parent) {
        a->total_waits += waits;
        a->total_wait_ns += wait_ns;
        a->total_failures += failures;
    }
}

/* An account's request entered (+1) or left (-1, wrapped) the queue:
 * `waiters` of its path counts it, and each account's stall runs while
 * its count is not 0.  Under the lock. */
static inline void bufpool__acct_queued(struct bufpool_account *a, size_t d, uint64_t *now)
{
    for (; a; a = a->parent) {
        if (d == 1 && a->waiters == 0)
            a->stall_since = bufpool__now_once(now);
        else if (d != 1 && a->waiters == 1)
            a->stall_ns += bufpool__now_once(now) - a->stall_since;
        a->waiters += d;
    }
}

#endif /* BUFPOOL_ACCOUNT_H */
