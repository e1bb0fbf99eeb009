/*
 * test_try: what a call that must not wait costs (issue 21, point 5).
 * The program is linked with -Wl,--wrap=syscall, so every syscall() the
 * library makes (futex, membarrier) passes through a counter here.  Each
 * part runs in a child:
 *   zero_timeout  bufpool_allocate_timeout with a timeout of 0 is
 *                 bufpool_try_allocate under another name: on an exhausted
 *                 pool it fails with -ETIMEDOUT where the try fails with
 *                 -EAGAIN, and like the try it makes no system call (no
 *                 futex wait, no membarrier), does not count in
 *                 total_waits, and counts in total_failures; with budget
 *                 free it succeeds, also when the memory is cached by
 *                 another thread; in a BUFPOOL_FIFO pool with a waiter
 *                 queued it fails at once, as the try does
 *   failing_try   a try that no steal can help (the budget is in use, and
 *                 the one buffer another thread caches is too little)
 *                 makes no system call, membarrier included; a try that a
 *                 steal does help takes that thread's cached memory
 * Exit 0 pass, 1 fail.
 */
#define _GNU_SOURCE
#include "bufpool.h"
#define CHECK_PARTS
#include "check.h"

#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/syscall.h>

static _Atomic long n_calls, n_futex, n_membarrier;

long __real_syscall(long nr, ...);

/* Every call the library makes passes six words on (as glibc's syscall()
 * reads them): the library's calls are futex and membarrier. */
long __wrap_syscall(long nr, ...)
{
    va_list ap;
    va_start(ap, nr);
    long a[6];
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    atomic_fetch_add(&n_calls, 1);
    if (nr == SYS_futex)
        atomic_fetch_add(&n_futex, 1);
    if (nr == SYS_membarrier && a[0] == MEMBARRIER_CMD_PRIVATE_EXPEDITED)
        atomic_fetch_add(&n_membarrier, 1);
    return __real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

static void counts_reset(void)
{
    atomic_store(&n_calls, 0);
    atomic_store(&n_futex, 0);
    atomic_store(&n_membarrier, 0);
}

static void counts_none(const char *what)
{
    if (atomic_load(&n_calls)) {
        fprintf(stderr, "%s: %ld system calls (%ld futex, %ld membarrier)\n", what,
                atomic_load(&n_calls), atomic_load(&n_futex), atomic_load(&n_membarrier));
        CHECK(!"a call that must not wait made system calls");
    }
}

#define BS 64
#define BUFS 16
#define TRIES 1000

/* ---- another thread that keeps a cache ---------------------------------- */

struct holder {
    bufpool *pool;
    size_t n; /* it allocates and releases this many buffers: its cache keeps them */
    pthread_t t;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stage; /* 1: its cache holds n buffers; 2: told to exit */
};

static void *holder_main(void *arg)
{
    struct holder *h = arg;
    bufpool_alloc *a;
    CHECK_EQ(bufpool_allocate(h->pool, h->n, &a), 0);
    bufpool_alloc_release(a);
    pthread_mutex_lock(&h->mu);
    h->stage = 1;
    pthread_cond_broadcast(&h->cv);
    while (h->stage != 2) /* alive: its cache is not handed back */
        pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

static void holder_start(struct holder *h, bufpool *p, size_t n)
{
    *h = (struct holder){.pool = p, .n = n};
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    CHECK_EQ(pthread_create(&h->t, NULL, holder_main, h), 0);
    pthread_mutex_lock(&h->mu);
    while (h->stage != 1)
        pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
}

static void holder_stop(struct holder *h)
{
    pthread_mutex_lock(&h->mu);
    h->stage = 2;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    CHECK_EQ(pthread_join(h->t, NULL), 0);
}

/* ---- zero_timeout ----------------------------------------------------------- */

/* TRIES calls on p, whose budget is used up: each fails at once with
 * `want`, with no system call and no wait counted. */
static void fail_fast(bufpool *p, bool zero_timeout, int want)
{
    bufpool_stats before = stats_of(p);
    counts_reset();
    for (int i = 0; i < TRIES; i++) {
        bufpool_alloc *a = (bufpool_alloc *)1;
        int r = zero_timeout ? bufpool_allocate_timeout(p, 1, 0, &a) : bufpool_try_allocate(p, 1, &a);
        CHECK_EQ(r, want);
        CHECK(a == NULL);
    }
    counts_none(zero_timeout ? "allocate_timeout(0) on an exhausted pool" : "try on an exhausted pool");
    bufpool_stats after = stats_of(p);
    CHECK_EQ(after.total_waits, before.total_waits);
    CHECK_EQ(after.total_failures, before.total_failures + TRIES);
    CHECK_EQ(after.waiters, before.waiters);
}

static void part_zero_timeout(void)
{
    bufpool *p = make(BS, BUFS * BS, 0);
    bufpool_alloc *all, *a;
    CHECK_EQ(bufpool_allocate(p, BUFS, &all), 0);
    fail_fast(p, true, -ETIMEDOUT);
    fail_fast(p, false, -EAGAIN);
    bufpool_alloc_release(all);
    CHECK_EQ(bufpool_allocate_timeout(p, BUFS, 0, &a), 0); /* budget free: served */
    bufpool_alloc_release(a);

    /* Memory another thread caches is given up for it, as for a try. */
    struct holder h;
    holder_start(&h, p, 2);
    CHECK_EQ(bufpool_allocate(p, BUFS - 2, &all), 0);
    CHECK_EQ(bufpool_allocate_timeout(p, 2, 0, &a), 0);
    bufpool_alloc_release(a);
    bufpool_alloc_release(all);
    holder_stop(&h);
    bufpool_destroy(p);

    /* FIFO with an async waiter queued: nobody overtakes it, at once. */
    p = make(BS, BUFS * BS, BUFPOOL_FIFO);
    CHECK_EQ(bufpool_allocate(p, BUFS - 1, &all), 0);
    bufpool_waiter *w;
    CHECK_EQ(bufpool_waiter_create(p, &w), 0);
    CHECK_EQ(bufpool_waiter_allocate(w, 2, &a), -EAGAIN);
    fail_fast(p, true, -ETIMEDOUT);
    fail_fast(p, false, -EAGAIN);
    bufpool_waiter_destroy(w);
    bufpool_alloc_release(all);
    bufpool_destroy(p);
}

/* ---- failing_try ------------------------------------------------------------ */

static void part_failing_try(void)
{
    bufpool *p = make(BS, BUFS * BS, 0);
    struct holder h;
    holder_start(&h, p, 1); /* another thread's cache keeps one buffer */
    bufpool_alloc *rest, *a;
    CHECK_EQ(bufpool_allocate(p, BUFS - 1, &rest), 0);
    counts_reset();
    for (int i = 0; i < TRIES; i++)
        CHECK_EQ(bufpool_try_allocate(p, 2, &a), -EAGAIN); /* the one cached is too few */
    counts_none("failing tries");
    CHECK_EQ(stats_of(p).cached_bytes, BS); /* nobody took it */
    /* A try a steal helps takes it back (the steal may cost a membarrier). */
    CHECK_EQ(bufpool_try_allocate(p, 1, &a), 0);
    bufpool_alloc_release(a);
    bufpool_alloc_release(rest);
    holder_stop(&h);
    bufpool_destroy(p);
}

int main(int argc, char **argv)
{
    static const struct test_part parts[] = {
        {"zero_timeout", part_zero_timeout},
        {"failing_try", part_failing_try},
    };
    return run_parts("test_try", parts, sizeof parts / sizeof *parts, argc, argv);
}
