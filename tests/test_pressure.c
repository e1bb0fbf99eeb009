/*
 * test_pressure: acting before blocking (issue 23).  Stall time: a pool's
 * and an account's stall_ns stay 0 while nothing waits, grow while a
 * request waits (and no faster than the wall clock), and stop when it is
 * served; bufpool_get_stats_ex fills what the caller's size asks for and
 * refuses a size below bufpool_stats.  Leak tracking: a program that
 * leaks from two call sites gets both named, with their exact counts,
 * from every allocation call (plain, try, timed, account, waiter; fast
 * and full paths); nothing once everything is released; min_age filters;
 * 1 in N samples about 1 in N; a pool without tracking says so; destroy
 * prints the report when BUFPOOL_TRACK is in the environment.
 */
#define _GNU_SOURCE
#include "bufpool.h"
#define CHECK_PARTS
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

enum { BS = 64 };

static uint64_t pool_stall(bufpool *p)
{
    bufpool_stats_ex ex;
    CHECK_EQ(bufpool_get_stats_ex(p, &ex, sizeof ex), 0);
    return ex.stall_ns;
}

static uint64_t acct_stall(bufpool_account *a)
{
    bufpool_account_stats s;
    bufpool_account_get_stats(a, &s);
    return s.stall_ns;
}

struct req {
    bufpool *p;
    bufpool_account *a;
    int r;
    bufpool_alloc *x;
};

static void *blocked(void *arg)
{
    struct req *q = arg;
    q->r = q->a ? bufpool_account_allocate(q->a, 1, BUFPOOL_FOREVER, &q->x) : bufpool_allocate(q->p, 1, &q->x);
    return NULL;
}

/* One request waits about 50 ms: the stall grows while it waits, by no
 * more than the wall time, and not afterwards; with an account, the
 * account's stall does the same and a sibling's stays 0. */
static void stall_case(bool through_account)
{
    bufpool *p = make(BS, BS, 0);
    bufpool_account_config c = {.name = "a"};
    bufpool_account *a = NULL, *idle = NULL;
    if (through_account) {
        CHECK_EQ(bufpool_account_create(p, NULL, &c, &a), 0);
        CHECK_EQ(bufpool_account_create(p, NULL, &c, &idle), 0);
    }
    bufpool_alloc *all;
    CHECK_EQ(bufpool_try_allocate(p, 1, &all), 0);
    usleep(20000);
    CHECK_EQ(pool_stall(p), 0); /* nothing waited yet */
    struct req q = {p, a, 1, NULL};
    pthread_t t;
    uint64_t t0 = now_ns();
    CHECK_EQ(pthread_create(&t, NULL, blocked, &q), 0);
    await_waiters(p, 1);
    usleep(25000);
    uint64_t mid = pool_stall(p);
    CHECK(mid > 0); /* the current period counts */
    usleep(25000);
    CHECK(pool_stall(p) > mid);
    bufpool_alloc_release(all);
    CHECK_EQ(pthread_join(t, NULL), 0);
    uint64_t wall = now_ns() - t0;
    CHECK_EQ(q.r, 0);
    uint64_t end = pool_stall(p);
    CHECK(end >= 50000000u && end <= wall);
    if (a) {
        uint64_t as = acct_stall(a);
        CHECK(as >= 50000000u && as <= wall);
        CHECK_EQ(acct_stall(idle), 0);
    }
    usleep(20000);
    CHECK_EQ(pool_stall(p), end); /* nothing waits: it stands still */
    if (a)
        CHECK(acct_stall(a) <= wall);
    bufpool_alloc_release(q.x);
    bufpool_destroy(p);
}

static void part_stall_pool(void)
{
    stall_case(false);
}

static void part_stall_account(void)
{
    stall_case(true);
}

/* bufpool_get_stats_ex writes what the caller's size covers: an older
 * caller's smaller struct gets the 1.0 stats alone, a newer caller's
 * larger one gets zeros past what this library knows. */
