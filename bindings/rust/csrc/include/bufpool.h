/*
 * bufpool: a low-latency, memory-budgeted pool of fixed-size buffers with
 * backpressure, for Linux.  C11, libc and pthreads only.
 *
 * Every function that can fail returns 0 or a negative errno; on failure
 * its out-parameters are set to NULL.  See bufpool(3) and README.md.
 */
#ifndef BUFPOOL_H
#define BUFPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BUFPOOL_VERSION_MAJOR 1
#define BUFPOOL_VERSION_MINOR 2
#define BUFPOOL_VERSION_PATCH 0
/* MAJOR * 10000 + MINOR * 100 + PATCH, for #if comparisons */
#define BUFPOOL_VERSION \
    (BUFPOOL_VERSION_MAJOR * 10000 + BUFPOOL_VERSION_MINOR * 100 + BUFPOOL_VERSION_PATCH)

typedef struct bufpool bufpool;               /* opaque */
typedef struct bufpool_alloc bufpool_alloc;   /* opaque: one allocation */
typedef struct bufpool_waiter bufpool_waiter; /* opaque: an async waiter */

#define BUFPOOL_FIFO      1u /* waiting requests are served strictly in arrival order */
#define BUFPOOL_REGION    2u /* reserve max_memory up front as one mmap'ed region; carve allocations from it */
#define BUFPOOL_HUGEPAGES 4u /* with REGION: back it with huge pages where possible (MAP_HUGETLB, else THP advice); falls back silently */
#define BUFPOOL_LOCKED    8u /* with REGION: mlock it; create fails with the mlock error (e.g. -EPERM, -ENOMEM, -EAGAIN) if it cannot */
#define BUFPOOL_TRACK    16u /* 1.2: 1 allocation in 113 remembers its call site (bufpool_report_live); BUFPOOL_TRACK=N in the environment: 1 in N, every pool */

typedef struct bufpool_config {
    size_t buffer_size; /* power of two, 8 .. 1 GiB */
    size_t max_memory;  /* budget in bytes, >= buffer_size */
    unsigned flags;     /* 0 or BUFPOOL_* flags above; unknown bits: -EINVAL */
} bufpool_config;

typedef struct bufpool_stats {
    size_t buffer_size, max_memory;
    size_t in_use_bytes;        /* bytes of live allocations */
    size_t peak_in_use_bytes;
    size_t cached_bytes;        /* released memory kept for reuse; counts in the budget */
    size_t live_allocations;
    size_t waiters;             /* requests waiting now: blocked calls plus pending async waiters */
    uint64_t total_allocations; /* granted */
    uint64_t total_waits;       /* requests that had to wait */
    uint64_t total_wait_ns;     /* time blocked calls spent waiting */
    uint64_t total_failures;    /* requests not granted, whatever the error */
    size_t largest_free_run;    /* REGION: longest run of free buffers, in buffers; else 0 */
} bufpool_stats;

/* The library's version as MAJOR * 10000 + MINOR * 100 + PATCH. */
int bufpool_version(void);
/* A static message for a bufpool return code (0 or a negative errno). */
const char *bufpool_strerror(int err);

/* Create a pool.  Never blocks.  0, -EINVAL (bad config), -ENOMEM, or a
 * region error (-EPERM/-EAGAIN/-ENOMEM from mmap or mlock). */
int bufpool_create(bufpool **pool, const bufpool_config *cfg);
/* Fail every waiting and every later request with -ECANCELED.  Idempotent,
 * thread-safe, never blocks.  Live allocations stay valid. */
void bufpool_shutdown(bufpool *pool);
/* Shut down, block until every allocation is released and every blocked
 * call has returned, then free the pool.  NULL: no-op. */
void bufpool_destroy(bufpool *pool);

/* Allocate n contiguous buffers, blocking while the budget is short.
 * 0, -EINVAL, -E2BIG (can never fit), -ECANCELED, -ENOMEM. */
int bufpool_allocate(bufpool *pool, size_t n, bufpool_alloc **out);
/* As bufpool_allocate but never blocks: -EAGAIN when it would wait. */
int bufpool_try_allocate(bufpool *pool, size_t n, bufpool_alloc **out);
/* As bufpool_allocate but waits at most timeout_ns (CLOCK_MONOTONIC):
 * -ETIMEDOUT when it runs out. */
int bufpool_allocate_timeout(bufpool *pool, size_t n, uint64_t timeout_ns, bufpool_alloc **out);

