//! frozen-core 0.0.30's `bufpool` module: a memory-budgeted pool of
//! fixed-size buffers, on the C library.
//!
//! One [`BufPool::allocate`] call returns a [`BufPoolAllocation`]: `n`
//! buffers of [`BufPoolCfg::buffer_size`] bytes in one contiguous block,
//!
//! ```text
//! allocation = [[buf0][buf1][buf2]]    buffer i at first() + i * buffer_size
//! ```
//!
//! Every allocation reserves its bytes from the budget
//! ([`BufPoolCfg::max_memory`]); while the budget is short the caller
//! blocks until enough is released.  Dropping an allocation gives its memory
//! back and wakes the waiters that now fit; they are woken
//! opportunistically, with no fairness between them.  See
//! [`compat`](crate::compat) for where this differs from the original.
//!
//! # Example
//!
//! The original's documentation example, with `frozen_core::` replaced by
//! `bufpool::compat::`:
//!
//! ```
//! use bufpool::compat::{
//!     bufpool::{BufPool, BufPoolCfg, BufferPointer},
//!     utils::BufferSize,
//! };
//!
//! const BUF_SIZE: BufferSize = BufferSize::S16;
//!
//! let pool = BufPool::new(BufPoolCfg {
//!     buffer_size: BUF_SIZE,
//!     max_memory: BUF_SIZE as usize * 0x40,
//! });
//!
//! let alloc = pool.allocate(0x2A);
//!
//! assert_eq!(alloc.length(), 0x2A);
//! assert!(!alloc.first().is_null());
//! assert_eq!(alloc.allocated_bytes(), BUF_SIZE as usize * 0x2A);
//!
//! let ptrs: Vec<BufferPointer> = alloc.iter().collect();
//! assert_eq!(ptrs.len(), 0x2A);
//! ```
//!
//! # Auto traits, as in the original
//!
//! [`BufPool`] is `Send + Sync` (share it with `Arc`); a
//! [`BufPoolAllocation`] is `Send` (it may be dropped on another thread) but
//! not `Sync`; [`BufPoolAllocationIter`] is neither:
//!
//! ```compile_fail,E0277
//! fn sync<T: Sync>() {}
//! sync::<bufpool::compat::bufpool::BufPoolAllocation>();
//! ```
//!
//! ```compile_fail,E0277
//! fn send<T: Send>() {}
//! send::<bufpool::compat::bufpool::BufPoolAllocationIter>();
//! ```

use crate::compat::utils::BufferSize;
use crate::ffi;
use std::alloc::{Layout, handle_alloc_error};
use std::ffi::CStr;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

/// A pointer to one buffer of an allocation: untyped, uninitialized memory.
///
/// It is the caller's to keep writes within the buffer's
/// [`BufPoolCfg::buffer_size`] bytes, to read only what was written, and not
/// to use it after its [`BufPoolAllocation`] is dropped.
///
/// ```
/// use bufpool::compat::{
///     bufpool::{BufPool, BufPoolCfg},
///     utils::BufferSize,
/// };
///
/// const BUF_SIZE: BufferSize = BufferSize::S16;
/// const BUFFER: [u8; BUF_SIZE as usize] = [1u8; BUF_SIZE as usize];
///
/// let pool = BufPool::new(BufPoolCfg { buffer_size: BUF_SIZE, max_memory: BUF_SIZE as usize * 0x0A });
/// let alloc = pool.allocate(1);
/// unsafe { std::ptr::copy_nonoverlapping(BUFFER.as_ptr(), alloc.first(), BUF_SIZE as usize) };
/// assert_eq!(unsafe { *alloc.first().add(15) }, 1);
/// ```
pub type BufferPointer = *mut u8;

/// The configuration of a [`BufPool`].
///
/// ```
/// use bufpool::compat::{bufpool::BufPoolCfg, utils::BufferSize};
///
/// const BUF_SIZE: BufferSize = BufferSize::S64;
/// let cfg = BufPoolCfg { buffer_size: BUF_SIZE, max_memory: BUF_SIZE as usize * 0x1000 };
/// assert!(cfg.max_memory > cfg.buffer_size.bytes());
/// ```
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct BufPoolCfg {
    /// Size of one buffer.
    pub buffer_size: BufferSize,

    /// The budget: at most this many bytes are allocated at once.
    ///
    /// A request for more than this can never be served: the original
    /// deadlocks there, this one panics at once.  Set it large to avoid
    /// backpressure; it reserves nothing by itself.
    pub max_memory: usize,
}

