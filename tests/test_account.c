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
 * a blocked request at once.  Allocations through accounts: caps (with
 * -E2BIG for what never fits), a reservation served at once whatever
 * others hold, a cap that protects a sibling's reservation, waits on a
 * cap (released by the account's own release; timeouts), priority among
 * waiting requests, no head-of-line blocking by a capped account, stats
 * that cover descendants, -EBUSY while allocations live.  FIFO across
 * accounts (arrival order; a try waits its turn unless its reservation
 * covers it; a request on its own cap is outside the line); the
 * starvation bound for an account's request; async requests counted as
 * waiters; fork() (the child drops the parent's waiting requests and can
 * destroy the account).
 */
#define _GNU_SOURCE
#include "bufpool.h"
#define CHECK_PARTS
#include "check.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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
    CHECK(bufpool_account_name(NULL) == NULL);
    CHECK_EQ(strcmp(bufpool_account_name(x), "t"), 0); /* mk_acct's */
    bufpool_account_config unnamed = {.name = NULL};
    bufpool_account *u;
    CHECK_EQ(bufpool_account_create(p, NULL, &unnamed, &u), 0);
    CHECK_EQ(strcmp(bufpool_account_name(u), ""), 0);
    CHECK_EQ(bufpool_account_destroy(u), 0);
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

static bufpool_alloc *acct_get(bufpool_account *a, size_t n)
{
    bufpool_alloc *x = NULL;
    CHECK_EQ(bufpool_account_allocate(a, n, 0, &x), 0);
    CHECK(x != NULL);
    return x;
}

static void part_caps(void)
{
    bufpool *p = make(BS, 16 * BS, 0);
    bufpool_account *a = mk_acct(p, NULL, 0, 4 * BS);
    bufpool_alloc *x[4], *y = (bufpool_alloc *)1;
    CHECK_EQ(bufpool_account_allocate(a, 5, BUFPOOL_FOREVER, &y), -E2BIG); /* never fits */
    CHECK(y == NULL);
    CHECK_EQ(bufpool_account_allocate(a, 17, 0, &y), -E2BIG);
    for (int i = 0; i < 4; i++)
        x[i] = acct_get(a, 1);
    CHECK_EQ(bufpool_account_allocate(a, 1, 0, &y), -EAGAIN);
    CHECK_EQ(bufpool_account_allocate(a, 1, 20 * 1000 * 1000, &y), -ETIMEDOUT);
    bufpool_account_stats s = astats(a);
    CHECK_EQ(s.in_use_bytes, 4 * BS);
    CHECK_EQ(s.live_allocations, 4);
    CHECK_EQ(s.total_allocations, 4);
    CHECK_EQ(s.total_failures, 4);
    CHECK_EQ(s.total_waits, 1);
    CHECK_EQ(bufpool_account_destroy(a), -EBUSY); /* live allocations */
    CHECK_EQ(bufpool_try_allocate(p, 12, &y), 0); /* the pool's other 12 */
    bufpool_alloc_release(y);
    bufpool_alloc_release(x[0]);
    x[0] = acct_get(a, 1);
    for (int i = 0; i < 4; i++)
        bufpool_alloc_release(x[i]);
    s = astats(a);
    CHECK_EQ(s.in_use_bytes, 0);
    CHECK_EQ(s.peak_in_use_bytes, 4 * BS);
    CHECK_EQ(stats_of(p).in_use_bytes, 0);
    CHECK_EQ(bufpool_account_destroy(a), 0);
    bufpool_destroy(p);
}

/* A reservation is served at once whatever others hold, and others never
 * take it; a parent's cap keeps a child's reservation whole. */
static void part_reservation_at_once(void)
{
    bufpool *p = make(BS, 16 * BS, 0);
    bufpool_account *r = mk_acct(p, NULL, 8 * BS, 0), *o = mk_acct(p, NULL, 0, 0);
    bufpool_alloc *plain, *x, *y;
    CHECK_EQ(bufpool_try_allocate(p, 8, &plain), 0); /* all that is not reserved */
    CHECK_EQ(bufpool_account_allocate(o, 1, 0, &y), -EAGAIN);
    x = acct_get(r, 8); /* at once */
    CHECK_EQ(bufpool_account_allocate(r, 1, 0, &y), -EAGAIN);
    bufpool_alloc_release(plain);
    y = acct_get(r, 1); /* beyond its reservation: shared memory */
    bufpool_alloc_release(y);
    bufpool_alloc_release(x);
    /* nested: top caps 8, c1 reserves 4: c2 gets at most 4 */
    bufpool_account *top = mk_acct(p, NULL, 0, 8 * BS);
    bufpool_account *c1 = mk_acct(p, top, 4 * BS, 0), *c2 = mk_acct(p, top, 0, 0);
    CHECK_EQ(bufpool_account_allocate(c2, 5, 0, &y), -EAGAIN);
    y = acct_get(c2, 4);
    x = acct_get(c1, 4);
    CHECK_EQ(astats(top).in_use_bytes, 8 * BS); /* a parent's covers its children's */
    CHECK_EQ(astats(top).live_allocations, 2);
    CHECK_EQ(bufpool_account_destroy(top), -EBUSY);
    bufpool_alloc_release(x);
    bufpool_alloc_release(y);
    CHECK_EQ(astats(top).in_use_bytes, 0);
    bufpool_destroy(p); /* frees the accounts left */
}

struct acct_req {
    bufpool_account *a;
    size_t n;
    int r;
    bufpool_alloc *x;
    atomic_int done;
};

static void *acct_block(void *arg)
{
    struct acct_req *q = arg;
    q->r = bufpool_account_allocate(q->a, q->n, BUFPOOL_FOREVER, &q->x);
    atomic_store(&q->done, 1);
    return NULL;
}

/* A request blocked on its own cap: woken by its account's release, and in
 * the way of nobody else meanwhile. */
static void part_cap_wait(void)
{
    bufpool *p = make(BS, 16 * BS, 0);
    bufpool_account *a = mk_acct(p, NULL, 0, 2 * BS);
    bufpool_alloc *x = acct_get(a, 2), *y;
    struct acct_req q = {.a = a, .n = 1};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, acct_block, &q), 0);
    await_waiters(p, 1);
    CHECK_EQ(astats(a).waiters, 1);
    CHECK_EQ(bufpool_try_allocate(p, 14, &y), 0); /* no head-of-line blocking */
    bufpool_alloc_release(y);
    CHECK_EQ(atomic_load(&q.done), 0);
    bufpool_alloc_release(x);
    pthread_join(t, NULL);
    CHECK_EQ(q.r, 0);
    bufpool_alloc_release(q.x);
    CHECK_EQ(astats(a).waiters, 0);
    bufpool_destroy(p);
}

