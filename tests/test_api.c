/*
 * test_api: the single-threaded contract of the pool API.  Config validation,
 * every argument error, -E2BIG (overflow included), layout and alignment of
 * allocations, accessors, refcounting on one thread, try_allocate when the
 * budget is short (and that cached memory is given up first), statistics,
 * set_max_memory, shutdown, version and strerror: every error code a man
 * page documents (each \-EXXX in the pages in man/, found by scanning them when
 * they are reachable, else a "SKIP:" line for that scan) is known here; a
 * code bufpool gives a meaning of its own has a message of its own, which
 * covers each documented use; a code it only passes on from the system,
 * and any other errno, reads as strerror(3) says it (issue 21, point 5).
 */
#define _GNU_SOURCE
#include "bufpool.h"
#include "check.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <strings.h>

static void test_create_errors(void)
{
    bufpool *p = (bufpool *)1;
    bufpool_config ok = {64, 4096, 0};
    CHECK_EQ(bufpool_create(NULL, &ok), -EINVAL);
    CHECK_EQ(bufpool_create(&p, NULL), -EINVAL);
    CHECK(p == NULL);
    size_t bad_sizes[] = {0, 1, 4, 7, 12, 100, 3000, ((size_t)1 << 30) + 1, (size_t)1 << 31, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof *bad_sizes; i++) {
        bufpool_config c = {bad_sizes[i], SIZE_MAX, 0};
        p = (bufpool *)1;
        CHECK_EQ(bufpool_create(&p, &c), -EINVAL);
        CHECK(p == NULL);
    }
    bufpool_config small = {64, 63, 0};
    CHECK_EQ(bufpool_create(&p, &small), -EINVAL);
    bufpool_config flags = {64, 4096, 0x100};
    CHECK_EQ(bufpool_create(&p, &flags), -EINVAL);
    bufpool_config huge_no_region = {64, 4096, BUFPOOL_HUGEPAGES};
    CHECK_EQ(bufpool_create(&p, &huge_no_region), -EINVAL);
    bufpool_config locked_no_region = {64, 4096, BUFPOOL_LOCKED};
    CHECK_EQ(bufpool_create(&p, &locked_no_region), -EINVAL);
    /* the extremes that are valid */
    bufpool_config lo = {8, 8, 0}, hi = {(size_t)1 << 30, (size_t)1 << 30, BUFPOOL_FIFO};
    CHECK_EQ(bufpool_create(&p, &lo), 0);
    bufpool_destroy(p);
    CHECK_EQ(bufpool_create(&p, &hi), 0);
    bufpool_destroy(p);
    bufpool_destroy(NULL);
}

static void test_alloc_errors(void)
{
    bufpool *p = make(64, 64 * 16, 0);
    bufpool_alloc *a = (bufpool_alloc *)1;
    CHECK_EQ(bufpool_allocate(p, 0, &a), -EINVAL);
    CHECK(a == NULL);
    CHECK_EQ(bufpool_allocate(NULL, 1, &a), -EINVAL);
    CHECK_EQ(bufpool_allocate(p, 1, NULL), -EINVAL);
    CHECK_EQ(bufpool_try_allocate(p, 0, &a), -EINVAL);
    CHECK_EQ(bufpool_allocate_timeout(p, 0, 1000, &a), -EINVAL);
    /* larger than the whole budget: at once, also in the blocking call */
    a = (bufpool_alloc *)1;
    CHECK_EQ(bufpool_allocate(p, 17, &a), -E2BIG);
    CHECK(a == NULL);
    CHECK_EQ(bufpool_try_allocate(p, 17, &a), -E2BIG);
    CHECK_EQ(bufpool_allocate_timeout(p, 1000, 1000000, &a), -E2BIG);
    /* n * buffer_size overflows size_t */
    CHECK_EQ(bufpool_allocate(p, SIZE_MAX / 32, &a), -E2BIG);
    CHECK_EQ(bufpool_allocate(p, SIZE_MAX, &a), -E2BIG);
    CHECK_EQ(bufpool_allocate(p, ((size_t)1 << 58) + 1, &a), -E2BIG);
    bufpool_stats st;
    bufpool_get_stats(p, &st);
    CHECK_EQ(st.total_failures, 10);
    CHECK_EQ(st.total_allocations, 0);
    CHECK_EQ(st.in_use_bytes, 0);
    bufpool_destroy(p);
}

