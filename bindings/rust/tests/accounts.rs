//! Accounts (`Account`): caps, reservations, the stats of a tree, errors as
//! values, the account's life (it lives as long as an allocation, a child,
//! a waiter or a handle of it, and is destroyed then), two threads on one
//! account, and `Account::allocate_async` under the executors of
//! tests/async.rs (park/unpark `block_on`, a task queue on two threads).
//! Every wait has a deadline, so a lost wake-up fails a test instead of
//! hanging it.

use bufpool::{Account, AccountAllocateFuture, AccountConfig, AccountStats, Alloc, Config, Error, Pool};
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

const BUF: usize = 4096;
mod common;
use common::{DEADLINE, Task, run_tasks, yield_now};

fn pool(buffers: usize) -> Pool {
    Pool::new(Config::new(BUF, buffers * BUF)).expect("Pool::new")
}

fn cfg(name: &str, min_buffers: usize, max_buffers: usize) -> AccountConfig {
    AccountConfig { min_bytes: min_buffers * BUF, max_bytes: max_buffers * BUF, ..AccountConfig::new(name) }
}

fn eventually(what: &str, f: impl Fn() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

// ---- block_on: poll on this thread, park between polls (as tests/async.rs) ----

struct Unpark {
    thread: Thread,
    wakes: AtomicUsize,
}

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::AcqRel);
        self.thread.unpark();
    }
}

fn unpark_waker() -> (Arc<Unpark>, Waker) {
    let u = Arc::new(Unpark { thread: thread::current(), wakes: AtomicUsize::new(0) });
    (u.clone(), Waker::from(u))
}

/// Run `f` to completion on this thread; panics past the deadline.
fn block_on<F: Future>(f: F) -> F::Output {
    let (_, waker) = unpark_waker();
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    let end = Instant::now() + DEADLINE;
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        let now = Instant::now();
        assert!(now < end, "block_on: no wake-up within {DEADLINE:?}");
        thread::park_timeout(end - now);
    }
}

/// One poll with a waker that counts its wakes.
fn poll_once(f: &mut AccountAllocateFuture, waker: &Waker) -> Poll<Result<Alloc, Error>> {
    Pin::new(f).poll(&mut Context::from_waker(waker))
}

// ---- the tests ----

#[test]
fn accounts_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn unpin<T: Unpin>() {}
    send_sync::<Account>();
    send_sync::<AccountAllocateFuture>();
    send_sync::<AccountConfig>();
    send_sync::<AccountStats>();
    unpin::<AccountAllocateFuture>();
}

#[test]
fn caps_refuse_and_wait() {
    let p = pool(64);
    // limits round down to whole buffers
    let q = p.account(&AccountConfig { max_bytes: 4 * BUF + 100, ..AccountConfig::new("q") }).unwrap();
    assert_eq!((q.stats().min_bytes, q.stats().max_bytes), (0, 4 * BUF));
    assert_eq!((q.name(), q.priority()), ("q", 0));
    assert!(q.parent().is_none());

    // over the cap: at once, whatever the call
    assert_eq!(q.allocate(5).unwrap_err(), Error::TooBig);
    assert_eq!(q.try_allocate(5).unwrap_err(), Error::TooBig);
    let t = Instant::now();
    assert_eq!(q.allocate_timeout(5, DEADLINE).unwrap_err(), Error::TooBig);
    assert!(t.elapsed() < DEADLINE / 2, "-E2BIG after a wait");
    assert_eq!(q.try_allocate(0).unwrap_err(), Error::InvalidArgument);

    // at the cap: a try fails, a timed call times out, a zero timeout too
    let held = q.allocate(4).unwrap();
    assert_eq!(held.buffer_count(), 4);
    assert_eq!(q.try_allocate(1).unwrap_err(), Error::WouldBlock);
    let t = Instant::now();
    assert_eq!(q.allocate_timeout(1, Duration::from_millis(20)).unwrap_err(), Error::TimedOut);
    assert!(t.elapsed() >= Duration::from_millis(20));
    assert_eq!(q.allocate_timeout(1, Duration::ZERO).unwrap_err(), Error::TimedOut);
    // the cap is the account's, not the pool's
    let plain = p.try_allocate(32).unwrap();
    assert!(plain.account().is_none());

    // a child without a cap of its own is under its parent's
    let c = q.child(&AccountConfig::new("c")).unwrap();
    assert_eq!(c.try_allocate(5).unwrap_err(), Error::TooBig);
    assert_eq!(c.try_allocate(1).unwrap_err(), Error::WouldBlock);
    assert!(q.stats().total_failures >= 6, "{:?}", q.stats());

    // a release under the cap lets requests in; a blocked one is served
    let waiter = thread::scope(|s| {
        let w = s.spawn(|| q.allocate_timeout(2, DEADLINE));
        eventually("the request blocks on the cap", || q.stats().waiters == 1);
        drop(held);
        w.join().unwrap()
    });
    let a = waiter.unwrap();
    assert_eq!(a.account().unwrap().name(), "q");
    assert_eq!(c.try_allocate(2).unwrap().account().unwrap().name(), "c");
    assert!(q.stats().total_waits >= 1);
}

