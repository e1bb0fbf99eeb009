//! [`Pool`], its [`Config`] and [`Stats`].

use crate::account::{Account, AccountConfig};
use crate::alloc::{Alloc, IoVec};
use crate::error::{Error, check};
use crate::ffi;
use crate::future::AllocateFuture;
use crate::reclaim::{Reclaimer, Target};
use crate::sys;
use crate::waiter::Waiter;
use crate::watch::Watch;
use std::fmt;
use std::io;
use std::mem::size_of;
use std::os::raw::{c_char, c_uint};
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering, fence};
use std::time::Duration;

/// What a pool is made of: the buffer size, the budget, and the mode flags
/// of `bufpool_create(3)`.
///
/// ```
/// use bufpool::Config;
/// let plain = Config::new(4096, 64 << 20);
/// let fifo = Config { fifo: true, ..Config::new(4096, 64 << 20) };
/// let region = Config { region: true, hugepages: true, ..Config::new(4096, 16 << 20) };
/// # let _ = (plain, fifo, region);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Config {
    /// Bytes per buffer: a power of two from 8 to 1 GiB.
    pub buffer_size: usize,
    /// The budget in bytes, at least `buffer_size`.
    pub max_memory: usize,
    /// `BUFPOOL_FIFO`: waiting requests are served strictly in arrival
    /// order (blocked calls and waiters alike); `try_allocate` fails with
    /// [`Error::WouldBlock`] while anyone waits.
    pub fifo: bool,
    /// `BUFPOOL_REGION`: reserve `max_memory` up front as one mapping that
    /// never moves, for io_uring fixed buffers ([`Pool::region_iovecs`],
    /// [`Alloc::buf_index`]).
    pub region: bool,
    /// `BUFPOOL_HUGEPAGES` (with `region`): huge pages where possible,
    /// falling back silently.
    pub hugepages: bool,
    /// `BUFPOOL_LOCKED` (with `region`): mlock the region; `Pool::new` fails
    /// with the mlock error if that is refused.
    pub locked: bool,
    /// `BUFPOOL_TRACK`: leak tracking.  About 1 allocation in 113 (1 in
    /// `N` with `BUFPOOL_TRACK=N` in the environment when the pool is
    /// created, which applies to every pool, flag or not) remembers its
    /// call site and its birth, until its last release;
    /// [`Pool::report_live`] lists the live ones by site.  A pool without
    /// it pays one decrement per allocation.
    pub track: bool,
}

impl Config {
    /// A configuration in the default (opportunistic) mode, no flags.
    pub const fn new(buffer_size: usize, max_memory: usize) -> Config {
        Config {
            buffer_size,
            max_memory,
            fifo: false,
            region: false,
            hugepages: false,
            locked: false,
            track: false,
        }
    }

    fn flags(&self) -> c_uint {
        let mut f = 0;
        if self.fifo {
            f |= ffi::BUFPOOL_FIFO;
        }
        if self.region {
            f |= ffi::BUFPOOL_REGION;
        }
        if self.hugepages {
            f |= ffi::BUFPOOL_HUGEPAGES;
        }
        if self.locked {
            f |= ffi::BUFPOOL_LOCKED;
        }
        if self.track {
            f |= ffi::BUFPOOL_TRACK;
        }
        f
    }
}

