/*
 * test_pressure: acting before blocking (issue 23).  Stall time: a pool's
 * and an account's stall_ns stay 0 while nothing waits, grow while a
 * request waits (and no faster than the wall clock), and stop when it is
 * served; bufpool_get_stats_ex fills what the caller's size asks for and
 * refuses a size below bufpool_stats.
 */
#define _GNU_SOURCE
#include "bufpool.h"
#define CHECK_PARTS
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

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

int main(int argc, char **argv)
{
    static const struct test_part parts[] = {
        {"stall_pool", part_stall_pool},
        {"stall_account", part_stall_account},
        {"stats_ex_size", part_stats_ex_size},
    };
    return run_parts("test_pressure", parts, sizeof parts / sizeof *parts, argc, argv);
}
