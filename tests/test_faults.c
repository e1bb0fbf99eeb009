/*
 * test_faults: fault injection.  The library's calls to malloc, calloc,
 * posix_memalign, mmap and eventfd go through the wrappers below (the link
 * uses -Wl,--wrap=..., see mk/reliability.mk).  A dry run of the scenario
 * counts the calls; then the scenario runs once for each k = 1..K with
 * call k failing.  Every API call must return 0 or its documented error
 * (-ENOMEM, or the eventfd errno for waiter_create), leave its
 * out-parameter NULL and the statistics as they were on failure, and the
 * pool must stay usable: the same call made again without a fault
 * succeeds.  Leaks are found by LeakSanitizer (ASan build) and valgrind
 * (tests/valgrind.sh), which run this program too.
 */
#define _GNU_SOURCE
#include "bufpool.h"
#include "check.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

static long calls, fail_at, injected;

static int fault(void)
{
    return ++calls == fail_at && ++injected;
}

void *__real_malloc(size_t size);
void *__real_calloc(size_t nmemb, size_t size);
int __real_posix_memalign(void **memptr, size_t alignment, size_t size);
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __real_eventfd(unsigned int initval, int flags);

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t nmemb, size_t size);
int __wrap_posix_memalign(void **memptr, size_t alignment, size_t size);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __wrap_eventfd(unsigned int initval, int flags);

void *__wrap_malloc(size_t size)
{
    if (fault()) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_malloc(size);
}

void *__wrap_calloc(size_t nmemb, size_t size)
{
    if (fault()) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_calloc(nmemb, size);
}

int __wrap_posix_memalign(void **memptr, size_t alignment, size_t size)
{
    if (fault())
        return ENOMEM;
    return __real_posix_memalign(memptr, alignment, size);
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (fault()) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    return __real_mmap(addr, len, prot, flags, fd, off);
}

int __wrap_eventfd(unsigned int initval, int flags)
{
    if (fault()) {
        errno = EMFILE;
        return -1;
    }
    return __real_eventfd(initval, flags);
}

static void snap(bufpool *p, bufpool_stats *st)
{
    bufpool_get_stats(p, st);
}

/* A call that may fail with one of the allowed errors; on failure the
 * statistics must be unchanged (but for total_failures), the out-parameter
 * NULL, and the same call again (past the fault) must give `again`. */
#define TRY(p, outp, expr, again, allowed1, allowed2) do { \
    bufpool_stats sb_, sa_; \
    if (p) snap(p, &sb_); \
    int r_ = (expr); \
    if (r_ != 0 && r_ != (again)) { \
        if (r_ != (allowed1) && r_ != (allowed2)) { \
            fprintf(stderr, "fault %ld: %s returned %d (%s)\n", fail_at, #expr, r_, bufpool_strerror(r_)); \
            CHECK(!"undocumented error"); \
        } \
        CHECK((outp) == NULL); \
        if (p) { \
            snap(p, &sa_); \
            CHECK_EQ(sa_.in_use_bytes, sb_.in_use_bytes); \
            CHECK_EQ(sa_.live_allocations, sb_.live_allocations); \
            CHECK_EQ(sa_.total_allocations, sb_.total_allocations); \
            CHECK(sa_.in_use_bytes + sa_.cached_bytes <= sa_.max_memory); \
        } \
        r_ = (expr); \
    } \
    if (r_ != (again)) { \
        fprintf(stderr, "fault %ld: %s again returned %d (%s), expected %d\n", fail_at, #expr, r_, \
                bufpool_strerror(r_), (again)); \
        exit(1); \
    } \
} while (0)

