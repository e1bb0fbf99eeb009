/*
 * test_watch: watermark watches (issue 23).  A watch created above its
 * high mark is readable at once; a crossing makes the fd readable by the
 * time the call that crossed returns and not before, once per crossing
 * (exactly one write(), counted through -Wl,--wrap=write), never for
 * moves within (low, high), on every path that moves the level: cache
 * hits and misses, lengths above the fast paths', try, timed, async
 * waiter and account allocations, releases on another thread, shared
 * releases, a FIFO pool; unread crossings coalesce and
 * bufpool_watch_state drains the fd and says the current state; an armed
 * roundtrip makes no system call without a crossing (syscall() and
 * write() counted); an account's watch counts only its subtree, in use
 * and not cached; the argument errors; -EBUSY for an account with a
 * watch; -ECANCELED after shutdown, while a watch made before keeps
 * working; threads crossing the marks at once leave the state and the
 * level exact, and so do watches armed and destroyed while threads run
 * their fast paths; a child of fork() gets -EBADF from the parent's
 * watches, never writes their fds, and may make its own.
 */
#define _GNU_SOURCE
#include "bufpool.h"
#define CHECK_PARTS
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { BS = 64 };

/* ---- what the library does: its write() and syscall() calls ---- */

static _Atomic long n_writes, n_syscalls;

ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
    atomic_fetch_add(&n_writes, 1);
    return __real_write(fd, buf, n);
}

long __real_syscall(long nr, ...);
long __wrap_syscall(long nr, ...)
{
    va_list ap;
    va_start(ap, nr);
    long a[6];
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    atomic_fetch_add(&n_syscalls, 1);
    return __real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

static bool readable(const bufpool_watch *w)
{
    struct pollfd p = {.fd = bufpool_watch_fd(w), .events = POLLIN};
    int r = poll(&p, 1, 0);
    CHECK(r >= 0);
    return r == 1 && (p.revents & POLLIN);
}

/* The eventfd's counter, read (and so reset): the writes since the last
 * read. */
static uint64_t counter(const bufpool_watch *w)
{
    uint64_t v;
    ssize_t r = read(bufpool_watch_fd(w), &v, sizeof v);
    if (r < 0) {
        CHECK_EQ(errno, EAGAIN);
        return 0;
    }
    CHECK_EQ(r, sizeof v);
    return v;
}

static bufpool_watch *watch(bufpool *p, bufpool_account *a, size_t high, size_t low)
{
    bufpool_watch *w = NULL;
    CHECK_EQ(bufpool_watch_create(p, a, high, low, &w), 0);
    CHECK(w != NULL);
    return w;
}

static size_t in_use(bufpool *p)
{
    return stats_of(p).in_use_bytes;
}

/*
 * The level the watches keep is the pool's in-use bytes, to the buffer:
 * a watch whose high mark is the level is readable at once, one a buffer
 * higher is not and turns readable at the next buffer.  Call with a watch
 * of the pool armed, so that these read the level kept, not a new sum.
 */
static void check_exact(bufpool *p)
{
    size_t level = in_use(p);
    if (level >= BS) {
        bufpool_watch *at = watch(p, NULL, level, level - BS);
        CHECK(readable(at));
        CHECK_EQ(bufpool_watch_state(at), 1);
        bufpool_watch_destroy(at);
    }
    bufpool_watch *above = watch(p, NULL, level + BS, level);
    CHECK(!readable(above));
    CHECK_EQ(bufpool_watch_state(above), 0);
    bufpool_alloc *x;
    CHECK_EQ(bufpool_try_allocate(p, 1, &x), 0);
    CHECK(readable(above));
    bufpool_alloc_release(x);
    CHECK_EQ(counter(above), 2); /* up at the allocation, down at the release */
    bufpool_watch_destroy(above);
}

/* ---- the semantics, one thread ---- */

static void part_initial(void)
{
    bufpool *p = make(BS, 64 * BS, 0);
    bufpool_alloc *x;
    CHECK_EQ(bufpool_allocate(p, 8, &x), 0);
    bufpool_watch *at = watch(p, NULL, 8 * BS, 4 * BS);
    CHECK(readable(at)); /* at its high mark already */
    CHECK_EQ(bufpool_watch_state(at), 1);
    CHECK(!readable(at)); /* drained */
    CHECK_EQ(bufpool_watch_state(at), 1);
    bufpool_watch *above = watch(p, NULL, 8 * BS + 1, 4 * BS); /* 9 buffers */
    CHECK(!readable(above));
    CHECK_EQ(bufpool_watch_state(above), 0);
    /* cached memory is not in use */
    bufpool_alloc_release(x);
    bufpool_watch *cached = watch(p, NULL, BS, 0);
    CHECK(!readable(cached));
    CHECK_EQ(bufpool_watch_state(cached), 0);
    bufpool_watch_destroy(cached);
    bufpool_watch_destroy(above);
    bufpool_watch_destroy(at);
    bufpool_destroy(p);
}

/* One way to allocate n buffers and to release them. */
struct way {
    const char *name;
    size_t n;
    int (*alloc)(bufpool *p, size_t n, bufpool_alloc **out);
    void (*release)(bufpool_alloc *a);
};

static int by_allocate(bufpool *p, size_t n, bufpool_alloc **out) { return bufpool_allocate(p, n, out); }
static int by_try(bufpool *p, size_t n, bufpool_alloc **out) { return bufpool_try_allocate(p, n, out); }
static int by_timeout(bufpool *p, size_t n, bufpool_alloc **out)
{
    return bufpool_allocate_timeout(p, n, 1000000000u, out);
}

static int by_waiter(bufpool *p, size_t n, bufpool_alloc **out)
{
    bufpool_waiter *w;
    CHECK_EQ(bufpool_waiter_create(p, &w), 0);
    int r = bufpool_waiter_allocate(w, n, out);
    bufpool_waiter_destroy(w);
    return r;
}

static bufpool_account *the_account;
static int by_account(bufpool *p, size_t n, bufpool_alloc **out)
{
    (void)p;
    return bufpool_account_allocate(the_account, n, BUFPOOL_FOREVER, out);
}

static void *release_there(void *a)
{
    bufpool_alloc_release(a);
    return NULL;
}

static void release_elsewhere(bufpool_alloc *a)
{
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, release_there, a), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
}

