/*
 * race_fork: what a child of fork() inherits from the pools.
 *
 * grant_*: an async waiter of a FIFO pool is granted memory that it has not
 *   collected yet, then the (only) thread forks.  The child detaches the
 *   waiter and gives the grant back; a grant the depot cannot keep goes to
 *   the arena, whose locks the fork handlers hold.  The child must return
 *   from fork() and find the memory free.  The depot refuses a length
 *   above the bins' (long; region: the same into a REGION arena, whose
 *   lock is the region tree's) and anything while the pool is over a
 *   budget shrunk below what it holds (shrunk).
 * run_cut: thread B stops inside its lock-free step, between the two
 *   stores that cut an allocation from its cache's run, and the main
 *   thread forks.  The child adopts B's cache: it must find the run as B
 *   leaves it between two calls, not reaching past its end, so that the
 *   child never gets the same memory twice.  The prepare handler has to
 *   wait for B's step to end (a third thread lets B go after 300 ms).
 * count_at_fork: thread B stops just before the window of a count made
 *   outside the lock (a carve's, take_now), the main thread forks, and B
 *   goes on after the library's prepare handler has quiesced the caches
 *   (a handler of the test's, run after it, lets B go and gives it 50 ms).
 *   B's window must see STOP_STEAL and count under the lock, after the
 *   fork; had it counted inside its window (where a second stop holds it),
 *   the child's copy of B's cache would stay busy for good, and the
 *   child's first watch (which waits for every window) would never
 *   return.
 */
#define CHECK_PARTS
#include "bufpool.h"
#include "check.h"
#include "race.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/wait.h>

#define BS 4096

/* Fork; the child runs fn and exits with its verdict.  The parent waits
 * at most 10 s: a child stuck in fork() fails the part. */
static void fork_and_check(void (*fn)(void *), void *arg)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        fn(arg);
        _exit(0);
    }
    int st = 0;
    pid_t got = 0;
    for (int i = 0; i < 10000 && got == 0; i++) {
        got = waitpid(pid, &st, WNOHANG);
        if (got == 0)
            usleep(1000);
    }
    if (got == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        fprintf(stderr, "the child did not finish in 10 s (stuck in fork()?)\n");
        exit(1);
    }
    CHECK(got == pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);
}

/* ---- grant_*: a grant set aside for an inherited waiter ---------------- */

struct grant_case {
    bufpool *pool;
    bufpool_alloc *live; /* inherited, released by the child; may be NULL */
    size_t want;         /* what the child must then get at once */
};

static void grant_child(void *arg)
{
    struct grant_case *c = arg;
    bufpool_stats st = stats_of(c->pool);
    CHECK_EQ(st.waiters, 0);
    if (c->live)
        bufpool_alloc_release(c->live);
    bufpool_alloc *a;
    CHECK_EQ(bufpool_try_allocate(c->pool, c->want, &a), 0);
    bufpool_alloc_release(a);
}

/* A FIFO pool of `budget` buffers (flags added); everything is allocated
 * but `hold`, a waiter asks for `ask`, and `hold` is released: the waiter
 * is granted `ask` and does not collect it. */
static bufpool_waiter *grant_setup(struct grant_case *c, size_t budget, unsigned flags,
                                   size_t ask, bufpool_alloc **rest)
{
    c->pool = make(BS, budget * BS, BUFPOOL_FIFO | flags);
    bufpool_alloc *hold;
    CHECK_EQ(bufpool_allocate(c->pool, budget - ask, rest), 0);
    CHECK_EQ(bufpool_allocate(c->pool, ask, &hold), 0);
    bufpool_waiter *w;
    CHECK_EQ(bufpool_waiter_create(c->pool, &w), 0);
    bufpool_alloc *got;
    CHECK_EQ(bufpool_waiter_allocate(w, ask, &got), -EAGAIN);
    bufpool_alloc_release(hold);
    CHECK_EQ(stats_of(c->pool).waiters, 0); /* served: the grant is held */
    return w;
}

/* One grant_* part: the setup above, the budget shrunk to `shrink`
 * buffers (0: not), a fork whose child must find the grant given back and
 * `want` buffers free; the parent's waiter still collects its grant. */
static void grant_part(unsigned flags, size_t ask, size_t shrink, size_t want)
{
    struct grant_case c;
    bufpool_alloc *rest, *got;
    bufpool_waiter *w = grant_setup(&c, 32, flags, ask, &rest);
    if (shrink)
        CHECK_EQ(bufpool_set_max_memory(c.pool, shrink * BS), 0);
    c.live = rest;
    c.want = want;
    fork_and_check(grant_child, &c);
    CHECK_EQ(bufpool_waiter_allocate(w, ask, &got), 0); /* the parent's is intact */
    bufpool_alloc_release(got);
    bufpool_alloc_release(rest);
    bufpool_waiter_destroy(w);
    bufpool_destroy(c.pool);
}

static void grant_long(void)
{
    grant_part(0, 20, 0, 32);
}

/* 30 live and 2 granted, over a budget of 3: the grant fits the new
 * budget, so it stays set aside, but the pool is over it */
