/*
 * race_reclaim: a blocked request calls its reclaim callback again after
 * a wake that still finds it short, as long as its previous call returned
 * nonzero, and never after one returned 0.  The wake is a tell (the
 * memory fitted) whose memory another call takes before the woken request
 * retries: the hook at the told call's retry holds it there meanwhile.
 */
#include "bufpool.h"
#include "check.h"
#include "race.h"

#include <stdatomic.h>

enum { BS = 4096, BUFS = 4 };

static atomic_int calls;
static atomic_size_t give_back; /* what the callback returns */

static size_t count_only(void *arg, size_t needed)
{
    (void)arg;
    CHECK_EQ(needed, BUFS * BS);
    atomic_fetch_add(&calls, 1);
    return atomic_load(&give_back);
}

static void await_calls(int want)
{
    for (int i = 0; i < 5000 && atomic_load(&calls) < want; i++)
        usleep(1000);
    CHECK_EQ(atomic_load(&calls), want);
}

/* Tell the request, then take the memory while it is held at its retry. */
static void steal_after_tell(bufpool *p, bufpool_alloc **held, struct race_stop *retry)
{
    bufpool_alloc_release(*held); /* tells the request */
    race_await(retry);
    CHECK_EQ(bufpool_try_allocate(p, BUFS, held), 0); /* it loses the memory */
    race_open(retry);
    await_waiters(p, 1); /* queued again */
}

int main(void)
{
    race_init();
    bufpool *p = make(BS, BUFS * BS, 0);
    bufpool_alloc *held;
    CHECK_EQ(bufpool_allocate(p, BUFS, &held), 0);
    atomic_store(&give_back, 1); /* "more soon" */
    CHECK_EQ(bufpool_set_reclaim(p, count_only, NULL), 0);

    struct race_caller b = {.pool = p, .n = BUFS};
    struct race_stop *retry1 = race_stop_at(&b.plan, BUFPOOL__HOOK_TOLD_RETRY, 0);
    struct race_stop *retry2 = race_stop_at(&b.plan, BUFPOOL__HOOK_TOLD_RETRY, 0);
    pthread_t tb;
    CHECK_EQ(pthread_create(&tb, NULL, race_call, &b), 0);
    await_waiters(p, 1);
    await_calls(1); /* before its first sleep */

    atomic_store(&give_back, 0); /* the next call: nothing more */
    steal_after_tell(p, &held, retry1);
    await_calls(2); /* the previous call returned nonzero: called again */

    steal_after_tell(p, &held, retry2);
    usleep(20000);
    CHECK_EQ(atomic_load(&calls), 2); /* the previous returned 0: not again */

    bufpool_alloc_release(held); /* served this time */
    CHECK_EQ(pthread_join(tb, NULL), 0);
    CHECK_EQ(b.result, 0);
    CHECK_EQ(atomic_load(&calls), 2);
    bufpool_destroy(p);
    printf("race_reclaim: ok\n");
    return 0;
}
