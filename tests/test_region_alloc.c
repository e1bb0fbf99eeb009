/*
 * Unit test of the region allocator (src/region.c) through its internal
 * interface in internal.h.  It checks:
 *   - destroy(NULL) is a no-op;
 *   - the base is page-aligned and the length is max_memory rounded up to a
 *     page, for several buffer sizes and budgets;
 *   - carving: runs never overlap and stay inside the region (each run's
 *     bytes are stamped and re-read), and freeing them all in random order
 *     brings back one run of every unit (largest == units);
 *   - the exact-fit property, randomized against a reference bitmap model
 *     for unit counts from 37 to 4096 (one or several 512-unit leaves, a
 *     partial last leaf, a partial last 64-bit word): alloc(n) succeeds
 *     iff the model holds a run of n free units, the run it returns is
 *     free in the model (and is the leftmost such run: region.c's
 *     documented address-ordered first fit),
 *     and largest() always equals the model's longest free run; whole and
 *     partial frees;
 *   - BUFPOOL_LOCKED: a small locked region works (part skipped if mlock is
 *     refused); in a child without CAP_IPC_LOCK and with a small
 *     RLIMIT_MEMLOCK, create returns the mlock error, sets *out to NULL and
 *     leaves no mapping behind;
 *   - BUFPOOL_HUGEPAGES falls back silently: create succeeds, the length is a
 *     multiple of 2 MiB and the memory is usable;
 *   - concurrent alloc/free from several threads never hands out a unit
 *     twice.
 * Exit 0 on pass, 1 on failure.  The tree logic can be stressed on small
 * regions by building region.c with -DBUFPOOL__REGION_LEAF_WORDS=1.
 * Under ASan/TSan mlock is a no-op, so the mlock-failure part is skipped.
 * A skipped part prints a "SKIP:" line, which tests/run.sh counts.
 */
#include "internal.h"
#include "check.h"

#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* xorshift64*: a small deterministic generator. */
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static size_t rnd_below(size_t n) { return (size_t)(rnd() % n); }

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

struct run {
    size_t idx, n;
};

