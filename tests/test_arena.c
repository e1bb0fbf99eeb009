/*
 * test_arena: the arena (src/arena.c), the memory layer of every pool,
 * through the public API only.
 *
 * Each part runs in a child process of its own (so RSS figures start from a
 * known state and one failing part does not hide the others); the program
 * fails if any part fails.  `test_arena PART...` runs only the parts named.
 *
 *   any_run      a freed run serves any length: a budget filled with runs of
 *                mixed lengths (several mixes, buffer sizes 8 .. 64 KiB,
 *                default and FIFO) and released, some of it by other
 *                threads that exit, is cached in full (cached_bytes == the
 *                budget), and one try_allocate of the whole budget succeeds
 *                at once;
 *   interleave   random interleavings of allocations and releases (some
 *                released by short-lived threads): try_allocate succeeds
 *                whenever in_use + n <= max and fails with -EAGAIN
 *                otherwise; a timed call that fits never waits; live
 *                allocations never overlap (addresses and stamps); the stats
 *                match what is held, and in_use + cached <= max;
 *   rss          a 64 MiB budget filled with single 4 KiB buffers, each
 *                written: VmRSS grows by at most 1.05 times the budget; all
 *                released, try_allocate of the whole budget succeeds at once
 *                and RSS does not grow past that bound;
 *   purge        after releasing everything cached_bytes == what was used;
 *                set_max_memory to a quarter: cached_bytes <= the new max
 *                and VmRSS drops by what was uncharged (within 384 KiB);
 *                growing back, the whole budget is allocated and written
 *                within 1.05x; a shrink to one buffer brings RSS back to
 *                where it was before the pool (4 KiB and 64 KiB buffers);
 *   purge_small  the same for buffers smaller than a page (2 KiB, 512 B),
 *                released in an order that purges a page's buffers at
 *                different times: once every buffer is free and the budget
 *                is shrunk to 16 buffers, the pages go back to the system;
 *   growth       a 1 MiB budget grown to 64 MiB (beyond the address space
 *                reserved at create), in steps and at once: an allocation
 *                of the whole new budget succeeds and is writable, then many
 *                smaller ones fill it; a shrink gives the memory back;
 *   shrunk       a pool over a shrunk budget: live allocations stay intact,
 *                nothing stays cached while in_use > max, try_allocate is
 *                -EAGAIN while in_use + n > max and succeeds otherwise, and
 *                in_use + cached <= max once enough is released;
 *   small        buffer_size 8, 1,000,000 live allocations of n = 1: VmRSS
 *                growth per allocation at most 64 bytes (printed);
 *   create       a default pool with a 64 GiB budget (4 KiB and 8-byte
 *                buffers): create time printed, RSS growth under 1 MiB; it
 *                allocates, and is destroyed;
 *   region_small bufpool_region_iovecs and bufpool_alloc_buf_index on a small
 *                region (one piece, equal to bufpool_region's, index 0) and
 *                their errors (-EINVAL, -ENOTSUP);
 *   region_pieces a REGION pool of 2.5 GiB (never touched): 3 pieces of
 *                1 GiB, 1 GiB, 0.5 GiB, contiguous, as bufpool_region says;
 *                max < count writes only max; with 4 KiB and 1 MiB buffers,
 *                random allocations of every size up to 1 GiB until the
 *                region is full each lie in piece buf_index; allocations of
 *                1.5 GiB and 2.5 GiB span pieces (buf_index -ERANGE);
 *                largest_free_run equals the longest gap between live
 *                allocations (caches trimmed);
 *   region_waiter an opportunistic async waiter in a REGION pool of two
 *                pieces whose only free run of n crosses the piece boundary
 *                (so no allocation of n can be made): its fd must not be
 *                readable until memory comes back; a timed call waits and
 *                times out; after a release that makes a run, the waiter is
 *                served.  FIFO too.
 * Exit 0 pass, 1 fail.  RSS bounds are printed but not asserted under a
 * sanitizer (ASan's and TSan's shadow memory grows with what is touched).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bufpool.h"
#define CHECK_PARTS
#include "check.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__)
#define TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSAN 1
#endif
#endif
#ifndef TSAN
#define TSAN 0
#endif
#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif
#ifndef ASAN
#define ASAN 0
#endif
/* Sanitizers' shadow memory grows with what the program touches. */
#define SANITIZED (TSAN || ASAN)

#define KiB ((size_t)1024)
#define MiB (KiB * KiB)
#define GiB (MiB * KiB)

/* ---- helpers ------------------------------------------------------------ */

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    CHECK(f != NULL);
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
            break;
    fclose(f);
    CHECK(v >= 0);
    return v;
}

/* Make memory resident before a baseline is read (a plain memset of fresh
 * calloc memory may be optimized away). */
static void touch(void *p, size_t n)
{
    volatile char *c = p;
    for (size_t i = 0; i < n; i += 4096)
        c[i] = 0;
    if (n)
        c[n - 1] = 0;
}

/* An RSS bound (or a time): asserted, except under a sanitizer. */
#define CHECK_RSS(cond) do { if (!SANITIZED) CHECK(cond); } while (0)

/* A length in 1..max, spread evenly over the powers of two (log-uniform). */
static size_t rnd_log(uint64_t *s, size_t max)
{
    unsigned bits = 0;
    while (bits < 63 && ((size_t)2 << bits) <= max)
        bits++;
    size_t hi = (size_t)1 << rnd_below(s, bits + 1);
    size_t n = hi + rnd_below(s, hi);
    return n > max ? max : n < 1 ? 1 : n;
}

/* Stamp the first and last 8 bytes of every buffer (buffer_size >= 8), so
 * that overlapping or clobbered allocations show when they are re-read. */
static void stamp(const bufpool_alloc *a, size_t bs, uint64_t tag)
{
    for (size_t i = 0; i < bufpool_alloc_length(a); i++) {
        char *b = bufpool_alloc_buffer(a, i);
        uint64_t v = tag ^ (i * 0x9e3779b97f4a7c15ull);
        memcpy(b, &v, 8);
        memcpy(b + bs - 8, &v, 8);
    }
}

static void check_stamp(const bufpool_alloc *a, size_t bs, uint64_t tag)
{
    for (size_t i = 0; i < bufpool_alloc_length(a); i++) {
        const char *b = bufpool_alloc_buffer(a, i);
        uint64_t v = tag ^ (i * 0x9e3779b97f4a7c15ull), x, y;
        memcpy(&x, b, 8);
        memcpy(&y, b + bs - 8, 8);
        if (x != v || y != v)
            fprintf(stderr, "allocation %p (n %zu) buffer %zu: stamp lost\n", bufpool_alloc_first(a),
                    bufpool_alloc_length(a), i);
        CHECK(x == v && y == v);
    }
}

