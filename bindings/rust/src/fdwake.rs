//! The thread that wakes the tasks of pending
//! [`AccountAllocateFuture`](crate::AccountAllocateFuture)s.
//!
//! An account waiter has only an eventfd: the C library has no callback
//! form of it in this version (`bufpool_account_waiter_create(3)`, NOTES),
//! so nothing calls back on the releasing thread as for
//! [`Pool::allocate_async`](crate::Pool::allocate_async).  Instead one thread
//! per process, `bufpool-wake`, started by the first account request
//! that waits, sleeps in `epoll_wait(2)` on the fds of the pending requests
//! and wakes the task of each fd that turns readable.  The crate has no
//! dependency, so the three epoll calls are declared here by hand; the
//! layout test (src/ffi.rs) checks `struct epoll_event` and the constants
//! against `<sys/epoll.h>`.
//!
//! Each watched fd is registered with `EPOLLONESHOT` under a key of its own
//! (never reused) that names its waker in a map: an event whose key has left
//! the map (its future dropped meanwhile) wakes nothing, so the thread never
//! holds a pointer into a future.

use crate::error::Error;
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::raw::c_int;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

/// `struct epoll_event`: packed on x86 (the kernel's `EPOLL_PACKED`).
#[cfg_attr(any(target_arch = "x86_64", target_arch = "x86"), repr(C, packed))]
#[cfg_attr(not(any(target_arch = "x86_64", target_arch = "x86")), repr(C))]
#[derive(Clone, Copy)]
pub(crate) struct EpollEvent {
    pub(crate) events: u32,
    pub(crate) data: u64,
}

pub(crate) const EINTR: i32 = 4;
pub(crate) const EPOLL_CLOEXEC: c_int = 0o2000000;
pub(crate) const EPOLL_CTL_ADD: c_int = 1;
pub(crate) const EPOLL_CTL_DEL: c_int = 2;
pub(crate) const EPOLL_CTL_MOD: c_int = 3;
pub(crate) const EPOLLIN: u32 = 0x001;
pub(crate) const EPOLLONESHOT: u32 = 1 << 30;

unsafe extern "C" {
    fn epoll_create1(flags: c_int) -> c_int;
    fn epoll_ctl(epfd: c_int, op: c_int, fd: c_int, event: *mut EpollEvent) -> c_int;
    fn epoll_wait(epfd: c_int, events: *mut EpollEvent, maxevents: c_int, timeout: c_int) -> c_int;
}

/// The errno of the system call that just failed, as an [`Error`].
fn last_error() -> Error {
    io::Error::last_os_error().raw_os_error().map_or(Error::OutOfMemory, Error::from_code)
}

/// The epoll instance, the wakers of the watched fds, and the keys.
struct Reactor {
    epfd: OwnedFd,
    /// The process that started the thread: a `fork()` child has no such
    /// thread and starts its own.
    pid: u32,
    wakers: Mutex<HashMap<u64, Waker>>,
    next_key: AtomicU64,
}

impl Reactor {
    fn wakers(&self) -> MutexGuard<'_, HashMap<u64, Waker>> {
        // A panic elsewhere cannot leave the map half-written.
        self.wakers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ctl(&self, op: c_int, fd: RawFd, events: u32, key: u64) -> Result<(), Error> {
        let mut ev = EpollEvent { events, data: key };
        // SAFETY: `ev` is valid for the call (DEL ignores it, but kernels
        // before 2.6.9 wanted it non-NULL); epfd is open (we own it).
        let rc = unsafe { epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut ev) };
        if rc < 0 { Err(last_error()) } else { Ok(()) }
    }

    /// The thread: wait for events, wake their tasks, for ever.
    fn run(&self) {
        let mut events = [EpollEvent { events: 0, data: 0 }; 32];
        loop {
            // SAFETY: `events` has room for the 32 events asked for.
            let n = unsafe { epoll_wait(self.epfd.as_raw_fd(), events.as_mut_ptr(), 32, -1) };
            if n < 0 {
                let e = io::Error::last_os_error();
                // epoll_wait fails only on EINTR with a valid epfd and buffer.
                assert_eq!(e.raw_os_error(), Some(EINTR), "bufpool: epoll_wait: {e}");
                continue;
            }
            for ev in &events[..n as usize] {
                let key = ev.data; // a copy: the struct may be packed
                let w = self.wakers().remove(&key);
                if let Some(w) = w {
                    // Outside the lock: waking may poll (and drop) futures
                    // that use the map.  An executor's panicking waker must
                    // not end the thread that every other future needs.
                    let _ = catch_unwind(AssertUnwindSafe(|| w.wake()));
                }
            }
        }
    }
}

