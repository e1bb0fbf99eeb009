//! [`Watch`]: a watermark on a pool's or an account's in-use bytes, as an
//! eventfd (`bufpool_watch_create(3)`).

use crate::account::{Account, AccountInner};
use crate::error::{Error, check};
use crate::ffi;
use crate::pool::{Handle, Pool};
use crate::sys;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::raw::c_int;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A watermark watch (`bufpool_watch_create(3)`): a file descriptor that
/// turns readable when the in-use bytes of a pool ([`Pool::watch`]) or of
/// an account and its descendants ([`Account::watch`]) rise to `high` or
/// above, and again when they fall to `low` or below after that: once per
/// crossing (high, then low, then high ...), never while the level moves
/// within (`low`, `high`).  The level is the bytes of live allocations
/// ([`Stats::in_use_bytes`](crate::Stats::in_use_bytes)), not memory cached
/// for reuse; the thresholds count whole buffers (`high` rounded up,
/// `low` down).
///
/// - [`state`](Watch::state) says which side the level is on (`true`:
///   risen, at or above `high` and not yet down to `low`) and resets the
///   fd's readiness.  It never blocks.  Crossings not yet read coalesce:
///   the fd is readable once, and `state` gives the state now.
/// - The initial state is computed at creation: a watch created at or
///   above `high` is readable at once.
/// - A crossing is exact: the fd is readable by the time the allocate or
///   release call that crossed returns.  A pool with no watch armed pays
///   nothing for the feature; an armed one sends allocations and releases
///   through a slower path that counts, and makes a system call only at a
///   crossing.
///
/// The fd ([`AsRawFd`], [`AsFd`]; non-blocking, close-on-exec) plugs into
/// `poll(2)`, epoll, mio or tokio's `AsyncFd` (wrap the `Watch` itself:
/// `AsyncFd::new(watch)`, then `readable_mut().await`, `state()`,
/// `clear_ready()`).  [`wait`](Watch::wait) blocks a thread on it.  The
/// crate offers no future of its own for a watch: the C library signals a
/// watch only through its eventfd, which needs a reactor to await (the
/// allocation futures use C callbacks instead).
///
/// ```
/// use bufpool::{Config, Pool};
/// use std::time::Duration;
///
/// # fn main() -> Result<(), bufpool::Error> {
/// let pool = Pool::new(Config::new(4096, 16 * 4096))?;
/// let mut w = pool.watch(12 * 4096, 4 * 4096)?; // 75 % and 25 %
/// assert_eq!(w.state()?, false);
/// let a = pool.allocate(12)?; // up to high: readable
/// assert_eq!(w.wait(Some(Duration::ZERO))?, Some(true));
/// drop(a); // down to low: readable again
/// assert_eq!(w.wait(Some(Duration::ZERO))?, Some(false));
/// assert_eq!(w.wait(Some(Duration::ZERO))?, None); // read: nothing new
/// # Ok(())
/// # }
/// ```
///
/// A watch keeps its pool (and its account) alive, as a [`Waiter`](crate::Waiter)
/// does; dropping it destroys it (`bufpool_watch_destroy`), always before
/// its pool and its account.  After `fork()`, a watch inherited by the
/// child reports [`Error::BadFd`].
pub struct Watch {
    raw: NonNull<ffi::bufpool_watch>,
    fd: RawFd,
    pool: Handle,
    // Dropped after the destroy in Drop's body: a watch goes before its
    // account (which counts it) and its pool.
    account: Option<Arc<AccountInner>>,
}

// SAFETY: a watch is not tied to the thread that created it; the calls
// that change it (state, wait, destroy) take `&mut self`, so one thread at
// a time makes them wherever it moves.  The pool handle and the account
// reference are Send + Sync.
unsafe impl Send for Watch {}
// SAFETY: through `&Watch` only the fd number (cached at creation, fixed
// until destroy), `pool()` (a handle clone) and `account()` (an Arc clone)
// are reachable; no C call is made.
unsafe impl Sync for Watch {}

