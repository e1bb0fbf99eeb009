/*
 * test_bufring: budgeted io_uring provided-buffer rings (bufpool_bufring_*),
 * through liburing and multishot recv with IOSQE_BUFFER_SELECT on a
 * socketpair.  Each part runs in a child process:
 *   dry, dry_fifo  256 KiB through a ring whose pool holds 8 buffers, with
 *                  a consumer that keeps every buffer until the ring runs
 *                  dry: the recv ends with -ENOBUFS, the fd is not readable
 *                  while the program holds everything, turns readable when
 *                  it releases, refill restocks, the recv is re-armed, and
 *                  every byte arrives in order; a second thread samples
 *                  in_use + cached <= max_memory throughout (default and
 *                  BUFPOOL_FIFO pools)
 *   destroy        destroy with buffers in the kernel (stocked, and filled
 *                  by completions nobody took): everything goes back, the
 *                  group is unregistered (a recv on it gets -ENOBUFS, the
 *                  bgid can be registered again), an allocation taken
 *                  before stays valid
 *   badinput       a bad bid (out of range, never stocked, taken already)
 *                  is NULL; create's errors (-EEXIST, -EINVAL, -E2BIG,
 *                  -EBADF, and -EOPNOTSUPP for a fd that is no io_uring,
 *                  whose message says so) change nothing and leak nothing
 *   two_rings      two rings on one pool share its budget: the second gets
 *                  only what the first gives back, through its fd
 *   shutdown       shutdown while a ring is stocked: the fd turns readable,
 *                  refill returns -ECANCELED and resets it, destroy works
 *   fifo           in BUFPOOL_FIFO mode the ring's restock waits its turn
 *                  behind an async waiter that came first, and vice versa
 *   regrow, regrow_fifo, regrow_inc, regrow_inc_fifo
 *                  the budget shrinks below a slot's n buffers (issue 20,
 *                  point 3), two ways: takes whose restocks find the
 *                  budget too small run the ring dry, and a restock
 *                  pending in the queue is failed by the shrink; either
 *                  way the fd stays silent and refill says -E2BIG while
 *                  the budget is small, and once it grows back the fd
 *                  turns readable (within 2 s) and refill restocks every
 *                  slot, also after a second shrink before the refill;
 *                  a fork child that grows its copy of the budget leaves
 *                  the shared fd alone (plain and incremental rings,
 *                  default and BUFPOOL_FIFO pools)
 *   shutdown_full  shutdown makes the fd readable whatever the ring's
 *                  state: full, or dry behind a shrunk budget
 *   inc            incremental consumption (bufpool_bufring_create_inc,
 *                  Linux 6.12+; a SKIP: line without it): small receives
 *                  share one 16 KiB buffer at advancing offsets, each
 *                  share a reference of its own, no extra memory; the
 *                  receive that uses the buffer up hands over the ring's
 *                  reference; the memory comes back once every share is
 *                  released; take_inc on an ordinary ring is take
 * Exit 0 pass, 1 fail, 77 skip (io_uring not permitted, or a kernel without
 * provided-buffer rings).
 */
#define _GNU_SOURCE
#include "bufpool.h"
#define CHECK_PARTS
#include "check.h"

#ifndef BUFPOOL_HAVE_LIBURING
int main(void)
{
    SKIP("liburing-dev not installed");
}
#else

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#define BS 4096
#define BUDGET_BUFS 8
#define BGID 7

struct rig {
    struct io_uring ring;
    int sv[2]; /* sv[0]: the receiving end */
};

static void rig_init(struct rig *g)
{
    CHECK_EQ(io_uring_queue_init(64, &g->ring, 0), 0);
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, g->sv), 0);
}

static void rig_fini(struct rig *g)
{
    io_uring_queue_exit(&g->ring);
    close(g->sv[0]);
    close(g->sv[1]);
}

static void arm_recv(struct rig *g, unsigned short bgid)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&g->ring);
    CHECK(sqe != NULL);
    io_uring_prep_recv_multishot(sqe, g->sv[0], NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = bgid;
    io_uring_sqe_set_data64(sqe, bgid);
    CHECK_EQ(io_uring_submit(&g->ring), 1);
}

/* The next completion within 5 s: res and flags. */
static void next_cqe(struct rig *g, int *res, unsigned *flags)
{
    struct io_uring_cqe *cqe;
    struct __kernel_timespec ts = {.tv_sec = 5};
    int r = io_uring_wait_cqe_timeout(&g->ring, &cqe, &ts);
    if (r)
        fprintf(stderr, "no completion: %s\n", strerror(-r));
    CHECK_EQ(r, 0);
    *res = cqe->res;
    *flags = cqe->flags;
    io_uring_cqe_seen(&g->ring, cqe);
}

