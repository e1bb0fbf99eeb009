/*
 * test_reclaim: reclaim callbacks (issue 23).  A request that is short
 * calls the callback before it sleeps, with the bytes it lacks (the
 * requests ahead of it in FIFO mode included), and succeeds without
 * sleeping when the callback released enough; a try calls it once, then
 * answers (race_reclaim.c: a blocked request calls again after a wake
 * that still finds it short, until a call returns 0); it calls again at
 * once when the memory its call gave back went to another thread.  The callback runs outside every lock
 * (it may release, read the stats, take a lock a releaser holds), never
 * twice at once (a blocked request that finds one running gets its own
 * call after it), never after shutdown; an allocation on the same pool
 * from inside it fails with -EDEADLK on every path, other pools serve it.
 * Through an account: the callback of the nearest account whose max
 * binds, with that account's lack, else the pool's.  An async waiter calls
 * it once per call.  bufpool_set_reclaim waits for a running call (not
 * from inside it); a try inside its call counts in stall_ns; a fork()
 * child is not left with another thread's call marked running.
 */
#define _GNU_SOURCE
#include "bufpool.h"
#define CHECK_PARTS
#include "check.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { BS = 4096, MAXHELD = 64 };

/* The application's cache: allocations it may evict, and what its
 * callback saw. */
struct cache {
    pthread_mutex_t mu;
    bufpool_alloc *held[MAXHELD];
    int nheld;
    size_t give;          /* evict at most this many bytes a call; 0: what is asked */
    size_t ret_override;  /* return this instead of what it freed (SIZE_MAX: no) */
    unsigned sleep_us;    /* stay in the call this long */
    atomic_int calls, running, max_running;
    size_t needed[16];    /* bytes_needed of the first calls */
    bufpool *stats_pool;  /* read its stats from inside (NULL: no) */
    bufpool *self;        /* try to allocate from it inside (NULL: no) */
    bufpool_account *self_acct;
    int inside_r[5];      /* what those allocations answered */
};

static void cache_init(struct cache *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->ret_override = SIZE_MAX;
}

static void hold(struct cache *c, bufpool_alloc *a)
{
    pthread_mutex_lock(&c->mu);
    CHECK(c->nheld < MAXHELD);
    c->held[c->nheld++] = a;
    pthread_mutex_unlock(&c->mu);
}

static void fill(struct cache *c, bufpool *p, int n)
{
    for (int i = 0; i < n; i++) {
        bufpool_alloc *a;
        CHECK_EQ(bufpool_try_allocate(p, 1, &a), 0);
        hold(c, a);
    }
}

static void fill_acct(struct cache *c, bufpool_account *ac, int n)
{
    for (int i = 0; i < n; i++) {
        bufpool_alloc *a;
        CHECK_EQ(bufpool_account_allocate(ac, 1, 0, &a), 0);
        hold(c, a);
    }
}

static void drop_all(struct cache *c)
{
    pthread_mutex_lock(&c->mu);
    while (c->nheld)
        bufpool_alloc_release(c->held[--c->nheld]);
    pthread_mutex_unlock(&c->mu);
}

static size_t evict(void *arg, size_t needed);

/* A pool of `bufs` buffers whose cache c holds `held` of them, with c's
 * eviction as its reclaim callback. */
static bufpool *cached_pool(struct cache *c, int bufs, int held, unsigned flags)
{
    bufpool *p = make(BS, (size_t)bufs * BS, flags);
    cache_init(c);
    fill(c, p, held);
    CHECK_EQ(bufpool_set_reclaim(p, evict, c), 0);
    return p;
}

