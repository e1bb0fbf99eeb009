/*
 * Shared internal types of bufpool.  Nothing here is public API.
 *
 * The pieces, one file each:
 *   arena.c   the memory of every pool: reserved address space carved in runs
 *   region.c  the carving allocator (an exact first-fit tree) the arena uses
 *   budget.c  the byte budget (one atomic word) and the allocation headers
 *   cache.c   per-thread caches of released allocations
 *   waitq.c   the wait queue: blocked calls, async waiters, wakeups
 *   pool.c    create/destroy/shutdown, the allocate and release paths
 *   fork.c    the registry of live pools and the fork() handlers
 *   stats.c   statistics
 *   debug.c   misuse checks (BUFPOOL_DEBUG) and test hooks (BUFPOOL_TEST_HOOKS)
 */
#ifndef BUFPOOL_INTERNAL_H
#define BUFPOOL_INTERNAL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bufpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define BUFPOOL__API __attribute__((visibility("default")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define CACHELINE 64

/* A polite busy-wait step. */
#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define cpu_relax() atomic_signal_fence(memory_order_seq_cst)
#endif

/*
 * Atomics behind named wrappers.  Every call site says what it pairs with.
 * seq_cst is used only where a Dekker-style "store mine, then load theirs"
 * handshake needs a single total order (see the wait protocol in waitq.c).
 */
#define load_relaxed(p) atomic_load_explicit((p), memory_order_relaxed)
#define load_acquire(p) atomic_load_explicit((p), memory_order_acquire)
#define load_seqcst(p) atomic_load_explicit((p), memory_order_seq_cst)
#define store_relaxed(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define store_release(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define fetch_add_relaxed(p, v) atomic_fetch_add_explicit((p), (v), memory_order_relaxed)
#define fetch_add_seqcst(p, v) atomic_fetch_add_explicit((p), (v), memory_order_seq_cst)
#define fetch_sub_seqcst(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_seq_cst)
#define fetch_sub_relaxed(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_relaxed)
#define fetch_sub_release(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_release)
#define fetch_sub_acqrel(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_acq_rel)
#define exchange_seqcst(p, v) atomic_exchange_explicit((p), (v), memory_order_seq_cst)
#define cas_seqcst(p, e, v) \
    atomic_compare_exchange_weak_explicit((p), (e), (v), memory_order_seq_cst, memory_order_relaxed)
#define cas_relaxed(p, e, v) \
    atomic_compare_exchange_weak_explicit((p), (e), (v), memory_order_relaxed, memory_order_relaxed)
#define cas_acqrel(p, e, v) \
    atomic_compare_exchange_weak_explicit((p), (e), (v), memory_order_acq_rel, memory_order_relaxed)
/* A full fence, for the symmetric half of the steal handshake (cache.c).
 * ThreadSanitizer does not model fences: under it, a seq_cst RMW of one
 * shared word, which it does model, and which is a full barrier too. */
#if !defined(__SANITIZE_THREAD__) && defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define __SANITIZE_THREAD__ 1 /* clang's name for it */
#endif
#endif
#ifdef __SANITIZE_THREAD__
extern _Atomic int bufpool__fence_word;
#define fence_seqcst() ((void)atomic_fetch_add_explicit(&bufpool__fence_word, 0, memory_order_seq_cst))
#else
#define fence_seqcst() atomic_thread_fence(memory_order_seq_cst)
#endif
/* Keeps the compiler from moving memory accesses across it; no instruction. */
#define compiler_fence() atomic_signal_fence(memory_order_seq_cst)
/* An owner-only counter: one writer, read racily by stats.  No RMW needed. */
#define counter_add(p, v) store_relaxed((p), load_relaxed(p) + (v))

/* -DBUFPOOL_VALGRIND: tell memcheck that cached memory is off limits, so
 * a use after release is reported even though the memory is recycled. */
#if defined(BUFPOOL_VALGRIND) && __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define VG_HAND_OUT(p, len) VALGRIND_MAKE_MEM_UNDEFINED((p), (len))
#define VG_TAKE_BACK(p, len) VALGRIND_MAKE_MEM_NOACCESS((p), (len))
#else
#define VG_HAND_OUT(p, len) ((void)0)
#define VG_TAKE_BACK(p, len) ((void)0)
#endif

/* -DBUFPOOL_DEBUG: misuse aborts with a message (debug.c). */
#ifdef BUFPOOL_DEBUG
void bufpool__check_pool(const struct bufpool *pool, const char *what);
void bufpool__check_alloc(const struct bufpool_alloc *a, const char *what);
void bufpool__debug_bury(struct bufpool *pool);
#else
#define bufpool__check_pool(pool, what) ((void)0)
#define bufpool__check_alloc(a, what) ((void)0)
#endif

/* -DBUFPOOL_TEST_HOOKS: named points where a test (tests/race_*.c) may
 * pause a thread to force an interleaving, or make a step fail.  The test
 * installs bufpool__test_hook before it starts any thread; it returns
 * nonzero to make a point that can fail fail.  Other builds compile the
 * points away. */
