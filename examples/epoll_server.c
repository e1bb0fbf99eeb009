/*
 * Event loop: one epoll loop serves 64 simulated connections under a budget
 * far too small for all of them at once.  Each request takes buffers through
 * bufpool_waiter_allocate, which never blocks: when the budget is spent the
 * connection's waiter becomes pending and the loop sleeps in epoll_wait until
 * the waiter's fd turns readable, then simply asks again.  A request's "I/O"
 * is a timerfd; when it fires the connection checks its buffers, releases
 * them (which wakes whoever now fits) and starts its next request.
 * epoll_wait is the only place the loop sleeps.  The run is repeated with a
 * BUFPOOL_FIFO pool, where the waiter keeps its place in the arrival queue.
 * Verifies that every request completed with intact data and that memory
 * never exceeded the budget.
 */
#define _GNU_SOURCE
#include <bufpool.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define CONNS 64
#define REQUESTS 16     /* per connection */
#define BUFFER_SIZE 4096
#define BUDGET_BUFFERS 16 /* room for a handful of requests at a time */
#define MAX_RUN 4       /* a request takes 1 .. MAX_RUN buffers */
#define STALL_MS 5000   /* no event for this long means something is lost */

enum { EV_WAITER, EV_TIMER };

struct conn {
    unsigned id;
    bufpool_waiter *w;
    int timer_fd;
    bufpool_alloc *a; /* the buffers of the request in flight, or NULL */
    size_t n;         /* buffers the current request needs */
    unsigned done;    /* completed requests */
    uint64_t seed;
};

static struct conn conns[CONNS];
static int ep;
static unsigned finished_conns;
static uint64_t pending_count, granted;
static size_t in_flight_bytes, max_in_flight_bytes;

static void fail(const char *what, int err)
{
    fprintf(stderr, "epoll_server: %s: %s\n", what, err ? bufpool_strerror(err) : strerror(errno));
    exit(1);
}

static uint64_t next_random(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* What connection c writes into word i of request r's buffers. */
static uint64_t stamp(const struct conn *c, size_t i)
{
    return ((uint64_t)c->id << 48) ^ ((uint64_t)c->done << 32) ^ i;
}

static void watch(int fd, uint32_t events, unsigned id, int kind, int op)
{
    struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)id << 1 | (uint64_t)kind };
    if (epoll_ctl(ep, op, fd, &ev) != 0)
        fail("epoll_ctl", 0);
}

static void start_request(struct conn *c);

/* Asks the pool for c's buffers; never blocks. */
static void try_grant(struct conn *c)
{
    int err = bufpool_waiter_allocate(c->w, c->n, &c->a);
    if (err == -EAGAIN) {
        /* Pending: the waiter's fd turns readable when asking again may
         * succeed.  One-shot, so a stale readiness cannot make us spin. */
        pending_count++;
        watch(bufpool_waiter_fd(c->w), EPOLLIN | EPOLLONESHOT, c->id, EV_WAITER, EPOLL_CTL_MOD);
        return;
    }
    if (err)
        fail("bufpool_waiter_allocate", err);

    granted++;
    in_flight_bytes += bufpool_alloc_bytes(c->a);
    if (in_flight_bytes > max_in_flight_bytes)
        max_in_flight_bytes = in_flight_bytes;
    uint64_t *w = bufpool_alloc_first(c->a);
    for (size_t i = 0; i < bufpool_alloc_bytes(c->a) / 8; i++)
        w[i] = stamp(c, i);

    /* Simulated I/O on the buffers: done in 0.2 .. 2 ms. */
    long ns = 200000 + (long)(next_random(&c->seed) % 1800000);
    struct itimerspec its = { .it_value = { .tv_sec = 0, .tv_nsec = ns } };
    if (timerfd_settime(c->timer_fd, 0, &its, NULL) != 0)
        fail("timerfd_settime", 0);
}

static void complete_request(struct conn *c)
{
    uint64_t expirations;
    if (read(c->timer_fd, &expirations, sizeof expirations) != sizeof expirations)
        return; /* not really expired (non-blocking fd): wait for the next event */

    const uint64_t *w = bufpool_alloc_first(c->a);
    for (size_t i = 0; i < bufpool_alloc_bytes(c->a) / 8; i++) {
        if (w[i] != stamp(c, i)) {
            fprintf(stderr, "epoll_server: connection %u request %u: buffer overwritten\n",
                    c->id, c->done);
            exit(1);
        }
    }
    in_flight_bytes -= bufpool_alloc_bytes(c->a);
    bufpool_alloc_release(c->a); /* may make other waiters' fds readable */
    c->a = NULL;
    c->done++;
    start_request(c);
}

