//! [`Account`]: one consumer of a pool's budget, with a reservation, a cap
//! and a priority, in a tree (`bufpool_account_create(3)`); its
//! [`AccountConfig`], [`AccountStats`] and [`AccountAllocateFuture`].

use crate::alloc::Alloc;
use crate::error::{Error, check};
use crate::ffi;
use crate::future::{Request, Source};
use crate::pool::{Handle, Pool};
use crate::reclaim::{Reclaimer, Target};
use crate::waiter::Waiter;
use crate::watch::Watch;
use std::ffi::CString;
use std::fmt;
use std::future::Future;
use std::os::raw::{c_int, c_void};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

/// What an account is made of (`bufpool_account_config`): a name, a
/// reservation, a cap and a priority.  Limits count whole buffers: both are
/// rounded down to a multiple of the pool's buffer size.
///
/// ```
/// use bufpool::AccountConfig;
/// let writes = AccountConfig { min_bytes: 16 << 20, priority: 10, ..AccountConfig::new("writes") };
/// let query = AccountConfig { max_bytes: 8 << 20, ..AccountConfig::new("query") };
/// # let _ = (writes, query);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountConfig {
    /// A name for reports (the C library copies it; no call reads it back,
    /// [`Account::name`] keeps it on the Rust side).  It must not hold a NUL
    /// byte: creating the account fails with [`Error::InvalidArgument`].
    pub name: String,
    /// The reservation: memory kept for the requests of this account and its
    /// descendants that no other account may take, even while this one is
    /// idle.  0: none.  A child's reservation is carved out of its parent's.
    pub min_bytes: usize,
    /// The cap: the in-use bytes of this account and its descendants never
    /// exceed it.  0: no cap of its own (the caps above it and the budget
    /// still apply).  Not 0 but below one buffer: [`Error::InvalidArgument`].
    pub max_bytes: usize,
    /// The order of waiting requests across the pool: a higher priority is
    /// served first.  Plain [`Pool`] calls wait at 0; a negative priority
    /// waits behind them.  Not inherited.
    pub priority: i32,
}

impl AccountConfig {
    /// A configuration with this name and no reservation, no cap,
    /// priority 0.
    pub fn new(name: impl Into<String>) -> AccountConfig {
        AccountConfig { name: name.into(), min_bytes: 0, max_bytes: 0, priority: 0 }
    }
}

/// A snapshot of an account's counters (`bufpool_account_get_stats(3)`).
/// Every count covers the account and all its descendants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountStats {
    /// The account's own reservation, rounded down to whole buffers.
    pub min_bytes: usize,
    /// The account's own cap, rounded down to whole buffers; 0 for none.
    pub max_bytes: usize,
    /// Bytes of the live allocations charged to the account and its
    /// descendants.  Released memory a thread keeps cached for the account
    /// is still charged to it (for its cap and its reservation), but not
    /// counted here.
    pub in_use_bytes: usize,
    /// The highest in-use the account has reached, memory cached for it
    /// included: an upper bound.
    pub peak_in_use_bytes: usize,
    /// Live allocations made through the account and its descendants.
    pub live_allocations: usize,
    /// Requests waiting now on the account or a descendant: blocked calls
    /// ([`Account::allocate`], [`Account::allocate_timeout`]) and pending
    /// async requests (an account [`Waiter`]'s, an
    /// [`AccountAllocateFuture`]'s).
    pub waiters: usize,
    /// Allocations made through the account and its descendants.
    pub total_allocations: u64,
    /// Requests that had to wait, each counted once: blocked calls, and
    /// async requests that became pending (an account [`Waiter`]'s, an
    /// [`AccountAllocateFuture`]'s).
    pub total_waits: u64,
    /// Time the blocked calls spent waiting, in nanoseconds (pending async
    /// requests are not timed).
    pub total_wait_ns: u64,
    /// Blocking, timed and try calls that failed, other than with
    /// [`Error::InvalidArgument`] ([`Error::WouldBlock`] included: an
    /// [`AccountAllocateFuture`] that has to wait counts its first poll's
    /// try), and async requests that failed other than by becoming pending
    /// ([`Error::TooBig`] after a lowered cap, say).
    pub total_failures: u64,
    /// Time during which at least one request of the account or a
    /// descendant was waiting, in nanoseconds (the "some" of Linux's
    /// pressure stall information): its growth over an interval, divided
    /// by the interval, is the share of it the account was held up.
    pub stall_ns: u64,
}