/* Waiting requests of higher priority are served first. */
static void part_priority(void)
{
    bufpool *p = make(BS, 8 * BS, 0);
    bufpool_account_config lo_c = {.name = "lo", .priority = 0}, hi_c = {.name = "hi", .priority = 5};
    bufpool_account *lo, *hi;
    CHECK_EQ(bufpool_account_create(p, NULL, &lo_c, &lo), 0);
    CHECK_EQ(bufpool_account_create(p, NULL, &hi_c, &hi), 0);
    bufpool_alloc *all;
    CHECK_EQ(bufpool_try_allocate(p, 8, &all), 0);
    struct acct_req ql = {.a = lo, .n = 8}, qh = {.a = hi, .n = 8};
    pthread_t tl, th;
    CHECK_EQ(pthread_create(&tl, NULL, acct_block, &ql), 0);
    await_waiters(p, 1);
    CHECK_EQ(pthread_create(&th, NULL, acct_block, &qh), 0);
    await_waiters(p, 2);
    bufpool_alloc_release(all);
    pthread_join(th, NULL); /* the later, higher one first */
    CHECK_EQ(qh.r, 0);
    CHECK_EQ(atomic_load(&ql.done), 0);
    bufpool_alloc_release(qh.x);
    pthread_join(tl, NULL);
    CHECK_EQ(ql.r, 0);
    bufpool_alloc_release(ql.x);
    bufpool_destroy(p);
}

