/*
 * test_callback: async waiters that call a function instead of writing an
 * fd (bufpool_waiter_create_callback).  The function runs where the fd
 * would turn readable: on the releasing thread, before the release
 * returns, once per signal, after the pool's lock is dropped (so it may
 * call any bufpool function, the pool's included, and retry from inside);
 * a request served at once calls nothing.  Shutdown and a shrink call it
 * too.  Destroy waits for a call running on another thread and, from
 * inside the function, frees the waiter after it returns.  Many waiters
 * on a tight budget, woken by other threads, all finish (none lost).
 * Default and FIFO modes.
 */
#define _GNU_SOURCE
#include "bufpool.h"
#define CHECK_PARTS
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

struct probe {
    bufpool *pool;
    bufpool_waiter *w;
    atomic_int calls;
    pthread_t last_thread;
    /* what the function does besides counting */
    bool retry_inside;      /* call bufpool_waiter_allocate(w, 1) */
    bool destroy_inside;    /* bufpool_waiter_destroy(w) */
    bool stats_inside;      /* bufpool_get_stats: would deadlock under the lock */
    int retry_result;
    bufpool_alloc *got;
    /* for the destroy-waits part */
    atomic_int inside, leave, left;
};

static void on_call(void *arg)
{
    struct probe *pr = arg;
    pr->last_thread = pthread_self();
    if (pr->stats_inside) {
        bufpool_stats st;
        bufpool_get_stats(pr->pool, &st);
        bufpool_alloc *a;
        if (bufpool_try_allocate(pr->pool, 1, &a) == 0)
            bufpool_alloc_release(a);
    }
    if (pr->retry_inside)
        pr->retry_result = bufpool_waiter_allocate(pr->w, 1, &pr->got);
    if (pr->destroy_inside)
        bufpool_waiter_destroy(pr->w);
    atomic_store(&pr->inside, 1);
    while (!atomic_load(&pr->leave))
        usleep(1000);
    atomic_store(&pr->left, 1);
    atomic_fetch_add(&pr->calls, 1);
}

static struct probe *probe_new(bufpool *p)
{
    struct probe *pr = calloc(1, sizeof *pr);
    CHECK(pr);
    pr->pool = p;
    atomic_store(&pr->leave, 1);
    CHECK_EQ(bufpool_waiter_create_callback(p, on_call, pr, &pr->w), 0);
    return pr;
}

static void test_errors(void)
{
    bufpool *p = make(64, 64 * 4, 0);
    bufpool_waiter *w = (bufpool_waiter *)1;
    CHECK_EQ(bufpool_waiter_create_callback(p, NULL, NULL, &w), -EINVAL);
    CHECK(w == NULL);
    CHECK_EQ(bufpool_waiter_create_callback(NULL, on_call, NULL, &w), -EINVAL);
    CHECK_EQ(bufpool_waiter_create_callback(p, on_call, NULL, NULL), -EINVAL);
    struct probe *pr = probe_new(p);
    CHECK_EQ(bufpool_waiter_fd(pr->w), -EINVAL);
    bufpool_waiter_destroy(pr->w);
    free(pr);
    bufpool_destroy(p);
}

/* A retry is called for on the releasing thread, before the release
 * returns, once; a request served at once calls nothing. */
static void test_release_calls(unsigned flags)
{
    bufpool *p = make(64, 64 * 4, flags);
    struct probe *pr = probe_new(p);
    bufpool_alloc *a[4], *b = NULL;
    CHECK_EQ(bufpool_waiter_allocate(pr->w, 1, &b), 0);
    CHECK_EQ(atomic_load(&pr->calls), 0);
    bufpool_alloc_release(b);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(bufpool_allocate(p, 1, &a[i]), 0);
    CHECK_EQ(bufpool_waiter_allocate(pr->w, 1, &b), -EAGAIN);
    CHECK_EQ(bufpool_waiter_allocate(pr->w, 1, &b), -EAGAIN); /* pending: still no call */
    CHECK_EQ(atomic_load(&pr->calls), 0);
    bufpool_alloc_release(a[0]);
    CHECK_EQ(atomic_load(&pr->calls), 1);
    CHECK(pthread_equal(pr->last_thread, pthread_self()));
    CHECK_EQ(bufpool_waiter_allocate(pr->w, 1, &b), 0);
    bufpool_alloc_release(b);
    CHECK_EQ(atomic_load(&pr->calls), 1);
    for (int i = 1; i < 4; i++)
        bufpool_alloc_release(a[i]);
    CHECK_EQ(atomic_load(&pr->calls), 1);
    bufpool_waiter_destroy(pr->w);
    free(pr);
    bufpool_destroy(p);
}