static void shuffle(struct run *v, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = rnd_below(i);
        struct run t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* The region is serialized by its caller, as the arena does under its
 * chunk's lock: this lock stands for it. */
static pthread_mutex_t region_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t region_alloc(struct bufpool__region *r, size_t n)
{
    pthread_mutex_lock(&region_lock);
    size_t i = bufpool__region_find_locked(r, n);
    if (i != SIZE_MAX)
        bufpool__region_take_locked(r, i, n);
    pthread_mutex_unlock(&region_lock);
    return i;
}

static void region_free(struct bufpool__region *r, size_t index, size_t n)
{
    pthread_mutex_lock(&region_lock);
    bufpool__region_give_locked(r, index, n);
    pthread_mutex_unlock(&region_lock);
}

static size_t region_largest(struct bufpool__region *r)
{
    size_t pre, suf, max;
    pthread_mutex_lock(&region_lock);
    bufpool__region_edges_locked(r, &pre, &suf, &max);
    pthread_mutex_unlock(&region_lock);
    return max;
}

static struct bufpool__region *make_region(size_t bs, size_t max, unsigned flags)
{
    struct bufpool__region *r = (void *)1;
    CHECK_EQ(bufpool__region_create(&r, bs, max, flags), 0);
    CHECK(r != NULL);
    return r;
}

static void test_alignment(void)
{
    const size_t ps = page_size();
    const size_t bss[] = {8, 64, 4096, 1u << 20};
    const size_t maxes[] = {1, 4095, 4096, 100000, (3u << 20) + 7};
    for (size_t i = 0; i < sizeof bss / sizeof *bss; i++) {
        for (size_t j = 0; j < sizeof maxes / sizeof *maxes; j++) {
            size_t bs = bss[i], max = maxes[j] < bs ? bs : maxes[j];
            struct bufpool__region *r = make_region(bs, max, 0);
            size_t len = bufpool__region_length(r);
            CHECK((uintptr_t)bufpool__region_base(r) % ps == 0);
            CHECK(len % ps == 0 && len >= max && len < max + ps);
            CHECK_EQ(region_largest(r), len / bs);
            memset(bufpool__region_base(r), 0xa5, len); /* all of it is mapped */
            bufpool__region_destroy(r);
        }
    }
}

/* Fill with single units (first fit gives 0, 1, 2, ...), then free them in
 * random order; every run must merge back into one. */
static void test_fill_and_coalesce(void)
{
    struct bufpool__region *r = make_region(16, 3 * 4096, 0); /* partial last leaf */
    size_t units = bufpool__region_length(r) / 16;
    struct run *v = malloc(units * sizeof *v);
    CHECK(v != NULL);
    for (size_t i = 0; i < units; i++) {
        CHECK_EQ(region_alloc(r, 1), i);
        v[i] = (struct run){i, 1};
    }
    CHECK_EQ(region_alloc(r, 1), SIZE_MAX);
    CHECK_EQ(region_largest(r), 0);
    CHECK_EQ(region_alloc(r, 0), SIZE_MAX);
    shuffle(v, units);
    for (size_t i = 0; i < units; i++)
        region_free(r, v[i].idx, 1);
    CHECK_EQ(region_largest(r), units);
    CHECK_EQ(region_alloc(r, units), 0);
    CHECK_EQ(region_alloc(r, 1), SIZE_MAX);
    CHECK_EQ(region_alloc(r, units + 1), SIZE_MAX);
    region_free(r, 0, units);
    CHECK_EQ(region_largest(r), units);
    free(v);
    bufpool__region_destroy(r);
}

/* Carve random runs until one fails, stamp each run's bytes with its number,
 * check every stamp survived (no overlap, all inside), free at random. */
static void test_carving(size_t bs, size_t max, size_t maxn)
{
    struct bufpool__region *r = make_region(bs, max, 0);
    size_t units = bufpool__region_length(r) / bs, count = 0;
    unsigned char *base = bufpool__region_base(r);
    struct run *v = malloc(units * sizeof *v);
    CHECK(v != NULL);
    for (;;) {
        size_t n = 1 + rnd_below(maxn);
        size_t i = region_alloc(r, n);
        if (i == SIZE_MAX) {
            CHECK(region_largest(r) < n);
            if (region_largest(r) == 0)
                break;
            continue;
        }
        CHECK(i < units && n <= units - i);
        memset(base + i * bs, (int)(count % 251) + 1, n * bs);
        v[count++] = (struct run){i, n};
    }
    for (size_t k = 0; k < count; k++)
        for (size_t b = 0; b < v[k].n * bs; b++)
            CHECK_EQ(base[v[k].idx * bs + b], (k % 251) + 1);
    shuffle(v, count);
    size_t prev = 0;
    for (size_t k = 0; k < count; k++) {
        region_free(r, v[k].idx, v[k].n);
        size_t l = region_largest(r);
        CHECK(l >= prev); /* freeing never shrinks the longest run */
        prev = l;
    }
    CHECK_EQ(region_largest(r), units);
    free(v);
    bufpool__region_destroy(r);
}

/* ---- the reference model: one bool per unit ------------------------------ */

static size_t model_largest(const bool *used, size_t units)
{
    size_t best = 0, cur = 0;
    for (size_t i = 0; i < units; i++) {
        cur = used[i] ? 0 : cur + 1;
        if (cur > best)
            best = cur;
    }
    return best;
}

/* The leftmost start of n free units, or SIZE_MAX. */
static size_t model_first_fit(const bool *used, size_t units, size_t n)
{
    size_t cur = 0;
    for (size_t i = 0; i < units; i++) {
        cur = used[i] ? 0 : cur + 1;
        if (cur == n)
            return i + 1 - n;
    }
    return SIZE_MAX;
}

static void model_mark(bool *used, size_t i, size_t n, bool v)
{
    for (size_t k = i; k < i + n; k++) {
        CHECK(used[k] != v); /* never hand out or free a unit twice */
        used[k] = v;
    }
}

static void test_model(size_t bs, size_t max, size_t ops)
{
    struct bufpool__region *r = make_region(bs, max, 0);
    size_t units = bufpool__region_length(r) / bs, nlive = 0;
    bool *used = calloc(units, sizeof *used);
    struct run *live = malloc((units + 1) * sizeof *live);
    CHECK(used != NULL && live != NULL);
    for (size_t op = 0; op < ops; op++) {
        if (nlive == 0 || rnd_below(100) < 55) {
            size_t p = rnd_below(100), n;
            if (p < 70)
                n = 1 + rnd_below(8 < units ? 8 : units);
            else if (p < 90)
                n = 1 + rnd_below(units / 4);
            else
                n = 1 + rnd_below(units);
            size_t want = model_largest(used, units) >= n;
            size_t i = region_alloc(r, n);
            CHECK_EQ(i != SIZE_MAX, want); /* found iff a run exists */
            CHECK_EQ(i, model_first_fit(used, units, n)); /* the policy */
            if (i != SIZE_MAX) {
                CHECK(i < units && n <= units - i);
                model_mark(used, i, n, true);
                live[nlive++] = (struct run){i, n};
            }
        } else {
            size_t k = rnd_below(nlive);
            struct run x = live[k];
            if (x.n > 2 && rnd_below(100) < 25) {
                /* Partial free: a middle piece, leaving two live pieces. */
                size_t a = 1 + rnd_below(x.n - 2), b = a + 1 + rnd_below(x.n - a - 1);
                region_free(r, x.idx + a, b - a);
                model_mark(used, x.idx + a, b - a, false);
                live[k] = (struct run){x.idx, a};
                if (b < x.n)
                    live[nlive++] = (struct run){x.idx + b, x.n - b};
            } else {
                region_free(r, x.idx, x.n);
                model_mark(used, x.idx, x.n, false);
                live[k] = live[--nlive];
            }
        }
        CHECK_EQ(region_largest(r), model_largest(used, units));
    }
    shuffle(live, nlive);
    for (size_t k = 0; k < nlive; k++)
        region_free(r, live[k].idx, live[k].n);
    CHECK_EQ(region_largest(r), units);
    free(used);
    free(live);
    bufpool__region_destroy(r);
}

/* ---- LOCKED ------------------------------------------------------------- */

static bool is_mlock_error(int rc)
{
    return rc == -EPERM || rc == -ENOMEM || rc == -EAGAIN;
}

static size_t count_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    size_t n = 0;
    int c;
    CHECK(f != NULL);
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* In a child: lose CAP_IPC_LOCK, shrink RLIMIT_MEMLOCK to 64 KiB and ask
 * for a locked 4 MiB region, many times.  Exit 0 if every call failed with
 * an mlock error and left nothing mapped, 77 if the failure could not be
 * provoked, 1 otherwise. */
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
static bool running_on_valgrind(void)
{
    return RUNNING_ON_VALGRIND;
}
#else
static bool running_on_valgrind(void)
{
    return false;
}
#endif

static int locked_failure_child(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) == 0) {
        d[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
        (void)syscall(SYS_capset, &h, d);
    }
    struct rlimit rl = {64 << 10, 64 << 10};
    if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0)
        return 77;
    size_t before = count_mappings();
    for (int i = 0; i < 100; i++) {
        struct bufpool__region *r = (void *)1;
        int rc = bufpool__region_create(&r, 4096, 4 << 20, BUFPOOL_LOCKED);
        if (rc == 0) {
            bufpool__region_destroy(r);
            return 77;
        }
        if (!is_mlock_error(rc) || r != NULL)
            return 1;
    }
    /* Under valgrind its own allocator maps memory as the loop runs: the
     * count says nothing about ours there (memcheck checks the leaks). */
    return running_on_valgrind() || count_mappings() <= before + 2 ? 0 : 1;
}

