/*
 * original.c: a port of the Rust module's design (frozen_core::bufpool, as its docs
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
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "pool.h"

#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

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
    return bl_pool_new(out, buffer_size, max_memory);
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
    bl_pool_free(p);
}