/* A lower max never revokes live allocations, binds new requests until
 * the in-use falls below it, and fails a waiting request that can no
 * longer fit with -E2BIG. */
static void part_lower_max(void)
{
    bufpool *p = make(BS, 16 * BS, 0);
    bufpool_account *a = mk_acct(p, NULL, 0, 8 * BS);
    bufpool_alloc *x = acct_get(a, 6), *y;
    struct acct_req q = {.a = a, .n = 4};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, acct_block, &q), 0);
    await_waiters(p, 1);
    CHECK_EQ(bufpool_account_set_limits(a, 0, 3 * BS), 0); /* 4 can never fit now */
    pthread_join(t, NULL);
    CHECK_EQ(q.r, -E2BIG);
    bufpool_account_stats s = astats(a);
    CHECK_EQ(s.in_use_bytes, 6 * BS); /* above the max: kept */
    CHECK_EQ(s.waiters, 0);
    CHECK_EQ(bufpool_account_allocate(a, 1, 0, &y), -EAGAIN);
    bufpool_alloc_release(x);
    y = acct_get(a, 3);
    bufpool_alloc_release(y);
    bufpool_destroy(p);
}

/* Shutdown fails a waiting account request with -ECANCELED, and later
 * ones at once; allocations live on and release as usual. */
static void part_shutdown_waiting(void)
{
    bufpool *p = make(BS, 16 * BS, 0);
    bufpool_account *a = mk_acct(p, NULL, 0, 2 * BS);
    bufpool_alloc *x = acct_get(a, 2), *y;
    struct acct_req q = {.a = a, .n = 1};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, acct_block, &q), 0);
    await_waiters(p, 1);
    bufpool_shutdown(p);
    pthread_join(t, NULL);
    CHECK_EQ(q.r, -ECANCELED);
    CHECK_EQ(bufpool_account_allocate(a, 1, BUFPOOL_FOREVER, &y), -ECANCELED);
    bufpool_alloc_release(x);
    CHECK_EQ(astats(a).in_use_bytes, 0);
    CHECK_EQ(bufpool_account_destroy(a), 0);
    bufpool_destroy(p);
}

/* An account's async waiter: its requests are charged to the account and
 * wait on its caps; its fd turns readable when the account's release makes
 * room; an account with a waiter is -EBUSY to destroy. */
static void part_waiter(void)
{
    bufpool *p = make(BS, 16 * BS, 0);
    bufpool_account *a = mk_acct(p, NULL, 0, 2 * BS);
    bufpool_waiter *w = (bufpool_waiter *)1;
    CHECK_EQ(bufpool_account_waiter_create(NULL, &w), -EINVAL);
    CHECK(w == NULL);
    CHECK_EQ(bufpool_account_waiter_create(a, &w), 0);
    bufpool_alloc *x = acct_get(a, 2), *y = NULL;
    CHECK_EQ(bufpool_waiter_allocate(w, 1, &y), -EAGAIN);
    CHECK_EQ(astats(a).waiters, 1); /* its pending request */
    CHECK_EQ(astats(a).total_waits, 1);
    CHECK_EQ(bufpool_waiter_allocate(w, 1, &y), -EAGAIN); /* still the one request */
    CHECK_EQ(astats(a).total_waits, 1);
    CHECK_EQ(astats(a).total_failures, 0); /* pending is no failure */
    struct pollfd pfd = {.fd = bufpool_waiter_fd(w), .events = POLLIN};
    CHECK_EQ(poll(&pfd, 1, 0), 0);
    CHECK_EQ(bufpool_account_destroy(a), -EBUSY); /* live allocations, and the waiter */
    bufpool_alloc_release(x);
    CHECK_EQ(poll(&pfd, 1, 1000), 1);
    CHECK_EQ(bufpool_waiter_allocate(w, 1, &y), 0);
    CHECK_EQ(astats(a).in_use_bytes, BS);
    CHECK_EQ(astats(a).live_allocations, 1);
    bufpool_alloc_release(y);
    CHECK_EQ(bufpool_account_destroy(a), -EBUSY); /* the waiter */
    bufpool_waiter_destroy(w);
    CHECK_EQ(bufpool_account_destroy(a), 0);
    bufpool_destroy(p);
}