static void test_locked(void)
{
    struct bufpool__region *r = (void *)1;
    int rc = bufpool__region_create(&r, 4096, 256 << 10, BUFPOOL_LOCKED);
    if (rc == 0) {
        memset(bufpool__region_base(r), 1, bufpool__region_length(r));
        CHECK_EQ(region_alloc(r, 64), 0);
        bufpool__region_destroy(r);
    } else {
        CHECK(is_mlock_error(rc));
        CHECK(r == NULL);
        printf("SKIP: locked region success: mlock refused (%d)\n", rc);
    }

    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        exit(locked_failure_child());
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st));
    if (WEXITSTATUS(st) == 77)
        SKIP_PART("locked region failure", "could not provoke an mlock failure");
    else
        CHECK_EQ(WEXITSTATUS(st), 0);
}

static void test_hugepages(void)
{
    const size_t mib2 = (size_t)2 << 20;
    struct bufpool__region *r = make_region(4096, (3u << 20) + 1, BUFPOOL_HUGEPAGES);
    size_t len = bufpool__region_length(r);
    CHECK_EQ(len, 2 * mib2);
    CHECK((uintptr_t)bufpool__region_base(r) % page_size() == 0);
    memset(bufpool__region_base(r), 7, len);
    CHECK_EQ(region_largest(r), len / 4096);
    CHECK_EQ(region_alloc(r, len / 4096), 0);
    bufpool__region_destroy(r);

    r = (void *)1;
    int rc = bufpool__region_create(&r, 8, 4096, BUFPOOL_HUGEPAGES | BUFPOOL_LOCKED);
    if (rc == 0) {
        CHECK_EQ(bufpool__region_length(r), mib2);
        bufpool__region_destroy(r);
    } else {
        CHECK(is_mlock_error(rc) && r == NULL);
    }
}

