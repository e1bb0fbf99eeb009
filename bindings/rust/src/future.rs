//! The async allocations: [`AllocateFuture`]
//! ([`Pool::allocate_async`](crate::Pool::allocate_async)) and, through
//! [`Request`], [`AccountAllocateFuture`](crate::AccountAllocateFuture)
//! ([`Account::allocate_async`](crate::Account::allocate_async)).  Both
//! wait on a callback waiter (`bufpool_waiter_create_callback(3)`,
//! `bufpool_account_waiter_create_callback(3)`) whose callback wakes the
//! task; they differ only in their [`Source`], a pool or an account.

use crate::alloc::Alloc;
use crate::error::Error;
use crate::ffi;
use crate::pool::Handle;
use std::fmt;
use std::future::Future;
use std::os::raw::{c_int, c_void};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// The waker of the task awaiting a pending request: what the C library's
/// callback wakes.  Boxed, so its address (the callback's `arg`) stays put
/// while the future moves; freed only after `bufpool_waiter_destroy`.
struct Slot {
    waker: Mutex<Option<Waker>>,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, Option<Waker>> {
        // A panic elsewhere cannot leave an Option<Waker> half-written.
        self.waker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Store `w` unless it wakes the same task already.  The clone and the
    /// old waker's drop run outside the lock: they are the executor's code,
    /// which may release memory and so run the callback on this thread.
    fn store(&self, w: &Waker) {
        if self.lock().as_ref().is_some_and(|old| old.will_wake(w)) {
            return;
        }
        let new = w.clone();
        let old = self.lock().replace(new);
        drop(old);
    }
}

/// The `bufpool_waiter_fn`: take the waker and wake it.
///
/// SAFETY (for the C library's call): `arg` is the `Slot` the waiter was
/// created with, alive until bufpool_waiter_destroy has returned, which
/// waits for this call on other threads.  Called from inside a destroy on
/// this thread (a waker that polls and drops the future inline), the slot
/// may be freed once `wake` returns: nothing touches it after the take.
unsafe extern "C" fn wake_slot(arg: *mut c_void) {
    // SAFETY: see above.
    let slot = unsafe { &*(arg as *const Slot) };
    let w = slot.lock().take();
    if let Some(w) = w {
        // Outside the lock: waking may poll the future at once.  A panic
        // here cannot unwind into C: extern "C" aborts instead.
        w.wake();
    }
}

/// A callback waiter and its slot: destroyed in that order.
struct Pending {
    waiter: NonNull<ffi::bufpool_waiter>,
    slot: Box<Slot>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        // SAFETY: the waiter is alive and only its future drives it
        // (`&mut`).  Destroy cancels the request (memory set aside for it
        // goes back) and waits for callbacks on other threads, so the slot
        // is freed after it, when no callback can reach it.  The pool or
        // account outlives it (Request's field order).
        unsafe { ffi::bufpool_waiter_destroy(self.waiter.as_ptr()) }
    }
}

/// What an async request allocates from: a pool ([`Handle`]) or an account
/// (`Arc<AccountInner>`, in account.rs).  Holding it keeps the pool or the
/// account alive.
///
/// # Safety
///
/// For implementors: `try_allocate` returns 0 only with `*out` a
/// live allocation of `n` buffers made through this source, whose one
/// reference goes to the caller, and the waiters of `create_waiter`
/// allocate through this source too: [`Request`] hands what they return
/// to [`adopt`](Source::adopt).
pub(crate) unsafe trait Source {
    /// The future's name, for the panic of a poll after completion.
    const FUTURE: &'static str;

    /// A try that never waits: 0 with `*out` set, `-EAGAIN` when the
    /// request would wait, or another negative errno.
    fn try_allocate(&self, n: usize, out: &mut *mut ffi::bufpool_alloc) -> c_int;

    /// A callback waiter whose requests go through this source: 0 with
    /// `*out` set, or a negative errno.
    ///
    /// SAFETY: `arg` is valid for `f` until the waiter is destroyed, and
    /// the waiter is destroyed while the source is alive.
    unsafe fn create_waiter(
        &self,
        f: ffi::bufpool_waiter_fn,
        arg: *mut c_void,
        out: &mut *mut ffi::bufpool_waiter,
    ) -> c_int;

