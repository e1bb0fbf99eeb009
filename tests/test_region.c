/*
 * test_region: region mode (BUFPOOL_REGION) through the public API only.
 *
 * Checks:
 *   - creation: the region is page-aligned, at least max_memory long and
 *     the same on every call; HUGEPAGES/LOCKED without REGION are -EINVAL;
 *     LOCKED either works (VmLck grows by the region) or fails with an mlock
 *     error, and in a child without CAP_IPC_LOCK it fails with -ENOMEM over
 *     a 64 KiB RLIMIT_MEMLOCK and -EPERM under a zero one, *out == NULL
 *     (a "SKIP:" line each if the capability cannot be dropped);
 *     HUGEPAGES falls back silently (create succeeds, memory usable);
 *   - carving, for buffer sizes 8 .. 64 KiB: allocations lie inside the
 *     region, offset == first - base, no two overlap (stamped and re-read),
 *     buffers are aligned to min(buffer_size, 4096);
 *   - coalescing: after a fragmenting sequence is released, a request for
 *     the whole budget succeeds at offset 0 without waiting (cached runs
 *     are trimmed first), and once the caches are empty (a shrink of the
 *     budget and back trims them) largest_free_run is the whole region;
 *   - a request waits (try: -EAGAIN, timed: -ETIMEDOUT) while no run of n
 *     free buffers exists although the budget covers it, and a blocked call
 *     or an async waiter is woken when a neighbour's release makes the run;
 *   - set_max_memory up to the region's length works and beyond it is
 *     -EINVAL; -E2BIG beyond max_memory even when the region is longer;
 *   - without REGION: bufpool_region -ENOTSUP, alloc_offset SIZE_MAX;
 *   - FIFO + REGION: a small request queues behind a large one that waits
 *     for a run, and try_allocate is -EAGAIN meanwhile;
 *   - a fragmenting multi-threaded workload (random n = 1..256, 4 threads,
 *     opportunistic and FIFO) makes progress, never hands out a buffer
 *     twice, and no blocked call waits anywhere near its 10 s limit;
 *   - a thread cache's run stays within one 1 GiB piece: two released
 *     neighbours on either side of a piece boundary do not join, so a
 *     request of their joint length is carved within one piece;
 *   - io_uring (when built with liburing): the region registers with
 *     io_uring_register_buffers(ring, &iov, 1), READ_FIXED into an
 *     allocation (buf_index 0, address = bufpool_alloc_first) reads a
 *     file's known bytes, WRITE_FIXED from one writes them.  That part is
 *     skipped (a "SKIP:" line, counted by tests/run.sh) if the kernel or
 *     sandbox refuses io_uring;
 *   - io_uring with a region of more than one piece (2 GiB + 64 MiB): it
 *     registers as the bufpool_region_iovecs pieces (3 fixed buffers); an
 *     allocation placed in the last piece (two of 1 GiB held before it) has
 *     bufpool_alloc_buf_index 2, READ_FIXED into it with that index reads
 *     the file's bytes, WRITE_FIXED from it writes them, a read into the
 *     second 1 GiB allocation uses index 1, and the same address under
 *     another piece's index is refused (-EFAULT).  Registration pins the
 *     whole region (about 2 GiB): refused with ENOMEM or EPERM, that part
 *     is skipped with a "SKIP:" line.
 * Exit 0 on pass, 1 on failure.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bufpool.h"
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef BUFPOOL_HAVE_LIBURING
#include <liburing.h>
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#define KiB ((size_t)1024)
#define MiB (KiB * KiB)
#define GiB (MiB * KiB)

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* xorshift64*, seeded per caller so threads do not share state. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

static struct iovec region_of(bufpool *p)
{
    struct iovec iov = {0};
    CHECK_EQ(bufpool_region(p, &iov), 0);
    CHECK(iov.iov_base != NULL);
    return iov;
}

static bufpool_stats stats_of(bufpool *p)
{
    bufpool_stats s;
    bufpool_get_stats(p, &s);
    return s;
}

/* Everything about one allocation that the region contract promises. */
static void check_placement(bufpool *p, const bufpool_alloc *a)
{
    struct iovec iov = region_of(p);
    size_t bs = stats_of(p).buffer_size;
    size_t align = bs < 4096 ? bs : 4096;
    char *base = iov.iov_base, *first = bufpool_alloc_first(a);
    size_t n = bufpool_alloc_length(a), off = bufpool_alloc_offset(a);
    CHECK(first >= base && first + n * bs <= base + iov.iov_len);
    CHECK_EQ(off, (size_t)(first - base));
    CHECK_EQ(off % bs, 0);
    CHECK_EQ((uintptr_t)first % align, 0);
    CHECK_EQ(bufpool_alloc_bytes(a), n * bs);
    CHECK(bufpool_alloc_buffer(a, n - 1) == first + (n - 1) * bs);
    CHECK(bufpool_alloc_buffer(a, n) == NULL);
}

/* Stamp the first and last 8 bytes of every buffer (bs >= 8), so that an
 * overlap between two live allocations shows up when they are re-read. */
static void stamp(const bufpool_alloc *a, size_t bs, uint64_t tag)
{
    for (size_t i = 0; i < bufpool_alloc_length(a); i++) {
        char *b = bufpool_alloc_buffer(a, i);
        uint64_t v = tag ^ i;
        memcpy(b, &v, 8);
        memcpy(b + bs - 8, &v, 8);
    }
}

static void check_stamp(const bufpool_alloc *a, size_t bs, uint64_t tag)
{
    for (size_t i = 0; i < bufpool_alloc_length(a); i++) {
        const char *b = bufpool_alloc_buffer(a, i);
        uint64_t v1, v2;
        memcpy(&v1, b, 8);
        memcpy(&v2, b + bs - 8, 8);
        CHECK(v1 == (tag ^ i) && v2 == (tag ^ i));
    }
}