/// A snapshot of a pool's counters (`bufpool_get_stats(3)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
///
/// The counters are summed from per-thread parts without stopping the
/// threads, so a snapshot taken while others allocate is not one instant;
/// the budget figures are exact.
pub struct Stats {
    /// Bytes per buffer.
    pub buffer_size: usize,
    /// The budget now, in bytes ([`Pool::set_max_memory`] changes it).
    pub max_memory: usize,
    /// Bytes of live allocations (not yet released for the last time).
    pub in_use_bytes: usize,
    /// The highest `in_use_bytes` since the pool was created, as sampled
    /// (whenever the budget is charged, a waiter is served, or stats are
    /// read): never below this snapshot's `in_use_bytes`.
    pub peak_in_use_bytes: usize,
    /// Released memory kept for quick reuse, and memory set aside for FIFO
    /// waiters that have not collected it; it counts in the budget
    /// (`in_use_bytes + cached_bytes <= max_memory`, after a shrink once
    /// enough is released).
    pub cached_bytes: usize,
    /// The number of live allocations (a [`SharedAlloc`](crate::SharedAlloc)
    /// and its clones are one).
    pub live_allocations: usize,
    /// Requests waiting now: blocked calls plus pending async waiters.
    pub waiters: usize,
    /// Requests granted since the pool was created.
    pub total_allocations: u64,
    /// Requests that had to wait, each counted once (a blocking or timed
    /// call that queued, a [`Waiter`] request that became pending).
    pub total_waits: u64,
    /// Time blocked calls spent waiting, in nanoseconds.
    pub total_wait_ns: u64,
    /// Requests not granted, whatever the error ([`Error::WouldBlock`]
    /// included).
    pub total_failures: u64,
    /// Region mode: the longest run of free buffers, in buffers; else 0.
    pub largest_free_run: usize,
    /// Time during which at least one request was waiting (a blocked call,
    /// a pending [`Waiter`] or future, a request inside its reclaim call),
    /// in nanoseconds: the "some" of Linux's pressure stall information.
    /// Its growth over an interval, divided by the interval, is the share
    /// of it during which the budget held someone up (`bufpool_get_stats_ex`).
    pub stall_ns: u64,
}

impl From<ffi::bufpool_stats_ex> for Stats {
    fn from(s: ffi::bufpool_stats_ex) -> Stats {
        Stats { stall_ns: s.stall_ns, ..Stats::from(s.stats) }
    }
}

impl From<ffi::bufpool_stats> for Stats {
    /// The 1.0 stats, which do not count stall time: `stall_ns` is 0.
    fn from(s: ffi::bufpool_stats) -> Stats {
        Stats {
            buffer_size: s.buffer_size,
            max_memory: s.max_memory,
            in_use_bytes: s.in_use_bytes,
            peak_in_use_bytes: s.peak_in_use_bytes,
            cached_bytes: s.cached_bytes,
            live_allocations: s.live_allocations,
            waiters: s.waiters,
            total_allocations: s.total_allocations,
            total_waits: s.total_waits,
            total_wait_ns: s.total_wait_ns,
            total_failures: s.total_failures,
            largest_free_run: s.largest_free_run,
            stall_ns: 0,
        }
    }
}

/// The C pool, shared by the handles that may start calls on it: every
/// [`Pool`] and [`Waiter`] holds a [`Handle`] (a count in `handles`).
/// Allocations hold a plain pointer to it, uncounted: no atomic operation
/// per allocation.
///
/// When the last handle drops, no call can start on the pool any more, and
/// [`close`] destroys it: at once when no allocation is live, else on a
/// thread of its own, where `bufpool_destroy` waits for the allocations
/// still out (the dropping thread may hold some, and may release them only
/// later).  The `Inner` is freed after `bufpool_destroy` returns, so an
/// allocation may read it (`buffer_size`, `handles`) as long as it lives.
pub(crate) struct Inner {
    pub(crate) raw: NonNull<ffi::bufpool>,
    pub(crate) buffer_size: usize,
    /// Live [`Handle`]s.  Once 0 it never rises again ([`Handle::upgrade`]).
    handles: AtomicUsize,
    /// Live [`Pool`]s (each holds a handle too): when the last drops, the
    /// pool's reclaim closure goes ([`Pool::set_reclaim`]).  Unlike
    /// `handles`, it may rise again from 0 ([`Alloc::pool`] while a waiter
    /// or an account still holds a handle).
    users: AtomicUsize,
    /// The pool's reclaim closure; its address is the C callback's `arg`.
    reclaim: Reclaimer,
}

/// A counted reference to an [`Inner`]: what [`Pool`] and [`Waiter`] hold.
pub(crate) struct Handle {
    inner: NonNull<Inner>,
}

