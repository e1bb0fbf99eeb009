/*
 * util.c: the bottom layer.  Small helpers every other file may use, and
 * the few process-wide variables; it calls no other file of the library.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

unsigned bufpool__fork_gen; /* written by fork.c's child handler */

#ifdef BUFPOOL_TEST_HOOKS
int (*bufpool__test_hook)(int point, struct bufpool *pool);
#endif

#ifdef BUFPOOL_DEBUG
__thread char bufpool__thread_mark;

void bufpool__assert_fail(const char *what, const char *file, int line)
{
    fprintf(stderr, "bufpool: internal check failed: %s (%s:%d)\n", what, file, line);
    abort();
}
#endif

#ifdef BUFPOOL__TSAN
_Atomic int bufpool__fence_word;
#endif

uint64_t bufpool__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Zeroed memory for bookkeeping arrays.  Large ones are mapped directly:
 * the kernel hands out zero pages lazily, so a huge arena costs only the
 * parts it uses, and create takes microseconds (calloc may take them from
 * the heap and clear every byte).  NULL when the system has none. */
void *bufpool__zalloc(size_t bytes)
{
    if (bytes < ZMAP_MIN)
        return calloc(1, bytes);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void bufpool__zfree(void *p, size_t bytes)
{
    if (bytes < ZMAP_MIN)
        free(p);
    else if (p)
        munmap(p, bytes);
}

struct bufpool_alloc *bufpool__list_append(struct bufpool_alloc *list, struct bufpool_alloc *more)
{
    if (!more)
        return list;
    struct bufpool_alloc *tail = more;
    while (load_relaxed(&tail->next))
        tail = load_relaxed(&tail->next);
    store_relaxed(&tail->next, list);
    return more;
}

/* An eventfd made readable (write 1), or drained (non-blocking read). */
void bufpool__fd_signal(int fd)
{
    uint64_t one = 1;
    /* Can only fail if the counter would overflow, which means it is
     * readable already. */
    ssize_t r = write(fd, &one, sizeof one);
    (void)r;
}

void bufpool__fd_drain(int fd)
{
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof v); /* non-blocking: EAGAIN when empty */
    (void)r;
}