    /// The allocation that a try or a waiter of this source returned.
    ///
    /// SAFETY: `a` is a live allocation of `n` buffers made through this
    /// source, whose one reference the caller gives to the `Alloc`.
    unsafe fn adopt(&self, a: *mut ffi::bufpool_alloc, n: usize) -> Alloc;
}

// SAFETY: a try and a callback waiter of this pool, whose allocations
// `Alloc::from_raw` takes as the pool's.
unsafe impl Source for Handle {
    const FUTURE: &'static str = "AllocateFuture";

    fn try_allocate(&self, n: usize, out: &mut *mut ffi::bufpool_alloc) -> c_int {
        // SAFETY: the pool is alive (we are a handle) and `out` is writable.
        unsafe { ffi::bufpool_try_allocate(self.inner().raw.as_ptr(), n, out) }
    }

    unsafe fn create_waiter(
        &self,
        f: ffi::bufpool_waiter_fn,
        arg: *mut c_void,
        out: &mut *mut ffi::bufpool_waiter,
    ) -> c_int {
        // SAFETY: the pool is alive, `out` is writable; `arg` as the caller
        // promises.
        unsafe { ffi::bufpool_waiter_create_callback(self.inner().raw.as_ptr(), f, arg, out) }
    }

    unsafe fn adopt(&self, a: *mut ffi::bufpool_alloc, n: usize) -> Alloc {
        // SAFETY: the caller's promise: `a` is an allocation of our pool.
        unsafe { Alloc::from_raw(self.ptr(), a, n) }
    }
}

/// An async request for `n` buffers from a [`Source`]: the state and the
/// poll of both futures.
///
/// - The first poll tries at once ([`Source::try_allocate`]); a request
///   served then creates nothing.
/// - The first poll that must wait creates the waiter: a boxed [`Slot`]
///   and a callback waiter whose `arg` it is.  Each poll stores the task's
///   waker in the slot, then tries (`bufpool_waiter_allocate`): a callback
///   between the two finds this waker, and one before the store is seen
///   by the try.
/// - Dropped, it destroys the waiter (the request is canceled) before the
///   slot and the source.
pub(crate) struct Request<S: Source> {
    n: usize,
    done: bool,
    // Dropped before the source: a waiter must go before its pool or account.
    pending: Option<Pending>,
    source: S,
}

// SAFETY: the waiter is driven only through `&mut self` (poll, drop), one
// thread at a time wherever the request moves, as bufpool(3) asks; the
// callback may run on any thread and touches only the slot (a Mutex).  The
// Waker is Send + Sync, and so is the source (a pool handle, an account's
// Arc) where S is.
unsafe impl<S: Source + Send> Send for Request<S> {}
// SAFETY: through `&Request` only the plain fields (n, done, whether it
// waits) and `&S` are reached, never the waiter or the slot.
unsafe impl<S: Source + Sync> Sync for Request<S> {}

impl<S: Source> Request<S> {
    pub(crate) fn new(source: S, n: usize) -> Request<S> {
        Request { n, done: false, pending: None, source }
    }

    pub(crate) fn source(&self) -> &S {
        &self.source
    }

    /// The C result as a poll result: 0 Ready(Ok), -EAGAIN Pending.
    fn finish(&mut self, rc: c_int, a: *mut ffi::bufpool_alloc) -> Poll<Result<Alloc, Error>> {
        if rc == -ffi::EAGAIN {
            return Poll::Pending;
        }
        self.done = true;
        if rc != 0 {
            return Poll::Ready(Err(Error::from_code(rc)));
        }
        // SAFETY: rc == 0: `a` is a live allocation made through our source
        // (its try or its waiter), and its one reference is ours.
        Poll::Ready(Ok(unsafe { self.source.adopt(a, self.n) }))
    }