static void release_shared(bufpool_alloc *a)
{
    bufpool_alloc_retain(a);
    bufpool_alloc_release(a);
    bufpool_alloc_release(a);
}

/*
 * Up to six allocations, one at a time: the fd turns readable with the
 * fourth (high: 4n buffers), exactly one write; then down: readable with
 * the release that leaves n buffers (low), and at no other step.  Twice,
 * so that the second round runs from the thread's cache.
 */
static void crossings(bufpool *p, const struct way *way)
{
    size_t n = way->n;
    bufpool_watch *w = watch(p, NULL, 4 * n * BS, n * BS);
    bufpool_alloc *a[6];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 6; i++) {
            atomic_store(&n_writes, 0);
            CHECK_EQ(way->alloc(p, n, &a[i]), 0);
            bool crossed = i == 3;
            if (readable(w) != crossed || atomic_load(&n_writes) != crossed) {
                fprintf(stderr, "%s, round %d: allocation %d\n", way->name, round, i);
                CHECK(!"readable exactly after the call that crossed high");
            }
            CHECK_EQ(counter(w), crossed);
        }
        CHECK_EQ(bufpool_watch_state(w), 1);
        for (int i = 5; i >= 0; i--) {
            atomic_store(&n_writes, 0);
            way->release(a[i]);
            bool crossed = i == 1;
            if (readable(w) != crossed || atomic_load(&n_writes) != crossed) {
                fprintf(stderr, "%s, round %d: release %d\n", way->name, round, i);
                CHECK(!"readable exactly after the call that crossed low");
            }
            CHECK_EQ(counter(w), crossed);
        }
        CHECK_EQ(bufpool_watch_state(w), 0);
    }
    check_exact(p);
    bufpool_watch_destroy(w);
}

