/*
 * uring_bench: MB/s of a file copy three ways, for region mode (run by
 * `make bench` after the main bench):
 *   (a) bufpool region + io_uring fixed buffers: the region registered
 *       once, READ_FIXED/WRITE_FIXED at each allocation's address, the
 *       budget (waiter fd polled on the ring) bounding what is in flight;
 *   (b) pread/pwrite, one malloc'ed (4 KiB aligned) buffer, one thread:
 *       the plain synchronous loop, queue depth 1;
 *   (c) io_uring with unregistered buffers from malloc: the same pipeline
 *       and depth as (a) with READ/WRITE, so the kernel maps the user pages
 *       on every I/O.
 *
 * Method: a file of 256 MiB (--size) in the build directory, copied with
 * O_DIRECT both ways where the filesystem takes it, 256 KiB per I/O, up to
 * 16 I/Os in flight for (a) and (c).  The time covers the copy and the
 * destination's fsync.  Runs are interleaved (the order rotates each
 * round) and the table reports medians; each method's first copy is
 * verified.  Where O_DIRECT is refused, I/O is buffered and the page cache
 * is dropped (fsync + POSIX_FADV_DONTNEED) before each run, and the output
 * says so: those numbers are still partly memory speed.  CPU is user+sys
 * time of the process per GB copied.  Stops adding rounds after ~45 s.
 * Both files are removed when the program ends, on error paths and on
 * SIGINT/SIGTERM/SIGHUP too (only a SIGKILL leaves them; the make rule
 * removes them as well).
 *
 * Usage: uring_bench [--dir DIR] [--size MiB] [--runs N] [--quick]
 *                    [--md FILE] [--append FILE]
 * --md writes the table to FILE; --append adds it to FILE if FILE exists
 * (the main bench's results.md).  Exit 77 if io_uring is unavailable.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "harness.h" /* bench_now_ns only: this program links no harness code */

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 4096
#define CHUNK ((size_t)256 << 10)
#define QD 16 /* I/Os in flight for the ring methods; the pool's budget is QD chunks */
#define MAX_RUNS 15
#define TIME_LIMIT_S 45.0
#define POLL_TAG ((uint64_t)1)   /* user_data of the waiter's poll; slots are pointers */
#define CANCEL_TAG ((uint64_t)2) /* user_data of the poll's removal */

enum { M_POOL, M_PREAD, M_PLAIN, NMETHODS };
static const char *method_name[NMETHODS] = {
    "bufpool region + io_uring fixed buffers",
    "pread/pwrite, malloc'ed buffer (queue depth 1)",
    "io_uring, unregistered malloc'ed buffers",
};

static double now_s(void)
{
    return (double)bench_now_ns() / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static size_t round_up(size_t n) { return (n + BUF_SIZE - 1) / BUF_SIZE * BUF_SIZE; }

/* ---- the ring pipeline shared by (a) and (c) ---------------------------- */

struct slot {
    char *buf;          /* (c): its own buffer; (a): the allocation's first */
    bufpool_alloc *a;   /* (a) only */
    off_t off;
    size_t len, done;
    bool writing;
    struct slot *next_free;
};

struct ring_copy {
    struct io_uring ring;
    bool fixed;             /* (a): buffers from the pool's registered region */
    bufpool *pool;
    bufpool_waiter *waiter;
    bool poll_armed;
    int in, out;
    off_t size, next_off;
    unsigned inflight;
    struct slot slots[QD], *free_slots;
    char *plain[QD];        /* (c) */
};

static int queue_io(struct ring_copy *c, struct slot *k)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);
    if (!sqe) {
        io_uring_submit(&c->ring);
        if (!(sqe = io_uring_get_sqe(&c->ring)))
            return -EBUSY;
    }
    unsigned len = (unsigned)(round_up(k->len) - k->done);
    off_t off = k->off + (off_t)k->done;
    char *p = k->buf + k->done;
    if (c->fixed && k->writing)
        io_uring_prep_write_fixed(sqe, c->out, p, len, off, 0);
    else if (c->fixed)
        io_uring_prep_read_fixed(sqe, c->in, p, len, off, 0);
    else if (k->writing)
        io_uring_prep_write(sqe, c->out, p, len, off);
    else
        io_uring_prep_read(sqe, c->in, p, len, off);
    io_uring_sqe_set_data(sqe, k);
    return 0;
}