static size_t evict(void *arg, size_t needed)
{
    struct cache *c = arg;
    int k = atomic_fetch_add(&c->calls, 1);
    int now = atomic_fetch_add(&c->running, 1) + 1;
    int m = atomic_load(&c->max_running);
    while (now > m && !atomic_compare_exchange_weak(&c->max_running, &m, now))
        ;
    if (k < 16)
        c->needed[k] = needed;
    if (c->stats_pool) {
        bufpool_stats st;
        bufpool_get_stats(c->stats_pool, &st); /* takes the pool's lock */
    }
    if (c->self) {
        bufpool_alloc *a = NULL;
        c->inside_r[0] = bufpool_allocate(c->self, 1, &a);
        c->inside_r[1] = bufpool_try_allocate(c->self, 1, &a);
        c->inside_r[2] = bufpool_allocate_timeout(c->self, 1, 1000000, &a);
        c->inside_r[3] = c->self_acct ? bufpool_account_allocate(c->self_acct, 1, 0, &a) : -EDEADLK;
        bufpool_waiter *w;
        CHECK_EQ(bufpool_waiter_create(c->self, &w), 0);
        c->inside_r[4] = bufpool_waiter_allocate(w, 1, &a);
        bufpool_waiter_destroy(w);
        CHECK(a == NULL);
    }
    if (c->sleep_us)
        usleep(c->sleep_us);
    size_t freed = 0, goal = c->give ? c->give : needed;
    pthread_mutex_lock(&c->mu); /* a releaser may hold it while it releases */
    while (freed < goal && c->nheld) {
        bufpool_alloc *a = c->held[--c->nheld];
        freed += bufpool_alloc_bytes(a);
        bufpool_alloc_release(a);
    }
    pthread_mutex_unlock(&c->mu);
    atomic_fetch_sub(&c->running, 1);
    return c->ret_override != SIZE_MAX ? c->ret_override : freed;
}

struct req {
    bufpool *p;
    bufpool_account *a;
    size_t n;
    int r;
    bufpool_alloc *x;
};

static void *blocked(void *arg)
{
    struct req *q = arg;
    q->r = q->a ? bufpool_account_allocate(q->a, q->n, BUFPOOL_FOREVER, &q->x)
                : bufpool_allocate(q->p, q->n, &q->x);
    return NULL;
}

/* Start a blocked request for one buffer and wait until its reclaim call
 * runs. */
static void start_in_call(struct cache *c, struct req *q, pthread_t *t)
{
    CHECK_EQ(pthread_create(t, NULL, blocked, q), 0);
    while (atomic_load(&c->running) == 0)
        usleep(1000);
}

static void release(bufpool_alloc **a)
{
    bufpool_alloc_release(*a);
    *a = NULL;
}

/* A request short by 2 buffers calls the callback before it sleeps, with
 * the 2 buffers' bytes; the callback frees them, and the request is served
 * without a sleep (no wait time), in every kind of call. */
static void part_before_sleep(void)
{
    for (int kind = 0; kind < 3; kind++) {
        bufpool *p = make(BS, 8 * BS, 0);
        struct cache c;
        cache_init(&c);
        CHECK_EQ(bufpool_set_reclaim(p, evict, &c), 0);
        fill(&c, p, 6);
        bufpool_alloc *a = NULL;
        int r = kind == 0 ? bufpool_allocate(p, 4, &a)
              : kind == 1 ? bufpool_try_allocate(p, 4, &a)
                          : bufpool_allocate_timeout(p, 4, 5000000000ull, &a);
        CHECK_EQ(r, 0);
        CHECK_EQ(bufpool_alloc_length(a), 4);
        CHECK_EQ(atomic_load(&c.calls), 1);
        CHECK_EQ(c.needed[0], 2 * BS); /* the lack, not the size */
        bufpool_stats st = stats_of(p);
        CHECK_EQ(st.total_wait_ns, 0); /* it never slept */
        CHECK_EQ(st.waiters, 0);
        release(&a);
        drop_all(&c);
        bufpool_destroy(p);
    }
}

/* A try whose callback frees nothing answers -EAGAIN after exactly one
 * call; a try on a pool without a callback calls nothing. */