static void part_crossings(void)
{
    const struct way ways[] = {
        {"allocate", 1, by_allocate, bufpool_alloc_release},
        {"try", 2, by_try, bufpool_alloc_release},
        {"timeout", 3, by_timeout, bufpool_alloc_release},
        {"long", 20, by_allocate, bufpool_alloc_release},
        {"waiter", 2, by_waiter, bufpool_alloc_release},
        {"account", 1, by_account, bufpool_alloc_release},
        {"elsewhere", 1, by_allocate, release_elsewhere},
        {"shared", 1, by_allocate, release_shared},
    };
    for (unsigned flags = 0; flags <= BUFPOOL_FIFO; flags += BUFPOOL_FIFO) {
        for (size_t i = 0; i < sizeof ways / sizeof *ways; i++) {
            bufpool *p = make(BS, 256 * BS, flags);
            bufpool_account_config c = {.name = "a"};
            CHECK_EQ(bufpool_account_create(p, NULL, &c, &the_account), 0);
            crossings(p, &ways[i]);
            CHECK_EQ(bufpool_account_destroy(the_account), 0);
            bufpool_destroy(p);
        }
    }
}

/* Moves within (low, high) write nothing and make no system call; nor
 * does a roundtrip with the level far from both marks. */
static void part_within(void)
{
    bufpool *p = make(BS, 256 * BS, 0);
    bufpool_alloc *base, *x;
    CHECK_EQ(bufpool_allocate(p, 10, &base), 0);
    bufpool_watch *w = watch(p, NULL, 20 * BS, 5 * BS);
    CHECK_EQ(bufpool_watch_state(w), 0);
    for (int i = 0; i < 100; i++) { /* warm: the cache serves from here on */
        CHECK_EQ(bufpool_allocate(p, 1 + i % 9, &x), 0);
        bufpool_alloc_release(x);
    }
    atomic_store(&n_writes, 0);
    atomic_store(&n_syscalls, 0);
    for (int i = 0; i < 10000; i++) {
        CHECK_EQ(bufpool_allocate(p, 1 + i % 9, &x), 0);
        bufpool_alloc_release(x);
    }
    CHECK_EQ(atomic_load(&n_writes), 0);
    CHECK_EQ(atomic_load(&n_syscalls), 0);
    CHECK(!readable(w));
    CHECK_EQ(counter(w), 0);
    bufpool_alloc_release(base);
    CHECK(!readable(w)); /* at low, but never up: no crossing */
    CHECK_EQ(bufpool_watch_state(w), 0);
    bufpool_watch_destroy(w);
    bufpool_destroy(p);
}

/* Crossings not read coalesce: the fd is readable, its counter holds
 * them, and bufpool_watch_state drains it and says where the level is. */
static void part_coalesce(void)
{
    bufpool *p = make(BS, 64 * BS, 0);
    bufpool_watch *w = watch(p, NULL, 4 * BS, 2 * BS);
    bufpool_alloc *x;
    for (int i = 0; i < 3; i++) { /* up, down, up, down, up, down */
        CHECK_EQ(bufpool_allocate(p, 4, &x), 0);
        bufpool_alloc_release(x);
    }
    CHECK_EQ(bufpool_allocate(p, 5, &x), 0); /* up */
    CHECK(readable(w));
    CHECK_EQ(bufpool_watch_state(w), 1);
    CHECK(!readable(w));
    bufpool_alloc_release(x);
    CHECK_EQ(bufpool_allocate(p, 5, &x), 0);
    CHECK_EQ(counter(w), 2); /* down and up again, unread: one readiness */
    CHECK_EQ(bufpool_watch_state(w), 1);
    bufpool_alloc_release(x);
    CHECK_EQ(bufpool_watch_state(w), 0);
    bufpool_watch_destroy(w);
    bufpool_destroy(p);
}

/* ---- accounts ---- */

static bufpool_account *account(bufpool *p, bufpool_account *parent, const char *name)
{
    bufpool_account_config c = {.name = name};
    bufpool_account *a;
    CHECK_EQ(bufpool_account_create(p, parent, &c, &a), 0);
    return a;
}

