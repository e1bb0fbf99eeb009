/*
 * test_account: the accounts' tree arithmetic (issue 22, "Precise rules").
 * Limits count whole buffers; bad input is -EINVAL; reservations nest (a
 * parent reserves the larger of its min and its children's reservations)
 * and must fit every max above them and the budget, else -ENOSPC and
 * nothing changes; a shrink of the budget below the reservations is
 * -ENOSPC; destroy is -EBUSY while children remain and gives the
 * reservation back; shutdown makes create and set_limits -ECANCELED;
 * bufpool_destroy frees the accounts left (the leak checkers see it).
 * Reservations hold against plain requests, cached memory or not; one made
 * while its memory is in use fills from releases; one given back serves
 * a blocked request at once.
 */
#define _GNU_SOURCE
#include "bufpool.h"
#define CHECK_PARTS
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

enum { BS = 64 };

static bufpool_account *mk_acct(bufpool *p, bufpool_account *parent, size_t min, size_t max)
{
    bufpool_account_config c = {.name = "t", .min_bytes = min, .max_bytes = max};
    bufpool_account *a = NULL;
    CHECK_EQ(bufpool_account_create(p, parent, &c, &a), 0);
    CHECK(a != NULL);
    return a;
}

static int try_create(bufpool *p, bufpool_account *parent, size_t min, size_t max)
{
    bufpool_account_config c = {.min_bytes = min, .max_bytes = max};
    bufpool_account *a = (bufpool_account *)1;
    int r = bufpool_account_create(p, parent, &c, &a);
    if (r == 0)
        CHECK_EQ(bufpool_account_destroy(a), 0);
    else
        CHECK(a == NULL);
    return r;
}

static bufpool_account_stats astats(const bufpool_account *a)
{
    bufpool_account_stats s;
    bufpool_account_get_stats(a, &s);
    return s;
}

static void part_bad_input(void)
{
    bufpool *p = make(BS, 16 * BS, 0), *q = make(BS, 16 * BS, 0);
    bufpool_account_config c = {0};
    bufpool_account *a = (bufpool_account *)1;
    CHECK_EQ(bufpool_account_create(NULL, NULL, &c, &a), -EINVAL);
    CHECK(a == NULL);
    CHECK_EQ(bufpool_account_create(p, NULL, NULL, &a), -EINVAL);
    CHECK_EQ(bufpool_account_create(p, NULL, &c, NULL), -EINVAL);
    CHECK_EQ(try_create(p, NULL, 4 * BS, 2 * BS), -EINVAL); /* min above max */
    CHECK_EQ(try_create(p, NULL, 0, BS - 1), -EINVAL);      /* max rounds to 0 */
    bufpool_account *other = mk_acct(q, NULL, 0, 0);
    CHECK_EQ(try_create(p, other, 0, 0), -EINVAL); /* a parent from another pool */
    bufpool_account *x = mk_acct(p, NULL, 0, 0);
    CHECK_EQ(bufpool_account_set_limits(x, 4 * BS, 2 * BS), -EINVAL);
    CHECK_EQ(bufpool_account_set_limits(x, 0, 10), -EINVAL);
    CHECK_EQ(bufpool_account_set_limits(NULL, 0, 0), -EINVAL);
    CHECK_EQ(bufpool_account_destroy(NULL), 0);
    bufpool_account_stats s;
    memset(&s, 0xff, sizeof s);
    bufpool_account_get_stats(NULL, &s);
    CHECK_EQ(s.in_use_bytes, 0);
    bufpool_account_get_stats(x, NULL); /* no crash */
    CHECK_EQ(bufpool_account_destroy(x), 0);
    CHECK_EQ(bufpool_account_destroy(other), 0);
    bufpool_destroy(p);
    bufpool_destroy(q);
}

/* Whole buffers: min and max round down; stats show the rounded values. */
static void part_rounding(void)
{
    bufpool *p = make(BS, 16 * BS, 0);
    bufpool_account *a = mk_acct(p, NULL, 3 * BS + 10, 5 * BS + 63);
    bufpool_account_stats s = astats(a);
    CHECK_EQ(s.min_bytes, 3 * BS);
    CHECK_EQ(s.max_bytes, 5 * BS);
    CHECK_EQ(bufpool_account_set_limits(a, 0, 0), 0);
    CHECK_EQ(astats(a).max_bytes, 0); /* no cap */
    bufpool_destroy(p);                 /* frees a */
}

/* The top level's reservations fit the budget; a failed create or
 * set_limits changes nothing. */
