/*
 * bufring.c: receive throughput and peak RSS of io_uring receives on N TCP
 * loopback connections (section "bufring"), three ways:
 *   bufpool ring   one bufpool provided-buffer ring (bufpool_bufring_*),
 *                  multishot recv; each buffer taken and released as soon as
 *                  its data is read; the pool's budget bounds the memory
 *   malloc / conn  a buffer per connection from malloc, one recv at a time
 *                  per connection into it (the classic io_uring server)
 *   fixed ring     a provided-buffer ring of the same size as bufpool's,
 *                  with malloc'ed buffers recycled straight back into it
 *                  (liburing's io_uring_register_buf_ring and
 *                  io_uring_buf_ring_add: 2.3 here has no
 *                  io_uring_setup_buf_ring): fast, but unbudgeted and fixed
 * 16 KiB buffers; the rings have 32 slots, the bufpool pool a budget of 64
 * buffers (1 MiB).  A sender thread writes 64 KiB chunks round-robin to
 * every connection; the receiver reads the first and last byte of every
 * completion.  Each measurement is a fresh child process (bench --child
 * bufring): set up, warm up, count bytes for the round, then peak RSS
 * growth = VmHWM at the end minus VmRSS at the start (peak reset via
 * clear_refs).  bench_rounds() rounds, the methods interleaved and their
 * order rotated; medians with ranges.  No io_uring here: a note instead.
 */
#include "harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BR_BS (16 * 1024)
#define BR_ENTRIES 32
#define BR_BUDGET_BUFS 64
#define BR_CHUNK (64 * 1024)

enum { M_BUFPOOL, M_MALLOC, M_FIXED, NMETHOD };
static const char *const method_name[NMETHOD] = {"bufpool ring", "malloc / conn", "fixed ring"};

struct br_result {
    int err;          /* 0, or a negative errno: what failed */
    double mbps;      /* MB/s received in the timed window */
    long rss_kb;      /* peak RSS growth */
    uint64_t enobufs; /* receives that ended for want of a buffer */
};

#ifdef BUFPOOL_HAVE_LIBURING
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    if (f)
        fclose(f);
    return v;
}

struct rx {
    struct io_uring ring;
    int method, nconns;
    int *fd;            /* the receiving ends */
    int *cfd;           /* the sending ends */
    char **buf;         /* M_MALLOC: a buffer per connection */
    bool *dry;          /* a ring method: the connection's recv ended with -ENOBUFS */
    unsigned ndry;
    bufpool *pool;
    bufpool_bufring *br;
    struct io_uring_buf_ring *fr; /* M_FIXED */
    char *fbufs;
    bool poll_armed;
    uint64_t bytes, enobufs;
    volatile unsigned char sink;
    atomic_bool stop;
};

static int connect_all(struct rx *x)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, x->nconns) ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl))
        return -errno;
    for (int i = 0; i < x->nconns; i++) {
        x->cfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (x->cfd[i] < 0)
            return -errno;
        if (connect(x->cfd[i], (struct sockaddr *)&sa, sizeof sa) && errno != EINPROGRESS)
            return -errno;
        if ((x->fd[i] = accept(lfd, NULL, NULL)) < 0)
            return -errno;
    }
    close(lfd);
    return 0;
}

static void *sender_main(void *arg)
{
    struct rx *x = arg;
    static char chunk[BR_CHUNK];
    memset(chunk, 'b', sizeof chunk);
    struct pollfd *pf = calloc((size_t)x->nconns, sizeof *pf);
    while (pf && !atomic_load(&x->stop)) {
        int sent = 0;
        for (int i = 0; i < x->nconns; i++)
            sent += send(x->cfd[i], chunk, sizeof chunk, MSG_DONTWAIT | MSG_NOSIGNAL) > 0;
        if (sent)
            continue;
        for (int i = 0; i < x->nconns; i++)
            pf[i] = (struct pollfd){.fd = x->cfd[i], .events = POLLOUT};
        poll(pf, (nfds_t)x->nconns, 10);
    }
    free(pf);
    return NULL;
}

static struct io_uring_sqe *sqe_get(struct rx *x)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&x->ring);
    if (!sqe) {
        io_uring_submit(&x->ring);
        sqe = io_uring_get_sqe(&x->ring);
    }
    return sqe;
}

#define POLL_TAG ((uint64_t)1 << 32)