static size_t acct_in_use(bufpool_account *a)
{
    bufpool_account_stats s;
    bufpool_account_get_stats(a, &s);
    return s.in_use_bytes;
}

/*
 * A watch of a child counts its subtree only, a watch of the parent both
 * children; both count what is in use, not what the account caches hold
 * (filled before the watches, so the arm finds them full).
 */
static void part_account(void)
{
    bufpool *p = make(BS, 256 * BS, 0);
    bufpool_account *top = account(p, NULL, "top"), *a = account(p, top, "a"), *b = account(p, top, "b");
    bufpool_alloc *xa[8], *xb[8];
    for (int i = 0; i < 5; i++) /* a's cache: 5 buffers, charged, not in use */
        CHECK_EQ(bufpool_account_allocate(a, 1, 0, &xa[i]), 0);
    for (int i = 0; i < 5; i++)
        bufpool_alloc_release(xa[i]);
    for (int i = 0; i < 2; i++)
        CHECK_EQ(bufpool_account_allocate(a, 1, 0, &xa[i]), 0);
    CHECK_EQ(acct_in_use(a), 2 * BS);
    bufpool_watch *wa = watch(p, a, 4 * BS, BS), *wtop = watch(p, top, 6 * BS, 2 * BS);
    bufpool_watch *wpool = watch(p, NULL, 8 * BS, BS);
    CHECK(!readable(wa) && !readable(wtop) && !readable(wpool)); /* 2 in use, 3 cached */
    for (int i = 0; i < 3; i++) { /* b to 3: top at 5 */
        CHECK_EQ(bufpool_account_allocate(b, 1, 0, &xb[i]), 0);
        CHECK(!readable(wa) && !readable(wtop));
    }
    CHECK_EQ(bufpool_account_allocate(a, 1, 0, &xa[2]), 0); /* a 3, top 6 */
    CHECK(!readable(wa));
    CHECK(readable(wtop));
    CHECK_EQ(counter(wtop), 1);
    CHECK_EQ(bufpool_account_allocate(a, 1, 0, &xa[3]), 0); /* a 4 */
    CHECK(readable(wa));
    CHECK_EQ(bufpool_watch_state(wa), 1);
    CHECK_EQ(acct_in_use(a), 4 * BS);
    CHECK_EQ(bufpool_allocate(p, 1, &xb[3]), 0); /* the pool: 8 */
    CHECK(readable(wpool) && !readable(wa));
    CHECK_EQ(counter(wpool), 1);
    bufpool_alloc_release(xb[3]);
    CHECK(readable(wpool) == false); /* 7: within */
    for (int i = 0; i < 3; i++) { /* b back to 0: top 4, the pool 4 */
        bufpool_alloc_release(xb[i]);
        CHECK(!readable(wa) && !readable(wtop));
    }
    bufpool_alloc_release(xa[3]); /* a 3, top 3 */
    bufpool_alloc_release(xa[2]); /* a 2, top 2: top down */
    CHECK(!readable(wa));
    CHECK(readable(wtop));
    CHECK_EQ(bufpool_watch_state(wtop), 0);
    bufpool_alloc_release(xa[1]); /* a 1: a down; the pool 1: down */
    CHECK(readable(wa) && readable(wpool));
    CHECK_EQ(bufpool_watch_state(wa), 0);
    CHECK_EQ(bufpool_watch_state(wpool), 0);
    check_exact(p);
    bufpool_alloc_release(xa[0]);
    bufpool_watch_destroy(wpool);
    bufpool_watch_destroy(wtop);
    bufpool_watch_destroy(wa);
    /* the account caches serve again */
    CHECK_EQ(bufpool_account_allocate(a, 1, 0, &xa[0]), 0);
    bufpool_alloc_release(xa[0]);
    CHECK_EQ(bufpool_account_destroy(a), 0);
    CHECK_EQ(bufpool_account_destroy(b), 0);
    CHECK_EQ(bufpool_account_destroy(top), 0);
    bufpool_destroy(p);
}