static void part_budget(void)
{
    bufpool *p = make(BS, 16 * BS, 0);
    bufpool_account *a = mk_acct(p, NULL, 10 * BS, 0);
    CHECK_EQ(try_create(p, NULL, 7 * BS, 0), -ENOSPC);
    CHECK_EQ(try_create(p, NULL, 6 * BS, 0), 0);
    CHECK_EQ(bufpool_account_set_limits(a, 17 * BS, 0), -ENOSPC);
    CHECK_EQ(astats(a).min_bytes, 10 * BS);
    bufpool_account *b = mk_acct(p, NULL, 6 * BS, 0);
    CHECK_EQ(bufpool_account_set_limits(a, 11 * BS, 0), -ENOSPC);
    CHECK_EQ(bufpool_account_set_limits(a, 4 * BS, 0), 0); /* room for b's growth now */
    CHECK_EQ(bufpool_account_set_limits(b, 12 * BS, 0), 0);
    /* the budget cannot shrink below what the accounts reserve */
    CHECK_EQ(bufpool_set_max_memory(p, 15 * BS), -ENOSPC);
    CHECK_EQ(stats_of(p).max_memory, 16 * BS);
    CHECK_EQ(bufpool_account_destroy(b), 0); /* gives its 12 back */
    CHECK_EQ(bufpool_set_max_memory(p, 15 * BS), 0);
    CHECK_EQ(try_create(p, NULL, 11 * BS, 0), 0);
    bufpool_destroy(p);
}

/* Nesting: a parent reserves the larger of its min and its children's
 * reservations, within its own max and every max above. */
static void part_nesting(void)
{
    bufpool *p = make(BS, 64 * BS, 0);
    bufpool_account *top = mk_acct(p, NULL, 8 * BS, 20 * BS);
    bufpool_account *c1 = mk_acct(p, top, 6 * BS, 0);
    bufpool_account *c2 = mk_acct(p, top, 6 * BS, 0); /* top now reserves 12 */
    CHECK_EQ(try_create(p, NULL, 53 * BS, 0), -ENOSPC); /* 12 + 53 > 64 */
    CHECK_EQ(try_create(p, NULL, 52 * BS, 0), 0);
    CHECK_EQ(try_create(p, top, 9 * BS, 0), -ENOSPC); /* 12 + 9 > top's max 20 */
    CHECK_EQ(try_create(p, top, 8 * BS, 0), 0);
    CHECK_EQ(try_create(p, c1, 15 * BS, 0), -ENOSPC); /* 15 + 6 > top's max 20 */
    bufpool_account *g = mk_acct(p, c1, 7 * BS, 0);      /* grows c1 to 7: 7 + 6 <= 20 */
    CHECK_EQ(bufpool_account_set_limits(top, 8 * BS, 12 * BS), -ENOSPC); /* 13 > 12 */
    CHECK_EQ(astats(top).max_bytes, 20 * BS);
    CHECK_EQ(bufpool_account_set_limits(c1, 0, 6 * BS), -ENOSPC); /* its child's 7 */
    CHECK_EQ(bufpool_account_set_limits(g, 8 * BS, 0), 0);
    CHECK_EQ(bufpool_account_set_limits(c2, 0, 0), 0);
    CHECK_EQ(bufpool_account_set_limits(top, 8 * BS, 8 * BS), 0); /* 8 = max(8, 8 + 0) */
    CHECK_EQ(bufpool_account_destroy(top), -EBUSY); /* children */
    CHECK_EQ(bufpool_account_destroy(c1), -EBUSY);
    CHECK_EQ(bufpool_account_destroy(g), 0);
    CHECK_EQ(bufpool_account_destroy(c1), 0);
    CHECK_EQ(bufpool_account_destroy(c2), 0);
    CHECK_EQ(bufpool_account_destroy(top), 0);
    CHECK_EQ(try_create(p, NULL, 64 * BS, 0), 0); /* everything given back */
    bufpool_destroy(p);
}

static void part_shutdown(void)
{
    bufpool *p = make(BS, 16 * BS, 0);
    bufpool_account *a = mk_acct(p, NULL, BS, 0);
    bufpool_shutdown(p);
    CHECK_EQ(try_create(p, NULL, 0, 0), -ECANCELED);
    CHECK_EQ(bufpool_account_set_limits(a, 0, 0), -ECANCELED);
    CHECK_EQ(astats(a).min_bytes, BS);
    CHECK_EQ(bufpool_account_destroy(a), 0);
    bufpool_destroy(p);
}

/* Plain requests draw on what the reservations leave, even while the
 * reserving account is idle and the memory sits in a thread's cache. */
