/* A tiny assertion header for the test programs: CHECK(cond) reports the
 * failing line and exits 1; SKIP(msg) exits 77 (the whole program is
 * skipped); SKIP_PART(part, why) prints the line tests/run.sh counts as one
 * skipped part of a program that goes on. */
#ifndef BUFPOOL_TEST_CHECK_H
#define BUFPOOL_TEST_CHECK_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) do { if (!(cond)) { \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    exit(1); } } while (0)
#define CHECK_EQ(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
    if (a_ != b_) { fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, %s == %lld\n", \
        __FILE__, __LINE__, #a, a_, #b, b_); exit(1); } } while (0)
#define SKIP(msg) do { printf("skipped: %s\n", msg); exit(77); } while (0)
#define SKIP_PART(part, why) printf("SKIP: %s: %s\n", part, why)

#ifdef BUFPOOL_H /* helpers for tests of the pool; include bufpool.h first */
#include <stdint.h>
#include <time.h>
#include <unistd.h>

/* A pool for a test: buffers of bs bytes, a budget of max bytes, flags.
 * Any failure ends the test (exit 1) with the error. */
static inline bufpool *make(size_t bs, size_t max, unsigned flags)
{
    bufpool *p = NULL;
    bufpool_config cfg = {.buffer_size = bs, .max_memory = max, .flags = flags};
    int r = bufpool_create(&p, &cfg);
    if (r)
        fprintf(stderr, "bufpool_create(%zu, %zu, %#x): %s\n", bs, max, flags, bufpool_strerror(r));
    CHECK_EQ(r, 0);
    CHECK(p != NULL);
    return p;
}

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wait until the pool reports `want` waiters: another thread is queued. */
static inline void await_waiters(bufpool *p, size_t want)
{
    for (int i = 0; i < 5000; i++) {
        bufpool_stats st;
        bufpool_get_stats(p, &st);
        if (st.waiters == want)
            return;
        usleep(1000);
    }
    CHECK(!"waiters never reached the expected count");
}
#ifdef CHECK_PARTS /* programs made of parts, each run in a child */
#include <stdbool.h>
#include <sys/wait.h>

static inline bufpool_stats stats_of(bufpool *p)
{
    bufpool_stats s;
    bufpool_get_stats(p, &s);
    return s;
}

/* xorshift64* */
static inline uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

static inline size_t rnd_below(uint64_t *s, size_t n)
{
    return (size_t)(rnd(s) % n);
}

struct test_part {
    const char *name;
    void (*fn)(void);
};

/* Run a part in a child: 0 passed, 1 failed. */
static inline int run_part(const struct test_part *pt)
{
    fflush(stdout);
    fflush(stderr);
    uint64_t t0 = now_ns();
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        pt->fn();
        exit(0); /* exit, not _exit: LeakSanitizer checks the part */
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    printf("%s: %s (%.2f s)\n", ok ? "ok  " : "FAIL", pt->name, (double)(now_ns() - t0) / 1e9);
    if (!ok && WIFSIGNALED(st))
        printf("      killed by signal %d\n", WTERMSIG(st));
    return ok ? 0 : 1;
}

/* main() of such a program: the parts named on the command line, or all;
 * exit 0 when every part passed. */
static inline int run_parts(const char *prog, const struct test_part *parts, size_t nparts,
                            int argc, char **argv)
{
    int failed = 0, ran = 0;
    setvbuf(stdout, NULL, _IOLBF, 0); /* the parts' lines in order with their errors */
    for (size_t i = 0; i < nparts; i++) {
        bool chosen = argc < 2;
        for (int j = 1; j < argc; j++)
            chosen |= strcmp(argv[j], parts[i].name) == 0;
        if (chosen) {
            failed += run_part(&parts[i]);
            ran++;
        }
    }
    if (ran == 0) {
        fprintf(stderr, "no such part; parts:");
        for (size_t i = 0; i < nparts; i++)
            fprintf(stderr, " %s", parts[i].name);
        fprintf(stderr, "\n");
        return 1;
    }
    if (failed) {
        printf("%s: %d of %d parts failed\n", prog, failed, ran);
        return 1;
    }
    printf("%s: ok (%d parts)\n", prog, ran);
    return 0;
}
#endif
#endif
#endif
