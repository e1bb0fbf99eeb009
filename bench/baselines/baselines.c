/*
 * Baseline pools for the benchmark.  See baselines.h for the list.
 *
 * All baselines share one pool struct.  All but "original" share one block
 * layout:
 *
 *   block = [ header (64 bytes, holds the public bl_alloc) ][ n * buffer_size ]
 *
 * so an allocation is exactly one allocator call and one free.  The 64-byte
 * header keeps the buffers 16-byte aligned, like malloc's own result.
 * "original" asks the allocator for exactly n * buffer_size bytes, as the
 * Rust code does, and keeps its handle in a second small block (see there).
 *
 * Budget rule for every budgeted kind: charge the budget before asking the
 * allocator, give the memory back before uncharging, so the bytes handed out
 * never exceed max_memory (the allocator's own caching is not counted: that
 * is one of the things the RSS benchmark shows).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "baselines.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HDR 64

struct bl_pool {
    alignas(64) _Atomic size_t used; /* bytes charged to the budget */
    size_t max_memory;
    size_t buffer_size;
    alignas(64) _Atomic size_t live; /* original: live allocations, for drop */
    _Atomic size_t waiters;          /* blocked requests (all kinds) */
    _Atomic size_t total_waits;      /* requests that ever waited (all kinds) */
    _Atomic uint32_t cv_seq;         /* original: its condvar's futex word */
    _Atomic uint32_t drop_seq;       /* original: the drop condvar's futex word */
    pthread_mutex_t lock;
    pthread_cond_t cond; /* naive, mutex */
    /* naive over a dlopen'ed allocator: its functions */
    void *(*xalloc)(size_t size);
    void (*xfree)(void *p, size_t size);
};

/* The part of the header behind the public handle. */
struct hdr {
    bl_alloc pub;
    _Atomic size_t refs; /* original: the Arc-style reference count */
};
_Static_assert(sizeof(struct hdr) <= HDR, "header must fit in HDR bytes");

static int pool_new(bl_pool **out, size_t buffer_size, size_t max_memory)
{
    *out = NULL;
    if (buffer_size == 0 || max_memory < buffer_size)
        return -EINVAL;
    bl_pool *p = aligned_alloc(64, (sizeof *p + 63) / 64 * 64);
    if (!p)
        return -ENOMEM;
    atomic_init(&p->used, 0);
    atomic_init(&p->live, 0);
    atomic_init(&p->waiters, 0);
    atomic_init(&p->total_waits, 0);
    atomic_init(&p->cv_seq, 0);
    atomic_init(&p->drop_seq, 0);
    p->max_memory = max_memory;
    p->buffer_size = buffer_size;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->xalloc = NULL;
    p->xfree = NULL;
    *out = p;
    return 0;
}

