/*
 * test_arena_faults: fault injection for the arena (src/arena.c), the
 * memory layer of every pool.  The library's calls to mmap, munmap and
 * madvise go through the wrappers below (the link uses
 * -Wl,--wrap=mmap,--wrap=munmap,--wrap=madvise, see
 * TEST_LDLIBS_test_arena_faults in mk/reliability.mk).  The wrappers count
 * the calls, fail the k-th one, every one, or (madvise) those that touch a
 * given address range, and keep the bytes the library has mapped, so that
 * "nothing left behind" is checked exactly.
 *
 * Each part runs in a child process of its own; the program fails if any
 * part fails.  `test_arena_faults PART...` runs only the parts named.
 *
 *   create       a reservation that always fails: bufpool_create returns
 *                -ENOMEM, *out is NULL and nothing stays mapped (default
 *                mode, 8-byte buffers whose bookkeeping is mapped too, FIFO,
 *                REGION, REGION|HUGEPAGES, a REGION of 2.5 GiB in pieces);
 *                then each mmap of create + allocate + destroy failing once:
 *                -ENOMEM or success, never a leak, and a pool that works
 *                (a default pool whose first reservation is refused takes a
 *                smaller one and still serves its whole budget);
 *   growth       a budget grown from 1 MiB to 64 MiB while every reservation
 *                fails: the allocation of 64 MiB returns -ENOMEM from try,
 *                timed, blocking and async-waiter calls alike, changes no
 *                statistic but the failure count and maps nothing; smaller
 *                allocations that fit the chunk still work; once mmap works
 *                again the same call succeeds and its memory is writable;
 *                then each mmap of the growth failing once;
 *   madvise      a seeded random scenario (allocations, releases, shrinks
 *                below in_use, growth, whole-budget requests; 4 KiB and
 *                1 KiB buffers; default and FIFO), run once per madvise
 *                call with that call failing, and once with every madvise
 *                failing.  After every step: the content of every live
 *                allocation is intact, in_use and live_allocations are
 *                exact, and after a step without a fault in_use + cached <=
 *                max (when in_use <= max); an allocation that fits the
 *                budget succeeds, or, if the fault hit its own purge, fails
 *                with -EAGAIN and succeeds when tried again; at the end the
 *                whole budget is served and nothing stays mapped;
 *   madvise_live_run  the one interleaving that the sweep may miss, built
 *                on purpose: the purge of a run's own resident buffers fails
 *                (the pool being over a shrunk budget, whose purge failed
 *                too) while the purge of other free memory succeeds; the run
 *                is handed out; a later shrink must not purge (zero) the
 *                live allocation, and cached_bytes must not count it.
 * Exit 0 pass, 1 fail.
 */
#define _GNU_SOURCE
#include "bufpool.h"
#define CHECK_PARTS
#include "check.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define KiB ((size_t)1024)
#define MiB (KiB * KiB)
#define GiB (MiB * KiB)

/* ---- the wrappers ------------------------------------------------------- */

static struct {
    long mmap_calls, madvise_calls;
    long mmap_fail_at, madvise_fail_at; /* 1-based call number; 0: none */
    bool mmap_fail_all, madvise_fail_all;
    const char *madvise_lo, *madvise_hi; /* fail madvise on ranges touching [lo, hi) */
    long injected;
    long long mapped; /* bytes the library holds mapped */
} F;

void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __real_munmap(void *addr, size_t len);
int __real_madvise(void *addr, size_t len, int advice);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __wrap_munmap(void *addr, size_t len);
int __wrap_madvise(void *addr, size_t len, int advice);

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    long k = ++F.mmap_calls;
    if (F.mmap_fail_all || k == F.mmap_fail_at) {
        F.injected++;
        errno = ENOMEM;
        return MAP_FAILED;
    }
    void *p = __real_mmap(addr, len, prot, flags, fd, off);
    if (p != MAP_FAILED)
        F.mapped += (long long)len;
    return p;
}

