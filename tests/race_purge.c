/*
 * race_purge: calls documented never to block must not wait behind a
 * purge (MADV_DONTNEED of free resident memory, about 80 ms a GiB).  A
 * thread is held in the middle of a purge, its range taken and not yet
 * given back to the system (the hook point BUFPOOL__HOOK_PURGE), while
 * another thread calls bufpool_get_stats, bufpool_try_allocate and
 * bufpool_waiter_allocate: each must return while the purge is held.
 *
 *   shrink: the purge of bufpool_set_max_memory, once under pool->lock.
 *   miss:   the purge an allocation makes to find budget for itself,
 *           once under the lock of the arena chunk it purged.
 *   fork:   fork() waits for a purge in flight (its range would be lost
 *           in the child), and the child finds the budget whole.
 *
 * After each purge the accounts must balance: the whole (new) budget can
 * be allocated, so no range was lost or counted twice.
 */
#include "bufpool.h"
#include "check.h"
#include "race.h"

#include <errno.h>
#include <sys/wait.h>

#define BS 4096

static bufpool_stats stats_of(bufpool *p)
{
    bufpool_stats st;
    bufpool_get_stats(p, &st);
    return st;
}
#define MIB ((size_t)1 << 20)

struct probe {
    bufpool *pool;
    _Atomic int done;
    size_t max_seen;
    int try_r, waiter_r;
};

/* The never-blocking calls, from a thread with no plan (never held). */
static void *probe_run(void *arg)
{
    struct probe *pr = arg;
    bufpool_stats st;
    bufpool_get_stats(pr->pool, &st);
    pr->max_seen = st.max_memory;
    bufpool_alloc *a;
    pr->try_r = bufpool_try_allocate(pr->pool, 1, &a);
    if (pr->try_r == 0)
        bufpool_alloc_release(a);
    bufpool_waiter *w;
    CHECK_EQ(bufpool_waiter_create(pr->pool, &w), 0);
    pr->waiter_r = bufpool_waiter_allocate(w, 1, &a);
    if (pr->waiter_r == 0)
        bufpool_alloc_release(a);
    bufpool_waiter_destroy(w);
    atomic_store(&pr->done, 1);
    return NULL;
}

/* Run the probe while the purge is held: it must finish within 2 s (it
 * takes microseconds; before the fix it waited as long as the purge). */
static void probe_while_held(bufpool *p, size_t max)
{
    struct probe pr = {.pool = p};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, probe_run, &pr), 0);
    for (int i = 0; i < 20000 && !atomic_load(&pr.done); i++)
        usleep(100);
    if (!atomic_load(&pr.done)) {
        fprintf(stderr, "race_purge: a never-blocking call waited behind a purge\n");
        exit(1);
    }
    pthread_join(t, NULL);
    CHECK_EQ(pr.max_seen, max);
    CHECK(pr.try_r == 0 || pr.try_r == -EAGAIN);
    CHECK(pr.waiter_r == 0 || pr.waiter_r == -EAGAIN);
}

/* Nothing lost, nothing counted twice: with nothing live, the whole budget
 * can be had in one allocation, and the cached bytes never exceed it. */
static void check_whole(bufpool *p, size_t max)
{
    bufpool_stats st = stats_of(p);
    CHECK_EQ(st.in_use_bytes, 0);
    CHECK(st.cached_bytes <= max);
    bufpool_alloc *a;
    CHECK_EQ(bufpool_try_allocate(p, max / BS, &a), 0);
    bufpool_alloc_release(a);
}

/* Fill the budget with allocations of `len` buffers, touched, and release
 * those i with i % keep != 0 (keep 1: all), so the arena holds resident
 * free memory.  The survivors go to held[]. */
static size_t fill(bufpool *p, size_t max, size_t len, size_t keep, bufpool_alloc **held)
{
    size_t k = max / (len * BS), nh = 0;
    bufpool_alloc *v[1024];
    CHECK(k <= 1024);
    for (size_t i = 0; i < k; i++) {
        CHECK_EQ(bufpool_allocate(p, len, &v[i]), 0);
        memset(bufpool_alloc_first(v[i]), 1, len * BS);
    }
    for (size_t i = 0; i < k; i++) {
        if (keep > 1 && i % keep == 0)
            held[nh++] = v[i];
        else
            bufpool_alloc_release(v[i]);
    }
    return nh;
}