/* VmLck of this process in KiB, or -1. */
static long vmlck_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmLck: %ld kB", &v) == 1)
            break;
    fclose(f);
    return v;
}

/* ---- creation ---------------------------------------------------------- */

/* In a child: drop CAP_IPC_LOCK, set RLIMIT_MEMLOCK to limit, and create
 * a 4 MiB LOCKED region pool: it must fail with want, *out NULL, and
 * bufpool_strerror must say something of its own.  A "SKIP:" line when
 * the capability cannot be dropped, the limit cannot be set, or mlock
 * ignores the limit (a sanitizer's no-op mlock). */
static void locked_over_limit(rlim_t limit, int want)
{
    char part[64];
    snprintf(part, sizeof part, "LOCKED over RLIMIT_MEMLOCK %lu", (unsigned long)limit);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
        struct __user_cap_data_struct d[2];
        const uint32_t bit = 1u << (CAP_IPC_LOCK % 32);
        if (syscall(SYS_capget, &h, d) != 0)
            _exit(75);
        d[CAP_IPC_LOCK / 32].effective &= ~bit;
        d[CAP_IPC_LOCK / 32].permitted &= ~bit;
        d[CAP_IPC_LOCK / 32].inheritable &= ~bit;
        (void)syscall(SYS_capset, &h, d);
        if (syscall(SYS_capget, &h, d) != 0 || (d[CAP_IPC_LOCK / 32].effective & bit))
            _exit(75); /* still privileged: the limit would not apply */
        struct rlimit rl = {limit, limit};
        if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0)
            _exit(77);
        bufpool *q = (void *)1;
        bufpool_config big = {4096, 4 * MiB, BUFPOOL_REGION | BUFPOOL_LOCKED};
        int e = bufpool_create(&q, &big);
        if (e == 0)
            _exit(78); /* mlock ignored the limit (e.g. a sanitizer's no-op mlock) */
        printf("%s: %d (%s)\n", part, e, bufpool_strerror(e));
        fflush(stdout);
        bool own = strcmp(bufpool_strerror(e), bufpool_strerror(12345)) != 0;
        _exit(e == want && q == NULL && own ? 0 : 1);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st));
    switch (WEXITSTATUS(st)) {
    case 75: SKIP_PART(part, "CAP_IPC_LOCK could not be dropped"); break;
    case 77: SKIP_PART(part, "could not set the limit"); break;
    case 78: SKIP_PART(part, "mlock succeeded anyway (sanitizer?)"); break;
    default:
        if (WEXITSTATUS(st) != 0)
            fprintf(stderr, "%s: want %d (%s)\n", part, want, bufpool_strerror(want));
        CHECK_EQ(WEXITSTATUS(st), 0);
    }
}

static void test_create(void)
{
    const size_t ps = page_size();
    const struct { size_t bs, max; } cfgs[] = {
        {8, 8}, {8, 100}, {1024, 5000}, {4096, MiB}, {65536, MiB + 65536}, {4096, 3 * MiB + 4096},
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof *cfgs; i++) {
        bufpool *p = make(cfgs[i].bs, cfgs[i].max, BUFPOOL_REGION);
        struct iovec a = region_of(p);
        CHECK_EQ((uintptr_t)a.iov_base % ps, 0);
        CHECK(a.iov_len >= cfgs[i].max);
        CHECK_EQ(a.iov_len % ps, 0);
        bufpool_alloc *x;
        CHECK_EQ(bufpool_allocate(p, 1, &x), 0);
        check_placement(p, x);
        struct iovec b = region_of(p); /* it never moves */
        CHECK(a.iov_base == b.iov_base && a.iov_len == b.iov_len);
        bufpool_alloc_release(x);
        bufpool_destroy(p);
    }

    /* The region flags need REGION. */
    const unsigned bad[] = {BUFPOOL_HUGEPAGES, BUFPOOL_LOCKED, BUFPOOL_HUGEPAGES | BUFPOOL_LOCKED,
                            BUFPOOL_FIFO | BUFPOOL_LOCKED};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        bufpool *p = (void *)1;
        bufpool_config cfg = {4096, MiB, bad[i]};
        CHECK_EQ(bufpool_create(&p, &cfg), -EINVAL);
        CHECK(p == NULL);
    }
    bufpool *p = (void *)1;
    bufpool_config unknown = {4096, MiB, BUFPOOL_REGION | 32u}; /* no flag of 1.2 */
    CHECK_EQ(bufpool_create(&p, &unknown), -EINVAL);
    CHECK(p == NULL);

    /* LOCKED: success shows in VmLck; failure must be an mlock error. */
    long before = vmlck_kib();
    bufpool_config lk = {4096, MiB, BUFPOOL_REGION | BUFPOOL_LOCKED};
    int r = bufpool_create(&p, &lk);
    if (r == 0) {
        struct iovec iov = region_of(p);
        long after = vmlck_kib();
        printf("LOCKED: ok, VmLck %ld -> %ld KiB\n", before, after);
        if (before >= 0 && after >= 0 && !SANITIZED) /* sanitizers make mlock a no-op */
            CHECK(after - before >= (long)(iov.iov_len / KiB));
        bufpool_alloc *x;
        CHECK_EQ(bufpool_allocate(p, 256, &x), 0);
        memset(bufpool_alloc_first(x), 1, bufpool_alloc_bytes(x));
        bufpool_alloc_release(x);
        bufpool_destroy(p);
        CHECK(vmlck_kib() <= before || before < 0 || SANITIZED); /* unlocked with the pool */
    } else {
        printf("LOCKED: refused here with %d (%s)\n", r, bufpool_strerror(r));
        CHECK(r == -EPERM || r == -ENOMEM || r == -EAGAIN);
        CHECK(p == NULL);
    }

    /* LOCKED beyond RLIMIT_MEMLOCK, in children without CAP_IPC_LOCK (as
     * root it would lift the limit): Linux's mlock says -ENOMEM over a
     * nonzero limit and -EPERM under a zero one, and create passes them on
     * (bufpool_create(3); it said -EAGAIN before issue 20). */
    locked_over_limit(64 * KiB, -ENOMEM);
    locked_over_limit(0, -EPERM);

    /* HUGEPAGES falls back silently: create works, all of it is usable. */
    const unsigned hp[] = {BUFPOOL_REGION | BUFPOOL_HUGEPAGES,
                           BUFPOOL_REGION | BUFPOOL_HUGEPAGES | BUFPOOL_FIFO};
    for (size_t i = 0; i < 2; i++) {
        bufpool *q = make(4096, 3 * MiB, hp[i]);
        struct iovec iov = region_of(q);
        CHECK(iov.iov_len >= 3 * MiB && iov.iov_len % ps == 0);
        CHECK_EQ((uintptr_t)iov.iov_base % ps, 0);
        if (i == 0)
            printf("HUGEPAGES: region of %zu KiB at %p (2 MiB aligned: %s)\n", iov.iov_len / KiB,
                   iov.iov_base, (uintptr_t)iov.iov_base % (2 * MiB) ? "no" : "yes");
        bufpool_alloc *x;
        CHECK_EQ(bufpool_allocate(q, 3 * MiB / 4096, &x), 0);
        check_placement(q, x);
        memset(bufpool_alloc_first(x), 0x5a, bufpool_alloc_bytes(x));
        bufpool_alloc_release(x);
        /* The budget may grow to the whole (huge-page rounded) region. */
        CHECK_EQ(bufpool_set_max_memory(q, iov.iov_len), 0);
        CHECK_EQ(bufpool_allocate(q, iov.iov_len / 4096, &x), 0);
        CHECK_EQ(bufpool_alloc_offset(x), 0);
        memset(bufpool_alloc_first(x), 0xa5, bufpool_alloc_bytes(x));
        bufpool_alloc_release(x);
        bufpool_destroy(q);
    }
}

