/*
 * test_waiter: async waiters.  The fd is readable exactly when a retry may
 * succeed: not before the budget frees up, at once after; each
 * waiter_allocate resets readiness, so a loop never spins when nothing
 * changed.  FIFO sets memory aside for the waiter whose turn it is, and
 * cancel gives it back.  Shutdown and a budget shrink make pending fds
 * readable and the retry reports -ECANCELED / -E2BIG.  Several waiters
 * are woken in turn, also by releases from other threads, and a cancelled
 * waiter's promised memory goes to those behind it.
 */
#define _GNU_SOURCE
#include "bufpool.h"
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

static bufpool *make(size_t max_buffers, unsigned flags)
{
    bufpool *p;
    bufpool_config cfg = {64, 64 * max_buffers, flags};
    CHECK_EQ(bufpool_create(&p, &cfg), 0);
    return p;
}

static bool readable(const bufpool_waiter *w, int ms)
{
    struct pollfd pfd = {.fd = bufpool_waiter_fd(w), .events = POLLIN};
    return poll(&pfd, 1, ms) == 1 && (pfd.revents & POLLIN);
}

static void test_errors(void)
{
    bufpool *p = make(4, 0);
    bufpool_waiter *w = (bufpool_waiter *)1;
    bufpool_alloc *a = (bufpool_alloc *)1;
    CHECK_EQ(bufpool_waiter_create(NULL, &w), -EINVAL);
    CHECK(w == NULL);
    CHECK_EQ(bufpool_waiter_create(p, NULL), -EINVAL);
    CHECK_EQ(bufpool_waiter_fd(NULL), -EINVAL);
    CHECK_EQ(bufpool_waiter_allocate(NULL, 1, &a), -EINVAL);
    CHECK(a == NULL);
    CHECK_EQ(bufpool_waiter_create(p, &w), 0);
    CHECK_EQ(bufpool_waiter_allocate(w, 1, NULL), -EINVAL);
    CHECK_EQ(bufpool_waiter_allocate(w, 0, &a), -EINVAL);
    CHECK_EQ(bufpool_waiter_allocate(w, 5, &a), -E2BIG);
    CHECK_EQ(bufpool_waiter_allocate(w, SIZE_MAX, &a), -E2BIG);
    int fd = bufpool_waiter_fd(w);
    CHECK(fd >= 0);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
    bufpool_waiter_cancel(NULL);
    bufpool_waiter_destroy(NULL);
    bufpool_waiter_cancel(w); /* nothing pending: no-op */
    bufpool_waiter_destroy(w);
    CHECK(fcntl(fd, F_GETFD) == -1); /* closed */
    bufpool_destroy(p);
}

static void test_readiness(unsigned flags)
{
    bufpool *p = make(4, flags);
    bufpool_waiter *w;
    bufpool_alloc *hold, *a;
    CHECK_EQ(bufpool_waiter_create(p, &w), 0);
    CHECK(!readable(w, 0));
    CHECK_EQ(bufpool_waiter_allocate(w, 1, &a), 0); /* fits: at once */
    bufpool_alloc_release(a);
    CHECK_EQ(bufpool_allocate(p, 4, &hold), 0);
    a = (bufpool_alloc *)1;
    CHECK_EQ(bufpool_waiter_allocate(w, 2, &a), -EAGAIN);
    CHECK(a == NULL);
    bufpool_stats st;
    bufpool_get_stats(p, &st);
    CHECK_EQ(st.waiters, 1);
    CHECK(!readable(w, 50)); /* nothing changed */
    CHECK_EQ(bufpool_waiter_allocate(w, 2, &a), -EAGAIN); /* a spurious retry */
    CHECK(!readable(w, 20));
    bufpool_alloc_release(hold);
    CHECK(readable(w, 1000));
    CHECK_EQ(bufpool_waiter_allocate(w, 2, &a), 0);
    CHECK(!readable(w, 0)); /* the call reset readiness */
    bufpool_get_stats(p, &st);
    CHECK_EQ(st.waiters, 0);
    bufpool_alloc_release(a);
    bufpool_waiter_destroy(w);
    bufpool_destroy(p);
}

static void test_fifo_set_aside_and_cancel(void)
{
    bufpool *p = make(4, BUFPOOL_FIFO);
    bufpool_waiter *w;
    bufpool_alloc *hold, *a;
    CHECK_EQ(bufpool_waiter_create(p, &w), 0);
    CHECK_EQ(bufpool_allocate(p, 4, &hold), 0);
    CHECK_EQ(bufpool_waiter_allocate(w, 3, &a), -EAGAIN);
    bufpool_alloc_release(hold);
    CHECK(readable(w, 1000));
    /* 3 buffers are set aside for w: only 1 is left for anyone else */
    CHECK_EQ(bufpool_try_allocate(p, 2, &a), -EAGAIN);
    CHECK_EQ(bufpool_try_allocate(p, 1, &a), 0);
    bufpool_alloc_release(a);
    bufpool_waiter_cancel(w); /* gives the 3 back */
    CHECK(!readable(w, 0));
    CHECK_EQ(bufpool_try_allocate(p, 4, &a), 0);
    /* pending, then cancelled: a later release does not wake it */
    CHECK_EQ(bufpool_waiter_allocate(w, 1, &hold), -EAGAIN);
    bufpool_waiter_cancel(w);
    bufpool_alloc_release(a);
    CHECK(!readable(w, 50));
    bufpool_stats st;
    bufpool_get_stats(p, &st);
    CHECK_EQ(st.waiters, 0);
    /* destroying a waiter with memory set aside gives it back too */
    CHECK_EQ(bufpool_allocate(p, 4, &hold), 0);
    CHECK_EQ(bufpool_waiter_allocate(w, 2, &a), -EAGAIN);
    bufpool_alloc_release(hold);
    CHECK(readable(w, 1000));
    bufpool_waiter_destroy(w);
    CHECK_EQ(bufpool_try_allocate(p, 4, &a), 0);
    bufpool_alloc_release(a);
    bufpool_destroy(p);
}