static void check_placement(const bufpool_alloc *a, size_t bs)
{
    uintptr_t first = (uintptr_t)bufpool_alloc_first(a);
    size_t align = bs < 4096 ? bs : 4096;
    CHECK(first != 0);
    CHECK_EQ(first % align, 0);
    CHECK_EQ(bufpool_alloc_bytes(a), bufpool_alloc_length(a) * bs);
}

/* The same for the first and last buffer only: cheap for long runs. */
static void stamp_ends(const bufpool_alloc *a, size_t bs, uint64_t tag)
{
    size_t n = bufpool_alloc_length(a);
    char *f = bufpool_alloc_buffer(a, 0), *l = bufpool_alloc_buffer(a, n - 1);
    memcpy(f, &tag, 8);
    memcpy(l + bs - 8, &tag, 8);
}

static void check_ends(const bufpool_alloc *a, size_t bs, uint64_t tag)
{
    size_t n = bufpool_alloc_length(a);
    const char *f = bufpool_alloc_buffer(a, 0), *l = bufpool_alloc_buffer(a, n - 1);
    uint64_t x, y;
    memcpy(&x, f, 8);
    memcpy(&y, l + bs - 8, 8);
    if (x != tag || y != tag)
        fprintf(stderr, "allocation %p (n %zu): stamp lost\n", bufpool_alloc_first(a), n);
    CHECK(x == tag && y == tag);
}

static bool overlaps(const bufpool_alloc *a, const bufpool_alloc *b)
{
    const char *x = bufpool_alloc_first(a), *y = bufpool_alloc_first(b);
    return x < y + bufpool_alloc_bytes(b) && y < x + bufpool_alloc_bytes(a);
}

/* Release a batch of allocations on a thread of its own, which then exits:
 * its cache is left to the pool, which must take it back when needed. */
struct batch {
    bufpool_alloc *a[16];
    uint64_t tag[16];
    size_t n, bs;
    bool ends; /* stamped with stamp_ends */
};

static void *batch_main(void *arg)
{
    struct batch *b = arg;
    for (size_t i = 0; i < b->n; i++) {
        if (b->ends)
            check_ends(b->a[i], b->bs, b->tag[i]);
        else
            check_stamp(b->a[i], b->bs, b->tag[i]);
        bufpool_alloc_release(b->a[i]);
    }
    return NULL;
}

static void release_on_thread(struct batch *b)
{
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, batch_main, b), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
}

/* Live allocations of a test, with their stamps. */
struct held {
    bufpool_alloc **a;
    uint64_t *tag;
    size_t n, cap, units; /* count, capacity, buffers held */
};

static void held_init(struct held *h, size_t cap)
{
    h->a = calloc(cap, sizeof *h->a);
    h->tag = calloc(cap, sizeof *h->tag);
    CHECK(h->a && h->tag);
    h->n = h->units = 0;
    h->cap = cap;
}

static void held_fini(struct held *h)
{
    free(h->a);
    free(h->tag);
}

static void held_add(struct held *h, bufpool_alloc *a, uint64_t tag)
{
    CHECK(h->n < h->cap);
    h->a[h->n] = a;
    h->tag[h->n] = tag;
    h->n++;
    h->units += bufpool_alloc_length(a);
}

/* Remove entry i (the last one takes its place) and return it. */
static bufpool_alloc *held_take(struct held *h, size_t i, uint64_t *tag)
{
    bufpool_alloc *a = h->a[i];
    if (tag)
        *tag = h->tag[i];
    h->units -= bufpool_alloc_length(a);
    h->a[i] = h->a[h->n - 1];
    h->tag[i] = h->tag[h->n - 1];
    h->n--;
    return a;
}

static void held_release_all(struct held *h, size_t bs, uint64_t *seed)
{
    while (h->n) {
        uint64_t tag;
        bufpool_alloc *a = held_take(h, seed ? rnd_below(seed, h->n) : h->n - 1, &tag);
        if (bs)
            check_stamp(a, bs, tag);
        bufpool_alloc_release(a);
    }
}

/* Shrinking the budget to one buffer and back takes every cached run back
 * (every thread's cache and the depot). */
static void trim_caches(bufpool *p)
{
    bufpool_stats s = stats_of(p);
    CHECK_EQ(bufpool_set_max_memory(p, s.buffer_size), 0);
    CHECK_EQ(bufpool_set_max_memory(p, s.max_memory), 0);
}

/* ---- any freed run serves any length ------------------------------------ */

static void any_run_one(size_t bs, size_t units, unsigned flags, uint64_t seed)
{
    bufpool *p = make(bs, units * bs, flags);
    struct held h;
    held_init(&h, units);
    for (int round = 0; round < 5; round++) {
        /* Fill the budget exactly with runs of one mix of lengths. */
        while (h.units < units) {
            size_t left = units - h.units, n;
            switch (round) {
            case 0: n = 1 + rnd_below(&seed, 8); break;
            case 1: n = 1 + rnd_below(&seed, units / 16); break;
            case 2: n = rnd_below(&seed, 4) ? 1 : 1 + rnd_below(&seed, units / 4); break;
            case 3: n = (size_t)1 << rnd_below(&seed, 8); break;
            default: n = rnd_log(&seed, units / 2); break;
            }
            n = n < left ? n : left;
            bufpool_alloc *a;
            int r = bufpool_try_allocate(p, n, &a);
            if (r)
                fprintf(stderr, "any_run bs %zu round %d: try_allocate(%zu) with %zu of %zu held: %s\n",
                        bs, round, n, h.units, units, bufpool_strerror(r));
            CHECK_EQ(r, 0);
            check_placement(a, bs);
            uint64_t tag = rnd(&seed);
            stamp(a, bs, tag);
            held_add(&h, a, tag);
        }
        for (size_t i = 0; i < h.n; i++)
            check_stamp(h.a[i], bs, h.tag[i]);
        bufpool_alloc *none;
        CHECK_EQ(bufpool_try_allocate(p, 1, &none), -EAGAIN);
        CHECK(none == NULL);
        /* Release everything in random order; in some rounds part of it
         * on threads that exit at once. */
        while (h.n) {
            if (round >= 3 && h.n > 16 && rnd_below(&seed, 4) == 0) {
                struct batch b = {.n = 16, .bs = bs};
                for (size_t i = 0; i < 16; i++)
                    b.a[i] = held_take(&h, rnd_below(&seed, h.n), &b.tag[i]);
                release_on_thread(&b);
                continue;
            }
            uint64_t tag;
            bufpool_alloc *a = held_take(&h, rnd_below(&seed, h.n), &tag);
            check_stamp(a, bs, tag);
            bufpool_alloc_release(a);
        }
        bufpool_stats s = stats_of(p);
        CHECK_EQ(s.in_use_bytes, 0);
        CHECK_EQ(s.live_allocations, 0);
        CHECK_EQ(s.cached_bytes, units * bs); /* nothing purged under the budget */
        /* One run of the whole budget, at once. */
        uint64_t waits = s.total_waits;
        bufpool_alloc *all;
        int r = bufpool_try_allocate(p, units, &all);
        if (r)
            fprintf(stderr, "any_run bs %zu flags %#x round %d: whole budget: %s\n", bs, flags, round,
                    bufpool_strerror(r));
        CHECK_EQ(r, 0);
        check_placement(all, bs);
        memset(bufpool_alloc_first(all), round, bufpool_alloc_bytes(all));
        s = stats_of(p);
        CHECK_EQ(s.in_use_bytes, units * bs);
        CHECK_EQ(s.cached_bytes, 0);
        CHECK_EQ(s.total_waits, waits);
        bufpool_alloc_release(all);
    }
    held_fini(&h);
    bufpool_destroy(p);
}