static void pool_free(bl_pool *p)
{
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* n buffers -> bytes, or a negative errno. */
static inline int request_bytes(const bl_pool *p, size_t n, size_t *bytes)
{
    if (n == 0 || n > p->max_memory / p->buffer_size)
        return n == 0 ? -EINVAL : -E2BIG;
    *bytes = n * p->buffer_size;
    return 0;
}

static inline bl_alloc *fill(bl_pool *p, void *block, size_t n)
{
    struct hdr *h = block;
    h->pub.pool = p;
    h->pub.first = (char *)block + HDR;
    h->pub.n = n;
    atomic_store_explicit(&h->refs, 1, memory_order_relaxed);
    return &h->pub;
}

static inline void *block_of(bl_alloc *a)
{
    return (char *)a - offsetof(struct hdr, pub);
}

size_t bl_waiters(bl_pool *p)
{
    return atomic_load(&p->waiters);
}

size_t bl_total_waits(bl_pool *p)
{
    return atomic_load(&p->total_waits);
}

/* ---- original ----------------------------------------------------------
 * A port of the Rust module's design (frozen_core::bufpool, as its docs
 * describe it):
 *
 *   Rust                                    here
 *   budget: AtomicUsize, CAS loop           p->used, compare_exchange loop
 *   over budget: Mutex + Condvar wait       pthread mutex + a futex condvar
 *                                           (cv_seq), like Rust std's
 *                                           futex-based Condvar on Linux
 *   std::alloc::alloc(Layout{bytes, 1})     malloc(bytes): Rust's global
 *                                           allocator for align 1 is plain
 *                                           malloc
 *   the BufPoolAllocation value, with an    a small malloc'ed handle with
 *   Arc-style shared reference count        h->refs, fetch_sub on release
 *
 * The handle is a second malloc/free pair (~10 ns of the ~480 ns measured
 * here): in Rust it is a value or an Arc, in C it needs a home.  Keeping it
 * apart, rather than in front of the data as the other baselines do, keeps
 * the data request exactly n * buffer_size, which matters for RSS: glibc
 * serves 1 MiB with mmap, and 64 extra bytes would cost a whole page.
 *   Drop: dealloc, budget.fetch_sub,        free, fetch_sub(used), then
 *   condvar.notify_all()                    FUTEX_WAKE on cv_seq every time
 *   live-allocation counter; the pool's     live.fetch_sub; when it reaches
 *   drop waits until it is zero, so the     0, a second FUTEX_WAKE on
 *   last release notifies a second condvar  drop_seq
 *
 * Rust std's Condvar::notify_all bumps its futex word and calls
 * futex(FUTEX_WAKE) unconditionally: unlike glibc's pthread_cond_broadcast
 * it does not know whether anyone waits.  That is why the wakes here are
 * raw syscalls, made on every release.  In a one-thread allocate+release
 * loop every release is also the last live allocation, so each roundtrip
 * makes two system calls: this is what the original's ~250-330 ns are.
 *
 * What we cannot see from the docs: whether the original's drop takes the
 * mutex around notify_all.  This port does not; instead the waiter reads the
 * condvar word before its re-check (Dekker-style, all seq_cst), so that a
 * release between the re-check and the futex wait changes the word and the
 * wait returns at once: no lost wakeup, and no lock on the release path. */

static inline void futex_wake_all(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static inline void futex_wait(_Atomic uint32_t *word, uint32_t val)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

int bl_original_create(bl_pool **out, size_t buffer_size, size_t max_memory)
{
    return pool_new(out, buffer_size, max_memory);
}

int bl_original_allocate(bl_pool *p, size_t n, bl_alloc **out)
{
    size_t bytes;
    int err = request_bytes(p, n, &bytes);
    *out = NULL;
    if (err)
        return err;
    for (;;) {
        size_t cur = atomic_load(&p->used);
        if (cur + bytes <= p->max_memory) {
            if (atomic_compare_exchange_weak(&p->used, &cur, cur + bytes))
                break;
            continue;
        }
        /* Over budget: the Mutex + Condvar wait of the original. */
        pthread_mutex_lock(&p->lock);
        atomic_fetch_add(&p->waiters, 1);
        atomic_fetch_add_explicit(&p->total_waits, 1, memory_order_relaxed);
        for (;;) {
            uint32_t seq = atomic_load(&p->cv_seq); /* before the re-check */
            if (atomic_load(&p->used) + bytes <= p->max_memory)
                break;
            pthread_mutex_unlock(&p->lock);
            futex_wait(&p->cv_seq, seq);
            pthread_mutex_lock(&p->lock);
        }
        atomic_fetch_sub(&p->waiters, 1);
        pthread_mutex_unlock(&p->lock);
    }
    atomic_fetch_add(&p->live, 1);
    struct hdr *h = malloc(sizeof *h);
    char *data = malloc(bytes);
    if (!h || !data) {
        free(h);
        free(data);
        atomic_fetch_sub(&p->used, bytes);
        atomic_fetch_sub(&p->live, 1);
        return -ENOMEM;
    }
    h->pub.pool = p;
    h->pub.first = data;
    h->pub.n = n;
    atomic_store_explicit(&h->refs, 1, memory_order_relaxed);
    *out = &h->pub;
    return 0;
}

void bl_original_release(bl_alloc *a)
{
    struct hdr *h = block_of(a); /* the handle block starts with pub */
    if (atomic_fetch_sub(&h->refs, 1) != 1)
        return;
    bl_pool *p = a->pool;
    size_t bytes = a->n * p->buffer_size;
    free(a->first); /* dealloc */
    free(h);
    atomic_fetch_sub(&p->used, bytes);
    atomic_fetch_add(&p->cv_seq, 1);
    futex_wake_all(&p->cv_seq); /* notify_all: a syscall every time */
    if (atomic_fetch_sub(&p->live, 1) == 1) {
        atomic_fetch_add(&p->drop_seq, 1);
        futex_wake_all(&p->drop_seq); /* the drop condvar's notify */
    }
}

void bl_original_destroy(bl_pool *p)
{
    if (!p)
        return;
    for (;;) { /* the original's drop: wait for the last allocation */
        uint32_t seq = atomic_load(&p->drop_seq);
        if (atomic_load(&p->live) == 0)
            break;
        futex_wait(&p->drop_seq, seq);
    }
    pool_free(p);
}

/* ---- naive (and jemalloc / mimalloc) -----------------------------------
 * CAS on the budget, the allocator, and no system call unless somebody
 * waits.  Why no wakeup is lost: a waiter increments `waiters` (seq_cst)
 * and then re-checks the budget under the lock; a release subtracts from
 * `used` (seq_cst) and then loads `waiters`.  In the single order of those
 * seq_cst operations either the waiter's re-check sees the release, or the
 * release sees waiters > 0 and broadcasts under the lock, which the waiter
 * holds from its re-check until pthread_cond_wait has queued it. */

static inline int naive_allocate(bl_pool *p, size_t n, bl_alloc **out,
                                 void *(*xalloc)(size_t))
{
    size_t bytes;
    int err = request_bytes(p, n, &bytes);
    *out = NULL;
    if (err)
        return err;
    size_t cur = atomic_load_explicit(&p->used, memory_order_relaxed);
    for (;;) {
        if (cur + bytes <= p->max_memory) {
            if (atomic_compare_exchange_weak_explicit(&p->used, &cur, cur + bytes,
                                                      memory_order_acq_rel,
                                                      memory_order_relaxed))
                break;
            continue;
        }
        pthread_mutex_lock(&p->lock);
        atomic_fetch_add(&p->waiters, 1);
        atomic_fetch_add_explicit(&p->total_waits, 1, memory_order_relaxed);
        while (atomic_load(&p->used) + bytes > p->max_memory)
            pthread_cond_wait(&p->cond, &p->lock);
        atomic_fetch_sub(&p->waiters, 1);
        pthread_mutex_unlock(&p->lock);
        cur = atomic_load_explicit(&p->used, memory_order_relaxed);
    }
    void *block = xalloc(HDR + bytes);
    if (!block) {
        atomic_fetch_sub(&p->used, bytes);
        return -ENOMEM;
    }
    *out = fill(p, block, n);
    return 0;
}

static inline void naive_release(bl_alloc *a, void (*xfree)(void *, size_t))
{
    bl_pool *p = a->pool;
    size_t bytes = a->n * p->buffer_size;
    xfree(block_of(a), HDR + bytes);
    atomic_fetch_sub(&p->used, bytes);
    if (atomic_load(&p->waiters) != 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->cond); /* requests differ in size: wake all */
        pthread_mutex_unlock(&p->lock);
    }
}

static void *libc_alloc(size_t size)
{
    return malloc(size);
}

static void libc_free(void *ptr, size_t size)
{
    (void)size;
    free(ptr);
}

int bl_naive_create(bl_pool **out, size_t buffer_size, size_t max_memory)
{
    return pool_new(out, buffer_size, max_memory);
}

/* libc_alloc/libc_free are constants here, so they are inlined: the naive
 * baseline pays no indirect call. */
int bl_naive_allocate(bl_pool *p, size_t n, bl_alloc **out)
{
    return naive_allocate(p, n, out, libc_alloc);
}

void bl_naive_release(bl_alloc *a)
{
    naive_release(a, libc_free);
}

void bl_naive_destroy(bl_pool *p)
{
    if (p)
        pool_free(p);
}

/* ---- mutex: everything under one lock ---------------------------------- */

int bl_mutex_create(bl_pool **out, size_t buffer_size, size_t max_memory)
{
    return pool_new(out, buffer_size, max_memory);
}

int bl_mutex_allocate(bl_pool *p, size_t n, bl_alloc **out)
{
    size_t bytes;
    int err = request_bytes(p, n, &bytes);
    *out = NULL;
    if (err)
        return err;
    pthread_mutex_lock(&p->lock);
    if (atomic_load_explicit(&p->used, memory_order_relaxed) + bytes > p->max_memory) {
        atomic_fetch_add_explicit(&p->waiters, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->total_waits, 1, memory_order_relaxed);
        while (atomic_load_explicit(&p->used, memory_order_relaxed) + bytes > p->max_memory)
            pthread_cond_wait(&p->cond, &p->lock);
        atomic_fetch_sub_explicit(&p->waiters, 1, memory_order_relaxed);
    }
    atomic_store_explicit(&p->used, atomic_load_explicit(&p->used, memory_order_relaxed) + bytes,
                          memory_order_relaxed);
    pthread_mutex_unlock(&p->lock);
    void *block = malloc(HDR + bytes); /* outside the lock, as a real pool would */
    if (!block) {
        pthread_mutex_lock(&p->lock);
        atomic_store_explicit(&p->used,
                              atomic_load_explicit(&p->used, memory_order_relaxed) - bytes,
                              memory_order_relaxed);
        pthread_mutex_unlock(&p->lock);
        return -ENOMEM;
    }
    *out = fill(p, block, n);
    return 0;
}

void bl_mutex_release(bl_alloc *a)
{
    bl_pool *p = a->pool;
    size_t bytes = a->n * p->buffer_size;
    free(block_of(a));
    pthread_mutex_lock(&p->lock);
    atomic_store_explicit(&p->used, atomic_load_explicit(&p->used, memory_order_relaxed) - bytes,
                          memory_order_relaxed);
    /* A waiter increments `waiters` and waits without dropping the lock in
     * between, so a count read under the lock is exact: waiters > 0 means
     * they are already queued on the condvar and the broadcast reaches them
     * even after we unlock. */
    size_t w = atomic_load_explicit(&p->waiters, memory_order_relaxed);
    pthread_mutex_unlock(&p->lock);
    if (w)
        pthread_cond_broadcast(&p->cond);
}

void bl_mutex_destroy(bl_pool *p)
{
    if (p)
        pool_free(p);
}

/* ---- malloc: no budget at all ------------------------------------------ */

int bl_malloc_create(bl_pool **out, size_t buffer_size, size_t max_memory)
{
    return pool_new(out, buffer_size, max_memory);
}

int bl_malloc_allocate(bl_pool *p, size_t n, bl_alloc **out)
{
    *out = NULL;
    if (n == 0)
        return -EINVAL;
    void *block = malloc(HDR + n * p->buffer_size);
    if (!block)
        return -ENOMEM;
    *out = fill(p, block, n);
    return 0;
}

void bl_malloc_release(bl_alloc *a)
{
    free(block_of(a));
}

void bl_malloc_destroy(bl_pool *p)
{
    if (p)
        pool_free(p);
}

/* ---- jemalloc / mimalloc, loaded at run time ---------------------------
 * dlopen(RTLD_LOCAL) keeps their malloc/free out of the global symbol
 * scope: the rest of the binary (and bufpool) still uses glibc's malloc. */

static void *(*je_mallocx)(size_t, int);
static void (*je_sdallocx)(void *, size_t, int);
static void (*je_dallocx)(void *, int);
static void *(*mi_malloc_aligned_fn)(size_t, size_t);
static void (*mi_free_fn)(void *);

/* dlsym returns void *; POSIX guarantees it converts to a function pointer,
 * but ISO C (and -Wpedantic) rejects the cast, so copy the bits instead. */
#define LOAD_FN(var, h, name)                    \
    do {                                         \
        void *sym_ = dlsym((h), (name));         \
        _Static_assert(sizeof(var) == sizeof sym_, "fn ptr size"); \
        memcpy(&(var), &sym_, sizeof sym_);      \
    } while (0)

int bl_jemalloc_load(const char **note)
{
    static int state; /* 0 unknown, 1 loaded, -1 missing (main thread only) */
    static const char *why;
    if (state == 0) {
        void *h = dlopen("libjemalloc.so.2", RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            const char *e = dlerror();
            state = -1;
            /* jemalloc uses initial-exec TLS, which dlopen can only place in
             * glibc's small static TLS surplus; bench/harness/main.c re-executes itself
             * with a larger one when it sees this note. */
            if (e && strstr(e, "static TLS"))
                why = "jemalloc: dlopen failed: static TLS block full "
                      "(set GLIBC_TUNABLES=glibc.rtld.optional_static_tls=65536), skipped";
            else
                why = "jemalloc: not installed (apt-get install libjemalloc-dev), skipped";
        } else {
            LOAD_FN(je_mallocx, h, "mallocx");
            LOAD_FN(je_sdallocx, h, "sdallocx");
            LOAD_FN(je_dallocx, h, "dallocx");
            if (!je_mallocx) /* builds with a je_ prefix */
                LOAD_FN(je_mallocx, h, "je_mallocx");
            if (!je_sdallocx)
                LOAD_FN(je_sdallocx, h, "je_sdallocx");
            if (!je_dallocx)
                LOAD_FN(je_dallocx, h, "je_dallocx");
            state = je_mallocx && (je_sdallocx || je_dallocx) ? 1 : -1;
            why = "jemalloc: library found but mallocx/dallocx missing, skipped";
        }
    }
    if (note)
        *note = state == 1 ? NULL : why;
    return state == 1 ? 0 : -1;
}

int bl_mimalloc_load(const char **note)
{
    static int state;
    static const char *why;
    if (state == 0) {
        void *h = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            state = -1;
            why = "mimalloc: not installed (apt-get install libmimalloc-dev), skipped";
        } else {
            LOAD_FN(mi_malloc_aligned_fn, h, "mi_malloc_aligned");
            LOAD_FN(mi_free_fn, h, "mi_free");
            state = mi_malloc_aligned_fn && mi_free_fn ? 1 : -1;
            why = "mimalloc: library found but mi_malloc_aligned/mi_free missing, skipped";
        }
    }
    if (note)
        *note = state == 1 ? NULL : why;
    return state == 1 ? 0 : -1;
}