// SAFETY: the C pool is not tied to the thread that created it, and every
// bufpool_* function on a pool is thread-safe (bufpool(3), THREAD SAFETY),
// except bufpool_destroy, which only `close` calls, once the last handle has
// dropped (no call can start after that) and no allocation can start a call
// either (destroy waits for them, on another thread when some are live).
// The counts are atomic, and the reclaimer keeps its closure (Send + Sync)
// behind a Mutex.  So a Handle may move to, and be used through `&Handle`
// from, any thread.
unsafe impl Send for Handle {}
// SAFETY: see Send: through `&Handle` only the thread-safe functions are
// called, the counts are changed atomically and the reclaimer under its
// lock.
unsafe impl Sync for Handle {}

impl Handle {
    fn new(raw: NonNull<ffi::bufpool>, buffer_size: usize) -> Handle {
        let inner = Box::new(Inner {
            raw,
            buffer_size,
            handles: AtomicUsize::new(1),
            users: AtomicUsize::new(0),
            reclaim: Reclaimer::new(Target::Pool(raw)),
        });
        Handle { inner: NonNull::from(Box::leak(inner)) }
    }

    #[inline]
    pub(crate) fn inner(&self) -> &Inner {
        // SAFETY: a handle keeps the Inner alive (it is freed only after the
        // count has dropped to 0 and bufpool_destroy has returned).
        unsafe { self.inner.as_ref() }
    }

    /// The pointer allocations keep.
    #[inline]
    pub(crate) fn ptr(&self) -> NonNull<Inner> {
        self.inner
    }

    /// A new handle, unless the last one has dropped already (then the pool
    /// is being destroyed and no call may start on it).
    ///
    /// SAFETY: `inner` is alive: the caller holds an allocation of it (the
    /// Inner is freed only after bufpool_destroy, which waits for it).
    pub(crate) unsafe fn upgrade(inner: NonNull<Inner>) -> Option<Handle> {
        // SAFETY: the caller's promise.
        let count = unsafe { &inner.as_ref().handles };
        // As Arc's Weak::upgrade: only from a count above 0, so a pool whose
        // last handle dropped is never brought back.  Acquire: pairs with
        // the Release of the handle drops, as Arc does.
        count
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |n| {
                if n == 0 {
                    return None;
                }
                assert!(n < isize::MAX as usize, "bufpool: too many pool handles");
                Some(n + 1)
            })
            .ok()
            .map(|_| Handle { inner })
    }
}

impl Clone for Handle {
    #[inline]
    fn clone(&self) -> Handle {
        // Relaxed, as Arc::clone: the new handle comes from a live one, so the
        // count cannot reach 0 meanwhile.
        let old = self.inner().handles.fetch_add(1, Ordering::Relaxed);
        if old > isize::MAX as usize {
            std::process::abort(); // as Arc: a count this high is a leak loop
        }
        Handle { inner: self.inner }
    }
}

impl Drop for Handle {
    #[inline]
    fn drop(&mut self) {
        // Release, then Acquire for the last one, as Arc: every use of the
        // pool through other handles happens before the destroy.
        if self.inner().handles.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        close(self.inner);
    }
}

/// A pointer that may move to the destroying thread.
struct Closing(NonNull<Inner>);
// SAFETY: nothing else uses the pool's handles any more (the count is 0);
// the C destroy may run on any thread.
unsafe impl Send for Closing {}

impl Closing {
    /// Destroy the C pool (waiting for its live allocations), then free the
    /// Inner.
    fn destroy(self) {
        // SAFETY: the last handle dropped, so no call starts on the pool any
        // more; the allocations still live only release (and retain, and read
        // their own headers and the Inner), which bufpool_destroy waits for.
        // The Inner was made by Box::new in Handle::new, and after destroy
        // returns nothing reads it: every allocation is gone.
        unsafe {
            ffi::bufpool_destroy(self.0.as_ref().raw.as_ptr());
            drop(Box::from_raw(self.0.as_ptr()));
        }
    }
}