/* The bid of a completion that carried data. */
static bufpool_alloc *take_cqe(bufpool_bufring *br, int res, unsigned flags)
{
    CHECK(res > 0);
    CHECK(flags & IORING_CQE_F_BUFFER);
    bufpool_alloc *a = bufpool_bufring_take(br, flags >> IORING_CQE_BUFFER_SHIFT);
    CHECK(a != NULL);
    return a;
}

static bool readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

static void send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len);
        CHECK(w > 0);
        p += w;
        len -= (size_t)w;
    }
}

/* Send two buffers' worth of fill, then take the two completions into a
 * (each of len bytes; 0: of any length). */
static void send_take_two(struct rig *g, bufpool_bufring *br, char fill, int len,
                          bufpool_alloc *a[2])
{
    char msg[2 * BS];
    memset(msg, fill, sizeof msg);
    send_all(g->sv[1], msg, sizeof msg);
    for (int i = 0; i < 2; i++) {
        int res;
        unsigned fl;
        next_cqe(g, &res, &fl);
        if (len)
            CHECK_EQ(res, len);
        a[i] = take_cqe(br, res, fl);
    }
}

static bufpool_bufring *make_ring(bufpool *p, struct rig *g, unsigned short bgid, unsigned entries,
                                  int expect_held)
{
    bufpool_bufring *br = NULL;
    int r = bufpool_bufring_create(p, g->ring.ring_fd, bgid, entries, 1, &br);
    if (r)
        fprintf(stderr, "bufpool_bufring_create: %s\n", bufpool_strerror(r));
    CHECK_EQ(r, 0);
    CHECK(br != NULL);
    CHECK_EQ(bufpool_bufring_refill(br), expect_held);
    return br;
}

/* ---- dry: run dry, recover, every byte in order ---------------------- */

#define TOTAL (256 * 1024)
#define CHUNK 1000

static uint8_t byte_at(size_t i) { return (uint8_t)(i ^ (i >> 8) ^ (i >> 16) ^ 0x5a); }

struct writer {
    int fd;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    static uint8_t buf[CHUNK];
    for (size_t off = 0; off < TOTAL; off += CHUNK) {
        size_t len = TOTAL - off < CHUNK ? TOTAL - off : CHUNK;
        for (size_t i = 0; i < len; i++)
            buf[i] = byte_at(off + i);
        send_all(w->fd, buf, len);
    }
    return NULL;
}

struct sampler {
    bufpool *p;
    atomic_bool stop;
    atomic_ulong samples, bad;
};

static void *sampler_main(void *arg)
{
    struct sampler *s = arg;
    while (!atomic_load(&s->stop)) {
        bufpool_stats st = stats_of(s->p);
        if (st.in_use_bytes + st.cached_bytes > st.max_memory)
            atomic_fetch_add(&s->bad, 1);
        atomic_fetch_add(&s->samples, 1);
        usleep(20);
    }
    return NULL;
}

/* Check the held buffers' bytes from offset got on and release them; with
 * fd >= 0, the first release must make the fd readable.  The new offset. */
static size_t check_release(bufpool_alloc **held, const int *lens, unsigned nheld, size_t got, int fd)
{
    for (unsigned i = 0; i < nheld; i++) {
        const uint8_t *d = bufpool_alloc_first(held[i]);
        for (int k = 0; k < lens[i]; k++)
            if (d[k] != byte_at(got + (size_t)k)) {
                fprintf(stderr, "byte %zu: %#x, want %#x\n", got + (size_t)k, d[k],
                        byte_at(got + (size_t)k));
                CHECK(!"a byte out of order");
            }
        got += (size_t)lens[i];
        bufpool_alloc_release(held[i]);
        if (i == 0 && fd >= 0)
            CHECK(readable(fd, 2000)); /* one buffer back is enough */
    }
    return got;
}