/* Threads sharing a capped account through its fast paths (each thread's
 * account cache): every request completes (a wakeup lost would hang, and
 * the runner's timeout fail it), the cap holds at every moment, and the
 * counts add up at the end. */
enum { MT_THREADS = 3, MT_ROUNDS = 3000 };
struct mt {
    bufpool_account *a;
    atomic_long *inuse;
};

static void *mt_run(void *arg)
{
    struct mt *m = arg;
    for (int i = 0; i < MT_ROUNDS; i++) {
        bufpool_alloc *x;
        size_t n = 1 + (size_t)(i % 2);
        CHECK_EQ(bufpool_account_allocate(m->a, n, BUFPOOL_FOREVER, &x), 0);
        long now = atomic_fetch_add(m->inuse, (long)n) + (long)n;
        CHECK(now <= 4);
        if (i % 64 == 0)
            sched_yield();
        atomic_fetch_sub(m->inuse, (long)n);
        bufpool_alloc_release(x);
    }
    return NULL;
}

static void part_threads(void)
{
    bufpool *p = make(BS, 64 * BS, 0);
    bufpool_account *a = mk_acct(p, NULL, 2 * BS, 4 * BS);
    atomic_long inuse = 0;
    struct mt m = {a, &inuse};
    pthread_t t[MT_THREADS];
    for (int i = 0; i < MT_THREADS; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, mt_run, &m), 0);
    for (int i = 0; i < MT_THREADS; i++)
        pthread_join(t[i], NULL);
    bufpool_account_stats s = astats(a);
    CHECK_EQ(s.live_allocations, 0);
    CHECK_EQ(s.in_use_bytes, 0);
    CHECK(s.peak_in_use_bytes <= 4 * BS);
    CHECK_EQ(bufpool_account_destroy(a), 0); /* flushes the threads' account caches */
    CHECK_EQ(stats_of(p).in_use_bytes, 0);
    bufpool_destroy(p);
}

/* Found in review (the man pages' helper): a try within a reservation must
 * not fail on memory the account's own thread cache holds in another
 * length; an account waiter gets -E2BIG for a request above its cap;
 * total_allocations counts the fast path's allocations too. */
static void part_review(void)
{
    bufpool *p = make(BS, 16 * BS, 0);
    bufpool_account *a = mk_acct(p, NULL, 4 * BS, 4 * BS);
    bufpool_alloc *x[4], *y;
    for (int i = 0; i < 4; i++)
        x[i] = acct_get(a, 1);
    for (int i = 0; i < 4; i++)
        bufpool_alloc_release(x[i]); /* into this thread's account cache */
    CHECK_EQ(bufpool_account_allocate(a, 3, 0, &y), 0); /* another length: still at once */
    bufpool_alloc_release(y);
    for (int i = 0; i < 10; i++) {
        y = acct_get(a, 1);
        bufpool_alloc_release(y);
    }
    CHECK_EQ(astats(a).total_allocations, 4 + 1 + 10);
    bufpool_waiter *w;
    CHECK_EQ(bufpool_account_waiter_create(a, &w), 0);
    CHECK_EQ(bufpool_waiter_allocate(w, 5, &y), -E2BIG);
    CHECK_EQ(bufpool_waiter_allocate(w, 5, &y), -E2BIG); /* not pending afterwards either */
    CHECK_EQ(astats(a).total_failures, 2);
    bufpool_waiter_destroy(w);
    bufpool_destroy(p);
}

static void start(pthread_t *t, struct acct_req *q)
{
    CHECK_EQ(pthread_create(t, NULL, acct_block, q), 0);
}

/* FIFO: requests for shared memory are served in arrival order across
 * accounts, and a try waits its turn; a try within its account's own
 * reservation goes whoever waits; a request waiting on its own cap is
 * outside the line, for account and plain requests alike. */
