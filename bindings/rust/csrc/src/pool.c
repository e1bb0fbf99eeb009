/*
 * The pool's life cycle and its two hot paths, allocate and release.
 *
 * The fast path of a roundtrip is: find this thread's cache (one TLS
 * compare), pop an allocation of the same length, and on release push it
 * back and look at nwait, each step plain loads and stores inside the
 * owner's busy window (cache.c).  No lock, no locked instruction, no
 * system call, no write to a line another thread writes.  A miss tries the
 * depot, the cache's run, then the arena, which charges the budget with
 * one CAS; everything else (waiting, trimming, serving waiters) is in
 * waitq.c.
 */
#include "cache.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static _Atomic uint64_t next_pool_id = 1;

BUFPOOL__API int bufpool_version(void)
{
    return BUFPOOL_VERSION;
}

/* The system's description of errno e.  glibc 2.32 on: static and
 * untranslated, as our own messages are, so the result never depends on
 * the locale or on a later call.  Older glibc and other libcs: strerror(),
 * which may be translated and, on some libcs, overwritten by a later
 * call. */
static const char *system_message(int e)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    const char *m = strerrordesc_np(e);
    return m ? m : "unknown error";
#else
    return strerror(e);
#endif
}

BUFPOOL__API const char *bufpool_strerror(int err)
{
    /* A code bufpool gives a meaning of its own has a message that fits
     * every call returning it; where a call may pass the same code on from
     * the kernel (-EAGAIN, -EBADF, -EEXIST, ...), the system's words come
     * first, so that the message reads right whichever returned it.  Codes
     * bufpool only passes on (-EPERM, -EMFILE, ...) get the system's
     * message.  tests/test_api.c checks both against man/. */
    switch (err) {
    case 0: return "success";
    case -EINVAL: return "invalid argument";
    case -E2BIG: return "request larger than the whole budget (or, for a provided-buffer ring, "
                        "than one ring entry can describe)";
    case -EAGAIN: return "resource temporarily unavailable (budget exhausted, try again later; "
                         "from bufpool_create: mlock could not lock all of the region)";
    case -ETIMEDOUT: return "timed out waiting for budget";
    case -ECANCELED: return "pool is shut down";
    case -ENOMEM: return "cannot allocate memory (out of memory, or a locked region over "
                         "RLIMIT_MEMLOCK)";
    case -ENOTSUP: return "operation not supported (not a region pool, or a ring_fd that is not "
                          "an io_uring instance)";
    case -EBADF: return "bad file descriptor (a ring_fd that is not open, or an async waiter "
                        "inherited across fork())";
    case -ERANGE: return "allocation larger than one region piece";
    case -ENOSPC: return "the accounts' reservations would not fit (a max or the budget)";
    case -EBUSY: return "account in use (live allocations, child accounts, waiting requests or waiters)";
    case -EDEADLK: return "allocation from inside the pool's own reclaim callback";
    case -EEXIST: return "file exists (for a provided-buffer ring: its buffer group id is taken "
                         "on that io_uring instance)";
    case -ENOBUFS: return "no buffer space available (for a provided-buffer ring: it ran dry; "
                          "refill it when its fd is readable)";
    default: return err < 0 && err > INT_MIN ? system_message(-err) : "unknown error";
    }
}

static bool config_valid(const bufpool_config *cfg)
{
    const unsigned known = BUFPOOL_FIFO | BUFPOOL_REGION | BUFPOOL_HUGEPAGES | BUFPOOL_LOCKED | BUFPOOL_TRACK;
    size_t bs = cfg->buffer_size;
    if (bs < 8 || bs > ((size_t)1 << 30) || (bs & (bs - 1)))
        return false;
    if (cfg->max_memory < bs || (cfg->flags & ~known))
        return false;
    if ((cfg->flags & (BUFPOOL_HUGEPAGES | BUFPOOL_LOCKED)) && !(cfg->flags & BUFPOOL_REGION))
        return false;
    return true;
}

BUFPOOL__API int bufpool_create(bufpool **out, const bufpool_config *cfg)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!cfg || !config_valid(cfg))
        return -EINVAL;
    struct bufpool *pool;
    if (posix_memalign((void **)&pool, CACHELINE, sizeof *pool) != 0)
        return -ENOMEM;
    memset(pool, 0, sizeof *pool);
    pool->magic = BUFPOOL__MAGIC_POOL;
    pool->flags = cfg->flags;
    pool->buffer_size = cfg->buffer_size;
    pool->shift = (unsigned)__builtin_ctzll(cfg->buffer_size);
    pool->id = fetch_add_relaxed(&next_pool_id, 1);
    atomic_init(&pool->max_memory, cfg->max_memory);
    atomic_init(&pool->fenced, !bufpool__asym_available());
    bufpool__gate_update(pool);

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int err = pthread_cond_init(&pool->idle, &ca);
    pthread_condattr_destroy(&ca);
    if (err) {
        free(pool);
        return -err;
    }
    if ((err = pthread_mutex_init(&pool->lock, NULL))) {
        pthread_cond_destroy(&pool->idle);
        free(pool);
        return -err;
    }
    err = bufpool__leaks_init(pool, cfg->flags);
    if (!err && (err = bufpool__arena_create(&pool->arena, cfg->buffer_size, cfg->max_memory, cfg->flags)))
        bufpool__leaks_fini(pool);
    if (!err && (err = bufpool__registry_add(pool))) {
        bufpool__arena_destroy(pool->arena);
        bufpool__leaks_fini(pool);
    }
    if (err) {
        pthread_mutex_destroy(&pool->lock);
        pthread_cond_destroy(&pool->idle);
        free(pool);
        return err;
    }
    *out = pool;
    return 0;
}