impl From<ffi::bufpool_account_stats> for AccountStats {
    fn from(s: ffi::bufpool_account_stats) -> AccountStats {
        AccountStats {
            min_bytes: s.min_bytes,
            max_bytes: s.max_bytes,
            in_use_bytes: s.in_use_bytes,
            peak_in_use_bytes: s.peak_in_use_bytes,
            live_allocations: s.live_allocations,
            waiters: s.waiters,
            total_allocations: s.total_allocations,
            total_waits: s.total_waits,
            total_wait_ns: s.total_wait_ns,
            total_failures: s.total_failures,
            stall_ns: s.stall_ns,
        }
    }
}

/// The C account and what it needs alive: its parent and its pool.  Shared
/// (`Arc`) by every [`Account`] handle, every child's inner, every
/// allocation made through it ([`Alloc`], [`SharedAlloc`](crate::SharedAlloc):
/// each C reference holds one), every [`Waiter`], every [`Watch`] and every
/// [`AccountAllocateFuture`] of it.  So the last `Arc` drops only once
/// nothing can use the account any more: no live allocation (their drop
/// releases the C reference first, then the `Arc`), no child, no waiter or
/// watch, no
/// blocked call (it borrows a handle); that is when `bufpool_account_destroy`
/// runs, and it cannot find the account busy.
pub(crate) struct AccountInner {
    pub(crate) raw: NonNull<ffi::bufpool_account>,
    name: Box<str>,
    priority: i32,
    /// Live [`Account`] handles: when the last drops, the account's reclaim
    /// closure goes ([`Account::set_reclaim`]).  It may rise again from 0
    /// ([`Alloc::account`], [`Account::parent`], [`Waiter::account`]).
    users: AtomicUsize,
    /// The account's reclaim closure; its address is the C callback's
    /// `arg`.  The C account is destroyed first (Drop's body), which ends
    /// its calls.
    reclaim: Reclaimer,
    // Dropped after the destroy (Drop's body runs before the fields drop):
    // a child goes before its parent, an account before its pool.
    parent: Option<Arc<AccountInner>>,
    pub(crate) pool: Handle,
}

// SAFETY: the C account is not tied to a thread, and every
// bufpool_account_* call is thread-safe (bufpool_account_create(3): accounts
// may be created, changed and used from any number of threads at once;
// bufpool_account_allocate(3), bufpool_account_set_limits(3),
// bufpool_account_get_stats(3), bufpool_account_waiter_create(3): THREAD
// SAFETY), except bufpool_account_destroy, which must not race with any
// other call on the account (bufpool_account_destroy(3)): only Drop calls
// it, when the last Arc drops, and Arc's counting orders every use through
// the other references (calls, releases of its allocations, waiter
// destroys, watch destroys) before it.  The name and priority never
// change; the parent and the pool handle are Send + Sync; the users count
// is atomic, and the reclaimer keeps its closure (Send + Sync) behind a
// Mutex.  So an AccountInner may be shared by, and dropped on, any thread.
unsafe impl Send for AccountInner {}
// SAFETY: see Send: through `&AccountInner` only the thread-safe calls are
// made.
unsafe impl Sync for AccountInner {}

