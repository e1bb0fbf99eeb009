/*
 * types.h: the library's internal types: an allocation's header, a
 * thread's cache, the depot's bins, a waiting request, and the pool.
 * Which lock or owner guards a field is said beside it; debug builds
 * check the locks (debug.h).
 */
#ifndef BUFPOOL_TYPES_H
#define BUFPOOL_TYPES_H

#include "bufpool.h"
#include "atomics.h"
#include "tuning.h"

#include <pthread.h>
#include <stdalign.h>
#include <stddef.h>

/* One allocation: 40 bytes, packed in the pool's slabs (block.c).  Kept
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
    /* The account charged while live through one, else NULL (its bin is
     * then 0, so that its release takes the full path, pool.c). */
    struct bufpool_account *acct;
    _Atomic uint32_t refs; /* 0 while cached */
    uint16_t bin;          /* n when n <= FAST_N (its bin), else 0: the release's fast path */
    uint16_t magic;
};

/* ---- thread caches (cache.c) ---- */
#define TC_BINS 21

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
    struct bufpool_alloc *stash; /* owner-only: spare headers (block.c) */
    uint64_t sample_left;        /* owner-only: allocations to the next sample (leaks.c) */
    /* The account caches (docs/accounts.md): released memory of one
     * account, still charged to it, by length 1..FAST_N; owner only,
     * inside the window or under pool->lock, and stolen like the bins.
     * acct_allocs less acct_frees: the allocations the fast paths handed
     * out less those they took back, added to the account's live count
     * when stolen. */
    struct bufpool_account *acct;
    struct bufpool_alloc *acct_head[FAST_N + 1];
    uint8_t acct_count[FAST_N + 1];
    _Atomic uint64_t acct_allocs; /* owner-written; stats read them under pool->lock */
    _Atomic uint64_t acct_frees;
    _Atomic size_t acct_bytes;    /* bytes in acct_head[] */
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
 * the owner reads both in one load inside its window).  The watches'
 * (watch.c): STOP_WATCH while one of the pool's level is armed, STOP_AWATCH
 * while one of an account's is, STOP_ARMING while the pool's first is
 * taking its level.  Any bit closes the fast windows. */
enum { STOP_STEAL = 1, STOP_FENCED = 2, STOP_WATCH = 4, STOP_AWATCH = 8, STOP_ARMING = 16 };
#define STOP_WATCHES (STOP_WATCH | STOP_AWATCH | STOP_ARMING)

/* The calling thread's most recent caches, keyed by pool id. */
struct tl_slot {
    uint64_t id;
    struct tcache *tc;
};

/* ---- waiting (waitq.c) ---- */
/* WN_TURN: a blocked request that found its reclaim callback running is
 * woken for a call of its own (reclaim.c), still queued. */
enum { WN_WAITING = 0, WN_DONE = 1, WN_TURN = 2 };

/* A reclaim callback (reclaim.c), the pool's or an account's; under
 * pool->lock. */
struct reclaimer {
    bufpool_reclaim_fn fn; /* NULL: none */
    void *arg;
    bool busy;             /* a call runs, outside the lock */
};

/* One waiting request, queued in arrival order under pool->lock.  A blocked
 * call's node lives on its stack; an async waiter's lives in the waiter.
 * An async node that was served with memory set aside moves from the queue
 * to pool->held until its waiter picks the memory up, so that a shrink,
 * a shutdown or fork() can take it back.  The links serve either list. */
struct waitnode {
    struct waitnode *prev, *next;
    size_t n;
    struct bufpool_waiter *async; /* NULL for a blocked call */
    struct bufpool_account *acct; /* a request through an account (always told) */
    int priority;                 /* its account's; 0 for a plain call */
    bool queued;                  /* in pool's queue */
    bool brief;                   /* a try's look: queued for a moment, no stall (waitq.c) */
    bool held;                    /* in pool->held: grant set aside */
    _Atomic uint32_t state;       /* futex word: WN_WAITING, WN_DONE, WN_TURN */
    int result;                   /* valid once WN_DONE */
    struct bufpool_alloc *grant;  /* set aside for this request */
    unsigned tells;               /* blocked, default mode: times told before */
    /* blocked, default mode (waitq.c, starving_now): */
    uint64_t clock;               /* its window's start (ns); 0: never starves */
    bool fitted;                  /* the window saw it fit but for others' claims */
    bool starving;                /* a window passed without: the pool hands off */
    /* reclaim.c: the reclaimer it found busy, whose call it waits for
     * (WN_TURN wakes it), or NULL */
    struct reclaimer *turn_of;
};

