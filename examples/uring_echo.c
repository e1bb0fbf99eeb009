/*
 * uring_echo: an echo server on TCP loopback whose receives take their
 * buffers from a bufpool provided-buffer ring (issue 12).
 *
 * It shows:
 *   - 64 connections, each with one multishot recv (IOSQE_BUFFER_SELECT),
 *     all sharing one ring stocked from a pool whose budget (16 buffers of
 *     4 KiB, 64 KiB) is a quarter of what a buffer per connection would
 *     take: an idle connection holds nothing, the kernel picks a buffer only
 *     when data arrives;
 *   - a slow consumer: the server echoes a connection's data only on a
 *     timer tick (one buffer per connection per tick), so received buffers
 *     pile up, the budget runs out, the ring runs dry and receives end with
 *     -ENOBUFS;
 *   - the recovery: every echoed buffer is released when its send
 *     completes, which makes the ring's fd readable (watched with an
 *     io_uring poll request, so one io_uring_submit_and_wait waits for
 *     everything); the server then calls bufpool_bufring_refill and re-arms
 *     the receives that ended with -ENOBUFS;
 *   - a client in the same program (a thread, plain sockets and poll)
 *     that sends 64 KiB on every connection and checks every byte that
 *     comes back, in order.
 * It prints the counts of -ENOBUFS, re-arms and refills and the peak
 * memory in use against the budget.  Exit 0 on success, 1 on failure, 77
 * if io_uring or provided-buffer rings are unavailable here.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <bufpool.h>
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONNS 64
#define PER_CONN (64 * 1024)    /* bytes each connection sends and gets back */
#define BUF_SIZE 4096
#define BUDGET_BUFS 16          /* 64 KiB: far below CONNS x BUF_SIZE */
#define RING_ENTRIES 64
#define BGID 1
#define TICK_NS 1000000         /* the slow consumer's pace */
#define QCAP (BUDGET_BUFS + 1)  /* a connection never holds more than the budget */

enum { K_RECV, K_SEND, K_POLL, K_TICK };

struct piece {
    bufpool_alloc *a;
    unsigned len, off; /* bytes of data; sent so far */
};

struct conn {
    int fd;
    bool open, dry, sending;
    struct piece q[QCAP]; /* received, not echoed yet: q[head .. head + count) */
    unsigned head, count;
};

struct server {
    struct io_uring ring;
    bufpool *pool;
    bufpool_bufring *br;
    struct conn c[CONNS];
    unsigned open;
    bool poll_armed;
    uint64_t enobufs, rearms, refills, recvs, sends;
    size_t peak;
};

static void die(const char *what, int err)
{
    fprintf(stderr, "uring_echo: %s: %s\n", what, strerror(err < 0 ? -err : err));
    exit(1);
}

static uint8_t pattern(unsigned conn, size_t i)
{
    return (uint8_t)(conn * 31u + i * 7u + (i >> 9));
}

static struct io_uring_sqe *sqe_get(struct server *s)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
    if (!sqe) {
        io_uring_submit(&s->ring);
        sqe = io_uring_get_sqe(&s->ring);
    }
    if (!sqe)
        die("io_uring_get_sqe", EBUSY);
    return sqe;
}

static void tag(struct io_uring_sqe *sqe, unsigned kind, unsigned conn)
{
    io_uring_sqe_set_data64(sqe, (uint64_t)conn << 8 | kind);
}

