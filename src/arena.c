/*
 * The arena: the memory of every pool, in every mode.
 *
 * A pool carves its allocations from address space it owns, in runs of
 * whole buffers, with the region's exact first-fit tree (region.c): any
 * freed run serves any later length, and neighbours coalesce as they are
 * freed.  Why this and not the system allocator: a run handed back stays
 * resident and is handed out again without a page fault, a system call or
 * a lock other than the arena's; and the pool knows exactly which of its
 * pages are resident, so the budget can bound what it takes from the
 * system (an mmap per large block faults every page on every use, and
 * posix_memalign(4096, 4096) costs two pages per buffer).
 *
 * Address space.  The default mode reserves twice the budget up front
 * (MAP_NORESERVE, nothing populated; bounded, and halved until the kernel
 * agrees), as one chunk; the slack keeps first fit from failing for
 * fragmentation while the budget still has room.  If the budget grows past
 * what the chunks can hold, or fragmentation still leaves no run, another
 * chunk is reserved, up to ARENA_CHUNKS; so is a home chunk for each
 * online CPU's worth of threads (home_chunk).  A run never crosses chunks.
 * BUFPOOL_REGION keeps a single mapping (huge pages, mlock) and cuts it
 * into chunks of 1 GiB, each a valid io_uring fixed buffer, so that an
 * allocation of at most 1 GiB never straddles two; a larger one spans
 * consecutive chunks (region.c's edge summaries find it).
 *
 * The budget.  pool->charged counts live allocations, the thread caches,
 * and the free units that are resident ("dirty"), tracked here one bit per
 * buffer.  Carving a run charges only its clean units: reusing dirty ones
 * moves them from cached to live, so a carve whose first fit needs clean
 * units takes a run of dirty ones instead when there is one (try_chunk).
 * Freeing a run keeps it dirty and charged.  Whoever lacks budget for
 * clean units first purges dirty free pages (MADV_DONTNEED, then
 * uncharge), so in_use + cached stays the memory the pool holds.  For
 * buffers smaller than a page the budget counts buffers, not pages: a
 * purge gives every free buffer back to the budget, and to the system the
 * pages on which every buffer is free.  In REGION
 * mode memory is never purged (io_uring may hold it registered): a run is
 * charged when carved and uncharged when freed.
 *
 * Locks.  In the default mode each chunk has its own lock, and arena->lock
 * only guards adding chunks; in REGION mode arena->lock is every chunk's.
 * They are the innermost locks (pool->lock may be held), and nobody holds
 * one chunk's lock while taking another lock: a purge takes them one after
 * the other, and holds none across its madvise (see purging); a caller
 * holding pool->lock purges at most a slice itself (default_alloc).  Chunks are only ever added, so a lock-free reader of
 * nchunks (acquire) sees complete chunks.
 *
 * Ordering.  A free is a "give" of the wait protocol (waitq.c), under the
 * lock of its chunk: the caller loads nwait after it, and a waiter's
 * allocation attempt takes every chunk's lock after its nwait increment,
 * so either the attempt sees the freed run or the freeing thread sees the
 * waiter.
 */
#include "arena.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- chunks ------------------------------------------------------------- */

static size_t dirty_bytes(const struct chunk *c)
{
    return (c->units + 63) / 64 * sizeof(uint64_t);
}

static int lock_init(pthread_mutex_t *m);

static int chunk_init(struct bufpool__arena *a, struct chunk *c, char *base, size_t units)
{
    c->base = base;
    c->units = units;
    c->lock = &a->lock;
    int err = bufpool__region_create_over(&c->tree, base, units << a->shift, (size_t)1 << a->shift);
    if (err)
        return err;
    if (a->region)
        return 0;
    if (!(c->dirty = bufpool__zalloc(dirty_bytes(c))) || lock_init(&c->own) != 0) {
        bufpool__zfree(c->dirty, dirty_bytes(c));
        bufpool__region_destroy(c->tree);
        return -ENOMEM;
    }
    c->lock = &c->own;
    return 0;
}

/*
 * Default mode: reserve a chunk of `want` bytes, at least `need`: halved
 * until the kernel agrees.  Nothing is populated; MAP_NORESERVE keeps
 * untouched pages out of the commit charge.  Under the lock.
 */