static void start_request(struct conn *c)
{
    if (c->done == REQUESTS) {
        finished_conns++;
        return;
    }
    c->n = 1 + (size_t)(next_random(&c->seed) % MAX_RUN);
    try_grant(c);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int serve(unsigned flags, const char *mode)
{
    bufpool_config cfg = { .buffer_size = BUFFER_SIZE, .max_memory = BUDGET_BUFFERS * BUFFER_SIZE,
                           .flags = flags };
    bufpool *pool;
    int err = bufpool_create(&pool, &cfg);
    if (err)
        fail("bufpool_create", err);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        fail("epoll_create1", 0);
    finished_conns = 0;
    pending_count = granted = 0;
    in_flight_bytes = max_in_flight_bytes = 0;

    for (unsigned i = 0; i < CONNS; i++) {
        struct conn *c = &conns[i];
        *c = (struct conn){ .id = i, .seed = 0x9e3779b97f4a7c15u * (i + 1) };
        if ((err = bufpool_waiter_create(pool, &c->w)) != 0)
            fail("bufpool_waiter_create", err);
        c->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (c->timer_fd < 0)
            fail("timerfd_create", 0);
        /* The waiter's fd is watched only while its request is pending. */
        watch(bufpool_waiter_fd(c->w), 0, i, EV_WAITER, EPOLL_CTL_ADD);
        watch(c->timer_fd, EPOLLIN, i, EV_TIMER, EPOLL_CTL_ADD);
    }

    double t0 = now(), longest_turn = 0;
    for (unsigned i = 0; i < CONNS; i++)
        start_request(&conns[i]);
    while (finished_conns < CONNS) {
        struct epoll_event evs[CONNS * 2];
        int k = epoll_wait(ep, evs, CONNS * 2, STALL_MS);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            fail("epoll_wait", 0);
        if (k == 0) {
            fprintf(stderr, "epoll_server: %s: stalled with %u of %u connections done\n", mode,
                    finished_conns, CONNS);
            return 1;
        }
        double t = now();
        for (int e = 0; e < k; e++) {
            struct conn *c = &conns[evs[e].data.u64 >> 1];
            if ((evs[e].data.u64 & 1) == EV_WAITER)
                try_grant(c);
            else if (c->a)
                complete_request(c);
        }
        if (now() - t > longest_turn)
            longest_turn = now() - t;
    }
    double secs = now() - t0;

    bufpool_stats st;
    bufpool_get_stats(pool, &st);
    printf("%s: %u requests on %u connections in %.3f s; %" PRIu64 " had to wait; "
           "peak %zu of %zu bytes; longest loop turn %.0f us\n",
           mode, CONNS * REQUESTS, CONNS, secs, pending_count, st.peak_in_use_bytes,
           st.max_memory, longest_turn * 1e6);

    int rc = 0;
    if (granted != CONNS * REQUESTS || st.total_allocations != CONNS * REQUESTS) {
        fprintf(stderr, "epoll_server: %" PRIu64 " requests granted (pool says %" PRIu64
                "), expected %u\n", granted, st.total_allocations, CONNS * REQUESTS);
        rc = 1;
    }
    if (max_in_flight_bytes > cfg.max_memory || st.peak_in_use_bytes > cfg.max_memory) {
        fprintf(stderr, "epoll_server: memory above the budget\n");
        rc = 1;
    }
    if (pending_count == 0) {
        fprintf(stderr, "epoll_server: the budget never ran short; nothing was shown\n");
        rc = 1;
    }
    if (st.in_use_bytes != 0 || st.live_allocations != 0 || st.waiters != 0) {
        fprintf(stderr, "epoll_server: leftovers: %zu bytes, %zu allocations, %zu waiters\n",
                st.in_use_bytes, st.live_allocations, st.waiters);
        rc = 1;
    }
    for (unsigned i = 0; i < CONNS; i++) {
        bufpool_waiter_destroy(conns[i].w); /* waiters go before their pool */
        close(conns[i].timer_fd);
    }
    close(ep);
    /* Every allocation was released above; if the pool disagrees, destroy
     * would wait forever for releases that cannot come. */
    if (st.live_allocations == 0)
        bufpool_destroy(pool);
    else
        fprintf(stderr, "epoll_server: pool not destroyed: it counts live allocations\n");
    return rc;
}

int main(void)
{
    int rc = serve(0, "opportunistic");
    rc |= serve(BUFPOOL_FIFO, "fifo");
    if (rc == 0)
        printf("all requests served\n");
    return rc;
}
