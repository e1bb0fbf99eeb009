//! [`AllocateFuture`]: [`Pool::allocate_async`](crate::Pool::allocate_async),
//! on a callback waiter (`bufpool_waiter_create_callback(3)`).

use crate::alloc::Alloc;
use crate::error::Error;
use crate::ffi;
use crate::pool::Handle;
use std::fmt;
use std::future::Future;
use std::os::raw::c_void;
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
        // is freed after it, when no callback can reach it.
        unsafe { ffi::bufpool_waiter_destroy(self.waiter.as_ptr()) }
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
    n: usize,
    done: bool,
    // Dropped before the handle: a waiter must go before its pool.
    pending: Option<Pending>,
    pool: Handle,
}

// SAFETY: the waiter is driven only through `&mut self` (poll, drop), one
// thread at a time wherever the future moves, as bufpool(3) asks; the
// callback may run on any thread and touches only the slot (a Mutex).  The
// pool handle and the Waker are Send + Sync.
unsafe impl Send for AllocateFuture {}
// SAFETY: `&AllocateFuture` reaches nothing: no method takes `&self`.
unsafe impl Sync for AllocateFuture {}

impl AllocateFuture {
    pub(crate) fn new(pool: Handle, n: usize) -> AllocateFuture {
        AllocateFuture { n, done: false, pending: None, pool }
    }

    fn raw_pool(&self) -> *mut ffi::bufpool {
        self.pool.inner().raw.as_ptr()
    }

    /// The C result as a poll result: 0 Ready(Ok), -EAGAIN Pending.
    fn finish(&mut self, rc: i32, a: *mut ffi::bufpool_alloc) -> Poll<Result<Alloc, Error>> {
        if rc == -ffi::EAGAIN {
            return Poll::Pending;
        }
        self.done = true;
        if rc != 0 {
            return Poll::Ready(Err(Error::from_code(rc)));
        }
        // SAFETY: rc == 0: `a` is a live allocation of our pool and its one
        // reference is ours.
        Poll::Ready(Ok(unsafe { Alloc::from_raw(self.pool.ptr(), a, self.n) }))
    }

    /// The first wait: the slot, then the waiter whose `arg` it is.
    fn start_waiting(&mut self) -> Result<&Pending, Error> {
        let slot = Box::new(Slot { waker: Mutex::new(None) });
        let arg = &*slot as *const Slot as *mut c_void;
        let mut w = ptr::null_mut();
        // SAFETY: the pool is alive (we hold a handle), `arg` outlives the
        // waiter (Pending's drop order), `w` is writable.
        let rc =
            unsafe { ffi::bufpool_waiter_create_callback(self.raw_pool(), Some(wake_slot), arg, &mut w) };
        if rc != 0 {
            return Err(Error::from_code(rc));
        }
        let waiter = NonNull::new(w).expect("bufpool_waiter_create_callback returned 0 and no waiter");
        Ok(self.pending.insert(Pending { waiter, slot }))
    }
}

impl Future for AllocateFuture {
    type Output = Result<Alloc, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "bufpool::AllocateFuture polled after completion");
        let mut a = ptr::null_mut();
        let waiter = match &this.pending {
            Some(p) => p.waiter,
            None => {
                // First poll: a request served at once needs no waiter.
                // SAFETY: the pool is alive and `a` is writable.
                let rc = unsafe { ffi::bufpool_try_allocate(this.raw_pool(), this.n, &mut a) };
                if rc != -ffi::EAGAIN {
                    return this.finish(rc, a);
                }
                match this.start_waiting() {
                    Ok(p) => p.waiter,
                    Err(e) => {
                        this.done = true;
                        return Poll::Ready(Err(e));
                    }
                }
            }
        };
        // The waker first, then the try: a callback between the two finds
        // this waker, and one before the store is seen by the try.
        this.pending.as_ref().expect("waiting").slot.store(cx.waker());
        // SAFETY: the waiter is alive and `&mut self` makes this the only
        // call on it; `a` is writable.
        let rc = unsafe { ffi::bufpool_waiter_allocate(waiter.as_ptr(), this.n, &mut a) };
        this.finish(rc, a)
    }
}

impl fmt::Debug for AllocateFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllocateFuture")
            .field("n", &self.n)
            .field("waiting", &self.pending.is_some())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