int __wrap_munmap(void *addr, size_t len)
{
    int r = __real_munmap(addr, len);
    if (r == 0)
        F.mapped -= (long long)len;
    return r;
}

int __wrap_madvise(void *addr, size_t len, int advice)
{
    long k = ++F.madvise_calls;
    const char *p = addr;
    if (F.madvise_fail_all || k == F.madvise_fail_at ||
        (F.madvise_lo && p < F.madvise_hi && p + len > F.madvise_lo)) {
        F.injected++;
        errno = EAGAIN;
        return -1;
    }
    return __real_madvise(addr, len, advice);
}

static void faults_off(void)
{
    F.mmap_fail_at = F.madvise_fail_at = 0;
    F.mmap_fail_all = F.madvise_fail_all = false;
    F.madvise_lo = F.madvise_hi = NULL;
}

/* ---- helpers ------------------------------------------------------------- */

/* Stamp one word in every page an allocation touches (a purge zeroes whole
 * pages) and its last word; check them. */
static void fill(const bufpool_alloc *a, uint64_t tag)
{
    char *f = bufpool_alloc_first(a);
    size_t bytes = bufpool_alloc_bytes(a);
    for (size_t off = 0; off < bytes; off += 4096) {
        uint64_t v = tag ^ off;
        memcpy(f + off, &v, 8);
    }
    uint64_t v = ~tag;
    memcpy(f + bytes - 8, &v, 8);
}

static bool intact(const bufpool_alloc *a, uint64_t tag)
{
    const char *f = bufpool_alloc_first(a);
    size_t bytes = bufpool_alloc_bytes(a);
    uint64_t v;
    for (size_t off = 0; off < bytes; off += 4096) {
        memcpy(&v, f + off, 8);
        if (v != (tag ^ off))
            return false;
    }
    memcpy(&v, f + bytes - 8, 8);
    return v == ~tag;
}

/* The statistics a failed call must leave as they were. */
static void same_stats(const bufpool_stats *a, const bufpool_stats *b)
{
    CHECK_EQ(a->in_use_bytes, b->in_use_bytes);
    CHECK_EQ(a->cached_bytes, b->cached_bytes);
    CHECK_EQ(a->live_allocations, b->live_allocations);
    CHECK_EQ(a->total_allocations, b->total_allocations);
    CHECK_EQ(a->max_memory, b->max_memory);
    CHECK_EQ(a->waiters, b->waiters);
}

/* ---- create ---------------------------------------------------------------- */

struct cfg {
    const char *name;
    size_t bs, max;
    unsigned flags;
    size_t n; /* buffers to allocate and write after create */
};

static const struct cfg cfgs[] = {
    {"default 4 KiB", 4096, 64 * MiB, 0, 16384},
    {"default 8 B", 8, 64 * MiB, 0, 8 * MiB},
    {"FIFO 4 KiB", 4096, 8 * MiB, BUFPOOL_FIFO, 2048},
    {"REGION 4 KiB", 4096, 8 * MiB, BUFPOOL_REGION, 2048},
    {"REGION|HUGEPAGES", 4096, 8 * MiB, BUFPOOL_REGION | BUFPOOL_HUGEPAGES, 2048},
    {"REGION 2.5 GiB", 4096, 5 * GiB / 2, BUFPOOL_REGION, 16},
};

/* create, allocate c->n and write it, release, destroy; with the faults
 * set by the caller.  Returns the mmap calls made. */