enum bufpool__hook_point {
    BUFPOOL__HOOK_SLOW_ENTER,       /* acquire_slow, before it takes the lock */
    BUFPOOL__HOOK_WAKE_SERVED,      /* a woken sleeper, before it counts its allocation */
    BUFPOOL__HOOK_DESTROY_COUNTING, /* destroy, between reading inside and the counters */
    BUFPOOL__HOOK_PUSH_FULL,        /* a release found its bin full, before the depot */
    BUFPOOL__HOOK_OVERFLOWED,       /* a release moved its bin to the depot, before nwait */
    BUFPOOL__HOOK_BLOCK_NEW,        /* a run carved, before its header; nonzero: -ENOMEM */
    BUFPOOL__HOOK_IN_WINDOW,        /* an allocation's pop, inside the busy window */
    BUFPOOL__HOOK_STEAL_WAIT,       /* a stealer found an owner inside its window */
    BUFPOOL__HOOK_REFILL_TAKEN,     /* a refill took a chain, before its bin gets the rest */
    BUFPOOL__HOOK_TOLD_RETRY,       /* a told call, as it starts over */
    BUFPOOL__HOOK_RUN_CUT,          /* a cut of the cache's run, between its two stores */
    BUFPOOL__HOOK_PURGE,            /* a purge, its range taken, before the madvise */
};
#ifdef BUFPOOL_TEST_HOOKS
extern int (*bufpool__test_hook)(int point, struct bufpool *pool);
#define BUFPOOL__HOOK(point, pool) (bufpool__test_hook ? bufpool__test_hook((point), (pool)) : 0)
#else
#define BUFPOOL__HOOK(point, pool) 0
#endif

#define BUFPOOL__MAGIC_ALLOC 0xa11cu /* 16 bits: the header is 40 bytes */
#define BUFPOOL__MAGIC_POOL 0xb0f1b001u
#define BUFPOOL__MAGIC_DEAD 0xdeadb0f1u

/* One allocation: 40 bytes, packed in the pool's slabs (budget.c).  Kept
 * apart from its buffers, so page-sized buffers waste no page on a header
 * and region memory holds only data.  A roundtrip touches this struct
 * alone; the buffers are the caller's.  Packed rather than a cache line
 * each: neighbours are mostly the same thread's (stashes hand out runs of
 * one slab), and a million small allocations cost 40 bytes each, not 64. */
struct bufpool_alloc {
    /* Link while cached.  Atomic (relaxed) because lists move between a
     * cache, the depot and serving threads under different exclusions. */
    _Atomic(struct bufpool_alloc *) next;
    char *first;
    size_t n;
    struct bufpool *pool;
    _Atomic uint32_t refs; /* 0 while cached */
    uint16_t bin;          /* n when n <= FAST_N (its bin), else 0: the release's fast path */
    uint16_t magic;
};

/* ---- arena.c: every pool's memory -----------------------------------------
 * Under the arena's innermost locks, one per chunk (pool->lock may be
 * held; see the top of arena.c). */
struct bufpool__arena;
int bufpool__arena_create(struct bufpool__arena **out, size_t bs, size_t max, unsigned flags);
void bufpool__arena_destroy(struct bufpool__arena *a);
/* n buffers, charging the budget for what is not resident yet: 0, -EAGAIN
 * (no budget, or in REGION mode no run, now), -ENOMEM.  locked: the caller
 * holds pool->lock; a purge longer than a slice is then left to
 * bufpool__unlock (pool->purge_want), and this call fails with -EAGAIN. */
int bufpool__arena_alloc(struct bufpool *pool, size_t n, unsigned home, bool locked, bool *gave,
                         char **first);
/* locked: as above; a pool over its budget is then purged back down by
 * bufpool__unlock, not by this call. */
void bufpool__arena_free(struct bufpool *pool, char *first, size_t n, bool locked);
/* Give back about `want` bytes of free resident memory if there is that
 * much; the bytes uncharged.  No lock is held across a madvise. */
size_t bufpool__arena_purge(struct bufpool *pool, size_t want);
/* Under pool->lock: purge want bytes now if the section may still purge
 * that much itself (a slice in all), else after the unlock. */
void bufpool__arena_trim_locked(struct bufpool *pool, size_t want);
/* Purge claims in flight: stable under every chunk's lock (fork.c). */
unsigned bufpool__arena_purging(struct bufpool__arena *a);
size_t bufpool__arena_dirty(const struct bufpool__arena *a); /* free resident bytes */
size_t bufpool__arena_largest(struct bufpool__arena *a);    /* in buffers */
/* Could a run of n buffers be carved now, the budget aside? */
bool bufpool__arena_fits(struct bufpool__arena *a, size_t n);
char *bufpool__arena_base(const struct bufpool__arena *a);  /* REGION, else NULL */
size_t bufpool__arena_length(const struct bufpool__arena *a); /* REGION, else 0 */
size_t bufpool__arena_piece(void); /* REGION: the largest io_uring fixed buffer */
/* May the adjacent runs at p and q be joined (one chunk, not REGION)? */
bool bufpool__arena_joinable(struct bufpool__arena *a, const char *p, const char *q);
void bufpool__arena_lock(struct bufpool__arena *a);   /* for fork.c */
void bufpool__arena_unlock(struct bufpool__arena *a);

