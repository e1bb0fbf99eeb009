/*
 * Write pipeline: producer threads fill buffers taken from a bufpool and hand
 * them to one writer thread, which appends them to a file.  The pool's budget
 * is the only bound on memory: when the writer falls behind, producers block
 * in bufpool_allocate until it releases what it has written (backpressure).
 * Prints the throughput and the peak memory in use against the budget, then
 * reads the file back and verifies every record.
 *
 *   pipeline [output-file] [megabytes]
 *
 * The file defaults to <program>.data, next to the program in the build
 * directory, and is removed after a successful check.
 */
#define _GNU_SOURCE
#include <bufpool.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PRODUCERS 4
#define BUFFER_SIZE (64 * 1024)
#define BUDGET (2 * 1024 * 1024) /* 32 buffers: far less than the data */
#define MAX_RUN 4                /* a record spans 1 .. MAX_RUN buffers */
#define MAGIC 0x62756670u        /* "bufp" */

/* Each record starts with this header; the rest is a pattern derived from
 * (producer, seq), so the reader can check every byte without a copy. */
struct record {
    uint32_t magic;
    uint32_t producer;
    uint64_t seq;
    uint64_t bytes; /* the whole record, header included */
};

static uint64_t pattern(uint32_t producer, uint64_t seq, uint64_t word)
{
    uint64_t x = ((uint64_t)producer << 56) ^ (seq << 20) ^ word;
    x ^= x >> 31;
    x *= 0x9e3779b97f4a7c15u;
    return x ^ (x >> 29);
}

static void fill(void *p, uint32_t producer, uint64_t seq, size_t bytes)
{
    struct record h = { MAGIC, producer, seq, bytes };
    memcpy(p, &h, sizeof h);
    uint64_t *w = (uint64_t *)p;
    for (size_t i = sizeof h / 8; i < bytes / 8; i++)
        w[i] = pattern(producer, seq, i);
}

/* A bounded hand-off is not needed: the pool's budget bounds the queue. */
struct node {
    bufpool_alloc *a;
    struct node *next;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    struct node *head, *tail;
    int producers_left;
} q = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, PRODUCERS };

static bufpool *pool;
static uint64_t records_per_producer;
static int out_fd;
static uint64_t written_bytes;

static void die(const char *what, int err)
{
    fprintf(stderr, "pipeline: %s: %s\n", what, bufpool_strerror(err));
    exit(1);
}

static void *producer(void *arg)
{
    uint32_t id = (uint32_t)(uintptr_t)arg;
    for (uint64_t seq = 0; seq < records_per_producer; seq++) {
        size_t n = 1 + (size_t)(pattern(id, seq, 0) % MAX_RUN);
        bufpool_alloc *a;
        int err = bufpool_allocate(pool, n, &a); /* blocks while the budget is spent */
        if (err)
            die("bufpool_allocate", err);
        fill(bufpool_alloc_first(a), id, seq, bufpool_alloc_bytes(a));

        /* The queue node is plain malloc: only the buffers count here. */
        struct node *nd = malloc(sizeof *nd);
        if (!nd)
            die("malloc", -ENOMEM);
        nd->a = a;
        nd->next = NULL;
        pthread_mutex_lock(&q.lock);
        if (q.tail)
            q.tail->next = nd;
        else
            q.head = nd;
        q.tail = nd;
        pthread_cond_signal(&q.ready);
        pthread_mutex_unlock(&q.lock);
    }
    pthread_mutex_lock(&q.lock);
    q.producers_left--;
    pthread_cond_signal(&q.ready);
    pthread_mutex_unlock(&q.lock);
    return NULL;
}

static void *writer(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&q.lock);
        while (!q.head && q.producers_left > 0)
            pthread_cond_wait(&q.ready, &q.lock);
        struct node *nd = q.head;
        if (nd) {
            q.head = nd->next;
            if (!q.head)
                q.tail = NULL;
        }
        pthread_mutex_unlock(&q.lock);
        if (!nd)
            return NULL; /* every producer is done and the queue is empty */

        const char *p = bufpool_alloc_first(nd->a);
        size_t left = bufpool_alloc_bytes(nd->a);
        while (left > 0) {
            ssize_t w = write(out_fd, p, left);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                perror("pipeline: write");
                exit(1);
            }
            p += w;
            left -= (size_t)w;
        }
        written_bytes += bufpool_alloc_bytes(nd->a);
        /* Releasing is what lets a blocked producer continue. */
        bufpool_alloc_release(nd->a);
        free(nd);
    }
}