static void retire(struct ring_copy *c, struct slot *k)
{
    if (c->fixed) {
        bufpool_alloc_release(k->a);
        k->a = NULL;
    }
    k->next_free = c->free_slots;
    c->free_slots = k;
    c->inflight--;
}

static int start_reads(struct ring_copy *c)
{
    while (c->next_off < c->size && c->free_slots && !c->poll_armed) {
        struct slot *k = c->free_slots;
        if (c->fixed) {
            int r = bufpool_waiter_allocate(c->waiter, CHUNK / BUF_SIZE, &k->a);
            if (r == -EAGAIN) { /* budget used up: wake when some comes back */
                struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);
                if (!sqe)
                    return -EBUSY;
                io_uring_prep_poll_add(sqe, bufpool_waiter_fd(c->waiter), POLLIN);
                io_uring_sqe_set_data64(sqe, POLL_TAG);
                c->poll_armed = true;
                return 0;
            }
            if (r)
                return r;
            k->buf = bufpool_alloc_first(k->a);
        }
        c->free_slots = k->next_free;
        off_t left = c->size - c->next_off;
        k->off = c->next_off;
        k->len = left < (off_t)CHUNK ? (size_t)left : CHUNK;
        k->done = 0;
        k->writing = false;
        c->next_off += (off_t)k->len;
        c->inflight++;
        int r = queue_io(c, k);
        if (r)
            return r;
    }
    return 0;
}

static int complete(struct ring_copy *c, struct io_uring_cqe *cqe, int err)
{
    if (cqe->user_data == POLL_TAG || cqe->user_data == CANCEL_TAG) {
        if (cqe->user_data == POLL_TAG)
            c->poll_armed = false;
        return 0;
    }
    struct slot *k = io_uring_cqe_get_data(cqe);
    int r = cqe->res < 0 ? cqe->res : (cqe->res == 0 && !k->writing ? -EIO : 0);
    if (err || r) {
        retire(c, k);
        return r;
    }
    k->done += (size_t)cqe->res;
    size_t want = k->writing ? round_up(k->len) : k->len;
    if (k->done >= want && k->writing) {
        retire(c, k);
        return 0;
    }
    if (k->done >= want) {
        k->writing = true;
        k->done = 0;
    }
    if ((r = queue_io(c, k)))
        retire(c, k);
    return r;
}

static int ring_copy_run(struct ring_copy *c)
{
    c->next_off = 0;
    c->inflight = 0;
    c->poll_armed = false;
    c->free_slots = NULL;
    for (int i = QD - 1; i >= 0; i--) {
        c->slots[i].buf = c->plain[i];
        c->slots[i].next_free = c->free_slots;
        c->free_slots = &c->slots[i];
    }
    int err = 0;
    bool cancelled = false;
    for (;;) {
        if (!err)
            err = start_reads(c);
        if (err && c->poll_armed && !cancelled) {
            /* Stop waiting for memory: the poll completes as cancelled. */
            bufpool_waiter_cancel(c->waiter);
            struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);
            if (sqe) {
                io_uring_prep_poll_remove(sqe, POLL_TAG);
                io_uring_sqe_set_data64(sqe, CANCEL_TAG);
            }
            cancelled = true;
        }
        if (c->inflight == 0 && !c->poll_armed)
            break; /* all written, or all drained after an error */
        int r = io_uring_submit_and_wait(&c->ring, 1);
        if (r < 0 && r != -EINTR)
            return r;
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&c->ring, head, cqe) {
            seen++;
            r = complete(c, cqe, err);
            if (!err)
                err = r;
        }
        io_uring_cq_advance(&c->ring, seen);
    }
    return err;
}