static void part_try_once(void)
{
    bufpool *p = make(BS, 4 * BS, 0);
    struct cache c;
    cache_init(&c);
    c.ret_override = 0;
    c.give = 1; /* frees one buffer: not enough */
    fill(&c, p, 4);
    CHECK_EQ(bufpool_set_reclaim(p, evict, &c), 0);
    bufpool_alloc *a = NULL;
    CHECK_EQ(bufpool_try_allocate(p, 4, &a), -EAGAIN);
    CHECK(a == NULL);
    CHECK_EQ(atomic_load(&c.calls), 1);
    c.ret_override = 4096; /* says more is coming: a try still calls once */
    CHECK_EQ(bufpool_allocate_timeout(p, 4, 0, &a), -ETIMEDOUT);
    CHECK_EQ(atomic_load(&c.calls), 2);
    CHECK_EQ(bufpool_set_reclaim(p, NULL, NULL), 0);
    CHECK_EQ(bufpool_try_allocate(p, 4, &a), -EAGAIN);
    CHECK_EQ(atomic_load(&c.calls), 2);
    drop_all(&c);
    bufpool_destroy(p);
}

/* Memory that comes back during a call but goes to another thread: the
 * request, still short, calls again at once instead of sleeping beside a
 * cache that could give more; a call that returns 0 ends it. */
struct thief {
    bufpool *p;
    bufpool_alloc *got;
};

static void *steal_one(void *arg)
{
    struct thief *t = arg;
    CHECK_EQ(bufpool_try_allocate(t->p, 1, &t->got), 0);
    return NULL;
}

static struct thief thief;

static size_t evict_then_lose(void *arg, size_t needed)
{
    struct cache *c = arg;
    size_t freed = evict(c, needed);
    if (atomic_load(&c->calls) == 1) { /* the first call's memory goes to another thread */
        pthread_t t;
        CHECK_EQ(pthread_create(&t, NULL, steal_one, &thief), 0);
        CHECK_EQ(pthread_join(t, NULL), 0);
    }
    return freed;
}

static void part_again_when_taken(void)
{
    struct cache c;
    bufpool *p = cached_pool(&c, 4, 4, 0);
    c.give = 1; /* one buffer a call */
    thief.p = p;
    CHECK_EQ(bufpool_set_reclaim(p, evict_then_lose, &c), 0);
    struct req q = {.p = p, .n = 4};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, blocked, &q), 0);
    /* calls 1..4 free one each (the first goes to the thief), call 5
     * finds the cache empty and returns 0: the request sleeps */
    for (int i = 0; i < 5000 && atomic_load(&c.calls) < 5; i++)
        usleep(1000);
    await_waiters(p, 1);
    usleep(20000);
    CHECK_EQ(atomic_load(&c.calls), 5);
    CHECK(thief.got != NULL);
    release(&thief.got); /* the last buffer it lacks */
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(q.r, 0);
    CHECK_EQ(atomic_load(&c.calls), 5);
    release(&q.x);
    bufpool_destroy(p);
}

/* A try waits for its call out of the queue: a request that queues
 * during the call is served by a release made then, and is not left
 * behind a try that leaves without memory (FIFO: a serve stops at the
 * head of the line). */
static bufpool_alloc *held_unit;
static struct req behind;
static pthread_t behind_t;

static size_t start_behind(void *arg, size_t needed)
{
    struct cache *c = arg;
    (void)needed;
    if (atomic_fetch_add(&c->calls, 1) == 0) { /* the try's call */
        CHECK_EQ(pthread_create(&behind_t, NULL, blocked, &behind), 0);
        usleep(50000); /* it queues and finds this call running */
        release(&held_unit); /* room for it, not for the try */
    }
    return 0; /* frees nothing of its own */
}

static void part_try_leaves_none_behind(void)
{
    struct cache c;
    bufpool *p = cached_pool(&c, 2, 1, BUFPOOL_FIFO);
    CHECK_EQ(bufpool_try_allocate(p, 1, &held_unit), 0);
    CHECK_EQ(bufpool_set_reclaim(p, start_behind, &c), 0);
    behind = (struct req){.p = p, .n = 1};
    bufpool_alloc *a;
    CHECK_EQ(bufpool_try_allocate(p, 2, &a), -EAGAIN);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 5;
    CHECK_EQ(pthread_timedjoin_np(behind_t, NULL, &ts), 0); /* served, not left asleep */
    CHECK_EQ(behind.r, 0);
    release(&behind.x);
    drop_all(&c);
    bufpool_destroy(p);
}