BUFPOOL__API void bufpool_shutdown(bufpool *pool)
{
    if (!pool)
        return;
    bufpool__check_pool(pool, "bufpool_shutdown");
    bufpool__lock(pool);
    /* pairs with the relaxed loads of shut: they run under the lock too, or
     * merely fail fast earlier. */
    store_release(&pool->shut, 1);
    bufpool__gate_update(pool);
    bufpool__cancel_all(pool);
    bufpool__unlock(pool);
}

/*
 * Destroy waits for every live allocation and every blocked call.  It
 * registers in nwait, so each release after that takes the slow path and
 * broadcasts pool->idle under the lock.  A release that loaded nwait just
 * before the registration still has to store its free count, which is its
 * last touch of the pool's memory; the short timed wait below picks that
 * up.  The counts are read before the final steal, and a release pushes
 * before it counts (with release order), so the steal sees its allocation.
 */
BUFPOOL__API void bufpool_destroy(bufpool *pool)
{
    if (!pool)
        return;
    bufpool__check_pool(pool, "bufpool_destroy");
    bufpool_shutdown(pool);
    if (pool->track_env) { /* a destroy that will wait says who holds the memory (leaks.c) */
        struct tc_counters sum;
        bufpool__sum_counters(pool, &sum);
        uint64_t allocs = load_relaxed(&sum.allocs), frees = load_relaxed(&sum.frees);
        bufpool__leaks_at_destroy(pool, allocs > frees ? (size_t)(allocs - frees) : 0);
    }
    bufpool__lock(pool);
    pool->destroying = true;
    /* Registers like a waiter (W1, W11; pairs with the nwait load after the
     * push in bufpool_alloc_release): from now on releases take the slow path and
     * broadcast pool->idle. */
    fetch_add_seqcst(&pool->nwait, 1);
    for (;;) {
        /* inside first: acquire, pairs with the release decrement in
         * bufpool__inside_leave, so the counts read next include what that
         * call counted.  A blocked call, or a told one starting over, is
         * counted until it has counted its allocation, and a purge
         * after an unlock until it is done (bufpool__unlock).  After
         * shutdown inside grows only for a call that fails at once, or
         * for such a purge, left by a section under the lock. */
        size_t inside = load_acquire(&pool->inside);
        (void)BUFPOOL__HOOK(BUFPOOL__HOOK_DESTROY_COUNTING, pool);
        struct tc_counters sum;
        bufpool__sum_counters(pool, &sum);
        /* The queue is empty after shutdown, so serving wakes nobody and
         * the plain unlock in the timed wait below loses no wake. */
        pool->flush_accts = true; /* no cache keeps an account past its pool */
        bufpool__serve(pool, bufpool__steal(pool, NULL));
        if (inside == 0 && load_relaxed(&sum.allocs) == load_relaxed(&sum.frees))
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        BUFPOOL__SET_HOLDER(pool, 0);
        pthread_cond_timedwait(&pool->idle, &pool->lock, &ts);
        BUFPOOL__SET_HOLDER(pool, BUFPOOL__SELF);
    }
    bufpool__unlock_plain(pool);
    bufpool__registry_remove(pool);
    bufpool__tcache_pool_fini(pool);
    bufpool__accounts_free(pool);
    bufpool__leaks_fini(pool);
    bufpool__arena_destroy(pool->arena);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->idle);
    pool->magic = BUFPOOL__MAGIC_DEAD;
#ifdef BUFPOOL_DEBUG
    bufpool__debug_bury(pool); /* kept, so later misuse is recognised */
#else
    bufpool__free_hdrs(pool);
    free(pool);
#endif
}

/* A cache hit handed out, counted already: inside the window of its pop,
 * or by bufpool__count_watched. */
static inline __attribute__((always_inline)) int give_out(struct bufpool *pool, struct bufpool_alloc *a,
                                                        bufpool_alloc **out)
{
    (void)pool; /* for VG_HAND_OUT */
    store_relaxed(&a->refs, 1);
    VG_HAND_OUT(a->first, bufpool__bytes(pool, a->n));
    *out = a;
    return 0;
}


/* A timed call's deadline (CLOCK_MONOTONIC ns), UINT64_MAX for none: for
 * other calls, and for a timeout so long that the deadline overflows. */
static uint64_t deadline(int kind, uint64_t timeout_ns)
{
    if (kind != ACQ_TIMED)
        return UINT64_MAX;
    uint64_t t0 = bufpool__now_ns();
    return t0 + timeout_ns < t0 ? UINT64_MAX : t0 + timeout_ns;
}

