//! `bufpool::compat`: the original's API (frozen-core 0.0.30's `bufpool`
//! and `utils::BufferSize`) and its behaviour: blocking under
//! backpressure, memory back on drop, the pool's drop waiting for live
//! allocations, the auto traits; and the panics that replace the
//! original's deadlock (a request over the budget) and empty allocation.

use bufpool::compat::{
    bufpool::{BufPool, BufPoolAllocation, BufPoolAllocationIter, BufPoolCfg, BufferPointer},
    utils::BufferSize,
};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

const BUF: BufferSize = BufferSize::S32;

fn make(max_memory: usize) -> BufPool {
    BufPool::new(BufPoolCfg { buffer_size: BUF, max_memory })
}

#[test]
fn the_originals_doc_example() {
    const BUF_SIZE: BufferSize = BufferSize::S16;

    let pool = BufPool::new(BufPoolCfg { buffer_size: BUF_SIZE, max_memory: BUF_SIZE as usize * 0x40 });

    let alloc = pool.allocate(0x2A);

    assert_eq!(alloc.length(), 0x2A);
    assert!(!alloc.first().is_null());
    assert_eq!(alloc.allocated_bytes(), BUF_SIZE as usize * 0x2A);

    let ptrs: Vec<BufferPointer> = alloc.iter().collect();
    assert_eq!(ptrs.len(), 0x2A);
}

#[test]
fn auto_traits_and_derives_as_in_the_original() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    fn debug<T: std::fmt::Debug>() {}
    fn copy_eq<T: Copy + Eq + std::fmt::Debug>() {}
    fn ord<T: Copy + Ord + std::fmt::Debug>() {}
    send_sync::<BufPool>();
    send::<BufPoolAllocation>();
    debug::<BufPool>();
    debug::<BufPoolAllocation>();
    debug::<BufPoolAllocationIter>();
    copy_eq::<BufPoolCfg>();
    ord::<BufferSize>();
    // (not Sync / not Send: compile_fail doc tests in compat::bufpool)
    let _: fn(&BufPool, usize) -> BufPoolAllocation = BufPool::allocate;
    let _: fn(BufPoolCfg) -> BufPool = BufPool::new;
    let _: fn(&BufPoolAllocation) -> BufferPointer = BufPoolAllocation::first;
    let _: fn(&BufPoolAllocation) -> usize = BufPoolAllocation::length;
    let _: fn(&BufPoolAllocation) -> usize = BufPoolAllocation::allocated_bytes;
    let _: fn(&BufPoolAllocation) -> BufPoolAllocationIter = BufPoolAllocation::iter;
}

#[test]
fn buffer_sizes() {
    let all = [
        BufferSize::S8,
        BufferSize::S16,
        BufferSize::S32,
        BufferSize::S64,
        BufferSize::S128,
        BufferSize::S256,
        BufferSize::S512,
        BufferSize::S1024,
        BufferSize::S2048,
        BufferSize::S4096,
        BufferSize::S8192,
        BufferSize::S16384,
    ];
    for (i, s) in all.iter().enumerate() {
        assert_eq!(s.bytes(), 8 << i);
        assert_eq!(*s as usize, 8 << i);
        // every size makes a pool
        let p = BufPool::new(BufPoolCfg { buffer_size: *s, max_memory: s.bytes() * 4 });
        assert_eq!(p.allocate(4).allocated_bytes(), s.bytes() * 4);
    }
    assert!(BufferSize::S8 < BufferSize::S16384);
}

#[test]
fn allocations_and_their_buffers() {
    let pool = make(BUF.bytes() * 0x14);
    let one = pool.allocate(1);
    assert_eq!((one.length(), one.allocated_bytes()), (1, 32));
    let many = pool.allocate(0x10);
    assert_eq!((many.length(), many.allocated_bytes()), (0x10, 0x10 * 32));
    let ptrs: Vec<BufferPointer> = many.iter().collect();
    assert_eq!(ptrs.len(), 0x10);
    assert_eq!(many.iter().size_hint(), (0x10, Some(0x10)));
    for (i, p) in ptrs.iter().enumerate() {
        assert_eq!(*p as usize, many.first() as usize + i * 32);
        // SAFETY: buffer i of a live allocation, 32 bytes.
        unsafe { std::ptr::write_bytes(*p, i as u8, 32) };
    }
    for (i, p) in ptrs.iter().enumerate() {
        // SAFETY: written above; the allocation is alive.
        let b = unsafe { std::slice::from_raw_parts(*p, 32) };
        assert!(b.iter().all(|&x| x == i as u8));
    }
    // the two allocations never overlap
    let (a0, a1) = (one.first() as usize, one.first() as usize + 32);
    let (b0, b1) = (many.first() as usize, many.first() as usize + 0x10 * 32);
    assert!(a1 <= b0 || b1 <= a0);
}

#[test]
fn the_whole_budget_and_back() {
    let pool = make(BUF.bytes() * 0x0A);
    let all = pool.allocate(0x0A);
    assert_eq!(all.length(), 0x0A);
    drop(all);
    let again = pool.allocate(0x0A); // would block forever if the drop gave nothing back
    assert_eq!(again.allocated_bytes(), 0x0A * 32);
    drop(again);
    for _ in 0..5 {
        let halves = (pool.allocate(5), pool.allocate(5));
        assert_eq!(halves.0.length() + halves.1.length(), 0x0A);
    }
}