/* ---- carving ----------------------------------------------------------- */

static void test_carving(size_t bs, uint64_t seed)
{
    const size_t units = 256, max = units * bs;
    bufpool *p = make(bs, max, BUFPOOL_REGION);
    bufpool_alloc *v[256];
    size_t count = 0, bufs = 0;
    /* Random lengths until the budget is nearly gone, then single buffers
     * until it is. */
    for (;;) {
        size_t n = bufs + 16 <= units ? 1 + rnd(&seed) % 16 : 1;
        bufpool_alloc *a;
        int r = bufpool_try_allocate(p, n, &a);
        if (r == -EAGAIN) {
            CHECK(a == NULL);
            if (n == 1)
                break;
            continue;
        }
        CHECK_EQ(r, 0);
        check_placement(p, a);
        stamp(a, bs, (uint64_t)count << 32);
        v[count++] = a;
        bufs += n;
    }
    CHECK_EQ(bufs, units);
    CHECK_EQ(stats_of(p).in_use_bytes, max);
    for (size_t i = 0; i < count; i++)
        check_stamp(v[i], bs, (uint64_t)i << 32);
    /* Pairwise disjoint by offset (the stamps catch it too). */
    for (size_t i = 0; i < count; i++)
        for (size_t j = i + 1; j < count; j++) {
            size_t oi = bufpool_alloc_offset(v[i]), oj = bufpool_alloc_offset(v[j]);
            CHECK(oi + bufpool_alloc_bytes(v[i]) <= oj || oj + bufpool_alloc_bytes(v[j]) <= oi);
        }
    for (size_t i = 0; i < count; i++)
        bufpool_alloc_release(v[i]);
    bufpool_destroy(p);
}

/* ---- coalescing -------------------------------------------------------- */

static void test_coalescing(void)
{
    const size_t bs = 4096, units = 1024;
    bufpool *p = make(bs, units * bs, BUFPOOL_REGION);
    CHECK_EQ(region_of(p).iov_len, units * bs);
    uint64_t seed = 42;
    bufpool_alloc *v[1024];
    size_t count = 0;
    /* Fill with random lengths, free a random half, refill: fragments. */
    for (int round = 0; round < 20; round++) {
        for (;;) {
            bufpool_alloc *a;
            int r = bufpool_try_allocate(p, 1 + rnd(&seed) % 64, &a);
            if (r == -EAGAIN)
                break;
            CHECK_EQ(r, 0);
            v[count++] = a;
        }
        for (size_t i = 0; i < count;) {
            if (rnd(&seed) & 1) {
                bufpool_alloc_release(v[i]);
                v[i] = v[--count];
            } else {
                i++;
            }
        }
    }
    bufpool_stats s = stats_of(p);
    printf("coalescing: %zu live allocations, largest free run %zu of %zu, %zu KiB cached\n",
           count, s.largest_free_run, units, s.cached_bytes / KiB);
    while (count) { /* release the rest in random order */
        size_t i = rnd(&seed) % count;
        bufpool_alloc_release(v[i]);
        v[i] = v[--count];
    }
    s = stats_of(p);
    printf("coalescing: all released: largest free run %zu, %zu KiB cached (cached runs count as used)\n",
           s.largest_free_run, s.cached_bytes / KiB);
    CHECK_EQ(s.in_use_bytes, 0);

    /* The whole budget in one run, at once: caches are trimmed, not waited on. */
    uint64_t waits = s.total_waits;
    bufpool_alloc *all;
    CHECK_EQ(bufpool_try_allocate(p, units, &all), 0);
    CHECK_EQ(bufpool_alloc_offset(all), 0);
    CHECK_EQ(stats_of(p).largest_free_run, 0);
    CHECK_EQ(stats_of(p).total_waits, waits);
    bufpool_alloc_release(all);
    s = stats_of(p);
    printf("coalescing: whole-budget allocation released: largest free run %zu, %zu KiB cached\n",
           s.largest_free_run, s.cached_bytes / KiB);
    /* The same through an async waiter: it trims the caches too. */
    bufpool_waiter *w;
    CHECK_EQ(bufpool_waiter_create(p, &w), 0);
    v[0] = v[1] = NULL;
    CHECK_EQ(bufpool_allocate(p, units / 2, &v[0]), 0);
    CHECK_EQ(bufpool_allocate(p, 1, &v[1]), 0);
    bufpool_alloc_release(v[0]);
    bufpool_alloc_release(v[1]); /* both cached now */
    CHECK_EQ(bufpool_waiter_allocate(w, units, &all), 0);
    CHECK_EQ(bufpool_alloc_offset(all), 0);
    bufpool_alloc_release(all);
    bufpool_waiter_destroy(w);
    /* Shrinking below what is held trims every cache; growing back leaves
     * the region empty, one run. */
    CHECK_EQ(bufpool_set_max_memory(p, bs), 0);
    CHECK_EQ(bufpool_set_max_memory(p, units * bs), 0);
    s = stats_of(p);
    CHECK_EQ(s.cached_bytes, 0);
    CHECK_EQ(s.largest_free_run, units);
    bufpool_destroy(p);
}