impl Watch {
    pub(crate) fn new(
        pool: Handle,
        account: Option<Arc<AccountInner>>,
        high_bytes: usize,
        low_bytes: usize,
    ) -> Result<Watch, Error> {
        let acct = account.as_ref().map_or(ptr::null_mut(), |a| a.raw.as_ptr());
        let mut w = ptr::null_mut();
        // SAFETY: the pool is alive (we hold a handle), and so is the
        // account if any (we hold a reference), an account of this pool
        // (its AccountInner holds this pool's handle); `w` is writable.
        check(unsafe {
            ffi::bufpool_watch_create(pool.inner().raw.as_ptr(), acct, high_bytes, low_bytes, &mut w)
        })?;
        let raw = NonNull::new(w).expect("bufpool_watch_create returned 0 and no watch");
        // SAFETY: `raw` is a live watch.
        let fd = unsafe { ffi::bufpool_watch_fd(raw.as_ptr()) };
        assert!(fd >= 0, "a live watch without an fd");
        Ok(Watch { raw, fd, pool, account })
    }

    /// Which side of the watermarks the level is on, and reset the fd's
    /// readiness (`bufpool_watch_state`): `true` once it rose to `high`
    /// or above and has not fallen to `low` or below since, `false`
    /// otherwise.  Never blocks.  [`Error::BadFd`] in a forked child.
    pub fn state(&mut self) -> Result<bool, Error> {
        // SAFETY: the watch is alive, and `&mut self` makes this the only
        // call on it.
        let rc = unsafe { ffi::bufpool_watch_state(self.raw.as_ptr()) };
        if rc < 0 {
            return Err(Error::from_code(rc));
        }
        Ok(rc != 0)
    }

    /// Block until the fd is readable (a crossing not yet read), at most
    /// `timeout` (`None`: without limit), then read it as
    /// [`state`](Watch::state) does: `Some(state)`, or `None` when the
    /// time ran out.  `Some(Duration::ZERO)` only looks.  `poll(2)` on the
    /// fd; an interrupted poll resumes.  Errors: `poll`'s errno as
    /// [`Error::Other`], and `state`'s.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<Option<bool>, Error> {
        let end = timeout.map(|t| Instant::now().checked_add(t));
        loop {
            let ms: c_int = match end {
                None | Some(None) => -1,
                Some(Some(end)) => {
                    let left = end.saturating_duration_since(Instant::now());
                    // rounded up, so that a wait never ends early
                    let ms = left.as_nanos().div_ceil(1_000_000);
                    c_int::try_from(ms).unwrap_or(c_int::MAX)
                }
            };
            let mut p = sys::PollFd { fd: self.fd, events: sys::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd; the fd is open while `self` lives.
            let rc = unsafe { sys::poll(&mut p, 1, ms) };
            if rc > 0 {
                return self.state().map(Some);
            }
            if rc == 0 {
                if ms == 0 {
                    return Ok(None);
                }
                continue; // recompute: 0 only once the deadline is past
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(Error::from_code(e.raw_os_error().unwrap_or(ffi::EINVAL)));
            }
        }
    }

    /// A handle to the watch's pool.
    pub fn pool(&self) -> Pool {
        Pool::from_handle(self.pool.clone())
    }

    /// The account whose level it watches ([`Account::watch`]), or `None`
    /// for a watch of the pool's level ([`Pool::watch`]).
    pub fn account(&self) -> Option<Account> {
        self.account.as_ref().map(|inner| Account::from_inner(inner.clone()))
    }
}

impl AsRawFd for Watch {
    /// The watch's eventfd (non-blocking, close-on-exec): poll it for
    /// `POLLIN`.  It stays open as long as the `Watch`.
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl AsFd for Watch {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the fd is open until bufpool_watch_destroy, which only
        // Drop calls, so for as long as `self` is borrowed.
        unsafe { BorrowedFd::borrow_raw(self.fd) }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // SAFETY: the watch is alive and no other call on it can run
        // (`&mut self`); the pool and the account outlive this body
        // (`self.pool` and `self.account` drop after it), as destroy
        // requires.
        unsafe { ffi::bufpool_watch_destroy(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch").field("fd", &self.fd).finish_non_exhaustive()
    }
}