struct acct_req {
    bufpool_account *a;
    int r;
    bufpool_alloc *x;
};

static void *acct_blocked(void *arg)
{
    struct acct_req *q = arg;
    q->r = bufpool_account_allocate(q->a, 2, BUFPOOL_FOREVER, &q->x);
    return NULL;
}

/* A request that waits on its account's max is granted by a release
 * (waitq.c serves it, charging it): the watch rises then, once. */
static void part_account_grant(void)
{
    for (unsigned flags = 0; flags <= BUFPOOL_FIFO; flags += BUFPOOL_FIFO) {
        bufpool *p = make(BS, 64 * BS, flags);
        bufpool_account_config c = {.name = "capped", .max_bytes = 4 * BS};
        bufpool_account *a;
        CHECK_EQ(bufpool_account_create(p, NULL, &c, &a), 0);
        bufpool_alloc *x;
        CHECK_EQ(bufpool_account_allocate(a, 4, 0, &x), 0);
        bufpool_watch *w = watch(p, a, 4 * BS, 3 * BS);
        CHECK_EQ(bufpool_watch_state(w), 1);
        struct acct_req q = {a, 1, NULL};
        pthread_t t;
        CHECK_EQ(pthread_create(&t, NULL, acct_blocked, &q), 0);
        await_waiters(p, 1);
        bufpool_alloc_release(x); /* down to 0, then 2 for the waiter */
        CHECK_EQ(pthread_join(t, NULL), 0);
        CHECK_EQ(q.r, 0);
        CHECK_EQ(acct_in_use(a), 2 * BS);
        CHECK_EQ(counter(w), 1); /* down; 2 is not up */
        CHECK_EQ(bufpool_watch_state(w), 0);
        bufpool_watch *wp = watch(p, NULL, 100 * BS, 0);
        check_exact(p);
        bufpool_watch_destroy(wp);
        bufpool_alloc_release(q.x);
        bufpool_watch_destroy(w);
        CHECK_EQ(bufpool_account_destroy(a), 0);
        bufpool_destroy(p);
    }
}

/* ---- bad input, destroy, shutdown ---- */

static void part_errors(void)
{
    bufpool *p = make(BS, 64 * BS, 0), *q = make(BS, 64 * BS, 0);
    bufpool_account *other = account(q, NULL, "other");
    bufpool_watch *w = (bufpool_watch *)0x1;
    CHECK_EQ(bufpool_watch_create(NULL, NULL, 2 * BS, BS, &w), -EINVAL);
    CHECK(w == NULL);
    CHECK_EQ(bufpool_watch_create(p, NULL, 2 * BS, BS, NULL), -EINVAL);
    w = (bufpool_watch *)0x1;
    CHECK_EQ(bufpool_watch_create(p, NULL, 2 * BS, 2 * BS, &w), -EINVAL); /* low == high */
    CHECK(w == NULL);
    CHECK_EQ(bufpool_watch_create(p, NULL, BS, 2 * BS, &w), -EINVAL);     /* low > high */
    CHECK_EQ(bufpool_watch_create(p, NULL, 0, 0, &w), -EINVAL);           /* high 0 */
    CHECK_EQ(bufpool_watch_create(p, other, 2 * BS, BS, &w), -EINVAL);    /* another pool's */
    CHECK(w == NULL);
    CHECK_EQ(bufpool_watch_fd(NULL), -EINVAL);
    CHECK_EQ(bufpool_watch_state(NULL), -EINVAL);
    bufpool_watch_destroy(NULL);
    /* marks within a buffer: risen at ceil(high), fallen at floor(low) */
    w = watch(p, NULL, BS + 1, BS - 1);
    bufpool_alloc *x;
    CHECK_EQ(bufpool_allocate(p, 1, &x), 0);
    CHECK(!readable(w)); /* 64 < 65 */
    bufpool_alloc *y;
    CHECK_EQ(bufpool_allocate(p, 1, &y), 0);
    CHECK(readable(w));
    bufpool_alloc_release(y);
    CHECK_EQ(bufpool_watch_state(w), 1); /* 64 > 63 */
    bufpool_alloc_release(x);
    CHECK_EQ(bufpool_watch_state(w), 0);
    /* the fd: non-blocking, close-on-exec, the same for the watch's life */
    int fd = bufpool_watch_fd(w);
    CHECK(fd >= 0 && (fcntl(fd, F_GETFL) & O_NONBLOCK) && (fcntl(fd, F_GETFD) & FD_CLOEXEC));
    CHECK_EQ(bufpool_watch_fd(w), fd);
    bufpool_watch_destroy(w);
    CHECK_EQ(bufpool_account_destroy(other), 0);
    bufpool_destroy(q);
    bufpool_destroy(p);
}