static long create_run(const struct cfg *c)
{
    long before = F.mmap_calls;
    bufpool *p = (void *)1;
    bufpool_config cfg = {c->bs, c->max, c->flags};
    int r = bufpool_create(&p, &cfg);
    if (r != 0) {
        if (r != -ENOMEM)
            fprintf(stderr, "%s: create returned %d (%s)\n", c->name, r, bufpool_strerror(r));
        CHECK_EQ(r, -ENOMEM);
        CHECK(p == NULL);
        CHECK_EQ(F.mapped, 0); /* nothing left behind */
        return F.mmap_calls - before;
    }
    bufpool_alloc *a = (void *)1;
    bufpool_stats s0 = stats_of(p);
    r = bufpool_try_allocate(p, c->n, &a);
    if (r == -ENOMEM) { /* the fault hit the allocation: nothing changed, it works again */
        CHECK(a == NULL);
        bufpool_stats s1 = stats_of(p);
        same_stats(&s0, &s1);
        faults_off();
        r = bufpool_try_allocate(p, c->n, &a);
    }
    CHECK_EQ(r, 0);
    if (c->max < GiB)
        memset(bufpool_alloc_first(a), 0x5a, bufpool_alloc_bytes(a));
    bufpool_alloc_release(a);
    bufpool_destroy(p);
    CHECK_EQ(F.mapped, 0);
    return F.mmap_calls - before;
}

static void part_create(void)
{
    for (size_t i = 0; i < sizeof cfgs / sizeof *cfgs; i++) {
        const struct cfg *c = &cfgs[i];
        /* Every reservation refused. */
        faults_off();
        F.mmap_fail_all = true;
        long before = F.mmap_calls;
        bufpool *p = (void *)1;
        bufpool_config cfg = {c->bs, c->max, c->flags};
        CHECK_EQ(bufpool_create(&p, &cfg), -ENOMEM);
        CHECK(p == NULL);
        CHECK_EQ(F.mapped, 0);
        long tries = F.mmap_calls - before;
        CHECK(tries >= 1);
        faults_off();
        /* Each mmap failing once. */
        long total = create_run(c);
        CHECK(total >= 1);
        int failed = 0, worked = 0;
        for (long k = 1; k <= total; k++) {
            faults_off();
            F.mmap_calls = 0;
            F.injected = 0;
            F.mmap_fail_at = k;
            bufpool *q = (void *)1;
            int r = bufpool_create(&q, &cfg);
            if (r) {
                CHECK_EQ(r, -ENOMEM);
                CHECK(q == NULL);
                CHECK_EQ(F.mapped, 0);
                failed++;
                continue;
            }
            bufpool_destroy(q);
            CHECK_EQ(F.mapped, 0);
            /* the same fault, with the allocation after it */
            faults_off();
            F.mmap_calls = 0;
            F.mmap_fail_at = k;
            create_run(c);
            worked++;
        }
        faults_off();
        printf("create %s: all reservations refused: -ENOMEM after %ld mmap calls, nothing mapped; "
               "%ld mmap calls in create+allocate+destroy, each failing once: create -ENOMEM %d times, "
               "ok %d times, never a leak\n",
               c->name, tries, total, failed, worked);
    }
    /* A default pool whose first reservation (twice the budget) is refused
     * takes a smaller one and still serves the whole budget, also after
     * fragmentation. */
    faults_off();
    F.mmap_calls = 0;
    F.mmap_fail_at = 1;
    bufpool *p = make(4096, 4 * MiB, 0);
    faults_off();
    bufpool_alloc *a[1024], *mid, *all;
    for (int i = 0; i < 1024; i++)
        CHECK_EQ(bufpool_try_allocate(p, 1, &a[i]), 0);
    for (int i = 0; i < 1024; i += 2)
        bufpool_alloc_release(a[i]);
    /* 512 live in every other buffer: no run of 256 in the reservation,
     * but the budget covers it. */
    CHECK_EQ(bufpool_try_allocate(p, 256, &mid), 0);
    memset(bufpool_alloc_first(mid), 1, MiB);
    bufpool_alloc_release(mid);
    for (int i = 1; i < 1024; i += 2)
        bufpool_alloc_release(a[i]);
    CHECK_EQ(bufpool_try_allocate(p, 1024, &all), 0);
    memset(bufpool_alloc_first(all), 1, 4 * MiB);
    bufpool_alloc_release(all);
    bufpool_destroy(p);
    CHECK_EQ(F.mapped, 0);
}

/* ---- growth ------------------------------------------------------------------ */