#[test]
fn many_allocations_dropped_together() {
    let pool = make(BUF.bytes() * 0x80);
    let allocs: Vec<_> = (0..0x20).map(|_| pool.allocate(2)).collect();
    assert_eq!(allocs.iter().map(|a| a.allocated_bytes()).sum::<usize>(), 0x20 * 0x40);
    drop(allocs);
    assert_eq!(pool.allocate(0x80).length(), 0x80);
}

#[test]
fn backpressure_blocks_until_memory_is_released() {
    let pool = Arc::new(make(BUF.bytes() * 2));
    let alloc = pool.allocate(1);
    let (pool2, barrier) = (pool.clone(), Arc::new(Barrier::new(2)));
    let barrier2 = barrier.clone();
    let t = thread::spawn(move || {
        barrier2.wait();
        let a = pool2.allocate(2);
        (Instant::now(), a.length())
    });
    barrier.wait();
    thread::sleep(Duration::from_millis(100));
    // Served only by the release: it returns after this instant.  (Timing
    // the wait from the other thread's start raced with this sleep's start.)
    let released = Instant::now();
    drop(alloc);
    let (served, n) = t.join().expect("the allocating thread");
    assert_eq!(n, 2);
    assert!(served >= released, "served {:?} before the release", released - served);
}

#[test]
fn concurrent_allocations() {
    let pool = Arc::new(make(BUF.bytes() * 0x1000));
    let threads: Vec<_> = (0..0x0A)
        .map(|_| {
            let pool = pool.clone();
            thread::spawn(move || {
                for _ in 0..0x64 {
                    drop(pool.allocate(1));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(pool.allocate(0x1000).length(), 0x1000, "everything came back");
}

#[test]
fn concurrent_allocations_under_backpressure() {
    // 4 threads x up to 8 buffers against a budget of 8: most requests wait.
    let pool = Arc::new(make(BUF.bytes() * 8));
    let threads: Vec<_> = (1..=4usize)
        .map(|k| {
            let pool = pool.clone();
            thread::spawn(move || {
                for i in 0..2000 {
                    let a = pool.allocate((i * k) % 8 + 1);
                    // SAFETY: the allocation's own bytes.
                    unsafe { std::ptr::write_bytes(a.first(), k as u8, a.allocated_bytes()) };
                    // SAFETY: written just above; nobody else has them.
                    let b = unsafe { std::slice::from_raw_parts(a.first(), a.allocated_bytes()) };
                    assert!(b.iter().all(|&x| x == k as u8), "allocations overlapped");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn drop_waits_for_live_allocations() {
    let pool = Arc::new(make(BUF.bytes() * 0x1A));
    let alloc = pool.allocate(0x10);
    let t = thread::spawn(move || drop(pool)); // the last Arc: BufPool::drop
    thread::sleep(Duration::from_millis(0x64));
    assert!(!t.is_finished(), "the pool's drop returned while an allocation was live");
    drop(alloc);
    t.join().unwrap();
}

#[test]
fn allocation_dropped_on_another_thread() {
    let pool = make(BUF.bytes() * 4);
    let (tx, rx) = mpsc::channel::<BufPoolAllocation>();
    let t = thread::spawn(move || {
        let a = rx.recv().unwrap();
        assert_eq!(a.length(), 4);
        // dropped here
    });
    tx.send(pool.allocate(4)).unwrap();
    t.join().unwrap();
    assert_eq!(pool.allocate(4).length(), 4);
}

#[test]
fn the_pool_may_move_while_allocations_live() {
    // The allocation refers to the C pool, not to the BufPool value.
    let pool = make(BUF.bytes() * 4);
    let a = pool.allocate(2);
    let moved = Box::new(pool);
    let b = moved.allocate(2);
    drop(a);
    drop(b);
    let c = moved.allocate(4);
    assert_eq!(c.length(), 4);
}

#[test]
fn one_buffer_budget_is_accepted() {
    let pool = make(BUF.bytes());
    assert_eq!(pool.allocate(1).length(), 1);
}

#[test]
#[should_panic(expected = "zero buffers requested")]
fn allocate_zero_panics() {
    let pool = make(BUF.bytes() * 4);
    let _ = pool.allocate(0);
}

#[test]
#[should_panic(expected = "can never fit")]
fn allocate_over_the_budget_panics_instead_of_deadlocking() {
    let pool = make(BUF.bytes());
    let _ = pool.allocate(2);
}

#[test]
#[should_panic(expected = "overflow")]
fn allocate_overflowing_panics() {
    let pool = make(BUF.bytes() * 4);
    let _ = pool.allocate(usize::MAX / 2);
}

#[test]
fn over_budget_panics_at_once_even_while_others_hold_memory() {
    let pool = make(BUF.bytes() * 4);
    let _held = pool.allocate(4);
    let t = Instant::now();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.allocate(5)));
    let msg = *r.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.contains("5 buffers x 32 B = 160 B exceed max_memory = 128 B"), "{msg}");
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[test]
#[should_panic(expected = "below the buffer size")]
fn new_with_a_budget_below_one_buffer_panics() {
    let _ = BufPool::new(BufPoolCfg { buffer_size: BufferSize::S64, max_memory: 32 });
}