static int chunk_add(struct bufpool__arena *a, size_t want, size_t need)
{
    unsigned nc = load_relaxed(&a->nchunks);
    if (nc == ARENA_CHUNKS)
        return -ENOMEM;
    size_t bs = (size_t)1 << a->shift, cap = CHUNK_MAX_UNITS << a->shift;
    if (cap > CHUNK_MAX_BYTES || cap >> a->shift != CHUNK_MAX_UNITS)
        cap = CHUNK_MAX_BYTES;
    want = want < cap ? want : cap;
    size_t len = round_up(want > need ? want : need, a->page);
    for (;;) {
        void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED) {
            struct chunk *c = &a->chunk[nc];
            if (chunk_init(a, c, p, len >> a->shift) != 0) {
                munmap(p, len);
                return -ENOMEM;
            }
            c->maplen = len;
            /* release: pairs with the load_acquire of the lock-free
             * readers (chunk_of, the carving loop), who then see the
             * chunk's fields. */
            store_release(&a->nchunks, nc + 1);
            return 0;
        }
        size_t next = round_up(len / 2, a->page);
        if (next < need || next < bs || next == len)
            return -ENOMEM;
        len = next;
    }
}

static void chunk_fini(struct bufpool__arena *a, struct chunk *c)
{
    if (c->lock == &c->own)
        pthread_mutex_destroy(&c->own);
    if (c->tree != a->owner)
        bufpool__region_destroy(c->tree);
    bufpool__zfree(c->dirty, dirty_bytes(c));
    if (c->maplen)
        munmap(c->base, c->maplen);
}

/* REGION: one mapping, cut into pieces of PIECE bytes. */
static int region_init(struct bufpool__arena *a, size_t bs, size_t max, unsigned flags)
{
    int err = bufpool__region_create(&a->owner, bs, max, flags);
    if (err)
        return err;
    char *base = bufpool__region_base(a->owner);
    size_t len = bufpool__region_length(a->owner);
    if (len <= PIECE) {
        a->chunk[0] = (struct chunk){.lock = &a->lock, .tree = a->owner, .base = base,
                                     .units = bufpool__region_units(a->owner)};
        store_relaxed(&a->nchunks, 1);
        return 0;
    }
    for (size_t off = 0; off + bs <= len; off += PIECE) {
        size_t units = ((len - off < PIECE ? len - off : PIECE)) >> a->shift;
        unsigned nc = load_relaxed(&a->nchunks);
        if (nc == ARENA_CHUNKS || chunk_init(a, &a->chunk[nc], base + off, units)) {
            err = -ENOMEM;
            break;
        }
        store_relaxed(&a->nchunks, nc + 1);
    }
    return err;
}

/* The arena's critical sections are short (a tree walk, some bitmap
 * words), so a thread that finds the lock taken spins a little before it
 * sleeps: two threads carving at once would otherwise pay a futex sleep
 * and wake per miss. */
