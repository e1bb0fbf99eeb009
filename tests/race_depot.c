/*
 * race_depot: a refill that takes a chain from the depot must look at the
 * queue after it has put the rest of the chain into its bin.  A waiter
 * that looks while the chain is in flight (out of the depot, not yet in
 * the bin) sees neither; if the refiller then keeps what it was given, as
 * a pipeline's producer does when it hands its buffer on, no release of
 * its own looks for the waiter.  The forced interleaving, on a budget of 8
 * buffers (so a bin holds one):
 *   R releases two buffers: the second finds the bin full and puts bin and
 *   itself into the depot as one chain of two.  Main holds the other 6.
 *   B allocates one buffer: its refill takes the chain and stops.  W asks
 *   for one buffer: nothing is cached anywhere and the budget is spent, so
 *   it sleeps.  B goes on: one buffer for itself, the other into its bin,
 *   then it looks.  W must get a buffer while B still holds its own; with
 *   the look left out it times out.
 */
#include "bufpool.h"
#include "check.h"
#include "race.h"

#include <errno.h>

static bufpool *pool;

static void *releaser(void *arg)
{
    (void)arg;
    bufpool_alloc *x1, *x2;
    CHECK_EQ(bufpool_allocate(pool, 1, &x1), 0);
    CHECK_EQ(bufpool_allocate(pool, 1, &x2), 0);
    bufpool_alloc_release(x1); /* the bin is full now */
    bufpool_alloc_release(x2); /* bin and x2: one chain into the depot */
    return NULL;
}

struct refiller {
    struct race_plan plan;
    struct race_stop *taken;
    _Atomic int got, done;
};

static void *refiller(void *arg)
{
    struct refiller *b = arg;
    bufpool_alloc *a;
    race_tl = &b->plan;
    CHECK_EQ(bufpool_allocate(pool, 1, &a), 0);
    atomic_store(&b->got, 1);
    while (!atomic_load(&b->done)) /* hold it until W has its answer */
        usleep(100);
    bufpool_alloc_release(a);
    return NULL;
}

int main(void)
{
    race_init();
    bufpool_config cfg = {4096, 8 * 4096, 0};
    CHECK_EQ(bufpool_create(&pool, &cfg), 0);
    bufpool_alloc *m;
    CHECK_EQ(bufpool_allocate(pool, 6, &m), 0);
    pthread_t tr, tb, tw;
    CHECK_EQ(pthread_create(&tr, NULL, releaser, NULL), 0);
    pthread_join(tr, NULL);
    bufpool_stats st;
    bufpool_get_stats(pool, &st);
    CHECK_EQ(st.cached_bytes, (size_t)2 * 4096);

    struct refiller b = {0};
    b.taken = race_stop_at(&b.plan, BUFPOOL__HOOK_REFILL_TAKEN, 0);
    CHECK_EQ(pthread_create(&tb, NULL, refiller, &b), 0);
    race_await(b.taken);

    struct race_caller w = {.pool = pool, .n = 1};
    CHECK_EQ(pthread_create(&tw, NULL, race_call, &w), 0);
    await_waiters(pool, 1);
    race_open(b.taken);
    while (!atomic_load(&b.got))
        usleep(100);
    pthread_join(tw, NULL);
    CHECK_EQ(w.result, 0);
    atomic_store(&b.done, 1);
    pthread_join(tb, NULL);

    bufpool_alloc_release(m);
    bufpool_destroy(pool);
    printf("race_depot: ok\n");
    return 0;
}