static void dry_run(unsigned flags)
{
    struct rig g;
    rig_init(&g);
    bufpool *p = make(BS, BUDGET_BUFS * BS, flags);
    bufpool_bufring *br = make_ring(p, &g, BGID, 16, BUDGET_BUFS);
    int fd = bufpool_bufring_fd(br);
    CHECK(fd >= 0);
    CHECK(!readable(fd, 0));

    struct sampler s = {.p = p};
    pthread_t st, wt;
    CHECK_EQ(pthread_create(&st, NULL, sampler_main, &s), 0);
    while (atomic_load(&s.samples) == 0) /* sampling before the first byte moves */
        usleep(100);
    struct writer w = {g.sv[1]};
    CHECK_EQ(pthread_create(&wt, NULL, writer_main, &w), 0);

    bufpool_alloc *held[BUDGET_BUFS];
    int lens[BUDGET_BUFS];
    unsigned nheld = 0, dry = 0;
    size_t got = 0, inheld = 0; /* checked and released; received, still held */
    arm_recv(&g, BGID);
    while (got + inheld < TOTAL) {
        int res;
        unsigned fl;
        next_cqe(&g, &res, &fl);
        bufpool_stats now = stats_of(p); /* and at every completion */
        CHECK(now.in_use_bytes + now.cached_bytes <= now.max_memory);
        if (res > 0) {
            CHECK(nheld < BUDGET_BUFS); /* the budget bounds what the kernel can hand us */
            lens[nheld] = res;
            inheld += (size_t)res;
            held[nheld++] = take_cqe(br, res, fl);
        }
        if (fl & IORING_CQE_F_MORE)
            continue;
        /* The multishot recv ended: the ring ran dry, or (rarely) it
         * stopped for another reason and is simply re-armed. */
        if (res == -ENOBUFS) {
            dry++;
            CHECK_EQ(nheld, BUDGET_BUFS); /* only when we hold the whole budget */
            CHECK(!readable(fd, 0));      /* no memory came back yet */
            got = check_release(held, lens, nheld, got, fd);
            nheld = 0;
            inheld = 0;
            CHECK_EQ(bufpool_bufring_refill(br), BUDGET_BUFS);
            CHECK(!readable(fd, 0)); /* reset by refill */
        } else {
            CHECK(res >= 0);
        }
        if (got + inheld < TOTAL)
            arm_recv(&g, BGID);
    }
    got = check_release(held, lens, nheld, got, -1);
    pthread_join(wt, NULL);
    atomic_store(&s.stop, true);
    pthread_join(st, NULL);
    printf("dry: %zu bytes in order, ran dry %u times, %lu budget samples\n", got, dry,
           (unsigned long)atomic_load(&s.samples));
    CHECK_EQ(got, TOTAL);
    CHECK(dry >= 2);
    CHECK_EQ(atomic_load(&s.bad), 0);
    CHECK(atomic_load(&s.samples) > 0);
    bufpool_bufring_destroy(br);
    CHECK_EQ(stats_of(p).in_use_bytes, 0);
    bufpool_destroy(p);
    rig_fini(&g);
}

static void part_dry(void) { dry_run(0); }
static void part_dry_fifo(void) { dry_run(BUFPOOL_FIFO); }

/* ---- destroy with buffers in the kernel ------------------------------- */

static void part_destroy(void)
{
    struct rig g;
    rig_init(&g);
    bufpool *p = make(BS, BUDGET_BUFS * BS, 0);
    bufpool_bufring *br = make_ring(p, &g, BGID, 8, BUDGET_BUFS);
    arm_recv(&g, BGID);
    char msg[3 * BS];
    memset(msg, 'x', sizeof msg);
    send_all(g.sv[1], msg, sizeof msg);
    int res;
    unsigned fl;
    next_cqe(&g, &res, &fl);
    bufpool_alloc *mine = take_cqe(br, res, fl); /* one taken ... */
    for (int got = res; got < (int)sizeof msg; got += res) /* ... the others left in the CQ */
        next_cqe(&g, &res, &fl);
    CHECK_EQ(stats_of(p).in_use_bytes, BUDGET_BUFS * BS);
    bufpool_bufring_destroy(br); /* the kernel holds 7, 2 of them filled */
    CHECK_EQ(stats_of(p).in_use_bytes, BS); /* only ours is left */
    CHECK_EQ(((char *)bufpool_alloc_first(mine))[BS - 1], 'x');
    /* Unregistered: the armed recv finds no group, and the bgid is free. */
    send_all(g.sv[1], "y", 1);
    do
        next_cqe(&g, &res, &fl);
    while (fl & IORING_CQE_F_MORE);
    CHECK_EQ(res, -ENOBUFS);
    br = make_ring(p, &g, BGID, 8, BUDGET_BUFS - 1);
    bufpool_bufring_destroy(br);
    bufpool_alloc_release(mine);
    CHECK_EQ(stats_of(p).in_use_bytes, 0);
    bufpool_bufring_destroy(NULL);
    bufpool_destroy(p);
    rig_fini(&g);
}

/* ---- bad bids and create's errors -------------------------------------- */

