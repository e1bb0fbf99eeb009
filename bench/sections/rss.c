/*
 * rss.c: peak RSS under churn (section "rss"), and the churn workload
 * itself (bench_churn_main, also run by region.c).
 *
 * Churn: 4 threads allocate random 1..256 x 4 KiB blocks (4 KiB .. 1 MiB),
 * write every page, and keep a FIFO of live blocks within a quota each;
 * the quotas add up to the 64 MiB budget, so live bytes never exceed it
 * and the threads cannot deadlock on the budget itself.  Whatever a pool
 * keeps cached beyond its live blocks is its own business, and shows.
 *
 * Method: each implementation runs in a child process of its own for 2 s
 * (0.15 s with --quick); the child resets its peak (clear_refs), and the
 * growth is VmHWM at the end minus VmRSS at the start.  One run per
 * implementation: this is a memory figure, not a timing.
 *
 * Target: bufpool's peak RSS growth at most 1.10x the budget.
 */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the churn workload ------------------------------------------------- */

void *bench_churn_main(void *arg)
{
    struct bench_churn *c = arg;
    void *ring[256];
    size_t bytes[256];
    unsigned head = 0, tail = 0;
    size_t held = 0;
    while (!atomic_load_explicit(c->stop, memory_order_relaxed)) {
        size_t n = 1 + (size_t)(bench_xorshift(&c->seed) % 256);
        size_t b = n * BENCH_CHURN_BS;
        while (held + b > c->quota || tail - head == 256) {
            c->im->release(ring[head % 256]);
            held -= bytes[head % 256];
            head++;
        }
        void *a;
        int err;
        if (c->region) {
            bufpool_alloc *x = NULL;
            err = bufpool_allocate_timeout(c->pool, n, 2000000000u, &x);
            a = x;
            if (err == -ETIMEDOUT) { /* no run long enough: give back all, go on */
                c->timeouts++;
                while (head != tail) {
                    c->im->release(ring[head % 256]);
                    head++;
                }
                held = 0;
                continue;
            }
        } else {
            err = c->im->allocate(c->pool, n, &a);
        }
        if (err)
            bench_die("%s: allocate(%zu) failed: %s", c->im->name, n, strerror(-err));
        char *p = c->im->first(a);
        for (size_t i = 0; i < n; i++) /* every page: RSS must be real */
            p[i * BENCH_CHURN_BS] = (char)i;
        ring[tail % 256] = a;
        bytes[tail % 256] = b;
        tail++;
        held += b;
        c->ops++;
    }
    while (head != tail) {
        c->im->release(ring[head % 256]);
        head++;
    }
    return NULL;
}

/* ---- peak RSS, one child per implementation ----------------------------- */

static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

struct rss_result {
    long base_kb, hwm_kb;
    uint64_t ops;
    int err;
    bool has_stats; /* bufpool only: its own wait counters */
    uint64_t waits, wait_ns;
};

__attribute__((noreturn)) static void rss_child(const bench_impl *im, uint64_t dur_ns, int fd)
{
    struct rss_result res = {0, 0, 0, 0, false, 0, 0};
    /* Reset the peak to the current RSS (Linux >= 4.0), so the peak is
     * this child's own, not the parent's before fork. */
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
    res.base_kb = status_kb("VmRSS");
    void *pool;
    res.err = im->create(&pool, BENCH_CHURN_BS, BENCH_CHURN_BUDGET);
    if (!res.err) {
        atomic_bool stop = false;
        struct bench_churn c[BENCH_CHURN_THREADS];
        pthread_t th[BENCH_CHURN_THREADS];
        for (int i = 0; i < BENCH_CHURN_THREADS; i++) {
            c[i] = (struct bench_churn){im, pool, &stop, BENCH_CHURN_BUDGET / BENCH_CHURN_THREADS,
                                        0x9e3779b97f4a7c15u * (uint64_t)(i + 1), 0, 0, false};
            pthread_create(&th[i], NULL, bench_churn_main, &c[i]);
        }
        bench_sleep_ns(dur_ns);
        atomic_store(&stop, true);
        for (int i = 0; i < BENCH_CHURN_THREADS; i++) {
            pthread_join(th[i], NULL);
            res.ops += c[i].ops;
        }
        res.hwm_kb = status_kb("VmHWM");
        if (im == &bench_impls[IMPL_BUFPOOL]) { /* why a slow run was slow */
            bufpool_stats st;
            bufpool_get_stats(pool, &st);
            res.has_stats = true;
            res.waits = st.total_waits;
            res.wait_ns = st.total_wait_ns;
        }
        im->destroy(pool);
    }
    if (write(fd, &res, sizeof res) != (ssize_t)sizeof res)
        _exit(2);
    _exit(0);
}