impl AccountInner {
    /// Create a C account of `pool` under `parent`.
    fn create(
        pool: Handle,
        parent: Option<Arc<AccountInner>>,
        cfg: &AccountConfig,
    ) -> Result<Account, Error> {
        let name = CString::new(cfg.name.as_str()).map_err(|_| Error::InvalidArgument)?;
        let c = ffi::bufpool_account_config {
            name: name.as_ptr(),
            min_bytes: cfg.min_bytes,
            max_bytes: cfg.max_bytes,
            priority: cfg.priority,
        };
        let parent_raw = parent.as_ref().map_or(ptr::null_mut(), |p| p.raw.as_ptr());
        let mut raw = ptr::null_mut();
        // SAFETY: the pool is alive (we hold a handle) and so is `parent`,
        // an account of the same pool (it holds a clone of this handle's
        // pool: `Account::child` passes it); the config and its name (copied
        // by the call) are valid for the call; `raw` is writable.
        check(unsafe { ffi::bufpool_account_create(pool.inner().raw.as_ptr(), parent_raw, &c, &mut raw) })?;
        let raw = NonNull::new(raw).expect("bufpool_account_create returned 0 and no account");
        let inner = AccountInner {
            raw,
            name: cfg.name.as_str().into(),
            priority: cfg.priority,
            users: AtomicUsize::new(0),
            reclaim: Reclaimer::new(Target::Account(raw)),
            parent,
            pool,
        };
        Ok(Account::from_inner(Arc::new(inner)))
    }

    #[inline]
    fn raw(&self) -> *mut ffi::bufpool_account {
        self.raw.as_ptr()
    }
}

impl Drop for AccountInner {
    fn drop(&mut self) {
        // SAFETY: the last reference is gone: no other call on the account
        // runs or can start (see AccountInner), and the pool is alive
        // (`self.pool` drops after this body).
        let rc = unsafe { ffi::bufpool_account_destroy(self.raw()) };
        // Nothing holds the account any more, so -EBUSY is impossible.
        // (Were it returned, the account would be freed with its pool.)
        debug_assert_eq!(rc, 0, "bufpool_account_destroy of an unused account: {}", Error::from_code(rc));
    }
}

/// One consumer of a pool's budget: a query, a tenant, a subsystem, with a
/// reservation, a cap and a priority (`bufpool_account_create(3)`).
///
/// Made by [`Pool::account`] (a top-level account) or [`Account::child`];
/// accounts form a tree of any depth.  Allocations made through one
/// ([`allocate`](Account::allocate), [`try_allocate`](Account::try_allocate),
/// [`allocate_timeout`](Account::allocate_timeout),
/// [`allocate_async`](Account::allocate_async), an account
/// [`waiter`](Account::waiter)) are ordinary [`Alloc`]s, charged to it and
/// to every account above it until their last release.  A request is served
/// when it fits every cap on its path and the pool's budget without voiding
/// another account's reservation; a request within the account's own
/// reservation is served at once, whatever others hold.  Plain
/// [`Pool`] calls charge no account, and are kept out of every reservation.
///
/// `Account` is a cheap handle (`Clone` shares the account) and is `Send`
/// and `Sync`: any number of threads may allocate through one account at
/// once.  The C account lives as long as anything uses it: a handle, a
/// child account, an allocation made through it (or through a descendant,
/// which holds its parent), a waiter or a future of it.  When the last of
/// those goes, it is destroyed (`bufpool_account_destroy`), its reservation
/// given back; so an account is never destroyed while in use, and dropping
/// a handle never fails nor blocks for memory.  Each account keeps its pool
/// alive, as a [`Pool`] handle does.  An allocation through an account
/// costs two atomic operations more than a plain one (the account's count,
/// taken and dropped).
///
/// ```
/// use bufpool::{AccountConfig, Config, Error, Pool};
///
/// # fn main() -> Result<(), Error> {
/// let pool = Pool::new(Config::new(4096, 64 * 4096))?;
/// // the write path keeps 16 buffers of its own; queries share at most 48
/// let writes = pool.account(&AccountConfig { min_bytes: 16 * 4096, ..AccountConfig::new("writes") })?;
/// let queries = pool.account(&AccountConfig { max_bytes: 48 * 4096, ..AccountConfig::new("queries") })?;
/// // each query at most 8
/// let q = queries.child(&AccountConfig { max_bytes: 8 * 4096, ..AccountConfig::new("query 1") })?;
///
/// let a = q.allocate(8)?;                              // charged to q and to queries
/// assert_eq!(q.try_allocate(1).unwrap_err(), Error::WouldBlock); // q's cap is full
/// assert_eq!(q.try_allocate(9).unwrap_err(), Error::TooBig);     // never fits it
/// assert_eq!(queries.stats().in_use_bytes, 8 * 4096);
///
/// let plain = pool.allocate(40)?;                      // all that nobody reserved
/// assert_eq!(pool.try_allocate(1).unwrap_err(), Error::WouldBlock);
/// let w = writes.try_allocate(16)?;                    // a reservation is served at once
///
/// drop(q);           // `a` keeps the query's account alive
/// drop((a, plain, w)); // its last allocation: the account goes
/// assert_eq!(queries.stats().in_use_bytes, 0);
/// # Ok(())
/// # }
/// ```
pub struct Account {
    pub(crate) inner: Arc<AccountInner>,
}

