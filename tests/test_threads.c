/*
 * test_threads: thread caches across many pools and thread lifetimes.  A
 * thread using more pools than it has cache slots, pools destroyed while
 * threads that used them live on, threads exiting with full caches (their
 * caches are adopted or given up on demand), and a churn of several
 * threads on one pool with every live allocation pattern-checked and the
 * budget sampled from another thread; and a snapshot's peak covering
 * memory taken from caches, which charges nothing.
 */
#define _GNU_SOURCE
#include "bufpool.h"
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

enum { POOLS = 7, THREADS = 4 };

struct many {
    bufpool **pools;
    int rounds;
};

/* Round-robin over more pools than a thread has cache slots (4). */
static void *many_pools_main(void *arg)
{
    struct many *m = arg;
    for (int r = 0; r < m->rounds; r++) {
        for (int i = 0; i < POOLS; i++) {
            bufpool_alloc *a;
            CHECK_EQ(bufpool_allocate(m->pools[i], 1 + (size_t)(r % 3), &a), 0);
            memset(bufpool_alloc_first(a), i, bufpool_alloc_bytes(a));
            bufpool_alloc_release(a);
        }
    }
    return NULL; /* exits with caches in up to 4 pools */
}

static void test_many_pools(void)
{
    bufpool *pools[POOLS];
    for (int i = 0; i < POOLS; i++)
        pools[i] = make(64, 64 * 8, i % 2 ? BUFPOOL_FIFO : 0);
    struct many m = {pools, 200};
    pthread_t t[THREADS];
    for (int k = 0; k < 3; k++) { /* generations of threads: caches adopted */
        for (int i = 0; i < THREADS; i++)
            pthread_create(&t[i], NULL, many_pools_main, &m);
        for (int i = 0; i < THREADS; i++)
            pthread_join(t[i], NULL);
    }
    for (int i = 0; i < POOLS; i++) {
        bufpool_stats st;
        bufpool_get_stats(pools[i], &st);
        CHECK_EQ(st.live_allocations, 0);
        CHECK_EQ(st.in_use_bytes, 0);
        CHECK_EQ(st.total_allocations, 3 * THREADS * 200);
        CHECK(st.cached_bytes <= st.max_memory);
        bufpool_alloc *a; /* exited threads' caches are given up on demand */
        CHECK_EQ(bufpool_try_allocate(pools[i], 8, &a), 0);
        bufpool_alloc_release(a);
    }
    /* destroy some pools while this thread still has their caches in its
     * slots, then keep using the others */
    for (int i = 0; i < POOLS; i += 2)
        bufpool_destroy(pools[i]);
    for (int r = 0; r < 50; r++)
        for (int i = 1; i < POOLS; i += 2) {
            bufpool_alloc *a;
            CHECK_EQ(bufpool_allocate(pools[i], 2, &a), 0);
            bufpool_alloc_release(a);
        }
    for (int i = 1; i < POOLS; i += 2)
        bufpool_destroy(pools[i]);
    /* a new pool after all that starts clean */
    bufpool *p = make(64, 64, 0);
    bufpool_alloc *a;
    CHECK_EQ(bufpool_allocate(p, 1, &a), 0);
    bufpool_alloc_release(a);
    bufpool_destroy(p);
}

/* ---- churn with pattern checks -------------------------------------- */

#define CHURN_BS 256
#define CHURN_MAX (CHURN_BS * 64)

struct churn {
    bufpool *p;
    atomic_int *stop;
    unsigned id;
    uint64_t seed, ops;
};

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void fill(bufpool_alloc *a, unsigned tag)
{
    uint32_t *w = bufpool_alloc_first(a);
    for (size_t i = 0; i < bufpool_alloc_bytes(a) / 4; i++)
        w[i] = tag ^ (uint32_t)i;
}

static void verify(bufpool_alloc *a, unsigned tag)
{
    const uint32_t *w = bufpool_alloc_first(a);
    for (size_t i = 0; i < bufpool_alloc_bytes(a) / 4; i++)
        CHECK(w[i] == (tag ^ (uint32_t)i)); /* overlap or corruption */
}

