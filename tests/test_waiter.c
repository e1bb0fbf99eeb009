/*
 * test_waiter: async waiters.  The fd is readable exactly when a retry may
 * succeed: not before the budget frees up, at once after; each
 * waiter_allocate resets readiness, so a loop never spins when nothing
 * changed.  FIFO sets memory aside for the waiter whose turn it is, and
 * cancel gives it back.  Shutdown and a budget shrink make pending fds
 * readable and the retry reports -ECANCELED / -E2BIG.  Several waiters
 * are woken in turn, also by releases from other threads, and a cancelled
 * waiter's promised memory goes to those behind it.  An -E2BIG for the
 * pending n ends the request (the next call after the budget grows back
 * succeeds), one for another n changes nothing, and memory set aside for a
 * request that no longer fits goes back at the shrink or the shutdown.
 * total_waits counts a request once, however often it is told and pends
 * again (issue 21, point 5).
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

static bool readable(const bufpool_waiter *w, int ms)
{
    struct pollfd pfd = {.fd = bufpool_waiter_fd(w), .events = POLLIN};
    return poll(&pfd, 1, ms) == 1 && (pfd.revents & POLLIN);
}

static void test_errors(void)
{
    bufpool *p = make(64, 64 * 4, 0);
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
    bufpool *p = make(64, 64 * 4, flags);
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

static uint64_t waits(bufpool *p)
{
    bufpool_stats st;
    bufpool_get_stats(p, &st);
    return st.total_waits;
}

/* total_waits counts a request once: in the default mode a told waiter
 * that calls again for the same n and must wait again (another thread took
 * the memory first) is the same request; a new n, or a call after the
 * request was served, is a new one. */
static void test_waits_counted_once(void)
{
    bufpool *p = make(64, 64 * 4, 0);
    bufpool_waiter *w;
    bufpool_alloc *hold, *a;
    CHECK_EQ(bufpool_waiter_create(p, &w), 0);
    CHECK_EQ(bufpool_allocate(p, 4, &hold), 0);
    CHECK_EQ(bufpool_waiter_allocate(w, 2, &a), -EAGAIN);
    CHECK_EQ(waits(p), 1);
    bufpool_alloc_release(hold); /* tells w */
    CHECK(readable(w, 1000));
    CHECK_EQ(bufpool_try_allocate(p, 4, &hold), 0); /* the memory goes elsewhere */
    CHECK_EQ(bufpool_waiter_allocate(w, 2, &a), -EAGAIN); /* pending again */
    CHECK_EQ(waits(p), 1);
    bufpool_alloc_release(hold);
    CHECK(readable(w, 1000));
    CHECK_EQ(bufpool_waiter_allocate(w, 2, &a), 0);
    CHECK_EQ(waits(p), 1);
    bufpool_alloc_release(a);

    /* Told, then asking for another n: a new request. */
    CHECK_EQ(bufpool_allocate(p, 4, &hold), 0);
    CHECK_EQ(bufpool_waiter_allocate(w, 2, &a), -EAGAIN);
    CHECK_EQ(waits(p), 2);
    bufpool_alloc_release(hold);
    CHECK(readable(w, 1000));
    CHECK_EQ(bufpool_try_allocate(p, 4, &hold), 0);
    CHECK_EQ(bufpool_waiter_allocate(w, 3, &a), -EAGAIN);
    CHECK_EQ(waits(p), 3);
    bufpool_waiter_destroy(w);
    bufpool_alloc_release(hold);
    bufpool_destroy(p);
}