/* ---- waiting for a run ------------------------------------------------- */

struct blocked {
    bufpool *pool;
    size_t n;
    int result;
    bufpool_alloc *a;
    _Atomic int done;
    uint64_t done_ns;
};

static void *blocked_main(void *arg)
{
    struct blocked *b = arg;
    b->result = bufpool_allocate(b->pool, b->n, &b->a);
    b->done_ns = now_ns();
    atomic_store(&b->done, 1);
    return NULL;
}

static void wait_waiters(bufpool *p, size_t want)
{
    for (int i = 0; i < 5000 && stats_of(p).waiters < want; i++)
        sleep_ms(1);
    CHECK_EQ(stats_of(p).waiters, want);
}

static bool wait_done(struct blocked *b, unsigned ms)
{
    for (unsigned i = 0; i < ms && !atomic_load(&b->done); i++)
        sleep_ms(1);
    return atomic_load(&b->done);
}

/* Four single buffers of a four-buffer region, sorted by offset. */
static void fill_singles(bufpool *p, bufpool_alloc *u[4])
{
    for (int i = 0; i < 4; i++)
        CHECK_EQ(bufpool_allocate(p, 1, &u[i]), 0);
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            if (bufpool_alloc_offset(u[j]) < bufpool_alloc_offset(u[i])) {
                bufpool_alloc *t = u[i];
                u[i] = u[j];
                u[j] = t;
            }
    for (int i = 0; i < 4; i++)
        CHECK_EQ(bufpool_alloc_offset(u[i]), (size_t)i * 4096);
}

static void test_wait_for_run(void)
{
    bufpool *p = make(4096, 4 * 4096, BUFPOOL_REGION);
    bufpool_alloc *u[4], *x;
    fill_singles(p, u);
    /* Free buffers 0 and 2: budget for two, but no run of two. */
    bufpool_alloc_release(u[0]);
    bufpool_alloc_release(u[2]);
    CHECK_EQ(bufpool_try_allocate(p, 2, &x), -EAGAIN);
    CHECK(x == NULL);
    CHECK_EQ(bufpool_allocate_timeout(p, 2, 20 * 1000000ull, &x), -ETIMEDOUT);
    CHECK(stats_of(p).largest_free_run == 1);

    struct blocked b = {.pool = p, .n = 2};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, blocked_main, &b), 0);
    wait_waiters(p, 1);
    CHECK(!wait_done(&b, 50));
    uint64_t t0 = now_ns();
    bufpool_alloc_release(u[1]); /* buffers 0..2 free now */
    CHECK(wait_done(&b, 5000));
    pthread_join(t, NULL);
    CHECK_EQ(b.result, 0);
    printf("wait for run: woken %.1f us after the neighbour's release\n", (double)(b.done_ns - t0) / 1e3);
    CHECK(bufpool_alloc_offset(b.a) <= 4096); /* inside 0..2 */
    check_placement(p, b.a);
    bufpool_alloc_release(b.a);
    bufpool_alloc_release(u[3]);

    /* The same through an async waiter: its fd turns readable. */
    fill_singles(p, u);
    bufpool_alloc_release(u[1]);
    bufpool_alloc_release(u[3]);
    bufpool_waiter *w;
    CHECK_EQ(bufpool_waiter_create(p, &w), 0);
    CHECK_EQ(bufpool_waiter_allocate(w, 2, &x), -EAGAIN);
    struct pollfd pfd = {bufpool_waiter_fd(w), POLLIN, 0};
    CHECK_EQ(poll(&pfd, 1, 20), 0);
    bufpool_alloc_release(u[2]); /* 1..3 free */
    CHECK_EQ(poll(&pfd, 1, 5000), 1);
    CHECK_EQ(bufpool_waiter_allocate(w, 2, &x), 0);
    CHECK(bufpool_alloc_offset(x) >= 4096);
    bufpool_alloc_release(x);
    bufpool_alloc_release(u[0]);
    bufpool_waiter_destroy(w);
    bufpool_destroy(p);
}

/* ---- budget limits ----------------------------------------------------- */