/* ---- region.c: the carving allocator ------------------------------------
 * The region is max_memory rounded up to a page (to 2 MiB with HUGEPAGES),
 * carved in units of one buffer.  It has its own lock; callers may hold the
 * pool lock (lock order: pool->lock, then the region's). */
struct bufpool__region;
int bufpool__region_create(struct bufpool__region **out, size_t buffer_size,
                           size_t max_memory, unsigned flags);
void bufpool__region_destroy(struct bufpool__region *r);
void *bufpool__region_base(const struct bufpool__region *r);
size_t bufpool__region_length(const struct bufpool__region *r); /* bytes */
/* A run of n free buffers: its first buffer's index, or SIZE_MAX if none. */
size_t bufpool__region_alloc(struct bufpool__region *r, size_t n);
void bufpool__region_free(struct bufpool__region *r, size_t index, size_t n);
size_t bufpool__region_largest(struct bufpool__region *r); /* in buffers */
/* Zeroed bookkeeping memory, mapped lazily when large; NULL on failure. */
void *bufpool__zalloc(size_t bytes);
void bufpool__zfree(void *p, size_t bytes);
/* fork.c holds the region's lock across fork(); NULL: no-op. */
void bufpool__region_lock(struct bufpool__region *r);
void bufpool__region_unlock(struct bufpool__region *r);
/* For the arena: a tree over memory it does not own, and calls that the
 * arena serializes under its own lock instead of the region's. */
int bufpool__region_create_over(struct bufpool__region **out, void *base, size_t length,
                                size_t buffer_size);
size_t bufpool__region_find_locked(const struct bufpool__region *r, size_t n);
void bufpool__region_take_locked(struct bufpool__region *r, size_t index, size_t n);
void bufpool__region_give_locked(struct bufpool__region *r, size_t index, size_t n);
void bufpool__region_edges_locked(const struct bufpool__region *r, size_t *pre, size_t *suf,
                                  size_t *max);
size_t bufpool__region_units(const struct bufpool__region *r);
/* Are the units [index, index + n) all free? */
bool bufpool__region_free_locked(struct bufpool__region *r, size_t index, size_t n);

/* ---- cache.c ------------------------------------------------------------ */
#define TC_BINS 21
#define TC_BIN_CAP 32

/* A bin caches allocations of one length n.  Plain memory: only the
 * owning thread touches it, inside its cache's busy window (below) or
 * under pool->lock, and a stealer only after the handshake in cache.c,
 * whose acquire and release orders make every access happen before the
 * next.  A push links its entry before it publishes it (a compiler
 * barrier between), so that fork's child always finds a whole list. */
struct tc_bin {
    alignas(32) struct bufpool_alloc *head; /* 32 bytes: a shift indexes */
    size_t n;      /* the length this bin holds */
    unsigned room; /* entries it may still take */
    unsigned cap;  /* room when empty, set when tagged */
};

/* The depot's chains of one length (depot.c): each slot 0 or one chain
 * (its first header and its length); four cache lines per length, so
 * that a burst of about a thousand releases still fits (depot.c). */
#define DEPOT_SLOTS 32
struct depot_bin {
    alignas(CACHELINE) _Atomic uintptr_t slot[DEPOT_SLOTS];
};

/* Owner-written statistics; summed racily by stats.c.  bufs goes up by n
 * for each allocation this thread hands out and down by n for each it
 * takes back, modulo 2^64: one thread's figure means nothing, the sum over
 * every thread is the number of buffers in use. */
struct tc_counters {
    _Atomic uint64_t allocs, frees; /* allocations made / returned */
    _Atomic uint64_t bufs;
};

/*
 * The steal handshake (cache.c has the argument).  The owner's fast path
 * stores busy = 1, loads stop, works on its bins with plain loads and
 * stores, and stores busy = 0: no locked instruction.  A stealer (always
 * under pool->lock) stores stop = 1, makes the two orders meet with a
 * barrier (one membarrier() for every cache, or a fence while the pool is
 * fenced), waits until busy is 0, takes the bins, and clears stop.  An
 * owner that sees stop does its step under pool->lock instead.
 */
