//! The original's API: frozen-core 0.0.30's `bufpool` module and
//! `utils::BufferSize`, on the C library.
//!
//! ```
//! use bufpool::compat::{
//!     bufpool::{BufPool, BufPoolCfg, BufPoolAllocation, BufPoolAllocationIter, BufferPointer},
//!     utils::BufferSize,
//! };
//! # let _ = std::mem::size_of::<(BufPoolAllocation, BufPoolAllocationIter, BufferPointer)>();
//! # let _ = BufPool::new(BufPoolCfg { buffer_size: BufferSize::S64, max_memory: 4096 });
//! ```
//!
//! Code written for `frozen_core::bufpool` builds against
//! `bufpool::compat::bufpool` with only the path changed: the same items,
//! signatures, derives and auto traits (`BufPool` is `Send + Sync`,
//! `BufPoolAllocation` is `Send` but not `Sync`, the iterator neither).
//! It behaves the same where the original is defined:
//!
//! - `BufPool::allocate(n)` blocks while the budget is short, and waiters are
//!   woken opportunistically (no fairness), as in the original;
//! - dropping a `BufPoolAllocation` gives its memory back and wakes waiters;
//! - dropping the `BufPool` blocks until every allocation of it is dropped.
//!
//! And differs where the original is not:
//!
//! - a request larger than `max_memory` (the original deadlocks; a debug
//!   assertion in debug builds) and `allocate(0)` (the original hands out a
//!   zero-byte allocation in release builds) **panic at once**, in every
//!   build, with a message that names the problem;
//! - `BufPool::new` with `max_memory` below the buffer size panics (the
//!   original's debug assertion; in release builds it makes a pool whose
//!   every request deadlocks); `max_memory == buffer_size` is accepted (one
//!   buffer at a time), where the original's debug assertion asks for more;
//! - out of memory calls `std::alloc::handle_alloc_error` (which aborts), as
//!   the original does through the global allocator;
//! - buffers are aligned to `min(buffer_size, 4096)` (the original: byte
//!   aligned) and come from bufpool's caches: no malloc or system call per
//!   allocation when nobody waits;
//! - a `BufPoolAllocation` refers to the C pool, not to the `BufPool`
//!   value, so moving the `BufPool` while allocations live is fine (in the
//!   original it leaves them with a dangling pointer).

pub mod bufpool;
pub mod utils;