static void test_layout(void)
{
    size_t sizes[] = {8, 16, 64, 512, 4096, 8192, 65536};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t bs = sizes[s], align = bs < 4096 ? bs : 4096;
        bufpool *p = make(bs, bs * 300, 0);
        size_t ns[] = {1, 2, 3, 16, 100, 300};
        for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
            size_t n = ns[k];
            bufpool_alloc *a;
            CHECK_EQ(bufpool_allocate(p, n, &a), 0);
            char *first = bufpool_alloc_first(a);
            CHECK(first != NULL);
            CHECK_EQ((uintptr_t)first % align, 0);
            CHECK_EQ(bufpool_alloc_length(a), n);
            CHECK_EQ(bufpool_alloc_bytes(a), n * bs);
            for (size_t i = 0; i < n; i++)
                CHECK(bufpool_alloc_buffer(a, i) == first + i * bs);
            CHECK(bufpool_alloc_buffer(a, n) == NULL);
            CHECK(bufpool_alloc_buffer(a, SIZE_MAX) == NULL);
            CHECK_EQ(bufpool_alloc_offset(a), SIZE_MAX); /* not a region pool */
            memset(first, 0xab, n * bs);                 /* all of it is ours */
            bufpool_alloc_release(a);
        }
        bufpool_destroy(p);
    }
    CHECK(bufpool_alloc_first(NULL) == NULL);
    CHECK_EQ(bufpool_alloc_length(NULL), 0);
    CHECK_EQ(bufpool_alloc_bytes(NULL), 0);
    CHECK(bufpool_alloc_buffer(NULL, 0) == NULL);
    CHECK(bufpool_alloc_retain(NULL) == NULL);
    bufpool_alloc_release(NULL);
}

static void test_budget_and_stats(void)
{
    bufpool *p = make(64, 64 * 8, 0);
    bufpool_alloc *a, *b, *c;
    bufpool_stats st;

    CHECK_EQ(bufpool_allocate(p, 5, &a), 0);
    CHECK_EQ(bufpool_try_allocate(p, 3, &b), 0);
    c = (bufpool_alloc *)1;
    CHECK_EQ(bufpool_try_allocate(p, 1, &c), -EAGAIN);
    CHECK(c == NULL);
    CHECK_EQ(bufpool_allocate_timeout(p, 1, 1000000, &c), -ETIMEDOUT);
    CHECK_EQ(bufpool_allocate_timeout(p, 1, 0, &c), -ETIMEDOUT);
    bufpool_get_stats(p, &st);
    CHECK_EQ(st.buffer_size, 64);
    CHECK_EQ(st.max_memory, 512);
    CHECK_EQ(st.in_use_bytes, 512);
    CHECK_EQ(st.peak_in_use_bytes, 512);
    CHECK_EQ(st.live_allocations, 2);
    CHECK_EQ(st.total_allocations, 2);
    CHECK_EQ(st.total_failures, 3);
    CHECK_EQ(st.waiters, 0);
    CHECK_EQ(st.largest_free_run, 0);
    CHECK(st.total_waits >= 1); /* the timed call waited */

    /* retain keeps it alive; the second release frees it */
    CHECK(bufpool_alloc_retain(a) == a);
    bufpool_alloc_release(a);
    bufpool_get_stats(p, &st);
    CHECK_EQ(st.live_allocations, 2);
    bufpool_alloc_release(a);
    bufpool_get_stats(p, &st);
    CHECK_EQ(st.live_allocations, 1);
    CHECK_EQ(st.in_use_bytes, 192);
    CHECK(st.in_use_bytes + st.cached_bytes <= st.max_memory);

    /* 5 buffers are cached; a request for 4 others must get them back:
     * cached memory is given up before a request fails. */
    CHECK_EQ(bufpool_try_allocate(p, 4, &c), 0);
    bufpool_get_stats(p, &st);
    CHECK_EQ(st.in_use_bytes, 448);
    CHECK(st.in_use_bytes + st.cached_bytes <= 512);
    bufpool_alloc_release(c);
    bufpool_alloc_release(b);
    bufpool_get_stats(p, &st);
    CHECK_EQ(st.in_use_bytes, 0);
    CHECK_EQ(st.live_allocations, 0);
    CHECK(st.cached_bytes <= 512);
    CHECK_EQ(st.peak_in_use_bytes, 512);

    /* the whole budget at once works after any mix of cached sizes */
    CHECK_EQ(bufpool_try_allocate(p, 8, &a), 0);
    bufpool_alloc_release(a);
    bufpool_destroy(p);
}

