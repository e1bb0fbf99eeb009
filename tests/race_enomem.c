/*
 * race_enomem: an allocation that charged the budget, then failed in the
 * system allocator, gives the charge back.  A request that queued while
 * the charge was held must be served by that give-back, exactly as by a
 * release: the failing path looks at nwait after uncharging.  The forced
 * interleaving: A charges the whole budget and stops before taking memory
 * (the stop makes it fail with -ENOMEM), W queues for one buffer, then A
 * goes on.  W must get its buffer at once, not time out.
 */
#include "bufpool.h"
#include "check.h"
#include "race.h"

#include <errno.h>

int main(void)
{
    race_init();
    bufpool *p;
    bufpool_config cfg = {4096, 4 * 4096, 0};
    CHECK_EQ(bufpool_create(&p, &cfg), 0);

    struct race_caller a = {.pool = p, .n = 4}, w = {.pool = p, .n = 1};
    struct race_stop *charged = race_stop_at(&a.plan, BUFPOOL__HOOK_BLOCK_NEW, 1);
    pthread_t ta, tw;
    CHECK_EQ(pthread_create(&ta, NULL, race_call, &a), 0);
    race_await(charged);
    CHECK_EQ(pthread_create(&tw, NULL, race_call, &w), 0);
    await_waiters(p, 1);
    uint64_t t0 = now_ns();
    race_open(charged);
    pthread_join(ta, NULL);
    pthread_join(tw, NULL);
    CHECK_EQ(a.result, -ENOMEM);
    CHECK_EQ(w.result, 0);
    CHECK(now_ns() - t0 < 1000000000u);

    bufpool_stats st;
    bufpool_get_stats(p, &st);
    CHECK_EQ(st.in_use_bytes, 0);
    bufpool_destroy(p);
    printf("race_enomem: ok\n");
    return 0;
}