/// The last handle of `inner` dropped: destroy the C pool without blocking
/// this thread.
#[cold]
fn close(inner: NonNull<Inner>) {
    let c = Closing(inner);
    let mut s = ffi::bufpool_stats::default();
    // SAFETY: the pool is alive (destroy has not run) and `s` is writable.
    unsafe { ffi::bufpool_get_stats(c.0.as_ref().raw.as_ptr(), &mut s) };
    if s.live_allocations == 0 {
        // Nothing to wait for: no handle is left to allocate with, and every
        // allocation made through one is counted in the sum (its counter
        // was written before that handle's drop, which happens before this).
        // This relies on live_allocations never reading 0 while such an
        // allocation is live (bufpool_get_stats(3): concurrent releases can
        // only make it read higher); tests/lifetimes.rs holds one across a
        // drop, so an inline destroy would hang it.
        c.destroy();
        return;
    }
    // Allocations are out, maybe held by this very thread: bufpool_destroy
    // waits for them on a thread of its own, so that dropping a Pool never
    // blocks.  Should no thread be available, the pool is left alive (its
    // allocations stay valid; its memory is not given back).
    let _ = std::thread::Builder::new()
        .name("bufpool-destroy".into())
        .stack_size(64 << 10)
        .spawn(move || c.destroy());
}

/// A memory-budgeted pool of fixed-size buffers with backpressure.
///
/// `Pool` is a cheap handle (`Clone` shares the same pool) and is `Send`
/// and `Sync`: one pool serves any number of threads.  When the last `Pool`
/// and [`Waiter`] of it have dropped, the C pool is destroyed once its last
/// allocation is released; the drop never blocks (see the crate docs,
/// "Lifetimes").
pub struct Pool {
    pub(crate) handle: Handle,
}

impl Clone for Pool {
    fn clone(&self) -> Pool {
        Pool::from_handle(self.handle.clone())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let inner = self.handle.inner();
        // AcqRel: the last drop sees every other Pool's use (a set_reclaim)
        // as done.  The handle (a field) drops after this body, so the
        // pool is alive for the forget.
        if inner.users.fetch_sub(1, Ordering::AcqRel) == 1 {
            // SAFETY: the pool is alive (our handle), and its Inner (which
            // holds the reclaimer) outlives every call of the C pool.
            unsafe { inner.reclaim.forget(|| inner.users.load(Ordering::Acquire) == 0) };
        }
    }
}

impl Pool {
    /// A `Pool` of `handle`'s pool: one more user (see [`Inner::users`]).
    pub(crate) fn from_handle(handle: Handle) -> Pool {
        handle.inner().users.fetch_add(1, Ordering::Relaxed);
        Pool { handle }
    }

    /// Create a pool (`bufpool_create`).
    ///
    /// Errors: [`Error::InvalidArgument`] for a bad configuration (a buffer
    /// size that is no power of two in 8 .. 1 GiB, a budget below it,
    /// `hugepages` or `locked` without `region`), [`Error::OutOfMemory`],
    /// and with `region` the mapping's or mlock's error.
    pub fn new(cfg: Config) -> Result<Pool, Error> {
        let c = ffi::bufpool_config {
            buffer_size: cfg.buffer_size,
            max_memory: cfg.max_memory,
            flags: cfg.flags(),
        };
        let mut raw = ptr::null_mut();
        // SAFETY: both pointers are valid for the call; the config is read only.
        check(unsafe { ffi::bufpool_create(&mut raw, &c) })?;
        let raw = NonNull::new(raw).expect("bufpool_create returned 0 and no pool");
        Ok(Pool::from_handle(Handle::new(raw, cfg.buffer_size)))
    }

    #[inline]
    fn raw(&self) -> *mut ffi::bufpool {
        self.handle.inner().raw.as_ptr()
    }

    /// Bytes per buffer.
    pub fn buffer_size(&self) -> usize {
        self.handle.inner().buffer_size
    }

    #[inline]
    fn finish(&self, rc: i32, a: *mut ffi::bufpool_alloc, n: usize) -> Result<Alloc, Error> {
        check(rc)?;
        // SAFETY: rc == 0: `a` is a live allocation of this pool whose one
        // reference is now ours.
        Ok(unsafe { Alloc::from_raw(self.handle.ptr(), a, n) })
    }

