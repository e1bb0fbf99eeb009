/*
 * uring_copy: copy a file with io_uring fixed-buffer reads and writes
 * through a BUFPOOL_REGION pool (issue 6).
 *
 * It shows:
 *   - the pool's region registered once with io_uring_register_buffers(),
 *     as the pieces bufpool_region_iovecs() cuts it into (io_uring takes
 *     fixed buffers of at most 1 GiB; this 4 MiB region is one piece, a
 *     larger one would be several), then every chunk is READ_FIXED into an
 *     allocation and WRITE_FIXED out of it, addressed by
 *     bufpool_alloc_first() with the buf_index of the piece that holds it,
 *     bufpool_alloc_buf_index();
 *   - O_DIRECT straight into pool memory (4 KiB buffers are aligned for
 *     it), falling back to buffered I/O, and saying so, where the
 *     filesystem refuses O_DIRECT (tmpfs, for example);
 *   - the budget as backpressure: the pool holds 4 MiB, so at most 16 chunks
 *     of 256 KiB are in flight.  When the budget is used up the async
 *     waiter's eventfd is polled through the same ring (IORING_OP_POLL_ADD),
 *     so one io_uring_submit_and_wait() waits for I/O and for memory alike;
 *   - a check that the copy equals the source, and the copy rate in MB/s.
 *
 * Usage: uring_copy [SRC [DST]].  Without SRC it makes a 64 MiB file beside
 * the program (in the build directory), copies it and removes both files.
 * Without DST it copies to SRC.copy.  Exit 0 on success, 1 on failure, 77
 * if io_uring is unavailable (kernel or sandbox) or the region cannot be
 * registered (RLIMIT_MEMLOCK).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <bufpool.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 4096                   /* O_DIRECT wants block-aligned memory and lengths */
#define CHUNK_BUFS 64                   /* 256 KiB per read/write */
#define CHUNK (BUF_SIZE * CHUNK_BUFS)
#define BUDGET ((size_t)4 << 20)        /* bounds the bytes in flight */
#define MAX_CHUNKS (BUDGET / CHUNK)
#define POLL_TAG ((uint64_t)1)          /* user_data of the waiter's poll; chunks are pointers */
#define CANCEL_TAG ((uint64_t)2)        /* user_data of the poll's removal */

struct chunk {
    bufpool_alloc *a;
    off_t off;     /* file offset of the chunk */
    size_t len;    /* bytes to read (less at EOF) */
    size_t done;   /* bytes finished in the current phase */
    bool writing;
    struct chunk *next_free;
};

struct copy {
    struct io_uring ring;
    bufpool *pool;
    bufpool_waiter *waiter;
    int in, out;
    off_t size, next_off;
    unsigned inflight; /* chunks holding an allocation */
    bool poll_armed;
    struct chunk slots[MAX_CHUNKS], *free_slots;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct io_uring_sqe *get_sqe(struct copy *c)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);
    if (!sqe) { /* SQ full: hand what is queued to the kernel first */
        io_uring_submit(&c->ring);
        sqe = io_uring_get_sqe(&c->ring);
    }
    return sqe;
}

static size_t round_up(size_t len) { return (len + BUF_SIZE - 1) / BUF_SIZE * BUF_SIZE; }

/* Queue the rest of the chunk's current phase, from done onwards.  Writes
 * cover whole buffers; a partial last block is cut off by the ftruncate at
 * the end. */
static int queue_io(struct copy *c, struct chunk *k)
{
    struct io_uring_sqe *sqe = get_sqe(c);
    if (!sqe)
        return -EBUSY;
    char *p = (char *)bufpool_alloc_first(k->a) + k->done;
    /* Whole blocks both ways, as O_DIRECT wants: a read of the last chunk
     * comes back short at EOF. */
    unsigned len = (unsigned)(round_up(k->len) - k->done);
    /* The fixed buffer is the region's piece that holds the allocation (an
     * allocation of at most 1 GiB never straddles two). */
    int idx = bufpool_alloc_buf_index(k->a);
    if (idx < 0)
        return idx;
    if (k->writing)
        io_uring_prep_write_fixed(sqe, c->out, p, len, k->off + (off_t)k->done, idx);
    else
        io_uring_prep_read_fixed(sqe, c->in, p, len, k->off + (off_t)k->done, idx);
    io_uring_sqe_set_data(sqe, k);
    return 0;
}

/* Start reads for as many chunks as the budget allows; when it is used up,
 * arm a poll on the waiter's fd so the ring wakes us once memory is back. */