/* The first buffer; buffer i is at first + i * buffer_size.  NULL for NULL. */
void *bufpool_alloc_first(const bufpool_alloc *a);
/* The number of buffers n (0 for NULL). */
size_t bufpool_alloc_length(const bufpool_alloc *a);
/* n * buffer_size (0 for NULL). */
size_t bufpool_alloc_bytes(const bufpool_alloc *a);
/* Buffer i, or NULL when i >= n or a is NULL. */
void *bufpool_alloc_buffer(const bufpool_alloc *a, size_t i);
/* Take one more reference; returns a.  Thread-safe, never blocks. */
bufpool_alloc *bufpool_alloc_retain(bufpool_alloc *a);
/* Drop one reference; the last one returns the memory and wakes waiters
 * that now fit.  Thread-safe, never blocks for long.  NULL: no-op. */
void bufpool_alloc_release(bufpool_alloc *a);
/* REGION: byte offset of the first buffer from the region's base;
 * SIZE_MAX without REGION or for NULL. */
size_t bufpool_alloc_offset(const bufpool_alloc *a);

/* Change the budget.  Growing wakes waiters that now fit; shrinking never
 * revokes live allocations and fails waiters that can no longer fit with
 * -E2BIG.  0, -EINVAL (NULL pool, below buffer_size, or beyond the region). */
int bufpool_set_max_memory(bufpool *pool, size_t max_memory);
/* A snapshot of the pool's counters.  Never blocks the allocation path. */
void bufpool_get_stats(bufpool *pool, bufpool_stats *out);
/* 1.2: the stats and what later versions count, in a struct that may grow at its end. */
typedef struct bufpool_stats_ex {
    bufpool_stats stats; /* as bufpool_get_stats */
    uint64_t stall_ns;   /* time during which at least one request was waiting ("some" in PSI's terms) */
} bufpool_stats_ex;
/* Fill the first size bytes of *out (pass sizeof *out; bytes past what this library knows are zeroed).
 * 0, -EINVAL (NULL pool or out, size below sizeof(bufpool_stats)). */
int bufpool_get_stats_ex(bufpool *pool, bufpool_stats_ex *out, size_t size);
/* Leak tracking (BUFPOOL_TRACK): write the live sampled allocations older than min_age_ns to out, one line
 * per call site (count, bytes, oldest age, the site).  The number of sites, or -EINVAL, -ENOMEM; without
 * tracking one line saying so, and 0. */
int bufpool_report_live(bufpool *pool, uint64_t min_age_ns, FILE *out);
/* REGION: the whole region, for io_uring_register_buffers(ring, out, 1).
 * 0, -EINVAL (NULL), -ENOTSUP (not a region pool). */
int bufpool_region(bufpool *pool, struct iovec *out);
/* REGION: the region cut into pieces of at most 1 GiB, in address order, each a valid
 * io_uring fixed buffer: io_uring_register_buffers(ring, iov, count).  Writes min(count, max)
 * iovecs and returns count (>= 1); with iov NULL and max 0 it returns count alone.
 * -EINVAL (NULL pool; iov NULL with max > 0), -ENOTSUP (not a region pool). */
int bufpool_region_iovecs(bufpool *pool, struct iovec *iov, unsigned max);
/* REGION: the index of the piece that holds all of a, for io_uring's buf_index.
 * An allocation of at most 1 GiB never straddles two pieces.  -EINVAL for NULL or a pool
 * without REGION; -ERANGE for an allocation larger than a piece. */
int bufpool_alloc_buf_index(const bufpool_alloc *a);

/* Create an async waiter with its own eventfd.  0, -EINVAL, -ENOMEM, or the
 * eventfd error (-EMFILE, -ENFILE, ...). */
int bufpool_waiter_create(bufpool *pool, bufpool_waiter **out);
/* The waiter's fd: readable (POLLIN) once a retry may succeed.  -EINVAL for NULL or a
 * callback waiter. */
int bufpool_waiter_fd(const bufpool_waiter *w);
/* Try to allocate; never blocks.  On -EAGAIN the waiter becomes pending for
 * n and its fd turns readable when the caller should call again.  Errors as
 * bufpool_try_allocate.  One waiter serves one request at a time. */