static void growth_one(size_t bs)
{
    const size_t small = MiB, big = 64 * MiB, n = big / bs;
    faults_off();
    bufpool *p = make(bs, small, 0);
    bufpool_alloc *held, *c;
    CHECK_EQ(bufpool_try_allocate(p, 16, &held), 0);
    CHECK_EQ(bufpool_try_allocate(p, 16, &c), 0);
    memset(bufpool_alloc_first(held), 0x77, bufpool_alloc_bytes(held));
    bufpool_alloc_release(c); /* something cached */
    CHECK_EQ(bufpool_set_max_memory(p, big), 0);
    bufpool_stats s0 = stats_of(p);
    long long mapped = F.mapped;

    F.mmap_fail_all = true;
    F.mmap_calls = 0;
    bufpool_alloc *a = (void *)1;
    CHECK_EQ(bufpool_try_allocate(p, n, &a), -ENOMEM);
    CHECK(a == NULL);
    long tries = F.mmap_calls;
    CHECK(tries >= 1);
    a = (void *)1;
    CHECK_EQ(bufpool_allocate_timeout(p, n, 1000000000ull, &a), -ENOMEM);
    CHECK(a == NULL);
    a = (void *)1;
    CHECK_EQ(bufpool_allocate(p, n, &a), -ENOMEM); /* fails, does not wait */
    CHECK(a == NULL);
    bufpool_waiter *w;
    CHECK_EQ(bufpool_waiter_create(p, &w), 0);
    a = (void *)1;
    CHECK_EQ(bufpool_waiter_allocate(w, n, &a), -ENOMEM);
    CHECK(a == NULL);
    bufpool_stats s1 = stats_of(p);
    same_stats(&s0, &s1);
    CHECK_EQ(s1.total_failures, s0.total_failures + 4);
    CHECK_EQ(F.mapped, mapped);
    /* What fits the reserved chunk still works without mmap. */
    bufpool_alloc *x;
    CHECK_EQ(bufpool_try_allocate(p, 32, &x), 0);
    memset(bufpool_alloc_first(x), 1, bufpool_alloc_bytes(x));
    bufpool_alloc_release(x);
    faults_off();
    CHECK_EQ(bufpool_waiter_allocate(w, n / 2, &a), 0); /* the waiter works again too */
    bufpool_alloc_release(a);
    bufpool_waiter_destroy(w);
    bufpool_alloc_release(held);
    CHECK_EQ(bufpool_try_allocate(p, n, &a), 0);
    memset(bufpool_alloc_first(a), 0x33, big);
    bufpool_alloc_release(a);
    bufpool_destroy(p);
    CHECK_EQ(F.mapped, 0);

    /* Each mmap of the growth failing once. */
    long total = 0;
    for (long k = 0; k == 0 || k <= total; k++) {
        faults_off();
        p = make(bs, small, 0);
        CHECK_EQ(bufpool_set_max_memory(p, big), 0);
        s0 = stats_of(p);
        mapped = F.mapped;
        F.mmap_calls = 0;
        F.mmap_fail_at = k; /* 0: the dry run, which counts */
        int r = bufpool_try_allocate(p, n, &a);
        if (k == 0) {
            CHECK_EQ(r, 0);
            total = F.mmap_calls;
        } else if (r) {
            CHECK_EQ(r, -ENOMEM);
            s1 = stats_of(p);
            same_stats(&s0, &s1);
            CHECK_EQ(F.mapped, mapped);
            faults_off();
            CHECK_EQ(bufpool_try_allocate(p, n, &a), 0);
        }
        memset(bufpool_alloc_first(a), 2, big);
        bufpool_alloc_release(a);
        bufpool_destroy(p);
        CHECK_EQ(F.mapped, 0);
    }
    faults_off();
    printf("growth bs %zu: 1 -> 64 MiB with every reservation refused: -ENOMEM after %ld mmap calls, "
           "nothing changed; %ld mmap calls in the growth, each failing once: ok\n",
           bs, tries, total);
}

static void part_growth(void)
{
    growth_one(4096);
    growth_one(8); /* its chunk's bookkeeping is mapped too */
}