static void *churn_main(void *arg)
{
    struct churn *c = arg;
    bufpool_alloc *held[8] = {0};
    unsigned tags[8];
    while (!atomic_load_explicit(c->stop, memory_order_relaxed)) {
        unsigned slot = (unsigned)(rnd(&c->seed) % 8);
        if (held[slot]) {
            verify(held[slot], tags[slot]);
            bufpool_alloc_release(held[slot]);
            held[slot] = NULL;
            continue;
        }
        size_t n = 1 + rnd(&c->seed) % 8;
        bool holding = false;
        for (int i = 0; i < 8; i++)
            holding |= held[i] != NULL;
        int rc;
        switch (rnd(&c->seed) % 3) {
        case 0: /* block only when holding nothing: hold-and-wait could
                 * deadlock the threads among themselves */
            rc = holding ? bufpool_try_allocate(c->p, n, &held[slot])
                         : bufpool_allocate(c->p, n, &held[slot]);
            break;
        case 1: rc = bufpool_try_allocate(c->p, n, &held[slot]); break;
        default: rc = bufpool_allocate_timeout(c->p, n, 1000000, &held[slot]); break;
        }
        CHECK(rc == 0 || rc == -EAGAIN || rc == -ETIMEDOUT);
        if (rc == 0) {
            tags[slot] = (c->id << 24) ^ (unsigned)c->ops;
            fill(held[slot], tags[slot]);
            c->ops++;
        }
    }
    for (int i = 0; i < 8; i++)
        if (held[i]) {
            verify(held[i], tags[i]);
            bufpool_alloc_release(held[i]);
        }
    return NULL;
}

static void test_churn(unsigned flags)
{
    bufpool *p = make(CHURN_BS, CHURN_MAX, flags);
    atomic_int stop = 0;
    struct churn c[THREADS];
    pthread_t t[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        c[i] = (struct churn){p, &stop, i + 1, 0x9e3779b97f4a7c15u * (i + 1), 0};
        pthread_create(&t[i], NULL, churn_main, &c[i]);
    }
    uint64_t end = now_ns() + 1000000000u;
    while (now_ns() < end) { /* the budget, sampled from another thread */
        bufpool_stats st;
        bufpool_get_stats(p, &st);
        CHECK(st.in_use_bytes + st.cached_bytes <= st.max_memory);
        CHECK(st.in_use_bytes <= st.peak_in_use_bytes);
        usleep(500);
    }
    atomic_store(&stop, 1);
    uint64_t ops = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        ops += c[i].ops;
    }
    CHECK(ops > 1000);
    bufpool_stats st;
    bufpool_get_stats(p, &st);
    CHECK_EQ(st.live_allocations, 0);
    CHECK_EQ(st.total_allocations, ops);
    CHECK_EQ(st.waiters, 0);
    bufpool_destroy(p);
}

/* Holds 8 buffers of its own (a fresh charge) until told to let go. */
struct holder {
    bufpool *p;
    atomic_int go;
    bufpool_alloc *a[8];
};

static void *holder_main(void *arg)
{
    struct holder *h = arg;
    for (int i = 0; i < 8; i++)
        CHECK_EQ(bufpool_allocate(h->p, 1, &h->a[i]), 0);
    atomic_store(&h->go, 1);
    while (atomic_load(&h->go) != 2)
        usleep(100);
    for (int i = 0; i < 8; i++)
        bufpool_alloc_release(h->a[i]);
    return NULL;
}

/* The peak is sampled when the budget is charged and by every snapshot.
 * Here the last charge sees 8 buffers in use; then 8 more come out of a
 * cache, charging nothing.  A snapshot must report a peak of at least the
 * 16 it reports in use, from the same sum of the threads' counters (it
 * used to sample the peak from one sum and report in use from another, so
 * a concurrent allocation could put in use above the peak). */
static void test_peak_from_caches(void)
{
    bufpool *p = make(64, 64 * 1024, 0);
    bufpool_alloc *mine[8];
    for (int i = 0; i < 8; i++)
        CHECK_EQ(bufpool_allocate(p, 1, &mine[i]), 0);
    for (int i = 0; i < 8; i++)
        bufpool_alloc_release(mine[i]); /* into this thread's cache */
    struct holder h = {.p = p};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, holder_main, &h), 0);
    while (atomic_load(&h.go) != 1)
        usleep(100);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(bufpool_allocate(p, 1, &mine[i]), 0); /* from the cache */
    bufpool_stats st;
    bufpool_get_stats(p, &st);
    CHECK_EQ(st.in_use_bytes, 16 * 64);
    CHECK_EQ(st.cached_bytes, 0);
    CHECK(st.peak_in_use_bytes >= st.in_use_bytes);
    atomic_store(&h.go, 2);
    pthread_join(t, NULL);
    for (int i = 0; i < 8; i++)
        bufpool_alloc_release(mine[i]);
    bufpool_destroy(p);
}

int main(void)
{
    test_many_pools();
    test_churn(0);
    test_churn(BUFPOOL_FIFO);
    test_peak_from_caches();
    printf("test_threads: ok\n");
    return 0;
}