static void part_badinput(void)
{
    struct rig g;
    rig_init(&g);
    bufpool *p = make(BS, BUDGET_BUFS * BS, 0);
    bufpool_bufring *br = make_ring(p, &g, BGID, 16, BUDGET_BUFS), *o;
    CHECK(bufpool_bufring_take(NULL, 0) == NULL);
    CHECK(bufpool_bufring_take(br, 16) == NULL);
    CHECK(bufpool_bufring_take(br, 65535) == NULL);
    CHECK(bufpool_bufring_take(br, ~0u) == NULL);
    CHECK(bufpool_bufring_take(br, BUDGET_BUFS) == NULL); /* a slot never stocked */
    arm_recv(&g, BGID);
    send_all(g.sv[1], "hello", 5);
    int res;
    unsigned fl;
    next_cqe(&g, &res, &fl);
    unsigned bid = fl >> IORING_CQE_BUFFER_SHIFT;
    bufpool_alloc *a = take_cqe(br, res, fl);
    CHECK_EQ(memcmp(bufpool_alloc_first(a), "hello", 5), 0);
    CHECK(bufpool_bufring_take(br, bid) == NULL); /* taken already */
    bufpool_alloc_release(a);
    CHECK_EQ(bufpool_bufring_refill(br), BUDGET_BUFS);
    CHECK_EQ(bufpool_bufring_refill(NULL), -EINVAL);
    CHECK_EQ(bufpool_bufring_fd(NULL), -EINVAL);

    bufpool_stats before = stats_of(p);
    int fd = g.ring.ring_fd;
    struct { int rfd; unsigned short bgid; unsigned entries; size_t n; int err; } bad[] = {
        {fd, BGID, 16, 1, -EEXIST},        /* a taken bgid: the kernel's error */
        {fd, BGID + 1, 0, 1, -EINVAL},
        {fd, BGID + 1, 3, 1, -EINVAL},
        {fd, BGID + 1, 65536, 1, -EINVAL},
        {fd, BGID + 1, 16, 0, -EINVAL},
        {fd, BGID + 1, 16, BUDGET_BUFS + 1, -E2BIG},
        {fd, BGID + 1, 16, SIZE_MAX, -E2BIG},
        {999, BGID + 1, 16, 1, -EBADF},     /* no such fd */
        {g.sv[0], BGID + 1, 16, 1, -EOPNOTSUPP}, /* not an io_uring (the page lists it) */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        o = (bufpool_bufring *)0x1;
        int r = bufpool_bufring_create(p, bad[i].rfd, bad[i].bgid, bad[i].entries, bad[i].n, &o);
        CHECK_EQ(r, bad[i].err);
        CHECK(o == NULL);
    }
    /* What a user reads for it names the fd, not only a region pool. */
    CHECK(strstr(bufpool_strerror(-EOPNOTSUPP), "io_uring") != NULL);
    CHECK_EQ(bufpool_bufring_create(NULL, fd, 1, 16, 1, &o), -EINVAL);
    CHECK_EQ(bufpool_bufring_create(p, fd, 1, 16, 1, NULL), -EINVAL);
    bufpool_stats after = stats_of(p);
    CHECK_EQ(after.in_use_bytes, before.in_use_bytes);
    CHECK_EQ(after.live_allocations, before.live_allocations);
    CHECK_EQ(after.waiters, before.waiters);
    bufpool_bufring_destroy(br);
    bufpool_destroy(p);
    rig_fini(&g);
}

/* ---- two rings share one budget ---------------------------------------- */

static void part_two_rings(void)
{
    struct rig g;
    rig_init(&g);
    bufpool *p = make(BS, BUDGET_BUFS * BS, 0);
    bufpool_bufring *b1 = make_ring(p, &g, 1, 8, BUDGET_BUFS);
    bufpool_bufring *b2 = make_ring(p, &g, 2, 8, 0); /* nothing left for it */
    CHECK(!readable(bufpool_bufring_fd(b2), 0));
    arm_recv(&g, 1);
    bufpool_alloc *a[2];
    send_take_two(&g, b1, 'z', BS, a);
    CHECK_EQ(bufpool_bufring_refill(b1), BUDGET_BUFS - 2); /* no budget to restock */
    bufpool_alloc_release(a[0]);
    /* b2 asked first: it gets the buffer back. */
    CHECK(readable(bufpool_bufring_fd(b2), 2000));
    CHECK_EQ(bufpool_bufring_refill(b2), 1);
    CHECK_EQ(bufpool_bufring_refill(b1), BUDGET_BUFS - 2);
    bufpool_alloc_release(a[1]);
    int h1 = bufpool_bufring_refill(b1), h2 = bufpool_bufring_refill(b2);
    CHECK_EQ(h1 + h2, BUDGET_BUFS);
    bufpool_stats st = stats_of(p);
    CHECK_EQ(st.in_use_bytes, BUDGET_BUFS * BS);
    CHECK(st.in_use_bytes + st.cached_bytes <= st.max_memory);
    bufpool_bufring_destroy(b1);
    /* b1's buffers come back: b2 fills up with them. */
    CHECK(readable(bufpool_bufring_fd(b2), 2000));
    CHECK_EQ(bufpool_bufring_refill(b2), 8);
    bufpool_bufring_destroy(b2);
    CHECK_EQ(stats_of(p).in_use_bytes, 0);
    bufpool_destroy(p);
    rig_fini(&g);
}

