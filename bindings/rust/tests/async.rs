//! `Pool::allocate_async` under two executors written here (the crate has
//! no dependency): `block_on` (park/unpark) and a task queue run by two
//! threads.  Every wait has a deadline, so a lost wake-up fails a test
//! instead of hanging it.

use bufpool::{Alloc, AllocateFuture, Config, Error, Pool};
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

const BUF: usize = 4096;
mod common;
use common::{DEADLINE, Task, run_tasks, yield_now};

// ---- block_on: poll on this thread, park between polls ----

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Run `f` to completion on this thread; panics past the deadline.
fn block_on<F: Future>(f: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
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

// ---- wakers that record ----

fn flag_waker(flag: &Arc<AtomicBool>) -> Waker {
    struct Flag(Arc<AtomicBool>);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    Waker::from(Arc::new(Flag(flag.clone())))
}

fn poll_once(f: &mut AllocateFuture, w: &Waker) -> Poll<Result<Alloc, Error>> {
    Pin::new(f).poll(&mut Context::from_waker(w))
}

// ---- the cases ----

fn assert_send_sync_unpin<T: Send + Sync + Unpin + 'static>(_: &T) {}

/// 64 tasks loop allocate/await/hold across a yield/release on a budget of
/// 4 buffers: all complete, and no allocation is ever beyond the budget.
fn many_tasks(fifo: bool) {
    const TASKS: usize = 64;
    const ROUNDS: usize = 50;
    const BUDGET: usize = 4;
    let pool = Pool::new(Config { fifo, ..Config::new(BUF, BUDGET * BUF) }).unwrap();
    let in_use = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<Task> = (0..TASKS)
        .map(|i| {
            let (pool, in_use, done) = (pool.clone(), in_use.clone(), done.clone());
            Box::pin(async move {
                for r in 0..ROUNDS {
                    let n = 1 + (i + r) % 2;
                    let fut = pool.allocate_async(n);
                    assert_send_sync_unpin(&fut);
                    let a = fut.await.expect("allocate_async");
                    assert_eq!(a.buffer_count(), n);
                    let now = in_use.fetch_add(n, Ordering::SeqCst) + n;
                    assert!(now <= BUDGET, "{now} buffers in use, budget {BUDGET}");
                    yield_now().await;
                    in_use.fetch_sub(n, Ordering::SeqCst);
                    drop(a);
                }
                done.fetch_add(1, Ordering::SeqCst);
            }) as Task
        })
        .collect();
    run_tasks(2, tasks);
    assert_eq!(done.load(Ordering::SeqCst), TASKS);
    let s = pool.stats();
    assert_eq!((s.in_use_bytes, s.live_allocations, s.waiters), (0, 0, 0));
    assert_eq!(s.total_allocations, (TASKS * ROUNDS) as u64);
}

#[test]
fn many_tasks_on_a_tight_budget() {
    many_tasks(false);
}

#[test]
fn many_tasks_on_a_tight_fifo_budget() {
    many_tasks(true);
}

/// Threads that each block_on their own futures, against threads that hold
/// memory with blocking calls: the two kinds of request share the budget.
#[test]
fn block_on_threads_beside_blocking_calls() {
    let pool = Pool::new(Config::new(BUF, 3 * BUF)).unwrap();
    let in_use = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let (pool, in_use) = (pool.clone(), in_use.clone());
            thread::spawn(move || {
                for _ in 0..300 {
                    let a = if i % 2 == 0 {
                        block_on(pool.allocate_async(1)).unwrap()
                    } else {
                        pool.allocate_timeout(1, DEADLINE).unwrap()
                    };
                    assert!(in_use.fetch_add(1, Ordering::SeqCst) < 3);
                    thread::yield_now();
                    in_use.fetch_sub(1, Ordering::SeqCst);
                    drop(a);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(pool.stats().in_use_bytes, 0);
}

#[test]
fn served_at_once_and_errors() {
    let pool = Pool::new(Config::new(BUF, 2 * BUF)).unwrap();
    let a = block_on(pool.allocate_async(2)).unwrap();
    assert_eq!(a.byte_len(), 2 * BUF);
    assert_eq!(pool.stats().total_waits, 0, "served at once: no wait");
    drop(a);
    // Beyond the whole budget: at once, even with the budget free.
    let noop = Waker::noop();
    assert!(matches!(poll_once(&mut pool.allocate_async(3), noop), Poll::Ready(Err(Error::TooBig))));
    assert!(matches!(poll_once(&mut pool.allocate_async(0), noop), Poll::Ready(Err(Error::InvalidArgument))));
}

#[test]
fn shutdown_wakes_a_pending_future_with_canceled() {
    let pool = Pool::new(Config::new(BUF, 2 * BUF)).unwrap();
    let held = pool.allocate(2).unwrap();
    let p = pool.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        p.shutdown();
    });
    assert_eq!(block_on(pool.allocate_async(1)).unwrap_err(), Error::Canceled);
    t.join().unwrap();
    drop(held);
    assert!(matches!(
        poll_once(&mut pool.allocate_async(1), Waker::noop()),
        Poll::Ready(Err(Error::Canceled))
    ));
}

#[test]
fn a_shrink_fails_a_pending_future_with_too_big() {
    let pool = Pool::new(Config::new(BUF, 4 * BUF)).unwrap();
    let held = pool.allocate(3).unwrap();
    let woken = Arc::new(AtomicBool::new(false));
    let mut f = pool.allocate_async(2);
    assert!(poll_once(&mut f, &flag_waker(&woken)).is_pending());
    pool.set_max_memory(BUF).unwrap();
    assert!(woken.load(Ordering::SeqCst));
    assert!(matches!(poll_once(&mut f, Waker::noop()), Poll::Ready(Err(Error::TooBig))));
    drop(held);
}

/// FIFO: the first pending future gets the memory set aside at the release;
/// dropping it gives that memory to the next one in the queue.
#[test]
fn a_dropped_pending_future_frees_its_place() {
    let pool = Pool::new(Config { fifo: true, ..Config::new(BUF, 2 * BUF) }).unwrap();
    let held = pool.allocate(2).unwrap();
    let (w1, w2) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let mut f1 = pool.allocate_async(2);
    let mut f2 = pool.allocate_async(1);
    assert!(poll_once(&mut f1, &flag_waker(&w1)).is_pending());
    assert!(poll_once(&mut f2, &flag_waker(&w2)).is_pending());
    assert_eq!(pool.stats().waiters, 2);

    drop(held); // set aside for f1, the head of the queue
    assert!(w1.load(Ordering::SeqCst), "the head was not woken");
    assert!(!w2.load(Ordering::SeqCst), "FIFO: f2 waits behind f1");
    drop(f1); // cancel: the memory set aside goes on to f2
    assert!(w2.load(Ordering::SeqCst), "the next waiter was not woken");
    let a = match poll_once(&mut f2, Waker::noop()) {
        Poll::Ready(r) => r.unwrap(),
        Poll::Pending => panic!("f2 pending with the budget free"),
    };
    assert_eq!(pool.stats().waiters, 0);
    // The other buffer is free too: nothing stayed set aside for f1.
    let b = pool.try_allocate(1).unwrap();
    let s = pool.stats();
    assert_eq!((s.in_use_bytes, s.live_allocations), (2 * BUF, 2));
    drop((a, b, f2));
    let s = pool.stats();
    assert_eq!((s.in_use_bytes, s.live_allocations, s.waiters), (0, 0, 0));
    pool.try_allocate(2).unwrap(); // the whole budget
}

/// A future dropped while pending (not yet served) leaves the queue.
#[test]
fn dropping_a_pending_future_cancels_it() {
    let pool = Pool::new(Config { fifo: true, ..Config::new(BUF, 2 * BUF) }).unwrap();
    let held = pool.allocate(2).unwrap();
    let mut f = pool.allocate_async(2);
    assert!(poll_once(&mut f, Waker::noop()).is_pending());
    assert_eq!(pool.stats().waiters, 1);
    drop(f);
    assert_eq!(pool.stats().waiters, 0);
    drop(held);
    let s = pool.stats();
    assert_eq!((s.in_use_bytes, s.live_allocations), (0, 0));
    pool.try_allocate(2).unwrap();
}

/// The waker of the latest poll is the one woken.
#[test]
fn the_latest_waker_is_woken() {
    let pool = Pool::new(Config::new(BUF, BUF)).unwrap();
    let held = pool.allocate(1).unwrap();
    let (old, new) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let mut f = pool.allocate_async(1);
    assert!(poll_once(&mut f, &flag_waker(&old)).is_pending());
    assert!(poll_once(&mut f, &flag_waker(&new)).is_pending());
    drop(held);
    assert!(new.load(Ordering::SeqCst));
    assert!(!old.load(Ordering::SeqCst));
    assert!(poll_once(&mut f, Waker::noop()).is_ready());
}

/// A release that lands while the future stores its waker (here: inside the
/// waker's clone) is not lost: the poll then either succeeds or has woken
/// the new waker.  Fails if the waker is stored after the C call.
#[test]
fn a_release_during_the_waker_store_is_not_lost() {
    static HELD: Mutex<Option<Alloc>> = Mutex::new(None);
    static WOKEN: AtomicBool = AtomicBool::new(false);
    fn clone(_: *const ()) -> RawWaker {
        drop(HELD.lock().unwrap().take()); // the release, at the store
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    fn wake(_: *const ()) {
        WOKEN.store(true, Ordering::SeqCst);
    }
    fn noop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, noop);

    let pool = Pool::new(Config::new(BUF, BUF)).unwrap();
    *HELD.lock().unwrap() = Some(pool.allocate(1).unwrap());
    let mut f = pool.allocate_async(1);
    assert!(poll_once(&mut f, Waker::noop()).is_pending());
    // SAFETY: the vtable's functions ignore the data pointer.
    let w = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) };
    let ready = poll_once(&mut f, &w).is_ready();
    assert!(ready || WOKEN.load(Ordering::SeqCst), "pending, and the release woke nobody");
}

/// A waker that polls the future inline, on the releasing thread, from
/// inside the C library's callback, and drops it there.
#[test]
fn a_waker_may_poll_and_drop_the_future_inline() {
    struct Inline {
        fut: Mutex<Option<AllocateFuture>>,
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
    let pool = Pool::new(Config::new(BUF, BUF)).unwrap();
    let held = pool.allocate(1).unwrap();
    let inline = Arc::new(Inline { fut: Mutex::new(Some(pool.allocate_async(1))), got: Mutex::new(None) });
    Waker::from(inline.clone()).wake_by_ref();
    assert!(inline.fut.lock().unwrap().is_some(), "served with the budget held");
    drop(held); // the callback polls, completes and drops the future here
    assert!(inline.fut.lock().unwrap().is_none());
    assert_eq!(inline.got.lock().unwrap().take().unwrap().buffer_count(), 1);
    assert_eq!(pool.stats().in_use_bytes, 0);
}