int bufpool_waiter_allocate(bufpool_waiter *w, size_t n, bufpool_alloc **out);
/* Drop the pending request, giving back memory set aside for it.  NULL: no-op. */
void bufpool_waiter_cancel(bufpool_waiter *w);
/* Cancel, close the fd and free the waiter.  NULL: no-op. */
void bufpool_waiter_destroy(bufpool_waiter *w);

/* ---- async waiters that call a function instead of writing an fd (1.2) ---- */
typedef void (*bufpool_waiter_fn)(void *arg);

/* An async waiter without an fd: where bufpool_waiter_fd's would turn readable, fn(arg) is
 * called instead, on the thread that made the retry worth it, after the pool's lock is
 * dropped; fn may call any bufpool function.  Calls may overlap on different threads.
 * bufpool_waiter_destroy waits for calls running on other threads (from fn itself, the
 * waiter is freed when fn returns).  Its bufpool_waiter_fd is -EINVAL.  0, -EINVAL, -ENOMEM. */
int bufpool_waiter_create_callback(bufpool *pool, bufpool_waiter_fn fn, void *arg, bufpool_waiter **out);

/* ---- accounts: one budget shared by consumers in a tree (1.2) ---- */
typedef struct bufpool_account bufpool_account; /* opaque */

typedef struct bufpool_account_config {
    const char *name; /* copied; in stats and reports; NULL: "" */
    size_t min_bytes; /* reserved for this account and its descendants; 0: none */
    size_t max_bytes; /* cap on the in-use bytes of this account and its descendants; 0: none */
    int priority;     /* waiting requests of higher priority are served first; 0: default */
} bufpool_account_config;

typedef struct bufpool_account_stats {
    size_t min_bytes, max_bytes;
    size_t in_use_bytes; /* live allocations charged to this account and its descendants */
    size_t peak_in_use_bytes;
    size_t live_allocations; /* this account's and its descendants' */
    size_t waiters;
    uint64_t total_allocations, total_waits, total_wait_ns, total_failures;
    uint64_t stall_ns;         /* time during which at least one of those requests was waiting */
} bufpool_account_stats;

#define BUFPOOL_FOREVER UINT64_MAX

/* parent NULL: a top-level account.  0, -EINVAL, -ENOSPC (the reservations would not fit),
 * -ECANCELED (shut down), -ENOMEM. */
int bufpool_account_create(bufpool *pool, bufpool_account *parent, const bufpool_account_config *cfg,
                           bufpool_account **out);
/* 0, or -EBUSY while it has live allocations, child accounts, waiting requests or waiters;
 * NULL: 0. */
int bufpool_account_destroy(bufpool_account *acct);
/* Change min and max under the rules of create; a lower max never revokes live allocations.
 * 0, -EINVAL, -ENOSPC, -ECANCELED. */
int bufpool_account_set_limits(bufpool_account *acct, size_t min_bytes, size_t max_bytes);
/* n buffers charged to acct.  timeout_ns 0: a try (-EAGAIN); BUFPOOL_FOREVER: block; else
 * -ETIMEDOUT.  -E2BIG at once when n * buffer_size exceeds a max on acct's path or the budget. */
int bufpool_account_allocate(bufpool_account *acct, size_t n, uint64_t timeout_ns, bufpool_alloc **out);
/* An async waiter (as bufpool_waiter_create) whose requests are charged to acct. */
int bufpool_account_waiter_create(bufpool_account *acct, bufpool_waiter **out);
/* The same with a callback (as bufpool_waiter_create_callback) instead of a descriptor. */
int bufpool_account_waiter_create_callback(bufpool_account *acct, bufpool_waiter_fn fn, void *arg,
                                           bufpool_waiter **out);
/* A snapshot of the account's counters (its descendants' included). */
void bufpool_account_get_stats(const bufpool_account *acct, bufpool_account_stats *out);
/* The name given at create (a copy, "" for none), valid until the account is destroyed; NULL for NULL. */
const char *bufpool_account_name(const bufpool_account *acct);

/* ---- acting before the budget bites (1.2) ---- */
/* Reclaim: called by a request that is about to wait, on its own thread, outside every lock of the
 * pool, with the bytes it lacks (for an account whose max binds: the bytes that account lacks).
 * It may release allocations and call bufpool_get_stats or other pools; an allocate call on this
 * pool from inside it fails with -EDEADLK.  Returns the bytes it released or expects to release
 * soon; 0: nothing more for this request.  One call per pool (or account) at a time. */