static void part_account_busy(void)
{
    bufpool *p = make(BS, 64 * BS, 0);
    bufpool_account *a = account(p, NULL, "a");
    bufpool_watch *w = watch(p, a, 2 * BS, BS);
    CHECK_EQ(bufpool_account_destroy(a), -EBUSY);
    bufpool_watch_destroy(w);
    CHECK_EQ(bufpool_account_destroy(a), 0);
    bufpool_destroy(p);
}

/* Two watches of one pool: each its own marks; one destroyed, the other
 * goes on; both destroyed, the fast paths serve again. */
static void part_two(void)
{
    bufpool *p = make(BS, 64 * BS, 0);
    bufpool_watch *w1 = watch(p, NULL, 2 * BS, BS), *w2 = watch(p, NULL, 4 * BS, 2 * BS);
    bufpool_alloc *x[4];
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(bufpool_allocate(p, 1, &x[i]), 0);
        CHECK_EQ(readable(w1), i == 1);
        CHECK_EQ(readable(w2), i == 3);
        CHECK_EQ(counter(w1) + counter(w2), i == 1 || i == 3);
    }
    bufpool_watch_destroy(w1);
    for (int i = 3; i >= 0; i--) {
        bufpool_alloc_release(x[i]);
        CHECK_EQ(readable(w2), i == 2);
        CHECK_EQ(counter(w2), i == 2);
    }
    bufpool_watch_destroy(w2);
    atomic_store(&n_syscalls, 0);
    atomic_store(&n_writes, 0);
    for (int i = 0; i < 1000; i++) {
        CHECK_EQ(bufpool_allocate(p, 1, &x[0]), 0);
        bufpool_alloc_release(x[0]);
    }
    CHECK_EQ(atomic_load(&n_syscalls) + atomic_load(&n_writes), 0);
    bufpool_destroy(p);
}

static void part_shutdown(void)
{
    bufpool *p = make(BS, 64 * BS, 0);
    bufpool_alloc *x;
    CHECK_EQ(bufpool_allocate(p, 4, &x), 0);
    bufpool_watch *w = watch(p, NULL, 4 * BS, 2 * BS);
    CHECK_EQ(bufpool_watch_state(w), 1);
    bufpool_shutdown(p);
    bufpool_watch *late = (bufpool_watch *)0x1;
    CHECK_EQ(bufpool_watch_create(p, NULL, 4 * BS, 2 * BS, &late), -ECANCELED);
    CHECK(late == NULL);
    CHECK(!readable(w));
    bufpool_alloc_release(x); /* the drain still moves the level */
    CHECK(readable(w));
    CHECK_EQ(bufpool_watch_state(w), 0);
    bufpool_watch_destroy(w);
    bufpool_destroy(p);
}

/* ---- threads ---- */

enum { NT = 4, HOLD = 24 };

struct churn {
    bufpool *p;
    _Atomic int *stop;
    _Atomic int *paused; /* threads parked at the pause */
    _Atomic int *pause;
    bufpool_alloc *hold[HOLD];
    _Atomic(bufpool_alloc *) *handoff; /* a slot shared with the next thread */
    _Atomic(bufpool_alloc *) *take;    /* the previous thread's */
    uint64_t seed;
};

/* Allocate and release at random (lengths 1..20, so cache hits, misses and
 * long lengths), hand allocations to the next thread to release there;
 * park while *pause, holding what it holds. */