static void test_shutdown_and_shrink(unsigned flags)
{
    bufpool *p = make(4, flags);
    bufpool_waiter *w1, *w2;
    bufpool_alloc *hold, *a;
    CHECK_EQ(bufpool_waiter_create(p, &w1), 0);
    CHECK_EQ(bufpool_waiter_create(p, &w2), 0);
    CHECK_EQ(bufpool_allocate(p, 4, &hold), 0);
    CHECK_EQ(bufpool_waiter_allocate(w1, 4, &a), -EAGAIN);
    CHECK_EQ(bufpool_waiter_allocate(w2, 1, &a), -EAGAIN);
    CHECK_EQ(bufpool_set_max_memory(p, 64 * 3), 0);
    CHECK(readable(w1, 1000)); /* its request can never fit now */
    CHECK_EQ(bufpool_waiter_allocate(w1, 4, &a), -E2BIG);
    CHECK(!readable(w2, 20));
    bufpool_shutdown(p);
    CHECK(readable(w2, 1000));
    CHECK_EQ(bufpool_waiter_allocate(w2, 1, &a), -ECANCELED);
    CHECK_EQ(bufpool_waiter_allocate(w1, 1, &a), -ECANCELED);
    bufpool_alloc_release(hold);
    bufpool_waiter_destroy(w1);
    bufpool_waiter_destroy(w2);
    bufpool_destroy(p);
}

struct releaser {
    bufpool_alloc *a[8];
    int n;
};

static void *release_later(void *arg)
{
    struct releaser *r = arg;
    for (int i = 0; i < r->n; i++) {
        usleep(5000);
        bufpool_alloc_release(r->a[i]);
    }
    return NULL;
}

/* Several waiters, woken in turn by releases from another thread. */
static void test_many_waiters(unsigned flags)
{
    enum { W = 6 };
    bufpool *p = make(4, flags);
    struct releaser rel = {.n = 4};
    for (int i = 0; i < 4; i++)
        CHECK_EQ(bufpool_allocate(p, 1, &rel.a[i]), 0);
    bufpool_waiter *w[W];
    bufpool_alloc *got[W] = {0};
    for (int i = 0; i < W; i++) {
        CHECK_EQ(bufpool_waiter_create(p, &w[i]), 0);
        CHECK_EQ(bufpool_waiter_allocate(w[i], 1, &got[i]), -EAGAIN);
    }
    pthread_t t;
    pthread_create(&t, NULL, release_later, &rel);
    int served = 0, loops = 0;
    while (served < 4 && loops++ < 1000) {
        struct pollfd pfd[W];
        for (int i = 0; i < W; i++)
            pfd[i] = (struct pollfd){.fd = bufpool_waiter_fd(w[i]), .events = POLLIN};
        CHECK(poll(pfd, W, 2000) > 0);
        for (int i = 0; i < W; i++) {
            if (!(pfd[i].revents & POLLIN) || got[i])
                continue;
            int rc = bufpool_waiter_allocate(w[i], 1, &got[i]);
            CHECK(rc == 0 || rc == -EAGAIN);
            served += rc == 0;
        }
    }
    pthread_join(t, NULL);
    CHECK_EQ(served, 4);
    if (flags & BUFPOOL_FIFO)
        for (int i = 0; i < 4; i++)
            CHECK(got[i] != NULL); /* in arrival order */
    for (int i = 0; i < W; i++) {
        bufpool_alloc_release(got[i]);
        bufpool_waiter_destroy(w[i]);
    }
    bufpool_stats st;
    bufpool_get_stats(p, &st);
    CHECK_EQ(st.live_allocations, 0);
    CHECK_EQ(st.waiters, 0);
    bufpool_destroy(p);
}

/* Default mode: a waiter told "fits" holds back memory from those behind
 * it (promised); if it then cancels, they must be told instead. */
static void test_promise_given_back(void)
{
    bufpool *p = make(2, 0);
    bufpool_waiter *w1, *w2;
    bufpool_alloc *hold, *a;
    CHECK_EQ(bufpool_waiter_create(p, &w1), 0);
    CHECK_EQ(bufpool_waiter_create(p, &w2), 0);
    CHECK_EQ(bufpool_allocate(p, 2, &hold), 0);
    CHECK_EQ(bufpool_waiter_allocate(w1, 2, &a), -EAGAIN);
    CHECK_EQ(bufpool_waiter_allocate(w2, 1, &a), -EAGAIN);
    bufpool_alloc_release(hold);
    CHECK(readable(w1, 1000));
    CHECK(!readable(w2, 0)); /* the budget is promised to w1 */
    bufpool_waiter_cancel(w1);
    CHECK(readable(w2, 1000));
    CHECK_EQ(bufpool_waiter_allocate(w2, 1, &a), 0);
    bufpool_alloc_release(a);
    bufpool_waiter_destroy(w1);
    bufpool_waiter_destroy(w2);
    bufpool_destroy(p);
}

int main(void)
{
    test_promise_given_back();
    test_errors();
    test_readiness(0);
    test_readiness(BUFPOOL_FIFO);
    test_fifo_set_aside_and_cancel();
    test_shutdown_and_shrink(0);
    test_shutdown_and_shrink(BUFPOOL_FIFO);
    test_many_waiters(0);
    test_many_waiters(BUFPOOL_FIFO);
    printf("test_waiter: ok\n");
    return 0;
}