impl Clone for Account {
    fn clone(&self) -> Account {
        Account::from_inner(self.inner.clone())
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        let inner = &*self.inner;
        // As Pool's drop: the last handle takes the reclaim closure; the
        // account is alive (our Arc drops after this body).
        if inner.users.fetch_sub(1, Ordering::AcqRel) == 1 {
            // SAFETY: the account is alive, and its reclaimer, a field of
            // the AccountInner, outlives every call of the C account.
            unsafe { inner.reclaim.forget(|| inner.users.load(Ordering::Acquire) == 0) };
        }
    }
}

impl Account {
    /// An `Account` handle of `inner`: one more user (see
    /// [`AccountInner::users`]).
    pub(crate) fn from_inner(inner: Arc<AccountInner>) -> Account {
        inner.users.fetch_add(1, Ordering::Relaxed);
        Account { inner }
    }

    pub(crate) fn new(pool: Handle, cfg: &AccountConfig) -> Result<Account, Error> {
        AccountInner::create(pool, None, cfg)
    }

    /// A child account (`bufpool_account_create` with this one as parent):
    /// its reservation is carved out of this one's, its in-use counts in
    /// this one's, and this one's cap covers it.  The child keeps this
    /// account alive.
    ///
    /// Errors: [`Error::InvalidArgument`] (a `max_bytes` below one buffer,
    /// `min_bytes` above a nonzero `max_bytes`, a NUL in the name),
    /// [`Error::NoSpace`] when the reservations would not fit (the new
    /// reservation would take this account's, or one above it, beyond its
    /// cap, or the top-level ones beyond the budget), [`Error::Canceled`]
    /// after [`Pool::shutdown`], [`Error::OutOfMemory`].
    pub fn child(&self, cfg: &AccountConfig) -> Result<Account, Error> {
        AccountInner::create(self.inner.pool.clone(), Some(self.inner.clone()), cfg)
    }

    #[inline]
    fn finish(&self, rc: i32, a: *mut ffi::bufpool_alloc, n: usize) -> Result<Alloc, Error> {
        check(rc)?;
        // SAFETY: rc == 0: `a` is a live allocation of this account's pool,
        // charged to it, whose one reference is now ours.
        Ok(unsafe { Alloc::from_account(self.inner.clone(), a, n) })
    }

    #[inline(always)]
    fn allocate_ns(&self, n: usize, timeout_ns: u64) -> Result<Alloc, Error> {
        let mut a = ptr::null_mut();
        // SAFETY: the account is alive (we hold a reference) and `a` is
        // writable.
        let rc = unsafe { ffi::bufpool_account_allocate(self.inner.raw(), n, timeout_ns, &mut a) };
        self.finish(rc, a, n)
    }