static void part_any_run(void)
{
    const size_t sizes[] = {8, 256, 4096, 65536};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t units = sizes[i] >= 65536 ? 512 : 4096;
        any_run_one(sizes[i], units, 0, 11 + i);
        any_run_one(sizes[i], units, BUFPOOL_FIFO, 23 + i);
    }
    printf("any_run: mixed runs released, the whole budget served at once (8 B .. 64 KiB, default and FIFO)\n");
}

/* ---- random interleavings ------------------------------------------------ */

static void interleave_one(size_t bs, size_t units, unsigned flags, uint64_t seed, int steps)
{
    bufpool *p = make(bs, units * bs, flags);
    const size_t max = units * bs;
    struct held h;
    held_init(&h, units);
    uint64_t grants = 0, refusals = 0, threads = 0;
    for (int step = 0; step < steps; step++) {
        unsigned op = (unsigned)rnd_below(&seed, 100);
        if (h.n && op < 44) {
            uint64_t tag;
            bufpool_alloc *a = held_take(&h, rnd_below(&seed, h.n), &tag);
            check_ends(a, bs, tag);
            bufpool_alloc_release(a);
        } else if (h.n >= 16 && op < 46) {
            struct batch b = {.n = 1 + rnd_below(&seed, 16), .bs = bs, .ends = true};
            for (size_t i = 0; i < b.n; i++)
                b.a[i] = held_take(&h, rnd_below(&seed, h.n), &b.tag[i]);
            release_on_thread(&b);
            threads++;
        } else {
            size_t n, k = rnd_below(&seed, 20);
            if (k < 11)
                n = 1 + rnd_below(&seed, 8);
            else if (k < 16)
                n = 1 + rnd_below(&seed, units / 8);
            else if (k < 18)
                n = 1 + rnd_below(&seed, units);
            else
                n = units > h.units ? units - h.units : 1; /* exactly what is left */
            bool fits = h.units + n <= units;
            bufpool_alloc *a = (void *)1;
            int r;
            if (fits && k == 19) /* a timed call that fits must not wait */
                r = bufpool_allocate_timeout(p, n, 2000000000ull, &a);
            else
                r = bufpool_try_allocate(p, n, &a);
            if (fits && r != 0) {
                bufpool_stats s = stats_of(p);
                fprintf(stderr,
                        "interleave bs %zu flags %#x step %d: allocate(%zu) with %zu of %zu buffers live: %s "
                        "(stats: in_use %zu cached %zu live %zu)\n",
                        bs, flags, step, n, h.units, units, bufpool_strerror(r), s.in_use_bytes,
                        s.cached_bytes, s.live_allocations);
                CHECK(!"an allocation that fits the budget failed");
            }
            if (!fits) {
                CHECK_EQ(r, -EAGAIN);
                CHECK(a == NULL);
                refusals++;
                continue;
            }
            check_placement(a, bs);
            for (size_t i = 0; i < h.n; i++)
                CHECK(!overlaps(a, h.a[i]));
            uint64_t tag = rnd(&seed);
            stamp_ends(a, bs, tag);
            held_add(&h, a, tag);
            grants++;
        }
        if (step % 32 == 0) {
            bufpool_stats s = stats_of(p);
            CHECK_EQ(s.in_use_bytes, h.units * bs);
            CHECK_EQ(s.live_allocations, h.n);
            CHECK(s.in_use_bytes + s.cached_bytes <= max);
            CHECK_EQ(s.waiters, 0);
        }
    }
    while (h.n) {
        uint64_t tag;
        bufpool_alloc *a = held_take(&h, rnd_below(&seed, h.n), &tag);
        check_ends(a, bs, tag);
        bufpool_alloc_release(a);
    }
    bufpool_alloc *all;
    CHECK_EQ(bufpool_try_allocate(p, units, &all), 0);
    bufpool_alloc_release(all);
    printf("interleave: bs %zu, %zu buffers, %s: %d steps, %llu granted, %llu refused (did not fit), "
           "%llu releasing threads\n",
           bs, units, flags & BUFPOOL_FIFO ? "FIFO" : "default", steps, (unsigned long long)grants,
           (unsigned long long)refusals, (unsigned long long)threads);
    held_fini(&h);
    bufpool_destroy(p);
}

static void part_interleave(void)
{
    const int steps = TSAN ? 4000 : 20000;
    interleave_one(4096, 2048, 0, 1, steps);
    interleave_one(4096, 2048, BUFPOOL_FIFO, 2, steps);
    interleave_one(8, 4096, 0, 3, steps);
    interleave_one(512, 1024, BUFPOOL_FIFO, 4, steps);
    interleave_one(65536, 256, 0, 5, steps);
    interleave_one(4096, 64, 0, 6, steps); /* a tiny budget: often full */
}

/* ---- RSS within the budget ------------------------------------------------ */

