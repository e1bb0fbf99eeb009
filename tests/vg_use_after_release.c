/*
 * vg_use_after_release: run by tests/valgrind.sh under memcheck, against
 * the library built with -DBUFPOOL_VALGRIND.  "bad": writes to and reads
 * from an allocation after its release, while its memory sits in the
 * thread cache; memcheck must report both.  "ok": the same memory handed
 * out again and used correctly; memcheck must stay quiet.
 */
#include "bufpool.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    bool bad = argc > 1 && strcmp(argv[1], "bad") == 0;
    bufpool *p;
    bufpool_config cfg = {64, 64 * 16, 0};
    if (bufpool_create(&p, &cfg))
        return 2;
    bufpool_alloc *a, *b;
    if (bufpool_allocate(p, 2, &a))
        return 2;
    volatile char *m = bufpool_alloc_first(a);
    memset((char *)m, 1, 128);
    bufpool_alloc_release(a); /* cached, not freed */
    int sum = 0;
    if (bad) {
        m[5] = 7;       /* use after release: a write ... */
        sum += m[100];  /* ... and a read */
    }
    if (bufpool_allocate(p, 2, &b)) /* the cached memory again */
        return 2;
    char *q = bufpool_alloc_first(b);
    memset(q, 2, 128);
    sum += q[100];
    bufpool_alloc_release(b);
    bufpool_destroy(p);
    printf("%s: done (%d)\n", bad ? "bad" : "ok", sum);
    return 0;
}