/// A memory-budgeted pool of fixed-size buffers with backpressure.
///
/// Dropping the pool blocks until every allocation made from it, and every
/// reference to one, is dropped (the allocations may have moved to other
/// threads).
///
/// ```
/// use bufpool::compat::{bufpool::{BufPool, BufPoolCfg}, utils::BufferSize};
///
/// const BUF_SIZE: BufferSize = BufferSize::S16;
/// let pool = BufPool::new(BufPoolCfg { buffer_size: BUF_SIZE, max_memory: BUF_SIZE as usize * 0x0A });
/// let alloc = pool.allocate(1);
/// assert_eq!(alloc.length(), 1);
/// assert_eq!(alloc.allocated_bytes(), BUF_SIZE as usize);
/// ```
#[derive(Debug)]
pub struct BufPool {
    raw: NonNull<ffi::bufpool>,
    cfg: BufPoolCfg,
}

// SAFETY: every bufpool_* function on a pool is thread-safe (bufpool(3),
// THREAD SAFETY) except bufpool_destroy, which only Drop calls, with `&mut
// self`: no `&BufPool` (so no allocate) is left then, and the live
// allocations it waits for only release, which destroy is made to wait for.
unsafe impl Send for BufPool {}
// SAFETY: see Send: `&BufPool` only reaches allocate, which is thread-safe.
unsafe impl Sync for BufPool {}

fn strerror(rc: i32) -> &'static str {
    // SAFETY: bufpool_strerror returns a static NUL-terminated string for
    // any code, never NULL.
    unsafe { CStr::from_ptr(ffi::bufpool_strerror(rc)) }.to_str().unwrap_or("unknown error")
}

impl BufPool {
    /// A pool of `cfg.buffer_size` buffers under a budget of
    /// `cfg.max_memory` bytes.
    ///
    /// # Panics
    ///
    /// When `max_memory` is below the buffer size (no request could ever
    /// be served), and when the system cannot provide the pool itself.
    #[track_caller]
    #[inline]
    pub fn new(cfg: BufPoolCfg) -> Self {
        let bs = cfg.buffer_size.bytes();
        assert!(
            cfg.max_memory >= bs,
            "BufPool::new: max_memory ({} B) is below the buffer size ({bs} B): no allocation could ever fit",
            cfg.max_memory
        );
        let c = ffi::bufpool_config { buffer_size: bs, max_memory: cfg.max_memory, flags: 0 };
        let mut raw = ptr::null_mut();
        // SAFETY: both pointers are valid for the call.
        let rc = unsafe { ffi::bufpool_create(&mut raw, &c) };
        assert!(rc == 0, "BufPool::new: bufpool_create failed: {} ({rc})", strerror(rc));
        BufPool { raw: NonNull::new(raw).expect("bufpool_create returned 0 and no pool"), cfg }
    }

    /// Allocate `required` buffers of [`BufPoolCfg::buffer_size`] bytes, in
    /// one contiguous block, blocking while the budget is short.
    ///
    /// The allocation gives its memory back when dropped, waking callers
    /// blocked here.
    ///
    /// # Panics
    ///
    /// When `required` is 0 (an allocation of nothing), and when
    /// `required * buffer_size` exceeds `max_memory` (it could never fit:
    /// the original deadlocks).
    ///
    /// ```
    /// use bufpool::compat::{bufpool::{BufPool, BufPoolCfg, BufferPointer}, utils::BufferSize};
    ///
    /// const BUF_SIZE: BufferSize = BufferSize::S16;
    /// let pool = BufPool::new(BufPoolCfg { buffer_size: BUF_SIZE, max_memory: BUF_SIZE as usize * 0x14 });
    /// let alloc = pool.allocate(0x0A);
    /// assert_eq!(alloc.length(), 0x0A);
    /// let ptrs: Vec<BufferPointer> = alloc.iter().collect();
    /// assert_eq!(ptrs.len(), 0x0A);
    /// ```
    #[track_caller]
    #[inline(always)]
    pub fn allocate(&self, required: usize) -> BufPoolAllocation {
        let mut a = ptr::null_mut();
        // SAFETY: the pool is alive (destroy needs `&mut self`) and `a` is writable.
        let rc = unsafe { ffi::bufpool_allocate(self.raw.as_ptr(), required, &mut a) };
        if rc != 0 {
            self.allocate_failed(required, rc);
        }
        let raw = NonNull::new(a).expect("bufpool_allocate returned 0 and no allocation");
        // SAFETY: `raw` is live; its first buffer is never NULL.
        let first = unsafe { ffi::bufpool_alloc_first(raw.as_ptr()) }.cast::<u8>();
        let bytes = required * self.cfg.buffer_size.bytes();
        BufPoolAllocation {
            raw,
            first: NonNull::new(first).expect("an allocation without memory"),
            buffers: required,
            bytes,
            buffer_size: self.cfg.buffer_size.bytes(),
            _not_sync: PhantomData,
        }
    }

