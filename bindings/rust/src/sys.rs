//! The few C library (libc) functions the crate calls besides bufpool's,
//! declared by hand as in [`ffi`](crate::ffi): the crate has no dependency,
//! not even `libc`.  All are POSIX.1-2008, in glibc and musl.

use crate::ffi::FILE;
use std::os::raw::{c_char, c_int, c_short, c_ulong, c_void};

/// `struct pollfd`.
#[repr(C)]
pub(crate) struct PollFd {
    pub(crate) fd: c_int,
    pub(crate) events: c_short,
    pub(crate) revents: c_short,
}

/// `POLLIN`.
pub(crate) const POLLIN: c_short = 0x001;

unsafe extern "C" {
    /// A stream writing into a buffer that grows as needed; `fclose` (or
    /// `fflush`) sets `*ptr` and `*size`, and the caller frees `*ptr`.
    pub(crate) fn open_memstream(ptr: *mut *mut c_char, size: *mut usize) -> *mut FILE;
    pub(crate) fn fclose(f: *mut FILE) -> c_int;
    pub(crate) fn free(p: *mut c_void);
    /// `nfds_t` is `unsigned long` on Linux.
    pub(crate) fn poll(fds: *mut PollFd, nfds: c_ulong, timeout_ms: c_int) -> c_int;
}