#[test]
fn set_limits_changes_the_cap() {
    let p = pool(64);
    let q = p.account(&cfg("q", 0, 2)).unwrap();
    let a = q.allocate(2).unwrap();
    assert_eq!(q.try_allocate(1).unwrap_err(), Error::WouldBlock);
    q.set_limits(0, 3 * BUF).unwrap();
    let b = q.try_allocate(1).unwrap();
    // a lower cap revokes nothing, and refuses until enough is released
    q.set_limits(BUF, 2 * BUF).unwrap();
    assert_eq!((q.stats().min_bytes, q.stats().max_bytes, q.stats().in_use_bytes), (BUF, 2 * BUF, 3 * BUF));
    assert_eq!(q.try_allocate(1).unwrap_err(), Error::WouldBlock);
    drop((a, b));
    assert_eq!(q.try_allocate(2).unwrap().byte_len(), 2 * BUF);
}

#[test]
fn limits_are_checked() {
    let p = pool(16);
    for bad in [
        AccountConfig { max_bytes: BUF - 1, ..AccountConfig::new("below one buffer") },
        cfg("min above max", 4, 2),
        AccountConfig::new("a NUL\0inside"),
    ] {
        assert_eq!(p.account(&bad).unwrap_err(), Error::InvalidArgument, "{bad:?}");
    }
    // reservations must fit: the budget, the parent's cap
    assert_eq!(p.account(&cfg("too big", 17, 0)).unwrap_err(), Error::NoSpace);
    let top = p.account(&cfg("top", 8, 0)).unwrap();
    assert_eq!(p.account(&cfg("the rest and more", 9, 0)).unwrap_err(), Error::NoSpace);
    let capped = p.account(&cfg("capped", 0, 4)).unwrap();
    assert_eq!(capped.child(&cfg("over its parent's cap", 5, 0)).unwrap_err(), Error::NoSpace);
    let kid = capped.child(&cfg("kid", 3, 0)).unwrap();
    assert_eq!(kid.parent().unwrap().name(), "capped");
    // set_limits: under the rules of create, nothing changed on error
    assert_eq!(capped.set_limits(0, 2 * BUF).unwrap_err(), Error::NoSpace, "below the child's reservation");
    assert_eq!(capped.set_limits(4 * BUF, 2 * BUF).unwrap_err(), Error::InvalidArgument);
    assert_eq!(top.set_limits(14 * BUF, 0).unwrap_err(), Error::NoSpace, "14 + 3 above the budget");
    assert_eq!(capped.stats().max_bytes, 4 * BUF);
    assert_eq!(top.stats().min_bytes, 8 * BUF);
    // the budget cannot shrink below the top-level reservations (8 + 3)
    assert_eq!(p.set_max_memory(10 * BUF).unwrap_err(), Error::NoSpace);
    p.set_max_memory(11 * BUF).unwrap();
    // after a shutdown
    p.shutdown();
    assert_eq!(p.account(&AccountConfig::new("late")).unwrap_err(), Error::Canceled);
    assert_eq!(top.child(&AccountConfig::new("late")).unwrap_err(), Error::Canceled);
    assert_eq!(top.set_limits(0, 0).unwrap_err(), Error::Canceled);
    assert_eq!(top.allocate(1).unwrap_err(), Error::Canceled);
    assert_eq!(top.waiter().unwrap_err(), Error::Canceled);
    assert_eq!(block_on(top.allocate_async(1)).unwrap_err(), Error::Canceled);
}

