//! The raw C API, declared by hand from `include/bufpool.h`.
//!
//! Everything here is `unsafe` to call and follows the C contract of the
//! header and the man pages: functions return 0 or a negative errno, and set
//! their out-parameters to NULL on failure.  The safe API of this crate
//! ([`Pool`](crate::Pool), [`compat`](crate::compat)) is built on these
//! declarations and nothing else.  A test (`layout` below) compares the
//! sizes, alignments and field offsets of the structs, the flag values and
//! the errno values with what the C compiler says (build.rs runs
//! `probe/layout.c`).
#![allow(non_camel_case_types)]

use std::marker::{PhantomData, PhantomPinned};
use std::os::raw::{c_char, c_int, c_uint, c_ushort, c_void};

/// An opaque pool (`bufpool *`).
#[repr(C)]
#[derive(Debug)]
pub struct bufpool {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// An opaque allocation (`bufpool_alloc *`).
#[repr(C)]
#[derive(Debug)]
pub struct bufpool_alloc {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// An opaque async waiter (`bufpool_waiter *`).
#[repr(C)]
#[derive(Debug)]
pub struct bufpool_waiter {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// An opaque io_uring provided-buffer ring stocked from a pool
/// (`bufpool_bufring *`).
#[repr(C)]
#[derive(Debug)]
pub struct bufpool_bufring {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// An opaque account of a pool's budget (`bufpool_account *`).
#[repr(C)]
#[derive(Debug)]
pub struct bufpool_account {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// An opaque watermark watch (`bufpool_watch *`).
#[repr(C)]
#[derive(Debug)]
pub struct bufpool_watch {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// C's `FILE`, opaque: the stream `bufpool_report_live` writes to.
#[repr(C)]
#[derive(Debug)]
pub struct FILE {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// Waiting requests are served strictly in arrival order.
pub const BUFPOOL_FIFO: c_uint = 1;
/// Reserve `max_memory` up front as one mmap'ed region; carve allocations from it.
pub const BUFPOOL_REGION: c_uint = 2;
/// With `BUFPOOL_REGION`: back it with huge pages where possible.
pub const BUFPOOL_HUGEPAGES: c_uint = 4;
/// With `BUFPOOL_REGION`: mlock it.
pub const BUFPOOL_LOCKED: c_uint = 8;
/// Leak tracking: about 1 allocation in 113 remembers its call site
/// (`bufpool_report_live`); `BUFPOOL_TRACK=N` in the environment: 1 in N,
/// every pool.
pub const BUFPOOL_TRACK: c_uint = 16;

/// The header's version, `MAJOR * 10000 + MINOR * 100 + PATCH`, that these
/// declarations were written from.
pub const BUFPOOL_VERSION: c_int = 10200;

/// The function a callback waiter calls (`bufpool_waiter_create_callback`),
/// with the `arg` it was created with.
pub type bufpool_waiter_fn = Option<unsafe extern "C" fn(arg: *mut c_void)>;

/// A reclaim callback (`bufpool_set_reclaim`, `bufpool_account_set_reclaim`):
/// called with its `arg` and the bytes the request lacks, outside every
/// lock of the pool; returns the bytes it released or expects to release
/// soon (0: nothing more for this request).
pub type bufpool_reclaim_fn = Option<unsafe extern "C" fn(arg: *mut c_void, bytes_needed: usize) -> usize>;

/// `bufpool_config`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct bufpool_config {
    /// Power of two, 8 .. 1 GiB.
    pub buffer_size: usize,
    /// Budget in bytes, `>= buffer_size`.
    pub max_memory: usize,
    /// 0 or `BUFPOOL_*` flags.
    pub flags: c_uint,
}

/// `bufpool_stats`: see [`Stats`](crate::Stats) for each field.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct bufpool_stats {
    /// Bytes per buffer.
    pub buffer_size: usize,
    /// The budget now, in bytes.
    pub max_memory: usize,
    /// Bytes of live allocations.
    pub in_use_bytes: usize,
    /// The highest `in_use_bytes`, as sampled.
    pub peak_in_use_bytes: usize,
    /// Released memory kept for reuse; it counts in the budget.
    pub cached_bytes: usize,
    /// Live allocations.
    pub live_allocations: usize,
    /// Requests waiting now: blocked calls plus pending async waiters.
    pub waiters: usize,
    /// Requests granted.
    pub total_allocations: u64,
    /// Requests that had to wait.
    pub total_waits: u64,
    /// Time blocked calls spent waiting, in nanoseconds.
    pub total_wait_ns: u64,
    /// Requests not granted, whatever the error.
    pub total_failures: u64,
    /// Region mode: the longest run of free buffers, in buffers; else 0.
    pub largest_free_run: usize,
}

/// `bufpool_stats_ex` (`bufpool_get_stats_ex`): the stats and what later
/// versions count, in a struct that may grow at its end (the caller passes
/// its size).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct bufpool_stats_ex {
    /// As `bufpool_get_stats`.
    pub stats: bufpool_stats,
    /// Time during which at least one request was waiting, in nanoseconds.
    pub stall_ns: u64,
}

/// `bufpool_account_config`: see [`AccountConfig`](crate::AccountConfig).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct bufpool_account_config {
    /// Copied by the call; NULL stands for "".
    pub name: *const c_char,
    /// The reservation in bytes; 0: none.
    pub min_bytes: usize,
    /// The cap in bytes; 0: none of its own.
    pub max_bytes: usize,
    /// Waiting requests of a higher priority are served first; 0: default.
    pub priority: c_int,
}

/// `bufpool_account_stats`: see [`AccountStats`](crate::AccountStats) for
/// each field.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct bufpool_account_stats {
    /// The reservation, rounded down to whole buffers.
    pub min_bytes: usize,
    /// The cap, rounded down to whole buffers; 0: none of its own.
    pub max_bytes: usize,
    /// Bytes of live allocations charged to the account and its descendants.
    pub in_use_bytes: usize,
    /// The highest in-use, memory cached for the account included.
    pub peak_in_use_bytes: usize,
    /// Live allocations of the account and its descendants.
    pub live_allocations: usize,
    /// Blocked calls on the account or a descendant.
    pub waiters: usize,
    /// Allocations made through the account and its descendants.
    pub total_allocations: u64,
    /// Calls that had to wait.
    pub total_waits: u64,
    /// Time those calls spent waiting, in nanoseconds.
    pub total_wait_ns: u64,
    /// Calls that failed, other than with `EINVAL`.
    pub total_failures: u64,
    /// Time during which at least one of its requests waited, in nanoseconds.
    pub stall_ns: u64,
}

/// `timeout_ns` of `bufpool_account_allocate`: block without limit.
pub const BUFPOOL_FOREVER: u64 = u64::MAX;

/// `struct iovec` from `<sys/uio.h>`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct iovec {
    /// The first byte.
    pub iov_base: *mut c_void,
    /// The length in bytes.
    pub iov_len: usize,
}

// Linux's errno values (every architecture but alpha, mips, parisc and
// sparc, which bufpool does not target); the layout test checks them
// against <errno.h>.
/// `EPERM`: the system refused to lock a region.
pub const EPERM: c_int = 1;
/// `E2BIG`: a request larger than the whole budget.
pub const E2BIG: c_int = 7;
/// `EBADF`: an async waiter inherited across `fork()`.
pub const EBADF: c_int = 9;
/// `EAGAIN`: the request would wait.
pub const EAGAIN: c_int = 11;
/// `ENOMEM`: out of memory.
pub const ENOMEM: c_int = 12;
/// `EINVAL`: an argument out of range.
pub const EINVAL: c_int = 22;
/// `ERANGE`: an allocation larger than a region piece has no `buf_index`.
pub const ERANGE: c_int = 34;
/// `ENOTSUP`: a region call on a pool without `BUFPOOL_REGION`.
pub const ENOTSUP: c_int = 95;
/// `ETIMEDOUT`: a timed request ran out of time.
pub const ETIMEDOUT: c_int = 110;
/// `ECANCELED`: the pool was shut down.
pub const ECANCELED: c_int = 125;
/// `EEXIST`: a ring's buffer group id is taken on that io_uring instance.
pub const EEXIST: c_int = 17;
/// `ENOSPC`: the accounts' reservations would not fit (an account's cap,
/// or the budget).
pub const ENOSPC: c_int = 28;
/// `EDEADLK`: an allocate call on a pool from inside one of its reclaim
/// callbacks.
pub const EDEADLK: c_int = 35;
/// `EBUSY`: an account still in use cannot be destroyed.
pub const EBUSY: c_int = 16;
/// `ENOBUFS`: a receive found its provided-buffer ring empty (a
/// completion's `res`, from the kernel): refill, then re-arm it.
pub const ENOBUFS: c_int = 105;

// Kernel ABI (<linux/io_uring.h>) that bufpool_bufring_take and _take_inc
// read from a completion's flags; checked by the layout test too.
/// `IORING_CQE_F_BUFFER`: the completion carries a buffer id.
pub const IORING_CQE_F_BUFFER: c_uint = 1 << 0;
/// `IORING_CQE_F_MORE`: a multishot request stays armed.
pub const IORING_CQE_F_MORE: c_uint = 1 << 1;
/// `IORING_CQE_F_BUF_MORE` (Linux 6.12): an incremental ring's kernel keeps
/// the buffer for later receives.
pub const IORING_CQE_F_BUF_MORE: c_uint = 1 << 4;
/// `IORING_CQE_BUFFER_SHIFT`: the buffer id is `flags >> 16`.
pub const IORING_CQE_BUFFER_SHIFT: c_uint = 16;

// One line each, from include/bufpool.h; the man page of the same name has
// the contract.
unsafe extern "C" {
    /// The library's version, `MAJOR * 10000 + MINOR * 100 + PATCH`.
    pub fn bufpool_version() -> c_int;
    /// A static message for a return code (0 or a negative errno).
    pub fn bufpool_strerror(err: c_int) -> *const c_char;

    /// Create a pool.  Never blocks.
    pub fn bufpool_create(pool: *mut *mut bufpool, cfg: *const bufpool_config) -> c_int;
    /// Fail every waiting and every later request with `-ECANCELED`.
    pub fn bufpool_shutdown(pool: *mut bufpool);
    /// Shut down, wait for every allocation and blocked call, free the pool.
    pub fn bufpool_destroy(pool: *mut bufpool);

    /// Allocate `n` contiguous buffers, blocking while the budget is short.
    pub fn bufpool_allocate(pool: *mut bufpool, n: usize, out: *mut *mut bufpool_alloc) -> c_int;
    /// As `bufpool_allocate`, never blocking: `-EAGAIN` when it would wait.
    pub fn bufpool_try_allocate(pool: *mut bufpool, n: usize, out: *mut *mut bufpool_alloc) -> c_int;
    /// As `bufpool_allocate`, waiting at most `timeout_ns`: `-ETIMEDOUT`.
    pub fn bufpool_allocate_timeout(
        pool: *mut bufpool,
        n: usize,
        timeout_ns: u64,
        out: *mut *mut bufpool_alloc,
    ) -> c_int;

    /// The first buffer; buffer `i` is at `first + i * buffer_size`.
    pub fn bufpool_alloc_first(a: *const bufpool_alloc) -> *mut c_void;
    /// The number of buffers, `n`.
    pub fn bufpool_alloc_length(a: *const bufpool_alloc) -> usize;
    /// `n * buffer_size`.
    pub fn bufpool_alloc_bytes(a: *const bufpool_alloc) -> usize;
    /// Buffer `i`, or NULL when `i >= n`.
    pub fn bufpool_alloc_buffer(a: *const bufpool_alloc, i: usize) -> *mut c_void;
    /// Take one more reference; returns `a`.
    pub fn bufpool_alloc_retain(a: *mut bufpool_alloc) -> *mut bufpool_alloc;
    /// Drop one reference; the last one gives the memory back.
    pub fn bufpool_alloc_release(a: *mut bufpool_alloc);
    /// Region mode: the byte offset from the region's base; else `SIZE_MAX`.
    pub fn bufpool_alloc_offset(a: *const bufpool_alloc) -> usize;

    /// Change the budget.
    pub fn bufpool_set_max_memory(pool: *mut bufpool, max_memory: usize) -> c_int;
    /// A snapshot of the counters.
    pub fn bufpool_get_stats(pool: *mut bufpool, out: *mut bufpool_stats);
    /// Region mode: the whole region as one iovec.
    pub fn bufpool_region(pool: *mut bufpool, out: *mut iovec) -> c_int;
    /// Region mode: the region in pieces of at most 1 GiB.
    pub fn bufpool_region_iovecs(pool: *mut bufpool, iov: *mut iovec, max: c_uint) -> c_int;
    /// Region mode: the index of the piece that holds all of `a`.
    pub fn bufpool_alloc_buf_index(a: *const bufpool_alloc) -> c_int;

    /// Create an async waiter with its own eventfd.
    pub fn bufpool_waiter_create(pool: *mut bufpool, out: *mut *mut bufpool_waiter) -> c_int;
    /// The waiter's fd: readable once a retry may succeed.
    pub fn bufpool_waiter_fd(w: *const bufpool_waiter) -> c_int;
    /// Try to allocate; on `-EAGAIN` the waiter is pending for `n`.
    pub fn bufpool_waiter_allocate(w: *mut bufpool_waiter, n: usize, out: *mut *mut bufpool_alloc) -> c_int;
    /// Drop the pending request.
    pub fn bufpool_waiter_cancel(w: *mut bufpool_waiter);
    /// Cancel, close the fd and free the waiter; waits for calls of a
    /// callback waiter's `fn` running on other threads.
    pub fn bufpool_waiter_destroy(w: *mut bufpool_waiter);

    /// Register a provided-buffer ring with io_uring instance `ring_fd` as
    /// group `bgid`, stocked with allocations of `n` buffers.
    pub fn bufpool_bufring_create(
        pool: *mut bufpool,
        ring_fd: c_int,
        bgid: c_ushort,
        entries: c_uint,
        n: usize,
        out: *mut *mut bufpool_bufring,
    ) -> c_int;
    /// The allocation behind a completion's buffer id, now the caller's;
    /// NULL when the kernel holds no buffer under `bid`.
    pub fn bufpool_bufring_take(br: *mut bufpool_bufring, bid: c_uint) -> *mut bufpool_alloc;
    /// Restock empty slots: the count the kernel holds, or a negative errno.
    pub fn bufpool_bufring_refill(br: *mut bufpool_bufring) -> c_int;
    /// The ring's eventfd: readable when a refill may stock a slot.
    pub fn bufpool_bufring_fd(br: *const bufpool_bufring) -> c_int;
    /// Unregister the ring, release the buffers it holds, free it.
    pub fn bufpool_bufring_destroy(br: *mut bufpool_bufring);
    /// As `bufpool_bufring_create`, with incremental consumption (6.12+).
    pub fn bufpool_bufring_create_inc(
        pool: *mut bufpool,
        ring_fd: c_int,
        bgid: c_ushort,
        entries: c_uint,
        n: usize,
        out: *mut *mut bufpool_bufring,
    ) -> c_int;
    /// A completion's share of its buffer: `*data` is its first byte; the
    /// reference returned is the caller's.
    pub fn bufpool_bufring_take_inc(
        br: *mut bufpool_bufring,
        cqe_flags: c_uint,
        res: c_int,
        data: *mut *mut c_void,
    ) -> *mut bufpool_alloc;
    /// Create an async waiter that calls `f(arg)`, after the pool's lock is
    /// dropped, where an eventfd waiter's fd would turn readable.
    pub fn bufpool_waiter_create_callback(
        pool: *mut bufpool,
        f: bufpool_waiter_fn,
        arg: *mut c_void,
        out: *mut *mut bufpool_waiter,
    ) -> c_int;

    /// Create an account of `pool`, a child of `parent` (NULL: top-level).
    pub fn bufpool_account_create(
        pool: *mut bufpool,
        parent: *mut bufpool_account,
        cfg: *const bufpool_account_config,
        out: *mut *mut bufpool_account,
    ) -> c_int;
    /// Free an account: `-EBUSY` while it has live allocations, children,
    /// blocked requests or waiters.
    pub fn bufpool_account_destroy(acct: *mut bufpool_account) -> c_int;
    /// Change the reservation and the cap, under the rules of create.
    pub fn bufpool_account_set_limits(
        acct: *mut bufpool_account,
        min_bytes: usize,
        max_bytes: usize,
    ) -> c_int;
    /// `n` buffers charged to `acct`: `timeout_ns` 0 is a try (`-EAGAIN`),
    /// `BUFPOOL_FOREVER` blocks, else `-ETIMEDOUT`.
    pub fn bufpool_account_allocate(
        acct: *mut bufpool_account,
        n: usize,
        timeout_ns: u64,
        out: *mut *mut bufpool_alloc,
    ) -> c_int;
    /// An eventfd async waiter whose requests are charged to `acct`.
    pub fn bufpool_account_waiter_create(acct: *mut bufpool_account, out: *mut *mut bufpool_waiter) -> c_int;
    /// A callback async waiter (as `bufpool_waiter_create_callback`) whose
    /// requests are charged to `acct`: `f(arg)` is called where the eventfd
    /// waiter's fd would turn readable.
    pub fn bufpool_account_waiter_create_callback(
        acct: *mut bufpool_account,
        f: bufpool_waiter_fn,
        arg: *mut c_void,
        out: *mut *mut bufpool_waiter,
    ) -> c_int;
    /// A snapshot of the account's counters (its descendants' included).
    pub fn bufpool_account_get_stats(acct: *const bufpool_account, out: *mut bufpool_account_stats);

    /// The stats and `stall_ns`: fills the first `size` bytes of `*out`
    /// (pass `size_of::<bufpool_stats_ex>()`).
    pub fn bufpool_get_stats_ex(pool: *mut bufpool, out: *mut bufpool_stats_ex, size: usize) -> c_int;
    /// Leak tracking: write the live sampled allocations older than
    /// `min_age_ns` to `out`, one line per call site; the number of sites.
    pub fn bufpool_report_live(pool: *mut bufpool, min_age_ns: u64, out: *mut FILE) -> c_int;
    /// Set the pool's reclaim callback (`None` removes it); waits for a
    /// running call of the old one, unless called from inside it.
    pub fn bufpool_set_reclaim(pool: *mut bufpool, f: bufpool_reclaim_fn, arg: *mut c_void) -> c_int;
    /// The same for the requests that `acct`'s max holds back.
    pub fn bufpool_account_set_reclaim(
        acct: *mut bufpool_account,
        f: bufpool_reclaim_fn,
        arg: *mut c_void,
    ) -> c_int;

    /// A watch of the in-use bytes of `pool` (or of `acct` if not NULL): its
    /// eventfd turns readable when they rise to `high_bytes` or above, and
    /// again when they fall to `low_bytes` or below afterwards.
    pub fn bufpool_watch_create(
        pool: *mut bufpool,
        acct: *mut bufpool_account,
        high_bytes: usize,
        low_bytes: usize,
        out: *mut *mut bufpool_watch,
    ) -> c_int;
    /// The watch's eventfd (non-blocking, close-on-exec).
    pub fn bufpool_watch_fd(w: *const bufpool_watch) -> c_int;
    /// Read and reset the fd: 1 above high (not yet down to low), 0 below.
    pub fn bufpool_watch_state(w: *mut bufpool_watch) -> c_int;
    /// Destroy the watch, before its pool and its account.
    pub fn bufpool_watch_destroy(w: *mut bufpool_watch);
}

#[cfg(test)]
mod layout {
    //! The hand-written declarations against the C compiler's view of
    //! include/bufpool.h (OUT_DIR/layout.txt, written by build.rs from
    //! probe/layout.c).
    use super::*;
    use std::collections::HashMap;
    use std::mem::{align_of, offset_of, size_of};

