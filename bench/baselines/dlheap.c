/*
 * dlheap.c: jemalloc and mimalloc, loaded at run time: the naive budget
 * (naive.h) over each, and their raw blocks (bl_heap_alloc).
 * dlopen(RTLD_LOCAL) keeps their malloc/free out of the global symbol
 * scope: the rest of the binary (and bufpool) still uses glibc's malloc.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "naive.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

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
             * glibc's small static TLS surplus; bench/harness/main.c
             * re-executes itself with a larger one when it sees this note. */
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
    return bl_pool_new(out, buffer_size, max_memory);
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
        bl_pool_free(p);
}

int bl_mimalloc_create(bl_pool **out, size_t buffer_size, size_t max_memory)
{
    *out = NULL;
    if (bl_mimalloc_load(NULL) != 0)
        return -ENOTSUP;
    return bl_pool_new(out, buffer_size, max_memory);
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
        bl_pool_free(p);
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

