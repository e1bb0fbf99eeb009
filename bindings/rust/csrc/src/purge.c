/*
 * purge.c: giving the arena's free resident memory back to the system,
 * without holding a lock across the madvise.  Below arena.c, which purges
 * to make room for a carve and to bring a pool back within a shrunk
 * budget; the types are in arena.h.
 */
#include "arena.h"

#include <sys/mman.h>

/*
 * madvise(MADV_DONTNEED) of resident memory is slow (docs/tuning.md), so
 * no lock is held across it.  A purge takes a range (a "claim") under its
 * chunk's lock: out of the tree, so nobody carves it, and out of the dirty
 * bits, so no other purge takes it; its bytes stay charged.  It drops the
 * lock, madvises, retakes the lock, gives the range back to the tree
 * (clean) and only then uncharges it.  So purged memory is never handed
 * out while its pages are being dropped, and charged never counts it
 * twice nor lets it go before the system has it back: between the two
 * critical sections it is neither free, nor dirty, nor live, and charged
 * still counts it (so would_fit in waitq.c sees it as used).  One claim is
 * at most PURGE_SLICE, so a purge of gigabytes keeps most of the free
 * memory carvable while it runs.
 *
 * a->purging counts the claims in flight.  It moves only under a chunk's
 * lock, so fork.c, holding every chunk's lock, reads a stable value and
 * waits for 0: a claim that a thread absent from the child held would be
 * lost there (out of the tree and charged forever).
 */

/* One claim: units [cu, cv) of chunk c, out of the tree; [u, v) of them
 * were dirty and leave the budget; the pages [lo, hi) go to the system. */
struct claim {
    struct chunk *c;
    size_t cu, cv, u, v, lo, hi;
};

/* Claim the dirty free units [u, v) of chunk c.  Under c's lock.  Only
 * whole pages among them go back to the system; the units on a page that
 * live buffers share stay resident with their page (the budget counts
 * buffers, not pages).  For buffers smaller than a page, the edge pages go
 * too when every other buffer on them is free and clean (purged before, or
 * never used): those units are claimed with the range, so that nobody
 * carves them while their page is dropped, and keep their (clear) dirty
 * bits.  Free dirty units on an edge page (a run spared by this purge, or
 * the rest of a run cut at the slice) keep the page resident. */
static void claim_locked(struct bufpool__arena *a, struct chunk *c, size_t u, size_t v,
                         struct claim *cl)
{
    size_t lo = round_up(u << a->shift, a->page), hi = (v << a->shift) & ~(a->page - 1);
    size_t plo = (u << a->shift) & ~(a->page - 1), phi = round_up(v << a->shift, a->page);
    size_t clen = c->units << a->shift;
    phi = phi < clen ? phi : clen;
    size_t cu = u, cv = v;
    if (plo < lo && bufpool__region_free_locked(c->tree, plo >> a->shift, u - (plo >> a->shift)) &&
        bits_count(c->dirty, plo >> a->shift, u - (plo >> a->shift)) == 0) {
        lo = plo;
        cu = plo >> a->shift;
    }
    if (hi < phi && phi - hi >= a->page &&
        bufpool__region_free_locked(c->tree, v, (phi >> a->shift) - v) &&
        bits_count(c->dirty, v, (phi >> a->shift) - v) == 0) {
        hi = phi;
        cv = phi >> a->shift;
    }
    bufpool__region_take_locked(c->tree, cu, cv - cu);
    bits_set(c->dirty, u, v - u, false);
    c->ndirty -= v - u;
    /* c->resident keeps counting the range until it is uncharged, so that
     * charged - bufpool__arena_dirty (would_fit in waitq.c) never rises in
     * a purge: a waiter that looks meanwhile sees the room it saw before.
     * relaxed: read under every chunk's lock (fork.c), which orders it */
    fetch_add_relaxed(&a->purging, 1);
    *cl = (struct claim){c, cu, cv, u, v, lo, hi};
}

/* Give the claimed pages back to the system, without any lock, then the
 * range to the tree and its bytes to the budget.  If madvise fails the
 * range goes back dirty, as it was.  Returns the bytes uncharged.  The
 * uncharge is a "give" of the wait protocol (waitq.c): as a free into the
 * arena, under the chunk's lock, which a waiter's attempt takes after its
 * nwait increment; the callers look at nwait afterwards (or serve under
 * pool->lock) so that a waiter that looked meanwhile is not left asleep. */
