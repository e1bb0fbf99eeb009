//! `cargo run --release --example bench [-- --quick]`
//!
//! One thread, 64-byte buffers: the latency of one allocate+release
//! roundtrip for n = 1, 16 and 1024 buffers, through
//!
//! - `bufpool::Pool` (the crate's API: `allocate` then drop the `Alloc`),
//! - `bufpool::compat::bufpool::BufPool` (the original's API on bufpool),
//! - the C API called directly through `bufpool::ffi` (what the wrappers add
//!   to it is the difference),
//! - `Vec<u8>` under an atomic byte budget: a CAS loop on an `AtomicUsize`,
//!   then `Vec::with_capacity` (malloc), and on drop the free and a
//!   `fetch_sub` (the original's design, without its wakeups).
//!
//! Every cell is the median of interleaved rounds (each round runs every
//! implementation once per n, in an order that rotates between rounds),
//! after a warm-up round.  Prints a markdown table, then each wrapper's
//! ratio to the C API: per round (the two measured moments apart, so a
//! busy machine slows both), the median of those ratios and their spread
//! (the middle half of the rounds, and the extremes).

use bufpool::compat::bufpool::{BufPool, BufPoolCfg};
use bufpool::compat::utils::BufferSize;
use bufpool::{Config, Pool, ffi};
use std::hint::black_box;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

const BUF: usize = 64;
const BUDGET: usize = 64 << 20;
const NS: [usize; 3] = [1, 16, 1024];

/// `Vec<u8>` with an atomic budget.
struct VecBudget {
    used: AtomicUsize,
    max: usize,
}

struct VecAlloc<'a> {
    buf: Vec<u8>,
    budget: &'a VecBudget,
}

impl VecBudget {
    #[inline]
    fn allocate(&self, n: usize) -> VecAlloc<'_> {
        let bytes = n * BUF;
        let mut cur = self.used.load(Ordering::Acquire);
        loop {
            assert!(cur + bytes <= self.max, "the bench never exceeds the budget");
            match self.used.compare_exchange_weak(cur, cur + bytes, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        VecAlloc { buf: Vec::with_capacity(bytes), budget: self }
    }
}

impl Drop for VecAlloc<'_> {
    #[inline]
    fn drop(&mut self) {
        let bytes = self.buf.capacity();
        drop(std::mem::take(&mut self.buf));
        self.budget.used.fetch_sub(bytes, Ordering::Release);
    }
}

struct Subjects {
    pool: Pool,
    compat: BufPool,
    raw: *mut ffi::bufpool,
    vec: VecBudget,
}

const NAMES: [&str; 4] = ["bufpool::Pool", "compat::BufPool", "C API (ffi)", "Vec<u8> + atomic budget"];
/// The index of the C API in NAMES.
const C_API: usize = 2;

impl Subjects {
    /// `iters` roundtrips of `n` buffers through implementation `which`;
    /// nanoseconds per roundtrip.
    #[inline(never)]
    fn run(&self, which: usize, n: usize, iters: u32) -> f64 {
        let t = Instant::now();
        match which {
            0 => {
                for _ in 0..iters {
                    let a = self.pool.allocate(black_box(n)).unwrap();
                    black_box(a.as_ptr());
                    drop(a);
                }
            }
            1 => {
                for _ in 0..iters {
                    let a = self.compat.allocate(black_box(n));
                    black_box(a.first());
                    drop(a);
                }
            }
            2 => {
                for _ in 0..iters {
                    let mut a = ptr::null_mut();
                    // SAFETY: the pool is alive until `Subjects` drops.
                    let rc = unsafe { ffi::bufpool_allocate(self.raw, black_box(n), &mut a) };
                    assert_eq!(rc, 0);
                    // SAFETY: `a` is a live allocation and the reference is ours.
                    unsafe {
                        black_box(ffi::bufpool_alloc_first(a));
                        ffi::bufpool_alloc_release(a);
                    }
                }
            }
            _ => {
                for _ in 0..iters {
                    let a = self.vec.allocate(black_box(n));
                    black_box(a.buf.as_ptr());
                    drop(a);
                }
            }
        }
        t.elapsed().as_nanos() as f64 / f64::from(iters)
    }
}

impl Drop for Subjects {
    fn drop(&mut self) {
        // SAFETY: nothing of this pool is live.
        unsafe { ffi::bufpool_destroy(self.raw) }
    }
}

fn median(v: &mut [f64]) -> f64 {
    quantile(v, 0.5)
}

/// The q-quantile (0 ..= 1) of `v`, interpolated between neighbours.
fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let x = q * (v.len() - 1) as f64;
    let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (x - lo as f64)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, iters) = if quick { (3, 20_000) } else { (21, 400_000) };

    let mut raw = ptr::null_mut();
    let cfg = ffi::bufpool_config { buffer_size: BUF, max_memory: BUDGET, flags: 0 };
    // SAFETY: valid pointers for the call.
    assert_eq!(unsafe { ffi::bufpool_create(&mut raw, &cfg) }, 0);
    let s = Subjects {
        pool: Pool::new(Config::new(BUF, BUDGET)).expect("Pool::new"),
        compat: BufPool::new(BufPoolCfg { buffer_size: BufferSize::S64, max_memory: BUDGET }),
        raw,
        vec: VecBudget { used: AtomicUsize::new(0), max: BUDGET },
    };

    // samples[n index][implementation] = ns per roundtrip, one per round
    let mut samples = vec![vec![Vec::new(); NAMES.len()]; NS.len()];
    for round in 0..=rounds {
        for (ni, &n) in NS.iter().enumerate() {
            for k in 0..NAMES.len() {
                let which = (k + round) % NAMES.len();
                let ns = s.run(which, n, iters);
                if round > 0 {
                    // round 0 is the warm-up
                    samples[ni][which].push(ns);
                }
            }
        }
    }

    println!(
        "allocate+release roundtrip, one thread, {BUF} B buffers: ns per roundtrip, median of {rounds} \
         interleaved rounds of {iters}{}",
        if quick { " (--quick)" } else { "" }
    );
    println!();
    print!("| n |");
    for name in NAMES {
        print!(" {name} |");
    }
    println!();
    print!("|--:|");
    for _ in NAMES {
        print!("--:|");
    }
    println!();
    for (ni, &n) in NS.iter().enumerate() {
        print!("| {n} |");
        for v in samples[ni].clone().iter_mut() {
            print!(" {:.1} |", median(v));
        }
        println!();
    }

    println!();
    println!("ratio to the C API, per round: median [middle half] (min .. max)");
    println!();
    println!("| n | {} | {} |", NAMES[0], NAMES[1]);
    println!("|--:|--:|--:|");
    for (ni, &n) in NS.iter().enumerate() {
        print!("| {n} |");
        for which in [0, 1] {
            let mut r: Vec<f64> =
                samples[ni][which].iter().zip(&samples[ni][C_API]).map(|(w, c)| w / c).collect();
            let (q1, q3) = (quantile(&mut r, 0.25), quantile(&mut r, 0.75));
            let (lo, hi) = (r[0], r[r.len() - 1]);
            print!(" {:.2}x [{q1:.2} .. {q3:.2}] ({lo:.2} .. {hi:.2}) |", median(&mut r));
        }
        println!();
    }
}