struct tcache {
    struct tc_bin bins[TC_BINS]; /* first, so that bin n is at n * 32 */
    struct bufpool_alloc *stash; /* owner-only: spare headers (budget.c) */
    /* The run: released memory of any length, kept whole (adjacent
     * releases join it) and cut for misses of any length that fits; owner
     * only, inside the window or under pool->lock, and stolen like the
     * bins.  NULL, or a header whose first/n describe it. */
    struct bufpool_alloc *run;
    unsigned nstash;
    unsigned spin_limit;         /* owner-only: bufpool__spin_for's, adaptive */
    unsigned spin_min;           /* owner-only: its floor, set with the first */
    unsigned home;               /* the arena's home chunk to carve from first */
    /* The line every step writes: the window and the counters. */
    alignas(CACHELINE) _Atomic uint32_t busy; /* owner: 1 inside a fast-path step */
    _Atomic uint32_t stop; /* STOP_* bits, written under pool->lock */
    unsigned fenced_ops;   /* owner: steps made while the pool was fenced */
    struct tc_counters c;
    struct tcache *next;  /* the pool's list; append-only while it lives */
    struct bufpool *pool;
    _Atomic int owners;   /* 2: a thread and the pool; 1: one of them */
};

/* tcache->stop: STOP_STEAL while a stealer works on the cache, STOP_FENCED
 * while the pool is fenced (a copy of pool->fenced in every cache, so that
 * the owner reads both in one load inside its window). */
enum { STOP_STEAL = 1, STOP_FENCED = 2 };

struct tcache *bufpool__tcache_get_slow(struct bufpool *pool);
/* Can stealers use membarrier() (asked once per process)?  If not, every
 * pool stays fenced. */
bool bufpool__asym_available(void);
/* The fenced half of bufpool__tc_enter: a full fence, and now and then an
 * attempt to leave fenced mode. */
void bufpool__tc_fence_slow(struct bufpool *pool, struct tcache *tc);
/* The cache's run: a cut of n buffers (NULL if it is shorter, or a steal
 * is on), and a released allocation joined to it or kept as the run
 * (false: not taken, the caller frees it). */
struct bufpool_alloc *bufpool__run_take(struct bufpool *pool, struct tcache *tc, size_t n);
bool bufpool__run_give(struct bufpool *pool, struct tcache *tc, struct bufpool_alloc *a);
/* Owner-side steps for when bufpool__tc_enter fails (a steal is on):
 * the same pop and push under pool->lock. */
struct bufpool_alloc *bufpool__tcache_pop_locked(struct tcache *tc, size_t n);
int bufpool__tcache_push_locked(struct tcache *tc, struct bufpool_alloc *a);
/* Under pool->lock: take the cached allocations of tc (NULL: of every
 * thread) and the depot, as one list (their bytes stay charged). */
struct bufpool_alloc *bufpool__steal(struct bufpool *pool, struct tcache *tc);
/* more (a list, or NULL) put in front of list, by walking more. */
struct bufpool_alloc *bufpool__list_append(struct bufpool_alloc *list, struct bufpool_alloc *more);
void bufpool__tcache_pool_fini(struct bufpool *pool);
void bufpool__tcache_forget_others(struct bufpool *pool);
/* fork.c, under pool->lock: no owner inside a step from quiesce to resume. */
void bufpool__tcache_quiesce(struct bufpool *pool);
void bufpool__tcache_resume(struct bufpool *pool);

/* The calling thread's most recent caches, keyed by pool id. */
#define TL_SLOTS 4
struct tl_slot {
    uint64_t id;
    struct tcache *tc;
};
/* initial-exec: one TLS load even from the shared library, instead of a
 * call to __tls_get_addr (the slots are small enough for the static TLS
 * surplus glibc keeps for libraries loaded later). */
extern __thread struct tl_slot bufpool__tl[TL_SLOTS] __attribute__((tls_model("initial-exec")));

/* The calling thread's cache for pool, or NULL when none can be made. */
static inline struct tcache *bufpool__tcache_get(struct bufpool *pool, uint64_t id)
{
    if (likely(bufpool__tl[0].id == id))
        return bufpool__tl[0].tc;
    return bufpool__tcache_get_slow(pool);
}

/* The fast paths serve n <= FAST_N, whose bins hold one length each. */
#define FAST_N 16

static inline unsigned bufpool__bin_index(size_t n)
{
    /* n = 1..16 get bin n (bin 0 stays empty, so that the address of a
     * bin is the cache plus n times 32); larger n share 4 bins by log2. */
    if (n <= 16)
        return (unsigned)n;
    return 17 + ((63u - (unsigned)__builtin_clzll(n)) & 3u);
}
/* ---- depot.c ------------------------------------------------------------
 * Lock-free; lengths 1..FAST_N only. */
/* A full bin on release: the bin and a into the depot (or the arena). */
void bufpool__depot_overflow(struct bufpool *pool, struct tcache *tc, struct bufpool_alloc *a);
/* A miss: one chain's first allocation, the rest into tc's bin; NULL. */
struct bufpool_alloc *bufpool__depot_refill(struct bufpool *pool, struct tcache *tc, size_t n);
/* A steal: every chain, appended to list. */
struct bufpool_alloc *bufpool__depot_take(struct bufpool *pool, struct bufpool_alloc *list);
/* Leftovers of serving, under pool->lock: into the depot or the arena. */
void bufpool__depot_stash(struct bufpool *pool, struct bufpool_alloc *spare);