/* The function runs after the unlock: it may take the pool's lock (stats,
 * a try) and retry its own request from inside.  Under the lock either
 * would deadlock; the runner's timeout would catch it. */
static void test_calls_into_pool(unsigned flags)
{
    bufpool *p = make(64, 64 * 2, flags);
    struct probe *pr = probe_new(p);
    pr->retry_inside = pr->stats_inside = true;
    bufpool_alloc *a[2], *b = NULL;
    for (int i = 0; i < 2; i++)
        CHECK_EQ(bufpool_allocate(p, 1, &a[i]), 0);
    CHECK_EQ(bufpool_waiter_allocate(pr->w, 1, &b), -EAGAIN);
    bufpool_alloc_release(a[0]);
    CHECK_EQ(atomic_load(&pr->calls), 1);
    CHECK_EQ(pr->retry_result, 0);
    CHECK(pr->got != NULL);
    bufpool_alloc_release(pr->got);
    bufpool_alloc_release(a[1]);
    bufpool_stats st = stats_of(p);
    CHECK_EQ(st.in_use_bytes, 0);
    bufpool_waiter_destroy(pr->w);
    free(pr);
    bufpool_destroy(p);
}

/* Shutdown and a shrink below the request call the function, and the
 * retry reports why. */
static void test_shutdown_and_shrink(unsigned flags)
{
    bufpool *p = make(64, 64 * 4, flags);
    struct probe *pr = probe_new(p);
    bufpool_alloc *a, *b = NULL;
    CHECK_EQ(bufpool_allocate(p, 4, &a), 0);
    CHECK_EQ(bufpool_waiter_allocate(pr->w, 3, &b), -EAGAIN);
    CHECK_EQ(bufpool_set_max_memory(p, 64 * 2), 0);
    CHECK_EQ(atomic_load(&pr->calls), 1);
    CHECK_EQ(bufpool_waiter_allocate(pr->w, 3, &b), -E2BIG);
    CHECK_EQ(bufpool_waiter_allocate(pr->w, 1, &b), -EAGAIN);
    bufpool_shutdown(p);
    CHECK_EQ(atomic_load(&pr->calls), 2);
    CHECK_EQ(bufpool_waiter_allocate(pr->w, 1, &b), -ECANCELED);
    bufpool_alloc_release(a);
    bufpool_waiter_destroy(pr->w);
    free(pr);
    bufpool_destroy(p);
}

struct releaser {
    bufpool_alloc *a;
};

static void *release_it(void *arg)
{
    bufpool_alloc_release(((struct releaser *)arg)->a);
    return NULL;
}

static void *let_go_later(void *arg)
{
    usleep(50 * 1000); /* destroy is waiting by now, or returned too early */
    atomic_store(&((struct probe *)arg)->leave, 1);
    return NULL;
}

/* Destroy from another thread waits for a call in progress: the function
 * is held inside until 50 ms after destroy is called, and must have left
 * when destroy returns (ASan/valgrind see a use after free otherwise). */
static void test_destroy_waits(void)
{
    bufpool *p = make(64, 64, 0);
    struct probe *pr = probe_new(p);
    bufpool_alloc *b = NULL;
    struct releaser rl;
    CHECK_EQ(bufpool_allocate(p, 1, &rl.a), 0);
    CHECK_EQ(bufpool_waiter_allocate(pr->w, 1, &b), -EAGAIN);
    atomic_store(&pr->leave, 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, release_it, &rl), 0);
    while (!atomic_load(&pr->inside))
        usleep(1000);
    pthread_t letgo;
    CHECK_EQ(pthread_create(&letgo, NULL, let_go_later, pr), 0);
    bufpool_waiter_destroy(pr->w);
    CHECK_EQ(atomic_load(&pr->left), 1);
    pthread_join(letgo, NULL);
    pthread_join(t, NULL);
    free(pr);
    bufpool_destroy(p);
}