#[test]
fn a_reservation_is_served_while_a_plain_allocation_holds_the_rest() {
    let p = pool(8);
    let writes = p.account(&AccountConfig { priority: 10, ..cfg("writes", 2, 0) }).unwrap();
    assert_eq!(writes.priority(), 10);
    let plain = p.try_allocate(6).unwrap(); // all that nobody reserved
    assert_eq!(p.try_allocate(1).unwrap_err(), Error::WouldBlock, "the reservation is kept");
    let w = writes.try_allocate(2).unwrap(); // at once
    assert_eq!(writes.stats().in_use_bytes, 2 * BUF);
    assert_eq!(p.stats().in_use_bytes, 8 * BUF);
    // beyond the reservation: the memory is in use
    assert_eq!(writes.try_allocate(1).unwrap_err(), Error::WouldBlock);
    drop(plain);
    let more = writes.try_allocate(3).unwrap();
    assert_eq!(writes.stats().in_use_bytes, 5 * BUF);
    drop((w, more));
    assert_eq!(writes.stats().in_use_bytes, 0);
}

#[test]
fn a_parents_stats_cover_its_children() {
    let p = pool(64);
    let parent = p.account(&cfg("parent", 4, 16)).unwrap();
    let child = parent.child(&cfg("child", 2, 0)).unwrap();
    let grandchild = child.child(&AccountConfig::new("grandchild")).unwrap();
    let c = child.allocate(2).unwrap();
    let g = grandchild.allocate(3).unwrap().into_shared();
    let g2 = g.clone(); // one allocation, two handles
    let own = parent.allocate(1).unwrap();

    let ps = parent.stats();
    assert_eq!((ps.min_bytes, ps.max_bytes), (4 * BUF, 16 * BUF));
    assert_eq!((ps.in_use_bytes, ps.live_allocations), (6 * BUF, 3), "{ps:?}");
    assert!(ps.peak_in_use_bytes >= ps.in_use_bytes);
    let cs = child.stats();
    assert_eq!((cs.min_bytes, cs.max_bytes), (2 * BUF, 0));
    assert_eq!((cs.in_use_bytes, cs.live_allocations), (5 * BUF, 2), "{cs:?}");
    let gs = grandchild.stats();
    assert_eq!((gs.in_use_bytes, gs.live_allocations), (3 * BUF, 1), "{gs:?}");
    assert_eq!(p.stats().in_use_bytes, 6 * BUF);
    // the parent's cap covers its descendants: 16 - 6 left
    assert_eq!(grandchild.try_allocate(11).unwrap_err(), Error::WouldBlock);
    assert_eq!(grandchild.try_allocate(17).unwrap_err(), Error::TooBig);

    assert_eq!(parent.stats().total_allocations, 3);
    // the same length again and again: served from this thread's cache of
    // the account's memory, and counted all the same
    for _ in 0..100 {
        drop(grandchild.allocate(1).unwrap());
    }
    assert_eq!((parent.stats().total_allocations, grandchild.stats().total_allocations), (103, 101));

    drop((c, g, own));
    assert_eq!(parent.stats().live_allocations, 1);
    drop(g2);
    let ps = parent.stats();
    assert_eq!((ps.in_use_bytes, ps.live_allocations), (0, 0), "{ps:?}");
    assert!(ps.peak_in_use_bytes >= 6 * BUF);
    assert_eq!(p.stats().in_use_bytes, 0);
}

#[test]
fn an_allocation_keeps_its_account_alive() {
    let p = pool(8);
    // parent reserves the whole budget: while it lives, no plain call gets any
    let parent = p.account(&cfg("parent", 8, 0)).unwrap();
    let child = parent.child(&AccountConfig::new("child")).unwrap();
    let waiter = child.waiter().unwrap();
    let a = child.allocate(1).unwrap();
    drop((parent, child));
    // every Account handle is gone: the waiter and the allocation hold them
    assert_eq!(waiter.account().unwrap().name(), "child");
    drop(waiter);
    assert_eq!(p.try_allocate(1).unwrap_err(), Error::WouldBlock, "the reservation lives");

    let acct = a.account().expect("charged to an account");
    assert_eq!(acct.name(), "child");
    assert_eq!(acct.parent().unwrap().name(), "parent");
    assert_eq!(acct.stats().in_use_bytes, BUF);
    assert_eq!(acct.parent().unwrap().stats().live_allocations, 1);
    // an account handle made back from the allocation can allocate
    let b = acct.try_allocate(2).unwrap();
    drop((acct, b));

    // shared handles each hold the account; the last one destroys it
    let s1 = a.into_shared();
    let s2 = s1.slice(..10);
    drop(s1);
    assert_eq!(p.try_allocate(1).unwrap_err(), Error::WouldBlock, "the reservation lives");
    assert_eq!(s2.account().unwrap().parent().unwrap().stats().in_use_bytes, BUF);
    drop(s2); // release, then the accounts go: child, then parent (a debug build asserts 0)

    let st = p.stats();
    assert_eq!((st.in_use_bytes, st.live_allocations), (0, 0), "{st:?}");
    // the reservation went with the account: the whole budget is free
    assert_eq!(p.try_allocate(8).unwrap().byte_len(), 8 * BUF);
}

