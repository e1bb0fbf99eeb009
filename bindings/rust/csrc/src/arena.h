/*
 * arena.h: the arena's own types and helpers, shared by arena.c (chunks,
 * carving, freeing) and purge.c (giving free resident memory back to the
 * system), which sits below it.  Nothing else includes it.
 */
#ifndef BUFPOOL_ARENA_H
#define BUFPOOL_ARENA_H

#include "internal.h"

#define PIECE ((size_t)1 << 30) /* io_uring's largest fixed buffer */
/* A default-mode chunk holds at most this many units (its bitmaps and tree
 * are mapped lazily, but their address space is not free). */
#define CHUNK_MAX_UNITS ((size_t)1 << 33)
#define CHUNK_MAX_BYTES ((size_t)1 << 44)

/*
 * Layout.  Two threads carve and free in their own home chunks at once, so
 * nothing one chunk's holder writes may share a cache line with what the
 * other thread reads or writes: each chunk starts a line, its read-mostly
 * fields (set when it is added, read by chunk_of and every carve) fill
 * that line, and what its lock's holder writes (the mutex, the dirty
 * counts) sits on a line of its own.  The arena's own lock and its
 * read-mostly header are apart too.  Free resident bytes are counted per
 * chunk under the chunk's lock, not in one atomic word that every free and
 * carve of every thread would update.
 */
struct chunk {
    /* read-mostly */
    alignas(CACHELINE) pthread_mutex_t *lock; /* its own (default mode), or the arena's */
    struct bufpool__region *tree; /* carving of [base, base + units * bs) */
    char *base;
    size_t units;
    uint64_t *dirty;              /* default mode: free and resident units */
    size_t maplen;                /* bytes to unmap at destroy (0: not ours) */
    /* written under lock */
    alignas(CACHELINE) pthread_mutex_t own;
    size_t ndirty;                /* set bits of dirty */
    /* Free resident units as bufpool__arena_dirty reports them: ndirty,
     * except that a purge's claim keeps counting until it is uncharged
     * (claim_locked).  Written only under lock, so a plain load and store;
     * atomic because bufpool__arena_dirty sums it without the lock
     * (relaxed: a statistic and a hint, it orders nothing). */
    _Atomic size_t resident;
};

struct bufpool__arena {
    alignas(CACHELINE) pthread_mutex_t lock;
    _Atomic unsigned purging;     /* purge claims in flight (see purging) */
    /* read-mostly */
    alignas(CACHELINE) unsigned shift; /* log2(buffer_size) */
    bool region;                  /* REGION: contiguous chunks, never purged */
    size_t page;
    struct bufpool__region *owner; /* REGION: the mapping */
    unsigned nhomes;              /* threads' home chunks (see home_chunk) */
    _Atomic int home[HOMES];      /* the chunk of each home, -1: none yet */
    _Atomic unsigned nchunks;     /* grows under lock; entries are set first */
    struct chunk chunk[ARENA_CHUNKS];
};

/* A run to leave alone in a purge: the one about to be handed out. */
struct keep {
    unsigned k;
    size_t unit, n;
};

/*
 * The budget: pool->charged is the exact number of bytes the pool holds
 * from the system: live allocations, the thread caches, and free memory
 * the arena keeps resident.  It moves with one atomic operation each way,
 * and only on a cache miss or a trim, so the common allocate/release
 * roundtrip (a cache hit) never touches it.
 */
static inline bool budget_try_charge(struct bufpool *pool, size_t bytes)
{
    size_t c = load_relaxed(&pool->charged);
    for (;;) {
        size_t max = load_relaxed(&pool->max_memory);
        if (bytes > max || c > max - bytes)
            return false;
        /* seq_cst: pairs with the fetch_sub in budget_uncharge;
         * a waiter charges after registering in nwait (waitq.c). */
        if (cas_seqcst(&pool->charged, &c, c + bytes))
            return true;
    }
}

static inline void budget_uncharge(struct bufpool *pool, size_t bytes)
{
    /* seq_cst: a release that frees memory then loads nwait; pairs with a
     * waiter's nwait increment followed by its charge attempt. */
    fetch_sub_seqcst(&pool->charged, bytes);
}

/* c->resident += d (d may wrap to subtract), under c's lock: the only
 * writer at a time, so no RMW (relaxed, see struct chunk). */
static inline void resident_add(struct chunk *c, size_t d)
{
    store_relaxed(&c->resident, load_relaxed(&c->resident) + d);
}

static inline size_t round_up(size_t x, size_t a)
{
    return (x + a - 1) & ~(a - 1);
}

/* ---- dirty bits -------------------------------------------------------- */

static inline size_t bits_count(const uint64_t *w, size_t i, size_t n)
{
    size_t c = 0;
    while (n) {
        size_t o = i % 64, k = 64 - o < n ? 64 - o : n;
        uint64_t m = k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1) << o;
        c += (size_t)__builtin_popcountll(w[i / 64] & m);
        i += k;
        n -= k;
    }
    return c;
}

static inline void bits_set(uint64_t *w, size_t i, size_t n, bool on)
{
    while (n) {
        size_t o = i % 64, k = 64 - o < n ? 64 - o : n;
        uint64_t m = k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1) << o;
        if (on)
            w[i / 64] |= m;
        else
            w[i / 64] &= ~m;
        i += k;
        n -= k;
    }
}

/* The next run of set bits in [*pos, end): its start, with *pos moved to
 * its end; end (and *pos = end) when there is none.  Bits past the last
 * unit are never set, so a run always ends inside the bitmap. */
static inline size_t bits_next_run(const uint64_t *w, size_t *pos, size_t end)
{
    size_t i = *pos, start;
    for (; i < end; i = (i / 64 + 1) * 64) {
        uint64_t x = w[i / 64] >> (i % 64);
        if (x) {
            i += (size_t)__builtin_ctzll(x);
            break;
        }
    }
    if (i >= end)
        return *pos = end;
    for (start = i; i < end; i = (i / 64 + 1) * 64) {
        uint64_t x = ~w[i / 64] >> (i % 64);
        if (x) {
            i += (size_t)__builtin_ctzll(x);
            break;
        }
    }
    *pos = i < end ? i : end;
    return start;
}

/* purge.c, for the carve and the free (arena.c) */
size_t bufpool__purge(struct bufpool *pool, struct bufpool__arena *a, size_t want,
                      const struct keep *x, bool exact);
size_t bufpool__purge_locked(struct bufpool *pool, struct bufpool__arena *a, size_t want,
                             const struct keep *x);
void bufpool__purge_defer(struct bufpool *pool, size_t want);
size_t bufpool__locked_room(const struct bufpool *pool);

#endif /* BUFPOOL_ARENA_H */