static void part_fifo_order(void)
{
    bufpool *p = make(BS, 6 * BS, BUFPOOL_FIFO);
    bufpool_account *a = mk_acct(p, NULL, 0, 0), *b = mk_acct(p, NULL, 0, 0);
    bufpool_account *c = mk_acct(p, NULL, BS, 0), *d = mk_acct(p, NULL, 0, BS);
    bufpool_alloc *dx = acct_get(d, 1), *y, *held[4];
    struct acct_req qd = {.a = d, .n = 1}, qa = {.a = a, .n = 3}, qb = {.a = b, .n = 1};
    pthread_t td, ta, tb;
    start(&td, &qd);
    await_waiters(p, 1);
    CHECK_EQ(bufpool_try_allocate(p, 1, &y), 0); /* d's request is in nobody's way */
    bufpool_alloc_release(y);
    CHECK_EQ(bufpool_account_allocate(a, 1, 0, &y), 0);
    bufpool_alloc_release(y);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(bufpool_try_allocate(p, 1, &held[i]), 0);
    start(&ta, &qa);
    await_waiters(p, 2);
    start(&tb, &qb);
    await_waiters(p, 3);
    bufpool_alloc_release(held[0]); /* room for b's request, not a's */
    CHECK_EQ(astats(b).waiters, 1);
    CHECK_EQ(astats(b).in_use_bytes, 0);
    CHECK_EQ(bufpool_account_allocate(b, 1, 0, &y), -EAGAIN); /* its turn comes after a's */
    CHECK_EQ(bufpool_try_allocate(p, 1, &y), -EAGAIN);
    CHECK_EQ(bufpool_account_allocate(c, 1, 0, &y), 0); /* its reservation */
    bufpool_alloc_release(y);
    for (int i = 1; i < 4; i++)
        bufpool_alloc_release(held[i]);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK_EQ(qa.r, 0);
    CHECK_EQ(qb.r, 0);
    CHECK_EQ(atomic_load(&qd.done), 0); /* still on its cap */
    bufpool_alloc_release(dx);
    pthread_join(td, NULL);
    CHECK_EQ(qd.r, 0);
    bufpool_alloc_release(qa.x);
    bufpool_alloc_release(qb.x);
    bufpool_alloc_release(qd.x);
    bufpool_destroy(p);
}

/* A request of a high-priority account for the whole budget against 16
 * threads that each allocate and release one buffer in a loop: the budget
 * is never free all at once, so only the starvation bound of the default
 * mode (the hand-off) serves it, well within its 2 s. */
#define CHURNERS 16
static atomic_int churn_stop;

static void *churn(void *arg)
{
    bufpool *p = arg;
    while (!atomic_load(&churn_stop)) {
        bufpool_alloc *x;
        int r = bufpool_allocate_timeout(p, 1, 100000000u, &x);
        CHECK(r == 0 || r == -ETIMEDOUT);
        if (r == 0)
            bufpool_alloc_release(x);
    }
    return NULL;
}

static void part_starve(void)
{
    bufpool *p = make(4096, 32 * 4096, 0);
    bufpool_account_config hc = {.name = "whole", .priority = 5};
    bufpool_account *hi;
    CHECK_EQ(bufpool_account_create(p, NULL, &hc, &hi), 0);
    pthread_t t[CHURNERS];
    atomic_store(&churn_stop, 0);
    for (int i = 0; i < CHURNERS; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, churn, p), 0);
    usleep(20000);
    for (int round = 0; round < 5; round++) {
        bufpool_alloc *x;
        CHECK_EQ(bufpool_account_allocate(hi, 32, 2000000000u, &x), 0);
        bufpool_alloc_release(x);
        usleep(5000);
    }
    atomic_store(&churn_stop, 1);
    for (int i = 0; i < CHURNERS; i++)
        pthread_join(t[i], NULL);
    bufpool_destroy(p);
}

/* fork() with an account's requests waiting: the child has none of them
 * (their threads and fds are the parent's), so once it releases what its
 * thread held and destroys the inherited waiter, the account goes. */