/* A miss refilled from the depot.  Entries it moved into the bin are
 * hidden from a waiter that has looked already, as a release's push is:
 * so the look follows, as after a release (W2; seq_cst: pairs with
 * enqueue's increment in waitq.c). */
static struct bufpool_alloc *refill(bufpool *pool, struct tcache *tc, size_t n)
{
    bool hid = false;
    struct bufpool_alloc *a = bufpool__tcache_refill(pool, tc, n, &hid);
    if (hid && load_seqcst(&pool->nwait))
        bufpool__gave(pool, tc);
    return a;
}

/*
 * Memory now, without queueing: the caches, the depot, the run, then the
 * arena.  0 and *out; -EAGAIN: no budget (or region run) now; another
 * negative errno: a failure, after which any waiter is served with what
 * the failed attempt gave back.
 */
static int take_now(bufpool *pool, struct tcache *tc, size_t n, bufpool_alloc **out)
{
    struct bufpool_alloc *a;
    if ((a = bufpool__tcache_pop(pool, tc, n)) ||
        (n <= FAST_N && (a = refill(pool, tc, n))) ||
        (a = bufpool__run_take(pool, tc, n))) {
        bufpool__count_watched(pool, tc, n, true);
        return give_out(pool, a, out); /* the sample: acquire_full */
    }
    size_t charged = load_relaxed(&pool->charged);
    bool gave;
    int r = bufpool__block_new(pool, tc, n, &gave, &a);
    /* A purge without the lock (arena.c), and a charge the arena gave back
     * after a failure, are gives (W2): a waiter may have found the range
     * claimed, or registered while the charge was held.  Looked after
     * whatever the result: a call that fails with -EAGAIN after a purge
     * may never reach the queue (a try that no steal can help, a try in
     * FIFO order) or reach it only after a spin.  seq_cst load after the
     * seq_cst uncharges, as in bufpool_alloc_release. */
    if (unlikely(gave || (r && r != -EAGAIN)) && load_seqcst(&pool->nwait))
        bufpool__gave(pool, tc);
    if (r)
        return r;
    bufpool__account_alloc_watched(pool, tc, a);
    /* The peak is sampled when the pool takes more from the system; a run
     * of memory it already held (cached in the arena) leaves it alone, so
     * a miss reads no other thread's counters (stats.c). */
    if (load_relaxed(&pool->charged) > charged)
        bufpool__sample_peak(pool);
    *out = a;
    return 0;
}

/*
 * May taking every thread's cache make room for n?  What is charged but
 * not in use is cached (caches, the depot, the arena's resident runs) or
 * set aside for a FIFO waiter, so the answer is whether cached_bytes would
 * cover what the free budget lacks.  Only a try asks: a steal costs every
 * CPU that runs one of our threads an interrupt (stop_barrier in cache.c),
 * and a try that no steal can help must not pay it.  A try is no waiter:
 * nothing in the wait protocol depends on its steal.  The counters are
 * summed without the lock, a hint: a yes still takes the ordinary path,
 * and a no misses only releases concurrent with the try.
 */
static bool steal_may_serve(struct bufpool *pool, size_t n)
{
    struct tc_counters sum;
    bufpool__sum_counters(pool, &sum);
    uint64_t bufs = load_relaxed(&sum.bufs);
    size_t room = load_relaxed(&pool->max_memory) - bufpool__bytes(pool, n); /* n fits: checked */
    /* a sum below zero: read a moment apart, nothing in use */
    return (int64_t)bufs <= 0 || bufs <= (room >> pool->shift);
}

/* May a told call search again, or must it queue behind a hand-off that
 * began since it was told (acquire_full)? */
static bool queue_after_tell(bufpool *pool)
{
    (void)BUFPOOL__HOOK(BUFPOOL__HOOK_TOLD_RETRY, pool);
    return (load_relaxed(&pool->gate) & GATE_FIFO) && load_seqcst(&pool->nwait);
}

/*
 * The search, after acquire_full's checks: memory now (take_now), once a
 * short spin, then the queue; the queue first (queue_first) when FIFO
 * order or a starving request says nobody may overtake those queued.
 * Told (W6), a call starts over; a try gives up after three tells.  A told
 * call is still counted in pool->inside (tells > 0), so bufpool_destroy,
 * which frees the pool once inside is 0 and the counts balance, waits for
 * it; it drops that count on its way out here, or acquire_slow does, as
 * its last touch of the pool.
 */
static int acquire_search(bufpool *pool, struct tcache *tc, size_t n, int kind,
                          uint64_t timeout_ns, bool queue_first, bufpool_alloc **out)
{
    unsigned tells = 0;
    uint64_t end = 0; /* the deadline, once it is needed */
    bool spun = false, queue = queue_first, told;
    struct call_state call = {0};
    int r;
    for (;;) {
        if (!queue) {
            r = take_now(pool, tc, n, out);
            if (r != -EAGAIN)
                break;
            if (!end)
                end = deadline(kind, timeout_ns);
            if (kind != ACQ_TRY && !spun) { /* once: memory seen may be gone */
                spun = true;
                if (bufpool__spin_for(pool, tc, n, end)) {
                    if (tells) /* as after a tell: a hand-off may have begun */
                        queue = queue_after_tell(pool);
                    continue;
                }
            }
            /* a hint: a callback set meanwhile is not waited for */
            if (kind == ACQ_TRY && !steal_may_serve(pool, n) && !load_relaxed(&pool->reclaimers))
                break;
        } else if (!end) {
            end = deadline(kind, timeout_ns);
        }
        r = bufpool__acquire_slow(pool, tc, n, kind, end, tells, &call, &told, out);
        if (!told)
            return r; /* acquire_slow dropped the count */
        r = -EAGAIN;
        if (kind == ACQ_TRY && tells >= 2)
            break;
        tells++;
        queue = queue_after_tell(pool);
    }
    if (r)
        fetch_add_relaxed(&pool->failures, 1);
    if (tells)
        bufpool__inside_leave(pool);
    return r;
}

