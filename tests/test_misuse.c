/*
 * test_misuse: death tests against the debug build of the library
 * (-DBUFPOOL_DEBUG; mk/reliability.mk links this program with it).  Each
 * misuse runs in a forked child, which must die by SIGABRT with the
 * expected message on stderr:
 *   double release, release of a pointer that is no allocation, release of
 *   an allocation whose pool was destroyed, any call on a destroyed pool,
 *   retain of a released allocation (reported as that, not as a double
 *   release: issue 20, point 7).
 * A control child doing everything right must exit normally.
 */
#define _GNU_SOURCE
#include "bufpool.h"
#include "check.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

static void ok_usage(void)
{
    bufpool *p = make(64, 64 * 16, 0);
    bufpool_alloc *a;
    if (bufpool_allocate(p, 2, &a))
        _exit(3);
    bufpool_alloc_retain(a);
    bufpool_alloc_release(a);
    bufpool_alloc_release(a);
    bufpool_destroy(p);
}

static void double_release(void)
{
    bufpool *p = make(64, 64 * 16, 0);
    bufpool_alloc *a;
    if (bufpool_allocate(p, 1, &a))
        _exit(3);
    bufpool_alloc_release(a);
    bufpool_alloc_release(a);
}

static void double_release_retained(void)
{
    bufpool *p = make(64, 64 * 16, 0);
    bufpool_alloc *a;
    if (bufpool_allocate(p, 1, &a))
        _exit(3);
    bufpool_alloc_retain(a);
    bufpool_alloc_release(a);
    bufpool_alloc_release(a);
    bufpool_alloc_release(a);
}

static void retain_released(void)
{
    bufpool *p = make(64, 64 * 16, 0);
    bufpool_alloc *a;
    if (bufpool_allocate(p, 1, &a))
        _exit(3);
    bufpool_alloc_release(a);
    bufpool_alloc_retain(a);
}

static void retain_released_retained(void)
{
    bufpool *p = make(64, 64 * 16, 0);
    bufpool_alloc *a;
    if (bufpool_allocate(p, 3, &a))
        _exit(3);
    bufpool_alloc_retain(a);
    bufpool_alloc_release(a);
    bufpool_alloc_release(a);
    bufpool_alloc_retain(a);
}

static void not_an_allocation(void)
{
    make(64, 64 * 16, 0);
    static uint64_t fake[32];
    bufpool_alloc_release((bufpool_alloc *)fake);
}

static void not_an_allocation_heap(void)
{
    make(64, 64 * 16, 0);
    void *buf = calloc(1, 256);
    bufpool_alloc_release(buf);
}

static void retain_not_an_allocation(void)
{
    static uint64_t fake[32] = {1, 2, 3, 4};
    bufpool_alloc_retain((bufpool_alloc *)fake);
}

static void release_after_destroy(void)
{
    bufpool *p = make(64, 64 * 16, 0);
    bufpool_alloc *a;
    if (bufpool_allocate(p, 1, &a))
        _exit(3);
    bufpool_alloc_release(a);
    bufpool_destroy(p);
    bufpool_alloc_release(a);
}

static void release_into_other_pool_destroyed(void)
{
    /* two pools: an allocation of the destroyed one, released while the
     * other lives (the "wrong pool" case this API can express) */
    bufpool *p = make(64, 64 * 16, 0), *q = make(64, 64 * 16, 0);
    bufpool_alloc *a, *b;
    if (bufpool_allocate(p, 1, &a) || bufpool_allocate(q, 1, &b))
        _exit(3);
    bufpool_alloc_release(a);
    bufpool_destroy(p);
    bufpool_alloc_release(a);
}

static bufpool *dead(void)
{
    bufpool *p = make(64, 64 * 16, 0);
    bufpool_destroy(p);
    return p;
}
static void uad_allocate(void) { bufpool_alloc *a; bufpool_allocate(dead(), 1, &a); }
static void uad_try(void) { bufpool_alloc *a; bufpool_try_allocate(dead(), 1, &a); }
static void uad_timed(void) { bufpool_alloc *a; bufpool_allocate_timeout(dead(), 1, 1000, &a); }
static void uad_stats(void) { bufpool_stats st; bufpool_get_stats(dead(), &st); }
static void uad_set_max(void) { bufpool_set_max_memory(dead(), 4096); }
static void uad_shutdown(void) { bufpool_shutdown(dead()); }
static void uad_destroy(void) { bufpool_destroy(dead()); }
static void uad_waiter(void) { bufpool_waiter *w; bufpool_waiter_create(dead(), &w); }
static void uad_region(void) { struct iovec iov; bufpool_region(dead(), &iov); }
static void uad_watch(void) { bufpool_watch *w; bufpool_watch_create(dead(), NULL, 128, 64, &w); }
/* a watch left when its pool was destroyed (destroy it first) */
static void watch_after_destroy(void)
{
    bufpool *p = make(64, 64 * 16, 0);
    bufpool_watch *w;
    if (bufpool_watch_create(p, NULL, 128, 64, &w))
        _exit(3);
    bufpool_destroy(p);
    bufpool_watch_destroy(w);
}

