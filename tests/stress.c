/*
 * stress: many threads (more than cores) on a tight budget, every call kind
 * (blocking, try, timed, async waiter polled on its fd), retain/release
 * across threads through a hand-off queue, set_max_memory changes, and a
 * shutdown in the middle of each run.  Checked while it runs:
 *   - the budget: a sampler thread checks in_use + cached <= max_memory
 *     (after a shrink, the old budget is allowed until the pool has come
 *     under the new one, which must happen within SHRINK_GRACE seconds);
 *   - no two live allocations overlap (a registry of live ranges) and none
 *     is corrupted (each is filled with its owner's tag and verified before
 *     every release);
 *   - progress: a watchdog fails the run if no request completes for
 *     WATCHDOG seconds while requests are waiting (a lost wakeup);
 *   - results: only the errors the contract allows at that moment;
 *   - the end: live_allocations == 0 and waiters == 0 before destroy, the
 *     pool's totals equal the callers' counts, and destroy returns.
 * Runs default, BUFPOOL_FIFO and BUFPOOL_REGION pools in turn.
 *
 * Usage: stress [seconds]  (default 10, or BUFPOOL_STRESS_SECONDS), split
 * evenly between the modes.  Exit 0 pass, 1 fail.
 */
#define _GNU_SOURCE
#include "bufpool.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NWORKERS 6
#define BS 256
#define MAXN 8
#define BASE_BUFS 32 /* the budget in buffers at the start */
#define LO_BUFS 4    /* the smallest budget ever set */
#define HI_BUFS 64   /* the largest */
#define QCAP 16
#define WATCHDOG 10.0
#define SHRINK_GRACE 5.0

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static bufpool *pool;
static unsigned mode;
static atomic_bool stop, shut_started, shut_done;
static atomic_uint_fast64_t completions, successes, failures;
static atomic_int inflight;
static atomic_size_t allowed_hi; /* the largest budget that may still be in effect */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(const char *fmt, ...)
{
    static atomic_flag once = ATOMIC_FLAG_INIT;
    if (atomic_flag_test_and_set(&once))
        for (;;)
            pause(); /* the first failure reports and exits */
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "stress (mode %u): FAIL: ", mode);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (pool) {
        bufpool_stats st;
        bufpool_get_stats(pool, &st);
        fprintf(stderr, "  stats: max=%zu in_use=%zu cached=%zu live=%zu waiters=%zu allocs=%" PRIu64
                        " failures=%" PRIu64 " waits=%" PRIu64 "\n",
                st.max_memory, st.in_use_bytes, st.cached_bytes, st.live_allocations, st.waiters,
                st.total_allocations, st.total_failures, st.total_waits);
    }
    fflush(stderr);
    _exit(1);
}

/* ---- the registry of live allocations: overlap and corruption ---------- */

struct item {
    bufpool_alloc *a;
    uint64_t tag;
    size_t bytes;
    atomic_int refs; /* our references; the last one unregisters */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct item *live[NWORKERS * 4 + QCAP + 8];
static size_t nlive;

static void reg_add(struct item *it)
{
    char *p = bufpool_alloc_first(it->a);
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < nlive; i++) {
        char *q = bufpool_alloc_first(live[i]->a);
        if (!(p + it->bytes <= q || q + live[i]->bytes <= p))
            fail("allocation %p [%p, +%zu) overlaps live %p [%p, +%zu)", (void *)it->a, (void *)p, it->bytes,
                 (void *)live[i]->a, (void *)q, live[i]->bytes);
    }
    if (nlive == sizeof live / sizeof *live)
        fail("registry full");
    live[nlive++] = it;
    pthread_mutex_unlock(&reg_lock);
}

static void reg_del(struct item *it)
{
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < nlive; i++)
        if (live[i] == it) {
            live[i] = live[--nlive];
            pthread_mutex_unlock(&reg_lock);
            return;
        }
    fail("item not registered");
}

static void fill(struct item *it)
{
    uint64_t *w = bufpool_alloc_first(it->a);
    for (size_t i = 0; i < it->bytes / 8; i++)
        w[i] = it->tag ^ i;
}