static void scenario(unsigned flags, size_t bs)
{
    bufpool *p = NULL;
    bufpool_config cfg = {bs, bs * 8, flags};
    bufpool *np = NULL;
    TRY(np, p, bufpool_create(&p, &cfg), 0, -ENOMEM, -ENOMEM);

    bufpool_alloc *a[8] = {0};
    TRY(p, a[0], bufpool_allocate(p, 1, &a[0]), 0, -ENOMEM, -ENOMEM);
    TRY(p, a[1], bufpool_try_allocate(p, 2, &a[1]), 0, -ENOMEM, -ENOMEM);
    TRY(p, a[2], bufpool_allocate_timeout(p, 3, 1000000, &a[2]), 0, -ENOMEM, -ENOMEM);
    /* a cache hit and a cache of another length given up */
    bufpool_alloc_release(a[0]);
    a[0] = NULL;
    TRY(p, a[0], bufpool_allocate(p, 1, &a[0]), 0, -ENOMEM, -ENOMEM);
    bufpool_alloc_release(a[1]);
    a[1] = NULL;
    if (!(flags & BUFPOOL_REGION)) {
        TRY(p, a[1], bufpool_try_allocate(p, 4, &a[1]), 0, -ENOMEM, -ENOMEM); /* 1 + 3 + 4 = 8: full */
    } else { /* the region has no run of 4 now: fill it with two of 2 */
        TRY(p, a[1], bufpool_try_allocate(p, 2, &a[1]), 0, -ENOMEM, -ENOMEM);
        TRY(p, a[4], bufpool_try_allocate(p, 2, &a[4]), 0, -ENOMEM, -ENOMEM);
    }

    /* waiters: create (calloc, eventfd), pend, get served by a release */
    bufpool_waiter *w = NULL, *w2 = NULL;
    TRY(p, w, bufpool_waiter_create(p, &w), 0, -ENOMEM, -EMFILE);
    TRY(p, w2, bufpool_waiter_create(p, &w2), 0, -ENOMEM, -EMFILE);
    bufpool_alloc *g = NULL;
    TRY(p, g, bufpool_waiter_allocate(w, 2, &g), -EAGAIN, -ENOMEM, -ENOMEM);
    TRY(p, g, bufpool_waiter_allocate(w2, 1, &g), -EAGAIN, -ENOMEM, -ENOMEM);
    bufpool_alloc_release(a[2]); /* 3 buffers back: serves w (FIFO: sets memory aside) */
    a[2] = NULL;
    struct pollfd pfd = {.fd = bufpool_waiter_fd(w), .events = POLLIN};
    CHECK_EQ(poll(&pfd, 1, 0), 1);
    /* In FIFO mode the memory set aside may have failed (-ENOMEM reported
     * to the waiter); asking again must then work. */
    TRY(p, g, bufpool_waiter_allocate(w, 2, &g), 0, -ENOMEM, -EAGAIN);
    bufpool_alloc_release(g);
    g = NULL;
    bufpool_waiter_cancel(w2);
    bufpool_waiter_destroy(w2);

    /* shrink and grow with caches around */
    TRY(p, a[3], bufpool_allocate(p, 1, &a[3]), 0, -ENOMEM, -ENOMEM);
    CHECK_EQ(bufpool_set_max_memory(p, bs * 6), 0);
    bufpool_alloc_release(a[3]);
    a[3] = NULL;
    CHECK_EQ(bufpool_set_max_memory(p, bs * 8), 0);
    TRY(p, a[3], bufpool_try_allocate(p, 2, &a[3]), 0, -ENOMEM, -ENOMEM);
    for (int i = 0; i < 8; i++)
        bufpool_alloc_release(a[i]);
    bufpool_stats st;
    bufpool_get_stats(p, &st);
    CHECK_EQ(st.live_allocations, 0);
    CHECK_EQ(st.in_use_bytes, 0);
    bufpool_waiter_destroy(w);
    bufpool_destroy(p);
}

static void all(void)
{
    scenario(0, 64);                         /* posix_memalign */
    scenario(BUFPOOL_FIFO, 64);
    scenario(0, (size_t)64 << 10);           /* mmap'ed blocks */
    scenario(BUFPOOL_REGION | BUFPOOL_FIFO, 4096); /* region: mmap + its arrays */
}

int main(void)
{
    fail_at = 0;
    calls = 0;
    all();
    long total = calls;
    CHECK(total > 0);
    for (long k = 1; k <= total; k++) {
        fail_at = k;
        calls = 0;
        injected = 0;
        all();
        CHECK_EQ(injected, 1);
    }
    fail_at = 0;
    printf("test_faults: %ld fault points, each failed once: documented errors, pool usable\n", total);
    return 0;
}