/* ---- shutdown while stocked -------------------------------------------- */

static void part_shutdown(void)
{
    struct rig g;
    rig_init(&g);
    bufpool *p = make(BS, BUDGET_BUFS * BS, 0);
    bufpool_bufring *br = make_ring(p, &g, BGID, 16, BUDGET_BUFS);
    arm_recv(&g, BGID);
    send_all(g.sv[1], "abc", 3);
    int res;
    unsigned fl;
    next_cqe(&g, &res, &fl);
    bufpool_alloc *a = take_cqe(br, res, fl); /* restock found no budget: pending */
    int fd = bufpool_bufring_fd(br);
    CHECK(!readable(fd, 0));
    bufpool_shutdown(p);
    CHECK(readable(fd, 2000));
    CHECK_EQ(bufpool_bufring_refill(br), -ECANCELED);
    CHECK(!readable(fd, 0));
    CHECK_EQ(bufpool_bufring_refill(br), -ECANCELED);
    /* The kernel still hands out what it holds; take still works. */
    send_all(g.sv[1], "def", 3);
    next_cqe(&g, &res, &fl);
    bufpool_alloc *b = take_cqe(br, res, fl);
    CHECK_EQ(memcmp(bufpool_alloc_first(b), "def", 3), 0);
    bufpool_alloc_release(a);
    bufpool_alloc_release(b);
    bufpool_bufring_destroy(br);
    CHECK_EQ(stats_of(p).in_use_bytes, 0);
    bufpool_destroy(p);
    rig_fini(&g);
}

/* ---- the budget shrinks below n, then grows back ------------------------ */

#define CQE_F_BUF_MORE (1u << 4) /* IORING_CQE_F_BUF_MORE (6.12): not in older headers */
#define RG_N 2       /* buffers a slot */
#define RG_SLOTS 4u  /* RG_SLOTS * RG_N buffers: the whole budget */

static int ring_create(bufpool *p, struct rig *g, unsigned short bgid, unsigned entries, size_t n,
                       bool inc, bufpool_bufring **br)
{
    return (inc ? bufpool_bufring_create_inc : bufpool_bufring_create)(p, g->ring.ring_fd, bgid,
                                                                       entries, n, br);
}

/* Send `bytes`, then receive until the multishot recv on bgid ends with
 * -ENOBUFS (the ring ran dry), taking every completion with take_inc (it
 * serves both kinds of ring) and releasing it at once. */
static void run_dry(struct rig *g, bufpool_bufring *br, unsigned short bgid, size_t bytes)
{
    static char msg[64 * 1024];
    CHECK(bytes <= sizeof msg);
    memset(msg, 'r', bytes);
    send_all(g->sv[1], msg, bytes);
    arm_recv(g, bgid);
    for (;;) {
        int res;
        unsigned fl;
        next_cqe(g, &res, &fl);
        if (res > 0) {
            void *data;
            bufpool_alloc *a = bufpool_bufring_take_inc(br, fl, res, &data);
            CHECK(a != NULL);
            bufpool_alloc_release(a);
        }
        if (!(fl & IORING_CQE_F_MORE)) {
            CHECK_EQ(res, -ENOBUFS);
            return;
        }
    }
}