static void part_reserved_from_plain(void)
{
    bufpool *p = make(BS, 16 * BS, 0);
    bufpool_alloc *a[16], *x;
    for (int i = 0; i < 16; i++) /* every buffer cached in this thread */
        CHECK_EQ(bufpool_allocate(p, 1, &a[i]), 0);
    for (int i = 0; i < 16; i++)
        bufpool_alloc_release(a[i]);
    bufpool_account *r = mk_acct(p, NULL, 6 * BS, 0);
    CHECK_EQ(bufpool_try_allocate(p, 11, &x), -EAGAIN); /* not -E2BIG: it may fit later */
    for (int i = 0; i < 10; i++)
        CHECK_EQ(bufpool_try_allocate(p, 1, &a[i]), 0);
    CHECK_EQ(bufpool_try_allocate(p, 1, &x), -EAGAIN);
    for (int i = 0; i < 10; i++)
        bufpool_alloc_release(a[i]);
    for (int i = 0; i < 10; i++) /* from the cache again: still 10 */
        CHECK_EQ(bufpool_try_allocate(p, 1, &a[i]), 0);
    CHECK_EQ(bufpool_try_allocate(p, 1, &x), -EAGAIN);
    for (int i = 0; i < 10; i++)
        bufpool_alloc_release(a[i]);
    CHECK_EQ(bufpool_account_destroy(r), 0);
    CHECK_EQ(bufpool_try_allocate(p, 16, &x), 0); /* all of it again */
    bufpool_alloc_release(x);
    bufpool_destroy(p);
}

/* A reservation made while plain allocations hold the memory: admitted by
 * the arithmetic, filled by releases before anyone else is served. */
static void part_fills_from_releases(void)
{
    bufpool *p = make(BS, 16 * BS, 0);
    bufpool_alloc *a[12], *x;
    for (int i = 0; i < 12; i++)
        CHECK_EQ(bufpool_allocate(p, 1, &a[i]), 0);
    bufpool_account *r = mk_acct(p, NULL, 8 * BS, 0);
    CHECK_EQ(bufpool_try_allocate(p, 1, &x), -EAGAIN); /* 12 + 8 > 16 */
    for (int i = 0; i < 4; i++)
        bufpool_alloc_release(a[i]);
    CHECK_EQ(bufpool_try_allocate(p, 1, &x), -EAGAIN); /* those 4 went to the reservation */
    bufpool_alloc_release(a[4]);
    CHECK_EQ(bufpool_try_allocate(p, 1, &x), 0); /* 8 live + 8 reserved */
    CHECK_EQ(bufpool_try_allocate(p, 1, &a[4]), -EAGAIN);
    bufpool_alloc_release(x);
    for (int i = 5; i < 12; i++)
        bufpool_alloc_release(a[i]);
    CHECK_EQ(bufpool_account_destroy(r), 0);
    bufpool_destroy(p);
}

struct blocked {
    bufpool *p;
    size_t n;
    int r;
};

static void *block_for(void *arg)
{
    struct blocked *b = arg;
    bufpool_alloc *x;
    b->r = bufpool_allocate(b->p, b->n, &x);
    if (b->r == 0)
        bufpool_alloc_release(x);
    return NULL;
}

/* A reservation lowered or destroyed gives its room to a blocked request
 * at once (a give, W2). */
static void part_given_back(void)
{
    bufpool *p = make(BS, 16 * BS, 0);
    bufpool_account *r = mk_acct(p, NULL, 8 * BS, 0);
    struct blocked b = {p, 12, 1};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, block_for, &b), 0);
    await_waiters(p, 1);
    CHECK_EQ(bufpool_account_set_limits(r, 4 * BS, 0), 0);
    pthread_join(t, NULL);
    CHECK_EQ(b.r, 0);
    b.n = 16;
    CHECK_EQ(pthread_create(&t, NULL, block_for, &b), 0);
    await_waiters(p, 1);
    CHECK_EQ(bufpool_account_destroy(r), 0);
    pthread_join(t, NULL);
    CHECK_EQ(b.r, 0);
    bufpool_destroy(p);
}

int main(int argc, char **argv)
{
    static const struct test_part parts[] = {
        {"bad_input", part_bad_input}, {"rounding", part_rounding}, {"budget", part_budget},
        {"nesting", part_nesting},     {"shutdown", part_shutdown},
        {"reserved_from_plain", part_reserved_from_plain},
        {"fills_from_releases", part_fills_from_releases},
        {"given_back", part_given_back},
    };
    return run_parts("test_account", parts, sizeof parts / sizeof *parts, argc, argv);
}
