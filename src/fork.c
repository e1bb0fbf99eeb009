/*
 * The registry of live pools, and fork().
 *
 * A process that forks while other threads use a pool must give the child
 * pools it can use, as glibc does for malloc.  The child has one thread,
 * the one that called fork(); every lock some other thread held at that
 * moment would stay locked in the child forever.  So, as malloc does, the
 * pthread_atfork handlers take every pool's locks before the fork, in one
 * fixed order (the registry's), and release them on both sides after it.
 * No other path ever holds two pools' locks, or a pool's lock while it
 * waits for the registry's, so the fixed order cannot deadlock.
 *
 * The lock makes the queue and the caches consistent, but a blocked call
 * that a server has already granted memory to, and that is on its way out
 * without the lock (wait_node returned, the grant not yet counted), holds
 * memory that nothing in the child could ever give back; a told call
 * starting over may be about to take some.  The prepare handler therefore
 * waits, with the locks dropped, until no pool has such a call in flight:
 * then `inside` equals the blocked calls still queued.
 * In the child, bufpool__forget_others drops those (their threads are
 * gone) and detaches the parent's async waiters (they share its eventfd),
 * giving back whatever was set aside for any of them; and the caches of
 * threads that do not exist in the child lose their thread's claim, so the
 * child's threads can adopt them.  Those caches must be as a thread leaves
 * them between two calls, not half way through a step of the lock-free
 * owner path: the prepare handler also stops every cache and waits until
 * no owner is inside its window (bufpool__tcache_quiesce, cache.c).
 * Memory that other threads held at the fork (their live allocations, or
 * a chain between the depot and a bin: the depot takes no lock) stays
 * charged in the child, as their live allocations do in the parent.
 *
 * A child that forks again starts a new generation (bufpool__fork_gen):
 * waiters created before its fork belong to its parent.
 */
#include "internal.h"

#include <sched.h>
#include <time.h>

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bufpool *reg_head;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static int reg_err;

static void lock_all(void)
{
    for (struct bufpool *p = reg_head; p; p = p->gnext) {
        bufpool__lock(p);
        bufpool__arena_lock(p->arena);
        bufpool__leaks_lock(p);
    }
}

static void unlock_all(void)
{
    for (struct bufpool *p = reg_head; p; p = p->gnext) {
        bufpool__leaks_unlock(p);
        bufpool__arena_unlock(p->arena);
        bufpool__unlock_plain(p);
    }
}

/* Stop every cache (under every pool's lock; no owner step waits for an
 * arena lock, so holding those too cannot keep an owner in its window). */
static void quiesce_all(void)
{
    for (struct bufpool *p = reg_head; p; p = p->gnext)
        bufpool__tcache_quiesce(p);
}

/* True when no pool has a served or told call on its way out, nor a purge
 * in flight (arena.c: a range taken out of the arena for its madvise would
 * stay out, and charged, in the child).  Under every pool's lock and every
 * chunk's: inside only grows under the former (bufpool__inside_enter; a
 * purge after the unlock is counted there too, bufpool__unlock), and the
 * arena's claims only move under the latter. */
static bool settled(void)
{
    for (struct bufpool *p = reg_head; p; p = p->gnext) {
        /* acquire: pairs with the release in bufpool__inside_leave, as in
         * bufpool_destroy. */
        if (load_acquire(&p->inside) != bufpool__blocked_queued(p) ||
            bufpool__arena_purging(p->arena) != 0)
            return false;
    }
    return true;
}

static void fork_prepare(void)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_mutex_lock(&reg_lock);
    for (;;) {
        lock_all();
        clock_gettime(CLOCK_MONOTONIC, &t);
        uint64_t waited = (uint64_t)(t.tv_sec - t0.tv_sec) * 1000000000u +
                          (uint64_t)(t.tv_nsec - t0.tv_nsec);
        /* past SETTLE_NS: a sleeper stuck outside our control */
        if (settled() || waited > SETTLE_NS) {
            quiesce_all();
            return;
        }
        unlock_all();
        sched_yield();
    }
}

static void fork_parent(void)
{
    for (struct bufpool *p = reg_head; p; p = p->gnext)
        bufpool__tcache_resume(p);
    unlock_all();
    pthread_mutex_unlock(&reg_lock);
}

/* The child: one thread, every pool locked by it (see the top comment).
 * The arena's locks go first: giving memory back to it (forget_others)
 * takes them. */
static void fork_child(void)
{
    bufpool__fork_gen++;
    for (struct bufpool *p = reg_head; p; p = p->gnext) {
        bufpool__leaks_unlock(p);
        bufpool__arena_unlock(p->arena);
        bufpool__forget_others(p);
        bufpool__reclaim_forget(p);
        bufpool__tcache_forget_others(p);
        bufpool__tcache_resume(p);
        bufpool__watch_forget(p);
        bufpool__unlock(p);
    }
    pthread_mutex_unlock(&reg_lock);
}

static void reg_init(void)
{
    reg_err = -pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* A new pool joins the registry.  0 or -ENOMEM. */
int bufpool__registry_add(struct bufpool *pool)
{
    if (pthread_once(&reg_once, reg_init) != 0 || reg_err)
        return -ENOMEM;
    pthread_mutex_lock(&reg_lock);
    pool->gprev = NULL;
    pool->gnext = reg_head;
    if (reg_head)
        reg_head->gprev = pool;
    reg_head = pool;
    pthread_mutex_unlock(&reg_lock);
    return 0;
}

/* Destroy: leave the registry before the pool's memory goes.  Called
 * without pool->lock (the registry's lock comes first). */
void bufpool__registry_remove(struct bufpool *pool)
{
    pthread_mutex_lock(&reg_lock);
    if (pool->gprev)
        pool->gprev->gnext = pool->gnext;
    else
        reg_head = pool->gnext;
    if (pool->gnext)
        pool->gnext->gprev = pool->gprev;
    pthread_mutex_unlock(&reg_lock);
}