    const LAYOUT: &str = include_str!(concat!(env!("OUT_DIR"), "/layout.txt"));

    /// "kind name" -> value, or None with the reason the probe gave.
    fn c_side() -> Option<HashMap<String, u64>> {
        if let Some(why) = LAYOUT.strip_prefix("unavailable: ") {
            // past the harness's capture, for tests/run.sh to count
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIP: layout: {}", why.trim());
            return None;
        }
        let mut m = HashMap::new();
        for line in LAYOUT.lines() {
            // "kind name value"; the name may hold a space ("struct iovec")
            let (key, v) = line.rsplit_once(' ').unwrap_or_else(|| panic!("layout.txt: {line:?}"));
            let v: i64 = v.parse().unwrap_or_else(|_| panic!("layout.txt: {line:?}"));
            m.insert(key.to_string(), v as u64);
        }
        Some(m)
    }

    /// Size of a field's type, from a pointer projection (no value needed).
    fn field_size<T, F>(_: fn(*const T) -> *const F) -> usize {
        size_of::<F>()
    }

    macro_rules! check_struct {
        ($c:expr, $checked:expr, $cname:literal, $t:ty, [$($f:ident),* $(,)?]) => {{
            assert_eq!($c[concat!("size ", $cname)], size_of::<$t>() as u64, "sizeof({})", $cname);
            assert_eq!($c[concat!("align ", $cname)], align_of::<$t>() as u64, "alignof({})", $cname);
            $checked += 2;
            let mut rust_fields = 0u64;
            $(
                assert_eq!(
                    $c[concat!("offset ", $cname, ".", stringify!($f))],
                    offset_of!($t, $f) as u64,
                    "offsetof({}, {})", $cname, stringify!($f)
                );
                assert_eq!(
                    $c[concat!("fieldsize ", $cname, ".", stringify!($f))],
                    field_size(|p: *const $t| unsafe { &raw const (*p).$f }) as u64,
                    "sizeof({}.{})", $cname, stringify!($f)
                );
                $checked += 2;
                rust_fields += 1;
            )*
            // Every field the C side printed is declared on the Rust side.
            let c_fields = $c.keys().filter(|k| k.starts_with(concat!("offset ", $cname, "."))).count();
            assert_eq!(c_fields as u64, rust_fields, "fields of {}", $cname);
        }};
    }