/* Everything acquire's fast path leaves out: the checks in their
 * documented order, the other TLS slots, the depot, the arena, waiting. */
static __attribute__((noinline)) int acquire_full(bufpool *pool, size_t n, int kind,
                                                  uint64_t timeout_ns, bufpool_alloc **out, void *site)
{
    int r = -EINVAL;
    if (unlikely(!pool)) {
        if (out)
            *out = NULL;
        return r;
    }
    bufpool__check_pool(pool, "bufpool_allocate");
    if (unlikely(!out))
        goto fail;
    *out = NULL;
    if (unlikely(n == 0))
        goto fail;
    /* did a fast path count this call down (acquire, acquire_long)? */
    bool counted = bufpool__tl[0].id == pool->id && (n - 1 < load_relaxed(&pool->fast_max) ||
                                                     (n > FAST_N && n <= load_relaxed(&pool->hit_max)));
    r = -E2BIG;
    if (unlikely(n > (SIZE_MAX >> pool->shift) ||
                 bufpool__bytes(pool, n) > load_relaxed(&pool->max_memory)))
        goto fail;
    r = -ECANCELED;
    if (unlikely(load_relaxed(&pool->shut)))
        goto fail;
    r = -EDEADLK; /* from a reclaim callback of this pool (reclaim.c) */
    if (unlikely(bufpool__reclaim_refuses(pool)))
        goto fail;
    struct tcache *tc = bufpool__tcache_get(pool, pool->id);
    r = -ENOMEM;
    if (unlikely(!tc))
        goto fail;
    /* FIFO, or a starving request: nobody overtakes a waiting request, nor
     * one on its way into the queue (arriving, see bufpool__acquire_slow).
     * The gate is a hint (a starving request's hand-off may begin or end
     * meanwhile; FIFO never changes); seq_cst on nwait pairs with the
     * increment in enqueue (waitq.c). */
    bool queue_first = (load_relaxed(&pool->gate) & GATE_FIFO) &&
                       (load_seqcst(&pool->nwait) || load_relaxed(&pool->arriving));
    r = acquire_search(pool, tc, n, kind, timeout_ns, queue_first, out);
    bufpool__sample_after(tc, counted, r, *out, site);
    return r;
fail:
    fetch_add_relaxed(&pool->failures, 1);
    return r;
}

/*
 * What the fast path below leaves, first tried as a hit of a length above
 * FAST_N: the fast path's test with hit_max (the gate and the budget's
 * bound) for fast_max, then a pop from the length's shared bin if it holds
 * n.  Apart from acquire_full, so that a hit saves no registers.
 */
static __attribute__((noinline)) int acquire_long(bufpool *pool, size_t n, int kind,
                                                  uint64_t timeout_ns, bufpool_alloc **out, void *site)
{
    if (likely(pool && out && n > FAST_N && n <= load_relaxed(&pool->hit_max) &&
               bufpool__tl[0].id == pool->id)) {
        bufpool__check_pool(pool, "bufpool_allocate");
        struct tcache *tc = bufpool__tl[0].tc;
        if (likely(--tc->sample_left != 0 && bufpool__tc_try_enter(tc))) {
            struct bufpool_alloc *a = bufpool__bin_pop(tc, n);
            if (likely(a))
                bufpool__count_alloc(&tc->c, n); /* inside the window (watch.c) */
            bufpool__tc_exit(tc);
            if (likely(a))
                return give_out(pool, a, out);
        }
    }
    return acquire_full(pool, n, kind, timeout_ns, out, site);
}

/* acquire_stopped's hit where its level crosses a watch's threshold (or
 * another thread holds the level): the same with bufpool__watch_level,
 * which writes the fd.  The window is still open. */
static __attribute__((noinline)) int acquire_crossing(bufpool *pool, size_t n, bufpool_alloc **out)
{
    struct tcache *tc = bufpool__tl[0].tc;
    struct tc_bin *b = tc->bins + n;
    struct bufpool_alloc *a = b->head;
    bufpool__watch_level(pool, (int64_t)n);
    bufpool__bin_unlink(b, a);
    bufpool__count_alloc(&tc->c, n);
    bufpool__tc_exit(tc);
    return give_out(pool, a, out);
}

/*
 * The fast path's window found a stop bit and is still open.  With
 * nothing but the watches' bits in it (watch.c), the fast path's hit, the
 * pool's level moved first if a watch of it is armed; so an armed
 * roundtrip takes no lock but the level's.  Else the window closes and the
 * call takes the full path.
 */