static void part_fork(void)
{
    bufpool *p = make(BS, 16 * BS, 0);
    bufpool_account *a = mk_acct(p, NULL, 0, 2 * BS);
    bufpool_waiter *w;
    CHECK_EQ(bufpool_account_waiter_create(a, &w), 0);
    bufpool_alloc *x = acct_get(a, 2), *y;
    CHECK_EQ(bufpool_waiter_allocate(w, 1, &y), -EAGAIN);
    struct acct_req q = {.a = a, .n = 1};
    pthread_t t;
    start(&t, &q);
    await_waiters(p, 2); /* the async request and the blocked one */
    CHECK_EQ(astats(a).waiters, 2);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int bad = astats(a).waiters != 0 || astats(a).live_allocations != 1;
        bufpool_alloc_release(x);
        bufpool_waiter_destroy(w);
        bad |= bufpool_account_destroy(a) != 0;
        bufpool_destroy(p);
        _exit(bad);
    }
    int status;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    bufpool_alloc_release(x);
    pthread_join(t, NULL);
    CHECK_EQ(q.r, 0);
    bufpool_alloc_release(q.x);
    bufpool_waiter_destroy(w);
    CHECK_EQ(bufpool_account_destroy(a), 0);
    bufpool_destroy(p);
}

static void *release_in_thread(void *arg)
{
    bufpool_alloc **xs = arg;
    for (; *xs; xs++)
        bufpool_alloc_release(*xs);
    return NULL;
}

/* A request waiting on its account's cap, whose memory went to the depot
 * while it waited (released plain memory: each release looked, could not
 * serve it, and stashed the memory): the releases that then make room
 * under the cap, from a thread whose cache does not serve the account
 * (the locked release), must serve it with that memory. */
static void part_cap_wake_from_depot(void)
{
    bufpool *p = make(BS, 4 * BS, 0);
    bufpool_account *a = mk_acct(p, NULL, 0, 3 * BS);
    bufpool_alloc *x[3] = {acct_get(a, 1), acct_get(a, 1), NULL}, *plain[2], *y;
    for (int i = 0; i < 2; i++)
        CHECK_EQ(bufpool_try_allocate(p, 1, &plain[i]), 0);
    bufpool_waiter *w;
    CHECK_EQ(bufpool_account_waiter_create(a, &w), 0);
    CHECK_EQ(bufpool_waiter_allocate(w, 3, &y), -EAGAIN); /* on the cap */
    for (int i = 0; i < 2; i++)
        bufpool_alloc_release(plain[i]); /* looked, stashed */
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, release_in_thread, x), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    struct pollfd pfd = {.fd = bufpool_waiter_fd(w), .events = POLLIN};
    CHECK_EQ(poll(&pfd, 1, 2000), 1);
    CHECK_EQ(bufpool_waiter_allocate(w, 3, &y), 0);
    bufpool_alloc_release(y);
    bufpool_waiter_destroy(w);
    bufpool_destroy(p);
}

/* A request within its caps whose carve fails for the budget flushes its
 * account's cached memory and carves again; the flush may reopen the
 * account's reservation, and the second carve must use it (its credit
 * as it is then): otherwise the pool's committed bytes keep what the
 * reservation gave, and the budget shrinks for good. */
static void part_credit_after_flush(void)
{
    bufpool *p = make(BS, 4 * BS, 0);
    bufpool_account *a = mk_acct(p, NULL, BS, 3 * BS);
    bufpool_alloc *x = acct_get(a, 2), *plain, *y;
    bufpool_alloc_release(x); /* into this thread's account cache: still charged */
    CHECK_EQ(bufpool_try_allocate(p, 2, &plain), 0); /* the rest of the budget */
    y = acct_get(a, 1); /* no carve room until the cache is flushed */
    bufpool_alloc_release(y);
    bufpool_alloc_release(plain);
    bufpool_account_set_limits(a, BS, 3 * BS); /* a steal: every cache back */
    CHECK_EQ(bufpool_try_allocate(p, 3, &plain), 0); /* the budget less the reservation */
    bufpool_alloc_release(plain);
    bufpool_destroy(p);
}