    #[test]
    fn structs_match_the_c_header() {
        let Some(c) = c_side() else { return };
        let mut checked = 0;
        check_struct!(c, checked, "bufpool_config", bufpool_config, [buffer_size, max_memory, flags]);
        check_struct!(
            c,
            checked,
            "bufpool_stats",
            bufpool_stats,
            [
                buffer_size,
                max_memory,
                in_use_bytes,
                peak_in_use_bytes,
                cached_bytes,
                live_allocations,
                waiters,
                total_allocations,
                total_waits,
                total_wait_ns,
                total_failures,
                largest_free_run,
            ]
        );
        check_struct!(c, checked, "bufpool_stats_ex", bufpool_stats_ex, [stats, stall_ns]);
        check_struct!(c, checked, "struct iovec", iovec, [iov_base, iov_len]);
        check_struct!(
            c,
            checked,
            "bufpool_account_config",
            bufpool_account_config,
            [name, min_bytes, max_bytes, priority]
        );
        check_struct!(
            c,
            checked,
            "bufpool_account_stats",
            bufpool_account_stats,
            [
                min_bytes,
                max_bytes,
                in_use_bytes,
                peak_in_use_bytes,
                live_allocations,
                waiters,
                total_allocations,
                total_waits,
                total_wait_ns,
                total_failures,
                stall_ns,
            ]
        );
        assert_eq!(checked, 2 * 6 + 2 * (3 + 12 + 2 + 2 + 4 + 11));
    }