/// The process's reactor, its thread started on first use (and again in a
/// `fork()` child).
fn reactor() -> Result<Arc<Reactor>, Error> {
    static REACTOR: Mutex<Option<Arc<Reactor>>> = Mutex::new(None);
    let mut global = REACTOR.lock().unwrap_or_else(|e| e.into_inner());
    let pid = std::process::id();
    if let Some(r) = global.as_ref().filter(|r| r.pid == pid) {
        return Ok(r.clone());
    }
    // SAFETY: no pointer; the flag is valid.
    let fd = unsafe { epoll_create1(EPOLL_CLOEXEC) };
    if fd < 0 {
        return Err(last_error());
    }
    // SAFETY: `fd` was just opened and nothing else owns it.
    let epfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let r = Arc::new(Reactor { epfd, pid, wakers: Mutex::new(HashMap::new()), next_key: AtomicU64::new(0) });
    let thread_r = r.clone();
    // The thread keeps its Arc for ever, so the epoll fd stays open for the
    // life of the process.  (In a fork() child the parent's reactor, left
    // in `global` until replaced here, is never freed: its fd leaks, once
    // per child, rather than close under a future inherited from the parent.)
    std::thread::Builder::new()
        .name("bufpool-wake".into())
        .spawn(move || thread_r.run())
        .map_err(|_| Error::OutOfMemory)?;
    *global = Some(r.clone());
    Ok(r)
}

/// An fd in the reactor's epoll set, under a key of its own; disarmed until
/// [`arm`](Watch::arm).  Dropping it takes the fd out of the set and its
/// waker out of the map: drop it before the fd is closed.
pub(crate) struct Watch {
    reactor: Arc<Reactor>,
    fd: RawFd,
    key: u64,
}

impl Watch {
    /// Watch `fd`, an open eventfd that outlives the `Watch`.
    pub(crate) fn new(fd: RawFd) -> Result<Watch, Error> {
        let reactor = reactor()?;
        let key = reactor.next_key.fetch_add(1, Ordering::Relaxed);
        // EPOLLONESHOT without EPOLLIN: in the set, reporting nothing yet.
        reactor.ctl(EPOLL_CTL_ADD, fd, EPOLLONESHOT, key)?;
        Ok(Watch { reactor, fd, key })
    }

    /// The waker that the next event wakes, unless it wakes the same task
    /// already.  The clone and the old waker's drop run outside the lock:
    /// they are the executor's code, which may drop futures that use it.
    pub(crate) fn set_waker(&self, w: &Waker) {
        if self.reactor.wakers().get(&self.key).is_some_and(|old| old.will_wake(w)) {
            return;
        }
        let new = w.clone();
        let old = self.reactor.wakers().insert(self.key, new);
        drop(old);
    }

    /// Report the fd's next readability, once: at once if it is readable
    /// now (epoll checks the level when it is armed).
    pub(crate) fn arm(&self) -> Result<(), Error> {
        self.reactor.ctl(EPOLL_CTL_MOD, self.fd, EPOLLIN | EPOLLONESHOT, self.key)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // Cannot fail for an fd in the set; an event already taken by the
        // thread finds no waker under the key, or wakes the task once more.
        let _ = self.reactor.ctl(EPOLL_CTL_DEL, self.fd, 0, self.key);
        let old = self.reactor.wakers().remove(&self.key);
        drop(old);
    }
}