/* FIFO: the lack counts the request ahead in line. */
static void part_fifo_lack(void)
{
    bufpool *p = make(BS, 8 * BS, BUFPOOL_FIFO);
    struct cache c;
    cache_init(&c);
    fill(&c, p, 6);
    struct req first = {.p = p, .n = 3}; /* short by 1 */
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, blocked, &first), 0);
    await_waiters(p, 1);
    c.give = 4 * BS; /* frees 4: enough for both */
    CHECK_EQ(bufpool_set_reclaim(p, evict, &c), 0);
    bufpool_alloc *a;
    CHECK_EQ(bufpool_allocate(p, 2, &a), 0);
    CHECK_EQ(c.needed[0], 3 * BS); /* its own 2 and the 1 the first lacks */
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(first.r, 0);
    release(&a);
    release(&first.x);
    drop_all(&c);
    bufpool_destroy(p);
}

/* Outside every lock: the callback reads the stats (the pool's lock) and
 * takes the application's lock, which a releasing thread holds while it
 * releases into this pool. */
static pthread_mutex_t app_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int releaser_go;

static void *releaser(void *arg)
{
    bufpool_alloc **a = arg;
    while (!atomic_load(&releaser_go))
        usleep(100);
    pthread_mutex_lock(&app_lock);
    usleep(20000);
    release(a);
    pthread_mutex_unlock(&app_lock);
    return NULL;
}

static size_t locked_evict(void *arg, size_t needed)
{
    struct cache *c = arg;
    atomic_store(&releaser_go, 1);
    usleep(5000);
    pthread_mutex_lock(&app_lock); /* waits for the releaser's release */
    pthread_mutex_unlock(&app_lock);
    return evict(c, needed);
}

static void part_outside_locks(void)
{
    bufpool *p = make(BS, 4 * BS, 0);
    struct cache c;
    cache_init(&c);
    c.stats_pool = p;
    fill(&c, p, 2);
    bufpool_alloc *mine;
    CHECK_EQ(bufpool_try_allocate(p, 2, &mine), 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, releaser, &mine), 0);
    CHECK_EQ(bufpool_set_reclaim(p, locked_evict, &c), 0);
    bufpool_alloc *a;
    CHECK_EQ(bufpool_allocate(p, 4, &a), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    release(&a);
    drop_all(&c);
    bufpool_destroy(p);
}

/* Never twice at once: three blocked requests, a slow callback; at most
 * one call runs, and a request that found it running gets its own call
 * afterwards. */
