/*
 * v10.h: bufpool 1.0.0 as a baseline, linked beside the current library.
 *
 * mk/bench.mk builds the 1.0.0 release (commit f85f7bb) from the git
 * history into one object whose public bufpool_* functions are renamed
 * bp10_* and whose internal symbols are local, so both versions live in
 * one binary.  It defines BENCH_HAVE_V10 to 1 when it did, to 0 when the
 * history is not there (a tarball, a shallow clone): then nothing here may
 * be called, and the bench's "bufpool 1.0" rows say "not available".
 *
 * Only what the bench uses is declared.  bufpool_config and bufpool_stats
 * are the current header's: 1.0's header defines them with the same
 * members in the same order (1.1 only added functions).
 */
#ifndef BENCH_V10_H
#define BENCH_V10_H

#include "bufpool.h"

#ifndef BENCH_HAVE_V10
#define BENCH_HAVE_V10 0
#endif

typedef struct bp10_pool bp10_pool;   /* 1.0's struct bufpool */
typedef struct bp10_alloc bp10_alloc; /* 1.0's struct bufpool_alloc */

#if BENCH_HAVE_V10
int bp10_version(void);
int bp10_create(bp10_pool **pool, const bufpool_config *cfg);
void bp10_destroy(bp10_pool *pool);
int bp10_allocate(bp10_pool *pool, size_t n, bp10_alloc **out);
void *bp10_alloc_first(const bp10_alloc *a);
void bp10_alloc_release(bp10_alloc *a);
void bp10_get_stats(bp10_pool *pool, bufpool_stats *out);
#endif

#endif /* BENCH_V10_H */