static size_t claim_finish(struct bufpool *pool, struct bufpool__arena *a, struct claim *cl)
{
    struct chunk *c = cl->c;
    (void)BUFPOOL__HOOK(BUFPOOL__HOOK_PURGE, pool);
    bool ok = cl->lo >= cl->hi || madvise(c->base + cl->lo, cl->hi - cl->lo, MADV_DONTNEED) == 0;
    size_t bytes = (cl->v - cl->u) << a->shift;
    pthread_mutex_lock(c->lock);
    bufpool__region_give_locked(c->tree, cl->cu, cl->cv - cl->cu);
    if (ok) {
        budget_uncharge(pool, bytes);
        resident_add(c, -(cl->v - cl->u)); /* a statistic, after the uncharge */
    } else {
        bits_set(c->dirty, cl->u, cl->v - cl->u, true);
        c->ndirty += cl->v - cl->u;
        bytes = 0;
    }
    fetch_sub_relaxed(&a->purging, 1); /* as in claim_locked */
    pthread_mutex_unlock(c->lock);
    return bytes;
}


/*
 * Purge at least `want` bytes of dirty free memory if there is that much
 * (default mode), run by run, each whole; exact: no more than `want` (a
 * unit more, a page for buffers smaller than a page), cutting the last
 * run.  Claim by claim, each under its chunk's lock, the madvise under
 * none; the caller holds no chunk lock (pool->lock it may hold, then
 * exact, see default_alloc).  Returns the bytes uncharged.
 */
size_t bufpool__purge(struct bufpool *pool, struct bufpool__arena *a, size_t want,
                      const struct keep *x, bool exact)
{
    size_t got = 0;
    unsigned nc = load_acquire(&a->nchunks); /* pairs with chunk_add's store */
    for (unsigned k = 0; k < nc && got < want; k++) {
        struct chunk *c = &a->chunk[k];
        size_t run_end = 0; /* not exact: the run being purged, to its end */
        for (size_t pos = 0; got < want || pos < run_end;) {
            pthread_mutex_lock(c->lock);
            size_t s = pos, e = pos;
            while (c->ndirty && pos < c->units) {
                s = bits_next_run(c->dirty, &pos, c->units);
                e = pos;
                if (s == e)
                    break;
                if (x && x->k == k && s < x->unit + x->n && x->unit < e) { /* around it */
                    if (s < x->unit)
                        e = x->unit;
                    else
                        s = x->unit + x->n;
                    pos = e;
                    if (s >= e)
                        continue;
                }
                break;
            }
            if (s >= e) {
                pthread_mutex_unlock(c->lock);
                break;
            }
            size_t units = PURGE_SLICE >> a->shift ? PURGE_SLICE >> a->shift : 1;
            if (exact && got < want) {
                size_t left = want - got;
                size_t need = (left >> a->shift) + ((left & (((size_t)1 << a->shift) - 1)) != 0);
                units = need < units ? need : units;
            }
            if (!exact && e > run_end)
                run_end = e;
            if (e - s > units)
                e = s + units;
            struct claim cl;
            claim_locked(a, c, s, e, &cl);
            pthread_mutex_unlock(c->lock);
            got += claim_finish(pool, a, &cl);
            pos = e;
        }
    }
    return got;
}

size_t bufpool__arena_purge(struct bufpool *pool, size_t want)
{
    return pool->arena->region ? 0 : bufpool__purge(pool, pool->arena, want, NULL, false);
}

unsigned bufpool__arena_purging(struct bufpool__arena *a)
{
    return load_relaxed(&a->purging); /* as in claim_locked */
}

/* Leave a purge to whoever unlocks pool->lock (bufpool__unlock).  Under
 * pool->lock. */
void bufpool__purge_defer(struct bufpool *pool, size_t want)
{
    if (pool->purge_want < want)
        pool->purge_want = want;
}

/* What a section under pool->lock may still purge itself: PURGE_SLICE in
 * all until its bufpool__unlock (which resets the count), so that a
 * never-blocking call waits a fraction of a millisecond for it at most. */
size_t bufpool__locked_room(const struct bufpool *pool)
{
    return pool->purged_locked < PURGE_SLICE ? PURGE_SLICE - pool->purged_locked : 0;
}

size_t bufpool__purge_locked(struct bufpool *pool, struct bufpool__arena *a, size_t want,
                             const struct keep *x)
{
    size_t got = bufpool__purge(pool, a, want, x, true);
    pool->purged_locked += got;
    return got;
}

/* Under pool->lock: purge `want` bytes now if the section's slice allows,
 * else after the unlock. */
void bufpool__arena_trim_locked(struct bufpool *pool, size_t want)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    struct bufpool__arena *a = pool->arena;
    if (a->region || !want)
        return;
    if (want <= bufpool__locked_room(pool))
        bufpool__purge_locked(pool, a, want, NULL);
    else
        bufpool__purge_defer(pool, want);
}