static int start_reads(struct copy *c)
{
    while (c->next_off < c->size && !c->poll_armed) {
        bufpool_alloc *a;
        int r = bufpool_waiter_allocate(c->waiter, CHUNK_BUFS, &a);
        if (r == -EAGAIN) {
            struct io_uring_sqe *sqe = get_sqe(c);
            if (!sqe)
                return -EBUSY;
            io_uring_prep_poll_add(sqe, bufpool_waiter_fd(c->waiter), POLLIN);
            io_uring_sqe_set_data64(sqe, POLL_TAG);
            c->poll_armed = true;
            break;
        }
        if (r)
            return r;
        struct chunk *k = c->free_slots;
        c->free_slots = k->next_free;
        off_t left = c->size - c->next_off;
        *k = (struct chunk){.a = a, .off = c->next_off, .len = left < CHUNK ? (size_t)left : CHUNK};
        c->next_off += (off_t)k->len;
        c->inflight++;
        if ((r = queue_io(c, k)))
            return r;
    }
    return 0;
}

/* A chunk is done (written, or abandoned after an error): its memory goes
 * back to the pool, which may make the waiter's fd readable. */
static void retire(struct copy *c, struct chunk *k)
{
    bufpool_alloc_release(k->a);
    k->a = NULL;
    k->next_free = c->free_slots;
    c->free_slots = k;
    c->inflight--;
}

/* One completion: a read turns into a write of the same buffers, a finished
 * write retires the chunk.  After an error (err != 0) nothing new is
 * queued; completions only retire what they finish. */
static int complete(struct copy *c, struct io_uring_cqe *cqe, int err)
{
    if (cqe->user_data == POLL_TAG || cqe->user_data == CANCEL_TAG) {
        if (cqe->user_data == POLL_TAG)
            c->poll_armed = false; /* the retry in start_reads will tell */
        return 0;
    }
    struct chunk *k = io_uring_cqe_get_data(cqe);
    int r = cqe->res < 0 ? cqe->res : 0;
    if (!err && !r && cqe->res == 0 && !k->writing)
        r = -EIO; /* the source shrank under us */
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
    if (k->done >= want) { /* read done: write the same buffers out */
        k->writing = true;
        k->done = 0;
    } /* else short: queue the rest */
    if ((r = queue_io(c, k)))
        retire(c, k);
    return r;
}

