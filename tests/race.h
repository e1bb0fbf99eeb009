/*
 * Helpers for the race tests (tests/race_*.c), which link the library
 * built with -DBUFPOOL_TEST_HOOKS.  A thread names the hook points where it
 * wants to stop, in order (race_stop_at); when it reaches the next one it
 * says so and waits until the test opens that stop (race_open).  The test
 * thus forces one exact interleaving instead of hoping for it.  Include
 * bufpool.h and check.h first.
 */
#ifndef BUFPOOL_TEST_RACE_H
#define BUFPOOL_TEST_RACE_H
#ifndef BUFPOOL_TEST_HOOKS
#define BUFPOOL_TEST_HOOKS /* declares the hook in internal.h */
#endif
#include "internal.h" /* the hook points */

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define RACE_MAX_STOPS 4

struct race_stop {
    int point;
    int fail;            /* returned to the hook point: nonzero makes it fail */
    _Atomic int arrived; /* set by the stopped thread */
    _Atomic int open;    /* set by the test */
};

struct race_plan {
    struct race_stop stop[RACE_MAX_STOPS];
    int count, next;
};

static __thread struct race_plan *race_tl;

static int race_hook(int point, struct bufpool *pool)
{
    (void)pool;
    struct race_plan *pl = race_tl;
    if (!pl || pl->next >= pl->count || pl->stop[pl->next].point != point)
        return 0;
    struct race_stop *s = &pl->stop[pl->next++];
    atomic_store(&s->arrived, 1);
    while (!atomic_load(&s->open))
        usleep(100);
    return s->fail;
}

/* Install the hook; call before starting any thread. */
static inline void race_init(void)
{
    bufpool__test_hook = race_hook;
}

/* Add a stop at `point` to plan pl (fail: what the point returns). */
static inline struct race_stop *race_stop_at(struct race_plan *pl, int point, int fail)
{
    CHECK(pl->count < RACE_MAX_STOPS);
    struct race_stop *s = &pl->stop[pl->count++];
    s->point = point;
    s->fail = fail;
    return s;
}

/* Wait (at most 5 s) until the thread has stopped at s. */
static inline void race_await(struct race_stop *s)
{
    for (int i = 0; i < 50000 && !atomic_load(&s->arrived); i++)
        usleep(100);
    CHECK(atomic_load(&s->arrived));
}

static inline void race_open(struct race_stop *s)
{
    atomic_store(&s->open, 1);
}

/* A thread that follows plan and asks for n buffers, waiting 20 s at most
 * (a bound for a broken test, far above what a loaded TSan run needs);
 * its result is kept, and an allocation it gets is released. */
struct race_caller {
    bufpool *pool;
    size_t n;
    struct race_plan plan;
    int result;
};

static inline void *race_call(void *arg)
{
    struct race_caller *c = arg;
    bufpool_alloc *a;
    race_tl = &c->plan;
    c->result = bufpool_allocate_timeout(c->pool, c->n, 20000000000u, &a);
    if (c->result == 0)
        bufpool_alloc_release(a);
    return NULL;
}

#endif
