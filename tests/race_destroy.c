/*
 * race_destroy: destroy must not free the pool while a blocked call that
 * was served is still on its way out.  Such a call leaves without the
 * lock: it counts its allocation, then drops pool->inside.  Destroy reads
 * inside first, then the allocation counters; read the other way round,
 * it can see the counters balanced (the allocation not yet counted) and
 * then inside at 0, and free the pool under a live allocation.  The forced
 * interleaving: B is served and stops before counting; destroy stops
 * between its two reads; B goes on and returns with its allocation; then
 * destroy goes on.  It must wait until B has released the allocation.
 */
#include "bufpool.h"
#include "check.h"
#include "race.h"

#include <errno.h>

static bufpool *pool;
static _Atomic int released;   /* B has released its allocation */
static _Atomic int early;      /* destroy returned before that */
static struct race_plan b_plan, d_plan;

static void *blocked(void *arg)
{
    (void)arg;
    bufpool_alloc *a;
    race_tl = &b_plan;
    CHECK_EQ(bufpool_allocate(pool, 1, &a), 0);
    usleep(200 * 1000); /* destroy, if wrong, returns in the meantime */
    if (atomic_load(&early))
        return NULL; /* the pool is gone: do not touch it */
    atomic_store(&released, 1);
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
    return NULL;
}

int main(void)
{
    race_init();
    bufpool_config cfg = {64, 64, 0};
    CHECK_EQ(bufpool_create(&pool, &cfg), 0);
    bufpool_alloc *held;
    CHECK_EQ(bufpool_allocate(pool, 1, &held), 0);

    struct race_stop *served = race_stop_at(&b_plan, BUFPOOL__HOOK_WAKE_SERVED, 0);
    struct race_stop *counting = race_stop_at(&d_plan, BUFPOOL__HOOK_DESTROY_COUNTING, 0);
    pthread_t tb, td;
    CHECK_EQ(pthread_create(&tb, NULL, blocked, NULL), 0);
    await_waiters(pool, 1);
    bufpool_alloc_release(held); /* serves B */
    race_await(served);
    CHECK_EQ(pthread_create(&td, NULL, destroyer, NULL), 0);
    race_await(counting);
    race_open(served); /* B counts its allocation and leaves */
    usleep(20 * 1000);
    race_open(counting);
    pthread_join(td, NULL);
    CHECK(!atomic_load(&early));
    pthread_join(tb, NULL);
    printf("race_destroy: ok\n");
    return 0;
}