static void *je_alloc(size_t size)
{
    return je_mallocx(size, 0);
}

static void je_free(void *ptr, size_t size)
{
    if (je_sdallocx) /* sized free: jemalloc skips its size lookup */
        je_sdallocx(ptr, size, 0);
    else
        je_dallocx(ptr, 0);
}

static void *mi_alloc(size_t size)
{
    return mi_malloc_aligned_fn(size, 16);
}

static void mi_free_sized(void *ptr, size_t size)
{
    (void)size;
    mi_free_fn(ptr);
}

int bl_jemalloc_create(bl_pool **out, size_t buffer_size, size_t max_memory)
{
    *out = NULL;
    if (bl_jemalloc_load(NULL) != 0)
        return -ENOTSUP;
    return pool_new(out, buffer_size, max_memory);
}

int bl_jemalloc_allocate(bl_pool *p, size_t n, bl_alloc **out)
{
    return naive_allocate(p, n, out, je_alloc);
}

void bl_jemalloc_release(bl_alloc *a)
{
    naive_release(a, je_free);
}

void bl_jemalloc_destroy(bl_pool *p)
{
    if (p)
        pool_free(p);
}

int bl_mimalloc_create(bl_pool **out, size_t buffer_size, size_t max_memory)
{
    *out = NULL;
    if (bl_mimalloc_load(NULL) != 0)
        return -ENOTSUP;
    return pool_new(out, buffer_size, max_memory);
}