static void regrow_run(bool inc, unsigned flags)
{
    struct rig g;
    rig_init(&g);
    const size_t slot = RG_N * BS, budget = RG_SLOTS * slot;
    bufpool *p = make(BS, budget, flags);
    bufpool_bufring *br;
    int r = ring_create(p, &g, BGID, RG_SLOTS, RG_N, inc, &br);
    if (inc && r == -EINVAL) {
        SKIP_PART("regrow_inc", "the kernel has no incremental provided-buffer rings (6.12+)");
        bufpool_destroy(p);
        rig_fini(&g);
        return;
    }
    CHECK_EQ(r, 0);
    CHECK_EQ(bufpool_bufring_refill(br), RG_SLOTS);
    int fd = bufpool_bufring_fd(br);
    CHECK(!readable(fd, 0));

    /* 1. Shrink below a slot: every take's restock finds the budget too
     * small, and the ring runs dry.  A slot's worth stays in the socket. */
    CHECK_EQ(bufpool_set_max_memory(p, BS), 0);
    run_dry(&g, br, BGID, (RG_SLOTS + 1) * slot);
    CHECK_EQ(stats_of(p).in_use_bytes, 0);
    CHECK(!readable(fd, 0));                       /* the budget cannot serve it */
    CHECK_EQ(bufpool_bufring_refill(br), -E2BIG);  /* documented */
    CHECK(!readable(fd, 0));                       /* and no busy loop */
    CHECK_EQ(bufpool_set_max_memory(p, slot - 1), 0); /* still too small */
    CHECK(!readable(fd, 50));
    CHECK_EQ(bufpool_set_max_memory(p, budget), 0);
    CHECK(readable(fd, 2000)); /* the loop learns it can refill */
    /* Shrunk again before the loop got to it: the refill says so and
     * resets the fd, and the next growth is reported again. */
    CHECK_EQ(bufpool_set_max_memory(p, BS), 0);
    CHECK_EQ(bufpool_bufring_refill(br), -E2BIG);
    CHECK(!readable(fd, 0));
    /* A fork child that grows its copy of the budget writes nothing to
     * the fd it shares with us (its copy of the watch is dropped). */
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(bufpool_set_max_memory(p, budget) == 0 ? 0 : 1);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(!readable(fd, 50));
    CHECK_EQ(bufpool_set_max_memory(p, budget), 0);
    CHECK(readable(fd, 2000));
    CHECK_EQ(bufpool_bufring_refill(br), RG_SLOTS);
    CHECK(!readable(fd, 0));

    /* 2. A restock pending in the queue when the shrink comes.  The slot
     * left in the socket arrives in one buffer, which we keep: the ring's
     * restock finds no budget and queues. */
    arm_recv(&g, BGID);
    int res;
    unsigned fl;
    next_cqe(&g, &res, &fl);
    CHECK_EQ(res, (int)slot);
    CHECK(!(fl & CQE_F_BUF_MORE));
    void *data;
    bufpool_alloc *held = bufpool_bufring_take_inc(br, fl, res, &data);
    CHECK(held != NULL);
    CHECK_EQ(bufpool_bufring_refill(br), RG_SLOTS - 1); /* pending */
    CHECK(!readable(fd, 0));
    CHECK_EQ(bufpool_set_max_memory(p, BS), 0);
    CHECK(readable(fd, 2000)); /* the shrink failed the pending restock */
    CHECK_EQ(bufpool_bufring_refill(br), -E2BIG);
    CHECK(!readable(fd, 0));
    bufpool_alloc_release(held);
    CHECK(!readable(fd, 50));
    CHECK_EQ(bufpool_set_max_memory(p, budget), 0);
    CHECK(readable(fd, 2000));
    CHECK_EQ(bufpool_bufring_refill(br), RG_SLOTS);
    CHECK(!readable(fd, 0));

    bufpool_bufring_destroy(br);
    CHECK_EQ(stats_of(p).in_use_bytes, 0);
    bufpool_destroy(p);
    rig_fini(&g);
}

static void part_regrow(void) { regrow_run(false, 0); }
static void part_regrow_fifo(void) { regrow_run(false, BUFPOOL_FIFO); }
static void part_regrow_inc(void) { regrow_run(true, 0); }
static void part_regrow_inc_fifo(void) { regrow_run(true, BUFPOOL_FIFO); }

/* ---- shutdown: the fd turns readable whatever the ring's state --------- */

/* Shut p down: br's fd must turn readable, its refill fail with
 * -ECANCELED and reset the fd; then both go. */
static void shutdown_wakes(bufpool *p, bufpool_bufring *br, int fd)
{
    bufpool_shutdown(p);
    CHECK(readable(fd, 2000));
    CHECK_EQ(bufpool_bufring_refill(br), -ECANCELED);
    CHECK(!readable(fd, 0));
    bufpool_bufring_destroy(br);
    bufpool_destroy(p);
}