static void verify(struct item *it)
{
    const uint64_t *w = bufpool_alloc_first(it->a);
    for (size_t i = 0; i < it->bytes / 8; i++)
        if (w[i] != (it->tag ^ i))
            fail("allocation %p corrupted at word %zu: %#" PRIx64 ", expected %#" PRIx64, (void *)it->a, i,
                 w[i], it->tag ^ i);
}

static void put(struct item *it)
{
    verify(it);
    bufpool_alloc *a = it->a;
    if (atomic_fetch_sub(&it->refs, 1) == 1) {
        reg_del(it);
        free(it);
    }
    bufpool_alloc_release(a);
}

/* ---- the hand-off queue --------------------------------------------------- */

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static struct item *q[QCAP];
static size_t qn;

static bool q_push(struct item *it)
{
    pthread_mutex_lock(&q_lock);
    bool ok = qn < QCAP;
    if (ok)
        q[qn++] = it;
    pthread_mutex_unlock(&q_lock);
    return ok;
}

static struct item *q_pop(void)
{
    pthread_mutex_lock(&q_lock);
    struct item *it = qn ? q[--qn] : NULL;
    pthread_mutex_unlock(&q_lock);
    return it;
}

/* ---- workers -------------------------------------------------------------- */

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

enum { K_BLOCK, K_TRY, K_TIMED, K_ASYNC };

/* One request of n buffers with the given call kind.  The worker holds
 * nothing while it waits, so the test itself cannot deadlock. */
static int request(bufpool_waiter *w, int kind, size_t n, uint64_t *s, bufpool_alloc **out)
{
    int r;
    switch (kind) {
    case K_BLOCK:
        return bufpool_allocate(pool, n, out);
    case K_TRY:
        return bufpool_try_allocate(pool, n, out);
    case K_TIMED:
        return bufpool_allocate_timeout(pool, n, rnd(s) % 2000000, out);
    default:
        for (;;) {
            r = bufpool_waiter_allocate(w, n, out);
            if (r != 0) /* the pool counts every try that is not granted */
                atomic_fetch_add(&failures, 1);
            if (r != -EAGAIN)
                return r;
            if (rnd(s) % 64 == 0) { /* give up now and then */
                bufpool_waiter_cancel(w);
                return -EAGAIN;
            }
            struct pollfd pfd = {.fd = bufpool_waiter_fd(w), .events = POLLIN};
            int pr = poll(&pfd, 1, 1000);
            if (pr < 0 && errno != EINTR)
                fail("poll: %s", strerror(errno));
        }
    }
}

static void *worker(void *arg)
{
    uint64_t s = 0x9e3779b97f4a7c15ull * (uintptr_t)arg + 1;
    uint64_t seq = 0;
    bufpool_waiter *w;
    int r = bufpool_waiter_create(pool, &w);
    if (r)
        fail("waiter_create: %d", r);
    while (!atomic_load(&stop)) {
        /* release some handed-off allocations first, from another thread */
        if (rnd(&s) % 4 == 0) {
            struct item *it = q_pop();
            if (it)
                put(it);
        }
        int kind = (int)(rnd(&s) % 4);
        size_t n = 1 + rnd(&s) % (rnd(&s) % 4 == 0 ? MAXN : 2);
        bool was_shut = atomic_load(&shut_done); /* shutdown had returned */
        bufpool_alloc *a = (bufpool_alloc *)1;
        atomic_fetch_add(&inflight, 1);
        r = request(w, kind, n, &s, &a);
        atomic_fetch_sub(&inflight, 1);
        atomic_fetch_add(&completions, 1);
        if (r != 0) {
            if (a != NULL)
                fail("out-parameter not NULL after error %d", r);
            if (kind != K_ASYNC) /* request() counted those */
                atomic_fetch_add(&failures, 1);
            if (r == -ECANCELED) {
                if (!atomic_load(&shut_started))
                    fail("-ECANCELED before shutdown");
                break;
            }
            if (was_shut && r != -E2BIG)
                fail("error %d after shutdown, -ECANCELED expected", r);
            if (r == -E2BIG && n * BS <= LO_BUFS * BS)
                fail("-E2BIG for %zu buffers, the budget never went below %d", n, LO_BUFS);
            if (r == -EAGAIN && kind != K_TRY && kind != K_ASYNC)
                fail("-EAGAIN from a call kind %d", kind);
            if (r == -ETIMEDOUT && kind != K_TIMED)
                fail("-ETIMEDOUT from call kind %d", kind);
            if (r != -EAGAIN && r != -ETIMEDOUT && r != -E2BIG)
                fail("unexpected error %d (%s) from call kind %d", r, bufpool_strerror(r), kind);
            continue;
        }
        atomic_fetch_add(&successes, 1);
        if (bufpool_alloc_length(a) != n || bufpool_alloc_bytes(a) != n * BS)
            fail("allocation of %zu has length %zu", n, bufpool_alloc_length(a));
        if ((uintptr_t)bufpool_alloc_first(a) % BS)
            fail("misaligned allocation %p", bufpool_alloc_first(a));
        struct item *it = malloc(sizeof *it);
        if (!it)
            fail("malloc");
        it->a = a;
        it->bytes = n * BS;
        it->tag = ((uint64_t)(uintptr_t)arg << 56) ^ (++seq << 8) ^ 0x5a;
        atomic_init(&it->refs, 1);
        reg_add(it);
        fill(it);
        unsigned what = (unsigned)(rnd(&s) % 4);
        if (what == 0) {
            /* hand it to another thread, keeping a reference of our own */
            atomic_fetch_add(&it->refs, 1);
            if (bufpool_alloc_retain(a) != a)
                fail("retain returned another pointer");
            if (!q_push(it))
                put(it);
        } else if (what == 1) {
            if (!q_push(it)) /* hand over our only reference */
                put(it);
            continue;
        }
        if (rnd(&s) % 8 == 0)
            usleep((useconds_t)(rnd(&s) % 200));
        verify(it);
        put(it);
    }
    bufpool_waiter_destroy(w);
    return NULL;
}

