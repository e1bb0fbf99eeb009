//! [`Error`]: every errno bufpool returns, as a value.

use crate::ffi;
use std::ffi::CStr;
use std::fmt;
use std::io;

/// An error from the C library: one variant per errno that bufpool
/// documents, and [`Error::Other`] for any other errno the system passes
/// through (`EMFILE` from an eventfd, say).
///
/// `Display` is `bufpool_strerror`'s message, or the system's for
/// [`Error::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// `EINVAL`: an argument is out of range (a bad [`Config`](crate::Config),
    /// `n == 0`, a budget below the buffer size or beyond the region).
    InvalidArgument,
    /// `E2BIG`: the request exceeds the whole budget and can never be served
    /// (reported at once, never after a wait).
    TooBig,
    /// `EAGAIN`: the request would have to wait (`try_allocate`, and a
    /// [`Waiter`](crate::Waiter) that is now pending); from `Pool::new` with
    /// `locked`, `mlock` could not lock some of the region.
    WouldBlock,
    /// `ETIMEDOUT`: `allocate_timeout` ran out of time.
    TimedOut,
    /// `ECANCELED`: the pool was shut down before or during the wait.
    Canceled,
    /// `ENOMEM`: the system could not provide the memory; from `Pool::new`
    /// with `locked`, also a region over `RLIMIT_MEMLOCK`.
    OutOfMemory,
    /// `ENOTSUP`: a region call on a pool without `region`.
    NotSupported,
    /// `EPERM`: the system refused to lock the region (`locked`):
    /// `RLIMIT_MEMLOCK` is 0 and the process lacks `CAP_IPC_LOCK`.
    PermissionDenied,
    /// `EBADF`: an async waiter inherited across `fork()`.
    BadFd,
    /// `ERANGE`: an allocation larger than one region piece has no `buf_index`.
    OutOfRange,
    /// `ENOSPC`: the accounts' reservations would not fit: an
    /// [`Account`](crate::Account) whose reservation (with its siblings')
    /// would exceed a cap above it or the budget, limits that would, or
    /// [`Pool::set_max_memory`](crate::Pool::set_max_memory) below the
    /// top-level reservations.
    NoSpace,
    /// `EDEADLK`: an allocation from a pool (through the pool or any of its
    /// accounts) made from inside one of that pool's reclaim callbacks
    /// ([`Pool::set_reclaim`](crate::Pool::set_reclaim),
    /// [`Account::set_reclaim`](crate::Account::set_reclaim)): the
    /// callback is there to give memory back, and the request that called
    /// it is waiting for exactly that.  Reported at once, never after a
    /// wait.
    Deadlock,
    /// Any other errno (positive), such as `EMFILE` or `ENFILE` from
    /// creating a waiter's eventfd.
    Other(i32),
}

impl Error {
    /// The error for a C return code: a negative errno (as bufpool returns
    /// them) or a positive one.  `0` is not an error; it maps to
    /// `Other(0)`.
    pub fn from_code(code: i32) -> Error {
        match code.checked_abs().unwrap_or(0) {
            ffi::EINVAL => Error::InvalidArgument,
            ffi::E2BIG => Error::TooBig,
            ffi::EAGAIN => Error::WouldBlock,
            ffi::ETIMEDOUT => Error::TimedOut,
            ffi::ECANCELED => Error::Canceled,
            ffi::ENOMEM => Error::OutOfMemory,
            ffi::ENOTSUP => Error::NotSupported,
            ffi::EPERM => Error::PermissionDenied,
            ffi::EBADF => Error::BadFd,
            ffi::ERANGE => Error::OutOfRange,
            ffi::ENOSPC => Error::NoSpace,
            ffi::EDEADLK => Error::Deadlock,
            e => Error::Other(e),
        }
    }

    /// The errno, positive (`EINVAL`, ...).
    pub fn errno(&self) -> i32 {
        match *self {
            Error::InvalidArgument => ffi::EINVAL,
            Error::TooBig => ffi::E2BIG,
            Error::WouldBlock => ffi::EAGAIN,
            Error::TimedOut => ffi::ETIMEDOUT,
            Error::Canceled => ffi::ECANCELED,
            Error::OutOfMemory => ffi::ENOMEM,
            Error::NotSupported => ffi::ENOTSUP,
            Error::PermissionDenied => ffi::EPERM,
            Error::BadFd => ffi::EBADF,
            Error::OutOfRange => ffi::ERANGE,
            Error::NoSpace => ffi::ENOSPC,
            Error::Deadlock => ffi::EDEADLK,
            Error::Other(e) => e,
        }
    }

    /// `bufpool_strerror`'s static message for this error.
    pub fn message(&self) -> &'static str {
        // SAFETY: bufpool_strerror takes any int and returns a pointer to a
        // static, NUL-terminated, ASCII string, never NULL (bufpool_strerror(3)).
        let s = unsafe { CStr::from_ptr(ffi::bufpool_strerror(-self.errno())) };
        s.to_str().unwrap_or("unknown error")
    }
}

/// `rc == 0` is Ok, a negative errno is the error.  Inline, with the error
/// made out of line: the success path of an allocation is one comparison.
#[inline]
pub(crate) fn check(rc: i32) -> Result<(), Error> {
    if rc == 0 { Ok(()) } else { Err(failed(rc)) }
}

#[cold]
#[inline(never)]
fn failed(rc: i32) -> Error {
    Error::from_code(rc)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            // bufpool knows no message for it: the system's ("Too many open
            // files (os error 24)").
            Error::Other(e) => write!(f, "{}", io::Error::from_raw_os_error(e)),
            _ => f.write_str(self.message()),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    /// An `io::Error` of the same errno (so its `kind()` is the system's
    /// mapping: `WouldBlock`, `TimedOut`, `OutOfMemory`, ...) with
    /// bufpool's message.
    fn from(e: Error) -> io::Error {
        let kind = io::Error::from_raw_os_error(e.errno()).kind();
        match e {
            Error::Other(_) => io::Error::from_raw_os_error(e.errno()),
            _ => io::Error::new(kind, e),
        }
    }
}