/* ---- budget.c ----------------------------------------------------------- */
bool bufpool__budget_try_charge(struct bufpool *pool, size_t bytes);
void bufpool__budget_uncharge(struct bufpool *pool, size_t bytes);
/* A fresh allocation of n buffers from the arena, which charges the budget
 * as needed: 0, -EAGAIN (no budget, or no run in REGION mode, now),
 * -ENOMEM.  tc: the calling thread's cache (for its header stash) or NULL;
 * the caller does not hold pool->lock.  _locked: the caller does. */
/* *gave: it purged without the pool lock, a give the caller must look
 * after (waitq.c's protocol). */
int bufpool__block_new(struct bufpool *pool, struct tcache *tc, size_t n, bool *gave,
                       struct bufpool_alloc **out);
int bufpool__block_new_locked(struct bufpool *pool, size_t n, struct bufpool_alloc **out);
/* The owner's spare headers (budget.c): one off its stash without a lock
 * (NULL when empty), and one back (may take pool->lock). */
struct bufpool_alloc *bufpool__hdr_stash_pop(struct tcache *tc);
void bufpool__hdr_put(struct bufpool *pool, struct tcache *tc, struct bufpool_alloc *h);
/* Give an allocation's run back to the arena and its header to the spares. */
void bufpool__block_free(struct bufpool *pool, struct tcache *tc, struct bufpool_alloc *a);
void bufpool__block_free_locked(struct bufpool *pool, struct bufpool_alloc *a);
/* Free a list of allocations.  Under the lock. */
void bufpool__free_list(struct bufpool *pool, struct bufpool_alloc *list);
void bufpool__free_hdrs(struct bufpool *pool);

/* ---- waitq.c ------------------------------------------------------------ */
enum { WN_WAITING = 0, WN_DONE = 1 };

/* One waiting request, queued in arrival order under pool->lock.  A blocked
 * call's node lives on its stack; an async waiter's lives in the waiter.
 * An async node that was served with memory set aside moves from the queue
 * to pool->held until its waiter picks the memory up, so that a shrink,
 * a shutdown or fork() can take it back.  The links serve either list. */
struct waitnode {
    struct waitnode *prev, *next;
    size_t n;
    struct bufpool_waiter *async; /* NULL for a blocked call */
    bool queued;                  /* in pool's queue */
    bool held;                    /* in pool->held: grant set aside */
    _Atomic uint32_t state;       /* futex word: WN_WAITING or WN_DONE */
    int result;                   /* valid once WN_DONE */
    struct bufpool_alloc *grant;  /* set aside for this request */
    unsigned tells;               /* blocked, default mode: times told before */
    /* blocked, default mode (waitq.c, starving_now): */
    uint64_t clock;               /* its window's start (ns); 0: never starves */
    bool fitted;                  /* the window saw it fit but for others' claims */
    bool starving;                /* a window passed without: the pool hands off */
};

struct bufpool_waiter {
    struct bufpool *pool;
    int fd;
    unsigned gen; /* bufpool__fork_gen at creation: another means inherited */
    struct waitnode node;
    /* A watch (bufpool__waiter_watch, for a bufring): in pool->watchers,
     * under pool->lock, while `watching`; its fd is written once
     * max_memory reaches watch_bytes, or at shutdown. */
    struct bufpool_waiter *wprev, *wnext;
    size_t watch_bytes;
    bool watching;
};

/* ---- the pool ----------------------------------------------------------- */
struct bufpool {
    /* read-mostly */
    uint32_t magic;
    unsigned flags;
    size_t buffer_size;
    unsigned shift; /* log2(buffer_size) */
    size_t align;   /* min(buffer_size, 4096) */
    uint64_t id;    /* unique for the process's life; keys thread caches */
    /* id, or FAST_ID_NONE (no thread's slot holds it) while the gate sends
     * releases to the full path: the release's slot test is its gate. */
    _Atomic uint64_t fast_id;
    struct bufpool__arena *arena;
    _Atomic int shut;
    /* 1 while stealers rely on fences instead of membarrier(); set and
     * cleared under lock (cache.c). */
    _Atomic uint32_t fenced;
    /* What sends the fast paths to their full versions, one word so that
     * each tests it once: GATE_* bits, rewritten under lock by
     * bufpool__gate_update whenever one of its inputs changes. */
    _Atomic uint32_t gate;
    bool over; /* under lock: charged may exceed a shrunk budget */
    /* The budget and the fast paths' bounds, rewritten only by a resize
     * or a gate change: read-mostly, so not on charged's line, which
     * every carve and free of REGION mode writes. */
    _Atomic size_t max_memory;
    /* The largest n an allocation's fast path may serve: max_memory >>
     * shift but at most FAST_N, or 0 while the gate sends allocations to
     * the full path. */
    _Atomic size_t fast_max;
    /* The same bound without the FAST_N cap (max_memory >> shift, or 0
     * while the gate is shut): the cache-hit path of longer lengths. */
    _Atomic size_t hit_max;