void bench_section_rss(void)
{
    int ids[NIMPL];
    int n = bench_available(bench_general, bench_ngeneral, ids);
    uint64_t dur = bench_opt.quick ? 150000000u : 2000000000u;
    bench_progress("peak RSS: %d children x %.1f s ...\n", n, (double)dur / 1e9);
    bench_out("## Peak RSS under churn\n\n");
    bench_out("%d threads allocate random 1..256 x 4 KiB blocks (4 KiB .. 1 MiB), touch every page "
              "and keep a FIFO of live blocks within %zu MiB each, so live bytes never exceed the "
              "%zu MiB budget; %.1f s per implementation, each in its own child process (one run "
              "each). Growth = VmHWM at the end minus VmRSS at the start (peak reset via "
              "clear_refs).\n\n",
              BENCH_CHURN_THREADS, BENCH_CHURN_BUDGET / BENCH_CHURN_THREADS / MiB,
              BENCH_CHURN_BUDGET / MiB, (double)dur / 1e9);
    bench_out("| implementation | allocations | peak RSS growth (MiB) | growth / budget | waits (time "
              "blocked) |\n|:--|--:|--:|--:|--:|\n");
    fflush(NULL);
    for (int k = 0; k < n; k++) {
        const bench_impl *im = &bench_impls[ids[k]];
        int fds[2];
        if (pipe(fds))
            bench_die("pipe: %s", strerror(errno));
        pid_t pid = fork();
        if (pid < 0)
            bench_die("fork: %s", strerror(errno));
        if (pid == 0) {
            close(fds[0]);
            alarm((unsigned)(dur / 1000000000u) + 60); /* a hung child must not hang the run */
            rss_child(im, dur, fds[1]);
        }
        close(fds[1]);
        struct rss_result res;
        ssize_t got = read(fds[0], &res, sizeof res);
        close(fds[0]);
        int status;
        waitpid(pid, &status, 0);
        if (got != (ssize_t)sizeof res || res.err) {
            bench_out("| %s | failed (%s) | | | |\n", im->name,
                      got != (ssize_t)sizeof res
                          ? (WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "no result")
                          : strerror(-res.err));
            continue;
        }
        double growth = (double)(res.hwm_kb - res.base_kb) * 1024.0;
        double ratio = growth / (double)BENCH_CHURN_BUDGET;
        char waits[64] = "not counted";
        if (res.has_stats)
            snprintf(waits, sizeof waits, "%llu (%.0f ms over %d threads)",
                     (unsigned long long)res.waits, (double)res.wait_ns / 1e6, BENCH_CHURN_THREADS);
        bench_out("| %s | %llu | %.1f | %.2f | %s |\n", im->name, (unsigned long long)res.ops,
                  growth / (double)MiB, ratio, waits);
        if (ids[k] == IMPL_BUFPOOL)
            bench_target("RSS within the budget: peak RSS growth / budget", ratio, BENCH_AT_MOST,
                         1.10, "x");
    }
    bench_out("\n");
}
