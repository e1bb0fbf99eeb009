/*
 * model.h: a reference model of the pool's contract (include/bufpool.h and
 * the man pages), single-threaded, and run_ops(data, len), which decodes an
 * operation sequence from bytes, runs it on a real pool and checks every
 * result, every statistic and every waiter's readiness against the model
 * after each step.
 *
 * Used two ways: tests/model/test_model.c (fixed seeds, in make check) and
 * tests/model/fuzz_model.c (a libFuzzer target).  A mismatch prints the step and
 * aborts.
 *
 * The model (what the contract says, plus the documented freedom):
 *   - A request of b bytes fits iff in_use + set_aside + b <= max_memory:
 *     cached memory counts in the budget but is given up before a request
 *     fails, so it never decides a result.  set_aside is memory a FIFO pool
 *     has granted to an async waiter that has not collected it yet.
 *   - Errors in order: -EINVAL (n == 0, NULL), -E2BIG (n * buffer_size >
 *     max_memory, overflow included), -ECANCELED (shut down), then -EAGAIN
 *     (try, waiter) or -ETIMEDOUT (timed) when it does not fit; FIFO: try
 *     fails, and timed waits, while anyone is queued.
 *   - The queue is served whenever the library looks at it: a last release,
 *     set_max_memory, a request that does not fit (a try, or a timeout of
 *     0, only when in_use + b <= max_memory: when taking the caches may
 *     help it, or when it purged free memory, a give), a waiter leaving the queue (FIFO), a timed call giving up.  FIFO: from the head, granting
 *     (setting aside) while the head fits.  Default: every async waiter
 *     that fits is told (its fd turns readable), counting what this pass
 *     already promised to earlier ones.  A request that fits may or may not
 *     pass through the queue (the thread cache decides), so after such a
 *     request a pending waiter may have been told; the model then accepts
 *     readiness only if the waiter fitted before the request.
 *   - Pending waiters that can never fit after a shrink, and all of them at
 *     shutdown, end with -E2BIG or -ECANCELED at their next call, and what
 *     was set aside for them is taken back at once.  A waiter's -E2BIG for
 *     its pending n ends that request; for another n it changes nothing; a
 *     stale -E2BIG (the shrink was undone) is not reported: a fresh try.
 *   - Stats: in_use, live, waiters, totals exact; cached >= set_aside and
 *     in_use + cached <= max_memory unless a shrink left the pool over its
 *     budget, in which case cached holds nothing but set_aside memory.
 *   - REGION: a request that fits the budget may still find no contiguous
 *     run; then every cache must have been given up (cached == 0) and the
 *     largest free run must be shorter than n.  Async waiters and blocking
 *     calls are not run in region mode (their outcome depends on layout).
 */
#ifndef BUFPOOL_TEST_MODEL_H
#define BUFPOOL_TEST_MODEL_H

#include "bufpool.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define M_MAXA 24
#define M_MAXW 4

struct m_alloc {
    bufpool_alloc *a;
    size_t n;
    unsigned refs;
    unsigned char tag;
};

enum { W_IDLE, W_QUEUED, W_DONE };

struct m_waiter {
    bufpool_waiter *w;
    int state;
    size_t n;
    int result;
    bool grant, ready;
    uint64_t seq;
};

struct model {
    bufpool *p;
    size_t bs, max, region_len;
    bool fifo, region, shut;
    size_t in_use, set_aside, peak;
    struct m_alloc al[M_MAXA];
    size_t nal;
    struct m_waiter wt[M_MAXW];
    uint64_t seq, allocs, failures, waits;
    const uint8_t *d;
    size_t len, pos, step;
    const char *op;
    unsigned char tag;
};

/* The last steps, printed when a check fails. */
#define M_TRACE 48
static char m_trace_buf[M_TRACE][112];
static size_t m_trace_n;
#define m_trace(...) snprintf(m_trace_buf[m_trace_n++ % M_TRACE], sizeof m_trace_buf[0], __VA_ARGS__)