    /* written on cache misses only */
    alignas(CACHELINE) _Atomic size_t charged; /* in_use + cached bytes */
    _Atomic size_t peak_in_use;
    _Atomic uint64_t failures;

    /* read on every release, written only by waiters */
    alignas(CACHELINE) _Atomic size_t nwait; /* queued requests + a destroyer */
    _Atomic size_t arriving; /* FIFO: blocked calls waiting for the lock to queue */
    /* Released chains between threads, lengths 1..FAST_N (depot.c). */
    struct depot_bin depot[FAST_N + 1];

    alignas(CACHELINE) pthread_mutex_t lock;
    /* everything below is under lock */
    struct waitnode *qhead, *qtail;
    struct waitnode *held; /* async nodes holding a grant (see waitnode) */
    struct bufpool_waiter *watchers; /* watching the budget or a shutdown */
    size_t queued;        /* nodes in the queue */
    unsigned starving;    /* queued nodes that are starving: the pool hands off (waitq.c) */
    /* Futex words of served sleepers, woken after the unlock so that a
     * woken thread never runs into the lock its waker still holds. */
    _Atomic uint32_t *wake[8];
    unsigned nwake;
    bool destroying;
    pthread_cond_t idle;  /* destroy waits here */
    _Atomic(struct tcache *) tcaches;
    struct tc_counters orphan; /* counts for threads that could get no cache */
    /* Spare headers and the slabs they come from, freed only with the
     * pool (type-stable, see cache.c and budget.c). */
    struct bufpool_alloc *free_hdrs;
    struct slab *slabs;
    char *slab_next;
    size_t slab_left;
    uint64_t total_waits;
    _Atomic uint64_t total_wait_ns;
    _Atomic size_t inside; /* calls in acquire_slow or told, or purging after
                            * the unlock (bufpool__unlock), not yet returned */
    /* Bytes to purge once the lock is dropped (bufpool__unlock): a purge
     * that a section under the lock needed but left, as too long to hold
     * the lock for.  0: none. */
    size_t purge_want;
    size_t purged_locked; /* bytes purged under the lock since the last bufpool__unlock */
    unsigned purge_active; /* bufpool__unlock purges running: 0 or 1 */
    struct bufpool *gprev, *gnext; /* the registry (fork.c), under its lock */
    unsigned ncaches;              /* caches made so far, under lock: homes */
    uint64_t steal_ns;             /* the last steal of every cache, under lock */
    uint64_t steal_gap_ns;         /* the time between steals, smoothed, under lock */
};

/* pool.c */
void bufpool__sample_peak(struct bufpool *pool);
/* fork.c */
extern unsigned bufpool__fork_gen; /* children forked so far in this line */
int bufpool__registry_add(struct bufpool *pool);
void bufpool__registry_remove(struct bufpool *pool);
/* waitq.c, for fork.c: under pool->lock */
size_t bufpool__blocked_queued(struct bufpool *pool);
void bufpool__forget_others(struct bufpool *pool);
/* waitq.c */
/* ... blocks until end (CLOCK_MONOTONIC ns; UINT64_MAX: no limit) for
 * ACQ_TIMED.  BUFPOOL__TOLD: told that the memory is there, not given it
 * (the default mode's wakeup); the caller tries again, tells + 1, still
 * counted in pool->inside (tells > 0: counted on entry).  *waited: the
 * call has counted its wait in total_waits (once a call). */
int bufpool__acquire_slow(struct bufpool *pool, struct tcache *tc, size_t n, int kind,
                          uint64_t end, unsigned tells, bool *waited, struct bufpool_alloc **out);
/* Before queueing, in the default mode: spin a little (never past end, a
 * deadline as for acquire_slow) while watching for memory released
 * elsewhere; true when some may fit n now. */
bool bufpool__spin_for(struct bufpool *pool, struct tcache *tc, size_t n, uint64_t end);
#define BUFPOOL__TOLD 1
/* A blocked request told this many times is given its memory instead. */
#define BUFPOOL__TELLS_MAX 64u
/* A blocked request that has waited this long (default mode) without the
 * memory it needs ever being free for it is starving: granted ahead of
 * every later request, and the pool hands off to it (waitq.c).  Go's
 * sync.Mutex uses the same 1 ms. */
#define BUFPOOL__STARVE_NS 1000000u
uint64_t bufpool__now_ns(void);
void bufpool__release_slow(struct bufpool *pool, struct tcache *tc, struct bufpool_alloc *a, size_t n);
void bufpool__cancel_all(struct bufpool *pool);
void bufpool__fail_impossible(struct bufpool *pool);
/* For a bufring's waiter: reset its fd, then watch for max_memory to
 * reach `bytes` (SIZE_MAX: never) or a shutdown; the fd turns readable at
 * whichever comes first, at once if one has.  Ends when it fires, at the
 * next watch, or at bufpool_waiter_cancel; bufpool_waiter_allocate leaves
 * it.  0, -ECANCELED (shut down: the fd is readable), or -EBADF
 * (inherited across fork()). */