static void grant_shrunk(void)
{
    grant_part(0, 2, 3, 3);
}

static void grant_region(void)
{
    grant_part(BUFPOOL_REGION, 20, 0, 32);
}

/* ---- run_cut ------------------------------------------------------------- */

static bufpool *run_pool;
static struct race_plan b_plan;
static struct race_stop *b_cut;
static _Atomic int b_go;

static void *run_owner(void *arg)
{
    (void)arg;
    bufpool_alloc *a, *z, *cut;
    CHECK_EQ(bufpool_allocate(run_pool, 24, &a), 0);
    CHECK_EQ(bufpool_allocate(run_pool, 17, &z), 0);
    bufpool_alloc_release(z); /* tags the bin that lengths 17..31 share */
    bufpool_alloc_release(a); /* another length: becomes the run */
    race_tl = &b_plan;
    CHECK_EQ(bufpool_allocate(run_pool, 20, &cut), 0); /* cut from the run */
    race_tl = NULL;
    while (!atomic_load(&b_go))
        usleep(1000);
    bufpool_alloc_release(cut);
    return NULL;
}

static void *opener(void *arg)
{
    (void)arg;
    usleep(300 * 1000);
    race_open(b_cut);
    return NULL;
}

static bool overlap(bufpool_alloc *x, bufpool_alloc *y)
{
    char *a = bufpool_alloc_first(x), *b = bufpool_alloc_first(y);
    return a < b + bufpool_alloc_bytes(y) && b < a + bufpool_alloc_bytes(x);
}

/* The child (main thread only, which never used the pool before): it
 * adopts B's cache, takes the lengths the cache holds, then everything
 * else it can, and no two of its allocations may share a byte. */
static void run_child(void *arg)
{
    (void)arg;
    enum { MAX = 512 };
    static bufpool_alloc *got[MAX];
    size_t count = 0;
    static const size_t first[] = {17, 24, 20, 4};
    for (size_t i = 0; i < sizeof first / sizeof *first; i++)
        if (bufpool_try_allocate(run_pool, first[i], &got[count]) == 0)
            count++;
    while (count < MAX && bufpool_try_allocate(run_pool, 1, &got[count]) == 0)
        count++;
    for (size_t i = 0; i < count; i++)
        for (size_t j = i + 1; j < count; j++)
            if (overlap(got[i], got[j])) {
                fprintf(stderr, "child: allocations %zu and %zu overlap\n", i, j);
                _exit(1);
            }
}

static void run_cut(void)
{
    race_init();
    run_pool = make(BS, 256 * BS, 0);
    b_cut = race_stop_at(&b_plan, BUFPOOL__HOOK_RUN_CUT, 0);
    pthread_t b, o;
    CHECK(pthread_create(&b, NULL, run_owner, NULL) == 0);
    race_await(b_cut);
    CHECK(pthread_create(&o, NULL, opener, NULL) == 0);
    fork_and_check(run_child, NULL);
    atomic_store(&b_go, 1);
    pthread_join(o, NULL);
    pthread_join(b, NULL);
    bufpool_destroy(run_pool);
}

/* ---- count_at_fork -------------------------------------------------------- */

static struct race_stop *count_stop, *count_in;

static void let_count_go(void) /* the test's prepare handler: after the library's */
{
    if (count_stop) {
        race_open(count_stop);
        usleep(50000);
    }
}

struct count_case {
    bufpool *pool;
    struct race_plan plan;
    bufpool_alloc *got;
};

static void *count_caller(void *arg)
{
    struct count_case *c = arg;
    race_tl = &c->plan;
    CHECK_EQ(bufpool_allocate(c->pool, 1, &c->got), 0); /* a carve: counted by count_watched */
    return NULL;
}

static void count_child(void *arg)
{
    struct count_case *c = arg;
    bufpool_watch *w;
    CHECK_EQ(bufpool_watch_create(c->pool, NULL, 8 * BS, 4 * BS, &w), 0);
    bufpool_watch_destroy(w);
}

static void count_at_fork(void)
{
    CHECK_EQ(pthread_atfork(let_count_go, NULL, NULL), 0); /* before the library's */
    race_init();
    struct count_case c = {.pool = make(BS, 16 * BS, 0)};
    count_stop = race_stop_at(&c.plan, BUFPOOL__HOOK_COUNT, 0);
    count_in = race_stop_at(&c.plan, BUFPOOL__HOOK_COUNT_IN, 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, count_caller, &c), 0);
    race_await(count_stop);
    fork_and_check(count_child, &c);
    race_open(count_in); /* reached only by a count inside its window */
    CHECK_EQ(pthread_join(t, NULL), 0);
    count_stop = NULL;
    bufpool_alloc_release(c.got);
    bufpool_destroy(c.pool);
}

int main(int argc, char **argv)
{
    static const struct test_part parts[] = {
        {"grant_long", grant_long},
        {"grant_shrunk", grant_shrunk},
        {"grant_region", grant_region},
        {"run_cut", run_cut},
        {"count_at_fork", count_at_fork},
    };
    return run_parts("race_fork", parts, sizeof parts / sizeof *parts, argc, argv);
}