static void part_rss(void)
{
    const size_t bs = 4096, max = 64 * MiB, units = max / bs;
    bufpool_alloc **v = calloc(units, sizeof *v);
    CHECK(v != NULL);
    touch(v, units * sizeof *v); /* resident before the baseline */
    long r0 = rss_kib();
    bufpool *p = make(bs, max, 0);
    for (size_t i = 0; i < units; i++) {
        CHECK_EQ(bufpool_try_allocate(p, 1, &v[i]), 0);
        memset(bufpool_alloc_first(v[i]), (int)i, bs);
    }
    long r1 = rss_kib();
    double ratio = (double)(r1 - r0) * KiB / (double)max;
    printf("rss: %zu single 4 KiB buffers written: VmRSS +%ld KiB = %.3f x the 64 MiB budget\n", units,
           r1 - r0, ratio);
    CHECK_RSS(ratio <= 1.05);
    for (size_t i = 0; i < units; i++)
        bufpool_alloc_release(v[i]);
    bufpool_alloc *all;
    uint64_t t0 = now_ns();
    int r = bufpool_try_allocate(p, units, &all);
    uint64_t dt = now_ns() - t0;
    CHECK_EQ(r, 0);
    memset(bufpool_alloc_first(all), 0x5a, max);
    long r2 = rss_kib();
    double ratio2 = (double)(r2 - r0) * KiB / (double)max;
    printf("rss: all released; the whole budget in one try_allocate: %.3f ms; written: VmRSS +%ld KiB = %.3f x\n",
           (double)dt / 1e6, r2 - r0, ratio2);
    CHECK_RSS(ratio2 <= 1.05);
    bufpool_alloc_release(all);
    bufpool_destroy(p);
    free(v);
}

/* ---- purging -------------------------------------------------------------- */

static void purge_one(size_t bs, uint64_t seed)
{
    const size_t max = 64 * MiB, units = max / bs;
    struct held h;
    held_init(&h, units);
    touch(h.a, units * sizeof *h.a);
    long r0 = rss_kib();
    bufpool *p = make(bs, max, 0);
    while (h.units < units) {
        size_t n = 1 + rnd_below(&seed, bs >= 65536 ? 8 : 64);
        n = n < units - h.units ? n : units - h.units;
        bufpool_alloc *a;
        CHECK_EQ(bufpool_try_allocate(p, n, &a), 0);
        memset(bufpool_alloc_first(a), 0x11, bufpool_alloc_bytes(a));
        held_add(&h, a, 0);
    }
    size_t count = h.n;
    held_release_all(&h, 0, &seed);
    bufpool_stats s = stats_of(p);
    CHECK_EQ(s.in_use_bytes, 0);
    CHECK_EQ(s.cached_bytes, max);
    long r1 = rss_kib();

    CHECK_EQ(bufpool_set_max_memory(p, max / 4), 0);
    s = stats_of(p);
    CHECK_EQ(s.max_memory, max / 4);
    CHECK(s.cached_bytes <= max / 4);
    long r2 = rss_kib();
    long dropped = r1 - r2, uncharged = (long)((max - s.cached_bytes) / KiB);
    printf("purge: bs %zu, %zu runs released: %zu KiB cached; shrink to 16 MiB: %zu KiB cached, "
           "VmRSS dropped %ld KiB for %ld KiB uncharged\n",
           bs, count, max / KiB, s.cached_bytes / KiB, dropped, uncharged);
    CHECK_RSS(labs(dropped - uncharged) <= 384);

    CHECK_EQ(bufpool_set_max_memory(p, max), 0);
    bufpool_alloc *all;
    CHECK_EQ(bufpool_try_allocate(p, units, &all), 0);
    memset(bufpool_alloc_first(all), 0x22, max);
    long r3 = rss_kib();
    printf("purge: grown back, the whole budget written: VmRSS +%ld KiB = %.3f x\n", r3 - r0,
           (double)(r3 - r0) * KiB / (double)max);
    CHECK_RSS((double)(r3 - r0) * KiB <= 1.05 * (double)max);
    bufpool_alloc_release(all);
    CHECK_EQ(bufpool_set_max_memory(p, bs), 0);
    s = stats_of(p);
    CHECK(s.cached_bytes <= bs);
    long r4 = rss_kib();
    printf("purge: shrunk to one buffer: %zu bytes cached, VmRSS +%ld KiB over the start\n", s.cached_bytes,
           r4 - r0);
    CHECK_RSS(r4 - r0 <= 1024);
    bufpool_destroy(p);
    held_fini(&h);
}

static void part_purge(void)
{
    purge_one(4096, 7);
    purge_one(65536, 8);
}

/*
 * Buffers smaller than a page: every other one released while the budget
 * is shrunk to what stays live (so those are purged one by one, their pages
 * still shared with live buffers), then the rest.  Once every buffer is
 * free and the budget is 16 buffers, every page is free: the arena's rule
 * is that a purge gives back to the system the pages on which every buffer
 * is free.
 */
static bool purge_small_one(size_t bs, size_t max)
{
    const size_t units = max / bs;
    bufpool_alloc **v = calloc(units, sizeof *v);
    CHECK(v != NULL);
    touch(v, units * sizeof *v);
    long r0 = rss_kib();
    bufpool *p = make(bs, max, 0);
    for (size_t i = 0; i < units; i++) {
        CHECK_EQ(bufpool_try_allocate(p, 1, &v[i]), 0);
        memset(bufpool_alloc_first(v[i]), 0x33, bs);
    }
    long r1 = rss_kib();
    for (size_t i = 1; i < units; i += 2)
        bufpool_alloc_release(v[i]);
    CHECK_EQ(bufpool_set_max_memory(p, max / 2), 0);
    bufpool_stats s = stats_of(p);
    CHECK_EQ(s.in_use_bytes, max / 2);
    CHECK_EQ(s.cached_bytes, 0);
    for (size_t i = 0; i < units; i += 2)
        bufpool_alloc_release(v[i]);
    CHECK_EQ(bufpool_set_max_memory(p, 16 * bs), 0);
    s = stats_of(p);
    CHECK_EQ(s.in_use_bytes, 0);
    CHECK(s.cached_bytes <= 16 * bs);
    long r2 = rss_kib();
    /* What may stay: the headers (40 bytes per allocation, in slabs the
     * pool keeps) and a little slack. */
    long allowed = (long)(units * 48 / KiB) + 1024;
    printf("purge_small: bs %zu, %zu MiB of single buffers written (VmRSS +%ld KiB), every buffer released, "
           "budget 16 buffers (%zu bytes cached): VmRSS +%ld KiB over the start (at most %ld expected)\n",
           bs, max / MiB, r1 - r0, s.cached_bytes, r2 - r0, allowed);
    bufpool_destroy(p);
    free(v);
    return SANITIZED || r2 - r0 <= allowed;
}

static void part_purge_small(void)
{
    bool a = purge_small_one(2048, 64 * MiB), b = purge_small_one(512, 16 * MiB);
    if (!a || !b)
        fprintf(stderr, "purge_small: pages on which every buffer is free stay resident\n");
    CHECK(a && b);
}

/* ---- growth beyond the reservation ---------------------------------------- */

