/*
 * test_fifo: the order in which waiting requests are served.  With
 * BUFPOOL_FIFO a later request never overtakes an earlier one (blocked
 * calls and async waiters alike), try_allocate fails while anyone waits,
 * and a request that times out in the middle of the queue or at its head
 * leaves without holding back those behind it.  Without the flag, a small
 * request that fits gets in at once even while a larger one waits.
 */
#define _GNU_SOURCE
#include "bufpool.h"
#include "check.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

static atomic_int order_seq;

struct req {
    bufpool *p;
    size_t n;
    uint64_t timeout_ns;
    int rc, order;
    bufpool_alloc *a;
    atomic_int finished;
};

static void *requester(void *arg)
{
    struct req *r = arg;
    r->rc = r->timeout_ns ? bufpool_allocate_timeout(r->p, r->n, r->timeout_ns, &r->a)
                          : bufpool_allocate(r->p, r->n, &r->a);
    r->order = atomic_fetch_add(&order_seq, 1);
    atomic_store(&r->finished, 1);
    return NULL;
}

/* Queue requests one by one so their arrival order is known. */
static void start(struct req *r, pthread_t *t, size_t nth)
{
    pthread_create(t, NULL, requester, r);
    await_waiters(r->p, nth);
}

static void test_fifo_order_with_timeout_in_middle(void)
{
    bufpool *p = make(64, 64 * 4, BUFPOOL_FIFO);
    bufpool_alloc *hold[4];
    for (int i = 0; i < 4; i++)
        CHECK_EQ(bufpool_allocate(p, 1, &hold[i]), 0);
    struct req r[4] = {
        {.p = p, .n = 2},
        /* gives up in the middle; after 1 s, so that the two behind it
         * queue first even under a sanitizer on a loaded machine */
        {.p = p, .n = 1, .timeout_ns = 1000000000u},
        {.p = p, .n = 3},
        {.p = p, .n = 1},
    };
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        start(&r[i], &t[i], (size_t)i + 1);
    bufpool_alloc *x;
    CHECK_EQ(bufpool_try_allocate(p, 1, &x), -EAGAIN); /* people wait */
    pthread_join(t[1], NULL);
    CHECK_EQ(r[1].rc, -ETIMEDOUT);
    await_waiters(p, 3);

    /* Free one buffer: r[0] wants 2, so nobody moves (r[3] would fit). */
    bufpool_alloc_release(hold[0]);
    usleep(50000);
    CHECK(!atomic_load(&r[0].finished) && !atomic_load(&r[2].finished) && !atomic_load(&r[3].finished));
    bufpool_alloc_release(hold[1]); /* 2 free: r[0] */
    pthread_join(t[0], NULL);
    CHECK_EQ(r[0].rc, 0);
    usleep(50000);
    CHECK(!atomic_load(&r[3].finished)); /* must not overtake r[2] */
    bufpool_alloc_release(hold[2]);
    bufpool_alloc_release(r[0].a); /* 3 free: r[2] */
    pthread_join(t[2], NULL);
    CHECK_EQ(r[2].rc, 0);
    bufpool_alloc_release(hold[3]); /* 1 free: r[3] */
    pthread_join(t[3], NULL);
    CHECK_EQ(r[3].rc, 0);
    CHECK(r[0].order < r[2].order && r[2].order < r[3].order);
    bufpool_alloc_release(r[2].a);
    bufpool_alloc_release(r[3].a);
    bufpool_destroy(p);
}