struct bufpool_waiter {
    struct bufpool *pool;
    struct bufpool_account *acct; /* charged to it (node.acct too), or NULL */
    int fd;       /* -1 for a callback waiter */
    unsigned gen; /* bufpool__fork_gen at creation: another means inherited */
    struct waitnode node;
    /* A callback waiter: fn(arg) instead of a write to fd, run after the
     * unlock of the section that signalled it (waitq.c, W5). */
    bufpool_waiter_fn fn;
    void *arg;
    struct bufpool_waiter *notify_next; /* in pool->notify or a run of it */
    _Atomic uint32_t notify_queued;     /* 1 from the signal to just before fn runs */
    _Atomic uint32_t calls;             /* calls of fn queued or running */
    bool orphaned;                      /* destroyed from inside its fn: freed after */
    /* A watch (bufpool__waiter_watch, for a bufring): in pool->watchers,
     * under pool->lock, while `watching`; its fd is written once
     * max_memory reaches watch_bytes, or at shutdown. */
    struct bufpool_waiter *wprev, *wnext;
    size_t watch_bytes;
    bool watching;
};

/* A watermark watch (watch.c): of the pool's level (acct NULL: in
 * pool->watches, under the lock of pool->wlevel) or of an account's (in
 * acct->watches, under pool->lock). */
struct bufpool_watch {
    struct bufpool *pool;
    struct bufpool_account *acct;
    struct bufpool_watch *next;
    int64_t high, low; /* in buffers: risen at high or above, fallen at low or below */
    int state;         /* 1 risen, 0 fallen */
    int fd;
    unsigned gen;      /* bufpool__fork_gen at create: another means inherited */
};

/* ---- accounts (account.c) ---- */
/* Every field under pool->lock.  Byte figures are multiples of the
 * buffer size; "use" and the counts cover the account and its
 * descendants. */
struct bufpool_account {
    uint32_t magic;
    int priority;
    struct bufpool *pool;
    struct bufpool_account *parent;
    struct bufpool_account *children;     /* first child */
    struct bufpool_account *prev, *next;  /* siblings (top level: pool->accounts) */
    char *name;
    size_t min, max;     /* max SIZE_MAX: no cap of its own */
    size_t kids_eff;     /* the sum of the children's eff */
    size_t eff;          /* max(min, kids_eff): what it reserves */
    size_t use, peak;    /* live bytes */
    size_t kids_unused;  /* the sum of the children's unused */
    size_t unused;       /* max(eff - use, kids_unused): reserved, not in use */
    size_t live, waiters;
    struct bufpool_watch *watches; /* its watches (watch.c) */
    unsigned nwatches;   /* watch objects made on it, inherited ones too */
    unsigned nwaiters;   /* waiter objects made through this account (its own) */
    uint64_t total_allocations, total_waits, total_wait_ns, total_failures;
    uint64_t stall_ns, stall_since; /* as the pool's, while waiters > 0 */
    struct reclaimer reclaim;       /* for requests its max holds back */
};

/* ---- the pool ---- */
struct bufpool {
    /* read-mostly */
    uint32_t magic;
    unsigned flags;
    size_t buffer_size;
    unsigned shift; /* log2(buffer_size) */
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
    bool over; /* under lock: charged or committed may exceed the budget */
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
    /* Bytes carved out of the arena and not freed back to it (live,
     * cached by threads, in the depot), plus the accounts' unused
     * reservations (reserve): within max_memory, so that a reservation
     * holds whatever the caches do (docs/accounts.md).  Block.c moves it
     * at the arena's boundary, account.c with the reservations. */
    _Atomic size_t committed;
    _Atomic size_t peak_in_use;
    _Atomic uint64_t failures;