static void *churn(void *arg)
{
    struct churn *c = arg;
    while (!atomic_load(c->stop)) {
        if (atomic_load(c->pause)) {
            atomic_fetch_add(c->paused, 1);
            while (atomic_load(c->pause) && !atomic_load(c->stop))
                usleep(100);
            atomic_fetch_sub(c->paused, 1);
            continue;
        }
        bufpool_alloc *h = atomic_exchange(c->take, NULL);
        if (h)
            bufpool_alloc_release(h);
        size_t i = rnd_below(&c->seed, HOLD);
        if (c->hold[i]) {
            if (rnd_below(&c->seed, 4) == 0) {
                bufpool_alloc *old = atomic_exchange(c->handoff, c->hold[i]);
                if (old)
                    bufpool_alloc_release(old);
            } else {
                bufpool_alloc_release(c->hold[i]);
            }
            c->hold[i] = NULL;
        } else {
            size_t n = rnd_below(&c->seed, 8) == 0 ? 17 + rnd_below(&c->seed, 4) : 1 + rnd_below(&c->seed, 4);
            if (bufpool_try_allocate(c->p, n, &c->hold[i]) != 0)
                c->hold[i] = NULL;
        }
    }
    for (int i = 0; i < HOLD; i++)
        bufpool_alloc_release(c->hold[i]);
    bufpool_alloc_release(atomic_exchange(c->take, NULL));
    return NULL;
}

struct crew {
    pthread_t t[NT];
    struct churn c[NT];
    _Atomic(bufpool_alloc *) slot[NT];
    _Atomic int stop, pause, paused;
};

static void crew_start(struct crew *k, bufpool *p)
{
    memset(k, 0, sizeof *k);
    for (int i = 0; i < NT; i++) {
        k->c[i] = (struct churn){.p = p, .stop = &k->stop, .pause = &k->pause, .paused = &k->paused,
                                 .handoff = &k->slot[i], .take = &k->slot[(i + NT - 1) % NT],
                                 .seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1)};
        CHECK_EQ(pthread_create(&k->t[i], NULL, churn, &k->c[i]), 0);
    }
}

/* Park every thread (the level stands still), or let them go on. */
static void crew_pause(struct crew *k, bool on)
{
    atomic_store(&k->pause, on);
    while (on && atomic_load(&k->paused) != NT)
        usleep(100);
}

static void crew_stop(struct crew *k)
{
    atomic_store(&k->stop, 1);
    for (int i = 0; i < NT; i++)
        CHECK_EQ(pthread_join(k->t[i], NULL), 0);
}

/* The level stands still: the state agrees with it (the marks are
 * reached often), and the level kept is exact. */
static void check_quiet(bufpool *p, bufpool_watch *w, size_t high, size_t low)
{
    size_t level = in_use(p);
    int s = bufpool_watch_state(w);
    if (level >= high)
        CHECK_EQ(s, 1);
    if (level <= low)
        CHECK_EQ(s, 0);
    CHECK(!readable(w));
    check_exact(p);
}

/* Four threads cross the marks at once, one thread watching the fd; at
 * each pause the state and the level are exact. */
static void part_threads(void)
{
    for (unsigned flags = 0; flags <= BUFPOOL_FIFO; flags += BUFPOOL_FIFO) {
        bufpool *p = make(BS, 2048 * BS, flags);
        const size_t high = 120 * BS, low = 60 * BS;
        bufpool_watch *w = watch(p, NULL, high, low);
        struct crew k;
        crew_start(&k, p);
        for (int round = 0; round < 20; round++) {
            uint64_t end = now_ns() + 20000000u;
            int last = -1;
            while (now_ns() < end) {
                struct pollfd pf = {.fd = bufpool_watch_fd(w), .events = POLLIN};
                if (poll(&pf, 1, 1) == 1) {
                    int s = bufpool_watch_state(w);
                    CHECK(s == 0 || s == 1);
                    last = s;
                }
            }
            (void)last;
            crew_pause(&k, true);
            check_quiet(p, w, high, low);
            crew_pause(&k, false);
        }
        crew_stop(&k);
        CHECK_EQ(in_use(p), 0);
        CHECK_EQ(bufpool_watch_state(w), 0);
        bufpool_watch_destroy(w);
        bufpool_destroy(p);
    }
}