static void arm_recv(struct server *s, unsigned i)
{
    struct io_uring_sqe *sqe = sqe_get(s);
    io_uring_prep_recv_multishot(sqe, s->c[i].fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    tag(sqe, K_RECV, i);
    s->c[i].dry = false;
}

static void arm_poll(struct server *s)
{
    if (s->poll_armed)
        return;
    struct io_uring_sqe *sqe = sqe_get(s);
    io_uring_prep_poll_add(sqe, bufpool_bufring_fd(s->br), POLLIN);
    tag(sqe, K_POLL, 0);
    s->poll_armed = true;
}

static void arm_tick(struct server *s)
{
    static struct __kernel_timespec ts = {.tv_nsec = TICK_NS};
    struct io_uring_sqe *sqe = sqe_get(s);
    io_uring_prep_timeout(sqe, &ts, 0, 0);
    tag(sqe, K_TICK, 0);
}

static void send_head(struct server *s, unsigned i)
{
    struct conn *c = &s->c[i];
    struct piece *p = &c->q[c->head];
    struct io_uring_sqe *sqe = sqe_get(s);
    io_uring_prep_send(sqe, c->fd, (char *)bufpool_alloc_first(p->a) + p->off, p->len - p->off,
                       MSG_NOSIGNAL);
    tag(sqe, K_SEND, i);
    c->sending = true;
}

static void sample(struct server *s)
{
    bufpool_stats st;
    bufpool_get_stats(s->pool, &st);
    if (st.in_use_bytes + st.cached_bytes > st.max_memory)
        die("budget exceeded", EOVERFLOW);
    if (st.in_use_bytes > s->peak)
        s->peak = st.in_use_bytes;
}

static void on_recv(struct server *s, unsigned i, int res, unsigned flags)
{
    struct conn *c = &s->c[i];
    if (res > 0) {
        bufpool_alloc *a = bufpool_bufring_take(s->br, flags >> IORING_CQE_BUFFER_SHIFT);
        if (!a || c->count == QCAP)
            die("a completion's buffer", EPROTO);
        c->q[(c->head + c->count++) % QCAP] = (struct piece){a, (unsigned)res, 0};
        s->recvs++;
        sample(s);
    }
    if (flags & IORING_CQE_F_MORE)
        return;
    if (res == -ENOBUFS) { /* ran dry: re-armed once the ring is refilled */
        s->enobufs++;
        c->dry = true;
        arm_poll(s);
    } else if (res == 0) { /* the client closed */
        c->open = false;
        s->open--;
    } else if (res < 0) {
        die("recv", res);
    } else {
        arm_recv(s, i); /* ended for another reason: just go on */
        s->rearms++;
    }
}

static void on_send(struct server *s, unsigned i, int res)
{
    struct conn *c = &s->c[i];
    struct piece *p = &c->q[c->head];
    if (res < 0)
        die("send", res);
    c->sending = false;
    p->off += (unsigned)res;
    if (p->off < p->len) { /* short send: the rest at once */
        send_head(s, i);
        return;
    }
    bufpool_alloc_release(p->a); /* memory back: the ring's fd may turn readable */
    c->head = (c->head + 1) % QCAP;
    c->count--;
    s->sends++;
}

static void on_poll(struct server *s)
{
    s->poll_armed = false;
    int held = bufpool_bufring_refill(s->br);
    if (held < 0)
        die("bufpool_bufring_refill", held);
    s->refills++;
    for (unsigned i = 0; held > 0 && i < CONNS; i++)
        if (s->c[i].open && s->c[i].dry) {
            arm_recv(s, i);
            s->rearms++;
        }
    for (unsigned i = 0; i < CONNS; i++)
        if (s->c[i].open && s->c[i].dry)
            arm_poll(s); /* nothing came back yet */
}

/* The slow consumer: each tick echoes at most one buffer per connection. */
static void on_tick(struct server *s)
{
    for (unsigned i = 0; i < CONNS; i++)
        if (s->c[i].count && !s->c[i].sending)
            send_head(s, i);
    arm_tick(s);
}

static bool busy(const struct server *s)
{
    if (s->open)
        return true;
    for (unsigned i = 0; i < CONNS; i++)
        if (s->c[i].count)
            return true;
    return false;
}

static void serve(struct server *s)
{
    for (unsigned i = 0; i < CONNS; i++)
        arm_recv(s, i);
    arm_tick(s);
    while (busy(s)) {
        int r = io_uring_submit_and_wait(&s->ring, 1);
        if (r < 0 && r != -EINTR)
            die("io_uring_submit_and_wait", r);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&s->ring, head, cqe) {
            unsigned kind = (unsigned)(cqe->user_data & 0xff), i = (unsigned)(cqe->user_data >> 8);
            seen++;
            if (kind == K_RECV)
                on_recv(s, i, cqe->res, cqe->flags);
            else if (kind == K_SEND)
                on_send(s, i, cqe->res);
            else if (kind == K_POLL)
                on_poll(s);
            else
                on_tick(s);
        }
        io_uring_cq_advance(&s->ring, seen);
    }
}

/* ---- the client: plain sockets, poll, a check of every byte ------------- */

struct client {
    int fd[CONNS];
    size_t sent[CONNS], got[CONNS];
    int err;
};