/* ---- madvise: the sweep ------------------------------------------------------- */

#define SC_UNITS 64
#define SC_STEPS 300

struct sc {
    bufpool *p;
    size_t bs, max;
    bufpool_alloc *a[SC_UNITS];
    uint64_t tag[SC_UNITS];
    size_t n, units;
};

static const char *sc_name;

static void sc_check(struct sc *s, int step, bool settled)
{
    for (size_t i = 0; i < s->n; i++) {
        if (!intact(s->a[i], s->tag[i]))
            fprintf(stderr, "%s, madvise fault %ld, step %d: a live allocation of %zu buffers lost its content\n",
                    sc_name, F.madvise_fail_at, step, bufpool_alloc_length(s->a[i]));
        CHECK(intact(s->a[i], s->tag[i]));
    }
    bufpool_stats st = stats_of(s->p);
    CHECK_EQ(st.in_use_bytes, s->units * s->bs);
    CHECK_EQ(st.live_allocations, s->n);
    CHECK_EQ(st.max_memory, s->max);
    if (settled && st.in_use_bytes <= st.max_memory && st.in_use_bytes + st.cached_bytes > st.max_memory) {
        fprintf(stderr, "%s, madvise fault %ld, step %d: in_use %zu + cached %zu > max %zu after a step without fault\n",
                sc_name, F.madvise_fail_at, step, st.in_use_bytes, st.cached_bytes, st.max_memory);
        CHECK(!"budget invariant");
    }
}

static void sc_add(struct sc *s, bufpool_alloc *a, uint64_t *seed)
{
    CHECK(s->n < SC_UNITS);
    s->tag[s->n] = rnd(seed);
    fill(a, s->tag[s->n]);
    s->a[s->n++] = a;
    s->units += bufpool_alloc_length(a);
}

/* One run of the scenario; returns the madvise calls it made. */
static long scenario(size_t bs, unsigned flags, uint64_t seed)
{
    struct sc s = {.bs = bs, .max = SC_UNITS * bs};
    long before = F.madvise_calls;
    s.p = make(bs, s.max, flags);
    for (int step = 0; step < SC_STEPS; step++) {
        long inj = F.injected;
        unsigned op = (unsigned)rnd_below(&seed, 100);
        bool settled = true;
        if (op < 35 && s.n) {
            size_t i = rnd_below(&seed, s.n);
            bufpool_alloc *a = s.a[i];
            s.units -= bufpool_alloc_length(a);
            s.a[i] = s.a[--s.n];
            s.tag[i] = s.tag[s.n];
            bufpool_alloc_release(a);
        } else if (op < 45) {
            size_t m = (SC_UNITS / 8 + rnd_below(&seed, SC_UNITS - SC_UNITS / 8 + 1)) * bs;
            CHECK_EQ(bufpool_set_max_memory(s.p, m), 0);
            s.max = m;
        } else if (op < 50) {
            CHECK_EQ(bufpool_set_max_memory(s.p, SC_UNITS * bs), 0);
            s.max = SC_UNITS * bs;
        } else {
            size_t free_units = s.max / bs > s.units ? s.max / bs - s.units : 0;
            size_t n = op < 60 && free_units ? free_units : 1 + rnd_below(&seed, op < 80 ? 4 : SC_UNITS / 4);
            bool fits = s.units + n <= s.max / bs;
            bufpool_alloc *a = (void *)1;
            int r = bufpool_try_allocate(s.p, n, &a);
            if (n * bs > s.max) {
                CHECK_EQ(r, -E2BIG);
                CHECK(a == NULL);
                settled = false; /* refused before any purge */
            } else if (!fits) {
                CHECK_EQ(r, -EAGAIN);
                CHECK(a == NULL);
                settled = false; /* a refusal purges only what it needs */
            } else if (r != 0) {
                /* Only a fault in this very call's purge may refuse it; the
                 * same call again (the fault was one-shot) succeeds. */
                if (!(F.injected > inj && r == -EAGAIN))
                    fprintf(stderr, "%s, madvise fault %ld, step %d: try_allocate(%zu) with %zu of %zu live: %d\n",
                            sc_name, F.madvise_fail_at, step, n, s.units, s.max / bs, r);
                CHECK(F.injected > inj && r == -EAGAIN);
                CHECK(a == NULL);
                if (!F.madvise_fail_all) {
                    r = bufpool_try_allocate(s.p, n, &a);
                    CHECK_EQ(r, 0);
                    sc_add(&s, a, &seed);
                } else {
                    settled = false;
                }
            } else {
                sc_add(&s, a, &seed);
            }
        }
        /* With every madvise failing nothing can be purged: the budget
         * invariant is checked only after recovery. */
        sc_check(&s, step, settled && F.injected == inj && !F.madvise_fail_all);
    }
    /* Recovery: faults off, everything released, the whole budget served,
     * a shrink gives everything back. */
    faults_off();
    while (s.n) {
        CHECK(intact(s.a[s.n - 1], s.tag[s.n - 1]));
        bufpool_alloc_release(s.a[--s.n]);
    }
    s.units = 0;
    CHECK_EQ(bufpool_set_max_memory(s.p, SC_UNITS * bs), 0);
    s.max = SC_UNITS * bs;
    sc_check(&s, SC_STEPS, true);
    bufpool_alloc *all;
    CHECK_EQ(bufpool_try_allocate(s.p, SC_UNITS, &all), 0);
    bufpool_alloc_release(all);
    CHECK_EQ(bufpool_set_max_memory(s.p, bs), 0);
    CHECK(stats_of(s.p).cached_bytes <= bs);
    bufpool_destroy(s.p);
    CHECK_EQ(F.mapped, 0);
    return F.madvise_calls - before;
}