static void part_stats_ex_size(void)
{
    bufpool *p = make(BS, 4 * BS, 0);
    bufpool_alloc *x;
    CHECK_EQ(bufpool_try_allocate(p, 2, &x), 0);
    bufpool_stats_ex ex;
    CHECK_EQ(bufpool_get_stats_ex(NULL, &ex, sizeof ex), -EINVAL);
    CHECK_EQ(bufpool_get_stats_ex(p, NULL, sizeof ex), -EINVAL);
    CHECK_EQ(bufpool_get_stats_ex(p, &ex, sizeof(bufpool_stats) - 1), -EINVAL);
    unsigned char buf[sizeof ex + 16];
    memset(buf, 0xee, sizeof buf);
    CHECK_EQ(bufpool_get_stats_ex(p, (bufpool_stats_ex *)buf, sizeof(bufpool_stats)), 0);
    CHECK_EQ(((bufpool_stats *)buf)->in_use_bytes, 2 * BS);
    CHECK_EQ(buf[sizeof(bufpool_stats)], 0xee); /* nothing past the size */
    memset(buf, 0xee, sizeof buf);
    CHECK_EQ(bufpool_get_stats_ex(p, (bufpool_stats_ex *)buf, sizeof buf), 0);
    for (size_t i = sizeof ex; i < sizeof buf; i++)
        CHECK_EQ(buf[i], 0); /* a newer struct's tail: zero */
    CHECK_EQ(((bufpool_stats_ex *)buf)->stats.live_allocations, 1);
    bufpool_alloc_release(x);
    bufpool_destroy(p);
}

/* ---- leak tracking ---- */

/* A pool that samples 1 allocation in `every` (the environment wins over
 * the flag and is read at create). */
static bufpool *tracked(size_t max, unsigned flags, const char *every)
{
    if (every)
        setenv("BUFPOOL_TRACK", every, 1);
    else
        unsetenv("BUFPOOL_TRACK");
    bufpool *p = make(BS, max, flags);
    unsetenv("BUFPOOL_TRACK");
    return p;
}

/* The report as a string (and its return value). */
static char *report(bufpool *p, uint64_t min_age_ns, int *sites)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL);
    *sites = bufpool_report_live(p, min_age_ns, f);
    fclose(f);
    return buf;
}

/* The two leaking call sites: exported (test_pressure links -rdynamic; the
 * tests build with hidden visibility, so they say default) and
 * never inlined, so the report can name them. */
__attribute__((noinline, visibility("default"))) void leak_site_one(bufpool *p, bufpool_alloc **keep, int k)
{
    for (int i = 0; i < k; i++)
        CHECK_EQ(bufpool_allocate(p, 1, &keep[i]), 0);
}

__attribute__((noinline, visibility("default"))) void leak_site_two(bufpool_account *a, bufpool_alloc **keep, int k)
{
    for (int i = 0; i < k; i++)
        CHECK_EQ(bufpool_account_allocate(a, 2, BUFPOOL_FOREVER, &keep[i]), 0);
}

/* One line per site, the larger first: "  N allocations, B bytes, ..." */
static int line_count(const char *rep, const char *site)
{
    const char *at = strstr(rep, site);
    if (!at)
        return -1;
    while (at > rep && at[-1] != '\n')
        at--;
    return atoi(at);
}

static void part_leak_sites(void)
{
    bufpool *p = tracked(64 * BS, 0, "1");
    bufpool_account_config c = {.name = "a"};
    bufpool_account *a;
    CHECK_EQ(bufpool_account_create(p, NULL, &c, &a), 0);
    bufpool_alloc *one[5], *two[3], *x;
    /* released allocations leave nothing behind, on either path */
    for (int i = 0; i < 10; i++) {
        CHECK_EQ(bufpool_allocate(p, 1 + i % 3, &x), 0);
        bufpool_alloc_release(x);
        CHECK_EQ(bufpool_account_allocate(a, 1, 0, &x), 0);
        bufpool_alloc_release(x);
    }
    int sites;
    char *rep = report(p, 0, &sites);
    CHECK_EQ(sites, 0);
    free(rep);
    leak_site_one(p, one, 5);
    leak_site_two(a, two, 3);
    rep = report(p, 0, &sites);
    if (sites != 2 || line_count(rep, "leak_site_one") != 5 || line_count(rep, "leak_site_two") != 3)
        fprintf(stderr, "report:\n%s", rep);
    CHECK_EQ(sites, 2);
    CHECK_EQ(line_count(rep, "leak_site_one"), 5);
    CHECK_EQ(line_count(rep, "leak_site_two"), 3);
    CHECK(strstr(rep, "640 bytes") || strstr(rep, "384 bytes")); /* 5 x 64 ... 3 x 128 */
    free(rep);
    rep = report(p, 60ull * 1000000000u, &sites); /* none is a minute old */
    CHECK_EQ(sites, 0);
    free(rep);
    for (int i = 0; i < 5; i++)
        bufpool_alloc_release(one[i]);
    for (int i = 0; i < 3; i++)
        bufpool_alloc_release(two[i]);
    rep = report(p, 0, &sites);
    CHECK_EQ(sites, 0);
    free(rep);
    CHECK_EQ(bufpool_report_live(NULL, 0, stderr), -EINVAL);
    CHECK_EQ(bufpool_report_live(p, 0, NULL), -EINVAL);
    bufpool_destroy(p);
}

