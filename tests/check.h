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
#endif
#endif