    /// `n` contiguous buffers charged to this account (and the accounts
    /// above it), blocking while they do not fit
    /// (`bufpool_account_allocate` with `BUFPOOL_FOREVER`).
    ///
    /// Errors: [`Error::InvalidArgument`] for `n == 0`, [`Error::TooBig`]
    /// (at once, or while waiting once a cap was lowered or the budget
    /// shrunk below it) when `n * buffer_size` exceeds the cap of this
    /// account or of one above it, or the budget; [`Error::Canceled`] after
    /// [`Pool::shutdown`], [`Error::Deadlock`] from inside a reclaim
    /// callback of this pool, [`Error::OutOfMemory`].
    ///
    /// Inlined always, as [`Pool::allocate`] (for leak tracking's site).
    #[inline(always)]
    pub fn allocate(&self, n: usize) -> Result<Alloc, Error> {
        self.allocate_ns(n, ffi::BUFPOOL_FOREVER)
    }

    /// As [`allocate`](Account::allocate), but never blocks:
    /// [`Error::WouldBlock`] when it would wait (a cap on its path is full,
    /// or the memory is in use or reserved by other accounts).  A reclaim
    /// callback is called once before that answer (see
    /// [`set_reclaim`](Account::set_reclaim)).
    #[inline(always)]
    pub fn try_allocate(&self, n: usize) -> Result<Alloc, Error> {
        self.allocate_ns(n, 0)
    }

    /// As [`allocate`](Account::allocate), but waits at most `timeout`
    /// (CLOCK_MONOTONIC): [`Error::TimedOut`] when it runs out.  As
    /// [`Pool::allocate_timeout`]: a zero timeout is a try that reports
    /// `TimedOut`; one too large for `u64` nanoseconds waits without limit.
    #[inline(always)]
    pub fn allocate_timeout(&self, n: usize, timeout: Duration) -> Result<Alloc, Error> {
        let ns = u64::try_from(timeout.as_nanos()).unwrap_or(ffi::BUFPOOL_FOREVER);
        match self.allocate_ns(n, ns) {
            // The C call's 0 is a try (-EAGAIN); the pool's zero timeout
            // times out.
            Err(Error::WouldBlock) if ns == 0 => Err(Error::TimedOut),
            r => r,
        }
    }

    /// `n` buffers charged to this account, awaited: the future completes
    /// when they fit, without blocking a thread, under any executor;
    /// dropping it cancels the request.  Errors as
    /// [`try_allocate`](Account::try_allocate), never
    /// [`Error::WouldBlock`].  See [`AccountAllocateFuture`], which works
    /// as [`Pool::allocate_async`]'s future does, on the account's callback
    /// waiter.
    ///
    /// ```
    /// # use bufpool::{Account, Error};
    /// # async fn f(query: Account) -> Result<(), Error> {
    /// let a = query.allocate_async(4).await?; // waits, as a task, for the query's cap or the memory
    /// assert_eq!(a.buffer_count(), 4);
    /// # Ok(()) }
    /// ```
    pub fn allocate_async(&self, n: usize) -> AccountAllocateFuture {
        AccountAllocateFuture { req: Request::new(self.inner.clone(), n) }
    }

    /// Change the reservation and the cap (`bufpool_account_set_limits`),
    /// under the rules of [`AccountConfig`]: rounded down to whole buffers,
    /// and the reservations must fit.  A higher cap or a lower reservation
    /// lets in the waiting requests that now fit; a lower cap never revokes
    /// live allocations, and fails the waiting requests that can no longer
    /// fit with [`Error::TooBig`].
    ///
    /// Errors: [`Error::InvalidArgument`] (a `max_bytes` below one buffer,
    /// `min_bytes` above a nonzero `max_bytes`), [`Error::Canceled`] after
    /// [`Pool::shutdown`], [`Error::NoSpace`] when the reservations would
    /// not fit (a cap below the children's reservations, say).  On error
    /// nothing changes.
    pub fn set_limits(&self, min_bytes: usize, max_bytes: usize) -> Result<(), Error> {
        // SAFETY: the account is alive.
        check(unsafe { ffi::bufpool_account_set_limits(self.inner.raw(), min_bytes, max_bytes) })
    }

    /// A snapshot of the account's counters, its descendants' included.
    pub fn stats(&self) -> AccountStats {
        let mut s = ffi::bufpool_account_stats::default();
        // SAFETY: the account is alive and `s` is writable.
        unsafe { ffi::bufpool_account_get_stats(self.inner.raw(), &mut s) };
        s.into()
    }