static int lock_init(pthread_mutex_t *m)
{
    pthread_mutexattr_t at;
    int err = pthread_mutexattr_init(&at);
    if (err)
        return err;
#ifdef PTHREAD_MUTEX_ADAPTIVE_NP
    (void)pthread_mutexattr_settype(&at, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
    err = pthread_mutex_init(m, &at);
    pthread_mutexattr_destroy(&at);
    return err;
}

int bufpool__arena_create(struct bufpool__arena **out, size_t bs, size_t max, unsigned flags)
{
    struct bufpool__arena *a;
    *out = NULL;
    if (posix_memalign((void **)&a, CACHELINE, sizeof *a) != 0) /* lines of its own */
        return -ENOMEM;
    memset(a, 0, sizeof *a);
    long ps = sysconf(_SC_PAGESIZE);
    a->page = ps > 0 ? (size_t)ps : 4096;
    a->shift = (unsigned)__builtin_ctzll(bs);
    a->region = flags & BUFPOOL_REGION;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    a->nhomes = a->region || cpus < 1 ? 1 : cpus > HOMES ? HOMES : (unsigned)cpus;
    for (unsigned h = 0; h < HOMES; h++)
        atomic_init(&a->home[h], h == 0 ? 0 : -1);
    int err = lock_init(&a->lock) ? -ENOMEM : 0;
    if (!err && a->region)
        err = region_init(a, bs, max, flags);
    else if (!err)
        err = chunk_add(a, max <= SIZE_MAX / 2 ? 2 * max : max, max < CHUNK_MAX_BYTES ? max : bs);
    if (err) {
        bufpool__arena_destroy(a);
        return err;
    }
    *out = a;
    return 0;
}

void bufpool__arena_destroy(struct bufpool__arena *a)
{
    if (!a)
        return;
    for (unsigned i = 0; i < load_relaxed(&a->nchunks); i++)
        chunk_fini(a, &a->chunk[i]);
    bufpool__region_destroy(a->owner);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

/* ---- carving ------------------------------------------------------------ */

/* Charge `need` bytes; 0 bytes (a run of resident units only) are allowed
 * only while the pool is within its budget: reuse moves cached bytes to
 * live ones, which a pool over a shrunk budget must not do. */
static bool charge(struct bufpool *pool, size_t need)
{
    if (need)
        return budget_try_charge(pool, need);
    return load_relaxed(&pool->charged) <= load_relaxed(&pool->max_memory);
}

/* REGION: a run of n units across consecutive chunks, for n larger than
 * a piece: it starts at some chunk's free suffix, goes through chunks free
 * throughout and ends in a free prefix.  First fit: the earliest such
 * chunk.  Its index, with *start the unit in it, or -1. */
static int find_span(struct bufpool__arena *a, size_t n, size_t *start)
{
    unsigned nc = load_relaxed(&a->nchunks); /* REGION: fixed at create */
    for (unsigned k = 0; k < nc; k++) {
        size_t pre, suf, max, got;
        bufpool__region_edges_locked(a->chunk[k].tree, &pre, &suf, &max);
        if (suf == 0)
            continue;
        got = suf;
        for (unsigned j = k + 1; j < nc && got < n; j++) {
            size_t jpre, jsuf, jmax;
            bufpool__region_edges_locked(a->chunk[j].tree, &jpre, &jsuf, &jmax);
            got += jpre;
            if (jpre != a->chunk[j].units)
                break;
        }
        if (got >= n) {
            *start = a->chunk[k].units - suf;
            return (int)k;
        }
    }
    return -1;
}

/* Mark or free [unit, unit + n) starting in chunk k, across chunks. */
static void span_apply(struct bufpool__arena *a, unsigned k, size_t unit, size_t n, bool take)
{
    for (; n; k++, unit = 0) {
        struct chunk *c = &a->chunk[k];
        size_t m = c->units - unit < n ? c->units - unit : n;
        if (take)
            bufpool__region_take_locked(c->tree, unit, m);
        else
            bufpool__region_give_locked(c->tree, unit, m);
        n -= m;
    }
}

/* The chunk that holds address p; lock-free (chunks are only added). */
static unsigned chunk_of(struct bufpool__arena *a, const char *p)
{
    unsigned k = 0, nc = load_acquire(&a->nchunks); /* pairs with chunk_add */
    while (k + 1 < nc &&
           !(p >= a->chunk[k].base && p < a->chunk[k].base + (a->chunk[k].units << a->shift)))
        k++;
    return k;
}

/*
 * A thread's home chunk (default mode): threads carve first from a chunk of
 * their own, so that each keeps reusing the runs it freed, whose pages are
 * hot in its core's caches, and takes its own chunk's lock, instead of two
 * cores writing the same low addresses in turn under one lock (first fit
 * over one chunk).  A home chunk is reserved on its first use; when it has
 * no run that the budget can pay for without a purge, the carve tries every
 * chunk before it purges, so free memory elsewhere is reused first.  The
 * chunk, or -1.
 */
static int home_chunk(struct bufpool *pool, struct bufpool__arena *a, unsigned home)
{
    unsigned h = home % a->nhomes;
    /* acquire: pairs with the store_release below */
    int k = load_acquire(&a->home[h]);
    if (k >= 0)
        return k;
    pthread_mutex_lock(&a->lock);
    if ((k = load_relaxed(&a->home[h])) < 0) {
        size_t max = load_relaxed(&pool->max_memory);
        if (chunk_add(a, max <= SIZE_MAX / 2 ? 2 * max : max, (size_t)1 << a->shift) == 0) {
            k = (int)load_relaxed(&a->nchunks) - 1;
            store_release(&a->home[h], k);
        }
    }
    pthread_mutex_unlock(&a->lock);
    return k;
}

/* Take the run [unit, unit + n) of chunk c, `clean` of its units already
 * charged for.  Under c's lock. */
static void carve_locked(struct chunk *c, size_t unit, size_t n, size_t clean)
{
    bufpool__region_take_locked(c->tree, unit, n);
    size_t reused = n - clean;
    if (reused) {
        bits_set(c->dirty, unit, n, false);
        c->ndirty -= reused;
        resident_add(c, -reused);
    }
}

/* The first run of at least n free resident units of chunk c from `from`
 * (the first fit: a run of n free units starts nowhere before it) up to
 * DIRTY_SCAN units on, or SIZE_MAX.  A run of dirty bits is a free run
 * (only free units are dirty), and carving it charges nothing and faults
 * no page.  Under c's lock. */
static size_t dirty_run(const struct chunk *c, size_t from, size_t n)
{
    if (c->ndirty < n)
        return SIZE_MAX;
    size_t end = c->units - from > DIRTY_SCAN ? from + DIRTY_SCAN : c->units;
    for (size_t pos = from; pos < end;) {
        size_t s = bits_next_run(c->dirty, &pos, end);
        if (pos - s >= n)
            return s;
    }
    return SIZE_MAX;
}

/* One attempt in chunk k: 0 and *first, -EAGAIN with *need the bytes the
 * run found (*at) would charge, or -ENOENT when the chunk has no run of n.
 * The run: the first fit, unless it has clean units and a run of resident
 * ones serves n (the first such, within DIRTY_SCAN of it).  First fit
 * alone, once the budget is taken by free resident memory, finds a run
 * that needs clean units while runs that need none lie further on; the
 * carve then went to another thread's home chunk (its lock, its tree's
 * lines, and the free later into that chunk too), or purged and faulted
 * pages back in. */
static int try_chunk(struct bufpool *pool, struct bufpool__arena *a, unsigned k, size_t n,
                     size_t *need, struct keep *at, char **first)
{
    struct chunk *c = &a->chunk[k];
    int err = -ENOENT;
    pthread_mutex_lock(c->lock);
    size_t unit = bufpool__region_find_locked(c->tree, n);
    if (unit != SIZE_MAX) {
        size_t clean = n - bits_count(c->dirty, unit, n);
        /* Over the budget (shrunk) no run is had before the purge brings
         * it back, which spares the run found: the first fit then, as
         * before.  charged relaxed: a hint, charge() below is exact. */
        if (clean && load_relaxed(&pool->charged) <= load_relaxed(&pool->max_memory)) {
            size_t d = dirty_run(c, unit, n);
            if (d != SIZE_MAX) {
                unit = d;
                clean = 0;
            }
        }
        err = -EAGAIN;
        *need = clean << a->shift;
        *at = (struct keep){k, unit, n};
        if (charge(pool, *need)) {
            carve_locked(c, unit, n, clean);
            *first = c->base + (unit << a->shift);
            err = 0;
        }
    }
    pthread_mutex_unlock(c->lock);
    return err;
}

/* What a carve may purge to make room: `left` bytes itself (SIZE_MAX
 * without pool->lock), exactly and counted against the section's slice
 * when it holds the lock; `purged`: it did purge. */
struct room {
    size_t left;
    bool locked, purged;
};

/*
 * Find: the home chunk, then every chunk in order, each under its own lock
 * (after the caller's nwait increment if it is a waiter, so a run freed
 * into any chunk is seen, W2).  0: carved and charged.  -EAGAIN: a run
 * exists but the budget is short: the cheapest in *best, short by
 * *short_by bytes.  -ENOENT: no chunk of the *nc looked at has a run.
 */
static int find_run(struct bufpool *pool, struct bufpool__arena *a, size_t n, int kh,
                    struct keep *best, size_t *short_by, unsigned *nc, char **first)
{
    size_t need;
    struct keep at;
    *short_by = SIZE_MAX;
    int err = kh >= 0 ? try_chunk(pool, a, (unsigned)kh, n, &need, &at, first) : -ENOENT;
    if (err == 0)
        return 0;
    if (err == -EAGAIN) {
        *short_by = need;
        *best = at;
    }
    *nc = load_acquire(&a->nchunks); /* pairs with chunk_add */
    for (unsigned k = 0; k < *nc; k++) {
        if ((int)k == kh)
            continue;
        if ((err = try_chunk(pool, a, k, n, &need, &at, first)) == 0)
            return 0;
        if (err == -EAGAIN && need < *short_by) {
            *short_by = need;
            *best = at;
        }
    }
    return *short_by == SIZE_MAX ? -ENOENT : -EAGAIN;
}

/* No chunk has a run of n, though the budget may have room: reserve
 * another, unless one was added since the search looked (nc). */
static int grow(struct bufpool *pool, struct bufpool__arena *a, size_t n, unsigned nc)
{
    size_t max = load_relaxed(&pool->max_memory);
    pthread_mutex_lock(&a->lock);
    int err = nc == load_relaxed(&a->nchunks) ?
              chunk_add(a, max <= SIZE_MAX / 2 ? 2 * max : max, n << a->shift) : 0;
    pthread_mutex_unlock(&a->lock);
    return err;
}

static size_t room_purge(struct bufpool *pool, struct bufpool__arena *a, size_t want,
                         const struct keep *x, struct room *room)
{
    size_t got = room->locked ? bufpool__purge_locked(pool, a, want, x) : bufpool__purge(pool, a, want, x, false);
    room->left -= got < room->left ? got : room->left;
    room->purged |= got != 0;
    return got;
}

/*
 * Make room: purge free resident memory elsewhere (sparing the cheapest
 * run found, x) for what the run lacks, plus what the pool is over a
 * shrunk budget (charge() refuses even a resident run until it is back
 * within).  0: purged, search again.  -EAGAIN: nothing left to give back
 * (the budget is held elsewhere), or more than this call may purge, which
 * under pool->lock is left to bufpool__unlock: it purges after the unlock
 * and serves the queue again, so no wakeup is lost (the caller is a server
 * or a waiter's own try, under the lock).
 */
static int make_room(struct bufpool *pool, struct bufpool__arena *a, size_t short_by,
                     const struct keep *x, struct room *room)
{
    size_t charged = load_relaxed(&pool->charged), max = load_relaxed(&pool->max_memory);
    size_t over = charged > max ? charged - max : 0;
    size_t want = short_by ? short_by : 1;
    want = want + over < want ? SIZE_MAX : want + over;
    if (want > room->left) {
        bufpool__purge_defer(pool, want);
        return -EAGAIN;
    }
    if (room_purge(pool, a, want, x, room))
        return 0;
    if (load_relaxed(&pool->charged) <= load_relaxed(&pool->max_memory))
        return -EAGAIN; /* nothing left to give back */
    if (room->left == 0) { /* over a shrunk budget: the rest after the unlock */
        bufpool__purge_defer(pool, 1);
        return -EAGAIN;
    }
    return room_purge(pool, a, room->left, NULL, room) ? 0 : -EAGAIN;
}

/* Default mode: find a run, making room while purges make progress; a pool
 * over a shrunk budget purges everything, so a run is charged in full. */
static int default_alloc(struct bufpool *pool, struct bufpool__arena *a, size_t n, unsigned home,
                         struct room *room, char **first)
{
    int kh = home_chunk(pool, a, home);
    for (int round = 0; round < 8; round++) {
        struct keep best = {0, 0, 0};
        size_t short_by;
        unsigned nc = 0;
        int err = find_run(pool, a, n, kh, &best, &short_by, &nc, first);
        if (err == 0)
            return 0;
        if (err == -ENOENT) {
            if ((err = grow(pool, a, n, nc)) != 0)
                return err;
            continue;
        }
        if (make_room(pool, a, short_by, &best, room) != 0)
            break;
    }
    return -EAGAIN;
}

/*
 * REGION: first fit over the pieces, a run of at most a piece within one,
 * a larger one across consecutive pieces; nothing is ever purged.  Under
 * the arena's lock, which is every piece's.
 */
static int region_alloc(struct bufpool *pool, struct bufpool__arena *a, size_t n, char **first)
{
    size_t unit = SIZE_MAX;
    unsigned k, nc = load_relaxed(&a->nchunks);
    int err = 0;
    pthread_mutex_lock(&a->lock);
    for (k = 0; k < nc; k++)
        if ((unit = bufpool__region_find_locked(a->chunk[k].tree, n)) != SIZE_MAX)
            break;
    if (unit == SIZE_MAX) {
        int s = n > (PIECE >> a->shift) ? find_span(a, n, &unit) : -1;
        if (s < 0) {
            err = -EAGAIN;
            goto out;
        }
        k = (unsigned)s;
    }
    if (!charge(pool, n << a->shift)) {
        err = -EAGAIN;
        goto out;
    }
    span_apply(a, k, unit, n, true);
    *first = a->chunk[k].base + (unit << a->shift);
out:
    pthread_mutex_unlock(&a->lock);
    return err;
}

/*
 * Carve n buffers, charging the budget for the clean ones (purging other
 * free memory first if that is what it takes).  home: the calling thread's
 * (see home_chunk).  0, -EAGAIN (the budget, or in REGION mode the region,
 * has no room now), -ENOMEM.
 *
 * Without pool->lock, a purge's uncharges are gives of the wait protocol
 * that a waiter may have missed: one whose attempt came while the range
 * was claimed (still charged, under no lock) found no budget, and this
 * call may leave some over (whole runs).  So after a purge the caller
 * looks, as after any give (*gave, W2).
 */
int bufpool__arena_alloc(struct bufpool *pool, size_t n, unsigned home, bool *gave, char **first)
{
    struct bufpool__arena *a = pool->arena;
    *gave = false;
    if (a->region)
        return region_alloc(pool, a, n, first);
    struct room room = {.left = SIZE_MAX};
    int err = default_alloc(pool, a, n, home, &room, first);
    *gave = room.purged;
    return err;
}

/* The same under pool->lock, which calls documented never to block take
 * (bufpool_get_stats, bufpool_waiter_allocate): it purges exactly, and at
 * most what is left of the section's PURGE_SLICE (locked_room). */
int bufpool__arena_alloc_locked(struct bufpool *pool, size_t n, unsigned home, char **first)
{
    BUFPOOL__ASSERT_LOCKED(pool);
    struct bufpool__arena *a = pool->arena;
    if (a->region)
        return region_alloc(pool, a, n, first);
    struct room room = {.left = bufpool__locked_room(pool), .locked = true};
    return default_alloc(pool, a, n, home, &room, first);
}

/* Give a run back to its chunk; the bytes by which the pool is now over
 * its budget (0 when within), which the caller purges. */
static size_t give_back(struct bufpool *pool, char *first, size_t n)
{
    struct bufpool__arena *a = pool->arena;
    size_t bytes = n << a->shift;
    unsigned k = chunk_of(a, first);
    struct chunk *c = &a->chunk[k];
    size_t unit = (size_t)(first - c->base) >> a->shift;
    pthread_mutex_lock(c->lock);
    if (a->region) {
        span_apply(a, k, unit, n, false);
        budget_uncharge(pool, bytes);
        pthread_mutex_unlock(c->lock);
        return 0;
    }
    bufpool__region_give_locked(c->tree, unit, n);
    bits_set(c->dirty, unit, n, true);
    c->ndirty += n;
    resident_add(c, n);
    pthread_mutex_unlock(c->lock);
    size_t charged = load_relaxed(&pool->charged), max = load_relaxed(&pool->max_memory);
    return charged > max ? charged - max : 0;
}

/*
 * Give a run back.  Default mode: it stays resident and charged, as cached
 * memory, unless the pool is over a shrunk budget, which is purged back
 * down at once (under pool->lock: within the section's slice, the rest
 * after the unlock).  REGION: uncharged.  Either is a give of the wait
 * protocol (W2), under the lock of the run's chunk.
 */
void bufpool__arena_free(struct bufpool *pool, char *first, size_t n)
{
    size_t over = give_back(pool, first, n);
    if (over)
        bufpool__purge(pool, pool->arena, over, NULL, false);
}

void bufpool__arena_free_locked(struct bufpool *pool, char *first, size_t n)
{
    size_t over = give_back(pool, first, n);
    if (over)
        bufpool__arena_trim_locked(pool, over);
}

/* ---- queries --------------------------------------------------------------- */

/* Are the adjacent runs at p and q in one chunk, so that they may be
 * freed as one run (a thread cache's run, cache.c)?  Two reservations may
 * be neighbours in the address space without being one chunk; in REGION
 * mode two pieces always are, and a run joined across them could later be
 * cut into an allocation that straddles both. */
bool bufpool__arena_joinable(struct bufpool__arena *a, const char *p, const char *q)
{
    return chunk_of(a, p) == chunk_of(a, q);
}

size_t bufpool__arena_dirty(const struct bufpool__arena *a)
{
    size_t units = 0;
    /* acquire: pairs with chunk_add's store_release; each count relaxed
     * (struct chunk): a racy sum, a hint for waiters */
    unsigned nc = load_acquire(&a->nchunks);
    for (unsigned k = 0; k < nc; k++)
        units += load_relaxed(&a->chunk[k].resident);
    return units << a->shift;
}

/* Could a run of n buffers be carved now (budget aside)?  In REGION mode a
 * run of at most a piece must lie within one; in the default mode more
 * address space is reserved when no chunk has one. */
bool bufpool__arena_fits(struct bufpool__arena *a, size_t n)
{
    if (!a->region)
        return true;
    if (n > (PIECE >> a->shift))
        return bufpool__arena_largest(a) >= n;
    bool fits = false;
    pthread_mutex_lock(&a->lock);
    for (unsigned k = 0; k < load_relaxed(&a->nchunks) && !fits; k++) {
        size_t pre, suf, max;
        bufpool__region_edges_locked(a->chunk[k].tree, &pre, &suf, &max);
        fits = max >= n;
    }
    pthread_mutex_unlock(&a->lock);
    return fits;
}

/* The longest run of free buffers, across consecutive chunks in REGION
 * mode (in the default mode a run never crosses chunks). */
size_t bufpool__arena_largest(struct bufpool__arena *a)
{
    size_t best = 0, carry = 0; /* carry: the free run ending at the last chunk's end */
    pthread_mutex_lock(&a->lock);
    for (unsigned k = 0; k < load_relaxed(&a->nchunks); k++) {
        size_t pre, suf, max;
        bufpool__region_edges_locked(a->chunk[k].tree, &pre, &suf, &max);
        best = best > max ? best : max;
        if (a->region) {
            best = best > carry + pre ? best : carry + pre;
            carry = pre == a->chunk[k].units ? carry + pre : suf;
        }
    }
    pthread_mutex_unlock(&a->lock);
    return best;
}

/* REGION: the mapping and its pieces. */
char *bufpool__arena_base(const struct bufpool__arena *a)
{
    return a->region ? bufpool__region_base(a->owner) : NULL;
}

size_t bufpool__arena_length(const struct bufpool__arena *a)
{
    return a->region ? bufpool__region_length(a->owner) : 0;
}

size_t bufpool__arena_piece(void)
{
    return PIECE;
}

/* fork.c: every lock of the arena, its own first, then the chunks' in
 * order (nobody holds a chunk's lock while taking another lock). */
void bufpool__arena_lock(struct bufpool__arena *a)
{
    pthread_mutex_lock(&a->lock);
    for (unsigned k = 0; k < load_relaxed(&a->nchunks); k++)
        if (a->chunk[k].lock != &a->lock)
            pthread_mutex_lock(a->chunk[k].lock);
}

void bufpool__arena_unlock(struct bufpool__arena *a)
{
    for (unsigned k = load_relaxed(&a->nchunks); k-- > 0;)
        if (a->chunk[k].lock != &a->lock)
            pthread_mutex_unlock(a->chunk[k].lock);
    pthread_mutex_unlock(&a->lock);
}