    /// `n` contiguous buffers, blocking while the budget is short.
    ///
    /// Errors: [`Error::InvalidArgument`] for `n == 0`, [`Error::TooBig`]
    /// (at once) when `n * buffer_size` exceeds the budget,
    /// [`Error::Canceled`] after [`shutdown`](Pool::shutdown),
    /// [`Error::Deadlock`] from inside a reclaim callback of this pool, and
    /// [`Error::OutOfMemory`].
    ///
    /// Inlined always, so that the C call's caller, the site that leak
    /// tracking records ([`Config::track`]), is the caller's function.
    #[inline(always)]
    pub fn allocate(&self, n: usize) -> Result<Alloc, Error> {
        let mut a = ptr::null_mut();
        // SAFETY: the pool is alive (we hold a handle) and `a` is writable.
        let rc = unsafe { ffi::bufpool_allocate(self.raw(), n, &mut a) };
        self.finish(rc, a, n)
    }

    /// As [`allocate`](Pool::allocate), but never blocks:
    /// [`Error::WouldBlock`] when it would wait.  A reclaim callback
    /// ([`set_reclaim`](Pool::set_reclaim)) is called once before that
    /// answer, unless one of its calls is running already.
    #[inline(always)]
    pub fn try_allocate(&self, n: usize) -> Result<Alloc, Error> {
        let mut a = ptr::null_mut();
        // SAFETY: as in allocate.
        let rc = unsafe { ffi::bufpool_try_allocate(self.raw(), n, &mut a) };
        self.finish(rc, a, n)
    }

    /// As [`allocate`](Pool::allocate), but waits at most `timeout`
    /// (CLOCK_MONOTONIC): [`Error::TimedOut`] when it runs out.  A zero
    /// timeout is a try that reports `TimedOut`; one too large for `u64`
    /// nanoseconds waits without limit.
    #[inline(always)]
    pub fn allocate_timeout(&self, n: usize, timeout: Duration) -> Result<Alloc, Error> {
        let ns = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        let mut a = ptr::null_mut();
        // SAFETY: as in allocate.
        let rc = unsafe { ffi::bufpool_allocate_timeout(self.raw(), n, ns, &mut a) };
        self.finish(rc, a, n)
    }

    /// `n` contiguous buffers, awaited: the future completes when the
    /// budget covers them, without blocking a thread, under any executor;
    /// dropping it cancels the request.  Errors as
    /// [`try_allocate`](Pool::try_allocate), never [`Error::WouldBlock`].
    /// See [`AllocateFuture`].
    ///
    /// ```
    /// # use bufpool::{Config, Pool};
    /// # async fn f(pool: Pool) -> Result<(), bufpool::Error> {
    /// let a = pool.allocate_async(4).await?; // waits, as a task, while the budget is short
    /// assert_eq!(a.buffer_count(), 4);
    /// # Ok(()) }
    /// ```
    pub fn allocate_async(&self, n: usize) -> AllocateFuture {
        AllocateFuture::new(self.handle.clone(), n)
    }

    /// A snapshot of the counters; never blocks the allocation path.
    ///
    /// (`bufpool_get_stats_ex`, for [`Stats::stall_ns`]: the 1.0
    /// `bufpool_get_stats` and its struct stay as they were.)
    pub fn stats(&self) -> Stats {
        let mut s = ffi::bufpool_stats_ex::default();
        // SAFETY: the pool is alive and `s` is writable for its size.
        let rc = unsafe { ffi::bufpool_get_stats_ex(self.raw(), &mut s, size_of::<ffi::bufpool_stats_ex>()) };
        // Only a NULL pool or out, or a size below the 1.0 struct, fail.
        debug_assert_eq!(rc, 0, "bufpool_get_stats_ex");
        s.into()
    }