static void arm(struct rx *x, int i)
{
    struct io_uring_sqe *sqe = sqe_get(x);
    if (x->method == M_MALLOC) {
        io_uring_prep_recv(sqe, x->fd[i], x->buf[i], BR_BS, 0);
    } else {
        io_uring_prep_recv_multishot(sqe, x->fd[i], NULL, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = 1;
    }
    io_uring_sqe_set_data64(sqe, (uint64_t)i);
}

static int setup_method(struct rx *x)
{
    int r = 0;
    if (x->method == M_MALLOC) {
        for (int i = 0; i < x->nconns; i++)
            if (!(x->buf[i] = malloc(BR_BS)))
                return -ENOMEM;
    } else if (x->method == M_BUFPOOL) {
        bufpool_config cfg = {.buffer_size = BR_BS, .max_memory = BR_BUDGET_BUFS * BR_BS};
        if ((r = bufpool_create(&x->pool, &cfg)))
            return r;
        r = bufpool_bufring_create(x->pool, x->ring.ring_fd, 1, BR_ENTRIES, 1, &x->br);
    } else {
        if (posix_memalign((void **)&x->fr, 4096, BR_ENTRIES * sizeof(struct io_uring_buf)) ||
            !(x->fbufs = malloc((size_t)BR_ENTRIES * BR_BS)))
            return -ENOMEM;
        io_uring_buf_ring_init(x->fr);
        struct io_uring_buf_reg reg = {.ring_addr = (uintptr_t)x->fr, .ring_entries = BR_ENTRIES,
                                       .bgid = 1};
        if ((r = io_uring_register_buf_ring(&x->ring, &reg, 0)))
            return r;
        for (int b = 0; b < BR_ENTRIES; b++)
            io_uring_buf_ring_add(x->fr, x->fbufs + (size_t)b * BR_BS, BR_BS, (unsigned short)b,
                                  io_uring_buf_ring_mask(BR_ENTRIES), b);
        io_uring_buf_ring_advance(x->fr, BR_ENTRIES);
    }
    return r;
}

/* One completion's data, read and given back. */
static void consume(struct rx *x, int i, int res, unsigned flags)
{
    unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
    x->bytes += (uint64_t)res;
    if (x->method == M_MALLOC) {
        x->sink ^= (unsigned char)(x->buf[i][0] ^ x->buf[i][res - 1]);
    } else if (x->method == M_BUFPOOL) {
        bufpool_alloc *a = bufpool_bufring_take(x->br, bid);
        const char *p = bufpool_alloc_first(a);
        x->sink ^= (unsigned char)(p[0] ^ p[res - 1]);
        bufpool_alloc_release(a);
    } else {
        char *p = x->fbufs + (size_t)bid * BR_BS;
        x->sink ^= (unsigned char)(p[0] ^ p[res - 1]);
        io_uring_buf_ring_add(x->fr, p, BR_BS, (unsigned short)bid, io_uring_buf_ring_mask(BR_ENTRIES), 0);
        io_uring_buf_ring_advance(x->fr, 1);
    }
}

static void on_cqe(struct rx *x, struct io_uring_cqe *cqe)
{
    if (cqe->user_data == POLL_TAG) {
        x->poll_armed = false;
        return;
    }
    int i = (int)cqe->user_data, res = cqe->res;
    if (res > 0)
        consume(x, i, res, cqe->flags);
    if (x->method == M_MALLOC) {
        if (res > 0)
            arm(x, i);
        return;
    }
    if (cqe->flags & IORING_CQE_F_MORE)
        return;
    if (res == -ENOBUFS && !x->dry[i]) {
        x->enobufs++;
        x->dry[i] = true;
        x->ndry++;
    } else if (res >= 0) {
        arm(x, i);
    }
}

/* Re-arm the receives that ran dry once the ring has buffers again. */
static void rearm_dry(struct rx *x)
{
    if (!x->ndry)
        return;
    if (x->method == M_BUFPOOL && bufpool_bufring_refill(x->br) <= 0) {
        if (!x->poll_armed) {
            struct io_uring_sqe *sqe = sqe_get(x);
            io_uring_prep_poll_add(sqe, bufpool_bufring_fd(x->br), POLLIN);
            io_uring_sqe_set_data64(sqe, POLL_TAG);
            x->poll_armed = true;
        }
        return;
    }
    for (int i = 0; i < x->nconns; i++)
        if (x->dry[i]) {
            x->dry[i] = false;
            arm(x, i);
        }
    x->ndry = 0;
}

static void run_loop(struct rx *x, uint64_t until)
{
    while (bench_now_ns() < until) {
        struct __kernel_timespec ts = {.tv_nsec = 10000000};
        struct io_uring_cqe *cqe;
        io_uring_submit_and_wait_timeout(&x->ring, &cqe, 1, &ts, NULL);
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&x->ring, head, cqe) {
            on_cqe(x, cqe);
            seen++;
        }
        io_uring_cq_advance(&x->ring, seen);
        rearm_dry(x);
    }
}

static struct br_result measure(int method, int nconns, uint64_t dur_ns)
{
    struct br_result res = {0};
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
    long base = status_kb("VmRSS");
    static struct rx x;
    x.method = method;
    x.nconns = nconns;
    x.fd = calloc((size_t)nconns, sizeof *x.fd);
    x.cfd = calloc((size_t)nconns, sizeof *x.cfd);
    x.buf = calloc((size_t)nconns, sizeof *x.buf);
    x.dry = calloc((size_t)nconns, sizeof *x.dry);
    if (!x.fd || !x.cfd || !x.buf || !x.dry)
        return (struct br_result){.err = -ENOMEM};
    if ((res.err = io_uring_queue_init(2 * (unsigned)nconns + 8, &x.ring, 0)) ||
        (res.err = connect_all(&x)) || (res.err = setup_method(&x)))
        return res;
    for (int i = 0; i < nconns; i++)
        arm(&x, i);
    pthread_t t;
    if ((res.err = -pthread_create(&t, NULL, sender_main, &x)))
        return res;
    run_loop(&x, bench_now_ns() + dur_ns / 4); /* warm-up: every buffer touched */
    uint64_t b0 = x.bytes, t0 = bench_now_ns();
    run_loop(&x, t0 + dur_ns);
    res.mbps = (double)(x.bytes - b0) / ((double)(bench_now_ns() - t0) / 1e9) / 1e6;
    res.enobufs = x.enobufs;
    res.rss_kb = status_kb("VmHWM") - base;
    atomic_store(&x.stop, true);
    pthread_join(t, NULL);
    return res; /* the process ends: the kernel tears everything down */
}