static __attribute__((noinline)) int acquire_stopped(bufpool *pool, size_t n, int kind, uint64_t timeout_ns,
                                                     bufpool_alloc **out, void *site)
{
    struct tcache *tc = bufpool__tl[0].tc;
    struct tc_bin *b = tc->bins + n; /* n <= FAST_N: as in acquire */
    struct bufpool_alloc *a;
    /* acquire: a second load in the same window, as in bufpool__tc_enter */
    uint32_t stop = load_acquire(&tc->stop);
    if (unlikely((stop & ~(uint32_t)(STOP_WATCH | STOP_AWATCH)) || !(a = b->head))) {
        bufpool__tc_exit(tc);
        return acquire_full(pool, n, kind, timeout_ns, out, site);
    }
    /* no call but tail calls: an armed hit saves no registers */
    if ((stop & STOP_WATCH) && unlikely(!bufpool__watch_level_try(pool, (int64_t)n)))
        return acquire_crossing(pool, n, out);
    bufpool__bin_unlink(b, a);
    bufpool__count_alloc(&tc->c, n);
    bufpool__tc_exit(tc);
    return give_out(pool, a, out);
}

/*
 * The fast path: a cache hit on this thread's most recent cache, every
 * check folded into one test: n - 1 < fast_max covers n == 0, a request
 * over the budget or over FAST_N, an overflowing n, and the gate
 * (shutdown, FIFO), which makes fast_max 0; a fenced pool, a steal or a
 * watch shows in the window's stop word (acquire_stopped).  Anything else,
 * errors included, goes to acquire_full, which checks again in order.  Its
 * only calls are tail calls, so a hit needs no stack frame.
 */
static inline __attribute__((always_inline)) int acquire(bufpool *pool, size_t n, int kind,
                                                        uint64_t timeout_ns, bufpool_alloc **out)
{
    if (likely(pool && out && bufpool__tl[0].id == pool->id &&
               n - 1 < load_relaxed(&pool->fast_max))) {
        bufpool__check_pool(pool, "bufpool_allocate");
        struct tcache *tc = bufpool__tl[0].tc;
        if (likely(--tc->sample_left != 0)) {
            if (unlikely(bufpool__tc_open(tc)))
                return acquire_stopped(pool, n, kind, timeout_ns, out, __builtin_return_address(0));
            (void)BUFPOOL__HOOK(BUFPOOL__HOOK_IN_WINDOW, pool);
            /* n <= FAST_N: bin n holds length n or nothing */
            struct tc_bin *b = tc->bins + n;
            struct bufpool_alloc *a = b->head;
            if (likely(a)) {
                bufpool__bin_unlink(b, a);
                bufpool__count_alloc(&tc->c, n); /* inside the window (watch.c) */
            }
            bufpool__tc_exit(tc);
            if (likely(a))
                return give_out(pool, a, out);
        }
    }
    return acquire_long(pool, n, kind, timeout_ns, out, __builtin_return_address(0));
}

BUFPOOL__API int bufpool_allocate(bufpool *pool, size_t n, bufpool_alloc **out)
{
    return acquire(pool, n, ACQ_BLOCK, 0, out);
}

BUFPOOL__API int bufpool_try_allocate(bufpool *pool, size_t n, bufpool_alloc **out)
{
    return acquire(pool, n, ACQ_TRY, 0, out);
}

BUFPOOL__API int bufpool_allocate_timeout(bufpool *pool, size_t n, uint64_t timeout_ns, bufpool_alloc **out)
{
    if (timeout_ns)
        return acquire(pool, n, ACQ_TIMED, timeout_ns, out);
    /* A zero timeout is a try (bufpool_allocate(3)): no spin, no queue, no
     * sleep, no wait counted; only its word for "not now" differs. */
    int r = acquire(pool, n, ACQ_TRY, 0, out);
    return r == -EAGAIN ? -ETIMEDOUT : r;
}

BUFPOOL__API bufpool_alloc *bufpool_alloc_retain(bufpool_alloc *a)
{
    if (a) {
        bufpool__check_alloc(a, "retain");
        /* relaxed: the caller already holds a reference, so nothing can be
         * freed under it; the matching ordering is on the release side. */
        fetch_add_relaxed(&a->refs, 1);
    }
    return a;
}

/*
 * After a push of n buffers inside tc's window: the look (waitq.c: seq_cst,
 * pairs with enqueue's increment; the push is plain, and a waiter's
 * membarrier() orders the two, cache.c), then the count, the last touch of
 * the pool, and the window closes: counted inside it, so that a watch's
 * arm misses no count (watch.c).  A look that finds a waiter leaves the
 * count to the serve (bufpool__release_pushed).
 */
static inline __attribute__((always_inline)) void pushed_exit(struct bufpool *pool, struct tcache *tc,
                                                             size_t n)
{
    if (unlikely(load_seqcst(&pool->nwait))) { /* W2: give, then look */
        bufpool__tc_exit(tc);
        bufpool__release_pushed(pool, tc, n);
        return;
    }
    bufpool__count_free(&tc->c, n);
    bufpool__tc_exit(tc);
}