/* A releaser that only takes allocations from the queue, after a while. */
static void *releaser(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        struct item *it = q_pop();
        if (it) {
            usleep(50);
            put(it);
        } else {
            usleep(100);
        }
    }
    return NULL;
}

/* ---- the sampler and the watchdog ---------------------------------------- */

static atomic_size_t shrink_target; /* nonzero while a shrink is not reached */
static _Atomic double shrink_time;

static void *sampler(void *arg)
{
    (void)arg;
    uint64_t last = 0;
    double last_change = now();
    while (!atomic_load(&stop)) {
        bufpool_stats st;
        bufpool_get_stats(pool, &st);
        size_t held = st.in_use_bytes + st.cached_bytes;
        size_t hi = atomic_load(&allowed_hi);
        if (held > st.max_memory && held > hi)
            fail("budget exceeded: in_use %zu + cached %zu > max_memory %zu (allowed %zu)", st.in_use_bytes,
                 st.cached_bytes, st.max_memory, hi);
        size_t target = atomic_load(&shrink_target);
        if (target && held <= target) {
            atomic_store(&shrink_target, 0);
        } else if (target && now() - atomic_load(&shrink_time) > SHRINK_GRACE) {
            fail("still over a shrunk budget after %.0f s: in_use %zu + cached %zu > %zu", SHRINK_GRACE,
                 st.in_use_bytes, st.cached_bytes, target);
        }
        uint64_t c = atomic_load(&completions);
        if (c != last) {
            last = c;
            last_change = now();
        } else if ((atomic_load(&inflight) > 0 || st.waiters > 0) && now() - last_change > WATCHDOG) {
            fail("no progress for %.0f s with %d requests in flight, %zu waiting (lost wakeup?)", WATCHDOG,
                 atomic_load(&inflight), st.waiters);
        }
        usleep(200);
    }
    return NULL;
}

/* ---- one run -------------------------------------------------------------- */

static void set_max(size_t bufs)
{
    size_t cur;
    bufpool_stats st;
    bufpool_get_stats(pool, &st);
    cur = st.max_memory;
    size_t v = bufs * BS;
    if (v < cur) {
        /* The old budget stays allowed until the pool is under the new one;
         * the sampler clears the target once it is. */
        size_t hi = atomic_load(&allowed_hi);
        if (cur > hi)
            atomic_store(&allowed_hi, cur);
        if (!atomic_load(&shrink_target)) {
            atomic_store(&shrink_time, now());
            atomic_store(&shrink_target, v);
        }
    }
    int r = bufpool_set_max_memory(pool, v);
    if (r)
        fail("set_max_memory(%zu): %d", v, r);
    if (v > atomic_load(&allowed_hi) || !atomic_load(&shrink_target))
        atomic_store(&allowed_hi, v);
}