typedef size_t (*bufpool_reclaim_fn)(void *arg, size_t bytes_needed);
/* Set the pool's reclaim callback; fn NULL removes it.  Waits for a running call of the old one
 * to end (unless called from inside it).  0, -EINVAL. */
int bufpool_set_reclaim(bufpool *pool, bufpool_reclaim_fn fn, void *arg);
/* The same for requests that acct's max holds back (its descendants' included). */
int bufpool_account_set_reclaim(bufpool_account *acct, bufpool_reclaim_fn fn, void *arg);

/* Watermarks: an eventfd that turns readable when in-use bytes (of the pool, or of acct if not
 * NULL) rise to high_bytes or above, and again when they fall to low_bytes or below afterwards. */
typedef struct bufpool_watch bufpool_watch; /* opaque */
/* low_bytes < high_bytes.  Readable at once if in use is at or above high_bytes already.
 * 0, -EINVAL, -ECANCELED (shut down), -ENOMEM, -EMFILE. */
int bufpool_watch_create(bufpool *pool, bufpool_account *acct, size_t high_bytes, size_t low_bytes,
                         bufpool_watch **out);
/* The eventfd (non-blocking, close-on-exec), or -EINVAL for NULL. */
int bufpool_watch_fd(const bufpool_watch *w);
/* Read and reset the fd: 1 above (at or above high, not yet down to low), 0 below; -EINVAL. */
int bufpool_watch_state(bufpool_watch *w);
/* Before bufpool_destroy of its pool (and of its account).  NULL: no-op. */
void bufpool_watch_destroy(bufpool_watch *w);

/* ---- io_uring provided-buffer rings stocked from the pool (1.1) ---- */
typedef struct bufpool_bufring bufpool_bufring; /* opaque */

/* Register a provided-buffer ring of `entries` slots (a power of two, 1 .. 32768) with the
 * io_uring instance ring_fd as buffer group bgid, and stock it with allocations of n buffers
 * each, as far as the budget allows.  Buffers held by the kernel count as in use.
 * 0, -EINVAL, -E2BIG (n never fits), -ECANCELED (shut down), -ENOMEM, or the kernel's
 * error (e.g. -EEXIST for a taken bgid). */
int bufpool_bufring_create(bufpool *pool, int ring_fd, unsigned short bgid, unsigned entries,
                           size_t n, bufpool_bufring **out);
/* The allocation behind buffer id bid of a completion (cqe->flags >> IORING_CQE_BUFFER_SHIFT).
 * The caller owns it now and releases it when done; its slot is restocked at once if the
 * budget allows.  NULL when bid is not a buffer the kernel holds (or the ring is incremental). */
bufpool_alloc *bufpool_bufring_take(bufpool_bufring *br, unsigned bid);
/* Restock empty slots as far as the budget allows.  Returns how many buffers the kernel
 * holds now, or a negative errno (-EINVAL, -ECANCELED after a shutdown, -E2BIG, -ENOMEM). */
int bufpool_bufring_refill(bufpool_bufring *br);
/* An eventfd that turns readable when the ring has empty slots and memory has come back that
 * could fill one (or the pool was shut down): call bufpool_bufring_refill and re-arm receives
 * that ended with -ENOBUFS.  Reset by bufpool_bufring_refill.  -EINVAL for NULL. */
int bufpool_bufring_fd(const bufpool_bufring *br);
/* Unregister the ring, then release the buffers it still holds.  Before bufpool_destroy of
 * its pool.  NULL: no-op. */
void bufpool_bufring_destroy(bufpool_bufring *br);
/* As bufpool_bufring_create, with incremental consumption (IOU_PBUF_RING_INC, Linux 6.12+):
 * one buffer serves several receives, each where the one before ended, until it is used up.
 * Take its completions with bufpool_bufring_take_inc.  A kernel without it: -EINVAL. */
int bufpool_bufring_create_inc(bufpool *pool, int ring_fd, unsigned short bgid, unsigned entries,
                               size_t n, bufpool_bufring **out);
/* A completion's share of its buffer, on either kind of ring: *data is the first of its res
 * bytes; the reference returned is the caller's to release, and the memory goes back once the
 * kernel and every share are done with it.  NULL (*data NULL) when the completion carries no
 * buffer the kernel holds. */
bufpool_alloc *bufpool_bufring_take_inc(bufpool_bufring *br, unsigned cqe_flags, int res,
                                        void **data);

#ifdef __cplusplus
}
#endif

#endif /* BUFPOOL_H */