/* Reads the file back: every (producer, seq) exactly once, every byte right. */
static bool verify(const char *path, uint64_t expect_bytes)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror("pipeline: reopen");
        return false;
    }
    bool *seen = calloc(PRODUCERS * records_per_producer, sizeof *seen);
    uint64_t *buf = malloc(MAX_RUN * BUFFER_SIZE);
    uint64_t total = 0, records = 0;
    bool ok = seen && buf;
    struct record h;
    while (ok && fread(&h, sizeof h, 1, f) == 1) {
        if (h.magic != MAGIC || h.producer >= PRODUCERS || h.seq >= records_per_producer ||
            h.bytes % BUFFER_SIZE || h.bytes == 0 || h.bytes > MAX_RUN * BUFFER_SIZE) {
            fprintf(stderr, "pipeline: bad record header at offset %" PRIu64 "\n", total);
            ok = false;
            break;
        }
        size_t body = h.bytes - sizeof h;
        if (fread((char *)buf + sizeof h, 1, body, f) != body) {
            fprintf(stderr, "pipeline: truncated record at offset %" PRIu64 "\n", total);
            ok = false;
            break;
        }
        for (size_t i = sizeof h / 8; i < h.bytes / 8; i++) {
            if (buf[i] != pattern(h.producer, h.seq, i)) {
                fprintf(stderr, "pipeline: corrupt data in record %u/%" PRIu64 "\n",
                        h.producer, h.seq);
                ok = false;
                break;
            }
        }
        bool *s = &seen[h.producer * records_per_producer + h.seq];
        if (*s) {
            fprintf(stderr, "pipeline: record %u/%" PRIu64 " written twice\n", h.producer, h.seq);
            ok = false;
        }
        *s = true;
        total += h.bytes;
        records++;
    }
    if (ok && (records != PRODUCERS * records_per_producer || total != expect_bytes)) {
        fprintf(stderr, "pipeline: file has %" PRIu64 " records, %" PRIu64 " bytes; expected %"
                PRIu64 ", %" PRIu64 "\n", records, total, PRODUCERS * records_per_producer,
                expect_bytes);
        ok = false;
    }
    free(seen);
    free(buf);
    fclose(f);
    return ok;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    char path[4096];
    if (argc > 1)
        snprintf(path, sizeof path, "%s", argv[1]);
    else
        snprintf(path, sizeof path, "%s.data", argv[0]);
    uint64_t mb = argc > 2 ? strtoull(argv[2], NULL, 10) : 128;
    /* Records average (1 + MAX_RUN) / 2 buffers. */
    records_per_producer = mb * 1024 * 1024 / PRODUCERS / ((1 + MAX_RUN) * BUFFER_SIZE / 2);
    if (records_per_producer == 0)
        records_per_producer = 1;

    bufpool_config cfg = { .buffer_size = BUFFER_SIZE, .max_memory = BUDGET, .flags = 0 };
    int err = bufpool_create(&pool, &cfg);
    if (err)
        die("bufpool_create", err);
    out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out_fd < 0) {
        perror(path);
        return 1;
    }

    double t0 = now();
    pthread_t prod[PRODUCERS], wr;
    pthread_create(&wr, NULL, writer, NULL);
    for (uintptr_t i = 0; i < PRODUCERS; i++)
        pthread_create(&prod[i], NULL, producer, (void *)i);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(prod[i], NULL);
    pthread_join(wr, NULL);
    if (close(out_fd) != 0) {
        perror("pipeline: close");
        return 1;
    }
    double secs = now() - t0;

    bufpool_stats st;
    bufpool_get_stats(pool, &st);
    printf("wrote %.1f MiB in %.3f s: %.0f MiB/s, %d producers, 1 writer\n",
           (double)written_bytes / (1 << 20), secs, (double)written_bytes / (1 << 20) / secs,
           PRODUCERS);
    printf("peak in use %.2f MiB of a %.2f MiB budget (%.0f%%); %" PRIu64
           " of %" PRIu64 " allocations waited for the budget\n",
           (double)st.peak_in_use_bytes / (1 << 20), (double)st.max_memory / (1 << 20),
           100.0 * (double)st.peak_in_use_bytes / (double)st.max_memory,
           st.total_waits, st.total_allocations);

    bool ok = true;
    if (st.peak_in_use_bytes > st.max_memory || st.peak_in_use_bytes == 0) {
        fprintf(stderr, "pipeline: peak %zu outside the budget %zu\n", st.peak_in_use_bytes,
                st.max_memory);
        ok = false;
    }
    if (st.live_allocations != 0 || st.in_use_bytes != 0 ||
        st.total_allocations != PRODUCERS * records_per_producer) {
        fprintf(stderr, "pipeline: stats disagree: %zu live, %zu bytes in use, %" PRIu64
                " granted\n", st.live_allocations, st.in_use_bytes, st.total_allocations);
        ok = false;
    }
    bufpool_destroy(pool);

    if (ok && verify(path, written_bytes)) {
        printf("verified %" PRIu64 " records in %s\n", PRODUCERS * records_per_producer, path);
        unlink(path);
        return 0;
    }
    fprintf(stderr, "pipeline: FAILED (file kept: %s)\n", path);
    return 1;
}