/* The end of a release that found room in its bin b, inside tc's window:
 * the push, then pushed_exit. */
static inline __attribute__((always_inline)) void release_hit(struct bufpool *pool,
                                                             struct tcache *tc, struct tc_bin *b,
                                                             struct bufpool_alloc *a, size_t n)
{
    b->room--;
    store_relaxed(&a->next, b->head);
    compiler_fence(); /* as in bufpool__bin_push */
    b->head = a;
    pushed_exit(pool, tc, n);
}

/* Inside tc's window: push a into the account cache if the cache serves
 * a's account and has room (the window stays open), else close the
 * window. */
static inline __attribute__((always_inline)) bool acct_push(struct bufpool *pool, struct tcache *tc,
                                                           struct bufpool_alloc *a, size_t n)
{
    if (tc->acct != a->acct || tc->acct_count[n] >= ACCT_BIN_MAX) {
        bufpool__tc_exit(tc);
        return false;
    }
    store_relaxed(&a->next, tc->acct_head[n]);
    compiler_fence(); /* linked, then published, as in bufpool__bin_push */
    tc->acct_head[n] = a;
    tc->acct_count[n]++;
    store_relaxed(&tc->acct_frees, load_relaxed(&tc->acct_frees) + 1); /* owner only */
    store_relaxed(&tc->acct_bytes, load_relaxed(&tc->acct_bytes) + bufpool__bytes(pool, n));
    return true;
}

/* As acct_release_fast, where a fenced pool closed the fast window: the
 * full window fences (cache.h), and so does the push before its look, as
 * in release_full.  A watch armed closes the account caches (watch.c). */
static __attribute__((noinline)) bool acct_release_fenced(struct bufpool *pool, struct tcache *tc,
                                                          struct bufpool_alloc *a, size_t n)
{
    if (!bufpool__tc_enter_acct(pool, tc) || !acct_push(pool, tc, a, n))
        return false;
    if (load_relaxed(&pool->fenced))
        fence_seqcst();
    pushed_exit(pool, tc, n);
    return true;
}

/*
 * A release into this thread's account cache, when it serves a's account
 * and has room: a push inside the window, then the look of W2; the push
 * is ordered before it as for the plain bins (a waiter's steal handshake,
 * or the fence of a fenced pool).  The caller has matched the thread's
 * slot with fast_id.  False: the caller takes the locked path.
 */
static inline __attribute__((always_inline)) bool acct_release_fast(struct bufpool *pool,
                                                                 struct bufpool_alloc *a, size_t n)
{
    if (n > FAST_N) /* the caller matched fast_id */
        return false;
    struct tcache *tc = bufpool__tl[0].tc;
    if (!bufpool__tc_try_enter(tc))
        return acct_release_fenced(pool, tc, a, n);
    if (!acct_push(pool, tc, a, n))
        return false;
    pushed_exit(pool, tc, n);
    return true;
}

/*
 * A last release that the fast paths below did not finish: no cache, a
 * waiter, a pool over its budget, a fenced pool or a steal going on, a
 * full bin or one of another length.  refs is 0 already.
 */
static __attribute__((noinline)) void release_full(struct bufpool *pool, struct bufpool_alloc *a,
                                                   size_t n)
{
    if (unlikely(a->magic == BUFPOOL__MAGIC_SAMPLED))
        bufpool__leak_remove(pool, a);
    if (unlikely(a->acct)) {
        if (bufpool__tl[0].id != load_relaxed(&pool->fast_id) || !acct_release_fast(pool, a, n))
            bufpool__acct_release(pool, a);
        return;
    }
    struct tcache *tc = bufpool__tcache_get(pool, pool->id);
    /* A hint: with somebody waiting, or the budget shrunk below what is
     * held, the memory goes straight to the queue or back to the system. */
    if (unlikely(!tc || load_relaxed(&pool->nwait) || (load_relaxed(&pool->gate) & GATE_OVER) ||
                 bufpool__over_budget(pool))) {
        bufpool__release_to_queue(pool, tc, a);
        return;
    }
    int pushed = bufpool__tcache_push(pool, tc, a);
    if (unlikely(pushed != PUSHED)) {
        if (pushed == PUSH_OTHER || n > FAST_N) {
            /* The bin holds another length, or a length without a depot:
             * the memory joins the cache's run, or goes back to the
             * arena, where any length can use it. */
            if (!bufpool__run_give(pool, tc, a))
                bufpool__block_free(pool, tc, a);
        } else {
            /* outside the window: a test may hold the thread here */
            (void)BUFPOOL__HOOK(BUFPOOL__HOOK_PUSH_FULL, pool);
            bufpool__tcache_overflow(pool, tc, a);
            (void)BUFPOOL__HOOK(BUFPOOL__HOOK_OVERFLOWED, pool);
        }
    }
    /* The "look" half of the wait protocol (waitq.c): after the push (or
     * the free into the arena, or the overflow into the depot), pairs with
     * enqueue's increment.  A push is a plain store: while the pool is
     * fenced the fence orders it before this load, otherwise a waiter's
     * membarrier() does (cache.c). */
    if (unlikely(load_relaxed(&pool->fenced)))
        fence_seqcst();
    if (unlikely(load_seqcst(&pool->nwait))) { /* W2, W3 */
        bufpool__release_pushed(pool, tc, n);
        return;
    }
    bufpool__count_watched(pool, tc, n, false); /* the last touch of the pool */
}


