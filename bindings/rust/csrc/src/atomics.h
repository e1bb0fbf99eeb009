/*
 * atomics.h: the atomic operations of the library, each named by its
 * memory order (as mimalloc's mi_atomic_load_acquire), the fences, and the
 * busy-wait step.  Every use says in a comment which operation it pairs
 * with.
 */
#ifndef BUFPOOL_ATOMICS_H
#define BUFPOOL_ATOMICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define CACHELINE 64

/* A polite busy-wait step. */
#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define cpu_relax() atomic_signal_fence(memory_order_seq_cst)
#endif

/*
 * Atomics behind named wrappers.  Every call site says what it pairs with.
 * seq_cst is used only where a Dekker-style "store mine, then load theirs"
 * handshake needs a single total order (see the wait protocol in waitq.c).
 */
#define load_relaxed(p) atomic_load_explicit((p), memory_order_relaxed)
#define load_acquire(p) atomic_load_explicit((p), memory_order_acquire)
#define load_seqcst(p) atomic_load_explicit((p), memory_order_seq_cst)
#define store_relaxed(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define store_release(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define fetch_add_relaxed(p, v) atomic_fetch_add_explicit((p), (v), memory_order_relaxed)
#define fetch_add_seqcst(p, v) atomic_fetch_add_explicit((p), (v), memory_order_seq_cst)
#define fetch_sub_seqcst(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_seq_cst)
#define fetch_sub_relaxed(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_relaxed)
#define fetch_sub_release(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_release)
#define fetch_sub_acqrel(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_acq_rel)
#define exchange_seqcst(p, v) atomic_exchange_explicit((p), (v), memory_order_seq_cst)
#define exchange_acquire(p, v) atomic_exchange_explicit((p), (v), memory_order_acquire)
#define cas_seqcst(p, e, v) \
    atomic_compare_exchange_weak_explicit((p), (e), (v), memory_order_seq_cst, memory_order_relaxed)
#define cas_relaxed(p, e, v) \
    atomic_compare_exchange_weak_explicit((p), (e), (v), memory_order_relaxed, memory_order_relaxed)
#define cas_acqrel(p, e, v) \
    atomic_compare_exchange_weak_explicit((p), (e), (v), memory_order_acq_rel, memory_order_relaxed)
/* A full fence, for the symmetric half of the steal handshake (cache.c).
 * ThreadSanitizer does not model fences: under it, a seq_cst RMW of one
 * shared word, which it does model, and which is a full barrier too. */
#if defined(__SANITIZE_THREAD__) /* gcc */
#define BUFPOOL__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) /* clang */
#define BUFPOOL__TSAN 1
#endif
#endif
#ifdef BUFPOOL__TSAN
extern _Atomic int bufpool__fence_word;
#define fence_seqcst() ((void)atomic_fetch_add_explicit(&bufpool__fence_word, 0, memory_order_seq_cst))
#else
#define fence_seqcst() atomic_thread_fence(memory_order_seq_cst)
#endif
/* Keeps the compiler from moving memory accesses across it; no instruction. */
#define compiler_fence() atomic_signal_fence(memory_order_seq_cst)
/* An owner-only counter: one writer, read racily by stats.  No RMW needed. */
#define counter_add(p, v) store_relaxed((p), load_relaxed(p) + (v))

#endif /* BUFPOOL_ATOMICS_H */