static bool client_step(struct client *cl, unsigned i, short rev)
{
    uint8_t buf[8192];
    if ((rev & POLLOUT) && cl->sent[i] < PER_CONN) {
        size_t len = PER_CONN - cl->sent[i] < sizeof buf ? PER_CONN - cl->sent[i] : sizeof buf;
        for (size_t k = 0; k < len; k++)
            buf[k] = pattern(i, cl->sent[i] + k);
        ssize_t w = send(cl->fd[i], buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN)
            return false;
        cl->sent[i] += w > 0 ? (size_t)w : 0;
    }
    if (rev & POLLIN) {
        ssize_t r = recv(cl->fd[i], buf, sizeof buf, MSG_DONTWAIT);
        if (r <= 0)
            return r < 0 && errno == EAGAIN;
        for (ssize_t k = 0; k < r; k++)
            if (buf[k] != pattern(i, cl->got[i] + (size_t)k)) {
                fprintf(stderr, "uring_echo: connection %u, byte %zu: %#x, want %#x\n", i,
                        cl->got[i] + (size_t)k, buf[k], pattern(i, cl->got[i] + (size_t)k));
                return false;
            }
        cl->got[i] += (size_t)r;
    }
    return true;
}

static void *client_main(void *arg)
{
    struct client *cl = arg;
    struct pollfd pf[CONNS];
    unsigned left = CONNS;
    while (left) {
        for (unsigned i = 0; i < CONNS; i++) {
            pf[i].fd = cl->got[i] < PER_CONN ? cl->fd[i] : -1;
            pf[i].events = (short)(POLLIN | (cl->sent[i] < PER_CONN ? POLLOUT : 0));
        }
        if (poll(pf, CONNS, 10000) <= 0) {
            cl->err = ETIMEDOUT;
            break;
        }
        for (unsigned i = 0; i < CONNS; i++) {
            if (pf[i].fd < 0 || !pf[i].revents)
                continue;
            if (!client_step(cl, i, pf[i].revents)) {
                cl->err = EPROTO;
                left = 0;
                break;
            }
            if (cl->got[i] == PER_CONN) {
                close(cl->fd[i]); /* the server sees EOF */
                left--;
            }
        }
    }
    return NULL;
}

/* ---- setup --------------------------------------------------------------- */

static void connect_all(struct server *s, struct client *cl)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, CONNS) ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl))
        die("listen on loopback", errno);
    for (unsigned i = 0; i < CONNS; i++) {
        cl->fd[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (cl->fd[i] < 0 || connect(cl->fd[i], (struct sockaddr *)&sa, sizeof sa))
            die("connect", errno);
        s->c[i].fd = accept(lfd, NULL, NULL);
        if (s->c[i].fd < 0)
            die("accept", errno);
        s->c[i].open = true;
    }
    s->open = CONNS;
    close(lfd);
}

int main(void)
{
    static struct server s;
    static struct client cl;
    int r = io_uring_queue_init(256, &s.ring, 0);
    if (r) {
        printf("skipped: io_uring unavailable here: %s\n", strerror(-r));
        return 77;
    }
    bufpool_config cfg = {.buffer_size = BUF_SIZE, .max_memory = BUDGET_BUFS * BUF_SIZE};
    if ((r = bufpool_create(&s.pool, &cfg)))
        die("bufpool_create", r);
    r = bufpool_bufring_create(s.pool, s.ring.ring_fd, BGID, RING_ENTRIES, 1, &s.br);
    if (r == -EINVAL || r == -EPERM) {
        printf("skipped: no provided-buffer rings here: %s\n", bufpool_strerror(r));
        return 77;
    }
    if (r)
        die("bufpool_bufring_create", r);
    connect_all(&s, &cl);
    pthread_t t;
    if ((r = pthread_create(&t, NULL, client_main, &cl)))
        die("pthread_create", r);
    serve(&s);
    pthread_join(t, NULL);
    if (cl.err)
        die("client", cl.err);
    for (unsigned i = 0; i < CONNS; i++) {
        if (cl.got[i] != PER_CONN)
            die("a connection came back short", EPROTO);
        close(s.c[i].fd);
    }
    printf("uring_echo: %u connections x %d KiB echoed and checked; budget %d KiB (%d x %d B), "
           "a buffer per connection would take %d KiB\n",
           CONNS, PER_CONN / 1024, BUDGET_BUFS * BUF_SIZE / 1024, BUDGET_BUFS, BUF_SIZE,
           CONNS * BUF_SIZE / 1024);
    printf("uring_echo: %llu receives, %llu echoes; ring ran dry: %llu x -ENOBUFS, %llu re-arms, "
           "%llu refills; peak in use %zu KiB\n",
           (unsigned long long)s.recvs, (unsigned long long)s.sends, (unsigned long long)s.enobufs,
           (unsigned long long)s.rearms, (unsigned long long)s.refills, s.peak / 1024);
    bufpool_bufring_destroy(s.br);
    bufpool_destroy(s.pool);
    io_uring_queue_exit(&s.ring);
    if (s.enobufs == 0)
        die("the slow consumer never ran the ring dry", EPROTO);
    return 0;
}