static void test_fifo_set_aside_and_cancel(void)
{
    bufpool *p = make(64, 64 * 4, BUFPOOL_FIFO);
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
    bufpool *p = make(64, 64 * 4, flags);
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
    bufpool *p = make(64, 64 * 4, flags);
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
    bufpool *p = make(64, 64 * 2, 0);
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

/* A pool of 4 KiB buffers with room for `buffers` of them. */
static bufpool *make_4k(size_t buffers, unsigned flags)
{
    bufpool *p;
    bufpool_config cfg = {4096, 4096 * buffers, flags};
    CHECK_EQ(bufpool_create(&p, &cfg), 0);
    return p;
}

/* -E2BIG for the pending n (the budget shrank below it) ends the pending
 * request: once the budget grows back, the next call is a fresh try and
 * succeeds at once.  (1.0 answered -E2BIG a second time.) */
static void test_e2big_then_grow(unsigned flags)
{
    bufpool *p = make_4k(8, flags);
    bufpool_alloc *held[8], *a;
    bufpool_waiter *w;
    for (int i = 0; i < 8; i++)
        CHECK_EQ(bufpool_allocate(p, 1, &held[i]), 0);
    CHECK_EQ(bufpool_waiter_create(p, &w), 0);
    CHECK_EQ(bufpool_waiter_allocate(w, 4, &a), -EAGAIN);
    CHECK_EQ(bufpool_set_max_memory(p, 2 * 4096), 0);
    CHECK(readable(w, 1000));
    CHECK_EQ(bufpool_waiter_allocate(w, 4, &a), -E2BIG);
    CHECK(!readable(w, 0));
    for (int i = 0; i < 8; i++)
        bufpool_alloc_release(held[i]);
    CHECK_EQ(bufpool_set_max_memory(p, 8 * 4096), 0);
    CHECK_EQ(bufpool_waiter_allocate(w, 4, &a), 0);
    CHECK_EQ(bufpool_alloc_length(a), 4);
    bufpool_alloc_release(a);
    bufpool_waiter_destroy(w);
    bufpool_destroy(p);
}

/* A shrink undone before the waiter looked: the -E2BIG it earned is stale,
 * and the call with the pending n tries afresh. */
static void test_stale_e2big(unsigned flags)
{
    bufpool *p = make_4k(8, flags);
    bufpool_alloc *held, *a;
    bufpool_waiter *w;
    CHECK_EQ(bufpool_allocate(p, 8, &held), 0);
    CHECK_EQ(bufpool_waiter_create(p, &w), 0);
    CHECK_EQ(bufpool_waiter_allocate(w, 4, &a), -EAGAIN);
    CHECK_EQ(bufpool_set_max_memory(p, 2 * 4096), 0);
    bufpool_alloc_release(held);
    CHECK_EQ(bufpool_set_max_memory(p, 8 * 4096), 0);
    CHECK_EQ(bufpool_waiter_allocate(w, 4, &a), 0);
    bufpool_alloc_release(a);
    bufpool_waiter_destroy(w);
    bufpool_destroy(p);
}

/* An n that does not fit, other than the pending one, is invalid in itself:
 * the pending request and its readiness stay as they were. */
static void test_e2big_other_n_keeps_pending(void)
{
    bufpool *p = make_4k(8, BUFPOOL_FIFO);
    bufpool_alloc *held[8], *a;
    bufpool_waiter *w;
    for (int i = 0; i < 8; i++)
        CHECK_EQ(bufpool_allocate(p, 1, &held[i]), 0);
    CHECK_EQ(bufpool_waiter_create(p, &w), 0);
    CHECK_EQ(bufpool_waiter_allocate(w, 4, &a), -EAGAIN);
    CHECK_EQ(bufpool_waiter_allocate(w, 9, &a), -E2BIG);
    bufpool_stats st;
    bufpool_get_stats(p, &st);
    CHECK_EQ(st.waiters, 1);
    for (int i = 0; i < 4; i++)
        bufpool_alloc_release(held[i]);
    CHECK(readable(w, 1000));
    CHECK_EQ(bufpool_waiter_allocate(w, 9, &a), -E2BIG);
    CHECK(readable(w, 0)); /* still readable: the grant waits */
    CHECK_EQ(bufpool_waiter_allocate(w, 4, &a), 0);
    bufpool_alloc_release(a);
    for (int i = 4; i < 8; i++)
        bufpool_alloc_release(held[i]);
    bufpool_waiter_destroy(w);
    bufpool_destroy(p);
}

/* FIFO: memory set aside for a waiter whose n no longer fits after a
 * shrink is taken back by the shrink itself, before the waiter looks, so
 * in_use + cached <= max_memory holds once enough is released and others
 * are served.  (1.0 kept it charged until the waiter was destroyed.) */
static void test_fifo_grant_revoked_by_shrink(void)
{
    bufpool *p = make_4k(8, BUFPOOL_FIFO);
    bufpool_alloc *held[8], *a;
    bufpool_waiter *w;
    bufpool_stats st;
    for (int i = 0; i < 8; i++)
        CHECK_EQ(bufpool_allocate(p, 1, &held[i]), 0);
    CHECK_EQ(bufpool_waiter_create(p, &w), 0);
    CHECK_EQ(bufpool_waiter_allocate(w, 4, &a), -EAGAIN);
    for (int i = 0; i < 4; i++)
        bufpool_alloc_release(held[i]);
    CHECK(readable(w, 1000)); /* 4 buffers set aside */
    CHECK_EQ(bufpool_set_max_memory(p, 2 * 4096), 0);
    for (int i = 4; i < 8; i++)
        bufpool_alloc_release(held[i]);
    bufpool_get_stats(p, &st);
    CHECK_EQ(st.in_use_bytes, 0);
    CHECK(st.in_use_bytes + st.cached_bytes <= st.max_memory);
    CHECK_EQ(bufpool_try_allocate(p, 1, &a), 0);
    bufpool_alloc_release(a);
    CHECK_EQ(bufpool_allocate_timeout(p, 2, 1000000000u, &a), 0);
    bufpool_alloc_release(a);
    CHECK(readable(w, 0));
    CHECK_EQ(bufpool_waiter_allocate(w, 4, &a), -E2BIG);
    CHECK(!readable(w, 0));
    CHECK_EQ(bufpool_set_max_memory(p, 8 * 4096), 0);
    CHECK_EQ(bufpool_waiter_allocate(w, 4, &a), 0); /* a fresh try */
    bufpool_alloc_release(a);
    bufpool_waiter_destroy(w);
    bufpool_destroy(p);
}

/* The same, when the waiter calls before anything else is released: its
 * -E2BIG gives the set-aside memory back at once. */
static void test_fifo_grant_returned_by_e2big(void)
{
    bufpool *p = make_4k(8, BUFPOOL_FIFO);
    bufpool_alloc *held[8], *a;
    bufpool_waiter *w;
    bufpool_stats st;
    for (int i = 0; i < 8; i++)
        CHECK_EQ(bufpool_allocate(p, 1, &held[i]), 0);
    CHECK_EQ(bufpool_waiter_create(p, &w), 0);
    CHECK_EQ(bufpool_waiter_allocate(w, 4, &a), -EAGAIN);
    for (int i = 0; i < 4; i++)
        bufpool_alloc_release(held[i]);
    CHECK(readable(w, 1000));
    CHECK_EQ(bufpool_set_max_memory(p, 2 * 4096), 0);
    CHECK_EQ(bufpool_waiter_allocate(w, 4, &a), -E2BIG);
    for (int i = 4; i < 8; i++)
        bufpool_alloc_release(held[i]);
    bufpool_get_stats(p, &st);
    CHECK_EQ(st.in_use_bytes, 0);
    CHECK(st.cached_bytes <= st.max_memory);
    CHECK_EQ(bufpool_allocate_timeout(p, 2, 1000000000u, &a), 0);
    bufpool_alloc_release(a);
    bufpool_waiter_destroy(w);
    bufpool_destroy(p);
}

/* Shutdown takes back what was set aside for a waiter, too. */
static void test_fifo_grant_revoked_by_shutdown(void)
{
    bufpool *p = make_4k(8, BUFPOOL_FIFO);
    bufpool_alloc *held, *a;
    bufpool_waiter *w;
    bufpool_stats st;
    CHECK_EQ(bufpool_allocate(p, 8, &held), 0);
    CHECK_EQ(bufpool_waiter_create(p, &w), 0);
    CHECK_EQ(bufpool_waiter_allocate(w, 4, &a), -EAGAIN);
    bufpool_alloc_release(held);
    CHECK(readable(w, 1000));
    bufpool_shutdown(p);
    bufpool_get_stats(p, &st);
    CHECK_EQ(st.in_use_bytes, 0);
    CHECK_EQ(bufpool_waiter_allocate(w, 4, &a), -ECANCELED);
    bufpool_waiter_destroy(w);
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
    test_e2big_then_grow(0);
    test_e2big_then_grow(BUFPOOL_FIFO);
    test_stale_e2big(0);
    test_stale_e2big(BUFPOOL_FIFO);
    test_e2big_other_n_keeps_pending();
    test_fifo_grant_revoked_by_shrink();
    test_fifo_grant_returned_by_e2big();
    test_fifo_grant_revoked_by_shutdown();
    test_waits_counted_once();
    printf("test_waiter: ok\n");
    return 0;
}