static void test_limits(void)
{
    /* A budget that is not a page multiple: the region is longer. */
    bufpool *p = make(1024, 5000, BUFPOOL_REGION);
    size_t len = region_of(p).iov_len;
    CHECK(len >= 5000 && len % page_size() == 0);
    bufpool_alloc *x;
    CHECK_EQ(bufpool_allocate(p, 5, &x), -E2BIG); /* 5120 > 5000 though the region has room */
    CHECK(x == NULL);
    CHECK_EQ(bufpool_try_allocate(p, SIZE_MAX, &x), -E2BIG);
    CHECK_EQ(bufpool_allocate(p, 4, &x), 0);
    bufpool_alloc_release(x);

    CHECK_EQ(bufpool_set_max_memory(p, len + 1), -EINVAL);
    CHECK_EQ(bufpool_set_max_memory(p, len + page_size()), -EINVAL);
    CHECK_EQ(bufpool_set_max_memory(p, SIZE_MAX), -EINVAL);
    CHECK_EQ(stats_of(p).max_memory, 5000);
    CHECK_EQ(bufpool_set_max_memory(p, len), 0); /* up to the region: fine */
    CHECK_EQ(bufpool_allocate(p, len / 1024, &x), 0);
    check_placement(p, x);
    CHECK_EQ(bufpool_alloc_offset(x), 0);
    bufpool_alloc_release(x);
    CHECK_EQ(bufpool_set_max_memory(p, 2048), 0); /* shrink, then back */
    CHECK_EQ(bufpool_allocate(p, 3, &x), -E2BIG);
    CHECK_EQ(bufpool_allocate(p, 2, &x), 0);
    bufpool_alloc_release(x);
    CHECK_EQ(bufpool_set_max_memory(p, len), 0);
    CHECK_EQ(bufpool_allocate(p, len / 1024, &x), 0);
    bufpool_alloc_release(x);
    bufpool_destroy(p);
}

static void test_not_region(void)
{
    bufpool *p = make(4096, MiB, 0);
    struct iovec iov = {(void *)1, 1};
    CHECK_EQ(bufpool_region(p, &iov), -ENOTSUP);
    CHECK(iov.iov_base == NULL && iov.iov_len == 0); /* out-parameters cleared on failure */
    CHECK_EQ(bufpool_region(p, NULL), -EINVAL);
    iov = (struct iovec){(void *)1, 1};
    CHECK_EQ(bufpool_region(NULL, &iov), -EINVAL);
    CHECK(iov.iov_base == NULL && iov.iov_len == 0); /* cleared, even for a NULL pool */
    bufpool_alloc *x;
    CHECK_EQ(bufpool_allocate(p, 3, &x), 0);
    CHECK_EQ(bufpool_alloc_offset(x), SIZE_MAX);
    CHECK_EQ(stats_of(p).largest_free_run, 0);
    bufpool_alloc_release(x);
    CHECK_EQ(bufpool_alloc_offset(NULL), SIZE_MAX);
    bufpool_destroy(p);
}

/* ---- FIFO + REGION ----------------------------------------------------- */

static void test_fifo(void)
{
    bufpool *p = make(4096, 4 * 4096, BUFPOOL_REGION | BUFPOOL_FIFO);
    bufpool_alloc *u[4], *x;
    fill_singles(p, u);
    bufpool_alloc_release(u[1]);
    struct blocked a = {.pool = p, .n = 2}, b = {.pool = p, .n = 1};
    pthread_t ta, tb;
    CHECK_EQ(pthread_create(&ta, NULL, blocked_main, &a), 0);
    wait_waiters(p, 1); /* a waits for a run of two; one buffer is free */
    CHECK_EQ(bufpool_try_allocate(p, 1, &x), -EAGAIN); /* no overtaking */
    CHECK_EQ(pthread_create(&tb, NULL, blocked_main, &b), 0);
    wait_waiters(p, 2);
    CHECK(!wait_done(&a, 20) && !wait_done(&b, 1));
    bufpool_alloc_release(u[2]); /* buffers 1..2: a's run */
    CHECK(wait_done(&a, 5000));
    CHECK_EQ(a.result, 0);
    CHECK_EQ(bufpool_alloc_offset(a.a), 4096);
    CHECK(!wait_done(&b, 20)); /* nothing left for b yet */
    bufpool_alloc_release(u[0]);
    CHECK(wait_done(&b, 5000));
    CHECK_EQ(b.result, 0);
    CHECK(a.done_ns <= b.done_ns);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    bufpool_alloc_release(a.a);
    bufpool_alloc_release(b.a);
    bufpool_alloc_release(u[3]);
    bufpool_destroy(p);
}

/* ---- fragmenting workload ---------------------------------------------- */

#define FRAG_THREADS 4
#define FRAG_HOLD 4
#define FRAG_MAXN 256
#define FRAG_LIMIT_NS (10 * 1000000000ull)

struct frag {
    bufpool *pool;
    uint64_t seed, end_ns;
    uint64_t allocs, blocked, max_block_ns;
    int id;
};

/*
 * Each thread holds at most FRAG_HOLD allocations.  While it holds some it
 * only tries (on -EAGAIN it lets one go), and it blocks only when it holds
 * none: so every blocked call waits on others that keep releasing, and a
 * blocked call that runs into the 10 s limit means a lost wakeup or a run
 * that never appears.
 */