    /// Set the pool's reclaim callback (`bufpool_set_reclaim(3)`): `f` is
    /// called by a request that is about to wait for memory, before it
    /// sleeps, with the bytes it lacks (not its size: what the budget is
    /// short by, the requests ahead of it included in a FIFO pool), so that
    /// the application can give memory back (evict a cache entry, spill)
    /// instead of waiting for someone else to.  It returns the bytes it
    /// released or expects to release soon; 0 means "nothing more for this
    /// request".  It replaces a callback set before.
    ///
    /// - **When.**  A blocking or timed request calls it before its first
    ///   sleep, and again after a wake that still finds it short, as long
    ///   as the previous call returned more than 0; if the callback
    ///   released enough, the request succeeds without sleeping.
    ///   [`try_allocate`](Pool::try_allocate), a [`Waiter`]'s request and
    ///   a future's poll call it once and then answer.  Requests through an
    ///   [`Account`] call it when the pool's memory is what they lack (no
    ///   account's cap on their path binds, or the accounts that bind have
    ///   no callback).
    /// - **Where.**  On the requesting thread, outside every lock of the
    ///   pool, one call at a time for this pool (a try that finds a call
    ///   running answers [`Error::WouldBlock`]; a blocking request waits
    ///   and gets its own call after it), never after
    ///   [`shutdown`](Pool::shutdown).  Inside it, releasing allocations
    ///   (dropping them) is the point, and reading [`stats`](Pool::stats),
    ///   taking the application's own locks and allocating from other pools
    ///   are fine; an allocation from this pool (through it or any of its
    ///   accounts) fails at once with [`Error::Deadlock`].
    /// - **Panics.**  A panic in `f` does not unwind into the C library:
    ///   it is caught, the panic hook has reported it (the default one
    ///   prints it), and the call counts as returning 0, so the request
    ///   goes on as without a callback.  The callback stays set.
    /// - **Its life.**  `f` is kept until it is replaced or cleared
    ///   ([`clear_reclaim`](Pool::clear_reclaim)), or until the last
    ///   `Pool` handle of the pool drops (accounts, waiters, futures and
    ///   allocations do not keep it: so `f` may hold allocations of the
    ///   pool, as a cache does, without keeping the pool alive; a `Pool`
    ///   handle it holds does, until it is cleared).  A replace or clear
    ///   waits for a call running on another thread to return, then drops
    ///   the old closure: once it returns, the old closure is gone.  Called
    ///   from inside a call of the callback (which the C library does not
    ///   wait for), the running call keeps the old closure and drops it
    ///   when it returns.  The last handle's drop never waits: a closure
    ///   that is running then is dropped when its call returns.
    ///
    /// ```
    /// use bufpool::{Alloc, Config, Pool};
    /// use std::sync::{Arc, Mutex};
    ///
    /// # fn main() -> Result<(), bufpool::Error> {
    /// let pool = Pool::new(Config::new(4096, 8 * 4096))?;
    /// // A cache of allocations: the callback evicts the oldest entries.
    /// let cache: Arc<Mutex<Vec<Alloc>>> = Arc::default();
    /// let c = cache.clone();
    /// pool.set_reclaim(move |needed| {
    ///     let mut entries = c.lock().unwrap();
    ///     let mut freed = 0;
    ///     while freed < needed && !entries.is_empty() {
    ///         freed += entries.remove(0).byte_len(); // dropped: released
    ///     }
    ///     freed
    /// });
    /// for _ in 0..8 {
    ///     let a = pool.allocate(1)?;
    ///     cache.lock().unwrap().push(a);
    /// }
    /// let big = pool.allocate(4)?; // the callback evicts 4 entries: no wait
    /// assert_eq!(cache.lock().unwrap().len(), 4);
    /// # drop(big);
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_reclaim<F>(&self, f: F)
    where
        F: Fn(usize) -> usize + Send + Sync + 'static,
    {
        // SAFETY: the pool is alive (we hold a handle); the reclaimer is a
        // field of its Inner, which outlives the C pool.
        unsafe { self.handle.inner().reclaim.set(Some(Arc::new(f))) }
    }

    /// Remove the pool's reclaim callback (`bufpool_set_reclaim(3)` with
    /// NULL) and drop its closure, after a call of it running on another
    /// thread has returned (see [`set_reclaim`](Pool::set_reclaim)).
    /// Without one, nothing happens.
    pub fn clear_reclaim(&self) {
        // SAFETY: as in set_reclaim.
        unsafe { self.handle.inner().reclaim.set(None) }
    }