/* A last release of a length above FAST_N (whose a->bin, 0, never has
 * room): the fast path's tests, then a push into its shared bin if that
 * holds n and has room.  Apart from release_full, as acquire_long. */
static __attribute__((noinline)) void release_long(struct bufpool *pool, struct bufpool_alloc *a,
                                                   size_t n)
{
    if (unlikely(a->magic == BUFPOOL__MAGIC_SAMPLED)) /* sampled: its bin is 0 (leaks.c) */
        bufpool__leak_remove(pool, a);
    if (a->acct) { /* through an account: its bin is 0; fast_id matched */
        if (!acct_release_fast(pool, a, n))
            bufpool__acct_release(pool, a);
        return;
    }
    if (n > FAST_N && !a->acct && bufpool__tl[0].id == load_relaxed(&pool->fast_id)) {
        struct tcache *tc = bufpool__tl[0].tc;
        if (likely(bufpool__tc_try_enter(tc))) {
            struct tc_bin *b = &tc->bins[bufpool__bin_index(n)];
            if (likely(b->n == n && b->room)) {
                release_hit(pool, tc, b, a, n);
                return;
            }
            bufpool__tc_exit(tc);
        }
    }
    release_full(pool, a, n);
}

/* release_stopped's end where its level crosses a watch's threshold (or
 * another thread holds the level): bufpool__watch_level, which writes the
 * fd, then the count, the last touch of the pool.  The window is still
 * open. */
static __attribute__((noinline)) void release_crossing(struct bufpool *pool, struct tcache *tc, size_t n)
{
    bufpool__watch_level(pool, -(int64_t)n);
    bufpool__count_free(&tc->c, n);
    bufpool__tc_exit(tc);
}

/*
 * The fast path's window found a stop bit and is still open.  With
 * nothing but the watches' bits in it (watch.c) and room in the bin, the
 * fast path's push, and the pool's level moved before the count if a
 * watch of it is armed (acquire_stopped says why).  Else the window
 * closes and the release takes the full path.
 */
static __attribute__((noinline)) void release_stopped(struct bufpool *pool, struct bufpool_alloc *a, size_t n)
{
    struct tcache *tc = bufpool__tl[0].tc;
    struct tc_bin *b = tc->bins + (size_t)a->bin; /* as in bufpool_alloc_release */
    /* acquire: a second load in the same window, as in bufpool__tc_enter */
    uint32_t stop = load_acquire(&tc->stop);
    if (unlikely((stop & ~(uint32_t)(STOP_WATCH | STOP_AWATCH)) || !b->room)) {
        bufpool__tc_exit(tc);
        release_full(pool, a, n);
        return;
    }
    b->room--;
    store_relaxed(&a->next, b->head);
    compiler_fence(); /* as in bufpool__bin_push */
    b->head = a;
    if (unlikely(load_seqcst(&pool->nwait))) { /* as in pushed_exit */
        bufpool__tc_exit(tc);
        bufpool__release_pushed(pool, tc, n);
        return;
    }
    /* no call but tail calls, as in acquire_stopped */
    if ((stop & STOP_WATCH) && unlikely(!bufpool__watch_level_try(pool, -(int64_t)n))) {
        release_crossing(pool, tc, n);
        return;
    }
    bufpool__count_free(&tc->c, n);
    bufpool__tc_exit(tc);
}

/* A release of an allocation with other references (or of a cached one,
 * a misuse that refs 0 makes harmless): the last one gives it back. */
static __attribute__((noinline)) void release_shared(struct bufpool_alloc *a)
{
    if (fetch_sub_acqrel(&a->refs, 1) != 1)
        return;
    store_relaxed(&a->refs, 0);
    VG_TAKE_BACK(a->first, bufpool__bytes(a->pool, a->n));
    release_full(a->pool, a, a->n);
}

/*
 * The last release.  If refs is 1 we hold the only reference and nobody
 * can retain concurrently (retaining needs a reference), so no RMW is
 * needed.  The acquire load, like the acq_rel decrement, pairs with other
 * holders' decrements so their writes happen before the memory is reused.
 * The fast path pushes into this thread's most recent cache, unfenced,
 * and loads nwait after the push: a waiter's membarrier() orders the two
 * (cache.c, waitq.c).
 */