#[test]
fn an_account_outlives_its_pool_handles() {
    let p = pool(8);
    let q = p.account(&cfg("q", 2, 4)).unwrap();
    drop(p);
    let a = q.allocate(4).unwrap();
    let p = q.pool();
    assert_eq!(p.stats().in_use_bytes, 4 * BUF);
    drop((p, q));
    assert!(a.pool().is_some(), "the account holds a pool handle");
    drop(a); // the account, then the pool
}

#[test]
fn two_threads_share_an_account() {
    const ROUNDS: usize = 2000;
    let p = pool(64);
    let q = p.account(&cfg("shared", 1, 3)).unwrap();
    let over_cap = AtomicBool::new(false);
    thread::scope(|s| {
        for t in 0..2usize {
            let (q, over_cap) = (&q, &over_cap);
            s.spawn(move || {
                for i in 0..ROUNDS {
                    let n = 1 + (i + t) % 2;
                    let mut a = q.allocate_timeout(n, DEADLINE).expect("allocate through a shared account");
                    a.fill(t as u8);
                    if q.stats().in_use_bytes > 3 * BUF {
                        over_cap.store(true, Ordering::Relaxed);
                    }
                    assert!(a.iter().all(|&b| b == t as u8), "another thread wrote into this allocation");
                    if i % 3 == 0 {
                        drop(q.try_allocate(1)); // may fail: the cap is small
                    }
                }
            });
        }
        // a clone moved to a thread of its own
        let moved = q.clone();
        s.spawn(move || {
            for _ in 0..ROUNDS / 4 {
                drop(moved.allocate_timeout(1, DEADLINE).unwrap());
            }
        });
    });
    assert!(!over_cap.load(Ordering::Relaxed), "in-use above the cap");
    let st = q.stats();
    assert_eq!((st.in_use_bytes, st.live_allocations, st.waiters), (0, 0, 0), "{st:?}");
    assert!(st.peak_in_use_bytes <= 3 * BUF, "{st:?}");
    assert_eq!(p.stats().in_use_bytes, 0);
}

#[test]
fn an_account_waiter_charges_its_account() {
    let p = pool(64);
    let q = p.account(&cfg("q", 0, 2)).unwrap();
    let mut w = q.waiter().unwrap();
    assert_eq!(w.account().unwrap().name(), "q");
    assert!(p.waiter().unwrap().account().is_none());
    let held = q.allocate(2).unwrap();
    assert_eq!(w.allocate(1).unwrap_err(), Error::WouldBlock);
    assert_eq!(w.allocate(3).unwrap_err(), Error::TooBig, "over the cap");
    assert_eq!(w.allocate(1).unwrap_err(), Error::WouldBlock);
    drop(held);
    let end = Instant::now() + DEADLINE;
    let a = loop {
        match w.allocate(1) {
            Ok(a) => break a,
            Err(Error::WouldBlock) => assert!(Instant::now() < end, "never served"),
            Err(e) => panic!("waiter: {e}"),
        }
        thread::sleep(Duration::from_millis(1));
    };
    assert_eq!(a.account().unwrap().name(), "q");
    assert_eq!(q.stats().in_use_bytes, BUF);
}