int bufpool__waiter_watch(struct bufpool_waiter *w, size_t bytes);
/* max_memory grew: fire the watches it reaches.  Under pool->lock. */
void bufpool__watchers_grown(struct bufpool *pool);
void bufpool__serve(struct bufpool *pool, struct bufpool_alloc *spare);
/* Unlock pool->lock, then wake the sleepers served under it. */
void bufpool__unlock(struct bufpool *pool);
/* stats.c */
void bufpool__sum_counters(struct bufpool *pool, struct tc_counters *sum);

enum { ACQ_BLOCK, ACQ_TRY, ACQ_TIMED };

/* pool->gate: an allocation takes its fast path only with none of
 * GATE_ALLOC set, a release only with none of GATE_RELEASE. */
enum {
    GATE_SHUT = 1,   /* shut down: allocations fail */
    GATE_FIFO = 2,   /* FIFO, or a request starving: an allocation must look at the queue */
    GATE_OVER = 4,   /* over a shrunk budget: releases give back */
};
#define GATE_ALLOC (GATE_SHUT | GATE_FIFO)
#define GATE_RELEASE GATE_OVER

#define FAST_ID_NONE UINT64_MAX

/* Recompute the gate from its inputs, and the words the fast paths
 * test instead of it (fast_max, hit_max, fast_id).  Under pool->lock (or at
 * create). */
static inline void bufpool__gate_update(struct bufpool *pool)
{
    uint32_t g = (load_relaxed(&pool->shut) ? GATE_SHUT : 0) |
                 ((pool->flags & BUFPOOL_FIFO) || pool->starving ? GATE_FIFO : 0) |
                 (pool->over ? GATE_OVER : 0);
    /* relaxed: hints for the fast paths, each of whose inputs has its own
     * ordering argument where it is set */
    store_relaxed(&pool->gate, g);
    size_t max = load_relaxed(&pool->max_memory) >> pool->shift;
    store_relaxed(&pool->fast_max, (g & GATE_ALLOC) ? 0 : max < FAST_N ? max : FAST_N);
    store_relaxed(&pool->hit_max, (g & GATE_ALLOC) ? 0 : max);
    store_relaxed(&pool->fast_id, (g & GATE_RELEASE) ? FAST_ID_NONE : pool->id);
}

static inline size_t bufpool__bytes(const struct bufpool *pool, size_t n)
{
    return n << pool->shift;
}

/* An allocation's length, and the fast bin its release may use. */
static inline void bufpool__set_length(struct bufpool_alloc *a, size_t n)
{
    a->n = n;
    a->bin = n <= FAST_N ? (uint16_t)n : 0; /* bin 0 never has room */
}

/* ---- the cache fast path (needs struct bufpool) ---------------------- */

/* Count an allocation handed out, in the owner's counters (no RMW), or in
 * pool->orphan under the lock for a thread that could get no cache. */
static inline void bufpool__count_alloc(struct tc_counters *c, size_t n)
{
    counter_add(&c->allocs, 1);
    counter_add(&c->bufs, n);
}

static inline void bufpool__count_free(struct tc_counters *c, size_t n)
{
    counter_add(&c->bufs, -(uint64_t)n);
    /* release: pairs with the load_acquire in bufpool__sum_counters, so a
     * destroyer that sees this count also sees the push before it. */
    store_release(&c->frees, load_relaxed(&c->frees) + 1);
}

static inline void bufpool__account_alloc(struct bufpool *pool, struct tcache *tc,
                                          struct bufpool_alloc *a)
{
    VG_HAND_OUT(a->first, bufpool__bytes(pool, a->n));
    bufpool__count_alloc(tc ? &tc->c : &pool->orphan, a->n);
}

/*
 * pool->inside counts the calls that bufpool_destroy and fork() wait for:
 * each call in acquire_slow from its lock on, and each told call while it
 * starts over (acquire_search in pool.c), until its last touch of the pool.
 * The increment is under pool->lock, which both readers hold, so relaxed.
 * The decrement is that last touch: release, pairs with the load_acquire
 * in bufpool_destroy and fork.c's settled(), which then see every count
 * the call made.
 */
static inline void bufpool__inside_enter(struct bufpool *pool)
{
    fetch_add_relaxed(&pool->inside, 1);
}

static inline void bufpool__inside_leave(struct bufpool *pool)
{
    fetch_sub_release(&pool->inside, 1);
}

static inline void bufpool__account_free(struct bufpool *pool, struct tcache *tc, size_t n)
{
    bufpool__count_free(tc ? &tc->c : &pool->orphan, n);
}

