//! Behaviour across threads: blocking until a release, timeouts served by a
//! release, shutdown and shrink waking blocked calls, allocations moved and
//! shared between threads, the pool handle dropped while others still use
//! it, and a churn that checks the budget.

use bufpool::{Alloc, Config, Error, Pool, SharedAlloc};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

fn pool(bs: usize, max: usize) -> Pool {
    Pool::new(Config::new(bs, max)).expect("Pool::new")
}

/// Wait (at most 10 s) until `f` holds.
fn eventually(what: &str, f: impl Fn() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(10), "timed out waiting for: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn allocate_blocks_until_a_release() {
    let p = pool(64, 16 * 64);
    let held = p.allocate(12).unwrap();
    let p2 = p.clone();
    let t = thread::spawn(move || {
        let start = Instant::now();
        let a = p2.allocate(8).unwrap(); // 4 free: must wait
        (start.elapsed(), a.buffer_count())
    });
    eventually("the request waits", || p.stats().waiters == 1);
    thread::sleep(Duration::from_millis(100));
    assert!(!t.is_finished(), "allocate returned while the budget was short");
    drop(held);
    let (waited, n) = t.join().unwrap();
    assert_eq!(n, 8);
    assert!(waited >= Duration::from_millis(100), "waited {waited:?}");
    let s = p.stats();
    assert!(s.total_waits >= 1);
    assert_eq!(s.waiters, 0);
}

#[test]
fn timeout_served_by_a_release() {
    let p = pool(64, 1024);
    let held = p.allocate(16).unwrap();
    let p2 = p.clone();
    let t = thread::spawn(move || {
        let start = Instant::now();
        let r = p2.allocate_timeout(4, Duration::from_secs(20)).map(|a| a.buffer_count());
        (r, start.elapsed())
    });
    eventually("the request waits", || p.stats().waiters == 1);
    drop(held);
    let (r, waited) = t.join().unwrap();
    assert_eq!(r, Ok(4));
    assert!(waited < Duration::from_secs(20));
}

#[test]
fn shutdown_cancels_a_blocked_call() {
    let p = pool(64, 1024);
    let held = p.allocate(16).unwrap();
    let p2 = p.clone();
    let t = thread::spawn(move || p2.allocate(1).map(|a| a.buffer_count()));
    eventually("the request waits", || p.stats().waiters == 1);
    p.shutdown();
    assert_eq!(t.join().unwrap(), Err(Error::Canceled));
    assert_eq!(held.buffer_count(), 16);
}

#[test]
fn shrink_fails_a_waiter_that_can_never_fit_and_grow_serves_one() {
    let p = pool(64, 1024);
    let held = p.allocate(8).unwrap();
    let (p2, p3) = (p.clone(), p.clone());
    let big = thread::spawn(move || p2.allocate(12).map(|a| a.buffer_count()));
    eventually("the request waits", || p.stats().waiters == 1);
    p.set_max_memory(10 * 64).unwrap(); // 12 can never fit now
    assert_eq!(big.join().unwrap(), Err(Error::TooBig));

    let small = thread::spawn(move || p3.allocate(4).map(|a| a.buffer_count()));
    eventually("the request waits", || p.stats().waiters == 1);
    p.set_max_memory(16 * 64).unwrap(); // now it fits
    assert_eq!(small.join().unwrap(), Ok(4));
    drop(held);
}

#[test]
fn alloc_moves_between_threads() {
    let p = pool(4096, 1 << 20);
    let (tx, rx) = mpsc::channel::<Alloc>();
    let (back_tx, back_rx) = mpsc::channel::<Alloc>();
    let t = thread::spawn(move || {
        let mut a = rx.recv().unwrap();
        for (i, b) in a.buffers_mut().enumerate() {
            b.fill(i as u8 + 1);
        }
        back_tx.send(a).unwrap();
    });
    tx.send(p.allocate(4).unwrap()).unwrap();
    let a = back_rx.recv().unwrap();
    t.join().unwrap();
    for (i, b) in a.buffers().enumerate() {
        assert!(b.iter().all(|&x| x == i as u8 + 1));
    }
}

#[test]
fn shared_alloc_read_by_many_threads_released_by_the_last() {
    let p = pool(64, 64 * 64);
    let mut a = p.allocate(64).unwrap();
    for (i, x) in a.as_mut_slice().iter_mut().enumerate() {
        *x = (i % 251) as u8;
    }
    let s: SharedAlloc = a.into_shared();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(5));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let s = s.clone();
            let b = barrier.clone();
            thread::spawn(move || {
                b.wait();
                for _ in 0..100 {
                    assert!(s.as_slice().iter().enumerate().all(|(i, &x)| x == (i % 251) as u8));
                }
                // each reader drops its handle here, on its own thread
            })
        })
        .collect();
    drop(s);
    assert_eq!(p.stats().live_allocations, 1, "the readers still hold it");
    assert_eq!(p.try_allocate(1).unwrap_err(), Error::WouldBlock);
    barrier.wait();
    for r in readers {
        r.join().unwrap();
    }
    let st = p.stats();
    assert_eq!((st.live_allocations, st.in_use_bytes), (0, 0));
    assert_eq!(p.try_allocate(64).unwrap().buffer_count(), 64);
}

