/* Prints the C side of what the hand-written FFI declarations in src/ffi.rs
 * assume: sizes, alignments and field offsets of the public structs, the
 * flag values, the errno values bufpool returns, the io_uring completion
 * flags its ring calls read and the header's version.
 * build.rs compiles and runs it; src/ffi.rs's layout test compares each
 * line with the Rust side.  Format: "name value", one per line. */
#include <bufpool.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/uio.h>

#define SIZE(T) printf("size %s %zu\nalign %s %zu\n", #T, sizeof(T), #T, alignof(T))
#define OFF(T, f) printf("offset %s.%s %zu\nfieldsize %s.%s %zu\n", #T, #f, offsetof(T, f), \
                         #T, #f, sizeof(((T *)0)->f))
#define CONST(c) printf("const %s %ld\n", #c, (long)(c))

int main(void)
{
    SIZE(bufpool_config);
    OFF(bufpool_config, buffer_size);
    OFF(bufpool_config, max_memory);
    OFF(bufpool_config, flags);

    SIZE(bufpool_stats);
    OFF(bufpool_stats, buffer_size);
    OFF(bufpool_stats, max_memory);
    OFF(bufpool_stats, in_use_bytes);
    OFF(bufpool_stats, peak_in_use_bytes);
    OFF(bufpool_stats, cached_bytes);
    OFF(bufpool_stats, live_allocations);
    OFF(bufpool_stats, waiters);
    OFF(bufpool_stats, total_allocations);
    OFF(bufpool_stats, total_waits);
    OFF(bufpool_stats, total_wait_ns);
    OFF(bufpool_stats, total_failures);
    OFF(bufpool_stats, largest_free_run);

    SIZE(bufpool_stats_ex);
    OFF(bufpool_stats_ex, stats);
    OFF(bufpool_stats_ex, stall_ns);

    SIZE(struct iovec);
    OFF(struct iovec, iov_base);
    OFF(struct iovec, iov_len);

    SIZE(bufpool_account_config);
    OFF(bufpool_account_config, name);
    OFF(bufpool_account_config, min_bytes);
    OFF(bufpool_account_config, max_bytes);
    OFF(bufpool_account_config, priority);

    SIZE(bufpool_account_stats);
    OFF(bufpool_account_stats, min_bytes);
    OFF(bufpool_account_stats, max_bytes);
    OFF(bufpool_account_stats, in_use_bytes);
    OFF(bufpool_account_stats, peak_in_use_bytes);
    OFF(bufpool_account_stats, live_allocations);
    OFF(bufpool_account_stats, waiters);
    OFF(bufpool_account_stats, total_allocations);
    OFF(bufpool_account_stats, total_waits);
    OFF(bufpool_account_stats, total_wait_ns);
    OFF(bufpool_account_stats, total_failures);
    OFF(bufpool_account_stats, stall_ns);

    CONST(BUFPOOL_FIFO);
    CONST(BUFPOOL_REGION);
    CONST(BUFPOOL_HUGEPAGES);
    CONST(BUFPOOL_LOCKED);
    CONST(BUFPOOL_TRACK);
    CONST(BUFPOOL_VERSION);
    CONST(BUFPOOL_FOREVER); /* UINT64_MAX: -1 as a long */

    CONST(EINVAL);
    CONST(E2BIG);
    CONST(EAGAIN);
    CONST(ETIMEDOUT);
    CONST(ECANCELED);
    CONST(ENOMEM);
    CONST(ENOTSUP);
    CONST(EPERM);
    CONST(EBADF);
    CONST(ERANGE);
    CONST(EEXIST);
    CONST(ENOBUFS);
    CONST(ENOSPC);
    CONST(EBUSY);
    CONST(EDEADLK);

    /* the completion flags the bufring calls read */
    CONST(IORING_CQE_F_BUFFER);
    CONST(IORING_CQE_F_MORE);
    CONST(IORING_CQE_BUFFER_SHIFT);
#ifdef IORING_CQE_F_BUF_MORE
    CONST(IORING_CQE_F_BUF_MORE);
#endif
    return 0;
}