static void sweep(const char *name, size_t bs, unsigned flags, uint64_t seed)
{
    sc_name = name;
    uint64_t t0 = now_ns();
    faults_off();
    F.injected = 0;
    long total = scenario(bs, flags, seed);
    CHECK(total > 0);
    long hit = 0;
    for (long k = 1; k <= total; k++) {
        faults_off();
        F.madvise_calls = 0;
        F.injected = 0;
        F.madvise_fail_at = k;
        scenario(bs, flags, seed);
        hit += F.injected;
    }
    /* Every madvise failing, then recovery. */
    faults_off();
    F.madvise_fail_all = true;
    F.injected = 0;
    scenario(bs, flags, seed);
    printf("madvise %s: %ld madvise calls, each failing once (%ld faults injected), then all failing: "
           "content intact, stats exact, budget restored, pool usable (%.2f s)\n",
           name, total, hit, (double)(now_ns() - t0) / 1e9);
    faults_off();
}

static void part_madvise(void)
{
    sweep("4 KiB default", 4096, 0, 1);
    sweep("4 KiB FIFO", 4096, BUFPOOL_FIFO, 2);
    sweep("1 KiB default", 1024, 0, 3);
    sweep("16 KiB default", 16384, 0, 4);
}

/* ---- madvise: the run's own purge fails --------------------------------------- */