static void m_dump(const struct model *m)
{
    size_t from = m_trace_n > M_TRACE ? m_trace_n - M_TRACE : 0;
    for (size_t i = from; i < m_trace_n; i++)
        fprintf(stderr, "  trace: %s\n", m_trace_buf[i % M_TRACE]);
    fprintf(stderr, "  model: bs=%zu max=%zu fifo=%d region=%d shut=%d in_use=%zu set_aside=%zu live=%zu\n",
            m->bs, m->max, m->fifo, m->region, m->shut, m->in_use, m->set_aside, m->nal);
    for (int i = 0; i < M_MAXW; i++)
        if (m->wt[i].w)
            fprintf(stderr, "  waiter %d: state=%d n=%zu result=%d grant=%d ready=%d seq=%llu\n", i,
                    m->wt[i].state, m->wt[i].n, m->wt[i].result, m->wt[i].grant, m->wt[i].ready,
                    (unsigned long long)m->wt[i].seq);
    bufpool_stats st;
    bufpool_get_stats(m->p, &st);
    fprintf(stderr, "  pool: in_use=%zu cached=%zu live=%zu waiters=%zu allocs=%llu failures=%llu waits=%llu largest=%zu\n",
            st.in_use_bytes, st.cached_bytes, st.live_allocations, st.waiters,
            (unsigned long long)st.total_allocations, (unsigned long long)st.total_failures,
            (unsigned long long)st.total_waits, st.largest_free_run);
}

#define MCHECK(c) do { if (!(c)) { \
    fprintf(stderr, "model: %s:%d: check failed: %s (step %zu, %s)\n", __FILE__, __LINE__, #c, m->step, m->op); \
    m_dump(m); abort(); } } while (0)