    /// Turns a failed request into the panic (or abort) that names it.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn allocate_failed(&self, required: usize, rc: i32) -> ! {
        let bs = self.cfg.buffer_size.bytes();
        if required == 0 {
            panic!("BufPool::allocate(0): zero buffers requested; an allocation holds at least one buffer");
        }
        if rc == -ffi::E2BIG {
            match required.checked_mul(bs) {
                Some(b) => panic!(
                    "BufPool::allocate({required}): {required} buffers x {bs} B = {b} B exceed max_memory = {} B: \
                     the request can never fit (it would wait forever)",
                    self.cfg.max_memory
                ),
                None => panic!(
                    "BufPool::allocate({required}): {required} buffers x {bs} B overflow usize and exceed \
                     max_memory = {} B: the request can never fit",
                    self.cfg.max_memory
                ),
            }
        }
        if rc == -ffi::ENOMEM {
            // As the original, which allocates through the global allocator.
            let layout =
                Layout::from_size_align(required.saturating_mul(bs), 1).unwrap_or(Layout::new::<u8>());
            handle_alloc_error(layout);
        }
        panic!("BufPool::allocate({required}): {} ({rc})", strerror(rc));
    }
}

impl Drop for BufPool {
    /// Blocks until every allocation of the pool is dropped, then frees it.
    fn drop(&mut self) {
        // SAFETY: `&mut self`: nobody else can call into the pool; destroy
        // waits for the live allocations, which may be released from other
        // threads meanwhile.
        unsafe { ffi::bufpool_destroy(self.raw.as_ptr()) }
    }
}

/// One allocation: [`length`](Self::length) contiguous buffers, returned to
/// the pool when dropped.
///
/// It may outlive the scope that made it and move to another thread; the
/// pool's drop waits for it.
#[derive(Debug)]
pub struct BufPoolAllocation {
    raw: NonNull<ffi::bufpool_alloc>,
    first: NonNull<u8>,
    buffers: usize,
    bytes: usize,
    buffer_size: usize,
    /// Not `Sync`, as the original (which only implements `Send`).
    _not_sync: PhantomData<*mut u8>,
}

// SAFETY: the C allocation may be released from any thread (bufpool(3),
// THREAD SAFETY), and the pool it belongs to stays alive until it is
// (bufpool_destroy waits for it).  The memory is reached only through raw
// pointers, whose use is the caller's to synchronize.
unsafe impl Send for BufPoolAllocation {}

impl BufPoolAllocation {
    /// The first buffer; it is also the base of the whole block of
    /// [`allocated_bytes`](Self::allocated_bytes) bytes.
    #[inline]
    pub const fn first(&self) -> BufferPointer {
        self.first.as_ptr()
    }

    /// The number of buffers: the `required` given to [`BufPool::allocate`].
    #[inline]
    pub const fn length(&self) -> usize {
        self.buffers
    }

    /// The bytes allocated: `length() * buffer_size`.
    #[inline]
    pub const fn allocated_bytes(&self) -> usize {
        self.bytes
    }

    /// The buffers' pointers in order, each
    /// [`BufPoolCfg::buffer_size`] bytes past the one before.
    #[inline]
    pub fn iter(&self) -> BufPoolAllocationIter {
        BufPoolAllocationIter { next: self.first, buffer_size: self.buffer_size, remaining: self.buffers }
    }
}

impl Drop for BufPoolAllocation {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: we own the allocation's only reference; the pool is alive
        // until it is released (its destroy waits for this).
        unsafe { ffi::bufpool_alloc_release(self.raw.as_ptr()) }
    }
}

/// An [`Iterator`] over an allocation's buffers, in order.
#[derive(Debug)]
pub struct BufPoolAllocationIter {
    next: NonNull<u8>,
    buffer_size: usize,
    remaining: usize,
}

impl Iterator for BufPoolAllocationIter {
    type Item = BufferPointer;

    #[inline]
    fn next(&mut self) -> Option<BufferPointer> {
        if self.remaining == 0 {
            return None;
        }
        let p = self.next.as_ptr();
        self.remaining -= 1;
        // Address arithmetic only (wrapping_add): the pointer past the last
        // buffer is never dereferenced, and no `unsafe` is needed.
        self.next = NonNull::new(p.wrapping_add(self.buffer_size)).unwrap_or(self.next);
        Some(p)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}
