//! [`Waiter`]: asynchronous allocation through an eventfd.

use crate::account::{Account, AccountInner};
use crate::alloc::Alloc;
use crate::error::{Error, check};
use crate::ffi;
use crate::pool::{Handle, Pool};
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::ptr::{self, NonNull};
use std::sync::Arc;

/// An async waiter (`bufpool_waiter_create(3)`): allocation that never
/// blocks, with a file descriptor to poll for when to try again.
///
/// [`allocate`](Waiter::allocate) is a try; when it fails with
/// [`Error::WouldBlock`], the waiter is pending for that `n` and its fd
/// ([`AsRawFd`], [`AsFd`]) turns readable (`POLLIN`) when a retry may
/// succeed.  Each call resets the readiness, so a loop never spins when
/// nothing changed; the fd needs no reading by the caller.  In FIFO mode
/// the pool sets the memory aside when the waiter's turn comes, and the next
/// call with the same `n` returns it at once.
///
/// The fd plugs into any readiness loop: `poll(2)`/`epoll(7)`, mio's
/// `SourceFd`, tokio's `AsyncFd` (wrap the `Waiter` itself: it is
/// `AsRawFd`).  A waiter serves one request at a time, so the calls that
/// change it take `&mut self`.
///
/// # An allocation loop on poll(2)
///
/// `poll` is declared by hand here (the crate has no dependency, not even
/// `libc`):
///
/// ```
/// use bufpool::{Config, Error, Pool};
/// use std::os::fd::AsRawFd;
/// use std::os::raw::{c_int, c_short, c_ulong};
/// use std::time::Duration;
///
/// #[repr(C)]
/// struct PollFd { fd: c_int, events: c_short, revents: c_short }
/// const POLLIN: c_short = 0x001;
/// unsafe extern "C" {
///     fn poll(fds: *mut PollFd, nfds: c_ulong, timeout_ms: c_int) -> c_int;
/// }
///
/// # fn main() -> Result<(), Error> {
/// let pool = Pool::new(Config::new(4096, 4 * 4096))?;
/// let held = pool.allocate(4)?; // the whole budget, for now
/// let releaser = std::thread::spawn(move || {
///     std::thread::sleep(Duration::from_millis(20));
///     drop(held); // wakes the waiter
/// });
///
/// let mut waiter = pool.waiter()?;
/// let mut polls = 0;
/// let alloc = loop {
///     match waiter.allocate(2) {
///         Ok(a) => break a,
///         Err(Error::WouldBlock) => {
///             // Pending: sleep in poll(2) until the fd is readable.  An
///             // event loop would register the fd instead and go on with
///             // other work.
///             let mut p = PollFd { fd: waiter.as_raw_fd(), events: POLLIN, revents: 0 };
///             let rc = unsafe { poll(&mut p, 1, 5_000) };
///             assert!(rc >= 0, "poll: {}", std::io::Error::last_os_error());
///             polls += 1;
///         }
///         Err(e) => return Err(e),
///     }
/// };
/// assert_eq!(alloc.buffer_count(), 2);
/// assert!(polls >= 1);
/// releaser.join().unwrap();
/// # Ok(())
/// # }
/// ```
///
/// A waiter holds its pool alive, like every handle; destroying it
/// (dropping) cancels what it has pending.  After `fork()`, a waiter
/// inherited by the child reports [`Error::BadFd`]: the child makes its own.
///
/// A waiter made by [`Account::waiter`] charges its allocations to that
/// account (`bufpool_account_waiter_create(3)`) and holds the account alive
/// too.
pub struct Waiter {
    raw: NonNull<ffi::bufpool_waiter>,
    fd: RawFd,
    pool: Handle,
    // Dropped after the destroy in Drop's body: a waiter goes before its
    // account.
    account: Option<Arc<AccountInner>>,
}

// SAFETY: a waiter is not tied to the thread that created it: one thread
// at a time must drive it (bufpool(3)), which `&mut self` on every call that
// changes it (allocate, cancel, drop) guarantees wherever it moves.  The
// pool handle and the account reference are Send + Sync.
unsafe impl Send for Waiter {}
// SAFETY: through `&Waiter` only the fd number (cached at creation, it never
// changes), `pool()` (a handle clone) and `account()` (an Arc clone) are
// reachable; no C call is made.
unsafe impl Sync for Waiter {}