#define MEQ(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); if (a_ != b_) { \
    fprintf(stderr, "model: %s:%d: %s == %lld, expected %s == %lld (step %zu, %s)\n", __FILE__, __LINE__, \
            #a, a_, #b, b_, m->step, m->op); m_dump(m); abort(); } } while (0)

static unsigned m_byte(struct model *m)
{
    return m->pos < m->len ? m->d[m->pos++] : 0;
}

static size_t m_nqueued(const struct model *m)
{
    size_t q = 0;
    for (int i = 0; i < M_MAXW; i++)
        q += m->wt[i].w && m->wt[i].state == W_QUEUED;
    return q;
}

static bool m_fits(const struct model *m, size_t bytes)
{
    return m->in_use + m->set_aside + bytes <= m->max;
}

static bool m_e2big(const struct model *m, size_t n)
{
    return n > SIZE_MAX / m->bs || n * m->bs > m->max;
}

static void m_done(struct model *m, struct m_waiter *w, int r, bool grant)
{
    w->state = W_DONE;
    w->result = r;
    w->grant = grant;
    w->ready = true;
    if (grant)
        m->set_aside += w->n * m->bs;
}

/* The queue in arrival order: the next queued waiter after sequence s. */
static struct m_waiter *m_next_queued(struct model *m, uint64_t after)
{
    struct m_waiter *best = NULL;
    for (int i = 0; i < M_MAXW; i++) {
        struct m_waiter *w = &m->wt[i];
        if (w->w && w->state == W_QUEUED && w->seq > after && (!best || w->seq < best->seq))
            best = w;
    }
    return best;
}

static void m_serve(struct model *m)
{
    size_t promised = 0;
    for (struct m_waiter *w = m_next_queued(m, 0); w; w = m_next_queued(m, w->seq)) {
        size_t bytes = w->n * m->bs;
        if (!m->fifo) {
            if (m->in_use + promised + bytes <= m->max) {
                m_done(m, w, 0, false);
                promised += bytes;
            }
            continue;
        }
        if (!m_fits(m, bytes))
            break;
        m_done(m, w, 0, true);
    }
}

static void m_enqueue(struct model *m, struct m_waiter *w, size_t n)
{
    w->state = W_QUEUED;
    w->n = n;
    w->seq = ++m->seq;
}

/* node_reset: leave the queue, give back a grant, serve the rest (in the
 * default mode memory promised to this waiter was held back from them). */
static void m_reset(struct model *m, struct m_waiter *w)
{
    if (w->grant)
        m->set_aside -= w->n * m->bs;
    w->state = W_IDLE;
    w->grant = false;
    w->result = 0;
    m_serve(m);
}

static void m_fill(unsigned char *p, size_t len, unsigned char tag)
{
    memset(p, tag, len);
}

static void m_add(struct model *m, bufpool_alloc *a, size_t n)
{
    size_t bytes = n * m->bs;
    MCHECK(a != NULL);
    MEQ(bufpool_alloc_length(a), n);
    MEQ(bufpool_alloc_bytes(a), bytes);
    unsigned char *first = bufpool_alloc_first(a);
    size_t align = m->bs < 4096 ? m->bs : 4096;
    MCHECK(first != NULL && (uintptr_t)first % align == 0);
    MCHECK(bufpool_alloc_buffer(a, 0) == first);
    MCHECK(bufpool_alloc_buffer(a, n - 1) == first + (n - 1) * m->bs);
    MCHECK(bufpool_alloc_buffer(a, n) == NULL);
    if (m->region) {
        struct iovec iov;
        MEQ(bufpool_region(m->p, &iov), 0);
        size_t off = bufpool_alloc_offset(a);
        MCHECK(off == (size_t)(first - (unsigned char *)iov.iov_base));
        MCHECK(off % m->bs == 0 && off + bytes <= iov.iov_len);
    } else {
        MCHECK(bufpool_alloc_offset(a) == SIZE_MAX);
    }
    for (size_t i = 0; i < m->nal; i++) {
        unsigned char *o = bufpool_alloc_first(m->al[i].a);
        MCHECK(m->al[i].a != a);
        MCHECK(first + bytes <= o || o + m->al[i].n * m->bs <= first); /* no overlap */
    }
    MCHECK(m->nal < M_MAXA);
    struct m_alloc *e = &m->al[m->nal++];
    e->a = a;
    e->n = n;
    e->refs = 1;
    e->tag = (unsigned char)(++m->tag | 1);
    m_fill(first, bytes, e->tag);
    m->in_use += bytes;
    if (m->in_use > m->peak)
        m->peak = m->in_use;
    m->allocs++;
}

static void m_verify(struct model *m, const struct m_alloc *e)
{
    const unsigned char *p = bufpool_alloc_first(e->a);
    for (size_t i = 0; i < e->n * m->bs; i++)
        if (p[i] != e->tag) {
            fprintf(stderr, "model: allocation %p corrupted at byte %zu: %#x, expected %#x\n",
                    (void *)e->a, i, p[i], e->tag);
            MCHECK(!"memory of a live allocation changed");
        }
}

/* Readiness and statistics after every step. */
static void m_check(struct model *m)
{
    for (int i = 0; i < M_MAXW; i++) {
        struct m_waiter *w = &m->wt[i];
        if (!w->w)
            continue;
        struct pollfd pfd = {.fd = bufpool_waiter_fd(w->w), .events = POLLIN};
        MEQ(poll(&pfd, 1, 0), w->ready ? 1 : 0);
    }
    bufpool_stats st;
    bufpool_get_stats(m->p, &st);
    MEQ(st.buffer_size, m->bs);
    MEQ(st.max_memory, m->max);
    MEQ(st.in_use_bytes, m->in_use);
    MEQ(st.live_allocations, m->nal);
    MEQ(st.waiters, m_nqueued(m));
    MEQ(st.total_allocations, m->allocs);
    MEQ(st.total_failures, m->failures);
    MEQ(st.total_waits, m->waits);
    MCHECK(st.peak_in_use_bytes >= m->in_use && st.peak_in_use_bytes <= m->peak);
    MCHECK(st.cached_bytes >= m->set_aside);
    MCHECK(st.in_use_bytes + st.cached_bytes <= m->max || st.cached_bytes == m->set_aside);
    if (!m->region)
        MEQ(st.largest_free_run, 0);
}

/* After a request that fitted and may have passed through the queue:
 * accept a default-mode waiter told then, if it fitted before. */
static void m_sync_lenient(struct model *m, size_t in_use_before)
{
    if (m->fifo)
        return;
    for (int i = 0; i < M_MAXW; i++) {
        struct m_waiter *w = &m->wt[i];
        if (!w->w || w->state != W_QUEUED)
            continue;
        struct pollfd pfd = {.fd = bufpool_waiter_fd(w->w), .events = POLLIN};
        if (poll(&pfd, 1, 0) == 1) {
            MCHECK(in_use_before + w->n * m->bs <= m->max);
            m_done(m, w, 0, false);
        }
    }
}

static size_t m_pick_n(struct model *m)
{
    unsigned b = m_byte(m);
    size_t cap = m->max / m->bs;
    if (b < 8)
        return 0;
    if (b < 16)
        return cap + 1 + b % 3; /* E2BIG */
    if (b == 16)
        return SIZE_MAX;
    if (b == 17)
        return SIZE_MAX / m->bs + 1; /* n * bs overflows */
    if (b < 128)
        return 1 + b % 2;
    return 1 + b % (cap < 8 ? cap : 8);
}

enum { K_TRY, K_TIMED, K_BLOCK };

static void m_op_alloc(struct model *m, int kind)
{
    size_t n = m_pick_n(m);
    if (m->nal == M_MAXA)
        return;
    bool fits = n && !m_e2big(m, n) && m_fits(m, n * m->bs) && !(m->fifo && m_nqueued(m));
    int expect = n == 0 ? -EINVAL : m_e2big(m, n) ? -E2BIG : m->shut ? -ECANCELED
               : fits ? 0 : kind == K_TRY ? -EAGAIN : -ETIMEDOUT;
    if (kind == K_BLOCK && (expect == -ETIMEDOUT || m->region))
        kind = K_TIMED; /* a blocking call would wait forever */
    uint64_t tmo = m_byte(m) & 1 ? 1000 : 0;
    bufpool_alloc *a = (bufpool_alloc *)1;
    size_t before = m->in_use;
    bufpool_stats st0;
    bufpool_get_stats(m->p, &st0); /* cached before: a purge shows as less */
    int r;
    m->op = kind == K_TRY ? "try_allocate" : kind == K_TIMED ? "allocate_timeout" : "allocate";
    if (kind == K_TRY)
        r = bufpool_try_allocate(m->p, n, &a);
    else if (kind == K_TIMED)
        r = bufpool_allocate_timeout(m->p, n, tmo, &a);
    else
        r = bufpool_allocate(m->p, n, &a);
    if (m->region && expect == 0 && r != 0) {
        /* no contiguous run: every cache given up, no run of n left */
        MEQ(r, kind == K_TRY ? -EAGAIN : -ETIMEDOUT);
        bufpool_stats st;
        bufpool_get_stats(m->p, &st);
        MEQ(st.cached_bytes, 0);
        MCHECK(st.largest_free_run < n);
        expect = r;
    }
    m_trace("%zu %s n=%zu -> %d (expected %d)", m->step, m->op, n, r, expect);
    MEQ(r, expect);
    if (r == 0) {
        m_add(m, a, n);
        m_sync_lenient(m, before);
        return;
    }
    MCHECK(a == NULL);
    m->failures++;
    if (r == -EAGAIN || (r == -ETIMEDOUT && !tmo)) { /* a timeout of 0 is a try */
        /* A try looks at the queue when its steal may help it, and after
         * a purge it made (a give, W2), which shows as less cached. */
        bufpool_stats st1;
        bufpool_get_stats(m->p, &st1);
        if (m->in_use + n * m->bs <= m->max || st1.cached_bytes < st0.cached_bytes)
            m_serve(m);
    } else if (r == -ETIMEDOUT) {
        m_serve(m);
        m->waits++;
        m_serve(m);
    }
}

static void m_release_at(struct model *m, size_t i)
{
    struct m_alloc *e = &m->al[i];
    m_verify(m, e);
    bufpool_alloc_release(e->a);
    m_trace("%zu release %p n=%zu refs=%u", m->step, (void *)e->a, e->n, e->refs);
    if (--e->refs)
        return;
    m->in_use -= e->n * m->bs;
    m->al[i] = m->al[--m->nal];
    m_serve(m);
}

static void m_op_release(struct model *m)
{
    unsigned b = m_byte(m);
    m->op = "release";
    if (b == 0) {
        bufpool_alloc_release(NULL);
        return;
    }
    if (m->nal)
        m_release_at(m, b % m->nal);
}

static void m_op_retain(struct model *m)
{
    unsigned b = m_byte(m);
    m->op = "retain";
    if (!m->nal)
        return;
    struct m_alloc *e = &m->al[b % m->nal];
    if (e->refs >= 4)
        return;
    m_trace("%zu retain %p", m->step, (void *)e->a);
    MCHECK(bufpool_alloc_retain(e->a) == e->a);
    e->refs++;
}

static void m_op_set_max(struct model *m)
{
    unsigned b = m_byte(m);
    size_t v;
    m->op = "set_max_memory";
    if (b < 8)
        v = m->bs - 1 - b % 2; /* below buffer_size */
    else if (b < 12 && m->region)
        v = m->region_len + m->bs; /* beyond the region */
    else
        v = m->bs * (1 + b % 20);
    int expect = v < m->bs || (m->region && v > m->region_len) ? -EINVAL : 0;
    m_trace("%zu set_max_memory %zu (expected %d)", m->step, v, expect);
    MEQ(bufpool_set_max_memory(m->p, v), expect);
    if (expect)
        return;
    m->max = v;
    for (int i = 0; i < M_MAXW; i++) {
        struct m_waiter *w = &m->wt[i];
        if (!w->w || w->n * m->bs <= v)
            continue;
        if (w->state == W_QUEUED) {
            m_done(m, w, -E2BIG, false);
        } else if (w->state == W_DONE && w->grant) {
            /* memory set aside for a request that can never fit is taken
             * back; the waiter (readable already) learns -E2BIG */
            m->set_aside -= w->n * m->bs;
            w->grant = false;
            w->result = -E2BIG;
        }
    }
    m_serve(m);
}

static void m_op_shutdown(struct model *m)
{
    m->op = "shutdown";
    m_trace("%zu shutdown", m->step);
    bufpool_shutdown(m->p);
    m->shut = true;
    for (int i = 0; i < M_MAXW; i++) {
        struct m_waiter *w = &m->wt[i];
        if (w->w && w->state == W_QUEUED) {
            m_done(m, w, -ECANCELED, false);
        } else if (w->w && w->state == W_DONE && w->grant) {
            m->set_aside -= w->n * m->bs; /* taken back */
            w->grant = false;
            w->result = -ECANCELED;
        }
    }
}

static struct m_waiter *m_pick_waiter(struct model *m)
{
    unsigned b = m_byte(m) % M_MAXW;
    for (int k = 0; k < M_MAXW; k++)
        if (m->wt[(b + k) % M_MAXW].w)
            return &m->wt[(b + k) % M_MAXW];
    return NULL;
}

static void m_op_waiter_create(struct model *m)
{
    m->op = "waiter_create";
    for (int i = 0; i < M_MAXW; i++) {
        struct m_waiter *w = &m->wt[i];
        if (w->w)
            continue;
        memset(w, 0, sizeof *w);
        m_trace("%zu waiter_create w%d", m->step, i);
        MEQ(bufpool_waiter_create(m->p, &w->w), 0);
        MCHECK(w->w != NULL && bufpool_waiter_fd(w->w) >= 0);
        return;
    }
}

static void m_op_waiter_allocate(struct model *m)
{
    struct m_waiter *w = m_pick_waiter(m);
    size_t n = m_pick_n(m);
    if (!w || m->nal == M_MAXA)
        return;
    m->op = "waiter_allocate";
    bufpool_alloc *a = (bufpool_alloc *)1;
    size_t before = m->in_use;
    int r = bufpool_waiter_allocate(w->w, n, &a);
    int expect;
    bool lenient = false, counted = false;

    if (n == 0) {
        expect = -EINVAL;
    } else if (m_e2big(m, n)) {
        expect = -E2BIG;
        /* For the pending n this ends the request (and gives back what was
         * set aside for it); for another n it changes nothing. */
        if (w->n == n && (w->state == W_QUEUED || w->state == W_DONE)) {
            m_reset(m, w);
            w->ready = false; /* drained */
        }
    } else {
        w->ready = false; /* drained */
        if (m->shut) {
            m_reset(m, w);
            expect = -ECANCELED;
            goto out;
        }
        if (w->state == W_DONE) {
            if (w->result == 0 && w->grant && w->n == n) {
                m->set_aside -= n * m->bs;
                w->grant = false;
                w->state = W_IDLE;
                expect = 0;
                goto out;
            }
            /* A failure belongs to the request for w->n; asking for another
             * n is a new request.  An -E2BIG whose n fits again (the shrink
             * was undone) is stale: a fresh try. */
            int res = w->result;
            bool failed = res != 0 && res != -E2BIG && !w->grant && w->n == n;
            counted = res == 0 && !w->grant && w->n == n; /* told: the same request goes on */
            m_reset(m, w);
            if (failed) {
                expect = res;
                goto out;
            }
        } else if (w->state == W_QUEUED) {
            if (w->n == n) {
                if (m->fifo) { /* still waiting for its turn */
                    expect = -EAGAIN;
                    goto out;
                }
                counted = true; /* a retry of the same wait is not a new wait */
            }
            m_reset(m, w);
        }
        /* a fresh try */
        if (!m->fifo || !m_nqueued(m)) {
            if (m_fits(m, n * m->bs)) {
                expect = 0;
                lenient = true;
                goto out;
            }
            m_serve(m);
        }
        m_enqueue(m, w, n);
        m_serve(m);
        if (w->state == W_DONE) {
            MCHECK(m->fifo && w->grant); /* default mode: it did not fit */
            w->ready = false; /* drained */
            m->set_aside -= n * m->bs;
            w->grant = false;
            w->state = W_IDLE;
            expect = 0;
        } else {
            m->waits += !counted;
            expect = -EAGAIN;
        }
    }
out:
    m_trace("%zu waiter_allocate w%d n=%zu -> %d (expected %d)", m->step, (int)(w - m->wt), n, r, expect);
    MEQ(r, expect);
    if (r == 0) {
        m_add(m, a, n);
        if (lenient)
            m_sync_lenient(m, before);
    } else {
        MCHECK(a == NULL);
        m->failures++;
    }
}

static void m_op_waiter_cancel(struct model *m, bool destroy)
{
    struct m_waiter *w = m_pick_waiter(m);
    if (!w)
        return;
    m->op = destroy ? "waiter_destroy" : "waiter_cancel";
    m_trace("%zu %s w%d", m->step, m->op, (int)(w - m->wt));
    if (destroy)
        bufpool_waiter_destroy(w->w);
    else
        bufpool_waiter_cancel(w->w);
    w->ready = false;
    m_reset(m, w);
    if (destroy)
        memset(w, 0, sizeof *w);
}

static void m_op_badargs(struct model *m)
{
    unsigned b = m_byte(m);
    bufpool_alloc *a = (bufpool_alloc *)1;
    m->op = "bad arguments";
    switch (b % 4) {
    case 0:
        MEQ(bufpool_try_allocate(m->p, 1, NULL), -EINVAL);
        m->failures++;
        break;
    case 1:
        MEQ(bufpool_allocate(m->p, 0, &a), -EINVAL);
        MCHECK(a == NULL);
        m->failures++;
        break;
    case 2:
        MEQ(bufpool_allocate(m->p, SIZE_MAX, &a), -E2BIG);
        MCHECK(a == NULL);
        m->failures++;
        break;
    default:
        MEQ(bufpool_allocate_timeout(NULL, 1, 0, &a), -EINVAL);
        MCHECK(a == NULL);
        break;
    }
}

/* Decode and run one sequence.  Returns the number of steps run. */
static size_t run_ops(const uint8_t *data, size_t len)
{
    static const size_t sizes[] = {8, 64, 4096, 65536};
    struct model mm, *m = &mm;
    memset(m, 0, sizeof *m);
    m->d = data;
    m->len = len;
    m->op = "create";
    unsigned f = m_byte(m);
    m->fifo = f & 1;
    m->region = (f & 6) == 6;
    unsigned sz = m_byte(m);
    m->bs = sizes[sz % 8 == 7 ? 3 : sz % 3];
    m->max = m->bs * (1 + m_byte(m) % 16);
    bufpool_config cfg = {m->bs, m->max, (m->fifo ? BUFPOOL_FIFO : 0) | (m->region ? BUFPOOL_REGION : 0)};
    m_trace_n = 0;
    m_trace("create bs=%zu max=%zu flags=%u", m->bs, m->max, cfg.flags);
    int r = bufpool_create(&m->p, &cfg);
    if (r != 0) {
        fprintf(stderr, "model: bufpool_create: %s\n", bufpool_strerror(r));
        abort();
    }
    if (m->region) {
        struct iovec iov;
        MEQ(bufpool_region(m->p, &iov), 0);
        m->region_len = iov.iov_len;
        MCHECK(m->region_len >= m->max);
    }
    m_check(m);
    while (m->pos < m->len) {
        unsigned op = m_byte(m);
        m->step++;
        switch (op % 16) {
        case 0: case 1: case 2: m_op_alloc(m, K_TRY); break;
        case 3: m_op_alloc(m, K_TIMED); break;
        case 4: m_op_alloc(m, K_BLOCK); break;
        case 5: case 6: case 7: m_op_release(m); break;
        case 8: m_op_retain(m); break;
        case 9: m_op_set_max(m); break;
        case 10:
            if (op == 10) /* rare */
                m_op_shutdown(m);
            else
                m_op_badargs(m);
            break;
        default:
            if (m->region) {
                m_op_alloc(m, K_TRY);
                break;
            }
            switch (op % 16) {
            case 11: m_op_waiter_create(m); break;
            case 12: case 13: m_op_waiter_allocate(m); break;
            case 14: m_op_waiter_cancel(m, false); break;
            default: m_op_waiter_cancel(m, true); break;
            }
        }
        m_check(m);
    }
    /* Tear down: release everything, destroy the waiters, nothing left. */
    m->op = "teardown";
    while (m->nal) {
        while (m->al[0].refs > 1)
            m_release_at(m, 0);
        m_release_at(m, 0);
        m_check(m);
    }
    for (int i = 0; i < M_MAXW; i++)
        if (m->wt[i].w) {
            bufpool_waiter_destroy(m->wt[i].w);
            m_reset(m, &m->wt[i]);
            memset(&m->wt[i], 0, sizeof m->wt[i]);
        }
    m_check(m);
    bufpool_stats st;
    bufpool_get_stats(m->p, &st);
    MEQ(st.live_allocations, 0);
    MEQ(st.in_use_bytes, 0);
    MEQ(st.waiters, 0);
    bufpool_destroy(m->p);
    return m->step;
}

#endif