static void fill_and_check(bufpool *p, size_t bs, size_t units, uint64_t *seed, size_t maxn)
{
    struct held h;
    held_init(&h, units);
    while (h.units < units) {
        size_t n = 1 + rnd_below(seed, maxn);
        n = n < units - h.units ? n : units - h.units;
        bufpool_alloc *a;
        int r = bufpool_try_allocate(p, n, &a);
        if (r)
            fprintf(stderr, "fill: try_allocate(%zu) with %zu of %zu held: %s\n", n, h.units, units,
                    bufpool_strerror(r));
        CHECK_EQ(r, 0);
        check_placement(a, bs);
        uint64_t tag = rnd(seed);
        stamp(a, bs, tag);
        held_add(&h, a, tag);
    }
    bufpool_alloc *none;
    CHECK_EQ(bufpool_try_allocate(p, 1, &none), -EAGAIN);
    for (size_t i = 0; i < h.n; i++)
        check_stamp(h.a[i], bs, h.tag[i]);
    size_t count = h.n;
    held_release_all(&h, bs, seed);
    held_fini(&h);
    printf("growth: %zu allocations filled %zu MiB\n", count, units * bs / MiB);
}

static void part_growth(void)
{
    const size_t bs = 4096;
    uint64_t seed = 99;
    long r0 = rss_kib();
    bufpool *p = make(bs, MiB, 0);
    bufpool_alloc *a;
    CHECK_EQ(bufpool_try_allocate(p, MiB / bs, &a), 0);
    memset(bufpool_alloc_first(a), 1, MiB);
    bufpool_alloc_release(a);

    /* At once: 1 MiB to 64 MiB, then the whole new budget in one run. */
    CHECK_EQ(bufpool_set_max_memory(p, 64 * MiB), 0);
    int r = bufpool_try_allocate(p, 64 * MiB / bs, &a);
    if (r)
        fprintf(stderr, "growth: 64 MiB after growing from 1 MiB: %s\n", bufpool_strerror(r));
    CHECK_EQ(r, 0);
    check_placement(a, bs);
    memset(bufpool_alloc_first(a), 0x44, 64 * MiB);
    stamp(a, bs, 7);
    check_stamp(a, bs, 7);
    bufpool_stats s = stats_of(p);
    CHECK_EQ(s.in_use_bytes, 64 * MiB);
    CHECK_EQ(s.cached_bytes, 0);
    bufpool_alloc_release(a);
    /* Then many smaller ones up to the budget, twice. */
    fill_and_check(p, bs, 64 * MiB / bs, &seed, 256);
    fill_and_check(p, bs, 64 * MiB / bs, &seed, 16);

    /* In steps, each step's whole budget in one run: 64 -> 96 -> 200 MiB. */
    const size_t steps[] = {96 * MiB, 200 * MiB};
    for (size_t i = 0; i < 2; i++) {
        CHECK_EQ(bufpool_set_max_memory(p, steps[i]), 0);
        r = bufpool_try_allocate(p, steps[i] / bs, &a);
        if (r)
            fprintf(stderr, "growth: %zu MiB: %s\n", steps[i] / MiB, bufpool_strerror(r));
        CHECK_EQ(r, 0);
        memset(bufpool_alloc_first(a), (int)i, steps[i]);
        bufpool_alloc_release(a);
    }
    long r1 = rss_kib();
    printf("growth: 1 MiB -> 64 -> 96 -> 200 MiB, each whole budget allocated and written: VmRSS +%ld KiB\n",
           r1 - r0);
    CHECK_RSS((double)(r1 - r0) * KiB <= 1.05 * 200.0 * (double)MiB);
    /* Memory in the chunks reserved later is purged like any other. */
    CHECK_EQ(bufpool_set_max_memory(p, MiB), 0);
    s = stats_of(p);
    CHECK(s.cached_bytes <= MiB);
    long r2 = rss_kib();
    printf("growth: shrunk back to 1 MiB: %zu KiB cached, VmRSS +%ld KiB over the start\n", s.cached_bytes / KiB,
           r2 - r0);
    CHECK_RSS(r2 - r0 <= 2048);
    bufpool_destroy(p);
}

/* ---- a pool over a shrunk budget -------------------------------------------- */

static void shrunk_one(size_t bs, unsigned flags)
{
    const size_t max = 16 * MiB, per = MiB / bs, small = 6 * MiB;
    bufpool *p = make(bs, max, flags);
    bufpool_alloc *a[16];
    for (int i = 0; i < 16; i++) {
        CHECK_EQ(bufpool_try_allocate(p, per, &a[i]), 0);
        stamp(a[i], bs, (uint64_t)i << 40);
    }
    for (int i = 12; i < 16; i++)
        bufpool_alloc_release(a[i]); /* 4 MiB cached */
    bufpool_stats s = stats_of(p);
    CHECK_EQ(s.in_use_bytes, 12 * MiB);
    CHECK_EQ(s.cached_bytes, 4 * MiB);

    CHECK_EQ(bufpool_set_max_memory(p, small), 0);
    s = stats_of(p);
    CHECK_EQ(s.in_use_bytes, 12 * MiB); /* live allocations stay */
    CHECK_EQ(s.cached_bytes, 0);        /* nothing may stay cached over the budget */
    for (int i = 0; i < 12; i++)
        check_stamp(a[i], bs, (uint64_t)i << 40);

    for (int i = 0; i < 12; i++) {
        size_t in_use = (size_t)(12 - i) * MiB;
        /* Requests: one buffer, one MiB, exactly what is left, one more. */
        size_t left = in_use < small ? (small - in_use) / bs : 0;
        size_t tries[4] = {1, per, left ? left : 1, left + 1};
        for (int t = 0; t < 4; t++) {
            size_t n = tries[t];
            bufpool_alloc *x = (void *)1;
            int r = bufpool_try_allocate(p, n, &x);
            if (in_use + n * bs > small) {
                if (r != -EAGAIN)
                    fprintf(stderr, "shrunk bs %zu: in_use %zu MiB, max 6 MiB: try_allocate(%zu) gave %d\n",
                            bs, in_use / MiB, n, r);
                CHECK_EQ(r, -EAGAIN);
                CHECK(x == NULL);
            } else {
                CHECK_EQ(r, 0);
                stamp(x, bs, 99);
                bufpool_alloc_release(x);
            }
            s = stats_of(p);
            CHECK_EQ(s.in_use_bytes, in_use);
            if (in_use <= small)
                CHECK(s.in_use_bytes + s.cached_bytes <= small);
            else
                CHECK_EQ(s.cached_bytes, 0);
        }
        bufpool_alloc_release(a[i]);
        s = stats_of(p);
        CHECK_EQ(s.in_use_bytes, in_use - MiB);
        if (s.in_use_bytes <= small)
            CHECK(s.in_use_bytes + s.cached_bytes <= small);
        else
            CHECK_EQ(s.cached_bytes, 0);
        for (int j = i + 1; j < 12; j++)
            check_stamp(a[j], bs, (uint64_t)j << 40);
    }
    bufpool_alloc *all;
    CHECK_EQ(bufpool_try_allocate(p, small / bs, &all), 0);
    bufpool_alloc_release(all);
    bufpool_destroy(p);
}