static void part_one_at_a_time(void)
{
    struct cache c;
    bufpool *p = cached_pool(&c, 4, 4, 0);
    c.sleep_us = 30000;
    c.give = 1;
    struct req q[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        q[i] = (struct req){.p = p, .n = 1};
        CHECK_EQ(pthread_create(&t[i], NULL, blocked, &q[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(pthread_join(t[i], NULL), 0);
        CHECK_EQ(q[i].r, 0);
    }
    CHECK_EQ(atomic_load(&c.max_running), 1);
    CHECK_EQ(atomic_load(&c.calls), 3); /* each short request had its own call */
    for (int i = 0; i < 3; i++)
        release(&q[i].x);
    drop_all(&c);
    bufpool_destroy(p);
}

/* Never after shutdown; a try that finds a call running answers at once. */
static void part_shutdown_and_busy(void)
{
    struct cache c;
    bufpool *p = cached_pool(&c, 4, 4, 0);
    c.sleep_us = 100000;
    c.give = 1;
    c.ret_override = 0;
    struct req q = {.p = p, .n = 1};
    pthread_t t;
    start_in_call(&c, &q, &t);
    bufpool_alloc *a;
    uint64_t t0 = now_ns();
    CHECK_EQ(bufpool_try_allocate(p, 2, &a), -EAGAIN); /* busy: no call, no wait */
    CHECK(now_ns() - t0 < 50000000u);
    CHECK_EQ(atomic_load(&c.calls), 1);
    CHECK_EQ(pthread_join(t, NULL), 0); /* the call freed the one it lacked */
    CHECK_EQ(q.r, 0);
    release(&q.x);
    bufpool_shutdown(p);
    int calls = atomic_load(&c.calls);
    CHECK_EQ(bufpool_allocate(p, 4, &a), -ECANCELED);
    CHECK_EQ(bufpool_try_allocate(p, 4, &a), -ECANCELED);
    CHECK_EQ(atomic_load(&c.calls), calls);
    drop_all(&c);
    bufpool_destroy(p);
}

/* From inside the callback: every allocate call on the pool fails with
 * -EDEADLK (its cache holds memory a fast path would hand out), another
 * pool serves it, releases work; afterwards the pool serves again. */
static size_t other_pool_evict(void *arg, size_t needed)
{
    struct cache *c = arg;
    bufpool *q = c->stats_pool;
    bufpool_alloc *a;
    c->inside_r[0] = bufpool_allocate(q, 1, &a);
    if (c->inside_r[0] == 0)
        bufpool_alloc_release(a);
    return evict(c, needed);
}

static void part_deadlk(void)
{
    bufpool *p = make(BS, 8 * BS, 0);
    bufpool_account *ac;
    bufpool_account_config cfg = {.name = "a"};
    CHECK_EQ(bufpool_account_create(p, NULL, &cfg, &ac), 0);
    struct cache c;
    cache_init(&c);
    c.self = p;
    c.self_acct = ac;
    bufpool_alloc *warm;
    CHECK_EQ(bufpool_allocate(p, 1, &warm), 0);
    release(&warm); /* now cached in this thread: a fast-path hit */
    CHECK_EQ(bufpool_account_allocate(ac, 1, 0, &warm), 0);
    release(&warm); /* and in the account cache */
    fill(&c, p, 6);
    CHECK_EQ(bufpool_set_reclaim(p, evict, &c), 0);
    bufpool_alloc *a;
    CHECK_EQ(bufpool_allocate(p, 8, &a), 0);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(c.inside_r[i], -EDEADLK);
    release(&a);
    CHECK_EQ(bufpool_allocate(p, 1, &a), 0); /* served again afterwards */
    release(&a);
    CHECK_EQ(bufpool_account_allocate(ac, 1, 0, &a), 0);
    release(&a);
    /* another pool, from inside */
    bufpool *q = make(BS, 8 * BS, 0);
    struct cache d;
    cache_init(&d);
    d.stats_pool = q;
    fill(&d, p, 8);
    CHECK_EQ(bufpool_set_reclaim(p, other_pool_evict, &d), 0);
    CHECK_EQ(bufpool_allocate(p, 1, &a), 0);
    CHECK_EQ(d.inside_r[0], 0);
    release(&a);
    drop_all(&d);
    CHECK_EQ(bufpool_set_reclaim(p, NULL, NULL), 0);
    CHECK_EQ(bufpool_account_destroy(ac), 0);
    bufpool_destroy(q);
    bufpool_destroy(p);
}

/* Accounts: the nearest account whose max binds and has a callback, with
 * its lack; the pool's when no max binds; none when a max binds and no
 * account on the path has one. */
static void part_accounts(void)
{
    bufpool *p = make(BS, 16 * BS, 0);
    bufpool_account *top, *kid;
    bufpool_account_config tc = {.name = "top", .max_bytes = 8 * BS};
    bufpool_account_config kc = {.name = "kid", .max_bytes = 4 * BS};
    CHECK_EQ(bufpool_account_create(p, NULL, &tc, &top), 0);
    CHECK_EQ(bufpool_account_create(p, top, &kc, &kid), 0);
    struct cache ct, ck, cp;
    cache_init(&ct);
    cache_init(&ck);
    cache_init(&cp);
    fill_acct(&ck, kid, 3); /* kid: 3 of its 4 */
    fill_acct(&ct, top, 4); /* top: 7 of its 8 */
    CHECK_EQ(bufpool_account_set_reclaim(kid, evict, &ck), 0);
    CHECK_EQ(bufpool_account_set_reclaim(top, evict, &ct), 0);
    CHECK_EQ(bufpool_set_reclaim(p, evict, &cp), 0);
    bufpool_alloc *a;
    /* kid's max binds (3 + 2 > 4) and top's (7 + 2 > 8): the nearest, kid */
    CHECK_EQ(bufpool_account_allocate(kid, 2, 0, &a), 0);
    CHECK_EQ(atomic_load(&ck.calls), 1);
    CHECK_EQ(ck.needed[0], 1 * BS);
    CHECK_EQ(atomic_load(&ct.calls), 0);
    CHECK_EQ(atomic_load(&cp.calls), 0);
    release(&a);
    /* without kid's callback: top's, with top's lack */
    CHECK_EQ(bufpool_account_set_reclaim(kid, NULL, NULL), 0);
    fill_acct(&ck, kid, 1); /* kid 3 again (one was evicted), top 7 */
    CHECK_EQ(bufpool_account_allocate(kid, 2, 0, &a), -EAGAIN); /* kid's max still binds */
    CHECK_EQ(atomic_load(&ct.calls), 1);
    CHECK_EQ(ct.needed[0], 1 * BS); /* top: 7 + 2 - 8 */
    CHECK_EQ(atomic_load(&cp.calls), 0);
    /* no max binds, the pool short: the pool's callback */
    drop_all(&ck);
    drop_all(&ct);
    fill(&cp, p, 15);
    CHECK_EQ(bufpool_account_allocate(kid, 2, BUFPOOL_FOREVER, &a), 0);
    CHECK_EQ(atomic_load(&cp.calls), 1);
    CHECK_EQ(cp.needed[0], 1 * BS);
    release(&a);
    drop_all(&cp);
    CHECK_EQ(bufpool_set_reclaim(p, NULL, NULL), 0);
    CHECK_EQ(bufpool_account_destroy(kid), 0);
    CHECK_EQ(bufpool_account_destroy(top), 0);
    bufpool_destroy(p);
}

/* An async waiter's call makes one reclaim call: served at once when it
 * freed enough, pending (-EAGAIN, then readable) when it did not. */
static void part_waiter(void)
{
    struct cache c;
    bufpool *p = cached_pool(&c, 4, 4, 0);
    bufpool_waiter *w;
    CHECK_EQ(bufpool_waiter_create(p, &w), 0);
    bufpool_alloc *a = NULL;
    CHECK_EQ(bufpool_waiter_allocate(w, 2, &a), 0);
    CHECK_EQ(atomic_load(&c.calls), 1);
    CHECK_EQ(c.needed[0], 2 * BS);
    c.give = 1;
    c.ret_override = 0;
    bufpool_alloc *b = NULL;
    CHECK_EQ(bufpool_waiter_allocate(w, 2, &b), -EAGAIN); /* freed 1 of 2 */
    CHECK_EQ(atomic_load(&c.calls), 2);
    drop_all(&c); /* the last cached one: now it fits */
    struct pollfd pfd = {.fd = bufpool_waiter_fd(w), .events = POLLIN};
    CHECK_EQ(poll(&pfd, 1, 5000), 1);
    CHECK_EQ(bufpool_waiter_allocate(w, 2, &b), 0);
    release(&a);
    release(&b);
    bufpool_waiter_destroy(w);
    bufpool_destroy(p);
}

/* bufpool_set_reclaim waits for a running call of the old callback; from
 * inside the callback it does not wait (it would wait for itself). */
static size_t removing_evict(void *arg, size_t needed)
{
    struct cache *c = arg;
    CHECK_EQ(bufpool_set_reclaim(c->stats_pool, NULL, NULL), 0);
    return evict(c, needed);
}

static void part_set_waits(void)
{
    struct cache c;
    bufpool *p = cached_pool(&c, 4, 4, 0);
    c.sleep_us = 50000;
    c.give = 1;
    struct req q = {.p = p, .n = 1};
    pthread_t t;
    start_in_call(&c, &q, &t);
    CHECK_EQ(bufpool_set_reclaim(p, NULL, NULL), 0);
    CHECK_EQ(atomic_load(&c.running), 0); /* returned only after the call */
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(q.r, 0);
    release(&q.x);
    struct cache d;
    cache_init(&d);
    d.stats_pool = p;
    fill(&d, p, 1);
    drop_all(&c);
    fill(&d, p, 3);
    CHECK_EQ(bufpool_set_reclaim(p, removing_evict, &d), 0);
    bufpool_alloc *a;
    CHECK_EQ(bufpool_allocate(p, 1, &a), 0); /* its callback removes itself */
    release(&a);
    CHECK_EQ(bufpool_try_allocate(p, 4, &a), -EAGAIN); /* no callback now */
    CHECK_EQ(atomic_load(&d.calls), 1);
    drop_all(&d);
    CHECK_EQ(bufpool_set_reclaim(NULL, NULL, NULL), -EINVAL);
    CHECK_EQ(bufpool_account_set_reclaim(NULL, NULL, NULL), -EINVAL);
    bufpool_destroy(p);
}

/* A try inside its reclaim call counts as waiting: stall_ns grows by the
 * call's length. */
static void part_stall(void)
{
    struct cache c;
    bufpool *p = cached_pool(&c, 4, 4, 0);
    c.sleep_us = 30000;
    c.ret_override = 0;
    c.give = 1;
    bufpool_stats_ex ex;
    CHECK_EQ(bufpool_get_stats_ex(p, &ex, sizeof ex), 0);
    CHECK_EQ(ex.stall_ns, 0);
    bufpool_alloc *a;
    CHECK_EQ(bufpool_try_allocate(p, 4, &a), -EAGAIN);
    CHECK_EQ(bufpool_get_stats_ex(p, &ex, sizeof ex), 0);
    CHECK(ex.stall_ns >= 25000000u);
    drop_all(&c);
    bufpool_destroy(p);
}

/* fork() while another thread's call runs: the child's requests make
 * their own calls (the running mark is the parent's thread's). */
static void part_fork(void)
{
    struct cache c;
    bufpool *p = cached_pool(&c, 4, 4, 0);
    c.sleep_us = 200000;
    c.give = 1;
    struct req q = {.p = p, .n = 1};
    pthread_t t;
    start_in_call(&c, &q, &t);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        c.sleep_us = 0;
        int before = atomic_load(&c.calls);
        bufpool_alloc *a;
        int r = bufpool_try_allocate(p, 1, &a); /* its own call frees one */
        _exit(r == 0 && atomic_load(&c.calls) == before + 1 ? 0 : 1);
    }
    int st;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(q.r, 0);
    release(&q.x);
    drop_all(&c);
    bufpool_destroy(p);
}

int main(int argc, char **argv)
{
    static const struct test_part parts[] = {
        {"before_sleep", part_before_sleep},
        {"try_once", part_try_once},
        {"again_when_taken", part_again_when_taken},
        {"try_leaves_none_behind", part_try_leaves_none_behind},
        {"fifo_lack", part_fifo_lack},
        {"outside_locks", part_outside_locks},
        {"one_at_a_time", part_one_at_a_time},
        {"shutdown_and_busy", part_shutdown_and_busy},
        {"deadlk", part_deadlk},
        {"accounts", part_accounts},
        {"waiter", part_waiter},
        {"set_waits", part_set_waits},
        {"stall", part_stall},
        {"fork", part_fork},
    };
    return run_parts("test_reclaim", parts, sizeof parts / sizeof *parts, argc, argv);
}
