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
use std::os::raw::{c_char, c_int, c_uint, c_void};

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

/// Waiting requests are served strictly in arrival order.
pub const BUFPOOL_FIFO: c_uint = 1;
/// Reserve `max_memory` up front as one mmap'ed region; carve allocations from it.
pub const BUFPOOL_REGION: c_uint = 2;
/// With `BUFPOOL_REGION`: back it with huge pages where possible.
pub const BUFPOOL_HUGEPAGES: c_uint = 4;
/// With `BUFPOOL_REGION`: mlock it.
pub const BUFPOOL_LOCKED: c_uint = 8;

/// The header's version, `MAJOR * 10000 + MINOR * 100 + PATCH`, that these
/// declarations were written from.
pub const BUFPOOL_VERSION: c_int = 10100;

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

/// `bufpool_stats`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct bufpool_stats {
    pub buffer_size: usize,
    pub max_memory: usize,
    pub in_use_bytes: usize,
    pub peak_in_use_bytes: usize,
    pub cached_bytes: usize,
    pub live_allocations: usize,
    pub waiters: usize,
    pub total_allocations: u64,
    pub total_waits: u64,
    pub total_wait_ns: u64,
    pub total_failures: u64,
    pub largest_free_run: usize,
}

/// `struct iovec` from `<sys/uio.h>`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct iovec {
    pub iov_base: *mut c_void,
    pub iov_len: usize,
}

// Linux's errno values (every architecture but alpha, mips, parisc and
// sparc, which bufpool does not target); the layout test checks them
// against <errno.h>.
pub const EPERM: c_int = 1;
pub const E2BIG: c_int = 7;
pub const EBADF: c_int = 9;
pub const EAGAIN: c_int = 11;
pub const ENOMEM: c_int = 12;
pub const EINVAL: c_int = 22;
pub const ERANGE: c_int = 34;
pub const ENOTSUP: c_int = 95;
pub const ETIMEDOUT: c_int = 110;
pub const ECANCELED: c_int = 125;

unsafe extern "C" {
    pub fn bufpool_version() -> c_int;
    pub fn bufpool_strerror(err: c_int) -> *const c_char;

    pub fn bufpool_create(pool: *mut *mut bufpool, cfg: *const bufpool_config) -> c_int;
    pub fn bufpool_shutdown(pool: *mut bufpool);
    pub fn bufpool_destroy(pool: *mut bufpool);

    pub fn bufpool_allocate(pool: *mut bufpool, n: usize, out: *mut *mut bufpool_alloc) -> c_int;
    pub fn bufpool_try_allocate(pool: *mut bufpool, n: usize, out: *mut *mut bufpool_alloc) -> c_int;
    pub fn bufpool_allocate_timeout(
        pool: *mut bufpool,
        n: usize,
        timeout_ns: u64,
        out: *mut *mut bufpool_alloc,
    ) -> c_int;

    pub fn bufpool_alloc_first(a: *const bufpool_alloc) -> *mut c_void;
    pub fn bufpool_alloc_length(a: *const bufpool_alloc) -> usize;
    pub fn bufpool_alloc_bytes(a: *const bufpool_alloc) -> usize;
    pub fn bufpool_alloc_buffer(a: *const bufpool_alloc, i: usize) -> *mut c_void;
    pub fn bufpool_alloc_retain(a: *mut bufpool_alloc) -> *mut bufpool_alloc;
    pub fn bufpool_alloc_release(a: *mut bufpool_alloc);
    pub fn bufpool_alloc_offset(a: *const bufpool_alloc) -> usize;

    pub fn bufpool_set_max_memory(pool: *mut bufpool, max_memory: usize) -> c_int;
    pub fn bufpool_get_stats(pool: *mut bufpool, out: *mut bufpool_stats);
    pub fn bufpool_region(pool: *mut bufpool, out: *mut iovec) -> c_int;
    pub fn bufpool_region_iovecs(pool: *mut bufpool, iov: *mut iovec, max: c_uint) -> c_int;
    pub fn bufpool_alloc_buf_index(a: *const bufpool_alloc) -> c_int;

    pub fn bufpool_waiter_create(pool: *mut bufpool, out: *mut *mut bufpool_waiter) -> c_int;
    pub fn bufpool_waiter_fd(w: *const bufpool_waiter) -> c_int;
    pub fn bufpool_waiter_allocate(w: *mut bufpool_waiter, n: usize, out: *mut *mut bufpool_alloc) -> c_int;
    pub fn bufpool_waiter_cancel(w: *mut bufpool_waiter);
    pub fn bufpool_waiter_destroy(w: *mut bufpool_waiter);
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
        check_struct!(c, checked, "struct iovec", iovec, [iov_base, iov_len]);
        assert_eq!(checked, 6 + 2 * (3 + 12 + 2));
    }

    #[test]
    fn constants_match_the_c_header() {
        let Some(c) = c_side() else { return };
        let consts: &[(&str, i64)] = &[
            ("BUFPOOL_FIFO", BUFPOOL_FIFO as i64),
            ("BUFPOOL_REGION", BUFPOOL_REGION as i64),
            ("BUFPOOL_HUGEPAGES", BUFPOOL_HUGEPAGES as i64),
            ("BUFPOOL_LOCKED", BUFPOOL_LOCKED as i64),
            ("BUFPOOL_VERSION", BUFPOOL_VERSION as i64),
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
        ];
        for (name, v) in consts {
            assert_eq!(c[&format!("const {name}")] as i64, *v, "{name}");
        }
        assert_eq!(c.keys().filter(|k| k.starts_with("const ")).count(), consts.len());
    }

    #[test]
    fn linked_library_is_the_headers_version() {
        // The library linked (built from ../../src, or BUFPOOL_LIB_DIR's)
        // is the version these declarations were written for.
        assert_eq!(unsafe { bufpool_version() }, BUFPOOL_VERSION);
    }
}