static void part_shrunk(void)
{
    shrunk_one(4096, 0);
    shrunk_one(4096, BUFPOOL_FIFO);
    shrunk_one(512, 0);
    shrunk_one(65536, 0);
    printf("shrunk: over a shrunk budget nothing is cached or handed out; in_use + cached <= max once released\n");
}

/* ---- small buffers ---------------------------------------------------------- */

static void part_small(void)
{
    const size_t count = 1000000, bs = 8;
    bufpool_alloc **v = calloc(count, sizeof *v);
    CHECK(v != NULL);
    touch(v, count * sizeof *v);
    long r0 = rss_kib();
    bufpool *p = make(bs, count * bs, 0);
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < count; i++) {
        CHECK_EQ(bufpool_try_allocate(p, 1, &v[i]), 0);
        memcpy(bufpool_alloc_first(v[i]), &i, 8);
    }
    uint64_t dt = now_ns() - t0;
    long r1 = rss_kib();
    double per = (double)(r1 - r0) * KiB / (double)count;
    printf("small: %zu live allocations of one 8-byte buffer: VmRSS +%ld KiB = %.1f bytes each "
           "(%.0f ns per allocation)\n",
           count, r1 - r0, per, (double)dt / (double)count);
    CHECK_RSS(per <= 64.0);
    bufpool_alloc *none;
    CHECK_EQ(bufpool_try_allocate(p, 1, &none), -EAGAIN);
    for (size_t i = 0; i < count; i++) {
        size_t x;
        memcpy(&x, bufpool_alloc_first(v[i]), 8);
        CHECK_EQ(x, i);
        bufpool_alloc_release(v[i]);
    }
    CHECK_EQ(stats_of(p).in_use_bytes, 0);
    bufpool_destroy(p);
    free(v);
}

/* ---- create ------------------------------------------------------------------ */

static void create_one(size_t bs)
{
    const size_t max = 64 * GiB;
    long r0 = rss_kib();
    bufpool *p = NULL;
    bufpool_config cfg = {bs, max, 0};
    uint64_t t0 = now_ns();
    int r = bufpool_create(&p, &cfg);
    uint64_t dt = now_ns() - t0;
    CHECK_EQ(r, 0);
    long r1 = rss_kib();
    bufpool_alloc *a;
    CHECK_EQ(bufpool_try_allocate(p, 16, &a), 0);
    memset(bufpool_alloc_first(a), 1, bufpool_alloc_bytes(a));
    bufpool_alloc_release(a);
    uint64_t t1 = now_ns();
    bufpool_destroy(p);
    uint64_t dd = now_ns() - t1;
    printf("create: 64 GiB budget of %zu-byte buffers: create %.1f us, VmRSS +%ld KiB; destroy %.1f us\n", bs,
           (double)dt / 1e3, r1 - r0, (double)dd / 1e3);
    CHECK_RSS(r1 - r0 < 1024);
}

static void part_create(void)
{
    create_one(4096);
    create_one(8);
}

/* ---- REGION pieces -------------------------------------------------------------- */

static void part_region_small(void)
{
    bufpool *p = make(4096, MiB, BUFPOOL_REGION);
    struct iovec whole, iov[2];
    CHECK_EQ(bufpool_region(p, &whole), 0);
    CHECK_EQ(bufpool_region_iovecs(p, NULL, 0), 1);
    memset(iov, 0xab, sizeof iov);
    CHECK_EQ(bufpool_region_iovecs(p, iov, 0), 1); /* max 0: nothing written */
    for (size_t i = 0; i < sizeof iov; i++)
        CHECK_EQ(((unsigned char *)iov)[i], 0xab);
    CHECK_EQ(bufpool_region_iovecs(p, iov, 2), 1);
    CHECK(iov[0].iov_base == whole.iov_base);
    CHECK_EQ(iov[0].iov_len, whole.iov_len);
    for (size_t i = 0; i < sizeof iov[1]; i++) /* only count entries written */
        CHECK_EQ(((unsigned char *)&iov[1])[i], 0xab);
    bufpool_alloc *a, *b;
    CHECK_EQ(bufpool_allocate(p, 3, &a), 0);
    CHECK_EQ(bufpool_allocate(p, MiB / 4096 - 3, &b), 0); /* the rest, up to the end */
    CHECK_EQ(bufpool_alloc_buf_index(a), 0);
    CHECK_EQ(bufpool_alloc_buf_index(b), 0);

    /* errors */
    CHECK_EQ(bufpool_region_iovecs(NULL, NULL, 0), -EINVAL);
    CHECK_EQ(bufpool_region_iovecs(NULL, iov, 2), -EINVAL);
    CHECK_EQ(bufpool_region_iovecs(p, NULL, 1), -EINVAL);
    CHECK_EQ(bufpool_alloc_buf_index(NULL), -EINVAL);
    bufpool *d = make(4096, MiB, 0);
    CHECK_EQ(bufpool_region_iovecs(d, NULL, 0), -ENOTSUP);
    memset(iov, 0xab, sizeof iov);
    CHECK_EQ(bufpool_region_iovecs(d, iov, 2), -ENOTSUP);
    CHECK_EQ(((unsigned char *)iov)[0], 0xab);
    bufpool_alloc *x;
    CHECK_EQ(bufpool_allocate(d, 1, &x), 0);
    CHECK_EQ(bufpool_alloc_buf_index(x), -EINVAL);
    bufpool_alloc_release(x);
    bufpool_destroy(d);
    bufpool *f = make(8, 4096, BUFPOOL_REGION | BUFPOOL_FIFO); /* one page, 8-byte buffers */
    CHECK_EQ(bufpool_region_iovecs(f, iov, 2), 1);
    CHECK_EQ(bufpool_allocate(f, 1, &x), 0);
    CHECK_EQ(bufpool_alloc_buf_index(x), 0);
    bufpool_alloc_release(x);
    bufpool_destroy(f);

    bufpool_alloc_release(a);
    bufpool_alloc_release(b);
    bufpool_destroy(p);
    printf("region_small: one piece, equal to bufpool_region's; buf_index 0; errors as documented\n");
}

struct live_run {
    size_t off, bytes;
};