    /// An async waiter with its own eventfd whose requests are charged to
    /// this account (`bufpool_account_waiter_create`): see [`Waiter`].  Its
    /// requests follow the rules of [`try_allocate`](Account::try_allocate),
    /// except that one that does not fit leaves it pending.  The waiter
    /// keeps the account alive.  Errors: [`Error::Canceled`] after
    /// [`Pool::shutdown`], [`Error::OutOfMemory`], or the eventfd's errno as
    /// [`Error::Other`] (`EMFILE`, `ENFILE`).
    pub fn waiter(&self) -> Result<Waiter, Error> {
        Waiter::new_account(self.inner.clone())
    }

    /// Set the account's reclaim callback (`bufpool_account_set_reclaim(3)`):
    /// called as [`Pool::set_reclaim`]'s is, by requests that this
    /// account's cap holds back, its descendants' included, with the bytes
    /// the account lacks (what its in-use, and its children's reserved but
    /// unused memory, exceed its cap by once the request is added).  When
    /// several caps on a request's path bind, the nearest account with a
    /// callback is called; when none binds, the pool's callback (if the
    /// pool's memory is short).  Every rule of [`Pool::set_reclaim`]
    /// holds: one call at a time for this account, outside every lock,
    /// [`Error::Deadlock`] for an allocation from the pool inside it,
    /// panics caught (the call returns 0).
    ///
    /// The closure is kept until it is replaced or cleared, or until the
    /// last `Account` handle of this account drops (its allocations,
    /// children, waiters and futures do not keep it: so it may hold
    /// allocations made through the account without keeping the account
    /// alive).  A replace or clear waits for a call running on another
    /// thread to return, then drops the old closure.
    ///
    /// ```
    /// use bufpool::{AccountConfig, Alloc, Config, Pool};
    /// use std::sync::{Arc, Mutex};
    ///
    /// # fn main() -> Result<(), bufpool::Error> {
    /// let pool = Pool::new(Config::new(4096, 64 * 4096))?;
    /// let query = pool.account(&AccountConfig { max_bytes: 4 * 4096, ..AccountConfig::new("query") })?;
    /// let spill: Arc<Mutex<Vec<Alloc>>> = Arc::default(); // what the query may give back
    /// let s = spill.clone();
    /// query.set_reclaim(move |needed| {
    ///     let mut held = s.lock().unwrap();
    ///     let mut freed = 0;
    ///     while freed < needed {
    ///         match held.pop() {
    ///             Some(a) => freed += a.byte_len(),
    ///             None => break,
    ///         }
    ///     }
    ///     freed
    /// });
    /// spill.lock().unwrap().push(query.allocate(4)?); // the cap, full
    /// let a = query.try_allocate(2)?; // the callback gives back the 4 held
    /// assert!(spill.lock().unwrap().is_empty());
    /// # drop(a);
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_reclaim<F>(&self, f: F)
    where
        F: Fn(usize) -> usize + Send + Sync + 'static,
    {
        // SAFETY: the account is alive (we hold a reference); the
        // reclaimer is a field of its AccountInner, which outlives the C
        // account.
        unsafe { self.inner.reclaim.set(Some(Arc::new(f))) }
    }

    /// Remove the account's reclaim callback and drop its closure, after a
    /// call of it running on another thread has returned (see
    /// [`set_reclaim`](Account::set_reclaim)).  Without one, nothing
    /// happens.
    pub fn clear_reclaim(&self) {
        // SAFETY: as in set_reclaim.
        unsafe { self.inner.reclaim.set(None) }
    }

    /// A watermark watch of this account's in-use bytes, its descendants'
    /// included (`bufpool_watch_create(3)` with the account): see
    /// [`Watch`] and [`Pool::watch`].  It keeps the account alive.
    ///
    /// Errors as [`Pool::watch`].
    pub fn watch(&self, high_bytes: usize, low_bytes: usize) -> Result<Watch, Error> {
        Watch::new(self.inner.pool.clone(), Some(self.inner.clone()), high_bytes, low_bytes)
    }

