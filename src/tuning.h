/*
 * tuning.h: every tuning constant of the library, in one place.  Each line
 * says what the value trades; docs/tuning.md has the measurement behind
 * it.  Sizes that follow from a format or an ABI (the bins' index, the
 * depot's packed chains, io_uring's limits) stay beside their code.
 */
#ifndef BUFPOOL_TUNING_H
#define BUFPOOL_TUNING_H

/* ---- caches (cache.c, pool.c) ---- */
#define FAST_N 16          /* lengths with a bin each and a depot: the fast paths' reach */
#define TC_BIN_CAP 32      /* entries per bin: fewer trips to the depot vs memory held per thread */
#define CACHE_SHARE 8      /* a bin or a run keeps at most 1/CACHE_SHARE of the budget */
#define TL_SLOTS 4         /* pools a thread finds without a lookup */
#define DEPOT_SLOTS 32     /* chains per length between threads: burst depth vs lines a steal reads */

/* ---- the steal's barrier (cache.c) ---- */
#define FENCE_GAP_NS 50000u       /* steals closer than this (smoothed): fences instead of membarrier() */
#define FENCED_QUIET_NS 10000000u /* stay fenced this long after the last steal */
#define FENCED_RECHECK 4096u      /* an owner tries to leave fenced mode every this many steps */

/* ---- waiting (waitq.c) ---- */
#define SPIN_MAX 1024u          /* pauses a spin before queueing may reach: latency vs CPU burnt */
#define SPIN_MIN 128u           /* its floor: below a depot chain's refill time a spin never wins */
#define SPIN_MIN_ONE_CPU 4u     /* its floor on one CPU, where spinning only delays the releaser */
#define SPIN_ITERS 256          /* a sleeper's polls of its word before the futex wait */
#define BUFPOOL__TELLS_MAX 64u  /* tells before a blocked request is granted instead */
#define BUFPOOL__STARVE_NS 1000000u /* a window never free for a request: it starves (Go's 1 ms) */

/* ---- memory (arena.c, block.c, util.c) ---- */
#define HOMES 8                       /* home chunks, one per CPU: parallel carving vs address space */
#define ARENA_CHUNKS 32               /* chunks an arena may reserve */
#define PURGE_SLICE ((size_t)8 << 20) /* bytes purged per claim: lock hold vs madvise calls */
#define DIRTY_SCAN ((size_t)1 << 16)  /* units a carve scans past first fit for resident memory */
#define SLAB_BYTES ((size_t)64 << 10) /* header slab: one mmap-free malloc per 1638 headers */
#define STASH_MAX 64                  /* a thread's spare headers; half go back beyond it */
#define ACCT_BIN_MAX 8                /* an account cache's allocations of one length */
#define STASH_BATCH 32                /* headers a stash trades with the pool at once */
#define ZMAP_MIN ((size_t)64 << 10)   /* bookkeeping this large is mmap'ed, not calloc'ed */

/* ---- fork (fork.c) ---- */
#define SETTLE_NS 1000000000u /* how long fork() waits at most for served sleepers to leave */

#endif /* BUFPOOL_TUNING_H */