static void test_head_timeout_unblocks(void)
{
    bufpool *p = make(64, 64 * 4, BUFPOOL_FIFO);
    bufpool_alloc *hold[4];
    for (int i = 0; i < 4; i++)
        CHECK_EQ(bufpool_allocate(p, 1, &hold[i]), 0);
    struct req head = {.p = p, .n = 4, .timeout_ns = 150000000u}, tail = {.p = p, .n = 1};
    pthread_t th, tt;
    start(&head, &th, 1);
    start(&tail, &tt, 2);
    bufpool_alloc_release(hold[0]); /* 1 free, but the head wants 4 */
    usleep(30000);
    CHECK(!atomic_load(&tail.finished));
    pthread_join(th, NULL);
    CHECK_EQ(head.rc, -ETIMEDOUT);
    pthread_join(tt, NULL); /* served as soon as the head left */
    CHECK_EQ(tail.rc, 0);
    bufpool_alloc_release(tail.a);
    for (int i = 1; i < 4; i++)
        bufpool_alloc_release(hold[i]);
    bufpool_destroy(p);
}

static void test_opportunistic_overtakes(void)
{
    bufpool *p = make(64, 64 * 4, 0);
    bufpool_alloc *hold, *x;
    CHECK_EQ(bufpool_allocate(p, 3, &hold), 0);
    struct req big = {.p = p, .n = 2};
    pthread_t t;
    start(&big, &t, 1);
    CHECK_EQ(bufpool_try_allocate(p, 1, &x), 0); /* fits: gets in past the waiter */
    bufpool_alloc_release(x);
    bufpool_alloc_release(hold);
    pthread_join(t, NULL);
    CHECK_EQ(big.rc, 0);
    bufpool_alloc_release(big.a);
    bufpool_destroy(p);
}

static bool readable(int fd, int ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    return poll(&pfd, 1, ms) == 1 && (pfd.revents & POLLIN);
}

/* Async waiters and blocked calls share the one FIFO queue. */
static void test_fifo_mixed_async(void)
{
    bufpool *p = make(64, 64 * 4, BUFPOOL_FIFO);
    bufpool_alloc *hold, *got;
    CHECK_EQ(bufpool_allocate(p, 4, &hold), 0);
    bufpool_waiter *w1, *w2;
    CHECK_EQ(bufpool_waiter_create(p, &w1), 0);
    CHECK_EQ(bufpool_waiter_create(p, &w2), 0);
    CHECK_EQ(bufpool_waiter_allocate(w1, 2, &got), -EAGAIN); /* 1st */
    struct req blocked = {.p = p, .n = 2};
    pthread_t t;
    start(&blocked, &t, 2);                                   /* 2nd */
    CHECK_EQ(bufpool_waiter_allocate(w2, 1, &got), -EAGAIN); /* 3rd */
    await_waiters(p, 3);
    CHECK(!readable(bufpool_waiter_fd(w1), 0));
    bufpool_alloc_release(hold); /* 4 free: w1 (2, set aside), blocked (2) */
    pthread_join(t, NULL);
    CHECK_EQ(blocked.rc, 0);
    CHECK(readable(bufpool_waiter_fd(w1), 1000));
    CHECK(!readable(bufpool_waiter_fd(w2), 50));
    bufpool_stats st;
    bufpool_get_stats(p, &st);
    CHECK_EQ(st.in_use_bytes + st.cached_bytes, 4 * 64); /* 2 set aside for w1 */
    CHECK_EQ(bufpool_waiter_allocate(w1, 2, &got), 0);
    CHECK_EQ(bufpool_alloc_length(got), 2);
    bufpool_alloc_release(blocked.a); /* w2 is next */
    CHECK(readable(bufpool_waiter_fd(w2), 1000));
    bufpool_alloc *got2;
    CHECK_EQ(bufpool_waiter_allocate(w2, 1, &got2), 0);
    bufpool_alloc_release(got);
    bufpool_alloc_release(got2);
    bufpool_waiter_destroy(w1);
    bufpool_waiter_destroy(w2);
    bufpool_destroy(p);
}

int main(void)
{
    test_fifo_order_with_timeout_in_middle();
    test_head_timeout_unblocks();
    test_opportunistic_overtakes();
    test_fifo_mixed_async();
    printf("test_fifo: ok\n");
    return 0;
}
