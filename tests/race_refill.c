/*
 * race_refill: a release that read its bin as full just before a waiter
 * took every cache moves its allocation into the depot after the waiter
 * looked, then serves the queue from the depot; a refill by another thread
 * in between takes one chain, and the server must still find the other.
 * (A refill that takes more than it hands out, and hides the rest in its
 * bin, is race_depot's case.)  The forced interleaving, with bins of two
 * entries (budget 16 buffers):
 *   R1, R2 each cache two buffers (their bins are full) and hold one more;
 *   main holds 10.  R1 and R2 start releasing their last buffer and stop
 *   when they have found their bin full.  W asks for 5: it takes the four
 *   cached buffers, which is not enough, and sleeps.  R1 and R2 go on: each
 *   moves its buffer into the depot and stops.  Main allocates one buffer,
 *   a refill from the depot.  Then R1 and R2 serve the queue.  W must get
 *   its 5 buffers (from the depot entry the refill left), not time out.
 */
#include "bufpool.h"
#include "check.h"
#include "race.h"

#include <errno.h>

static bufpool *pool;

struct releaser {
    struct race_plan plan;
    struct race_stop *full, *overflowed;
    _Atomic int ready, go;
};

static void *releaser(void *arg)
{
    struct releaser *r = arg;
    bufpool_alloc *x1, *x2, *y;
    CHECK_EQ(bufpool_allocate(pool, 1, &x1), 0);
    CHECK_EQ(bufpool_allocate(pool, 1, &x2), 0);
    CHECK_EQ(bufpool_allocate(pool, 1, &y), 0);
    bufpool_alloc_release(x1);
    bufpool_alloc_release(x2); /* the bin is full now */
    atomic_store(&r->ready, 1);
    while (!atomic_load(&r->go))
        usleep(100);
    race_tl = &r->plan;
    bufpool_alloc_release(y);
    return NULL;
}

static _Atomic int w_result = 1;

static void *waiter(void *arg)
{
    (void)arg;
    bufpool_alloc *a;
    int r = bufpool_allocate_timeout(pool, 5, 2000000000u, &a);
    if (r == 0)
        bufpool_alloc_release(a);
    atomic_store(&w_result, r);
    return NULL;
}

int main(void)
{
    race_init();
    bufpool_config cfg = {4096, 16 * 4096, 0};
    CHECK_EQ(bufpool_create(&pool, &cfg), 0);
    bufpool_alloc *f, *m;
    CHECK_EQ(bufpool_allocate(pool, 10, &f), 0);

    struct releaser r[2] = {0};
    pthread_t tr[2], tw;
    for (int i = 0; i < 2; i++) {
        r[i].full = race_stop_at(&r[i].plan, BUFPOOL__HOOK_PUSH_FULL, 0);
        r[i].overflowed = race_stop_at(&r[i].plan, BUFPOOL__HOOK_OVERFLOWED, 0);
        CHECK_EQ(pthread_create(&tr[i], NULL, releaser, &r[i]), 0);
        while (!atomic_load(&r[i].ready))
            usleep(100);
    }
    for (int i = 0; i < 2; i++) {
        atomic_store(&r[i].go, 1);
        race_await(r[i].full);
    }
    CHECK_EQ(pthread_create(&tw, NULL, waiter, NULL), 0);
    await_waiters(pool, 1);
    for (int i = 0; i < 2; i++) {
        race_open(r[i].full);
        race_await(r[i].overflowed);
    }
    CHECK_EQ(bufpool_allocate(pool, 1, &m), 0); /* the refill */
    for (int i = 0; i < 2; i++)
        race_open(r[i].overflowed);
    pthread_join(tw, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(tr[i], NULL);
    CHECK_EQ(atomic_load(&w_result), 0);

    bufpool_alloc_release(m);
    bufpool_alloc_release(f);
    bufpool_destroy(pool);
    printf("race_refill: ok\n");
    return 0;
}
