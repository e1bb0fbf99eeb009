//! The pool's end: allocations outlive the last `Pool` and `Waiter`, the drop
//! of the last handle never blocks, and the C pool is destroyed once its
//! last allocation is released (on a thread named `bufpool-destroy` when
//! allocations were still out, at once when none were).  One test, alone in
//! its process, so that it may count this process's threads.

use bufpool::{Config, Pool};
use std::time::{Duration, Instant};

/// Threads of this process named `bufpool-destroy`.
fn destroyers() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return 0 };
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .filter(|c| c.trim_end() == "bufpool-destroy")
        .count()
}

fn eventually(what: &str, f: impl Fn() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(20), "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn pool() -> Pool {
    Pool::new(Config::new(64, 1024)).expect("Pool::new")
}

#[test]
fn pool_ends_after_its_last_allocation() {
    if std::fs::read_dir("/proc/self/task").is_err() {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "SKIP: lifetimes: no /proc/self/task to count threads in");
        return;
    }
    assert_eq!(destroyers(), 0);

    // Nothing live: destroyed at once, no thread.
    let p = pool();
    drop(p.allocate(4).unwrap());
    drop(p);
    assert_eq!(destroyers(), 0);

    // This thread holds an allocation: the drop returns (an inline destroy
    // would wait forever for it), the allocation stays valid, and the
    // destroy waits on its own thread until the allocation goes.
    let p = pool();
    let mut a = p.allocate(4).unwrap();
    let t = Instant::now();
    drop(p);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(a.pool().is_none(), "no handle can come back");
    a.as_mut_slice().fill(9);
    let s = a.into_shared();
    let s2 = s.clone();
    drop(s);
    // (the thread names itself once it runs)
    eventually("a thread waits to destroy the pool", || destroyers() == 1);
    assert!(s2.as_slice().iter().all(|&b| b == 9));
    drop(s2);
    eventually("the destroying thread ends", || destroyers() == 0);

    // An allocation made on a thread that has exited since (its counters
    // went elsewhere): still counted, so the drop still does not block.
    let p = pool();
    let p2 = p.clone();
    let a = std::thread::spawn(move || p2.allocate(2).unwrap()).join().unwrap();
    drop(p);
    eventually("a thread waits to destroy the pool", || destroyers() == 1);
    // Released on yet another thread.
    std::thread::spawn(move || drop(a)).join().unwrap();
    eventually("the destroying thread ends", || destroyers() == 0);

    // A waiter is a handle too: the pool takes requests until it goes.
    let p = pool();
    let a = p.allocate(1).unwrap();
    let mut w = p.waiter().unwrap();
    drop(p);
    let b = w.allocate(1).unwrap();
    assert_eq!(a.pool().unwrap().stats().live_allocations, 2);
    drop(w);
    assert!(b.pool().is_none());
    drop((a, b));
    eventually("the destroying thread ends", || destroyers() == 0);
}