/* Destroyed from inside its own function: freed when the call returns
 * (LeakSanitizer and valgrind check that it is, and only once). */
static void test_destroy_inside(void)
{
    bufpool *p = make(64, 64, 0);
    struct probe *pr = probe_new(p);
    pr->destroy_inside = true;
    bufpool_alloc *a, *b = NULL;
    CHECK_EQ(bufpool_allocate(p, 1, &a), 0);
    CHECK_EQ(bufpool_waiter_allocate(pr->w, 1, &b), -EAGAIN);
    bufpool_alloc_release(a);
    CHECK_EQ(atomic_load(&pr->calls), 1);
    CHECK_EQ(stats_of(p).waiters, 0);
    free(pr);
    bufpool_destroy(p);
}

/* Many waiters, each an event-loop task woken by its function through a
 * semaphore, on a budget of 3 buffers against 8 tasks of 4 threads: every
 * task gets its allocations (none is lost: the watchdog of the runner
 * would fire), and the budget holds. */
enum { TASKS = 8, ROUNDS = 300 };
struct task {
    bufpool *p;
    bufpool_waiter *w;
    sem_t wake;
    atomic_size_t *inuse;
};

static void task_wake(void *arg)
{
    sem_post(&((struct task *)arg)->wake);
}

static void *task_run(void *arg)
{
    struct task *t = arg;
    for (int i = 0; i < ROUNDS; i++) {
        bufpool_alloc *a;
        int r;
        while ((r = bufpool_waiter_allocate(t->w, 1 + i % 2, &a)) == -EAGAIN)
            sem_wait(&t->wake);
        CHECK_EQ(r, 0);
        size_t now = atomic_fetch_add(t->inuse, 1 + i % 2) + 1 + i % 2;
        CHECK(now <= 3);
        sched_yield();
        atomic_fetch_sub(t->inuse, 1 + i % 2);
        bufpool_alloc_release(a);
    }
    return NULL;
}

static void test_many(unsigned flags)
{
    bufpool *p = make(64, 64 * 3, flags);
    atomic_size_t inuse = 0;
    struct task t[TASKS];
    pthread_t th[TASKS];
    for (int i = 0; i < TASKS; i++) {
        t[i].p = p;
        t[i].inuse = &inuse;
        CHECK_EQ(sem_init(&t[i].wake, 0, 0), 0);
        CHECK_EQ(bufpool_waiter_create_callback(p, task_wake, &t[i], &t[i].w), 0);
    }
    for (int i = 0; i < TASKS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, task_run, &t[i]), 0);
    for (int i = 0; i < TASKS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < TASKS; i++) {
        bufpool_waiter_destroy(t[i].w);
        sem_destroy(&t[i].wake);
    }
    CHECK_EQ(stats_of(p).in_use_bytes, 0);
    bufpool_destroy(p);
}

static void part_errors(void) { test_errors(); }
static void part_release(void) { test_release_calls(0); test_release_calls(BUFPOOL_FIFO); }
static void part_into_pool(void)
{
    alarm(30); /* a deadlock (fn run under the lock) fails here, not at the runner's timeout */
    test_calls_into_pool(0);
    test_calls_into_pool(BUFPOOL_FIFO);
}
static void part_shutdown(void) { test_shutdown_and_shrink(0); test_shutdown_and_shrink(BUFPOOL_FIFO); }
static void part_destroy_waits(void) { test_destroy_waits(); }
static void part_destroy_inside(void) { test_destroy_inside(); }
static void part_many(void) { test_many(0); test_many(BUFPOOL_FIFO); }

int main(int argc, char **argv)
{
    static const struct test_part parts[] = {
        {"errors", part_errors},
        {"release", part_release},
        {"into_pool", part_into_pool},
        {"shutdown", part_shutdown},
        {"destroy_waits", part_destroy_waits},
        {"destroy_inside", part_destroy_inside},
        {"many", part_many},
    };
    return run_parts("test_callback", parts, sizeof parts / sizeof *parts, argc, argv);
}