struct shrinker {
    bufpool *pool;
    size_t to;
    struct race_plan plan;
};

static void *shrink_run(void *arg)
{
    struct shrinker *s = arg;
    race_tl = &s->plan;
    CHECK_EQ(bufpool_set_max_memory(s->pool, s->to), 0);
    return NULL;
}

static void part_shrink(void)
{
    bufpool *p = make(BS, 16 * MIB, 0);
    fill(p, 16 * MIB, 64, 1, NULL);
    struct shrinker s = {.pool = p, .to = MIB};
    struct race_stop *held = race_stop_at(&s.plan, BUFPOOL__HOOK_PURGE, 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, shrink_run, &s), 0);
    race_await(held);
    probe_while_held(p, MIB);
    race_open(held);
    pthread_join(t, NULL);
    bufpool_stats st = stats_of(p);
    CHECK(st.cached_bytes <= MIB); /* set_max_memory returned after its purge */
    check_whole(p, MIB);
    bufpool_destroy(p);
}

/* An allocation that must purge to find budget: half the budget is held
 * in every other run, the free half lies between them (resident), and a
 * request longer than any free run needs clean units.  The purge it makes
 * is held. */
static void part_miss(void)
{
    bufpool *p = make(BS, 16 * MIB, 0);
    bufpool_alloc *live[1024];
    size_t nh = fill(p, 16 * MIB, 32, 2, live);
    struct race_caller c = {.pool = p, .n = 33};
    struct race_stop *held = race_stop_at(&c.plan, BUFPOOL__HOOK_PURGE, 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, race_call, &c), 0);
    race_await(held);
    probe_while_held(p, 16 * MIB);
    race_open(held);
    pthread_join(t, NULL);
    CHECK_EQ(c.result, 0);
    for (size_t i = 0; i < nh; i++)
        bufpool_alloc_release(live[i]);
    check_whole(p, 16 * MIB);
    bufpool_destroy(p);
}

struct forker {
    _Atomic int returned;
    pid_t pid;
};

static bufpool *fork_pool;

static void *fork_run(void *arg)
{
    struct forker *f = arg;
    pid_t pid = fork();
    if (pid == 0) { /* the child: one thread, the purge's range given back */
        bufpool_stats st = stats_of(fork_pool);
        if (st.max_memory != MIB || st.cached_bytes > MIB)
            _exit(2);
        bufpool_alloc *a;
        _exit(bufpool_try_allocate(fork_pool, MIB / BS, &a) == 0 ? 0 : 3);
    }
    f->pid = pid;
    atomic_store(&f->returned, 1);
    return NULL;
}

static void part_fork(void)
{
    bufpool *p = fork_pool = make(BS, 16 * MIB, 0);
    fill(p, 16 * MIB, 64, 1, NULL);
    struct shrinker s = {.pool = p, .to = MIB};
    struct race_stop *held = race_stop_at(&s.plan, BUFPOOL__HOOK_PURGE, 0);
    pthread_t t, ft;
    CHECK_EQ(pthread_create(&t, NULL, shrink_run, &s), 0);
    race_await(held);
    struct forker f = {0};
    CHECK_EQ(pthread_create(&ft, NULL, fork_run, &f), 0);
    usleep(50000);
    CHECK(!atomic_load(&f.returned)); /* fork() waits for the purge */
    race_open(held);
    pthread_join(t, NULL);
    pthread_join(ft, NULL);
    CHECK(f.pid > 0);
    int status;
    CHECK_EQ(waitpid(f.pid, &status, 0), f.pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
    check_whole(p, MIB);
    bufpool_destroy(p);
}

int main(void)
{
    race_init();
    part_shrink();
    part_miss();
    part_fork();
    printf("race_purge: ok\n");
    return 0;
}