static void count_call(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

/* The callback form of the account waiter: the release that makes room
 * under the cap calls it (before the release returns: on this thread,
 * after the unlock), and the next call takes the memory; fn NULL is
 * -EINVAL. */
static void part_waiter_callback(void)
{
    bufpool *p = make(BS, 16 * BS, 0);
    bufpool_account *a = mk_acct(p, NULL, 0, 2 * BS);
    atomic_int calls = 0;
    bufpool_waiter *w = (bufpool_waiter *)1;
    CHECK_EQ(bufpool_account_waiter_create_callback(a, NULL, &calls, &w), -EINVAL);
    CHECK(w == NULL);
    CHECK_EQ(bufpool_account_waiter_create_callback(a, count_call, &calls, &w), 0);
    bufpool_alloc *x = acct_get(a, 2), *y;
    CHECK_EQ(bufpool_waiter_allocate(w, 1, &y), -EAGAIN);
    CHECK_EQ(atomic_load(&calls), 0);
    bufpool_alloc_release(x);
    CHECK_EQ(atomic_load(&calls), 1);
    CHECK_EQ(bufpool_waiter_allocate(w, 1, &y), 0);
    CHECK_EQ(astats(a).in_use_bytes, BS);
    bufpool_alloc_release(y);
    CHECK_EQ(bufpool_account_destroy(a), -EBUSY); /* the waiter */
    bufpool_waiter_destroy(w);
    CHECK_EQ(bufpool_account_destroy(a), 0);
    bufpool_destroy(p);
}

/* Destroying a child gives its reservation back to its parent's cap even
 * where the pool's unused reservations do not move: a sibling's request
 * waiting on that cap must be served then. */
static void part_destroy_loosens_cap(void)
{
    bufpool *p = make(BS, 16 * BS, 0);
    bufpool_account *par = mk_acct(p, NULL, 10 * BS, 10 * BS);
    bufpool_account *b = mk_acct(p, par, 4 * BS, 0), *c = mk_acct(p, par, 0, 0);
    bufpool_alloc *x = acct_get(c, 6);
    struct acct_req q = {.a = c, .n = 1};
    pthread_t t;
    start(&t, &q);
    await_waiters(p, 1); /* 6 + 1 + b's 4 > 10 */
    CHECK_EQ(bufpool_account_destroy(b), 0);
    pthread_join(t, NULL);
    CHECK_EQ(q.r, 0);
    bufpool_alloc_release(q.x);
    bufpool_alloc_release(x);
    bufpool_destroy(p);
}

/* A parent's own memory cached in a thread's account cache, while its
 * child's reservation keeps the parent's unused at the child's: uncharging
 * it reopens nothing, so a look must take it for a plain request that
 * needs the room. */
static void part_parent_cache_wanted(void)
{
    bufpool *p = make(BS, 20 * BS, 0);
    bufpool_account *c = mk_acct(p, NULL, 0, 0);
    (void)mk_acct(p, c, 10 * BS, 0);
    bufpool_alloc *x = acct_get(c, 5), *y;
    bufpool_alloc_release(x); /* into this thread's account cache */
    CHECK_EQ(bufpool_allocate_timeout(p, 10, 500000000u, &y), 0); /* 10 reserved + 10 */
    bufpool_alloc_release(y);
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
        {"caps", part_caps},
        {"reservation_at_once", part_reservation_at_once},
        {"cap_wait", part_cap_wait},
        {"priority", part_priority},
        {"lower_max", part_lower_max},
        {"shutdown_waiting", part_shutdown_waiting},
        {"waiter", part_waiter},
        {"threads", part_threads},
        {"review", part_review},
        {"fifo_order", part_fifo_order},
        {"starve", part_starve},
        {"fork", part_fork},
        {"cap_wake_from_depot", part_cap_wake_from_depot},
        {"credit_after_flush", part_credit_after_flush},
        {"waiter_callback", part_waiter_callback},
        {"destroy_loosens_cap", part_destroy_loosens_cap},
        {"parent_cache_wanted", part_parent_cache_wanted},
    };
    return run_parts("test_account", parts, sizeof parts / sizeof *parts, argc, argv);
}
