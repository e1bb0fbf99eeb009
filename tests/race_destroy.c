/*
 * race_destroy: destroy must not free the pool while a blocked call is
 * still on its way out.  Destroy frees the pool once it reads pool->inside
 * at 0 and then the allocation counts balanced, so every blocked call must
 * stay counted in inside until it has counted what it got.  Two forced
 * interleavings, one per way a blocked call is woken:
 *
 * granted (BUFPOOL_FIFO): B is served and stops before counting; destroy
 *   stops between its two reads; B counts and returns with its allocation;
 *   destroy goes on.  Read the other way round (counts, then inside),
 *   destroy would see the counts balanced and then inside at 0.
 * told (default mode): B is told the memory is there and stops as it
 *   starts over, before it takes anything; destroy makes a full pass of
 *   its loop.  A told call that dropped its count before starting over
 *   would let destroy free the pool under its retry.
 *
 * Either way destroy must not return until B has released what it got.
 */
#include "bufpool.h"
#include "check.h"
#include "race.h"

#include <errno.h>
#include <string.h>

static bufpool *pool;
static _Atomic int returned;   /* B's allocate returned */
static _Atomic int released;   /* B has released its allocation */
static _Atomic int destroyed;  /* destroy returned */
static _Atomic int early;      /* destroy returned before B released */
static struct race_plan b_plan, d_plan;

static void *blocked(void *arg)
{
    (void)arg;
    bufpool_alloc *a;
    race_tl = &b_plan;
    int r = bufpool_allocate(pool, 1, &a);
    /* Served after the shutdown, the retry of a told call may also fail. */
    CHECK(r == 0 || r == -ECANCELED);
    atomic_store(&returned, 1);
    usleep(200 * 1000); /* destroy, if wrong, returns in the meantime */
    if (atomic_load(&early))
        return NULL; /* the pool is gone: do not touch it */
    atomic_store(&released, 1);
    if (r == 0)
        bufpool_alloc_release(a);
    return NULL;
}

static void *destroyer(void *arg)
{
    (void)arg;
    race_tl = &d_plan;
    bufpool_destroy(pool);
    if (!atomic_load(&released))
        atomic_store(&early, 1);
    atomic_store(&destroyed, 1);
    return NULL;
}

/* Wait (at most 5 s) until s is reached or destroy has returned. */
static void await_or_destroyed(struct race_stop *s)
{
    for (int i = 0; i < 50000 && !atomic_load(&s->arrived) && !atomic_load(&destroyed); i++)
        usleep(100);
}

/* A pool whose one buffer main holds, and B blocked on it. */
static void setup(unsigned flags, bufpool_alloc **held)
{
    memset(&b_plan, 0, sizeof b_plan);
    memset(&d_plan, 0, sizeof d_plan);
    atomic_store(&returned, 0);
    atomic_store(&released, 0);
    atomic_store(&destroyed, 0);
    bufpool_config cfg = {64, 64, flags};
    CHECK_EQ(bufpool_create(&pool, &cfg), 0);
    CHECK_EQ(bufpool_allocate(pool, 1, held), 0);
}

static void granted(void)
{
    pthread_t tb, td;
    bufpool_alloc *held;
    setup(BUFPOOL_FIFO, &held);
    struct race_stop *served = race_stop_at(&b_plan, BUFPOOL__HOOK_WAKE_SERVED, 0);
    struct race_stop *counting = race_stop_at(&d_plan, BUFPOOL__HOOK_DESTROY_COUNTING, 0);
    CHECK_EQ(pthread_create(&tb, NULL, blocked, NULL), 0);
    await_waiters(pool, 1);
    bufpool_alloc_release(held); /* grants B the buffer */
    race_await(served);
    CHECK_EQ(pthread_create(&td, NULL, destroyer, NULL), 0);
    race_await(counting);
    race_open(served); /* B counts its allocation and leaves */
    while (!atomic_load(&returned))
        usleep(100);
    race_open(counting);
    pthread_join(td, NULL);
    CHECK(!atomic_load(&early));
    pthread_join(tb, NULL);
}

static void told(void)
{
    pthread_t tb, td;
    bufpool_alloc *held;
    setup(0, &held);
    struct race_stop *retry = race_stop_at(&b_plan, BUFPOOL__HOOK_TOLD_RETRY, 0);
    struct race_stop *pass1 = race_stop_at(&d_plan, BUFPOOL__HOOK_DESTROY_COUNTING, 0);
    struct race_stop *pass2 = race_stop_at(&d_plan, BUFPOOL__HOOK_DESTROY_COUNTING, 0);
    CHECK_EQ(pthread_create(&tb, NULL, blocked, NULL), 0);
    await_waiters(pool, 1);
    bufpool_alloc_release(held); /* tells B */
    race_await(retry);
    CHECK_EQ(pthread_create(&td, NULL, destroyer, NULL), 0);
    race_await(pass1);
    race_open(pass1); /* destroy ends its first pass with B in its retry */
    await_or_destroyed(pass2);
    if (atomic_load(&destroyed)) {
        /* The pool is freed under B, which is still stopped: report it
         * and leave before B touches freed memory. */
        fprintf(stderr, "race_destroy: destroy returned during a told call's retry\n");
        exit(1);
    }
    CHECK(atomic_load(&pass2->arrived));
    race_open(retry); /* B takes the buffer or fails, and returns */
    race_open(pass2);
    pthread_join(td, NULL);
    CHECK(!atomic_load(&early));
    pthread_join(tb, NULL);
}

int main(void)
{
    race_init();
    granted();
    told();
    printf("race_destroy: ok\n");
    return 0;
}