static int cmp_run(const void *x, const void *y)
{
    const struct live_run *a = x, *b = y;
    return a->off < b->off ? -1 : a->off > b->off;
}

/* The longest gap between the live allocations, in buffers. */
static size_t model_largest(const struct held *h, size_t len, size_t bs)
{
    struct live_run *r = calloc(h->n + 1, sizeof *r);
    CHECK(r != NULL);
    for (size_t i = 0; i < h->n; i++)
        r[i] = (struct live_run){bufpool_alloc_offset(h->a[i]), bufpool_alloc_bytes(h->a[i])};
    qsort(r, h->n, sizeof *r, cmp_run);
    size_t at = 0, best = 0;
    for (size_t i = 0; i < h->n; i++) {
        CHECK(r[i].off >= at); /* disjoint */
        best = r[i].off - at > best ? r[i].off - at : best;
        at = r[i].off + r[i].bytes;
    }
    CHECK(at <= len);
    best = len - at > best ? len - at : best;
    free(r);
    return best / bs;
}

/* Every allocation of at most a piece lies in piece buf_index. */
static void check_in_piece(const bufpool_alloc *a, const struct iovec *iov, int count)
{
    int k = bufpool_alloc_buf_index(a);
    size_t bytes = bufpool_alloc_bytes(a);
    const char *first = bufpool_alloc_first(a);
    if (bytes > GiB) {
        CHECK_EQ(k, -ERANGE);
        return;
    }
    if (k < 0 || k >= count)
        fprintf(stderr, "allocation of %zu bytes at offset %zu: buf_index %d of %d\n", bytes,
                bufpool_alloc_offset(a), k, count);
    CHECK(k >= 0 && k < count);
    const char *lo = iov[k].iov_base, *hi = lo + iov[k].iov_len;
    if (!(first >= lo && first + bytes - 1 < hi))
        fprintf(stderr, "allocation [%zu, +%zu) is not inside piece %d\n", bufpool_alloc_offset(a), bytes, k);
    CHECK(first >= lo && first + bytes - 1 < hi);
}

static void region_pieces_one(size_t bs, uint64_t seed)
{
    const size_t len = 5 * GiB / 2, units = len / bs, piece = GiB / bs;
    bufpool *p = make(bs, len, BUFPOOL_REGION);
    struct iovec whole, iov[5];
    CHECK_EQ(bufpool_region(p, &whole), 0);
    CHECK_EQ(whole.iov_len, len);
    CHECK_EQ(bufpool_region_iovecs(p, NULL, 0), 3);
    memset(iov, 0xab, sizeof iov);
    CHECK_EQ(bufpool_region_iovecs(p, iov, 5), 3);
    CHECK(iov[0].iov_base == whole.iov_base);
    const size_t want[3] = {GiB, GiB, GiB / 2};
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(iov[i].iov_len, want[i]);
        if (i)
            CHECK((char *)iov[i].iov_base == (char *)iov[i - 1].iov_base + iov[i - 1].iov_len);
    }
    for (size_t i = 0; i < 2 * sizeof *iov; i++)
        CHECK_EQ(((unsigned char *)&iov[3])[i], 0xab);
    for (unsigned max = 1; max < 3; max++) { /* max < count: only max written */
        struct iovec part[3];
        memset(part, 0xcd, sizeof part);
        CHECK_EQ(bufpool_region_iovecs(p, part, max), 3);
        for (unsigned i = 0; i < max; i++)
            CHECK(part[i].iov_base == iov[i].iov_base && part[i].iov_len == iov[i].iov_len);
        for (size_t i = 0; i < (3 - max) * sizeof *part; i++)
            CHECK_EQ(((unsigned char *)&part[max])[i], 0xcd);
    }
    CHECK_EQ(stats_of(p).largest_free_run, units);

    /* Whole pieces. */
    bufpool_alloc *g[3];
    CHECK_EQ(bufpool_try_allocate(p, piece, &g[0]), 0);
    CHECK_EQ(bufpool_try_allocate(p, piece, &g[1]), 0);
    CHECK_EQ(bufpool_alloc_offset(g[0]), 0);
    CHECK_EQ(bufpool_alloc_buf_index(g[0]), 0);
    CHECK_EQ(bufpool_alloc_offset(g[1]), GiB);
    CHECK_EQ(bufpool_alloc_buf_index(g[1]), 1);
    CHECK_EQ(bufpool_try_allocate(p, piece / 2, &g[2]), 0);
    CHECK_EQ(bufpool_alloc_buf_index(g[2]), 2);
    CHECK_EQ(stats_of(p).largest_free_run, 0);
    for (int i = 0; i < 3; i++)
        bufpool_alloc_release(g[i]);
    trim_caches(p);
    CHECK_EQ(stats_of(p).largest_free_run, units);

    /* Random allocations of every size up to a piece, until full; then a
     * random half released and the region filled again, three times. */
    struct held h;
    held_init(&h, units);
    size_t made = 0;
    for (int round = 0; round < 3; round++) {
        size_t cap = piece;
        for (;;) {
            size_t n = rnd_below(&seed, 2) ? rnd_log(&seed, cap) : 1 + rnd_below(&seed, cap < 64 ? cap : 64);
            bufpool_alloc *a;
            int r = bufpool_try_allocate(p, n, &a);
            if (r == -EAGAIN) {
                CHECK(a == NULL);
                if (n == 1)
                    break; /* full */
                cap = n / 2 > 0 ? n / 2 : 1;
                continue;
            }
            CHECK_EQ(r, 0);
            check_in_piece(a, iov, 3);
            held_add(&h, a, 0);
            made++;
            cap = piece;
        }
        bufpool_stats s = stats_of(p);
        CHECK_EQ(s.in_use_bytes, len); /* budget == region: full means every buffer */
        CHECK_EQ(h.units, units);
        CHECK_EQ(s.largest_free_run, 0);
        CHECK_EQ(model_largest(&h, len, bs), 0);
        for (size_t i = 0; i < h.n;) {
            if (rnd_below(&seed, 2)) {
                bufpool_alloc_release(held_take(&h, i, NULL));
            } else {
                i++;
            }
        }
        trim_caches(p);
        s = stats_of(p);
        CHECK_EQ(s.in_use_bytes, h.units * bs);
        size_t model = model_largest(&h, len, bs);
        if (s.largest_free_run != model)
            fprintf(stderr, "region_pieces bs %zu: largest_free_run %zu, longest gap %zu\n", bs,
                    s.largest_free_run, model);
        CHECK_EQ(s.largest_free_run, model);
    }
    held_release_all(&h, 0, NULL);
    trim_caches(p);
    CHECK_EQ(stats_of(p).largest_free_run, units);

    /* Larger than a piece: it spans pieces; buf_index is -ERANGE. */
    bufpool_alloc *x, *y, *z;
    CHECK_EQ(bufpool_try_allocate(p, 3 * piece / 2, &x), 0);
    CHECK_EQ(bufpool_alloc_offset(x), 0);
    CHECK_EQ(bufpool_alloc_buf_index(x), -ERANGE);
    CHECK_EQ(stats_of(p).largest_free_run, units - 3 * piece / 2);
    bufpool_alloc_release(x);
    trim_caches(p);
    CHECK_EQ(bufpool_try_allocate(p, 3 * piece / 4, &y), 0); /* 0.75 GiB in piece 0 */
    CHECK_EQ(bufpool_alloc_buf_index(y), 0);
    CHECK_EQ(bufpool_try_allocate(p, 3 * piece / 2, &x), 0); /* 0.75 .. 2.25 GiB */
    CHECK_EQ(bufpool_alloc_offset(x), 3 * GiB / 4);
    CHECK_EQ(bufpool_alloc_buf_index(x), -ERANGE);
    CHECK_EQ(stats_of(p).largest_free_run, piece / 4);
    CHECK_EQ(bufpool_try_allocate(p, piece / 4, &z), 0); /* the rest, in piece 2 */
    CHECK_EQ(bufpool_alloc_buf_index(z), 2);
    CHECK_EQ(stats_of(p).largest_free_run, 0);
    bufpool_alloc_release(x);
    bufpool_alloc_release(y);
    bufpool_alloc_release(z);
    trim_caches(p);
    CHECK_EQ(bufpool_try_allocate(p, units, &x), 0); /* the whole region */
    CHECK_EQ(bufpool_alloc_offset(x), 0);
    CHECK_EQ(bufpool_alloc_buf_index(x), -ERANGE);
    bufpool_alloc_release(x);
    /* Exactly a piece is not too large. */
    CHECK_EQ(bufpool_try_allocate(p, piece, &x), 0);
    CHECK(bufpool_alloc_buf_index(x) >= 0);
    check_in_piece(x, iov, 3);
    bufpool_alloc_release(x);
    printf("region_pieces: bs %zu: 3 pieces; %zu random allocations each inside piece buf_index; "
           "1.5 and 2.5 GiB span pieces (-ERANGE)\n",
           bs, made);
    held_fini(&h);
    bufpool_destroy(p);
}