static void test_set_max_memory(void)
{
    bufpool *p = make(64, 64 * 4, 0);
    bufpool_alloc *a, *b;
    CHECK_EQ(bufpool_set_max_memory(NULL, 4096), -EINVAL);
    CHECK_EQ(bufpool_set_max_memory(p, 63), -EINVAL);
    CHECK_EQ(bufpool_set_max_memory(p, 0), -EINVAL);
    CHECK_EQ(bufpool_allocate(p, 8, &a), -E2BIG);
    CHECK_EQ(bufpool_set_max_memory(p, 64 * 8), 0);
    CHECK_EQ(bufpool_allocate(p, 8, &a), 0);
    /* shrinking never revokes live allocations */
    CHECK_EQ(bufpool_set_max_memory(p, 64 * 2), 0);
    CHECK_EQ(bufpool_try_allocate(p, 1, &b), -EAGAIN);
    CHECK_EQ(bufpool_try_allocate(p, 3, &b), -E2BIG);
    memset(bufpool_alloc_first(a), 1, 512);
    bufpool_alloc_release(a);
    bufpool_stats st;
    bufpool_get_stats(p, &st);
    CHECK(st.in_use_bytes + st.cached_bytes <= 128); /* over-budget memory went back */
    CHECK_EQ(bufpool_try_allocate(p, 2, &b), 0);
    bufpool_alloc_release(b);
    CHECK_EQ(bufpool_set_max_memory(p, SIZE_MAX), 0);
    CHECK_EQ(bufpool_try_allocate(p, 1000, &b), 0);
    bufpool_alloc_release(b);
    bufpool_destroy(p);
}

static void test_shutdown(void)
{
    bufpool *p = make(64, 64 * 4, BUFPOOL_FIFO);
    bufpool_alloc *a, *b;
    CHECK_EQ(bufpool_allocate(p, 2, &a), 0);
    bufpool_shutdown(p);
    bufpool_shutdown(p); /* idempotent */
    b = (bufpool_alloc *)1;
    CHECK_EQ(bufpool_allocate(p, 1, &b), -ECANCELED);
    CHECK(b == NULL);
    CHECK_EQ(bufpool_try_allocate(p, 1, &b), -ECANCELED);
    CHECK_EQ(bufpool_allocate_timeout(p, 1, 1000, &b), -ECANCELED);
    memset(bufpool_alloc_first(a), 7, 128); /* still valid */
    bufpool_alloc_release(a);
    bufpool_shutdown(NULL);
    bufpool_destroy(p);
}

static void test_misc(void)
{
    CHECK_EQ(bufpool_version(), BUFPOOL_VERSION);
    CHECK(BUFPOOL_VERSION == BUFPOOL_VERSION_MAJOR * 10000 + BUFPOOL_VERSION_MINOR * 100 + BUFPOOL_VERSION_PATCH);
    int errs[] = {0, -EINVAL, -E2BIG, -EAGAIN, -ETIMEDOUT, -ECANCELED, -ENOMEM, -ENOTSUP, 12345};
    for (size_t i = 0; i < sizeof errs / sizeof *errs; i++)
        CHECK(bufpool_strerror(errs[i]) != NULL && bufpool_strerror(errs[i])[0]);
    bufpool *p = make(64, 4096, 0);
    struct iovec iov;
    CHECK_EQ(bufpool_region(p, &iov), -ENOTSUP);
    CHECK_EQ(bufpool_region(p, NULL), -EINVAL);
    CHECK_EQ(bufpool_region(NULL, &iov), -EINVAL);
    bufpool_get_stats(p, NULL);
    bufpool_stats st;
    memset(&st, 0xff, sizeof st);
    bufpool_get_stats(NULL, &st);
    CHECK_EQ(st.max_memory, 0);
    bufpool_destroy(p);
}