    #[test]
    fn constants_match_the_c_header() {
        let Some(c) = c_side() else { return };
        let consts: &[(&str, i64)] = &[
            ("BUFPOOL_FIFO", BUFPOOL_FIFO as i64),
            ("BUFPOOL_REGION", BUFPOOL_REGION as i64),
            ("BUFPOOL_HUGEPAGES", BUFPOOL_HUGEPAGES as i64),
            ("BUFPOOL_LOCKED", BUFPOOL_LOCKED as i64),
            ("BUFPOOL_TRACK", BUFPOOL_TRACK as i64),
            ("BUFPOOL_VERSION", BUFPOOL_VERSION as i64),
            ("BUFPOOL_FOREVER", BUFPOOL_FOREVER as i64),
            ("EINVAL", EINVAL as i64),
            ("E2BIG", E2BIG as i64),
            ("EAGAIN", EAGAIN as i64),
            ("ETIMEDOUT", ETIMEDOUT as i64),
            ("ECANCELED", ECANCELED as i64),
            ("ENOMEM", ENOMEM as i64),
            ("ENOTSUP", ENOTSUP as i64),
            ("EPERM", EPERM as i64),
            ("EBADF", EBADF as i64),
            ("ERANGE", ERANGE as i64),
            ("EEXIST", EEXIST as i64),
            ("ENOBUFS", ENOBUFS as i64),
            ("ENOSPC", ENOSPC as i64),
            ("EBUSY", EBUSY as i64),
            ("EDEADLK", EDEADLK as i64),
            ("IORING_CQE_F_BUFFER", IORING_CQE_F_BUFFER as i64),
            ("IORING_CQE_F_MORE", IORING_CQE_F_MORE as i64),
            ("IORING_CQE_BUFFER_SHIFT", IORING_CQE_BUFFER_SHIFT as i64),
        ];
        for (name, v) in consts {
            assert_eq!(c[&format!("const {name}")] as i64, *v, "{name}");
        }
        // Headers before 6.12 lack it (the probe prints it only if defined).
        let optional: &[(&str, i64)] = &[("IORING_CQE_F_BUF_MORE", IORING_CQE_F_BUF_MORE as i64)];
        let mut present = 0;
        for (name, v) in optional {
            if let Some(&c_v) = c.get(&format!("const {name}")) {
                assert_eq!(c_v as i64, *v, "{name}");
                present += 1;
            }
        }
        assert_eq!(c.keys().filter(|k| k.starts_with("const ")).count(), consts.len() + present);
    }

    #[test]
    fn linked_library_is_the_headers_version() {
        // The library linked (built from ../../src, or BUFPOOL_LIB_DIR's)
        // is the version these declarations were written for.
        assert_eq!(unsafe { bufpool_version() }, BUFPOOL_VERSION);
    }
}