    /* read on every release, written only by waiters */
    alignas(CACHELINE) _Atomic size_t nwait; /* queued requests + a destroyer */
    _Atomic size_t arriving; /* FIFO: blocked calls waiting for the lock to queue */
    /* Released chains between threads, lengths 1..FAST_N (depot.c). */
    struct depot_bin depot[FAST_N + 1];

    alignas(CACHELINE) pthread_mutex_t lock;
#ifdef BUFPOOL_DEBUG
    _Atomic uintptr_t lock_holder; /* BUFPOOL__SELF of the holder, 0: none */
#endif
    /* everything below is under lock */
    struct waitnode *qhead, *qtail;
    struct waitnode *held; /* async nodes holding a grant (see waitnode) */
    struct bufpool_waiter *watchers; /* watching the budget or a shutdown */
    /* watermark watches (watch.c): how many are armed, of the pool's
     * level and of accounts'; the STOP_ bits they set in every cache */
    unsigned nwatch_pool, nwatch_acct;
    uint32_t watch_stop;
    size_t queued;        /* nodes in the queue */
    /* stall: time during which a request waited (the queue held a node
     * other than a try's look: nstall of them), ended periods (stall_ns)
     * and the start of the current one (stall_since) */
    size_t nstall;
    uint64_t stall_ns, stall_since;
    unsigned starving;    /* queued nodes that are starving: the pool hands off (waitq.c) */
    /* Futex words of served sleepers, woken after the unlock so that a
     * woken thread never runs into the lock its waker still holds. */
    _Atomic uint32_t *wake[8];
    unsigned nwake;
    /* Callback waiters signalled under the lock, whose fn runs after the
     * unlock, for the same reason (waitq.c). */
    struct bufpool_waiter *notify;
    bool destroying;
    pthread_cond_t idle;  /* destroy waits here */
    _Atomic(struct tcache *) tcaches;
    struct tc_counters orphan; /* counts for threads that could get no cache */
    /* Spare headers and the slabs they come from, freed only with the
     * pool (type-stable, see cache.c and block.c). */
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
    /* accounts (account.c), under lock: the top level; the sum of its
     * reservations (eff); and of its unused reservations (unused) */
    struct bufpool__leaks *leaks; /* leak tracking (leaks.c), NULL when off */
    unsigned track_every;         /* 1 in track_every allocations sampled; 0: off */
    bool track_env;               /* BUFPOOL_TRACK set in the environment at create */
    struct bufpool_account *accounts;
    size_t reserved, reserve;
    bool flush_accts; /* the next steals flush every account cache (destroy) */
    /* the next steals flush the account caches of this subtree too (a
     * request short of memory, or over a cap, account.c and wait.c) */
    struct bufpool_account *flush_under;
    struct reclaimer reclaim;      /* reclaim.c, under lock */
    _Atomic unsigned reclaimers;   /* callbacks set, the pool's and accounts' */
    uint64_t gives;                /* gives served under the lock (wait.c): reclaim.c's clock */
    uint64_t steal_ns;             /* the last steal of every cache, under lock */
    uint64_t steal_gap_ns;         /* the time between steals, smoothed, under lock */

    /* The pool's level while a watch of it is armed (watch.c), on a line
     * of its own: every armed allocation and release writes it.  wlevel
     * is the level in buffers, or WLOCKED while a thread holds it (a
     * spinlock and its value in one word: bufpool__wlock); the rest is
     * under that lock.  The band: no watch crosses while band_lo < level
     * < band_hi. */
    alignas(CACHELINE) _Atomic int64_t wlevel;
    int64_t band_lo, band_hi;
    struct bufpool_watch *watches; /* the pool's level's; changed under pool->lock too */
};

enum { ACQ_BLOCK, ACQ_TRY, ACQ_TIMED };

/* What one call carries across its tells (wait.c, account.c). */
struct call_state {
    bool waited;       /* counted as a wait already */
    bool reclaim_done; /* no more reclaim calls: a try's one, or one that returned 0 */
};

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

#endif /* BUFPOOL_TYPES_H */