impl Waiter {
    pub(crate) fn new(pool: Handle) -> Result<Waiter, Error> {
        let mut w = ptr::null_mut();
        // SAFETY: the pool is alive (we hold a handle) and `w` is writable.
        check(unsafe { ffi::bufpool_waiter_create(pool.inner().raw.as_ptr(), &mut w) })?;
        Ok(Waiter::from_raw(w, pool, None))
    }

    pub(crate) fn new_account(account: Arc<AccountInner>) -> Result<Waiter, Error> {
        let mut w = ptr::null_mut();
        // SAFETY: the account is alive (we hold a reference) and `w` is
        // writable.
        check(unsafe { ffi::bufpool_account_waiter_create(account.raw.as_ptr(), &mut w) })?;
        Ok(Waiter::from_raw(w, account.pool.clone(), Some(account)))
    }

    /// `w`: a waiter just created (0 returned) of `pool`, charged to `account`.
    fn from_raw(w: *mut ffi::bufpool_waiter, pool: Handle, account: Option<Arc<AccountInner>>) -> Waiter {
        let raw = NonNull::new(w).expect("bufpool_waiter_create returned 0 and no waiter");
        // SAFETY: `raw` is a live waiter.
        let fd = unsafe { ffi::bufpool_waiter_fd(raw.as_ptr()) };
        assert!(fd >= 0, "a live waiter without an fd");
        Waiter { raw, fd, pool, account }
    }

    /// Try to allocate `n` buffers; never blocks.  [`Error::WouldBlock`]
    /// leaves the waiter pending for `n`: wait for the fd to turn readable
    /// and call again (with the same `n` to keep its place in FIFO mode;
    /// another `n` replaces the request).  Other errors as
    /// [`Pool::try_allocate`], plus [`Error::BadFd`] in a forked child.
    #[inline(always)] // for leak tracking's site: see Pool::report_live
    pub fn allocate(&mut self, n: usize) -> Result<Alloc, Error> {
        let mut a = ptr::null_mut();
        // SAFETY: the waiter is alive, and `&mut self` makes this the only
        // call on it.
        check(unsafe { ffi::bufpool_waiter_allocate(self.raw.as_ptr(), n, &mut a) })?;
        Ok(match &self.account {
            // SAFETY: success: `a` is a live allocation of our pool and its
            // reference is ours.
            None => unsafe { Alloc::from_raw(self.pool.ptr(), a, n) },
            // SAFETY: as above, and it is charged to our account.
            Some(acct) => unsafe { Alloc::from_account(acct.clone(), a, n) },
        })
    }

    /// Drop the pending request, giving back memory set aside for it.
    pub fn cancel(&mut self) {
        // SAFETY: the waiter is alive; `&mut self` as in allocate.
        unsafe { ffi::bufpool_waiter_cancel(self.raw.as_ptr()) }
    }

    /// A handle to the waiter's pool.
    pub fn pool(&self) -> Pool {
        Pool::from_handle(self.pool.clone())
    }

    /// The account its allocations are charged to ([`Account::waiter`]), or
    /// `None` for a waiter of the pool ([`Pool::waiter`]).
    pub fn account(&self) -> Option<Account> {
        self.account.as_ref().map(|inner| Account::from_inner(inner.clone()))
    }
}

impl AsRawFd for Waiter {
    /// The waiter's eventfd (non-blocking, close-on-exec): poll it for
    /// `POLLIN`.  It stays open as long as the `Waiter`.
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl AsFd for Waiter {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the fd is open until bufpool_waiter_destroy, which only
        // Drop calls, so for as long as `self` is borrowed.
        unsafe { BorrowedFd::borrow_raw(self.fd) }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        // SAFETY: the waiter is alive and no other call on it can run
        // (`&mut self`); the pool and the account outlive this body
        // (`self.pool` and `self.account` drop after it), as destroy requires
        // ("destroy waiters before their pool", and before their account).
        unsafe { ffi::bufpool_waiter_destroy(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Waiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiter").field("fd", &self.fd).finish_non_exhaustive()
    }
}
