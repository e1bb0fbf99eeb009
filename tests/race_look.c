/*
 * race_look: a purge is a give of the wait protocol (W2), and the call
 * that purged must look at the queue afterwards even when it fails.
 *
 * A try for more than the free budget purges free resident memory (its
 * range claimed, still charged) and then fails with -EAGAIN; it is held at
 * the purge (BUFPOOL__HOOK_PURGE) while a timed waiter for one buffer
 * queues and falls asleep, the budget it needs being in the claim.  Once
 * the purge is let go, its uncharge must reach that waiter: the waiter has
 * to be served at once, not time out.  Default mode and FIFO.  On the code
 * before the fix the try looked only when it queued, which a try that no
 * steal can help (or a try in FIFO order behind a waiter) never does: the
 * waiter timed out after 2 s with the budget free.
 */
#include "bufpool.h"
#include "check.h"
#include "race.h"

#include <errno.h>

#define BS 4096

static bufpool *pool;
static struct race_plan try_plan;
static int try_r, wait_r;

static void *try_run(void *arg)
{
    (void)arg;
    race_tl = &try_plan;
    bufpool_alloc *a;
    try_r = bufpool_try_allocate(pool, 21, &a);
    if (try_r == 0)
        bufpool_alloc_release(a);
    return NULL;
}

static void *wait_run(void *arg)
{
    (void)arg;
    bufpool_alloc *a;
    wait_r = bufpool_allocate_timeout(pool, 1, 2000000000ull, &a);
    if (wait_r == 0)
        bufpool_alloc_release(a);
    return NULL;
}

static void part(unsigned flags)
{
    bufpool_config cfg = {.buffer_size = BS, .max_memory = 40 * BS, .flags = flags};
    CHECK_EQ(bufpool_create(&pool, &cfg), 0);
    bufpool_alloc *cached, *live;
    CHECK_EQ(bufpool_allocate(pool, 20, &cached), 0);
    CHECK_EQ(bufpool_allocate(pool, 20, &live), 0);
    bufpool_alloc_release(cached);
    /* a resize takes every cache: the 20 released buffers go to the arena,
     * free and resident, where only a purge makes budget of them */
    CHECK_EQ(bufpool_set_max_memory(pool, 40 * BS), 0);
    try_plan = (struct race_plan){0};
    struct race_stop *s = race_stop_at(&try_plan, BUFPOOL__HOOK_PURGE, 0);
    pthread_t t, w;
    CHECK_EQ(pthread_create(&t, NULL, try_run, NULL), 0);
    race_await(s); /* the try holds its claim of the 20 free buffers */
    CHECK_EQ(pthread_create(&w, NULL, wait_run, NULL), 0);
    bufpool_stats st;
    for (int i = 0; i < 20000; i++) {
        bufpool_get_stats(pool, &st);
        if (st.waiters == 1)
            break;
        usleep(100);
    }
    CHECK_EQ(st.waiters, 1);
    usleep(20000); /* told, it retries; let it settle into its sleep */
    race_open(s);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(pthread_join(w, NULL), 0);
    CHECK_EQ(try_r, -EAGAIN);
    CHECK_EQ(wait_r, 0);
    bufpool_alloc_release(live);
    bufpool_destroy(pool);
}

int main(void)
{
    race_init();
    part(0);
    part(BUFPOOL_FIFO);
    return 0;
}