#[test]
fn allocate_async_completes_after_a_release() {
    let p = pool(64);
    let q = p.account(&cfg("q", 0, 2)).unwrap();

    // served at once
    let a = block_on(q.allocate_async(1)).unwrap();
    assert_eq!(a.account().unwrap().name(), "q");
    drop(a);
    // never fits the cap: at once
    assert_eq!(block_on(q.allocate_async(3)).unwrap_err(), Error::TooBig);
    assert_eq!(block_on(q.allocate_async(0)).unwrap_err(), Error::InvalidArgument);

    // waiting on the cap: pending, then woken by a release on another thread
    let held = q.allocate(2).unwrap();
    let mut f = q.allocate_async(2);
    let (counter, waker) = unpark_waker();
    assert!(poll_once(&mut f, &waker).is_pending());
    assert!(poll_once(&mut f, &waker).is_pending(), "a second poll stays pending");
    assert_eq!(p.stats().waiters, 1, "one pending request");
    assert_eq!(q.stats().waiters, 1, "counted in its account's too");
    let releaser = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        drop(held);
    });
    let a = block_on(f).unwrap();
    releaser.join().unwrap();
    assert!(counter.wakes.load(Ordering::Acquire) <= 1);
    assert_eq!((a.buffer_count(), q.stats().in_use_bytes), (2, 2 * BUF));
    drop(a);

    // waiting for memory (no cap in the way): a plain allocation holds it all
    let r = p.account(&AccountConfig::new("r")).unwrap();
    let all = p.allocate(64).unwrap();
    let mut f = r.allocate_async(8);
    assert!(poll_once(&mut f, &waker).is_pending());
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        drop(all);
    });
    assert_eq!(block_on(f).unwrap().byte_len(), 8 * BUF);
}

/// The callback wakes the task on the releasing thread, before the release
/// returns; a future dropped after that wake-up, with the memory set aside
/// for it (FIFO: a release hands the room to the head of the queue), gives
/// the memory back, and its account counts no waiter.
#[test]
fn allocate_async_dropped_after_its_wake_up_gives_back_the_memory() {
    let p = Pool::new(Config { fifo: true, ..Config::new(BUF, 64 * BUF) }).unwrap();
    let q = p.account(&cfg("q", 0, 2)).unwrap();
    let held = q.allocate(2).unwrap();
    let (counter, waker) = unpark_waker();
    let mut f = q.allocate_async(2);
    assert!(poll_once(&mut f, &waker).is_pending());
    let st = q.stats();
    assert_eq!((st.waiters, st.total_waits), (1, 1), "a pending request waits, counted once: {st:?}");
    assert_eq!(counter.wakes.load(Ordering::Acquire), 0, "woken with the cap full");

    drop(held); // room under the cap: set aside for `f`, whose task is woken here
    assert_eq!(counter.wakes.load(Ordering::Acquire), 1, "the release did not wake the task");
    assert_eq!(q.stats().in_use_bytes, 2 * BUF, "the cap's room set aside for f, charged to q");
    assert_eq!(q.try_allocate(1).unwrap_err(), Error::WouldBlock, "the cap's room is f's");

    drop(f); // never polled again: what was set aside goes back
    let st = q.stats();
    assert_eq!((st.in_use_bytes, st.live_allocations, st.waiters), (0, 0, 0), "{st:?}");
    let s = p.stats();
    assert_eq!((s.in_use_bytes, s.waiters), (0, 0), "{s:?}");
    let a = q.try_allocate(2).unwrap(); // the whole cap
    drop(a);
    drop(q); // nothing holds the account any more: it is destroyed here
    p.try_allocate(64).unwrap(); // the whole budget
}

/// A waker that polls the future inline, from inside the C library's
/// callback on the releasing thread, and drops it (and so destroys its
/// account waiter) there.
#[test]
fn allocate_async_woken_polled_and_dropped_inside_the_callback() {
    struct Inline {
        fut: Mutex<Option<AccountAllocateFuture>>,
        got: Mutex<Option<Alloc>>,
    }
    impl Wake for Inline {
        fn wake(self: Arc<Self>) {
            let w = Waker::from(self.clone());
            let mut slot = self.fut.lock().unwrap();
            let Some(f) = slot.as_mut() else { return };
            if let Poll::Ready(r) = poll_once(f, &w) {
                *self.got.lock().unwrap() = Some(r.unwrap());
                *slot = None; // the future (its waiter) dropped inside the callback
            }
        }
    }
    let p = pool(64);
    let q = p.account(&cfg("q", 0, 1)).unwrap();
    let held = q.allocate(1).unwrap();
    let inline = Arc::new(Inline { fut: Mutex::new(Some(q.allocate_async(1))), got: Mutex::new(None) });
    Waker::from(inline.clone()).wake_by_ref();
    assert!(inline.fut.lock().unwrap().is_some(), "served with the cap full");
    assert_eq!(q.stats().waiters, 1);
    drop(held); // the callback polls, completes and drops the future here
    assert!(inline.fut.lock().unwrap().is_none());
    let a = inline.got.lock().unwrap().take().unwrap();
    assert_eq!((a.buffer_count(), a.account().unwrap().name()), (1, "q"));
    let st = q.stats();
    assert_eq!((st.in_use_bytes, st.waiters), (BUF, 0), "{st:?}");
    drop(a);
    assert_eq!(q.stats().in_use_bytes, 0);
}