static void *frag_main(void *arg)
{
    struct frag *f = arg;
    const size_t bs = 4096;
    bufpool_alloc *held[FRAG_HOLD];
    uint64_t tags[FRAG_HOLD];
    size_t nheld = 0;
    while (now_ns() < f->end_ns) {
        size_t n = 1 + rnd(&f->seed) % FRAG_MAXN;
        bufpool_alloc *a;
        int r;
        if (nheld == FRAG_HOLD || (nheld && rnd(&f->seed) % 4 == 0)) {
            size_t i = rnd(&f->seed) % nheld;
            check_stamp(held[i], bs, tags[i]);
            bufpool_alloc_release(held[i]);
            held[i] = held[--nheld];
            tags[i] = tags[nheld];
            continue;
        }
        if (nheld) {
            r = bufpool_try_allocate(f->pool, n, &a);
            if (r == -EAGAIN)
                continue; /* the next round may let one go */
        } else {
            uint64_t t0 = now_ns();
            r = bufpool_allocate_timeout(f->pool, n, FRAG_LIMIT_NS, &a);
            uint64_t dt = now_ns() - t0;
            f->blocked++;
            if (dt > f->max_block_ns)
                f->max_block_ns = dt;
        }
        if (r != 0)
            fprintf(stderr, "thread %d: allocate(%zu): %s\n", f->id, n, bufpool_strerror(r));
        CHECK_EQ(r, 0);
        check_placement(f->pool, a);
        tags[nheld] = ((uint64_t)f->id << 56) | (f->allocs << 16);
        stamp(a, bs, tags[nheld]);
        held[nheld++] = a;
        f->allocs++;
    }
    while (nheld) {
        nheld--;
        check_stamp(held[nheld], bs, tags[nheld]);
        bufpool_alloc_release(held[nheld]);
    }
    return NULL;
}

static void test_fragmenting(unsigned flags, const char *name)
{
    const size_t bs = 4096, units = 1024; /* 4 MiB: 4 threads may want 16 MiB */
    bufpool *p = make(bs, units * bs, BUFPOOL_REGION | flags);
    struct frag f[FRAG_THREADS];
    pthread_t t[FRAG_THREADS];
    uint64_t end = now_ns() + 1500 * 1000000ull;
    for (int i = 0; i < FRAG_THREADS; i++) {
        f[i] = (struct frag){.pool = p, .seed = 0x1234567ull * (uint64_t)(i + 1), .end_ns = end, .id = i};
        CHECK_EQ(pthread_create(&t[i], NULL, frag_main, &f[i]), 0);
    }
    size_t run_min = SIZE_MAX, run_max = 0, samples = 0;
    while (now_ns() < end) {
        size_t run = stats_of(p).largest_free_run;
        run_min = run < run_min ? run : run_min;
        run_max = run > run_max ? run : run_max;
        samples++;
        sleep_ms(5);
    }
    uint64_t allocs = 0, blocked = 0, max_block = 0;
    for (int i = 0; i < FRAG_THREADS; i++) {
        pthread_join(t[i], NULL);
        allocs += f[i].allocs;
        blocked += f[i].blocked;
        max_block = f[i].max_block_ns > max_block ? f[i].max_block_ns : max_block;
    }
    bufpool_stats s = stats_of(p);
    printf("fragmenting (%s): %llu allocations, %llu blocking calls, longest wait %.2f ms, "
           "largest free run %zu..%zu of %zu over %zu samples, %llu waits\n",
           name, (unsigned long long)allocs, (unsigned long long)blocked, (double)max_block / 1e6,
           run_min, run_max, units, samples, (unsigned long long)s.total_waits);
    CHECK(allocs > 100); /* it made progress */
    CHECK_EQ(s.live_allocations, 0);
    CHECK_EQ(s.waiters, 0);
    /* Everything released: the whole budget is one run again. */
    bufpool_alloc *all;
    CHECK_EQ(bufpool_try_allocate(p, units, &all), 0);
    CHECK_EQ(bufpool_alloc_offset(all), 0);
    bufpool_alloc_release(all);
    bufpool_destroy(p);
}

/* ---- io_uring ----------------------------------------------------------- */

/* A thread cache's run (cache.c) never joins releases across a piece
 * boundary: released, A (the last 32 buffers of piece 0) and B (the first
 * 32 of piece 1) would make one run of 64 that the next request of 64 is
 * taken whole from, straddling the two pieces.  D (33 buffers) is released
 * first into the bin that 32 shares, so that A and B go to the run. */
static void test_run_pieces(void)
{
    const size_t bs = 65536, piece = (size_t)1 << 30, units = piece / bs;
    bufpool_config cfg = {.buffer_size = bs, .max_memory = piece + 64 * MiB, .flags = BUFPOOL_REGION};
    bufpool *p;
    int r = bufpool_create(&p, &cfg);
    if (r) {
        printf("SKIP: run pieces part: a region of %zu MiB: %s\n", (piece + 64 * MiB) / MiB,
               bufpool_strerror(r));
        return;
    }
    char *base = region_of(p).iov_base;
    bufpool_alloc *x0, *d, *a, *b, *c;
    CHECK_EQ(bufpool_try_allocate(p, units - 65, &x0), 0);
    CHECK_EQ(bufpool_try_allocate(p, 33, &d), 0);
    CHECK_EQ(bufpool_try_allocate(p, 32, &a), 0);
    CHECK_EQ(bufpool_try_allocate(p, 32, &b), 0);
    CHECK((char *)bufpool_alloc_first(a) == base + piece - 32 * bs);
    CHECK((char *)bufpool_alloc_first(b) == base + piece);
    bufpool_alloc_release(d);
    bufpool_alloc_release(a);
    bufpool_alloc_release(b);
    CHECK_EQ(bufpool_try_allocate(p, 64, &c), 0);
    size_t first = (size_t)((char *)bufpool_alloc_first(c) - base), last = first + 64 * bs - 1;
    printf("run pieces: 64 buffers at offset %zu MiB + %zu KiB, buffer index %d\n", first / MiB,
           first % MiB / KiB, bufpool_alloc_buf_index(c));
    CHECK_EQ(first / piece, last / piece);
    CHECK_EQ((size_t)bufpool_alloc_buf_index(c), first / piece);
    bufpool_alloc_release(c);
    bufpool_alloc_release(x0);
    bufpool_destroy(p);
}

