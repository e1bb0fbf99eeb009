//! A memory-budgeted pool of fixed-size buffers with backpressure, for
//! Linux: Rust bindings to the **bufpool** C library, which this crate
//! carries (`csrc/`) and builds and links statically itself (see
//! "Building" below).  No dependency beyond std.
//!
//! A [`Pool`] hands out allocations of `n` contiguous buffers of one size,
//! and never more bytes at once than its budget: a request that does not
//! fit waits ([`Pool::allocate`]), fails at once ([`Pool::try_allocate`]),
//! waits at most a while ([`Pool::allocate_timeout`]), is awaited as a
//! future ([`Pool::allocate_async`]), or is signalled through a file
//! descriptor ([`Waiter`]), until releases make room.  [`Account`]s share
//! that budget among consumers in a tree, each with a reservation, a cap
//! and a priority.
//! Allocation and release are fast (per-thread caches; an allocate+release
//! roundtrip costs about what the C call costs, a few nanoseconds).
//!
//! Two APIs:
//!
//! - the crate's own: [`Pool`], [`Alloc`], [`SharedAlloc`],
//!   [`AllocateFuture`], [`Waiter`], [`Account`], [`AccountAllocateFuture`],
//!   with every C error as an [`Error`] value, and allocations that behave
//!   as byte buffers (`Deref<Target = [u8]>`, [`std::io::Write`] and
//!   [`std::io::Read`], [`std::io::IoSlice`] views, zero-copy shared
//!   slices);
//! - [`compat`]: the original's API, frozen-core 0.0.30's `bufpool` module
//!   (`BufPool`, `BufPoolCfg`, `BufPoolAllocation`, ...), for code written
//!   against it.
//!
//! ```
//! use bufpool::{Config, Error, Pool};
//! use std::io::Write;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = Pool::new(Config::new(4096, 64 << 20))?; // 4 KiB buffers, 64 MiB budget
//! let mut a = pool.allocate(16)?;            // blocks while the budget is short
//! assert_eq!((a.buffer_count(), a.byte_len()), (16, 16 * 4096));
//! a.fill(0);                                 // Deref(Mut) to all the bytes
//! a.buffer_mut(3).unwrap()[0] = 1;           // buffer 3: bytes 3*4096 .. 4*4096
//! assert_eq!(a[3 * 4096], 1);
//!
//! a.clear();
//! write!(a, "GET / HTTP/1.1\r\n")?;          // io::Write appends: the filled length
//! let req = a.freeze();                      // shared, read-only: the filled bytes
//! let reader = req.clone();                  // bufpool_alloc_retain
//! std::thread::spawn(move || assert_eq!(&reader[..3], b"GET")).join().unwrap();
//! let path = req.slice(4..5);                // a view of part of it, no copy
//! drop(req);
//! assert_eq!(&*path, b"/");
//! drop(path);                                // the last handle: memory back, waiters woken
//!
//! assert_eq!(pool.try_allocate(1 << 20).unwrap_err(), Error::TooBig);
//! # Ok(())
//! # }
//! ```
//!
//! # Building
//!
//! The build script compiles the crate's copy of the C library
//! (`csrc/src/*.c`, `csrc/include/bufpool.h`) with `$CC` (else `cc`): the
//! flags the library needs (`-std=gnu11 -fPIC -fvisibility=hidden
//! -pthread`), then `$CFLAGS` (else `-O2`); `ar` is `$AR` (else `ar`).  It
//! reads nothing outside the crate's directory, so the crate builds the same
//! from a checkout, a copy, a `cargo vendor` directory or a registry.  With
//! `BUFPOOL_LIB_DIR` set, it links the `libbufpool.a` (else `libbufpool.so`)
//! found there instead and compiles no C source.  Linux only.
//!
//! # Lifetimes: no allocation outlives its pool
//!
//! [`Pool`] and [`Waiter`] are counted handles to the C pool (`Clone` on a
//! `Pool` is an atomic increment).  An allocation ([`Alloc`],
//! [`SharedAlloc`]) is not a handle: it costs no atomic operation of its
//! own, and an allocate+release roundtrip through `Pool` runs at the C
//! call's speed (the bench example measures it:
//! `cargo run --release --example bench`).  Yet it may outlive every handle:
//! when the last `Pool` and `Waiter` drop, the pool takes no new request,
//! and `bufpool_destroy` frees it once its last allocation is released.
//! The drop never blocks: with allocations still out (perhaps held by the
//! dropping thread itself), the destroy waits for them on a thread of its
//! own, named `bufpool-destroy`, that ends with it.  So use after destroy is
//! impossible in safe code, and dropping a `Pool` never waits.  (Should the
//! system refuse that thread, the pool is left alive: its allocations stay
//! valid, and its memory is not given back.)
//!
//! An [`Account`] holds its pool as a `Pool` handle does.  Allocations made
//! through an account do count: each holds a reference to its account
//! (an `Arc`, two atomic operations per allocation), dropped after its C
//! release, so the account lives until its last allocation, child, waiter
//! and handle are gone, and is destroyed then, never while in use.
//!
//! Why not borrow the pool (`Alloc<'pool>`)?  Allocations are made to
//! travel: handed to another thread (`std::thread::spawn` and async
//! runtimes want `'static`), kept in a queue, in an io_uring request's
//! state, in a struct without a lifetime parameter.  A borrow would forbid
//! all of that or force scoped threads everywhere.
//! [`compat::bufpool::BufPool`] keeps the original's model instead: the
//! pool's drop blocks until its allocations are gone.
//!
//! # Unique and shared handles
//!
//! A fresh allocation is an [`Alloc`], the only handle to its memory: it
//! derefs to `[u8]` and, through `&mut self`, to `&mut [u8]`.  It is not
//! `Clone`.  Sharing goes through [`Alloc::into_shared`] (or
//! [`Alloc::freeze`]), which consumes it and returns a [`SharedAlloc`]:
//! `Clone` and [`SharedAlloc::slice`] on that take a C reference
//! (`bufpool_alloc_retain`), and no `SharedAlloc` gives `&mut`.  So once a
//! second handle can exist, none can write, and that is a property of the
//! types, not a runtime check.  (A `Clone` on `Alloc` would have to return
//! an `Alloc`, and two of them would each hand out `&mut` to the same bytes.)
//!
//! ```compile_fail,E0599
//! # fn f(pool: &bufpool::Pool) -> Result<(), bufpool::Error> {
//! let a = pool.allocate(1)?;
//! let s = a.into_shared();
//! s.as_mut_slice()[0] = 1; // no such method: a shared handle only reads
//! # Ok(()) }
//! ```
//!
//! ```compile_fail,E0596
//! # fn f(pool: &bufpool::Pool) -> Result<(), bufpool::Error> {
//! let a = pool.allocate(1)?;
//! let mut s = a.into_shared();
//! s[0] = 1; // it derefs to `[u8]`, not mutably
//! # Ok(()) }
//! ```
//!
//! ```compile_fail,E0382
//! # fn f(pool: &bufpool::Pool) -> Result<(), bufpool::Error> {
//! let mut a = pool.allocate(1)?;
//! let s = a.into_shared();
//! a.as_mut_slice()[0] = 1; // `a` was moved into the shared handle
//! # Ok(()) }
//! ```
//!
//! ```compile_fail,E0599
//! # fn f(pool: &bufpool::Pool) -> Result<(), bufpool::Error> {
//! let a = pool.allocate(1)?;
//! let b = a.clone(); // Alloc is not Clone
//! # Ok(()) }
//! ```
//!
//! # Threads
//!
//! [`Pool`], [`Alloc`], [`SharedAlloc`], [`AllocateFuture`] and [`Waiter`]
//! are all `Send` and `Sync`; each `unsafe impl` says why in a `// SAFETY:`
//! comment.  In short: every C function is thread-safe except the two
//! destroys, which run only in `Drop` (so with exclusive access); an
//! `Alloc` writes only through `&mut`; a `SharedAlloc` never writes; a
//! `Waiter` or an `AllocateFuture` changes only through `&mut` (the C
//! library wants one thread at a time per waiter; the future's callback,
//! on any thread, touches only a locked waker slot), and a `Waiter`
//! exposes only its fd through `&`.
//! [`BufRing`] and [`RingShare`] are `Send` and `Sync` on the same grounds
//! (a ring changes only through `&mut`; a share only reads).
//! [`Account`] is `Send` and `Sync` too: every account call is thread-safe
//! but its destroy, which runs when its last reference drops; an
//! [`AccountAllocateFuture`] is, as an `AllocateFuture`.  A [`Watch`] is
//! `Send` and `Sync` as a `Waiter` is (it changes only through `&mut`).
//! A reclaim closure must be `Send + Sync`: any thread whose request runs
//! short calls it.
//!
//! # Memory
//!
//! Buffers are contiguous (buffer `i` at `as_ptr() + i * buffer_size`) and
//! aligned to `min(buffer_size, 4096)`.  Their bytes are *unspecified but
//! initialized*: the pool carves allocations from anonymous `mmap` memory,
//! which the kernel zero-fills, and a released buffer keeps what its holder
//! wrote.  So `&[u8]` of a fresh allocation is sound to read, and holds zeros
//! or stale data: fill it before you rely on its contents.  (Code that
//! writes through [`Alloc::as_mut_ptr`] must write initialized bytes, as
//! with any `&mut [u8]`.)
//!
//! # Async allocation
//!
//! [`Pool::allocate_async`] returns an [`AllocateFuture`]: it completes
//! when the budget covers the request, under any executor (it needs only
//! the task's [`Waker`](std::task::Waker): the C library calls back on the
//! thread whose release makes room, and the callback wakes the task).  It
//! never blocks a thread, and dropping it cancels the request, giving back
//! memory the pool had set aside for it.  A request served at once costs a
//! `try_allocate`.
//!
//! ```
//! use bufpool::{Config, Pool};
//! # use std::sync::Arc;
//! # use std::task::{Context, Poll, Wake, Waker};
//! # struct Unpark(std::thread::Thread);
//! # impl Wake for Unpark { fn wake(self: Arc<Self>) { self.0.unpark() } }
//! # // A minimal executor: any runtime's would do.
//! # fn block_on<F: Future>(f: F) -> F::Output {
//! #     let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
//! #     let mut f = std::pin::pin!(f);
//! #     loop {
//! #         if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(&waker)) { return v; }
//! #         std::thread::park();
//! #     }
//! # }
//!
//! # fn main() -> Result<(), bufpool::Error> {
//! let pool = Pool::new(Config::new(4096, 4 * 4096))?;
//! let held = pool.allocate(4)?; // the whole budget
//! std::thread::spawn(move || drop(held)); // this release wakes the task
//! let a = block_on(async { pool.allocate_async(2).await })?;
//! assert_eq!(a.buffer_count(), 2);
//! # Ok(())
//! # }
//! ```
//!
//! [`Waiter`] is an eventfd-backed async waiter for readiness loops:
//! `allocate` never blocks, and on [`Error::WouldBlock`] its fd
//! ([`std::os::fd::AsRawFd`]) turns readable when a retry may succeed:
//! register it with `poll(2)`, epoll, mio or tokio's `AsyncFd`.  Its docs
//! show a complete poll(2) loop.
//!
//! # Accounts
//!
//! [`Pool::account`] and [`Account::child`] make a tree of accounts over a
//! pool's budget (`bufpool_account_create(3)`): each a reservation that no
//! other account may take, a cap on what it and its descendants hold, and
//! a priority among waiting requests.  An account allocates as the pool
//! does ([`Account::allocate`], [`Account::try_allocate`],
//! [`Account::allocate_timeout`], [`Account::allocate_async`], an account
//! [`Waiter`]), into ordinary [`Alloc`]s charged to it until their last
//! release.  [`Account`]'s docs show one such tree.
//!
//! # Acting before the budget bites
//!
//! - **Reclaim callbacks.**  [`Pool::set_reclaim`] (and
//!   [`Account::set_reclaim`]) sets a closure that a request about to
//!   wait calls first, with the bytes it lacks, so that the application
//!   can give memory back (evict a cache entry, spill) instead of waiting:
//!   `bufpool_set_reclaim(3)`.  It runs on the requesting thread, outside
//!   the pool's locks, one call at a time; an allocation from the same
//!   pool inside it fails with [`Error::Deadlock`]; a panic in it is
//!   caught (the call counts as returning 0).
//! - **Watermarks.**  [`Pool::watch`] (and [`Account::watch`]) makes a
//!   [`Watch`]: a file descriptor that turns readable when the in-use
//!   bytes rise to a high mark, and again when they fall to a low one.
//! - **Stall time.**  [`Stats::stall_ns`] (and
//!   [`AccountStats::stall_ns`]): how long at least one request was
//!   waiting, as Linux's pressure stall information counts.
//! - **Leak tracking.**  With [`Config::track`], about 1 allocation in
//!   113 remembers where it was made; [`Pool::report_live`] lists the live
//!   ones by call site.
//!
//! # Rings
//!
//! [`BufRing`] keeps an io_uring provided-buffer ring stocked from a pool,
//! within its budget: the kernel picks a receive's buffer when data
//! arrives, and [`BufRing::take`] hands it out as an [`Alloc`] (or
//! [`BufRing::take_inc`] a completion's bytes as a [`RingShare`], on a ring
//! with incremental consumption).  The takes are `unsafe`: only the caller
//! knows that an id came from a completion, not from the ring the kernel
//! still writes into.  The `ring_recv` example receives on a UDP socket
//! through one, with raw io_uring system calls.
//!
//! # Region mode
//!
//! With [`Config::region`], the budget is one mapping that never moves, cut
//! into pieces of at most 1 GiB: [`Pool::region_iovecs`] gives them for
//! `io_uring_register_buffers`, and [`Alloc::buf_index`] and
//! [`Alloc::offset`] locate an allocation in them.
//!
//! ```
//! use bufpool::{Config, Pool};
//! # fn main() -> Result<(), bufpool::Error> {
//! let pool = Pool::new(Config { region: true, ..Config::new(4096, 1 << 20) })?;
//! let iov = pool.region_iovecs()?;
//! assert_eq!(iov.len(), 1);
//! let a = pool.allocate(8)?;
//! assert_eq!(a.buf_index()?, 0);
//! let off = a.offset().unwrap();
//! assert_eq!(iov[0].iov_base as usize + off, a.as_ptr() as usize);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

mod account;
mod alloc;
pub mod compat;
mod error;
pub mod ffi;
mod future;
mod pool;
mod reclaim;
mod ring;
mod sys;
mod waiter;
mod watch;

pub use account::{Account, AccountAllocateFuture, AccountConfig, AccountStats};
pub use alloc::{Alloc, IoVec, SharedAlloc};
pub use error::Error;
pub use future::AllocateFuture;
pub use pool::{Config, Pool, Stats};
pub use ring::{BufRing, RingShare};
pub use waiter::Waiter;
pub use watch::Watch;

/// README.md's Rust examples run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The version of the C library linked, `MAJOR * 10000 + MINOR * 100 +
/// PATCH` (`bufpool_version`).
pub fn version() -> i32 {
    // SAFETY: no arguments, no state.
    unsafe { ffi::bufpool_version() }
}