/* ---- strerror: every documented code ---------------------------------- */

/* How bufpool_strerror words each documented code: OWN, a meaning of
 * bufpool's own; KERNEL_TOO, bufpool's meaning, but a call may also pass
 * the code on from the kernel, so the message starts with the system's
 * words; SYSTEM, only passed on from the system: the system's message. */
enum { OWN, KERNEL_TOO, SYSTEM };
static const struct {
    const char *name;
    int code;
    int kind;
} documented[] = {
    {"EINVAL", -EINVAL, KERNEL_TOO},   {"E2BIG", -E2BIG, OWN},         {"EAGAIN", -EAGAIN, KERNEL_TOO},
    {"ETIMEDOUT", -ETIMEDOUT, OWN},    {"ECANCELED", -ECANCELED, OWN}, {"ENOMEM", -ENOMEM, KERNEL_TOO},
    {"ENOTSUP", -ENOTSUP, KERNEL_TOO}, {"EOPNOTSUPP", -EOPNOTSUPP, KERNEL_TOO},
    {"EBADF", -EBADF, KERNEL_TOO},     {"ERANGE", -ERANGE, OWN},       {"EEXIST", -EEXIST, KERNEL_TOO},
    {"ENOBUFS", -ENOBUFS, KERNEL_TOO}, {"EPERM", -EPERM, SYSTEM},      {"EMFILE", -EMFILE, SYSTEM},
    {"ENFILE", -ENFILE, SYSTEM},       {"ENOSPC", -ENOSPC, OWN},       {"EBUSY", -EBUSY, OWN},
    {"EDEADLK", -EDEADLK, OWN},
};
#define NDOC (sizeof documented / sizeof *documented)

static bool known_code(const char *name)
{
    for (size_t i = 0; i < NDOC; i++)
        if (strcmp(documented[i].name, name) == 0)
            return true;
    return false;
}

/* The man pages' directory: $BUFPOOL_SRCDIR/man, ./man, or two levels
 * above the program (build/tests/x); NULL if none is there. */
static DIR *open_man(const char *argv0, char *path, size_t len)
{
    const char *src = getenv("BUFPOOL_SRCDIR");
    char self[4096];
    snprintf(self, sizeof self, "%s", argv0);
    const char *tries[3] = {NULL, "man", NULL};
    char a[4096], b[4096];
    if (src) {
        snprintf(a, sizeof a, "%s/man", src);
        tries[0] = a;
    }
    snprintf(b, sizeof b, "%s/../../man", dirname(self));
    tries[2] = b;
    for (int i = 0; i < 3; i++) {
        DIR *d = tries[i] ? opendir(tries[i]) : NULL;
        if (d) {
            snprintf(path, len, "%s", tries[i]);
            return d;
        }
    }
    return NULL;
}

/* Every "\-EXXX" in the pages must be in documented[]. */
static void scan_man(const char *argv0)
{
    char dir[4096];
    DIR *d = open_man(argv0, dir, sizeof dir);
    if (!d) {
        SKIP_PART("strerror man scan", "man/ not found (run from the source tree or set BUFPOOL_SRCDIR)");
        return;
    }
    unsigned pages = 0, codes = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t nl = strlen(e->d_name);
        if (nl < 3 || strcmp(e->d_name + nl - 2, ".3") != 0)
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        CHECK(f != NULL);
        pages++;
        char line[4096];
        while (fgets(line, sizeof line, f)) {
            for (char *p = line; (p = strstr(p, "\\-E")); p += 3) {
                char name[32];
                size_t k = 0;
                for (const char *q = p + 2; k + 1 < sizeof name && ((*q >= 'A' && *q <= 'Z') ||
                                                                   (*q >= '0' && *q <= '9'));
                     q++)
                    name[k++] = *q;
                name[k] = 0;
                if (k < 2)
                    continue;
                codes++;
                if (!known_code(name)) {
                    fprintf(stderr, "%s documents -%s, which test_api does not know: add it to "
                                    "documented[] (and, if bufpool gives it a meaning, a "
                                    "bufpool_strerror message)\n",
                            path, name);
                    CHECK(!"an undocumented code");
                }
            }
        }
        fclose(f);
    }
    closedir(d);
    printf("strerror: %u man pages in %s, %u error codes, all known\n", pages, dir, codes);
    CHECK(pages > 0 && codes > 0);
}

