/*
 * race_shrink: a shrink between a request's unlocked -E2BIG check and its
 * entry into the queue.  The request checks n against the budget without
 * the lock, then takes the lock to queue; a shrink in between fails only
 * requests already queued.  The forced interleaving: the caller stops at
 * the slow path's entry (the check passed), the budget shrinks below n,
 * then the caller goes on.  It must get -E2BIG at once (the queueing path
 * checks again under the lock), not sleep until its timeout.
 */
#include "bufpool.h"
#include "check.h"
#include "race.h"

#include <errno.h>

int main(void)
{
    race_init();
    bufpool *p;
    bufpool_config cfg = {4096, 8 * 4096, 0};
    CHECK_EQ(bufpool_create(&p, &cfg), 0);
    bufpool_alloc *held;
    CHECK_EQ(bufpool_allocate(p, 8, &held), 0);

    struct race_caller c = {.pool = p, .n = 6};
    struct race_stop *entered = race_stop_at(&c.plan, BUFPOOL__HOOK_SLOW_ENTER, 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, race_call, &c), 0);
    race_await(entered);
    CHECK_EQ(bufpool_set_max_memory(p, 4 * 4096), 0);
    uint64_t t0 = now_ns();
    race_open(entered);
    pthread_join(t, NULL);
    CHECK_EQ(c.result, -E2BIG);
    CHECK(now_ns() - t0 < 1000000000u); /* at once, not after the timeout */

    bufpool_alloc_release(held);
    bufpool_destroy(p);
    printf("race_shrink: ok\n");
    return 0;
}