int bl_mimalloc_allocate(bl_pool *p, size_t n, bl_alloc **out)
{
    return naive_allocate(p, n, out, mi_alloc);
}

void bl_mimalloc_release(bl_alloc *a)
{
    naive_release(a, mi_free_sized);
}

void bl_mimalloc_destroy(bl_pool *p)
{
    if (p)
        pool_free(p);
}

/* ---- raw blocks (bl_heap_alloc) ---------------------------------------- */

/* jemalloc's MALLOCX_LG_ALIGN(lg): the flags are the log2 of the alignment. */
static int je_align_flags(size_t align)
{
    return align <= 16 ? 0 : __builtin_ctzll(align);
}

void *bl_heap_alloc(enum bl_heap heap, size_t size, size_t align)
{
    void *p = NULL;
    switch (heap) {
    case BL_HEAP_GLIBC:
        if (align <= 16)
            return malloc(size);
        return posix_memalign(&p, align, size) == 0 ? p : NULL;
    case BL_HEAP_JEMALLOC:
        return je_mallocx ? je_mallocx(size, je_align_flags(align)) : NULL;
    case BL_HEAP_MIMALLOC:
        return mi_malloc_aligned_fn ? mi_malloc_aligned_fn(size, align < 8 ? 8 : align) : NULL;
    }
    return NULL;
}

void bl_heap_free(enum bl_heap heap, void *p, size_t size, size_t align)
{
    switch (heap) {
    case BL_HEAP_GLIBC:
        free(p);
        break;
    case BL_HEAP_JEMALLOC:
        if (je_sdallocx)
            je_sdallocx(p, size, je_align_flags(align));
        else
            je_dallocx(p, je_align_flags(align));
        break;
    case BL_HEAP_MIMALLOC:
        mi_free_fn(p);
        break;
    }
}
