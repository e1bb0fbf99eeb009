/*
 * race_waits: total_waits counts requests that waited, once each, not the
 * times a request queued (issue 21, point 5).  In the default mode a
 * blocked call that a release lets in is told, not given the memory, and
 * starts over; if another thread takes the memory first, it queues again.
 * One forced interleaving: B waits for the whole budget (counted: 1); main
 * releases, which tells B; B stops as it starts over; main takes the whole
 * budget again; B goes on, finds nothing and queues again (still 1); main
 * releases, and B gets the memory (still 1).  A second call of B's that
 * waits is a new request (2).
 */
#include "bufpool.h"
#include "check.h"
#include "race.h"

#include <errno.h>

#define BS 64
#define BUFS 4

static uint64_t waits(bufpool *p)
{
    bufpool_stats s;
    bufpool_get_stats(p, &s);
    return s.total_waits;
}

int main(void)
{
    race_init();
    bufpool *p = make(BS, BUFS * BS, 0);
    bufpool_alloc *held;
    CHECK_EQ(bufpool_allocate(p, BUFS, &held), 0);

    struct race_caller b = {.pool = p, .n = BUFS};
    struct race_stop *retry = race_stop_at(&b.plan, BUFPOOL__HOOK_TOLD_RETRY, 0);
    pthread_t tb;
    CHECK_EQ(pthread_create(&tb, NULL, race_call, &b), 0);
    await_waiters(p, 1);
    CHECK_EQ(waits(p), 1);

    bufpool_alloc_release(held); /* tells B */
    race_await(retry);
    CHECK_EQ(bufpool_try_allocate(p, BUFS, &held), 0); /* B loses the memory */
    race_open(retry);
    await_waiters(p, 1); /* B queued again */
    if (waits(p) != 1) {
        fprintf(stderr, "race_waits: total_waits %llu after one request queued twice\n",
                (unsigned long long)waits(p));
        CHECK(!"a told request that queued again was counted again");
    }

    bufpool_alloc_release(held); /* B gets it this time */
    CHECK_EQ(pthread_join(tb, NULL), 0);
    CHECK_EQ(b.result, 0);
    CHECK_EQ(waits(p), 1);

    /* A new request that waits counts anew. */
    CHECK_EQ(bufpool_allocate(p, BUFS, &held), 0);
    struct race_caller c = {.pool = p, .n = BUFS};
    CHECK_EQ(pthread_create(&tb, NULL, race_call, &c), 0);
    await_waiters(p, 1);
    bufpool_alloc_release(held);
    CHECK_EQ(pthread_join(tb, NULL), 0);
    CHECK_EQ(c.result, 0);
    CHECK_EQ(waits(p), 2);
    bufpool_destroy(p);
    printf("race_waits: ok\n");
    return 0;
}