#ifdef BUFPOOL_HAVE_LIBURING
/* Submit one prepared SQE and return its result (bytes or -errno). */
static int submit_one(struct io_uring *ring)
{
    struct io_uring_cqe *cqe;
    CHECK_EQ(io_uring_submit(ring), 1);
    CHECK_EQ(io_uring_wait_cqe(ring, &cqe), 0);
    int res = cqe->res;
    io_uring_cqe_seen(ring, cqe);
    return res;
}

static unsigned char pattern(size_t off) { return (unsigned char)(off * 131 + (off >> 12) * 7 + 1); }

static void test_uring(const char *dir)
{
    const size_t bs = 4096, fsize = 256 * KiB;
    char path[4200]; /* dir is shorter than 4096 */
    snprintf(path, sizeof path, "%s/test_region.uring.%d", dir, (int)getpid());

    struct io_uring ring;
    int r = io_uring_queue_init(8, &ring, 0);
    if (r == -ENOSYS || r == -EPERM || r == -EACCES) {
        printf("SKIP: io_uring part: io_uring_queue_init: %s (kernel or sandbox)\n", strerror(-r));
        return;
    }
    CHECK_EQ(r, 0);
    bufpool *p = make(bs, MiB, BUFPOOL_REGION);
    struct iovec iov = region_of(p);
    r = io_uring_register_buffers(&ring, &iov, 1);
    if (r == -ENOMEM || r == -EPERM) {
        /* Registration pins memory: RLIMIT_MEMLOCK without CAP_IPC_LOCK. */
        printf("SKIP: io_uring part: io_uring_register_buffers: %s (RLIMIT_MEMLOCK?)\n", strerror(-r));
        bufpool_destroy(p);
        io_uring_queue_exit(&ring);
        return;
    }
    CHECK_EQ(r, 0);

    /* A file with known content. */
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    unlink(path);
    unsigned char *want = malloc(fsize);
    CHECK(want != NULL);
    for (size_t i = 0; i < fsize; i++)
        want[i] = pattern(i);
    CHECK_EQ(pwrite(fd, want, fsize, 0), (ssize_t)fsize);

    /* A small allocation first, so the one read into has a nonzero offset. */
    bufpool_alloc *pad, *a;
    CHECK_EQ(bufpool_allocate(p, 3, &pad), 0);
    CHECK_EQ(bufpool_allocate(p, 16, &a), 0);
    check_placement(p, a);
    CHECK(bufpool_alloc_offset(a) != 0);
    memset(bufpool_alloc_first(a), 0xee, bufpool_alloc_bytes(a));
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    CHECK(sqe != NULL);
    /* Read 64 KiB from file offset 8 KiB: fixed buffer 0 is the region. */
    io_uring_prep_read_fixed(sqe, fd, bufpool_alloc_first(a), (unsigned)bufpool_alloc_bytes(a), 8192, 0);
    CHECK_EQ(submit_one(&ring), (int)bufpool_alloc_bytes(a));
    CHECK(memcmp(bufpool_alloc_first(a), want + 8192, bufpool_alloc_bytes(a)) == 0);

    /* And back: WRITE_FIXED from a second buffer of the allocation. */
    char *b1 = bufpool_alloc_buffer(a, 1);
    memset(b1, 0x3c, bs);
    sqe = io_uring_get_sqe(&ring);
    CHECK(sqe != NULL);
    io_uring_prep_write_fixed(sqe, fd, b1, (unsigned)bs, 0, 0);
    CHECK_EQ(submit_one(&ring), (int)bs);
    unsigned char back[4096];
    CHECK_EQ(pread(fd, back, sizeof back, 0), (ssize_t)sizeof back);
    for (size_t i = 0; i < sizeof back; i++)
        CHECK_EQ(back[i], 0x3c);

    /* An address outside the registered region is refused by the kernel:
     * the fixed buffer really is the region. */
    sqe = io_uring_get_sqe(&ring);
    CHECK(sqe != NULL);
    io_uring_prep_read_fixed(sqe, fd, want, (unsigned)bs, 0, 0);
    CHECK_EQ(submit_one(&ring), -EFAULT);

    printf("io_uring: region of %zu KiB registered; READ_FIXED into offset %zu and WRITE_FIXED ok\n",
           iov.iov_len / KiB, bufpool_alloc_offset(a));
    bufpool_alloc_release(a);
    bufpool_alloc_release(pad);
    close(fd);
    free(want);
    CHECK_EQ(io_uring_unregister_buffers(&ring), 0);
    io_uring_queue_exit(&ring);
    bufpool_destroy(p);
}

/* A region of three pieces registered as three fixed buffers; I/O into the
 * last one and the middle one by bufpool_alloc_buf_index. */
