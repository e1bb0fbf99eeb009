/*
 * debug.h: misuse checks (BUFPOOL_DEBUG), the assertions of what comments
 * used to only say (which lock a step holds, who owns a cache), and the
 * test hooks (BUFPOOL_TEST_HOOKS).  Release builds compile all of it away.
 */
#ifndef BUFPOOL_DEBUG_H
#define BUFPOOL_DEBUG_H

#include <stdint.h>

struct bufpool;
struct bufpool_alloc;

/* -DBUFPOOL_DEBUG: an internal invariant that a comment would otherwise
 * only state (which lock a step holds, who owns a cache); a failure is a
 * bug of the library, reported with its place. */
#ifdef BUFPOOL_DEBUG
_Noreturn void bufpool__assert_fail(const char *what, const char *file, int line);
extern __thread char bufpool__thread_mark; /* its address names the thread */
#define BUFPOOL__SELF ((uintptr_t)&bufpool__thread_mark)
#define BUFPOOL__ASSERT(cond, what) \
    ((cond) ? (void)0 : bufpool__assert_fail((what), __FILE__, __LINE__))
#else
#define BUFPOOL__ASSERT(cond, what) ((void)0)
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
    BUFPOOL__HOOK_COUNT,            /* a count outside the lock, before its window opens */
    BUFPOOL__HOOK_COUNT_IN,         /* that count inside its window, the lock-free way */
};
#ifdef BUFPOOL_TEST_HOOKS
extern int (*bufpool__test_hook)(int point, struct bufpool *pool);
#define BUFPOOL__HOOK(point, pool) (bufpool__test_hook ? bufpool__test_hook((point), (pool)) : 0)
#else
#define BUFPOOL__HOOK(point, pool) 0
#endif

#define BUFPOOL__MAGIC_ALLOC 0xa11cu /* 16 bits: the header is 40 bytes */
#define BUFPOOL__MAGIC_SAMPLED 0xa11du /* a live allocation leaks.c samples */
#define BUFPOOL__MAGIC_POOL 0xb0f1b001u
#define BUFPOOL__MAGIC_DEAD 0xdeadb0f1u
#define BUFPOOL__MAGIC_ACCOUNT 0xacc0b0f1u

#endif /* BUFPOOL_DEBUG_H */