static void run(unsigned flags, double seconds)
{
    mode = flags;
    bufpool_config cfg = {BS, (flags & BUFPOOL_REGION ? HI_BUFS : BASE_BUFS) * BS, flags};
    int r = bufpool_create(&pool, &cfg);
    if (r)
        fail("create: %d", r);
    if (flags & BUFPOOL_REGION)
        set_max(BASE_BUFS);
    atomic_store(&allowed_hi, (size_t)BASE_BUFS * BS);
    atomic_store(&shrink_target, 0);
    atomic_store(&stop, false);
    atomic_store(&shut_started, false);
    atomic_store(&shut_done, false);
    atomic_store(&successes, 0);
    atomic_store(&failures, 0);

    pthread_t th[NWORKERS], rel, smp;
    for (uintptr_t i = 0; i < NWORKERS; i++)
        pthread_create(&th[i], NULL, worker, (void *)(i + 1));
    pthread_create(&rel, NULL, releaser, NULL);
    pthread_create(&smp, NULL, sampler, NULL);

    static const size_t budgets[] = {BASE_BUFS, 16, 12, LO_BUFS, 24, HI_BUFS, 8, BASE_BUFS};
    double start = now(), shut_at = start + seconds * 0.8;
    uint64_t s = 12345 + flags;
    while (now() < shut_at) {
        usleep((useconds_t)(20000 + rnd(&s) % 80000));
        set_max(budgets[rnd(&s) % (sizeof budgets / sizeof *budgets)]);
    }
    /* Shutdown in the middle: every waiting and later request fails with
     * -ECANCELED; the workers then stop. */
    atomic_store(&shut_started, true);
    bufpool_shutdown(pool);
    atomic_store(&shut_done, true);
    for (int i = 0; i < NWORKERS; i++)
        pthread_join(th[i], NULL);
    usleep((useconds_t)(seconds * 0.2 * 1e6 / 4));
    atomic_store(&stop, true);
    pthread_join(rel, NULL);
    pthread_join(smp, NULL);
    struct item *it;
    while ((it = q_pop()))
        put(it);
    if (nlive)
        fail("%zu registered allocations left", nlive);

    bufpool_stats st;
    bufpool_get_stats(pool, &st);
    if (st.live_allocations != 0 || st.in_use_bytes != 0)
        fail("leak: %zu live allocations, %zu bytes in use at the end", st.live_allocations, st.in_use_bytes);
    if (st.waiters != 0)
        fail("%zu waiters left at the end", st.waiters);
    if (st.peak_in_use_bytes > (size_t)HI_BUFS * BS)
        fail("peak_in_use_bytes %zu is more than the largest budget ever set, %d", st.peak_in_use_bytes,
             HI_BUFS * BS);
    if (st.total_allocations != atomic_load(&successes))
        fail("total_allocations %" PRIu64 " != %" PRIu64 " granted", st.total_allocations,
             (uint64_t)atomic_load(&successes));
    if (st.total_failures != atomic_load(&failures))
        fail("total_failures %" PRIu64 " != %" PRIu64 " failed", st.total_failures,
             (uint64_t)atomic_load(&failures));
    printf("mode %u: %.1f s, %" PRIu64 " granted, %" PRIu64 " failed, %" PRIu64 " waits, peak %zu of max %d\n",
           flags, now() - start, st.total_allocations, st.total_failures, st.total_waits, st.peak_in_use_bytes,
           HI_BUFS * BS);
    alarm(30); /* destroy must return */
    bufpool_destroy(pool);
    alarm(0);
    pool = NULL;
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "stress: FAIL: bufpool_destroy did not return\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

int main(int argc, char **argv)
{
    double seconds = 10;
    const char *env = getenv("BUFPOOL_STRESS_SECONDS");
    if (argc > 1)
        seconds = atof(argv[1]);
    else if (env)
        seconds = atof(env);
    if (seconds < 0.3)
        seconds = 0.3;
    signal(SIGALRM, on_alarm);
    static const unsigned modes[] = {0, BUFPOOL_FIFO, BUFPOOL_REGION};
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++)
        run(modes[i], seconds / 3);
    printf("stress: pass\n");
    return 0;
}