/* Give an empty bin a length.  One bin holds at most 1/8 of the budget, so
 * that under a tight budget released memory flows through the depot to
 * other threads instead of piling up in one thread's cache. */
static inline void bufpool__bin_tag(struct tc_bin *b, struct bufpool *pool, size_t n)
{
    size_t fit = (load_relaxed(&pool->max_memory) / 8) / (n << pool->shift);
    b->n = n;
    b->cap = fit < 1 ? 1 : fit > TC_BIN_CAP ? TC_BIN_CAP : (unsigned)fit;
    b->room = b->cap;
}

/* Open the owner's busy window: false when a stealer is at work (the
 * caller then takes its _locked step).  The compiler fence keeps the
 * compiler from moving the load of stop above the store of busy; the CPU
 * may, and that is what a stealer's membarrier() rules out, or, while the
 * pool is fenced (STOP_FENCED, read inside the window), the fence here
 * and the stealer's: see cache.c. */
static inline bool bufpool__tc_enter(struct bufpool *pool, struct tcache *tc)
{
    store_relaxed(&tc->busy, 1);
    compiler_fence();
    /* acquire: pairs with the stealer's store_release clearing STOP_STEAL,
     * so a step after a steal sees the bins the stealer emptied */
    uint32_t stop = load_acquire(&tc->stop);
    if (unlikely(stop & STOP_FENCED)) {
        bufpool__tc_fence_slow(pool, tc);
        stop = load_acquire(&tc->stop); /* as above */
    }
    if (likely(!(stop & STOP_STEAL)))
        return true;
    store_release(&tc->busy, 0);
    return false;
}

/* The fast path's window: false when the pool is fenced or a stealer is
 * at work (either bit of stop), and the caller then takes its full path.
 * No call, so that the caller needs no stack frame. */
static inline bool bufpool__tc_try_enter(struct tcache *tc)
{
    store_relaxed(&tc->busy, 1);
    compiler_fence();
    /* acquire on stop: as in bufpool__tc_enter */
    if (likely(!load_acquire(&tc->stop)))
        return true;
    store_release(&tc->busy, 0);
    return false;
}

/* Close the window: release pairs with the stealer's load_acquire of busy,
 * which then sees every store made inside. */
static inline void bufpool__tc_exit(struct tcache *tc)
{
    store_release(&tc->busy, 0);
}

/* Unlink bin b's first entry h.  The next one's header is prefetched, in
 * flight while the caller uses h: it is cold when another thread released
 * it (a pipeline), and its pop writes it.  A prefetch of NULL is harmless. */
static inline void bufpool__bin_unlink(struct tc_bin *b, struct bufpool_alloc *h)
{
    struct bufpool_alloc *next = load_relaxed(&h->next);
    __builtin_prefetch(next, 1);
    b->head = next;
    b->room++;
}

/* Pop a cached allocation of length n: owner only, inside its window or
 * under pool->lock. */
static inline struct bufpool_alloc *bufpool__bin_pop(struct tcache *tc, size_t n)
{
    struct tc_bin *b = &tc->bins[bufpool__bin_index(n)];
    struct bufpool_alloc *h = b->head;
    if (b->n != n || !h)
        return NULL;
    bufpool__bin_unlink(b, h);
    return h;
}

/* What a push did. */
enum { PUSHED, PUSH_FULL, PUSH_OTHER /* the bin holds another length */ };

/* Push a released allocation: owner only, as above. */
static inline int bufpool__bin_push(struct tcache *tc, struct bufpool_alloc *a)
{
    struct tc_bin *b = &tc->bins[bufpool__bin_index(a->n)];
    struct bufpool_alloc *h = b->head;
    if (b->n != a->n) {
        if (h)
            return PUSH_OTHER;
        bufpool__bin_tag(b, a->pool, a->n);
    } else if (!b->room) {
        return PUSH_FULL;
    }
    b->room--;
    store_relaxed(&a->next, h);
    compiler_fence(); /* linked, then published */
    b->head = a;
    return PUSHED;
}

/* The owner's pop: in the busy window, or under the lock while a steal is
 * on. */
static inline struct bufpool_alloc *bufpool__tcache_pop(struct bufpool *pool, struct tcache *tc,
                                                        size_t n)
{
    if (unlikely(!bufpool__tc_enter(pool, tc)))
        return bufpool__tcache_pop_locked(tc, n);
    (void)BUFPOOL__HOOK(BUFPOOL__HOOK_IN_WINDOW, pool);
    struct bufpool_alloc *a = bufpool__bin_pop(tc, n);
    bufpool__tc_exit(tc);
    return a;
}

static inline int bufpool__tcache_push(struct bufpool *pool, struct tcache *tc,
                                       struct bufpool_alloc *a)
{
    if (unlikely(!bufpool__tc_enter(pool, tc)))
        return bufpool__tcache_push_locked(tc, a);
    int r = bufpool__bin_push(tc, a);
    bufpool__tc_exit(tc);
    return r;
}

#endif /* BUFPOOL_INTERNAL_H */