/* ---- (b): the synchronous loop ----------------------------------------- */

static int pread_copy(int in, int out, off_t size, char *buf)
{
    for (off_t off = 0; off < size;) {
        size_t len = size - off < (off_t)CHUNK ? (size_t)(size - off) : CHUNK;
        size_t got = 0;
        while (got < len) {
            ssize_t n = pread(in, buf + got, round_up(len) - got, off + (off_t)got);
            if (n <= 0)
                return n < 0 ? -errno : -EIO;
            got += (size_t)n;
        }
        for (size_t put = 0; put < round_up(len);) {
            ssize_t n = pwrite(out, buf + put, round_up(len) - put, off + (off_t)put);
            if (n <= 0)
                return n < 0 ? -errno : -EIO;
            put += (size_t)n;
        }
        off += (off_t)len;
    }
    return 0;
}

/* ---- files -------------------------------------------------------------- */

static int make_source(const char *path, off_t size)
{
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size == size)
        return 0; /* left by a run that was killed */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    size_t blk = (size_t)1 << 20;
    uint64_t *buf = malloc(blk);
    int r = buf ? 0 : -ENOMEM;
    for (off_t off = 0; !r && off < size; off += (off_t)blk) {
        for (size_t i = 0; i < blk / 8; i++)
            buf[i] = ((uint64_t)off + i * 8) * 0x9e3779b97f4a7c15ull;
        if (pwrite(fd, buf, blk, off) != (ssize_t)blk)
            r = -EIO;
    }
    free(buf);
    if (!r && fsync(fd) != 0)
        r = -errno;
    close(fd);
    if (r)
        unlink(path);
    return r;
}

static void drop_cache(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fdatasync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
}

static bool same_files(const char *a, const char *b)
{
    int fa = open(a, O_RDONLY | O_CLOEXEC), fb = open(b, O_RDONLY | O_CLOEXEC);
    size_t blk = (size_t)1 << 20;
    char *x = malloc(blk), *y = malloc(blk);
    bool same = false;
    if (fa >= 0 && fb >= 0 && x && y) {
        for (off_t off = 0;; off += (off_t)blk) {
            ssize_t na = pread(fa, x, blk, off), nb = pread(fb, y, blk, off);
            if (na != nb || na < 0 || memcmp(x, y, (size_t)na) != 0)
                break;
            if (na == 0) {
                same = true;
                break;
            }
        }
    }
    free(x);
    free(y);
    if (fa >= 0)
        close(fa);
    if (fb >= 0)
        close(fb);
    return same;
}

static int open_file(const char *path, int flags, bool try_direct, bool *direct)
{
    int fd = try_direct ? open(path, flags | O_DIRECT | O_CLOEXEC, 0644) : -1;
    *direct = fd >= 0;
    if (fd < 0 && (!try_direct || errno == EINVAL))
        fd = open(path, flags | O_CLOEXEC, 0644);
    return fd;
}

/* ---- driver ------------------------------------------------------------- */

struct bench {
    const char *src, *dst;
    off_t size;
    bool try_direct, direct_in, direct_out;
    struct ring_copy rc[2]; /* [0]: (a), [1]: (c) */
    char *pbuf;             /* (b) */
};

