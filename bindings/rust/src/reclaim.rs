//! Reclaim callbacks: the Rust side of `bufpool_set_reclaim(3)` and
//! `bufpool_account_set_reclaim(3)` ([`Pool::set_reclaim`](crate::Pool::set_reclaim),
//! [`Account::set_reclaim`](crate::Account::set_reclaim)).
//!
//! Each pool and each account has one [`Reclaimer`], at a fixed address
//! inside the pool's `Inner` or the account's `AccountInner`: that address
//! is the `arg` the C library calls [`trampoline`] with, and the closure is
//! not: it sits in the reclaimer as an `Arc`, which each call clones for
//! its own duration.  So memory safety never rests on when the C library
//! stops calling an old closure: a call holds what it runs, and a closure
//! replaced while one of its calls runs (from inside it, say, where the C
//! library does not wait) is dropped when that call returns.
//!
//! The C registration follows the closure: the trampoline while there is
//! one, NULL once there is none (then the pool's callback, or an ancestor
//! account's, answers in its place: `bufpool__acct_bound` in the C
//! library).  [`Reclaimer::sync`] makes it so after every change, without
//! holding a lock across the C call (which waits for a running call, and a
//! running call may itself change the closure).

use crate::ffi;
use std::mem;
use std::os::raw::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, MutexGuard};

/// A reclaim closure, as [`Pool::set_reclaim`](crate::Pool::set_reclaim)
/// takes it.
pub(crate) type ReclaimFn = dyn Fn(usize) -> usize + Send + Sync + 'static;

/// Whose callback: the C object the registration goes to.
#[derive(Clone, Copy)]
pub(crate) enum Target {
    Pool(NonNull<ffi::bufpool>),
    Account(NonNull<ffi::bufpool_account>),
}

/// One pool's or one account's reclaim closure.
pub(crate) struct Reclaimer {
    target: Target,
    state: Mutex<State>,
}

struct State {
    /// The closure the next call runs; `None`: none.
    f: Option<Arc<ReclaimFn>>,
    /// Bumped by every change of `f`: [`Reclaimer::sync`] knows by it that
    /// the C registration it made is the one `f` wants.
    seq: u64,
    /// Calls of the trampoline between their clone of `f` and their drop of
    /// it.
    running: usize,
}