#[test]
fn allocate_async_cancels_and_fails() {
    let p = pool(64);
    let q = p.account(&cfg("q", 0, 2)).unwrap();
    let held = q.allocate(2).unwrap();
    let (_, waker) = unpark_waker();

    // dropped while pending: the request goes, and so can the account
    let mut f = q.allocate_async(1);
    assert!(poll_once(&mut f, &waker).is_pending());
    assert_eq!(p.stats().waiters, 1);
    assert_eq!(q.stats().waiters, 1);
    drop(f);
    assert_eq!(p.stats().waiters, 0, "the request left with the future");
    assert_eq!(q.stats().waiters, 0);
    assert_eq!(q.stats().in_use_bytes, 2 * BUF, "nothing more than `held`");

    // a cap lowered below a pending request fails it
    let mut f = q.allocate_async(2);
    assert!(poll_once(&mut f, &waker).is_pending());
    let failures = q.stats().total_failures;
    q.set_limits(0, BUF).unwrap();
    assert_eq!(block_on(f).unwrap_err(), Error::TooBig);
    assert_eq!(q.stats().total_failures, failures + 1, "the pending request's failure counts");
    q.set_limits(0, 2 * BUF).unwrap();

    // a shutdown wakes and fails a pending request
    let mut f = q.allocate_async(1);
    assert!(poll_once(&mut f, &waker).is_pending());
    let pool2 = p.clone();
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        pool2.shutdown();
    });
    assert_eq!(block_on(f).unwrap_err(), Error::Canceled);
    drop((held, q));
    assert_eq!(p.stats().in_use_bytes, 0);
}

/// `TASKS` tasks on two worker threads, each `ROUNDS` times awaiting 1 to
/// 3 buffers through one of two sibling accounts under `parent`, holding
/// them across a yield; `iterations` times over.  Checks the tree's stats
/// at the end of each.
fn async_tasks(iterations: usize, pool_buffers: usize, parent_cfg: &AccountConfig) {
    const TASKS: usize = 16;
    const ROUNDS: usize = 50;
    for _ in 0..iterations {
        let p = pool(pool_buffers);
        let parent = p.account(parent_cfg).unwrap();
        let done = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<Task> = (0..TASKS)
            .map(|i| {
                let acct = parent.child(&AccountConfig::new(format!("task {}", i % 2))).unwrap();
                let done = done.clone();
                Box::pin(async move {
                    for r in 0..ROUNDS {
                        let n = 1 + (i + r) % 3;
                        let a = acct.allocate_async(n).await.expect("allocate_async");
                        assert_eq!(a.buffer_count(), n);
                        yield_now().await; // hold it while others run
                        drop(a);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }) as Task
            })
            .collect();
        run_tasks(2, tasks);
        assert_eq!(done.load(Ordering::Relaxed), TASKS);
        let st = parent.stats();
        assert_eq!((st.in_use_bytes, st.live_allocations, st.waiters), (0, 0, 0), "{st:?}");
        assert!(st.peak_in_use_bytes <= 4 * BUF, "{st:?}");
        assert_eq!(p.stats().waiters, 0);
    }
}

#[test]
fn allocate_async_under_a_task_queue() {
    // The requests wait for the budget: 4 buffers, the accounts uncapped.
    async_tasks(1, 4, &AccountConfig::new("parent"));
}

/// The same with the requests waiting on a cap (the parent's, 4 buffers, in
/// a pool of 64).  This found a lost wake-up in the C library (a release
/// that made room under the cap served without the depot, where the
/// memory the waiters needed had gone): about one iteration in 500 hung
/// before the fix (test_account part cap_wake_from_depot now forces it); 100
/// iterations here, `-- --ignored` runs 1,500.
#[test]
fn allocate_async_on_a_contended_cap() {
    async_tasks(100, 64, &cfg("parent", 0, 4));
}

#[test]
#[ignore = "a longer run of allocate_async_on_a_contended_cap (about 16 s in release)"]
fn allocate_async_on_a_contended_cap_long() {
    async_tasks(1500, 64, &cfg("parent", 0, 4));
}
