/*
 * test_fork: fork() while other threads use pools.  Threads churn two
 * pools (default and FIFO, tight budgets, so blocked calls are queued at
 * most forks) while the parent forks 100 times.  Each child, under an
 * alarm, must: see no waiters (the blocked calls queued by threads that
 * do not exist in the child are gone, with what was set aside for them),
 * release the allocation it inherited, allocate from both inherited pools
 * at once, get -EBADF from the parent's async waiter and destroy it
 * without touching the parent's readiness, and create, use and destroy a
 * pool of its own.  Without the fork handlers a child hangs on a lock
 * another thread held, or behind a dead thread's queued request.
 */
#include "bufpool.h"
#include "check.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#define FORKS 100
#define CHURNERS 4
#define BUDGET 8 /* buffers per pool */

static bufpool *pools[2];
static _Atomic int stop;

static void *churn(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    while (!atomic_load(&stop)) {
        bufpool *p = pools[rand_r(&seed) & 1];
        size_t n = 1 + (size_t)(rand_r(&seed) % 3);
        bufpool_alloc *a;
        if (bufpool_allocate_timeout(p, n, 2000000, &a) == 0) {
            if (rand_r(&seed) & 1)
                usleep(50);
            bufpool_alloc_release(a);
        }
    }
    return NULL;
}

/* What a child checks; its exit status says which step failed. */
static int child(bufpool_alloc *inherited[2], bufpool_waiter *w)
{
    alarm(3);
    bufpool_stats st;
    for (int i = 0; i < 2; i++) {
        bufpool_get_stats(pools[i], &st);
        if (st.waiters != 0)
            return 10 + i;
        bufpool_alloc_release(inherited[i]);
        bufpool_alloc *a;
        if (bufpool_allocate_timeout(pools[i], 1, 1000000000u, &a) != 0)
            return 20 + i;
        bufpool_get_stats(pools[i], &st);
        if (st.in_use_bytes + st.cached_bytes > st.max_memory)
            return 30 + i;
        bufpool_alloc_release(a);
    }
    bufpool_alloc *a;
    if (bufpool_waiter_allocate(w, 1, &a) != -EBADF || a != NULL)
        return 40;
    bufpool_waiter_destroy(w);
    bufpool *mine;
    bufpool_config cfg = {4096, 4 * 4096, BUFPOOL_FIFO};
    if (bufpool_create(&mine, &cfg) != 0 || bufpool_allocate(mine, 4, &a) != 0)
        return 50;
    bufpool_alloc_release(a);
    bufpool_destroy(mine);
    return 0;
}

int main(void)
{
    bufpool_config cfg0 = {4096, BUDGET * 4096, 0};
    bufpool_config cfg1 = {4096, BUDGET * 4096, BUFPOOL_FIFO};
    CHECK_EQ(bufpool_create(&pools[0], &cfg0), 0);
    CHECK_EQ(bufpool_create(&pools[1], &cfg1), 0);
    bufpool_alloc *inherited[2];
    for (int i = 0; i < 2; i++)
        CHECK_EQ(bufpool_allocate(pools[i], 1, &inherited[i]), 0);

    /* An async waiter of the parent, pending on the FIFO pool until its
     * turn comes, then holding memory set aside: the child must give that
     * back, and must leave the parent's readiness alone. */
    bufpool_waiter *w;
    bufpool_alloc *wa = NULL;
    CHECK_EQ(bufpool_waiter_create(pools[1], &w), 0);
    bufpool_alloc *fill;
    CHECK_EQ(bufpool_allocate(pools[1], BUDGET - 1, &fill), 0);
    CHECK_EQ(bufpool_waiter_allocate(w, 1, &wa), -EAGAIN);

    pthread_t t[CHURNERS];
    for (int i = 0; i < CHURNERS; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1)), 0);
    bufpool_alloc_release(fill);

    int failed = 0, first = 0;
    for (int i = 0; i < FORKS && !failed; i++) { /* stop at the first failure */
        usleep(1000);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0)
            _exit(child(inherited, w));
        int status;
        CHECK_EQ(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            if (!failed++)
                first = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        }
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < CHURNERS; i++)
        pthread_join(t[i], NULL);
    if (failed)
        fprintf(stderr, "a child failed with %d (10s: waiters, 20s: allocate, 30s: budget,"
                " 40: waiter, 50: new pool; negative: killed by that signal)\n", first);
    CHECK_EQ(failed, 0);

    /* The parent's waiter is untouched by its children: its memory is set
     * aside and its fd readable. */
    struct pollfd pfd = {.fd = bufpool_waiter_fd(w), .events = POLLIN};
    CHECK_EQ(poll(&pfd, 1, 2000), 1);
    CHECK_EQ(bufpool_waiter_allocate(w, 1, &wa), 0);
    bufpool_alloc_release(wa);
    bufpool_waiter_destroy(w);
    for (int i = 0; i < 2; i++) {
        bufpool_alloc_release(inherited[i]);
        bufpool_destroy(pools[i]);
    }
    printf("test_fork: ok (%d forks)\n", FORKS);
    return 0;
}