    /// The name it was created with.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The priority it was created with (fixed for its life).
    pub fn priority(&self) -> i32 {
        self.inner.priority
    }

    /// The parent account, or `None` for a top-level one.
    pub fn parent(&self) -> Option<Account> {
        self.inner.parent.as_ref().map(|p| Account::from_inner(p.clone()))
    }

    /// A handle to the account's pool.
    pub fn pool(&self) -> Pool {
        Pool::from_handle(self.inner.pool.clone())
    }
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("account", &self.inner.raw)
            .field("name", &self.inner.name)
            .field("priority", &self.inner.priority)
            .finish_non_exhaustive()
    }
}

// SAFETY: a try and a callback waiter of this account, whose allocations
// (charged to it) `Alloc::from_account` takes as the account's.
unsafe impl Source for Arc<AccountInner> {
    const FUTURE: &'static str = "AccountAllocateFuture";

    fn try_allocate(&self, n: usize, out: &mut *mut ffi::bufpool_alloc) -> c_int {
        // SAFETY: the account is alive (we hold a reference), `out` is
        // writable; a timeout of 0 makes it a try.
        unsafe { ffi::bufpool_account_allocate(self.raw(), n, 0, out) }
    }

    unsafe fn create_waiter(
        &self,
        f: ffi::bufpool_waiter_fn,
        arg: *mut c_void,
        out: &mut *mut ffi::bufpool_waiter,
    ) -> c_int {
        // SAFETY: the account is alive, `out` is writable; `arg` as the
        // caller promises, and the waiter goes before the account, as
        // bufpool_account_waiter_create(3) asks.
        unsafe { ffi::bufpool_account_waiter_create_callback(self.raw(), f, arg, out) }
    }

    unsafe fn adopt(&self, a: *mut ffi::bufpool_alloc, n: usize) -> Alloc {
        // SAFETY: the caller's promise: `a` is charged to this account.
        unsafe { Alloc::from_account(self.clone(), a, n) }
    }
}

/// The future of [`Account::allocate_async`]: `n` buffers charged to an
/// account, awaited without blocking a thread.
///
/// It works as [`AllocateFuture`](crate::AllocateFuture) does (the same
/// code), the request going through the account (its caps, its
/// reservation, its priority): on a callback account waiter
/// (`bufpool_account_waiter_create_callback(3)`), it works under **any
/// executor** (the C library calls back on the thread whose release, limit
/// change or shutdown makes a retry worth it, and the callback wakes the
/// task's [`Waker`](std::task::Waker): no reactor, no thread of its own),
/// a poll is a try and **never blocks**, it is **cancel-safe** (dropping
/// it drops the request and gives back memory set aside for it), and a
/// request served at once (`bufpool_account_allocate` with a zero timeout)
/// creates no waiter.  A pending request counts in the account's (and its
/// ancestors') [`waiters`](AccountStats::waiters).
///
/// It resolves to what [`Account::try_allocate`] returns, except that it
/// waits instead of failing with [`Error::WouldBlock`]: [`Error::TooBig`]
/// at once when `n` buffers exceed a cap on the account's path or the
/// budget (or later, after a cap was lowered or the budget shrunk below
/// it), [`Error::Canceled`] once the pool is shut down (a waiting future is
/// woken), [`Error::InvalidArgument`] for `n == 0`, [`Error::OutOfMemory`].
/// It holds its account (and so the pool) alive, and is `Send`, `Sync` and
/// `Unpin`.  Polling it again after it completed panics.
#[must_use = "futures do nothing unless polled"]
pub struct AccountAllocateFuture {
    req: Request<Arc<AccountInner>>,
}

impl Future for AccountAllocateFuture {
    type Output = Result<Alloc, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().req.poll(cx)
    }
}

impl fmt::Debug for AccountAllocateFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.req.debug(f, |d| {
            d.field("account", &self.req.source().name);
        })
    }
}