/* Watches armed and destroyed while the threads run their fast paths:
 * the first arm takes the level from the counters while they count, and
 * the level it keeps is exact at the next pause. */
static void part_arm_running(void)
{
    bufpool *p = make(BS, 2048 * BS, 0);
    struct crew k;
    crew_start(&k, p);
    for (int round = 0; round < 80; round++) {
        usleep(2000);
        bufpool_watch *w = watch(p, NULL, 100 * BS, 50 * BS); /* the first: arms */
        usleep(2000);
        crew_pause(&k, true);
        check_quiet(p, w, 100 * BS, 50 * BS);
        crew_pause(&k, false);
        usleep(1000);
        bufpool_watch_destroy(w); /* the last: disarms while they run */
    }
    crew_stop(&k);
    bufpool_destroy(p);
}

/* ---- fork() ---- */

static void part_fork(void)
{
    bufpool *p = make(BS, 64 * BS, 0);
    bufpool_account *a = account(p, NULL, "a");
    bufpool_watch *w = watch(p, NULL, 4 * BS, 2 * BS), *wa = watch(p, a, 2 * BS, BS);
    bufpool_alloc *x;
    CHECK_EQ(bufpool_allocate(p, 3, &x), 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        alarm(20);
        CHECK_EQ(bufpool_watch_state(w), -EBADF);
        CHECK_EQ(bufpool_watch_state(wa), -EBADF);
        bufpool_alloc *y, *z;
        CHECK_EQ(bufpool_allocate(p, 2, &y), 0); /* 5: the parent's watch would be up */
        CHECK_EQ(bufpool_account_allocate(a, 2, 0, &z), 0);
        CHECK_EQ(bufpool_account_destroy(a), -EBUSY); /* its inherited watch */
        bufpool_watch *mine = watch(p, NULL, 8 * BS, 2 * BS); /* 7 */
        CHECK(!readable(mine));
        bufpool_alloc *u;
        CHECK_EQ(bufpool_allocate(p, 1, &u), 0);
        CHECK(readable(mine));
        check_exact(p);
        bufpool_alloc_release(u);
        bufpool_alloc_release(z);
        bufpool_alloc_release(y);
        bufpool_alloc_release(x);
        CHECK_EQ(bufpool_watch_state(mine), 0);
        bufpool_watch_destroy(mine);
        bufpool_watch_destroy(wa);
        bufpool_watch_destroy(w);
        CHECK_EQ(bufpool_account_destroy(a), 0);
        bufpool_destroy(p);
        _exit(0);
    }
    int st;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(!readable(w) && !readable(wa)); /* the child wrote neither */
    bufpool_alloc *y;
    CHECK_EQ(bufpool_allocate(p, 1, &y), 0); /* 4: up, in the parent */
    CHECK(readable(w));
    CHECK_EQ(bufpool_watch_state(w), 1);
    check_exact(p);
    bufpool_alloc_release(y);
    bufpool_alloc_release(x);
    CHECK_EQ(bufpool_watch_state(w), 0);
    bufpool_watch_destroy(wa);
    bufpool_watch_destroy(w);
    CHECK_EQ(bufpool_account_destroy(a), 0);
    bufpool_destroy(p);
}

int main(int argc, char **argv)
{
    static const struct test_part parts[] = {
        {"initial", part_initial},
        {"crossings", part_crossings},
        {"within", part_within},
        {"coalesce", part_coalesce},
        {"account", part_account},
        {"account_grant", part_account_grant},
        {"errors", part_errors},
        {"account_busy", part_account_busy},
        {"two", part_two},
        {"shutdown", part_shutdown},
        {"threads", part_threads},
        {"arm_running", part_arm_running},
        {"fork", part_fork},
    };
    return run_parts("test_watch", parts, sizeof parts / sizeof *parts, argc, argv);
}