static int run_copy(struct copy *c)
{
    c->next_off = 0;
    c->inflight = 0;
    c->poll_armed = false;
    c->free_slots = NULL;
    for (size_t i = 0; i < MAX_CHUNKS; i++) {
        c->slots[i].next_free = c->free_slots;
        c->free_slots = &c->slots[i];
    }
    int err = 0;
    bool cancelled = false;
    for (;;) {
        if (!err)
            err = start_reads(c);
        if (err && c->poll_armed && !cancelled) {
            /* Stop waiting for memory; the poll completes as cancelled. */
            bufpool_waiter_cancel(c->waiter);
            struct io_uring_sqe *sqe = get_sqe(c);
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
            return r; /* the ring is broken: nothing more to drain */
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

/* A 64 MiB file with position-dependent content, written through the page
 * cache, flushed, then dropped from it so the copy reads from the disk. */
static int make_source(const char *path, off_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    size_t blk = (size_t)1 << 20;
    uint64_t *buf = malloc(blk);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    for (off_t off = 0; off < size; off += (off_t)blk) {
        for (size_t i = 0; i < blk / 8; i++)
            buf[i] = ((uint64_t)off + i * 8) * 0x9e3779b97f4a7c15ull;
        if (pwrite(fd, buf, blk, off) != (ssize_t)blk) {
            free(buf);
            close(fd);
            return -EIO;
        }
    }
    free(buf);
    fsync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    return 0;
}

/* 0 if the two files hold the same bytes. */
static int compare(const char *a, const char *b)
{
    int fa = open(a, O_RDONLY | O_CLOEXEC), fb = open(b, O_RDONLY | O_CLOEXEC);
    size_t blk = (size_t)1 << 20;
    char *x = malloc(blk), *y = malloc(blk);
    int r = -1;
    if (fa >= 0 && fb >= 0 && x && y) {
        for (off_t off = 0;; off += (off_t)blk) {
            ssize_t na = pread(fa, x, blk, off), nb = pread(fb, y, blk, off);
            if (na != nb || na < 0 || memcmp(x, y, (size_t)na) != 0)
                break;
            if (na == 0) {
                r = 0;
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
    return r;
}

/* Open with O_DIRECT when asked and the filesystem takes it (tmpfs says
 * EINVAL); *direct says which it got. */
static int open_file(const char *path, int flags, bool try_direct, bool *direct)
{
    int fd = try_direct ? open(path, flags | O_DIRECT | O_CLOEXEC, 0644) : -1;
    *direct = fd >= 0;
    if (fd < 0 && (!try_direct || errno == EINVAL))
        fd = open(path, flags | O_CLOEXEC, 0644);
    return fd;
}

int main(int argc, char **argv)
{
    char src[4096], dst[4200];
    bool made = argc < 2;
    if (made) {
        const char *slash = strrchr(argv[0], '/');
        int dirlen = slash ? (int)(slash - argv[0]) : 1;
        snprintf(src, sizeof src, "%.*s/uring_copy.src", dirlen, slash ? argv[0] : ".");
    } else {
        snprintf(src, sizeof src, "%s", argv[1]);
    }
    if (argc >= 3)
        snprintf(dst, sizeof dst, "%s", argv[2]);
    else
        snprintf(dst, sizeof dst, "%s.copy", src);

    struct copy c = {.in = -1, .out = -1};
    int r = io_uring_queue_init(2 * MAX_CHUNKS + 4, &c.ring, 0);
    if (r < 0) {
        printf("skipped: io_uring unavailable: io_uring_queue_init: %s\n", strerror(-r));
        return 77;
    }
    bufpool_config cfg = {BUF_SIZE, BUDGET, BUFPOOL_REGION};
    if ((r = bufpool_create(&c.pool, &cfg)) || (r = bufpool_waiter_create(c.pool, &c.waiter))) {
        fprintf(stderr, "bufpool: %s\n", bufpool_strerror(r));
        return 1;
    }
    /* The region's pieces, registered once for every chunk: buffer i is
     * piece i, and bufpool_alloc_buf_index() names an allocation's piece. */
    int npieces = bufpool_region_iovecs(c.pool, NULL, 0);
    struct iovec *pieces = npieces > 0 ? calloc((size_t)npieces, sizeof *pieces) : NULL;
    if (!pieces || bufpool_region_iovecs(c.pool, pieces, (unsigned)npieces) != npieces) {
        fprintf(stderr, "bufpool_region_iovecs: %s\n", npieces < 0 ? bufpool_strerror(npieces) : "no memory");
        return 1;
    }
    r = io_uring_register_buffers(&c.ring, pieces, (unsigned)npieces);
    free(pieces); /* the kernel keeps its own copy */
    if (r < 0) {
        printf("skipped: io_uring_register_buffers: %s (RLIMIT_MEMLOCK?)\n", strerror(-r));
        return 77;
    }

    if (made && (r = make_source(src, (off_t)64 << 20))) {
        fprintf(stderr, "making %s: %s\n", src, strerror(-r));
        return 1;
    }
    struct stat st;
    if (stat(src, &st) != 0) {
        perror(src);
        return 1;
    }
    c.size = st.st_size;

    bool try_direct = true, din, dout;
    double t0, t1;
    for (;;) {
        c.in = open_file(src, O_RDONLY, try_direct, &din);
        c.out = open_file(dst, O_WRONLY | O_CREAT | O_TRUNC, try_direct, &dout);
        if (c.in < 0 || c.out < 0) {
            perror(c.in < 0 ? src : dst);
            return 1;
        }
        t0 = now_s();
        r = run_copy(&c);
        if (r == 0 && ftruncate(c.out, c.size) != 0) /* whole-block writes may overshoot */
            r = -errno;
        if (r == 0 && fsync(c.out) != 0) /* count the time to reach the disk */
            r = -errno;
        t1 = now_s();
        close(c.in);
        close(c.out);
        /* Some filesystems open with O_DIRECT and refuse the I/O instead. */
        if (r == -EINVAL && (din || dout) && try_direct) {
            printf("O_DIRECT I/O refused (EINVAL): again, buffered\n");
            try_direct = false;
            continue;
        }
        break;
    }
    if (r) {
        fprintf(stderr, "copy failed: %s\n", strerror(-r));
        return 1;
    }
    bufpool_stats s;
    bufpool_get_stats(c.pool, &s);
    double mb = (double)c.size / 1e6;
    printf("copied %s -> %s: %.1f MB in %.3f s, %.0f MB/s\n", src, dst, mb, t1 - t0, mb / (t1 - t0));
    printf("I/O: read %s, write %s\n",
           din ? "O_DIRECT" : "buffered (O_DIRECT refused by the filesystem)",
           dout ? "O_DIRECT" : "buffered (O_DIRECT refused by the filesystem)");
    printf("pool: %zu KiB budget, %d KiB chunks, peak in use %zu KiB (at most %zu chunks in flight), "
           "%llu waits for budget\n",
           BUDGET >> 10, CHUNK >> 10, s.peak_in_use_bytes >> 10, (size_t)MAX_CHUNKS,
           (unsigned long long)s.total_waits);

    int bad = compare(src, dst);
    printf("verify: %s\n", bad ? "MISMATCH" : "identical");
    if (made) {
        unlink(src);
        unlink(dst);
    }
    io_uring_unregister_buffers(&c.ring);
    io_uring_queue_exit(&c.ring);
    bufpool_waiter_destroy(c.waiter);
    bufpool_destroy(c.pool);
    return bad ? 1 : 0;
}