    /// The first wait: the slot, then the waiter whose `arg` it is.
    fn start_waiting(&mut self) -> Result<NonNull<ffi::bufpool_waiter>, Error> {
        let slot = Box::new(Slot { waker: Mutex::new(None) });
        let arg = &*slot as *const Slot as *mut c_void;
        let mut w = ptr::null_mut();
        // SAFETY: `arg` outlives the waiter and the source outlives both
        // (Pending's drop order, then Request's field order).
        let rc = unsafe { self.source.create_waiter(Some(wake_slot), arg, &mut w) };
        if rc != 0 {
            return Err(Error::from_code(rc));
        }
        let waiter = NonNull::new(w).expect("a callback waiter's create returned 0 and no waiter");
        Ok(self.pending.insert(Pending { waiter, slot }).waiter)
    }

    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<Alloc, Error>> {
        assert!(!self.done, "bufpool::{} polled after completion", S::FUTURE);
        let mut a = ptr::null_mut();
        let waiter = match &self.pending {
            Some(p) => p.waiter,
            None => {
                // First poll: a request served at once needs no waiter.
                let rc = self.source.try_allocate(self.n, &mut a);
                if rc != -ffi::EAGAIN {
                    return self.finish(rc, a);
                }
                match self.start_waiting() {
                    Ok(w) => w,
                    Err(e) => {
                        self.done = true;
                        return Poll::Ready(Err(e));
                    }
                }
            }
        };
        // The waker first, then the try: a callback between the two finds
        // this waker, and one before the store is seen by the try.
        self.pending.as_ref().expect("waiting").slot.store(cx.waker());
        // SAFETY: the waiter is alive and `&mut self` makes this the only
        // call on it; `a` is writable.
        let rc = unsafe { ffi::bufpool_waiter_allocate(waiter.as_ptr(), self.n, &mut a) };
        self.finish(rc, a)
    }

    /// A future's Debug: `n`, the fields `extra` adds, `waiting`, `done`.
    pub(crate) fn debug(
        &self,
        f: &mut fmt::Formatter<'_>,
        extra: impl FnOnce(&mut fmt::DebugStruct<'_, '_>),
    ) -> fmt::Result {
        let mut d = f.debug_struct(S::FUTURE);
        d.field("n", &self.n);
        extra(&mut d);
        d.field("waiting", &self.pending.is_some()).field("done", &self.done).finish_non_exhaustive()
    }
}

/// The future of [`Pool::allocate_async`](crate::Pool::allocate_async):
/// `n` buffers, awaited without blocking a thread.
///
/// - **Any executor.**  It relies on nothing but [`Waker`]: the C library
///   calls back (`bufpool_waiter_create_callback(3)`) on the thread whose
///   release (or budget change, or shutdown) makes a retry worth it, and
///   the callback wakes the task.  No reactor, no thread of its own.
/// - **Never blocks.**  A poll is a try (`bufpool_try_allocate`, then
///   `bufpool_waiter_allocate`), never a wait.  The first poll that must
///   wait creates the waiter (one heap slot and one C waiter); a request
///   served at once creates none.
/// - **Cancel-safe.**  Dropping the future before it completes drops the
///   request: in FIFO mode it leaves the queue, and memory the pool had
///   already set aside for it goes to the next request.  Nothing is
///   allocated for a future that never returned `Ready(Ok)`.  The drop
///   waits only for a wake-up call of this future running on another
///   thread at that moment (it takes a waker and wakes it).
/// - **Fair as the pool.**  Between polls the request stays queued: in a
///   [FIFO](crate::Config::fifo) pool it keeps its place, in the default
///   mode it is woken whenever the free budget covers it and may lose the
///   race to another request (then it waits again).
///
/// It resolves to what [`Pool::try_allocate`](crate::Pool::try_allocate)
/// returns, except that it waits instead of failing with
/// [`Error::WouldBlock`]: [`Error::TooBig`] at once when `n` buffers exceed
/// the whole budget (or after a shrink while waiting),
/// [`Error::Canceled`] once the pool is shut down (a waiting future is
/// woken), [`Error::InvalidArgument`] for `n == 0`, [`Error::OutOfMemory`].
/// It holds its pool alive, like a [`Pool`](crate::Pool) handle, and is
/// `Send`, `Sync` and `Unpin`.  Polling it again after it completed panics.
#[must_use = "futures do nothing unless polled"]
pub struct AllocateFuture {
    req: Request<Handle>,
}

impl AllocateFuture {
    pub(crate) fn new(pool: Handle, n: usize) -> AllocateFuture {
        AllocateFuture { req: Request::new(pool, n) }
    }
}

impl Future for AllocateFuture {
    type Output = Result<Alloc, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().req.poll(cx)
    }
}

impl fmt::Debug for AllocateFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.req.debug(f, |_| {})
    }
}