/* 1 in N: a site that keeps 1,000 allocations shows about 1,000 / N; the
 * flag alone samples 1 in 113; without tracking the report says so. */
static void part_leak_rate(void)
{
    enum { K = 1000 };
    static bufpool_alloc *keep[K];
    const char *rates[] = {"10", NULL};
    for (int r = 0; r < 2; r++) {
        bufpool *p = tracked(2 * K * BS, BUFPOOL_TRACK, rates[r]);
        leak_site_one(p, keep, K);
        int sites;
        char *rep = report(p, 0, &sites);
        CHECK_EQ(sites, 1);
        int want = K / (r == 0 ? 10 : 113), got = line_count(rep, "leak_site_one");
        if (got < want * 8 / 10 || got > want * 12 / 10 + 1)
            fprintf(stderr, "rate %s: %d sampled of %d, want about %d\n", rates[r] ? rates[r] : "flag", got, K,
                    want);
        CHECK(got >= want * 8 / 10 && got <= want * 12 / 10 + 1);
        free(rep);
        for (int i = 0; i < K; i++)
            bufpool_alloc_release(keep[i]);
        bufpool_destroy(p);
    }
    bufpool *p = tracked(4 * BS, 0, NULL);
    int sites;
    char *rep = report(p, 0, &sites);
    CHECK_EQ(sites, 0);
    CHECK(strstr(rep, "off") != NULL);
    free(rep);
    bufpool_destroy(p);
}

/* Destroy with BUFPOOL_TRACK in the environment and an allocation live:
 * the report goes to stderr before destroy waits (a child whose stderr
 * is a pipe; the parent releases nothing, so the child's destroy would
 * wait for ever: it is killed once the report is read). */
static void part_leak_at_destroy(void)
{
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        bufpool *p = tracked(4 * BS, 0, "1");
        bufpool_alloc *keep[1];
        leak_site_one(p, keep, 1);
        bufpool_destroy(p); /* waits for ever */
        _exit(0);
    }
    close(fds[1]);
    char buf[4096];
    size_t len = 0;
    ssize_t k;
    while (len < sizeof buf - 1 && (k = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0) {
        len += (size_t)k;
        buf[len] = '\0';
        if (strstr(buf, "leak_site_one"))
            break;
    }
    buf[len] = '\0';
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(fds[0]);
    if (!strstr(buf, "leak_site_one"))
        fprintf(stderr, "destroy's report:\n%s\n", buf);
    CHECK(strstr(buf, "still live") && strstr(buf, "leak_site_one"));
}

/* A sampled call that fails (a try under a full budget) hands the sample
 * to the next call: sampling goes on (the count once stayed at 0 and the
 * next decrement wrapped it, ending sampling on that thread). */
static void part_leak_after_failure(void)
{
    bufpool *p = tracked(BS, 0, "1");
    bufpool_alloc *x[1], *y[1], *z;
    leak_site_one(p, x, 1);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(bufpool_try_allocate(p, 1, &z), -EAGAIN);
    bufpool_alloc_release(x[0]);
    leak_site_one(p, y, 1);
    int sites;
    char *rep = report(p, 0, &sites);
    CHECK_EQ(sites, 1);
    CHECK_EQ(line_count(rep, "leak_site_one"), 1);
    free(rep);
    bufpool_alloc_release(y[0]);
    bufpool_destroy(p);
}

/* A try that fails looks at the queue for a moment: that is no stall. */
static void part_stall_not_tries(void)
{
    bufpool *p = make(BS, BS, 0);
    bufpool_alloc *all, *z;
    CHECK_EQ(bufpool_try_allocate(p, 1, &all), 0);
    for (int i = 0; i < 100; i++)
        CHECK_EQ(bufpool_try_allocate(p, 1, &z), -EAGAIN);
    CHECK_EQ(pool_stall(p), 0);
    bufpool_alloc_release(all);
    bufpool_destroy(p);
}

int main(int argc, char **argv)
{
    static const struct test_part parts[] = {
        {"stall_pool", part_stall_pool},
        {"stall_account", part_stall_account},
        {"stats_ex_size", part_stats_ex_size},
        {"leak_sites", part_leak_sites},
        {"leak_rate", part_leak_rate},
        {"leak_at_destroy", part_leak_at_destroy},
        {"leak_after_failure", part_leak_after_failure},
        {"stall_not_tries", part_stall_not_tries},
    };
    return run_parts("test_pressure", parts, sizeof parts / sizeof *parts, argc, argv);
}