static void part_region_pieces(void)
{
    region_pieces_one(4096, 5);
    region_pieces_one(MiB, 6);
}

/*
 * A REGION pool of two pieces; the free memory is the second half of piece
 * 0 and the first half of piece 1: one run of 1 GiB by address, but no
 * allocation of more than 0.5 GiB can be made (an allocation of at most
 * 1 GiB never straddles two pieces).  A request for 0.5 GiB + 4 KiB must
 * wait: try is -EAGAIN, a timed call times out, and an async waiter's fd
 * must stay quiet until a release makes a run.
 */
static void region_waiter_one(unsigned flags)
{
    const size_t bs = 4096, half = GiB / 2 / bs;
    bufpool *p = make(bs, 2 * GiB, BUFPOOL_REGION | flags);
    bufpool_alloc *q[4];
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(bufpool_try_allocate(p, half, &q[i]), 0);
        CHECK_EQ(bufpool_alloc_offset(q[i]), (size_t)i * GiB / 2);
    }
    bufpool_alloc_release(q[1]);
    bufpool_alloc_release(q[2]);
    trim_caches(p);
    bufpool_stats s = stats_of(p);
    CHECK_EQ(s.in_use_bytes, GiB);
    CHECK_EQ(s.largest_free_run, 2 * half); /* by address, across the boundary */

    const size_t n = half + 1;
    bufpool_alloc *a = (void *)1;
    CHECK_EQ(bufpool_try_allocate(p, n, &a), -EAGAIN);
    CHECK(a == NULL);
    CHECK_EQ(bufpool_allocate_timeout(p, n, 20 * 1000000ull, &a), -ETIMEDOUT);
    bufpool_waiter *w;
    CHECK_EQ(bufpool_waiter_create(p, &w), 0);
    struct pollfd pfd = {.fd = bufpool_waiter_fd(w), .events = POLLIN};
    int readable = 0;
    for (int i = 0; i < 100; i++) {
        CHECK_EQ(bufpool_waiter_allocate(w, n, &a), -EAGAIN);
        pfd.revents = 0;
        if (poll(&pfd, 1, 0) != 1)
            break;
        readable++;
    }
    printf("region_waiter (%s): the only free run of %zu buffers crosses the piece boundary: "
           "fd readable after %d of 100 -EAGAIN answers (nothing was released)\n",
           flags & BUFPOOL_FIFO ? "FIFO" : "opportunistic", n, readable);
    if (readable)
        fprintf(stderr, "region_waiter: the waiter's fd is readable although no run of n exists: "
                        "an event loop spins\n");
    CHECK_EQ(readable, 0);
    bufpool_alloc_release(q[0]); /* piece 0 is free now: a run of n exists */
    CHECK_EQ(poll(&pfd, 1, 1000), 1);
    int r = bufpool_waiter_allocate(w, n, &a);
    for (int i = 0; r == -EAGAIN && i < 10; i++) { /* opportunistic: told, then it asks */
        CHECK_EQ(poll(&pfd, 1, 1000), 1);
        r = bufpool_waiter_allocate(w, n, &a);
    }
    CHECK_EQ(r, 0);
    CHECK_EQ(bufpool_alloc_buf_index(a), 0);
    bufpool_alloc_release(a);
    bufpool_waiter_destroy(w);
    bufpool_alloc_release(q[3]);
    bufpool_destroy(p);
}

static void part_region_waiter(void)
{
    region_waiter_one(BUFPOOL_FIFO);
    region_waiter_one(0);
}

/* ---- the parts ---------------------------------------------------------------- */

static const struct test_part parts[] = {
    {"any_run", part_any_run},
    {"interleave", part_interleave},
    {"rss", part_rss},
    {"purge", part_purge},
    {"purge_small", part_purge_small},
    {"growth", part_growth},
    {"shrunk", part_shrunk},
    {"small", part_small},
    {"create", part_create},
    {"region_small", part_region_small},
    {"region_pieces", part_region_pieces},
    {"region_waiter", part_region_waiter},
};

int main(int argc, char **argv)
{
    if (SANITIZED)
        printf("(a sanitizer build: RSS figures are printed, not checked)\n");
    return run_parts("test_arena", parts, sizeof parts / sizeof *parts, argc, argv);
}