static void test_uring_pieces(const char *dir)
{
    const size_t bs = 4096, len = 2048 * MiB + 64 * MiB, fsize = 256 * KiB;
    const char *part = "io_uring pieces part";
    char path[4200];
    snprintf(path, sizeof path, "%s/test_region.pieces.%d", dir, (int)getpid());

    struct io_uring ring;
    int r = io_uring_queue_init(8, &ring, 0);
    if (r == -ENOSYS || r == -EPERM || r == -EACCES) {
        printf("SKIP: %s: io_uring_queue_init: %s (kernel or sandbox)\n", part, strerror(-r));
        return;
    }
    CHECK_EQ(r, 0);
    /* Huge pages where the system has them: pinning 2 GiB of 4 KiB pages
     * takes seconds, of 2 MiB pages a fraction of that. */
    bufpool *p = make(bs, len, BUFPOOL_REGION | BUFPOOL_HUGEPAGES);
    struct iovec whole = region_of(p), iov[4];
    int count = bufpool_region_iovecs(p, iov, 4);
    CHECK_EQ(count, 3);
    CHECK(iov[0].iov_base == whole.iov_base);
    CHECK_EQ(iov[0].iov_len + iov[1].iov_len + iov[2].iov_len, whole.iov_len);
    CHECK_EQ(iov[2].iov_len, whole.iov_len - 2048 * MiB);
    uint64_t t0 = now_ns();
    r = io_uring_register_buffers(&ring, iov, (unsigned)count);
    if (r == -ENOMEM || r == -EPERM) {
        /* It pins about 2 GiB: RLIMIT_MEMLOCK without CAP_IPC_LOCK, or memory. */
        printf("SKIP: %s: io_uring_register_buffers of %zu MiB in %d pieces: %s\n", part, len / MiB, count,
               strerror(-r));
        bufpool_destroy(p);
        io_uring_queue_exit(&ring);
        return;
    }
    CHECK_EQ(r, 0);
    double reg_ms = (double)(now_ns() - t0) / 1e6;

    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    unlink(path);
    unsigned char *want = malloc(fsize);
    CHECK(want != NULL);
    for (size_t i = 0; i < fsize; i++)
        want[i] = pattern(i);
    CHECK_EQ(pwrite(fd, want, fsize, 0), (ssize_t)fsize);

    /* Two allocations of a whole piece, then the one in the last piece. */
    bufpool_alloc *g0, *g1, *a;
    CHECK_EQ(bufpool_allocate(p, GiB / bs, &g0), 0);
    CHECK_EQ(bufpool_allocate(p, GiB / bs, &g1), 0);
    CHECK_EQ(bufpool_alloc_buf_index(g0), 0);
    CHECK_EQ(bufpool_alloc_buf_index(g1), 1);
    CHECK_EQ(bufpool_allocate(p, 16, &a), 0);
    check_placement(p, a);
    int idx = bufpool_alloc_buf_index(a);
    CHECK_EQ(idx, 2);
    char *first = bufpool_alloc_first(a);
    CHECK(first >= (char *)iov[2].iov_base && first + bufpool_alloc_bytes(a) <= (char *)iov[2].iov_base + iov[2].iov_len);
    memset(first, 0xee, bufpool_alloc_bytes(a));

    /* READ_FIXED into the last piece: 64 KiB from file offset 12 KiB. */
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    CHECK(sqe != NULL);
    io_uring_prep_read_fixed(sqe, fd, first, (unsigned)bufpool_alloc_bytes(a), 12288, idx);
    CHECK_EQ(submit_one(&ring), (int)bufpool_alloc_bytes(a));
    CHECK(memcmp(first, want + 12288, bufpool_alloc_bytes(a)) == 0);

    /* WRITE_FIXED from it: buffer 2 of the allocation to file offset 0. */
    char *b2 = bufpool_alloc_buffer(a, 2);
    memset(b2, 0x6b, bs);
    sqe = io_uring_get_sqe(&ring);
    CHECK(sqe != NULL);
    io_uring_prep_write_fixed(sqe, fd, b2, (unsigned)bs, 0, idx);
    CHECK_EQ(submit_one(&ring), (int)bs);
    unsigned char back[4096];
    CHECK_EQ(pread(fd, back, sizeof back, 0), (ssize_t)sizeof back);
    for (size_t i = 0; i < sizeof back; i++)
        CHECK_EQ(back[i], 0x6b);

    /* The middle piece, by its own index: into the last buffer of g1. */
    char *g1last = bufpool_alloc_buffer(g1, GiB / bs - 1);
    memset(g1last, 0, bs);
    sqe = io_uring_get_sqe(&ring);
    CHECK(sqe != NULL);
    io_uring_prep_read_fixed(sqe, fd, g1last, (unsigned)bs, 8192, bufpool_alloc_buf_index(g1));
    CHECK_EQ(submit_one(&ring), (int)bs);
    CHECK(memcmp(g1last, want + 8192, bs) == 0);

    /* The address of the last piece under index 0 is outside buffer 0. */
    sqe = io_uring_get_sqe(&ring);
    CHECK(sqe != NULL);
    io_uring_prep_read_fixed(sqe, fd, first, (unsigned)bs, 0, 0);
    CHECK_EQ(submit_one(&ring), -EFAULT);

    printf("io_uring pieces: a region of %zu MiB registered as %d fixed buffers (%.0f ms); READ_FIXED and "
           "WRITE_FIXED with buf_index %d at offset %zu, READ_FIXED with buf_index 1: ok\n",
           len / MiB, count, reg_ms, idx, bufpool_alloc_offset(a));
    bufpool_alloc_release(a);
    bufpool_alloc_release(g1);
    bufpool_alloc_release(g0);
    close(fd);
    free(want);
    CHECK_EQ(io_uring_unregister_buffers(&ring), 0);
    io_uring_queue_exit(&ring);
    bufpool_destroy(p);
}
#endif

int main(int argc, char **argv)
{
    (void)argc;
    test_create();
    const size_t sizes[] = {8, 64, 512, 4096, 16384, 65536};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        test_carving(sizes[i], 7 + i);
    test_coalescing();
    test_wait_for_run();
    test_limits();
    test_not_region();
    test_fifo();
    test_fragmenting(0, "opportunistic");
    test_fragmenting(BUFPOOL_FIFO, "FIFO");
    test_run_pieces();
#ifdef BUFPOOL_HAVE_LIBURING
    /* The scratch file goes beside the binary (the build directory). */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", argv[0]);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    test_uring(dir);
    test_uring_pieces(dir);
#else
    (void)argv;
    SKIP_PART("io_uring part", "built without liburing (apt-get install liburing-dev)");
    SKIP_PART("io_uring pieces part", "built without liburing (apt-get install liburing-dev)");
#endif
    printf("test_region: ok\n");
    return 0;
}