impl Reclaimer {
    /// No closure, nothing registered (a new pool or account).
    pub(crate) fn new(target: Target) -> Reclaimer {
        Reclaimer { target, state: Mutex::new(State { f: None, seq: 0, running: 0 }) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Only plain fields under it, never user code: a panic elsewhere
        // cannot leave them half-written.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Set (`Some`) or clear (`None`) the closure, and the C registration
    /// with it.  The old closure is dropped here, after the C call, which
    /// waits for a call of it running on another thread: so once this
    /// returns, the old closure has been dropped and no call of it runs.
    /// From inside a call of this reclaimer (the C call does not wait
    /// then), the running call holds the old closure, and drops it when it
    /// returns.
    ///
    /// SAFETY: the target is alive (the caller holds a handle of it), and
    /// so is `self`, at its place, for as long as the C object may call
    /// the trampoline (it is a field of the pool's Inner or the account's
    /// AccountInner, freed after the C object is destroyed).
    pub(crate) unsafe fn set(&self, f: Option<Arc<ReclaimFn>>) {
        let old = {
            let mut s = self.lock();
            s.seq += 1;
            mem::replace(&mut s.f, f)
        };
        // SAFETY: the caller's promise.
        unsafe { self.sync() };
        drop(old); // user code (its captures' drops): outside every lock
    }

    /// The last handle ([`Pool`](crate::Pool) or [`Account`](crate::Account))
    /// that could set the closure dropped: drop the closure, unless
    /// `unused` (checked under the lock, which `set` takes too) says a new
    /// handle appeared meanwhile.  Never waits for a running call: with
    /// none running the C registration goes now (the C call waits only for
    /// a call that started after the closure went, which finds none and
    /// returns at once); else the next call, finding no closure, removes it
    /// (see [`trampoline`]).
    ///
    /// SAFETY: as [`set`](Reclaimer::set).
    pub(crate) unsafe fn forget(&self, unused: impl FnOnce() -> bool) {
        let (old, idle) = {
            let mut s = self.lock();
            if s.f.is_none() || !unused() {
                return;
            }
            s.seq += 1;
            (s.f.take(), s.running == 0)
        };
        drop(old);
        if idle {
            // SAFETY: the caller's promise.
            unsafe { self.sync() };
        }
    }

    /// Register the trampoline (or NULL) as the closure says, until a
    /// registration is made with no change of the closure meanwhile.  The
    /// C calls serialize on the pool's lock, so the last one wins; its
    /// maker saw `seq` unchanged after it, so it matches the closure, and
    /// every later change is followed by a `sync` of its own.
    ///
    /// SAFETY: as [`set`](Reclaimer::set).
    unsafe fn sync(&self) {
        let arg = self as *const Reclaimer as *mut c_void;
        loop {
            let (want, seq) = {
                let s = self.lock();
                (s.f.is_some(), s.seq)
            };
            let f: ffi::bufpool_reclaim_fn = if want { Some(trampoline) } else { None };
            // SAFETY: the target is alive (the caller's promise); `arg`
            // stays valid for every call the C library may make (the
            // caller's promise), and the trampoline's contract is the
            // bufpool_reclaim_fn's.  Neither call fails on a live target.
            let rc = unsafe {
                match self.target {
                    Target::Pool(p) => ffi::bufpool_set_reclaim(p.as_ptr(), f, arg),
                    Target::Account(a) => ffi::bufpool_account_set_reclaim(a.as_ptr(), f, arg),
                }
            };
            debug_assert_eq!(rc, 0, "bufpool_set_reclaim on a live pool or account");
            if self.lock().seq == seq {
                return;
            }
        }
    }
}

/// The `bufpool_reclaim_fn`: run the reclaimer's closure with the bytes
/// lacking.
///
/// A panic in the closure does not unwind into C: it is caught, and the
/// call returns 0 ("nothing to give"), so the request goes on as it would
/// without a callback (it waits, or a try answers `WouldBlock`).  The
/// panic hook has reported it by then (the default hook prints the message
/// and the location); the closure stays set.  `AssertUnwindSafe`: after a
/// panic nothing here touches what the closure captured; the closure's own
/// state is the application's (a `Mutex` it held is poisoned, as after
/// any panic).
///
/// SAFETY (for the C library's call): `arg` is the [`Reclaimer`] that
/// `sync` registered, alive for as long as its pool or account may call:
/// calls happen only inside a request on that pool or account (or a
/// descendant account, which holds its parent), which holds a handle, and
/// the reclaimer is freed only with its Inner or AccountInner, after the
/// C object's destroy.
unsafe extern "C" fn trampoline(arg: *mut c_void, bytes_needed: usize) -> usize {
    // SAFETY: see above.
    let r = unsafe { &*(arg as *const Reclaimer) };
    let f = {
        let mut s = r.lock();
        let f = s.f.clone();
        if f.is_some() {
            s.running += 1;
        }
        f
    };
    let Some(f) = f else {
        // The closure was forgotten while calls ran: remove the
        // registration from inside this call (the C call does not wait for
        // its own caller).  A set racing with this waits in C for this
        // call to end, so its registration comes after this one.
        // SAFETY: the reclaimer and its target are alive (see above).
        unsafe { r.sync() };
        return 0;
    };
    // The clone moves into the closure, so its drop (maybe the last
    // reference: the closure's captures dropped) is inside the catch too.
    let got = catch_unwind(AssertUnwindSafe(move || f(bytes_needed))).unwrap_or_else(|payload| {
        // A payload whose drop panics: caught as well (rare, but it
        // must not unwind into C either).
        let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
        0
    });
    r.lock().running -= 1;
    got
}