#[test]
fn release_on_another_thread_wakes_a_blocked_caller() {
    let p = pool(64, 1024);
    let s = p.allocate(16).unwrap().into_shared();
    let s2 = s.clone();
    drop(s);
    let dropper = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        drop(s2); // the last reference, released here
    });
    let a = p.allocate(16).unwrap(); // blocks until the other thread's drop
    assert_eq!(a.buffer_count(), 16);
    dropper.join().unwrap();
}

#[test]
fn shared_reference_to_alloc_across_scoped_threads() {
    let p = pool(64, 1024);
    let mut a = p.allocate(8).unwrap();
    a.as_mut_slice().fill(5);
    let a = &a; // Alloc is Sync: &Alloc reads from several threads
    thread::scope(|sc| {
        for _ in 0..3 {
            sc.spawn(move || assert!(a.as_slice().iter().all(|&x| x == 5)));
        }
    });
}

#[test]
fn pool_handle_dropped_while_another_thread_waits() {
    let p = pool(64, 1024);
    let held = p.allocate(16).unwrap();
    let p2 = p.clone();
    let t = thread::spawn(move || p2.allocate(2).map(|a| a.buffer_count()));
    eventually("the request waits", || p.stats().waiters == 1);
    drop(p); // the waiting thread's clone keeps the pool
    drop(held); // and the allocation's own handle too
    assert_eq!(t.join().unwrap(), Ok(2));
}

#[test]
fn waiter_driven_from_another_thread() {
    let p = pool(64, 1024);
    let held = p.allocate(16).unwrap();
    let mut w = p.waiter().unwrap();
    assert_eq!(w.allocate(4).unwrap_err(), Error::WouldBlock);
    let t = thread::spawn(move || {
        // the waiter moved here (Send); poll its fd, then retry
        use std::os::fd::AsRawFd;
        #[repr(C)]
        struct PollFd {
            fd: i32,
            events: i16,
            revents: i16,
        }
        unsafe extern "C" {
            fn poll(fds: *mut PollFd, nfds: std::os::raw::c_ulong, timeout: i32) -> i32;
        }
        loop {
            match w.allocate(4) {
                Ok(a) => return a.buffer_count(),
                Err(Error::WouldBlock) => {
                    let mut pfd = PollFd { fd: w.as_raw_fd(), events: 1, revents: 0 };
                    // SAFETY: one valid pollfd.
                    assert!(unsafe { poll(&mut pfd, 1, 10_000) } > 0, "no readiness within 10 s");
                }
                Err(e) => panic!("{e}"),
            }
        }
    });
    thread::sleep(Duration::from_millis(20));
    drop(held);
    assert_eq!(t.join().unwrap(), 4);
}

#[test]
fn churn_stays_within_the_budget() {
    // Each thread blocks only while it holds nothing (so the churn always
    // progresses), and while holding one allocation tries for a second.
    let budget = 16 * 64;
    let p = pool(64, budget);
    let threads: Vec<_> = (1..=4u64)
        .map(|seed| {
            let p = p.clone();
            thread::spawn(move || {
                let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                let mut rnd = move || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % 8 + 1) as usize
                };
                let mut waited = 0u32;
                for _ in 0..20_000u32 {
                    let mut a = p.allocate(rnd()).unwrap();
                    a.as_mut_slice().fill(seed as u8);
                    match p.try_allocate(rnd()) {
                        Ok(mut b) => {
                            b.as_mut_slice().fill(!seed as u8);
                            assert!(
                                b.as_slice().iter().all(|&v| v == !seed as u8),
                                "another thread wrote here"
                            );
                        }
                        Err(Error::WouldBlock) => waited += 1,
                        Err(e) => panic!("{e}"),
                    }
                    assert!(a.as_slice().iter().all(|&v| v == seed as u8), "another thread wrote here");
                }
                waited
            })
        })
        .collect();
    for _ in 0..50 {
        let s = p.stats();
        assert!(s.in_use_bytes <= budget, "{s:?}");
        thread::sleep(Duration::from_millis(2));
    }
    let mut would_block = 0;
    for t in threads {
        would_block += t.join().unwrap();
    }
    let s = p.stats();
    assert_eq!((s.in_use_bytes, s.live_allocations, s.waiters), (0, 0, 0));
    assert!(s.peak_in_use_bytes <= budget);
    assert!(s.total_allocations >= 80_000);
    assert!(would_block > 0, "the budget never ran short");
}