static void part_shutdown_full(void)
{
    struct rig g;
    rig_init(&g);
    /* A full ring. */
    bufpool *p = make(BS, BUDGET_BUFS * BS, 0);
    bufpool_bufring *br = make_ring(p, &g, BGID, 4, 4);
    int fd = bufpool_bufring_fd(br);
    CHECK(!readable(fd, 0));
    shutdown_wakes(p, br, fd);

    /* A ring dry behind a budget shrunk below its slots. */
    p = make(BS, 2 * RG_N * BS, BUFPOOL_FIFO);
    CHECK_EQ(ring_create(p, &g, BGID, 2, RG_N, false, &br), 0);
    CHECK_EQ(bufpool_bufring_refill(br), 2);
    fd = bufpool_bufring_fd(br);
    CHECK_EQ(bufpool_set_max_memory(p, BS), 0);
    run_dry(&g, br, BGID, 3 * RG_N * BS);
    CHECK_EQ(bufpool_bufring_refill(br), -E2BIG);
    CHECK(!readable(fd, 0));
    shutdown_wakes(p, br, fd);
    rig_fini(&g);
}

/* ---- FIFO: the restock waits its turn ---------------------------------- */

static void part_fifo(void)
{
    struct rig g;
    rig_init(&g);
    bufpool *p = make(BS, 4 * BS, BUFPOOL_FIFO);
    bufpool_bufring *br = make_ring(p, &g, BGID, 4, 4);
    int fd = bufpool_bufring_fd(br);
    arm_recv(&g, BGID);
    bufpool_alloc *a[2];
    send_take_two(&g, br, 'f', 0, a); /* the first take queues the ring's restock */
    bufpool_waiter *w;
    CHECK_EQ(bufpool_waiter_create(p, &w), 0);
    bufpool_alloc *o;
    CHECK_EQ(bufpool_waiter_allocate(w, 1, &o), -EAGAIN); /* behind the ring */
    bufpool_alloc_release(a[0]);
    CHECK(readable(fd, 2000));                 /* the ring's turn */
    CHECK(!readable(bufpool_waiter_fd(w), 50)); /* not the waiter's */
    CHECK_EQ(bufpool_bufring_refill(br), 3);    /* queues again, behind the waiter */
    bufpool_alloc_release(a[1]);
    CHECK(readable(bufpool_waiter_fd(w), 2000)); /* the waiter's turn */
    CHECK(!readable(fd, 50));
    CHECK_EQ(bufpool_bufring_refill(br), 3); /* still waiting: no overtaking */
    CHECK_EQ(bufpool_waiter_allocate(w, 1, &o), 0);
    bufpool_alloc_release(o);
    CHECK(readable(fd, 2000));
    CHECK_EQ(bufpool_bufring_refill(br), 4);
    bufpool_waiter_destroy(w);
    bufpool_bufring_destroy(br);
    CHECK_EQ(stats_of(p).in_use_bytes, 0);
    bufpool_destroy(p);
    rig_fini(&g);
}

/* ---- incremental consumption ------------------------------------------- */

#define INC_MSG 1000
#define INC_MSGS 10

