/*
 * libuv: the event-loop example (see epoll_server.c) on libuv.  Each of 64
 * simulated connections takes buffers through bufpool_waiter_allocate; while
 * the budget is spent its waiter's fd is watched with a uv_poll_t, and a
 * uv_timer_t stands for the request's I/O.  Nothing in the loop blocks: the
 * pool is only ever asked with the non-blocking waiter call.  Verifies that
 * every request completed with intact data within the budget.
 * Built only when libuv (Debian: libuv1-dev) is installed.
 */
#define _GNU_SOURCE
#include <bufpool.h>

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#define CONNS 64
#define REQUESTS 16     /* per connection */
#define BUFFER_SIZE 4096
#define BUDGET_BUFFERS 16 /* room for a handful of requests at a time */
#define MAX_RUN 4       /* a request takes 1 .. MAX_RUN buffers */
#define STALL_MS 5000   /* the whole run should take well under a second */

struct conn {
    unsigned id;
    bufpool_waiter *w;
    uv_poll_t poll;   /* on the waiter's fd, active only while pending */
    uv_timer_t timer; /* the simulated I/O */
    bufpool_alloc *a;
    size_t n;
    unsigned done;
    uint64_t seed;
};

static struct conn conns[CONNS];
static uv_loop_t loop;
static uv_timer_t watchdog;
static unsigned finished_conns;
static uint64_t pending_count, granted;
static int stalled;

static void fail(const char *what, int err)
{
    fprintf(stderr, "uv_example: %s: %s\n", what, bufpool_strerror(err));
    exit(1);
}

static void uv_check(const char *what, int err)
{
    if (err) {
        fprintf(stderr, "uv_example: %s: %s\n", what, uv_strerror(err));
        exit(1);
    }
}

static uint64_t next_random(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static uint64_t stamp(const struct conn *c, size_t i)
{
    return ((uint64_t)c->id << 48) ^ ((uint64_t)c->done << 32) ^ i;
}

static void start_request(struct conn *c);
static void try_grant(struct conn *c);

static void on_waiter_ready(uv_poll_t *p, int status, int events)
{
    (void)events;
    uv_check("poll", status);
    struct conn *c = p->data;
    /* Stop first: the retry either succeeds or re-arms the watch. */
    uv_check("uv_poll_stop", uv_poll_stop(p));
    try_grant(c);
}

static void on_io_done(uv_timer_t *t)
{
    struct conn *c = t->data;
    const uint64_t *w = bufpool_alloc_first(c->a);
    for (size_t i = 0; i < bufpool_alloc_bytes(c->a) / 8; i++) {
        if (w[i] != stamp(c, i)) {
            fprintf(stderr, "uv_example: connection %u: buffer overwritten\n", c->id);
            exit(1);
        }
    }
    bufpool_alloc_release(c->a); /* may make other waiters' fds readable */
    c->a = NULL;
    c->done++;
    start_request(c);
}

static void try_grant(struct conn *c)
{
    int err = bufpool_waiter_allocate(c->w, c->n, &c->a);
    if (err == -EAGAIN) {
        pending_count++;
        uv_check("uv_poll_start", uv_poll_start(&c->poll, UV_READABLE, on_waiter_ready));
        return;
    }
    if (err)
        fail("bufpool_waiter_allocate", err);
    granted++;
    uint64_t *w = bufpool_alloc_first(c->a);
    for (size_t i = 0; i < bufpool_alloc_bytes(c->a) / 8; i++)
        w[i] = stamp(c, i);
    uv_check("uv_timer_start",
             uv_timer_start(&c->timer, on_io_done, 1 + next_random(&c->seed) % 2, 0));
}

static void start_request(struct conn *c)
{
    if (c->done == REQUESTS) {
        if (++finished_conns == CONNS)
            uv_stop(&loop);
        return;
    }
    c->n = 1 + (size_t)(next_random(&c->seed) % MAX_RUN);
    try_grant(c);
}

static void on_stall(uv_timer_t *t)
{
    (void)t;
    stalled = 1;
    uv_stop(&loop);
}

static void on_close(uv_handle_t *h)
{
    (void)h;
}

int main(void)
{
    bufpool_config cfg = { .buffer_size = BUFFER_SIZE, .max_memory = BUDGET_BUFFERS * BUFFER_SIZE,
                           .flags = 0 };
    bufpool *pool;
    int err = bufpool_create(&pool, &cfg);
    if (err)
        fail("bufpool_create", err);
    uv_check("uv_loop_init", uv_loop_init(&loop));

    for (unsigned i = 0; i < CONNS; i++) {
        struct conn *c = &conns[i];
        *c = (struct conn){ .id = i, .seed = 0x9e3779b97f4a7c15u * (i + 1) };
        if ((err = bufpool_waiter_create(pool, &c->w)) != 0)
            fail("bufpool_waiter_create", err);
        uv_check("uv_poll_init", uv_poll_init(&loop, &c->poll, bufpool_waiter_fd(c->w)));
        uv_check("uv_timer_init", uv_timer_init(&loop, &c->timer));
        c->poll.data = c->timer.data = c;
    }
    uv_check("uv_timer_init", uv_timer_init(&loop, &watchdog));
    uv_check("uv_timer_start", uv_timer_start(&watchdog, on_stall, STALL_MS, 0));

    uint64_t t0 = uv_hrtime();
    for (unsigned i = 0; i < CONNS; i++)
        start_request(&conns[i]);
    uv_run(&loop, UV_RUN_DEFAULT);
    double secs = (double)(uv_hrtime() - t0) / 1e9;

    bufpool_stats st;
    bufpool_get_stats(pool, &st);
    printf("libuv %s: %u requests on %u connections in %.3f s; %" PRIu64
           " had to wait; peak %zu of %zu bytes\n", uv_version_string(), CONNS * REQUESTS, CONNS,
           secs, pending_count, st.peak_in_use_bytes, st.max_memory);

    int rc = 0;
    if (stalled) {
        fprintf(stderr, "uv_example: stalled with %u of %u connections done\n", finished_conns,
                CONNS);
        rc = 1;
    } else if (granted != CONNS * REQUESTS || st.live_allocations != 0 || st.waiters != 0 ||
               st.peak_in_use_bytes > st.max_memory || pending_count == 0) {
        fprintf(stderr, "uv_example: %" PRIu64 " granted, %zu live, %zu waiting, %" PRIu64
                " waited, peak %zu\n", granted, st.live_allocations, st.waiters, pending_count,
                st.peak_in_use_bytes);
        rc = 1;
    }

    /* Close every handle and let the loop finish them before the waiters
     * (whose fds the polls watch) go away. */
    for (unsigned i = 0; i < CONNS; i++) {
        uv_close((uv_handle_t *)&conns[i].poll, on_close);
        uv_close((uv_handle_t *)&conns[i].timer, on_close);
    }
    uv_close((uv_handle_t *)&watchdog, on_close);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_check("uv_loop_close", uv_loop_close(&loop));
    for (unsigned i = 0; i < CONNS; i++) {
        bufpool_alloc_release(conns[i].a); /* NULL unless stalled */
        bufpool_waiter_destroy(conns[i].w);
    }
    /* Everything is released now; if the pool disagrees, destroy would
     * wait forever for releases that cannot come. */
    bufpool_get_stats(pool, &st);
    if (st.live_allocations == 0)
        bufpool_destroy(pool);
    else
        fprintf(stderr, "uv_example: pool not destroyed: it counts %zu live allocations\n",
                st.live_allocations);
    if (rc == 0)
        printf("all requests served\n");
    return rc;
}