/* bench --child bufring FD METHOD NCONNS DUR_MS */
int bench_child_bufring(int fd, int argc, char **argv)
{
    if (argc < 3)
        return 2;
    struct br_result res = measure(atoi(argv[0]), atoi(argv[1]), (uint64_t)atoll(argv[2]) * 1000000u);
    return bench_child_write(fd, &res, sizeof res) ? 0 : 1;
}

#else /* no liburing */
int bench_child_bufring(int fd, int argc, char **argv)
{
    (void)argc, (void)argv;
    struct br_result res = {.err = -ENOSYS};
    return bench_child_write(fd, &res, sizeof res) ? 0 : 1;
}
#endif

/* One method's result in a fresh child; err set if it could not run. */
static struct br_result run_child(int method, int nconns, int dur_ms)
{
    char m[8], n[16], d[16];
    snprintf(m, sizeof m, "%d", method);
    snprintf(n, sizeof n, "%d", nconns);
    snprintf(d, sizeof d, "%d", dur_ms);
    const char *args[3] = {m, n, d}, *why;
    struct br_result res;
    if (bench_child("bufring", args, 3, &res, sizeof res, &why))
        return (struct br_result){.err = -ECHILD};
    return res;
}

static void table_row(int nconns, int method, const double *mbps, const double *rss, int rounds,
                      uint64_t enobufs)
{
    const size_t mem[NMETHOD] = {BR_BUDGET_BUFS * BR_BS, (size_t)nconns * BR_BS,
                                 BR_ENTRIES * BR_BS};
    bench_out("| %d | %s | %s | %s | %zu KiB%s | %llu |\n", nconns, method_name[method],
              BENCH_SPREAD(bench_spread_of(mbps, (size_t)rounds), 0),
              BENCH_SPREAD(bench_spread_of(rss, (size_t)rounds), 2), mem[method] / KiB,
              method == M_BUFPOOL ? " (budget)" : "", (unsigned long long)enobufs);
}

void bench_section_bufring(void)
{
    bench_out("## Provided-buffer rings: receive throughput and peak RSS\n\n");
    struct br_result probe = run_child(M_BUFPOOL, 1, 1);
    if (probe.err) {
        bench_out("Note: io_uring provided-buffer rings unavailable here (%s): no table.\n\n",
                  probe.err == -ENOSYS ? "built without liburing" : bufpool_strerror(probe.err));
        return;
    }
    static const int conns[2] = {64, 256};
    int rounds = bench_rounds(), dur_ms = bench_opt.quick ? 40 : 300;
    bench_out("N TCP loopback connections, a sender thread writing 64 KiB chunks round-robin, "
              "io_uring receives of 16 KiB buffers, the first and last byte of each read. "
              "bufpool ring: %d slots, pool budget %d x 16 KiB; fixed ring: %d malloc'ed buffers "
              "recycled at once; malloc / conn: one buffer and one recv per connection. One fresh "
              "child process per measurement, %.2f s each; median (min..max) of %d interleaved "
              "rounds. Peak RSS growth = VmHWM at the end minus VmRSS at the start, in MiB.\n\n",
              BR_ENTRIES, BR_BUDGET_BUFS, BR_ENTRIES, dur_ms / 1000.0, rounds);
    bench_out("| connections | method | MB/s | peak RSS growth (MiB) | buffer memory | -ENOBUFS "
              "(all rounds) |\n|--:|:--|--:|--:|--:|--:|\n");
    for (int c = 0; c < 2; c++) {
        double mbps[NMETHOD][64], rss[NMETHOD][64];
        uint64_t enobufs[NMETHOD] = {0};
        bench_progress("bufring: %d connections, %d rounds ...\n", conns[c], rounds);
        for (int r = 0; r < rounds; r++)
            for (int k = 0; k < NMETHOD; k++) {
                int m = (k + r) % NMETHOD;
                struct br_result res = run_child(m, conns[c], dur_ms);
                if (res.err)
                    bench_die("bufring: %s with %d connections: %s", method_name[m], conns[c],
                              bufpool_strerror(res.err));
                mbps[m][r] = res.mbps;
                rss[m][r] = (double)res.rss_kb / 1024.0;
                enobufs[m] += res.enobufs;
            }
        for (int m = 0; m < NMETHOD; m++)
            table_row(conns[c], m, mbps[m], rss[m], rounds, enobufs[m]);
    }
    bench_out("\n");
}
