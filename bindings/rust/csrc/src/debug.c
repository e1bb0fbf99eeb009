/*
 * Misuse detection for debug builds (-DBUFPOOL_DEBUG, `make debug`), and
 * the test hooks' entry point (-DBUFPOOL_TEST_HOOKS, see internal.h).
 *
 * A destroyed pool is not freed but buried: its struct and its headers stay
 * mapped with a dead magic, so a later call on the pool, or a release of
 * one of its allocations, reads valid memory and can say what went wrong
 * instead of corrupting someone else's.  The graveyard stays reachable, so
 * leak checkers do not flag it.  In release builds this file is empty.
 */
#include "internal.h"

#ifdef BUFPOOL_DEBUG
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t grave_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bufpool *graveyard[4096];
static size_t graves;

__attribute__((noreturn)) static void die(const char *fmt, const void *p, const char *what)
{
    fprintf(stderr, "bufpool: %s: ", what);
    fprintf(stderr, fmt, p);
    fputc('\n', stderr);
    abort();
}

void bufpool__check_pool(const struct bufpool *pool, const char *what)
{
    if (pool->magic == BUFPOOL__MAGIC_DEAD)
        die("use after destroy of pool %p", pool, what);
    if (pool->magic != BUFPOOL__MAGIC_POOL)
        die("%p is not a pool", pool, what);
}

void bufpool__check_alloc(const struct bufpool_alloc *a, const char *what)
{
    if (a->magic != BUFPOOL__MAGIC_ALLOC && a->magic != BUFPOOL__MAGIC_SAMPLED)
        die("%p is no allocation", a, what);
    if (a->pool->magic == BUFPOOL__MAGIC_DEAD)
        die("allocation %p belongs to a destroyed pool (wrong pool, use after destroy)", a, what);
    if (a->pool->magic != BUFPOOL__MAGIC_POOL)
        die("allocation %p points to no pool (wrong pool)", a, what);
    if (load_relaxed(&a->refs) == 0) {
        /* Say which misuse it is: a release without a reference is a
         * double release, a retain without one uses a released
         * allocation (retain needs a reference the caller holds). */
        if (strcmp(what, "retain") == 0)
            die("retain of a released allocation %p (it holds no reference; retain needs one)", a,
                what);
        die("double release of allocation %p (it holds no reference)", a, what);
    }
}

void bufpool__debug_bury(struct bufpool *pool)
{
    pthread_mutex_lock(&grave_lock);
    if (graves < sizeof graveyard / sizeof *graveyard) {
        graveyard[graves++] = pool;
    } else { /* full: let the oldest go for real */
        bufpool__free_hdrs(graveyard[0]);
        free(graveyard[0]);
        for (size_t i = 1; i < graves; i++)
            graveyard[i - 1] = graveyard[i];
        graveyard[graves - 1] = pool;
    }
    pthread_mutex_unlock(&grave_lock);
}
#endif

typedef int bufpool__debug_unused; /* ISO C forbids an empty translation unit */