/* ---- threads --------------------------------------------------------------- */

#define NTHREADS 4
static struct bufpool__region *shared;

/* Each thread stamps the units it holds with its own tag and checks the
 * stamps are intact before freeing: a unit handed out twice shows up. */
static void *worker(void *arg)
{
    uint32_t tag = (uint32_t)(uintptr_t)arg, seed = tag * 2654435761u + 1;
    uint32_t *base = bufpool__region_base(shared); /* 16-byte units: 4 words */
    struct run held[8];
    size_t nheld = 0;
    for (int it = 0; it < 20000; it++) {
        seed = seed * 1103515245u + 12345u;
        if (nheld < 8 && (seed >> 16) % 2) {
            size_t n = 1 + (seed >> 20) % 16;
            size_t i = region_alloc(shared, n);
            if (i == SIZE_MAX)
                continue;
            for (size_t w = i * 4; w < (i + n) * 4; w++)
                base[w] = tag;
            held[nheld++] = (struct run){i, n};
        } else if (nheld) {
            struct run x = held[--nheld];
            for (size_t w = x.idx * 4; w < (x.idx + x.n) * 4; w++)
                CHECK_EQ(base[w], tag);
            region_free(shared, x.idx, x.n);
        }
    }
    while (nheld) {
        struct run x = held[--nheld];
        region_free(shared, x.idx, x.n);
    }
    return NULL;
}

static void test_threads(void)
{
    pthread_t t[NTHREADS];
    shared = make_region(16, 4096, 0); /* few units: plenty of contention */
    for (uintptr_t i = 0; i < NTHREADS; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, worker, (void *)(i + 1)), 0);
    for (int i = 0; i < NTHREADS; i++)
        CHECK_EQ(pthread_join(t[i], NULL), 0);
    CHECK_EQ(region_largest(shared), bufpool__region_length(shared) / 16);
    bufpool__region_destroy(shared);
}

int main(void)
{
    bufpool__region_destroy(NULL);
    test_alignment();
    test_fill_and_coalesce();
    test_carving(64, 1 << 20, 64);   /* 16384 units, 32 leaves */
    test_carving(4096, 8 << 20, 8);  /* 2048 units */
    test_model(64, 4096, 20000);     /* 64 units at 4 KiB pages */
    test_model(32, 4096, 20000);     /* 128 */
    test_model(16, 4096, 20000);     /* 256 */
    test_model(8, 4096, 20000);      /* 512: one full leaf */
    test_model(16, 3 * 4096, 20000); /* 768: a partial second leaf */
    test_model(8, 8 * 4096, 5000);   /* 4096: eight leaves */
    test_model(65536, 100 << 16, 20000); /* 100: a partial 64-bit word */
    test_model(8192, 1000 << 13, 5000);  /* 1000: partial leaf and word */
    test_model(1 << 20, 37 << 20, 5000); /* 37 */
    test_locked();
    test_hugepages();
    test_threads();
    printf("test_region_alloc: ok\n");
    return 0;
}