static void part_inc(void)
{
    struct rig g;
    rig_init(&g);
    bufpool *p = make(BS, BUDGET_BUFS * BS, 0);
    bufpool_bufring *br;
    int r = bufpool_bufring_create_inc(p, g.ring.ring_fd, BGID, 2, 4, &br);
    if (r == -EINVAL) {
        SKIP_PART("inc", "the kernel has no incremental provided-buffer rings (6.12+)");
        bufpool_destroy(p);
        rig_fini(&g);
        return;
    }
    CHECK_EQ(r, 0);
    CHECK_EQ(bufpool_bufring_refill(br), 2); /* 2 x 16 KiB: the whole budget */
    CHECK(bufpool_bufring_take(br, 0) == NULL); /* plain take cannot serve it */
    arm_recv(&g, BGID);
    bufpool_alloc *share[INC_MSGS + 1];
    char *prev = NULL;
    unsigned bid0 = ~0u;
    char msg[4 * BS];
    for (int i = 0; i <= INC_MSGS; i++) {
        /* INC_MSGS small messages, then the rest of the buffer in one */
        int len = i < INC_MSGS ? INC_MSG : 4 * BS - INC_MSGS * INC_MSG;
        memset(msg, 'a' + i, (size_t)len);
        send_all(g.sv[1], msg, (size_t)len);
        int res;
        unsigned fl;
        next_cqe(&g, &res, &fl);
        CHECK_EQ(res, len);
        CHECK(fl & IORING_CQE_F_MORE);
        CHECK_EQ(!!(fl & CQE_F_BUF_MORE), i < INC_MSGS); /* kept until used up */
        unsigned bid = fl >> IORING_CQE_BUFFER_SHIFT;
        if (i == 0)
            bid0 = bid;
        CHECK_EQ(bid, bid0); /* one buffer serves them all */
        void *data;
        share[i] = bufpool_bufring_take_inc(br, fl, res, &data);
        CHECK(share[i] != NULL);
        CHECK(share[i] == share[0]);
        CHECK(prev == NULL || (char *)data == prev + INC_MSG);
        CHECK(((char *)data)[0] == 'a' + i && ((char *)data)[len - 1] == 'a' + i);
        prev = data;
        CHECK_EQ(stats_of(p).in_use_bytes, BUDGET_BUFS * BS); /* no memory of its own */
    }
    /* The last share took the ring's reference; the slot found no budget. */
    int fd = bufpool_bufring_fd(br);
    CHECK_EQ(bufpool_bufring_refill(br), 1);
    for (int i = 0; i < INC_MSGS; i++) {
        bufpool_alloc_release(share[i]);
        CHECK(!readable(fd, 0)); /* a share still holds the memory */
    }
    bufpool_alloc_release(share[INC_MSGS]);
    CHECK(readable(fd, 2000));
    CHECK_EQ(bufpool_bufring_refill(br), 2);
    void *data = (void *)0x1;
    CHECK(bufpool_bufring_take_inc(br, IORING_CQE_F_BUFFER | (5u << IORING_CQE_BUFFER_SHIFT), 1,
                                   &data) == NULL && data == NULL); /* no such bid */
    CHECK(bufpool_bufring_take_inc(br, 0, 1, &data) == NULL); /* no buffer at all */
    CHECK(bufpool_bufring_take_inc(br, IORING_CQE_F_BUFFER, 4 * BS + 1, &data) == NULL);
    CHECK(bufpool_bufring_take_inc(NULL, IORING_CQE_F_BUFFER, 1, &data) == NULL);
    CHECK(bufpool_bufring_take_inc(br, IORING_CQE_F_BUFFER, 1, NULL) == NULL);
    bufpool_bufring_destroy(br);

    /* On an ordinary ring take_inc is take, the share the whole buffer. */
    br = make_ring(p, &g, BGID + 1, 8, BUDGET_BUFS);
    arm_recv(&g, BGID + 1);
    send_all(g.sv[1], "plain", 5);
    int res;
    unsigned fl;
    next_cqe(&g, &res, &fl);
    CHECK(!(fl & CQE_F_BUF_MORE));
    bufpool_alloc *a = bufpool_bufring_take_inc(br, fl, res, &data);
    CHECK(a != NULL && data == bufpool_alloc_first(a));
    CHECK_EQ(memcmp(data, "plain", 5), 0);
    CHECK(bufpool_bufring_take(br, fl >> IORING_CQE_BUFFER_SHIFT) == NULL); /* handed over */
    bufpool_alloc_release(a);
    bufpool_bufring_destroy(br);
    CHECK_EQ(stats_of(p).in_use_bytes, 0);
    bufpool_destroy(p);
    rig_fini(&g);
}

/* Exits 77 when this machine cannot run the test at all. */
static void probe(void)
{
    struct io_uring ring;
    int r = io_uring_queue_init(8, &ring, 0);
    if (r) {
        printf("skipped: io_uring not available or not permitted: %s\n", strerror(-r));
        exit(77);
    }
    bufpool *p = make(BS, BS, 0);
    bufpool_bufring *br;
    r = bufpool_bufring_create(p, ring.ring_fd, 0, 1, 1, &br);
    if (r == -EINVAL || r == -EPERM || r == -ENOSYS || r == -EOPNOTSUPP) {
        printf("skipped: the kernel has no provided-buffer rings (IORING_REGISTER_PBUF_RING: %s)\n",
               strerror(-r));
        exit(77);
    }
    CHECK_EQ(r, 0);
    bufpool_bufring_destroy(br);
    bufpool_destroy(p);
    io_uring_queue_exit(&ring);
}

int main(int argc, char **argv)
{
    static const struct test_part parts[] = {
        {"dry", part_dry},
        {"dry_fifo", part_dry_fifo},
        {"destroy", part_destroy},
        {"badinput", part_badinput},
        {"two_rings", part_two_rings},
        {"shutdown", part_shutdown},
        {"regrow", part_regrow},
        {"regrow_fifo", part_regrow_fifo},
        {"regrow_inc", part_regrow_inc},
        {"regrow_inc_fifo", part_regrow_inc_fifo},
        {"shutdown_full", part_shutdown_full},
        {"fifo", part_fifo},
        {"inc", part_inc},
    };
    probe();
    return run_parts("test_bufring", parts, sizeof parts / sizeof *parts, argc, argv);
}
#endif /* BUFPOOL_HAVE_LIBURING */