struct death {
    const char *name;
    void (*fn)(void);
    const char *msg1, *msg2; /* stderr must contain one of them */
    const char *not;         /* and, if not NULL, must not contain this */
};

static const struct death deaths[] = {
    {"double release", double_release, "double release", NULL, NULL},
    {"double release after retain", double_release_retained, "double release", NULL, NULL},
    {"release of a static non-allocation", not_an_allocation, "no allocation", NULL, NULL},
    {"release of a heap non-allocation", not_an_allocation_heap, "no allocation", NULL, NULL},
    {"retain of a non-allocation", retain_not_an_allocation, "no allocation", NULL, NULL},
    {"retain of a released allocation", retain_released, "retain of a released allocation", NULL,
     "double release"},
    {"retain after the last of two releases", retain_released_retained,
     "retain of a released allocation", NULL, "double release"},
    {"release after its pool was destroyed", release_after_destroy, "wrong pool", "destroyed pool", NULL},
    {"release of a destroyed pool's allocation, another pool alive", release_into_other_pool_destroyed,
     "wrong pool", "destroyed pool", NULL},
    {"allocate on a destroyed pool", uad_allocate, "use after destroy", NULL, NULL},
    {"try_allocate on a destroyed pool", uad_try, "use after destroy", NULL, NULL},
    {"allocate_timeout on a destroyed pool", uad_timed, "use after destroy", NULL, NULL},
    {"get_stats on a destroyed pool", uad_stats, "use after destroy", NULL, NULL},
    {"set_max_memory on a destroyed pool", uad_set_max, "use after destroy", NULL, NULL},
    {"shutdown on a destroyed pool", uad_shutdown, "use after destroy", NULL, NULL},
    {"destroy of a destroyed pool", uad_destroy, "use after destroy", NULL, NULL},
    {"waiter_create on a destroyed pool", uad_waiter, "use after destroy", NULL, NULL},
    {"region on a destroyed pool", uad_region, "use after destroy", NULL, NULL},
    {"watch_create on a destroyed pool", uad_watch, "use after destroy", NULL, NULL},
    {"watch_destroy after its pool's destroy", watch_after_destroy, "use after destroy", NULL, NULL},
};

/* Run fn in a child; return its wait status and its stderr in buf. */
static int run_child(void (*fn)(void), char *buf, size_t len)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        signal(SIGABRT, SIG_DFL);
        fn();
        _exit(0);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < len && (r = read(fds[0], buf + got, len - 1 - got)) > 0)
        got += (size_t)r;
    buf[got] = 0;
    close(fds[0]);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    return st;
}

int main(void)
{
    char buf[4096];
    int st = run_child(ok_usage, buf, sizeof buf);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "control: correct usage did not exit cleanly (status %#x): %s\n", st, buf);
        return 1;
    }
    int failed = 0;
    for (size_t i = 0; i < sizeof deaths / sizeof *deaths; i++) {
        const struct death *d = &deaths[i];
        st = run_child(d->fn, buf, sizeof buf);
        bool sig = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
        bool msg = (strstr(buf, d->msg1) || (d->msg2 && strstr(buf, d->msg2))) &&
                   !(d->not && strstr(buf, d->not));
        if (sig && msg) {
            printf("ok    %s: %s", d->name, buf);
            continue;
        }
        failed++;
        printf("FAIL  %s: ", d->name);
        if (WIFSIGNALED(st))
            printf("died by signal %d", WTERMSIG(st));
        else
            printf("exited with %d (not detected)", WEXITSTATUS(st));
        printf(", expected SIGABRT with \"%s\"%s%s%s%s%s%s; stderr: %s\n", d->msg1,
               d->msg2 ? " or \"" : "", d->msg2 ? d->msg2 : "", d->msg2 ? "\"" : "",
               d->not ? " and without \"" : "", d->not ? d->not : "", d->not ? "\"" : "",
               buf[0] ? buf : "(empty)");
    }
    printf("test_misuse: %zu misuses, %d not detected\n", sizeof deaths / sizeof *deaths, failed);
    return failed ? 1 : 0;
}