static bool has(int code, const char *word)
{
    return strstr(bufpool_strerror(code), word) != NULL;
}

static void test_strerror(const char *argv0)
{
    const char *generic = bufpool_strerror(12345);
    CHECK(generic != NULL && generic[0]);
    CHECK(bufpool_strerror(INT_MIN) != NULL);
    for (size_t i = 0; i < NDOC; i++) {
        int code = documented[i].code;
        const char *m = bufpool_strerror(code), *sys = strerror(-code);
        CHECK(m != NULL && m[0]);
        if (documented[i].kind == SYSTEM) {
            if (strcmp(m, sys) != 0) {
                fprintf(stderr, "bufpool_strerror(-%s) = \"%s\", not the system's \"%s\"\n",
                        documented[i].name, m, sys);
                CHECK(!"a system code with a message of bufpool's");
            }
            continue;
        }
        if (strcmp(m, generic) == 0 || strcmp(m, sys) == 0) {
            fprintf(stderr, "bufpool_strerror(-%s) = \"%s\": no message of its own\n",
                    documented[i].name, m);
            CHECK(!"a documented code without a message");
        }
        for (size_t j = 0; j < i; j++) /* tells them apart (ENOTSUP is EOPNOTSUPP) */
            CHECK(documented[j].code == code || strcmp(m, bufpool_strerror(documented[j].code)) != 0);
        if (documented[i].kind == KERNEL_TOO && strncasecmp(m, sys, strlen(sys)) != 0) {
            fprintf(stderr, "bufpool_strerror(-%s) = \"%s\" does not start with the system's \"%s\"\n",
                    documented[i].name, m, sys);
            CHECK(!"a code the kernel may return too, without the system's words");
        }
    }
    /* Codes the library does not own, as the system words them. */
    int others[] = {-EINTR, -EHOSTUNREACH, -EACCES, -EFAULT};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++)
        CHECK(strcmp(bufpool_strerror(others[i]), strerror(-others[i])) == 0);
    /* Each documented use of a code, and the system's sense of it where the
     * kernel returns it too: -EBADF from an inherited waiter
     * (bufpool_waiter_allocate(3)) and a ring_fd not open
     * (bufpool_bufring_create(3)); -ENOMEM from a locked region
     * (bufpool_create(3)); -ENOTSUP from a region call on another pool
     * (bufpool_region(3)) and -EOPNOTSUPP from a ring_fd of another kind;
     * -EAGAIN from a try and from mlock (bufpool_create(3)); -E2BIG over
     * the budget and over a ring entry. */
    CHECK(has(-EBADF, "bad file descriptor") && has(-EBADF, "fork") && has(-EBADF, "ring_fd"));
    CHECK(has(-ENOMEM, "RLIMIT_MEMLOCK"));
    CHECK(has(-ENOTSUP, "not supported") && has(-ENOTSUP, "region") && has(-ENOTSUP, "io_uring"));
    CHECK(has(-EAGAIN, "budget") && has(-EAGAIN, "mlock"));
    CHECK(has(-E2BIG, "budget") && has(-E2BIG, "ring"));
    CHECK(has(-EEXIST, "exists") && has(-EEXIST, "buffer group"));
    CHECK(has(-ENOBUFS, "no buffer space") && has(-ENOBUFS, "ring"));
    scan_man(argv0);
}

int main(int argc, char **argv)
{
    (void)argc;
    test_create_errors();
    test_alloc_errors();
    test_layout();
    test_budget_and_stats();
    test_set_max_memory();
    test_shutdown();
    test_misc();
    test_strerror(argv[0]);
    printf("test_api: ok\n");
    return 0;
}