    /// Leak tracking: write the live sampled allocations at least `min_age`
    /// old to `out`, one line per call site, the site holding the most
    /// bytes first (`bufpool_report_live(3)`), and return the number of
    /// sites.  With [`Config::track`] (or `BUFPOOL_TRACK=N` in the
    /// environment when the pool was created), about 1 allocation in 113
    /// (1 in `N`) remembers its call site; without, it writes one line
    /// saying that tracking is off and returns 0.
    ///
    /// ```text
    /// bufpool: live sampled allocations (1 in 113) older than 1000.000 ms: 2 sites
    ///   37 allocations, 151552 bytes, oldest 5230.114 ms: 0x55d0c2a1f4d8 (/usr/bin/db+0x44d8)
    ///   2 allocations, 8192 bytes, oldest 1204.500 ms: read_block+0x4c (/usr/bin/db)
    /// ```
    ///
    /// The site is the function that called the C allocate call: the
    /// crate's allocate calls are inlined always, so that is the function
    /// that called [`allocate`](Pool::allocate),
    /// [`try_allocate`](Pool::try_allocate),
    /// [`allocate_timeout`](Pool::allocate_timeout), an [`Account`]'s or a
    /// [`Waiter`]'s; the futures' allocations are all made from the
    /// crate's `poll`, so they show as its sites.  Names come from
    /// `dladdr(3)`, which sees only exported symbols: a Rust program's own
    /// functions show as an address and its offset in the program, which
    /// `addr2line -f -C -e PROGRAM OFFSET` names (or link with
    /// `-C link-arg=-rdynamic`).
    ///
    /// The C library writes the report into memory (`open_memstream(3)`),
    /// which is then written to `out` whole.  Errors: the writer's, and
    /// [`Error::OutOfMemory`] (as an `io::Error`) when the report or its
    /// stream could not be made.
    pub fn report_live<W: io::Write + ?Sized>(&self, min_age: Duration, out: &mut W) -> io::Result<usize> {
        let ns = u64::try_from(min_age.as_nanos()).unwrap_or(u64::MAX);
        let mut buf: *mut c_char = ptr::null_mut();
        let mut len = 0usize;
        // SAFETY: `buf` and `len` are writable and outlive the stream (it
        // is closed below).
        let f = unsafe { sys::open_memstream(&mut buf, &mut len) };
        if f.is_null() {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the pool is alive and `f` is an open stream.
        let rc = unsafe { ffi::bufpool_report_live(self.raw(), ns, f) };
        // SAFETY: `f` is open, and no one else has it.  fclose sets `buf`
        // (malloc'ed, NUL-terminated) and `len` (the bytes written).
        let closed = unsafe { sys::fclose(f) };
        let text = if buf.is_null() {
            Vec::new()
        } else {
            // SAFETY: after fclose, `buf` holds `len` bytes written by the
            // stream; it is ours to free, after the copy.
            let v = unsafe { std::slice::from_raw_parts(buf as *const u8, len) }.to_vec();
            // SAFETY: allocated by the stream with malloc; nothing reads it
            // any more.
            unsafe { sys::free(buf.cast()) };
            v
        };
        if rc < 0 {
            return Err(Error::from_code(rc).into());
        }
        if closed != 0 {
            return Err(io::Error::from(Error::OutOfMemory)); // a failed write to memory
        }
        out.write_all(&text)?;
        Ok(rc as usize)
    }

    /// A watermark watch of the pool's in-use bytes
    /// (`bufpool_watch_create(3)`): its fd turns readable when they rise
    /// to `high_bytes` or above, and again when they fall to `low_bytes` or
    /// below after that.  See [`Watch`].  It keeps the pool alive, as a
    /// handle does.
    ///
    /// Errors: [`Error::InvalidArgument`] unless `low_bytes < high_bytes`
    /// (and `high_bytes > 0`), [`Error::Canceled`] after
    /// [`shutdown`](Pool::shutdown), [`Error::OutOfMemory`], or the
    /// eventfd's errno as [`Error::Other`] (`EMFILE`, `ENFILE`).
    pub fn watch(&self, high_bytes: usize, low_bytes: usize) -> Result<Watch, Error> {
        Watch::new(self.handle.clone(), None, high_bytes, low_bytes)
    }

    /// Change the budget.  Growing wakes waiters that now fit; shrinking
    /// never revokes live allocations and fails waiters that can no longer
    /// fit with [`Error::TooBig`].  [`Error::InvalidArgument`] below the
    /// buffer size, or (region mode) beyond the region; [`Error::NoSpace`]
    /// below what the top-level [`Account`]s reserve.
    pub fn set_max_memory(&self, bytes: usize) -> Result<(), Error> {
        // SAFETY: the pool is alive.
        check(unsafe { ffi::bufpool_set_max_memory(self.raw(), bytes) })
    }

    /// Fail every waiting and every later request with [`Error::Canceled`].
    /// Live allocations stay valid.  Idempotent, never blocks.
    pub fn shutdown(&self) {
        // SAFETY: the pool is alive.
        unsafe { ffi::bufpool_shutdown(self.raw()) }
    }

    /// Region mode: the whole region as one iovec (`bufpool_region`), for
    /// `io_uring_register_buffers(ring, &iov, 1)` when it is at most 1 GiB.
    /// [`Error::NotSupported`] without `region`.
    pub fn region(&self) -> Result<IoVec, Error> {
        let mut v = ffi::iovec { iov_base: ptr::null_mut(), iov_len: 0 };
        // SAFETY: the pool is alive and `v` is writable.
        check(unsafe { ffi::bufpool_region(self.raw(), &mut v) })?;
        Ok(v)
    }

    /// Region mode: the region in pieces of at most 1 GiB, in address order,
    /// each a valid io_uring fixed buffer (`bufpool_region_iovecs`): register
    /// them all, and [`Alloc::buf_index`] names the piece that holds an
    /// allocation.  [`Error::NotSupported`] without `region`.
    pub fn region_iovecs(&self) -> Result<Vec<IoVec>, Error> {
        // SAFETY: the pool is alive; NULL and 0 ask for the count alone.
        let count = unsafe { ffi::bufpool_region_iovecs(self.raw(), ptr::null_mut(), 0) };
        if count < 0 {
            return Err(Error::from_code(count));
        }
        let mut v = vec![ffi::iovec { iov_base: ptr::null_mut(), iov_len: 0 }; count as usize];
        // SAFETY: `v` has room for `count` iovecs; the region never changes.
        let got = unsafe { ffi::bufpool_region_iovecs(self.raw(), v.as_mut_ptr(), count as c_uint) };
        if got < 0 {
            return Err(Error::from_code(got));
        }
        v.truncate(got as usize);
        Ok(v)
    }

    /// A top-level account of this pool (`bufpool_account_create` without
    /// a parent): see [`Account`].  It keeps the pool alive, as a handle does.
    ///
    /// Errors: [`Error::InvalidArgument`] (a `max_bytes` below one buffer,
    /// `min_bytes` above a nonzero `max_bytes`, a NUL in the name),
    /// [`Error::NoSpace`] when the top-level reservations would exceed the
    /// budget (or the reservation its own cap), [`Error::Canceled`] after
    /// [`shutdown`](Pool::shutdown), [`Error::OutOfMemory`].
    pub fn account(&self, cfg: &AccountConfig) -> Result<Account, Error> {
        Account::new(self.handle.clone(), cfg)
    }

    /// An async waiter with its own eventfd (`bufpool_waiter_create`): see
    /// [`Waiter`].  Errors: [`Error::OutOfMemory`], or the eventfd's errno
    /// as [`Error::Other`] (`EMFILE`, `ENFILE`).
    pub fn waiter(&self) -> Result<Waiter, Error> {
        Waiter::new(self.handle.clone())
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("pool", &self.handle.inner().raw)
            .field("buffer_size", &self.handle.inner().buffer_size)
            .finish_non_exhaustive()
    }
}
