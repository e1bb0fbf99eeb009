//! `Pool::allocate_async` under tokio's multi-thread runtime.
//!
//! `cargo run --release` checks that many tasks awaiting allocations on a
//! tight budget all complete, within the budget, and that a timed-out or
//! `select!`-dropped request leaves nothing behind.
//!
//! `cargo run --release -- --bench [--quick]` prints the async row: one
//! task awaits allocations of 1 buffer from a budget of 1 buffer and sends
//! each to a second task, which releases it; against the same two tasks
//! with tokio's `Semaphore` (1 permit) guarding a `Vec<u8>` pool.  Ops/s,
//! median and (min .. max) of interleaved rounds.

use bufpool::{Config, Error, Pool};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc};

const BUF: usize = 4096;
const DEADLINE: Duration = Duration::from_secs(60);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().expect("runtime")
}

/// `tasks` tasks, each `rounds` times: await 1 or 2 buffers, hold them
/// across a yield, release.  Budget: `budget` buffers.
async fn many_tasks(fifo: bool, tasks: usize, rounds: usize, budget: usize) -> Result<(), Error> {
    let pool = Pool::new(Config { fifo, ..Config::new(BUF, budget * BUF) })?;
    let in_use = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for i in 0..tasks {
        let (pool, in_use) = (pool.clone(), in_use.clone());
        handles.push(tokio::spawn(async move {
            for r in 0..rounds {
                let n = 1 + (i + r) % 2;
                let a = pool.allocate_async(n).await?;
                let now = in_use.fetch_add(n, Ordering::SeqCst) + n;
                assert!(now <= budget, "{now} buffers in use, budget {budget}");
                tokio::task::yield_now().await;
                in_use.fetch_sub(n, Ordering::SeqCst);
                drop(a);
            }
            Ok::<(), Error>(())
        }));
    }
    for h in handles {
        h.await.expect("task panicked")?;
    }
    let s = pool.stats();
    assert_eq!((s.in_use_bytes, s.live_allocations, s.waiters), (0, 0, 0));
    assert_eq!(s.total_allocations, (tasks * rounds) as u64);
    println!(
        "{tasks} tasks x {rounds} allocations on {budget} buffers{}: all completed",
        if fifo { " (FIFO)" } else { "" }
    );
    Ok(())
}

/// Requests given up by `timeout` and `select!` leave the queue, and the
/// memory goes to the request behind them.
async fn cancellation() -> Result<(), Error> {
    let pool = Pool::new(Config { fifo: true, ..Config::new(BUF, 2 * BUF) })?;
    let held = pool.allocate(2)?;
    let r = tokio::time::timeout(Duration::from_millis(10), pool.allocate_async(1)).await;
    assert!(r.is_err(), "served with the budget held");
    assert_eq!(pool.stats().waiters, 0, "the timed-out request is still queued");

    let p = pool.clone();
    let behind = tokio::spawn(async move { p.allocate_async(2).await });
    tokio::select! {
        _ = pool.allocate_async(2) => panic!("served with the budget held"),
        _ = tokio::time::sleep(Duration::from_millis(10)) => {}
    }
    drop(held);
    let a = behind.await.expect("task panicked")?;
    assert_eq!(a.buffer_count(), 2);
    drop(a);
    assert_eq!(pool.stats().in_use_bytes, 0);
    println!("timeout and select! cancel pending requests: ok");
    Ok(())
}

fn check() {
    let rt = runtime();
    rt.block_on(async {
        let all = async {
            many_tasks(false, 256, 100, 4).await?;
            many_tasks(true, 256, 100, 4).await?;
            cancellation().await
        };
        match tokio::time::timeout(DEADLINE, all).await {
            Ok(r) => r.expect("allocate_async"),
            Err(_) => panic!("not done within {DEADLINE:?}: a lost wake-up?"),
        }
    });
    println!("tokio-async: passed");
}

// ---- bench ----

/// bufpool: ops/s of `iters` allocations of 1 buffer on a budget of 1,
/// each released by the other task.
async fn bench_bufpool(iters: u32) -> f64 {
    let pool = Pool::new(Config::new(BUF, BUF)).expect("Pool::new");
    let (tx, mut rx) = mpsc::channel(1);
    let releaser = tokio::spawn(async move {
        while let Some(a) = rx.recv().await {
            drop::<bufpool::Alloc>(a);
        }
    });
    let t = Instant::now();
    for _ in 0..iters {
        let a = pool.allocate_async(1).await.expect("allocate_async");
        tx.send(a).await.expect("send");
    }
    drop(tx);
    releaser.await.expect("releaser");
    f64::from(iters) / t.elapsed().as_secs_f64()
}

/// The same with a `Semaphore` of 1 permit guarding a pool of one `Vec<u8>`.
async fn bench_semaphore(iters: u32) -> f64 {
    let sem = Arc::new(Semaphore::new(1));
    let bufs = Arc::new(Mutex::new(vec![vec![0u8; BUF]]));
    let (tx, mut rx) = mpsc::channel(1);
    let back = bufs.clone();
    let releaser = tokio::spawn(async move {
        while let Some((permit, buf)) = rx.recv().await {
            back.lock().unwrap().push(buf);
            drop::<tokio::sync::OwnedSemaphorePermit>(permit);
        }
    });
    let t = Instant::now();
    for _ in 0..iters {
        let permit = sem.clone().acquire_owned().await.expect("acquire");
        let buf: Vec<u8> = bufs.lock().unwrap().pop().expect("a buffer per permit");
        tx.send((permit, buf)).await.expect("send");
    }
    drop(tx);
    releaser.await.expect("releaser");
    f64::from(iters) / t.elapsed().as_secs_f64()
}

fn stats(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
    (median, v[0], v[n - 1])
}

fn bench(quick: bool) {
    let (rounds, iters) = if quick { (3, 5_000) } else { (21, 100_000) };
    let rt = runtime();
    let (mut ours, mut sem) = (Vec::new(), Vec::new());
    for round in 0..=rounds {
        // round 0 is the warm-up; the order alternates between rounds
        let (a, b) = rt.block_on(async {
            if round % 2 == 0 {
                let a = bench_bufpool(iters).await;
                (a, bench_semaphore(iters).await)
            } else {
                let b = bench_semaphore(iters).await;
                (bench_bufpool(iters).await, b)
            }
        });
        if round > 0 {
            ours.push(a);
            sem.push(b);
        }
    }
    let mut ratio: Vec<f64> = ours.iter().zip(&sem).map(|(a, b)| a / b).collect();
    let (om, olo, ohi) = stats(&mut ours);
    let (sm, slo, shi) = stats(&mut sem);
    let (rm, rlo, rhi) = stats(&mut ratio);
    println!(
        "async: one task awaiting 1 buffer of a 1-buffer budget, one releasing (tokio multi-thread, 2 workers): \
         k ops/s, median (min .. max) of {rounds} interleaved rounds of {iters}{}",
        if quick { " (--quick)" } else { "" }
    );
    println!();
    println!("| | bufpool allocate_async | tokio Semaphore + Vec<u8> pool | ratio |");
    println!("|:--|--:|--:|--:|");
    println!(
        "| async | {:.0} ({:.0} .. {:.0}) | {:.0} ({:.0} .. {:.0}) | {rm:.2}x ({rlo:.2} .. {rhi:.2}) |",
        om / 1e3,
        olo / 1e3,
        ohi / 1e3,
        sm / 1e3,
        slo / 1e3,
        shi / 1e3
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--bench") {
        bench(args.iter().any(|a| a == "--quick"));
    } else {
        check();
    }
}