/* One timed copy; seconds, or a negative errno. */
static double run_one(struct bench *b, int m, double *cpu, int *err)
{
    drop_cache(b->src);
    unlink(b->dst); /* every run writes a fresh file: same block allocation work */
    bool di, dout;
    int in = open_file(b->src, O_RDONLY, b->try_direct, &di);
    int out = open_file(b->dst, O_WRONLY | O_CREAT | O_TRUNC, b->try_direct, &dout);
    if (in < 0 || out < 0) {
        *err = -errno;
        return -1;
    }
    b->direct_in = di;
    b->direct_out = dout;
    double c0 = cpu_s(), t0 = now_s();
    int r;
    if (m == M_PREAD) {
        r = pread_copy(in, out, b->size, b->pbuf);
    } else {
        struct ring_copy *c = &b->rc[m == M_POOL ? 0 : 1];
        c->in = in;
        c->out = out;
        c->size = b->size;
        r = ring_copy_run(c);
    }
    if (!r && ftruncate(out, b->size) != 0)
        r = -errno;
    if (!r && fsync(out) != 0)
        r = -errno;
    double t = now_s() - t0;
    *cpu = cpu_s() - c0;
    close(in);
    close(out);
    *err = r;
    return r ? -1 : t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int ring_setup(struct ring_copy *c, bool fixed, bufpool *pool, bufpool_waiter *w)
{
    memset(c, 0, sizeof *c);
    c->fixed = fixed;
    c->pool = pool;
    c->waiter = w;
    int r = io_uring_queue_init(2 * QD + 4, &c->ring, 0);
    if (r < 0)
        return r;
    if (fixed) {
        struct iovec iov;
        bufpool_region(pool, &iov);
        r = io_uring_register_buffers(&c->ring, &iov, 1); /* once */
        if (r < 0) {
            io_uring_queue_exit(&c->ring);
            return r;
        }
    } else {
        for (int i = 0; i < QD; i++)
            if (posix_memalign((void **)&c->plain[i], BUF_SIZE, CHUNK))
                return -ENOMEM;
    }
    return 0;
}

/* ---- cleanup: the source and the copy go however the program ends ------ */

static char src_path[4096], dst_path[4096];

static void remove_files(void)
{
    if (src_path[0])
        unlink(src_path);
    if (dst_path[0])
        unlink(dst_path);
}

static void on_signal(int sig)
{
    remove_files(); /* unlink is async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(int argc, char **argv)
{
    const char *dir = "build/bench", *md = NULL, *append = NULL;
    size_t size_mib = 256;
    int runs = 7;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--md") && i + 1 < argc)
            md = argv[++i];
        else if (!strcmp(argv[i], "--append") && i + 1 < argc)
            append = argv[++i];
        else if (!strcmp(argv[i], "--size") && i + 1 < argc)
            size_mib = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) {
            size_mib = 32;
            runs = 3;
        } else {
            fprintf(stderr, "usage: uring_bench [--dir DIR] [--size MiB] [--runs N] [--quick] "
                            "[--md FILE] [--append FILE]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > MAX_RUNS || size_mib < 1) {
        fprintf(stderr, "uring_bench: --runs 1..%d, --size >= 1\n", MAX_RUNS);
        return 2;
    }

    struct bench b = {.size = (off_t)size_mib << 20, .try_direct = true};
    char *src = src_path, *dst = dst_path;
    snprintf(src, sizeof src_path, "%s/uring_bench.src", dir);
    snprintf(dst, sizeof dst_path, "%s/uring_bench.dst", dir);
    atexit(remove_files); /* every return from main and every exit() */
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    b.src = src;
    b.dst = dst;

    bufpool *pool;
    bufpool_waiter *w;
    bufpool_config cfg = {BUF_SIZE, QD * CHUNK, BUFPOOL_REGION};
    int r = bufpool_create(&pool, &cfg);
    if (r || (r = bufpool_waiter_create(pool, &w))) {
        fprintf(stderr, "bufpool: %s\n", bufpool_strerror(r));
        return 1;
    }
    if ((r = ring_setup(&b.rc[0], true, pool, w)) || (r = ring_setup(&b.rc[1], false, NULL, NULL))) {
        printf("skipped: io_uring unavailable here: %s\n", strerror(-r));
        return 77;
    }
    if (posix_memalign((void **)&b.pbuf, BUF_SIZE, CHUNK))
        return 1;
    double t_setup = now_s();
    if ((r = make_source(src, b.size))) {
        fprintf(stderr, "making %s: %s\n", src, strerror(-r));
        return 1;
    }
    printf("uring_bench: copying %zu MiB (%s), up to %d runs per method\n", size_mib, src, runs);

    double mbps[NMETHODS][MAX_RUNS], cpu[NMETHODS][MAX_RUNS];
    int done = 0;
    double start = now_s();
    for (int round = 0; round < runs; round++) {
        for (int j = 0; j < NMETHODS; j++) {
            int m = (j + round) % NMETHODS; /* rotate the order each round */
            double c;
            int err;
            double t = run_one(&b, m, &c, &err);
            if (t < 0 && err == -EINVAL && b.try_direct && (b.direct_in || b.direct_out)) {
                /* opened with O_DIRECT, I/O refused: go buffered for all */
                printf("O_DIRECT I/O refused (EINVAL): buffered from now on, restarting\n");
                b.try_direct = false;
                round = -1;
                done = 0;
                break;
            }
            if (t < 0) {
                fprintf(stderr, "%s: %s\n", method_name[m], strerror(-err));
                return 1;
            }
            if (round == 0 && !same_files(src, dst)) {
                fprintf(stderr, "%s: the copy differs from the source\n", method_name[m]);
                return 1;
            }
            mbps[m][round] = (double)b.size / 1e6 / t;
            cpu[m][round] = c / ((double)b.size / 1e9);
            printf("  round %d: %-48s %7.0f MB/s\n", round + 1, method_name[m], mbps[m][round]);
        }
        if (round >= 0)
            done = round + 1;
        if (now_s() - start > TIME_LIMIT_S && done >= 1)
            break;
    }
    unlink(dst);
    drop_cache(src);

    char table[4096];
    int len = snprintf(table, sizeof table,
        "## io_uring copy (region mode)\n\n"
        "Copy of a %zu MiB file in %s, %d KiB per I/O, %s; fsync of the copy included. "
        "Ring methods keep up to %d I/Os (%zu MiB) in flight; in (a) the pool's budget sets that bound. "
        "Median of %d interleaved runs; CPU is user+sys per GB copied.\n\n"
        "| method | MB/s (median) | min .. max | CPU s/GB |\n|---|---:|---:|---:|\n",
        size_mib, dir, (int)(CHUNK >> 10),
        b.direct_in && b.direct_out ? "O_DIRECT read and write (no page cache)"
        : "**buffered I/O: O_DIRECT refused by the filesystem**; the page cache is dropped "
          "before each run, but figures are partly memory speed",
        QD, (QD * CHUNK) >> 20, done);
    for (int m = 0; m < NMETHODS; m++) {
        double s[MAX_RUNS], cs[MAX_RUNS];
        memcpy(s, mbps[m], sizeof(double) * (size_t)done);
        memcpy(cs, cpu[m], sizeof(double) * (size_t)done);
        qsort(s, (size_t)done, sizeof *s, cmp_double);
        qsort(cs, (size_t)done, sizeof *cs, cmp_double);
        len += snprintf(table + len, sizeof table - (size_t)len, "| (%c) %s | %.0f | %.0f .. %.0f | %.2f |\n",
                        "abc"[m], method_name[m], s[done / 2], s[0], s[done - 1], cs[done / 2]);
    }
    printf("\n%s\n(setup %.1f s, runs %.1f s)\n", table, start - t_setup, now_s() - start);

    if (md) {
        FILE *f = fopen(md, "w");
        if (f) {
            fputs(table, f);
            fclose(f);
        }
    }
    if (append && access(append, F_OK) == 0) {
        FILE *f = fopen(append, "a");
        if (f) {
            fprintf(f, "\n%s", table);
            fclose(f);
            printf("appended to %s\n", append);
        }
    }
    io_uring_queue_exit(&b.rc[0].ring);
    io_uring_queue_exit(&b.rc[1].ring);
    for (int j = 0; j < QD; j++)
        free(b.rc[1].plain[j]);
    bufpool_waiter_destroy(w);
    bufpool_destroy(pool);
    free(b.pbuf);
    return 0;
}