static void part_madvise_live_run(void)
{
    const size_t bs = 4096;
    faults_off();
    bufpool *p = make(bs, 16 * bs, 0);
    /* Units, first fit from the chunk's start:
     *   0 a0 | 1 L1 | 2-3 r1 | 4 c | 5 L2 | 6-13 r2 | 14 L3 */
    bufpool_alloc *a0, *L1, *r1, *c, *L2, *r2, *L3, *x;
    CHECK_EQ(bufpool_try_allocate(p, 1, &a0), 0);
    CHECK_EQ(bufpool_try_allocate(p, 1, &L1), 0);
    CHECK_EQ(bufpool_try_allocate(p, 2, &r1), 0);
    CHECK_EQ(bufpool_try_allocate(p, 1, &c), 0);
    CHECK_EQ(bufpool_try_allocate(p, 1, &L2), 0);
    CHECK_EQ(bufpool_try_allocate(p, 8, &r2), 0);
    CHECK_EQ(bufpool_try_allocate(p, 1, &L3), 0);
    char *base = bufpool_alloc_first(a0);
    CHECK((char *)bufpool_alloc_first(r1) == base + 2 * bs);
    CHECK((char *)bufpool_alloc_first(c) == base + 4 * bs);
    CHECK((char *)bufpool_alloc_first(r2) == base + 6 * bs);
    CHECK((char *)bufpool_alloc_first(L3) == base + 14 * bs);
    memset(base, 1, 15 * bs);
    /* Unit 4 free and purged (clean): release it, shrink to what is live. */
    bufpool_alloc_release(c);
    CHECK_EQ(bufpool_set_max_memory(p, 14 * bs), 0);
    /* Units 0, 2-3 and 6-13 free and resident, over a budget of 10 whose
     * purge fails: 3 live + 11 cached > 10. */
    bufpool_alloc_release(a0);
    bufpool_alloc_release(r1);
    bufpool_alloc_release(r2);
    F.madvise_fail_all = true;
    CHECK_EQ(bufpool_set_max_memory(p, 10 * bs), 0);
    faults_off();
    bufpool_stats s = stats_of(p);
    printf("madvise_live_run: after the failed shrink: in_use %zu, cached %zu, max %zu buffers\n",
           s.in_use_bytes / bs, s.cached_bytes / bs, s.max_memory / bs);
    CHECK_EQ(s.in_use_bytes, 3 * bs);
    /* n = 3: first fit is units 2-4 (2 resident, 1 clean).  The purge of
     * unit 0 is not enough (over budget), so everything free is purged:
     * 6-13 go, but 2-3 (the run itself) fail. */
    F.madvise_lo = base + 2 * bs;
    F.madvise_hi = base + 4 * bs;
    int r = bufpool_try_allocate(p, 3, &x);
    faults_off();
    if (r != 0) { /* refusing is a correct answer too; then it must work now */
        CHECK_EQ(r, -EAGAIN);
        CHECK_EQ(bufpool_try_allocate(p, 3, &x), 0);
    }
    memset(bufpool_alloc_first(x), 0x5a, 3 * bs);
    s = stats_of(p);
    printf("madvise_live_run: run handed out at unit %ld: in_use %zu, cached %zu, max %zu buffers\n",
           (long)(((char *)bufpool_alloc_first(x) - base) / (long)bs), s.in_use_bytes / bs, s.cached_bytes / bs,
           s.max_memory / bs);
    CHECK_EQ(s.in_use_bytes, 6 * bs);
    bool cached_ok = s.cached_bytes == 0; /* nothing is free but what was purged */
    /* A shrink to what is live purges every free resident buffer. */
    CHECK_EQ(bufpool_set_max_memory(p, 6 * bs), 0);
    const unsigned char *q = bufpool_alloc_first(x);
    size_t lost = 0;
    for (size_t i = 0; i < 3 * bs; i++)
        lost += q[i] != 0x5a;
    printf("madvise_live_run: after a shrink to in_use: %zu of %zu bytes of the live allocation lost\n", lost,
           3 * bs);
    if (!cached_ok)
        fprintf(stderr, "madvise_live_run: cached_bytes counts buffers of a live allocation\n");
    if (lost)
        fprintf(stderr, "madvise_live_run: a purge zeroed a live allocation (MADV_DONTNEED on it)\n");
    bufpool_alloc_release(x);
    bufpool_alloc_release(L1);
    bufpool_alloc_release(L2);
    bufpool_alloc_release(L3);
    bufpool_destroy(p);
    CHECK_EQ(lost, 0);
    CHECK(cached_ok);
}

/* ---- the parts ---------------------------------------------------------------- */

static const struct test_part parts[] = {
    {"create", part_create},
    {"growth", part_growth},
    {"madvise", part_madvise},
    {"madvise_live_run", part_madvise_live_run},
};

int main(int argc, char **argv)
{
    return run_parts("test_arena_faults", parts, sizeof parts / sizeof *parts, argc, argv);
}