BUFPOOL__API void bufpool_alloc_release(bufpool_alloc *a)
{
    if (!a)
        return;
    bufpool__check_alloc(a, "release");
    if (unlikely(load_acquire(&a->refs) != 1)) {
        release_shared(a);
        return;
    }
    store_relaxed(&a->refs, 0);
    struct bufpool *pool = a->pool;
    size_t n = a->n; /* once pushed, a may be taken and reused at once */
    VG_TAKE_BACK(a->first, bufpool__bytes(pool, n));
    /* fast_id: the slot test is the gate test too (a pool over a shrunk
     * budget matches no slot); a fenced pool shows in the stop word */
    if (unlikely(bufpool__tl[0].id != load_relaxed(&pool->fast_id))) {
        release_full(pool, a, n);
        return;
    }
    struct tcache *tc = bufpool__tl[0].tc;
    if (unlikely(bufpool__tc_open(tc))) {
        release_stopped(pool, a, n);
        return;
    }
    /* a->bin: n's own bin (tagged n, or untagged with no room), or bin 0,
     * which never has room, for the lengths that share bins */
    struct tc_bin *b = tc->bins + (size_t)a->bin;
    if (unlikely(!b->room)) {
        bufpool__tc_exit(tc);
        release_long(pool, a, n);
        return;
    }
    release_hit(pool, tc, b, a, n);
}

BUFPOOL__API void *bufpool_alloc_first(const bufpool_alloc *a)
{
    return a ? a->first : NULL;
}

BUFPOOL__API size_t bufpool_alloc_length(const bufpool_alloc *a)
{
    return a ? a->n : 0;
}

BUFPOOL__API size_t bufpool_alloc_bytes(const bufpool_alloc *a)
{
    return a ? bufpool__bytes(a->pool, a->n) : 0;
}

BUFPOOL__API void *bufpool_alloc_buffer(const bufpool_alloc *a, size_t i)
{
    if (!a || i >= a->n)
        return NULL;
    return a->first + (i << a->pool->shift);
}

BUFPOOL__API size_t bufpool_alloc_offset(const bufpool_alloc *a)
{
    if (!a || !(a->pool->flags & BUFPOOL_REGION))
        return SIZE_MAX;
    return (size_t)(a->first - bufpool__arena_base(a->pool->arena));
}

BUFPOOL__API int bufpool_alloc_buf_index(const bufpool_alloc *a)
{
    if (!a || !(a->pool->flags & BUFPOOL_REGION))
        return -EINVAL;
    size_t piece = bufpool__arena_piece();
    if (bufpool__bytes(a->pool, a->n) > piece)
        return -ERANGE;
    return (int)(bufpool_alloc_offset(a) / piece);
}

BUFPOOL__API int bufpool_region(bufpool *pool, struct iovec *out)
{
    if (!out)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    if (!pool)
        return -EINVAL;
    bufpool__check_pool(pool, "bufpool_region");
    if (!(pool->flags & BUFPOOL_REGION))
        return -ENOTSUP;
    out->iov_base = bufpool__arena_base(pool->arena);
    out->iov_len = bufpool__arena_length(pool->arena);
    return 0;
}

/* The region in pieces of at most a GiB: io_uring registers each as one
 * fixed buffer, and allocations of at most a piece never straddle two. */
BUFPOOL__API int bufpool_region_iovecs(bufpool *pool, struct iovec *iov, unsigned max)
{
    if (!pool || (!iov && max > 0))
        return -EINVAL;
    bufpool__check_pool(pool, "bufpool_region_iovecs");
    if (!(pool->flags & BUFPOOL_REGION))
        return -ENOTSUP;
    char *base = bufpool__arena_base(pool->arena);
    size_t len = bufpool__arena_length(pool->arena), piece = bufpool__arena_piece();
    unsigned count = (unsigned)((len + piece - 1) / piece);
    for (unsigned i = 0; i < count && i < max; i++) {
        size_t off = (size_t)i * piece;
        iov[i].iov_base = base + off;
        iov[i].iov_len = len - off < piece ? len - off : piece;
    }
    return (int)count;
}

BUFPOOL__API int bufpool_set_max_memory(bufpool *pool, size_t max_memory)
{
    if (!pool)
        return -EINVAL;
    bufpool__check_pool(pool, "bufpool_set_max_memory");
    if (max_memory < pool->buffer_size)
        return -EINVAL;
    if ((pool->flags & BUFPOOL_REGION) && max_memory > bufpool__arena_length(pool->arena))
        return -EINVAL;
    bufpool__lock(pool);
    if (!bufpool__accounts_fit_locked(pool, max_memory)) {
        bufpool__unlock_plain(pool);
        return -ENOSPC; /* below what the accounts reserve */
    }
    store_relaxed(&pool->max_memory, max_memory);
    bufpool__fail_impossible(pool);
    bufpool__watchers_grown(pool); /* after the store, under the lock (waitq.c) */
    /* A shrink: free memory the arena keeps resident goes back before this
     * call returns; beyond a slice, after the unlock (bufpool__unlock), so
     * that calls documented never to block do not wait out the madvise.
     * Meanwhile the pool is over its budget: releases give back (waitq.c)
     * and reuse of cached memory stops (arena.c, charge). */
    size_t charged = load_relaxed(&pool->charged);
    if (charged > max_memory)
        bufpool__arena_trim_locked(pool, charged - max_memory);
    charged = load_relaxed(&pool->charged);
    /* Still over (live memory, memory being purged, or caches refilled
     * meanwhile): releases give back until a slow one, or the purge above,
     * finds the pool within budget (waitq.c). */
    pool->over = bufpool__over_budget(pool);
    bufpool__gate_update(pool);
    bufpool__unlock(pool);
    return 0;
}
