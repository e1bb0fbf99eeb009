//! [`Alloc`] (unique, read-write) and [`SharedAlloc`] (reference counted,
//! read-only).

use crate::error::Error;
use crate::ffi;
use crate::pool::{Handle, Inner, Pool};
use std::fmt;
use std::ptr::NonNull;
use std::slice;

/// `struct iovec`: a region piece, for `io_uring_register_buffers`.
pub type IoVec = ffi::iovec;

/// One C reference to an allocation, and the pool it belongs to.  Dropping
/// it releases the reference (the last one gives the memory back and wakes
/// waiters that now fit).
///
/// `pool` is not counted (no atomic operation per allocation): the pool's
/// `Inner` outlives every allocation, since it is freed only after
/// `bufpool_destroy` returns, which waits for them all (crate::pool::close).
struct Raw {
    a: NonNull<ffi::bufpool_alloc>,
    first: NonNull<u8>,
    n: usize,
    bytes: usize,
    pool: NonNull<Inner>,
}

impl Raw {
    /// SAFETY: `a` is a live allocation of `pool` of `n` buffers, and the
    /// caller gives its reference to the new `Raw`.
    #[inline]
    unsafe fn new(pool: NonNull<Inner>, a: *mut ffi::bufpool_alloc, n: usize) -> Raw {
        let a = NonNull::new(a).expect("bufpool returned 0 and no allocation");
        // SAFETY: `a` is live.
        let first = unsafe { ffi::bufpool_alloc_first(a.as_ptr()) };
        let first = NonNull::new(first.cast::<u8>()).expect("an allocation without memory");
        // n * buffer_size cannot overflow: the C library granted it within
        // the budget (-E2BIG otherwise).
        // SAFETY: the Inner outlives the allocation (see Raw).
        let bs = unsafe { pool.as_ref().buffer_size };
        Raw { a, first, n, bytes: n * bs, pool }
    }

    #[inline]
    fn buffer_size(&self) -> usize {
        // SAFETY: the Inner outlives our reference (see Raw).
        unsafe { self.pool.as_ref().buffer_size }
    }

    #[inline]
    fn slice(&self) -> &[u8] {
        // SAFETY: `first` points to `bytes` bytes that stay allocated while
        // our reference is held (as long as `self`).  They are initialized:
        // the pool's memory is anonymous mmap memory (zero-filled by the
        // kernel) that only ever holds bytes written by earlier holders
        // (see the crate docs, "Memory").  Nobody writes them meanwhile:
        // only a unique `Alloc` gives `&mut`, and it borrows itself for that.
        unsafe { slice::from_raw_parts(self.first.as_ptr(), self.bytes) }
    }

    #[inline]
    fn buffer_range(&self, i: usize) -> Option<std::ops::Range<usize>> {
        let bs = self.buffer_size();
        (i < self.n).then(|| i * bs..(i + 1) * bs)
    }

    fn offset(&self) -> Option<usize> {
        // SAFETY: `a` is live.
        let off = unsafe { ffi::bufpool_alloc_offset(self.a.as_ptr()) };
        (off != usize::MAX).then_some(off)
    }

    fn buf_index(&self) -> Result<usize, Error> {
        // SAFETY: `a` is live.
        let rc = unsafe { ffi::bufpool_alloc_buf_index(self.a.as_ptr()) };
        if rc < 0 { Err(Error::from_code(rc)) } else { Ok(rc as usize) }
    }
}

impl Drop for Raw {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: we own one reference.  The C pool is alive: its destroy
        // waits for this release.
        unsafe { ffi::bufpool_alloc_release(self.a.as_ptr()) }
    }
}

/// Methods common to both handles.
macro_rules! read_only_api {
    () => {
        /// The number of buffers, `n`.
        #[inline]
        pub fn len(&self) -> usize {
            self.raw.n
        }

        /// Always false: an allocation holds at least one buffer.
        #[inline]
        pub fn is_empty(&self) -> bool {
            self.raw.n == 0
        }

        /// `n * buffer_size`: the length of [`as_slice`](Self::as_slice).
        #[inline]
        pub fn bytes(&self) -> usize {
            self.raw.bytes
        }

        /// Bytes per buffer.
        #[inline]
        pub fn buffer_size(&self) -> usize {
            self.raw.buffer_size()
        }

        /// The first byte; buffer `i` starts at `as_ptr() + i * buffer_size`.
        /// Aligned to `min(buffer_size, 4096)`.
        #[inline]
        pub fn as_ptr(&self) -> *const u8 {
            self.raw.first.as_ptr()
        }

        /// All `n` buffers, contiguous.
        #[inline]
        pub fn as_slice(&self) -> &[u8] {
            self.raw.slice()
        }

        /// Buffer `i`, or `None` for `i >= len()`.
        #[inline]
        pub fn buffer(&self, i: usize) -> Option<&[u8]> {
            let r = self.raw.buffer_range(i)?;
            Some(&self.as_slice()[r])
        }

        /// The buffers in order, each `buffer_size` bytes.
        #[inline]
        pub fn buffers(&self) -> slice::ChunksExact<'_, u8> {
            self.as_slice().chunks_exact(self.raw.buffer_size())
        }

        /// Region mode: byte offset of the first buffer from the region's
        /// base (`bufpool_alloc_offset`); `None` without `region`.
        pub fn offset(&self) -> Option<usize> {
            self.raw.offset()
        }

        /// Region mode: the index of the region piece (see
        /// [`Pool::region_iovecs`]) that holds all of this allocation,
        /// io_uring's `buf_index` (`bufpool_alloc_buf_index`).
        /// [`Error::InvalidArgument`] without `region`,
        /// [`Error::OutOfRange`] for an allocation larger than a piece.
        pub fn buf_index(&self) -> Result<usize, Error> {
            self.raw.buf_index()
        }

        /// A handle to the pool this allocation came from, or `None` once
        /// every [`Pool`] and [`Waiter`](crate::Waiter) of it has dropped
        /// (the pool is then being destroyed: it waits for its last
        /// allocations, and takes no new request).
        pub fn pool(&self) -> Option<Pool> {
            // SAFETY: our reference keeps the Inner alive (see Raw).
            unsafe { Handle::upgrade(self.raw.pool) }.map(|handle| Pool { handle })
        }
    };
}

/// An allocation with a unique handle: `n` contiguous buffers, readable and
/// writable, returned to the pool when it drops.
///
/// `Alloc` is the only handle to its memory, so it can give `&mut [u8]`
/// ([`as_mut_slice`](Alloc::as_mut_slice), [`buffer_mut`](Alloc::buffer_mut)).
/// It is deliberately not `Clone`: to share it, [`into_shared`](Alloc::into_shared)
/// consumes it and yields a [`SharedAlloc`], whose `Clone` takes a
/// reference (`bufpool_alloc_retain`) and which only reads.  Once a second
/// handle can exist, no handle can write, and the type system says so.
///
/// The bytes are initialized but unspecified (zero, or what the memory's
/// previous holder wrote).
pub struct Alloc {
    raw: Raw,
}

// SAFETY: the C allocation may be released from any thread (bufpool(3),
// THREAD SAFETY) and is not tied to the thread that made it; the pool's
// Inner, which it reads (buffer_size, the handle count), outlives it and
// changes only atomically; the memory is plain bytes that this handle alone
// reaches.  Moving an Alloc to another thread moves all access
// with it.
unsafe impl Send for Alloc {}
// SAFETY: through `&Alloc` only reads are possible (writes need `&mut
// Alloc`), of memory no other handle can write; the C calls made through
// `&self` (offset, buf_index) only read the allocation's header.
unsafe impl Sync for Alloc {}

impl Alloc {
    /// SAFETY: `a` is a live allocation of `pool` of `n` buffers whose
    /// reference the caller gives to the new `Alloc`, and no other
    /// reference to it exists.
    #[inline]
    pub(crate) unsafe fn from_raw(pool: NonNull<Inner>, a: *mut ffi::bufpool_alloc, n: usize) -> Alloc {
        // SAFETY: the caller's promise.
        Alloc { raw: unsafe { Raw::new(pool, a, n) } }
    }

    read_only_api!();

    /// The first byte, writable.
    #[inline]
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.raw.first.as_ptr()
    }

    /// All `n` buffers, contiguous and writable.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `Raw::slice`, and `&mut self` makes this the only
        // access: `Alloc` is the only handle and is borrowed for the result.
        unsafe { slice::from_raw_parts_mut(self.raw.first.as_ptr(), self.raw.bytes) }
    }

    /// Buffer `i`, writable, or `None` for `i >= len()`.
    #[inline]
    pub fn buffer_mut(&mut self, i: usize) -> Option<&mut [u8]> {
        let r = self.raw.buffer_range(i)?;
        Some(&mut self.as_mut_slice()[r])
    }

    /// The buffers in order, writable.
    #[inline]
    pub fn buffers_mut(&mut self) -> slice::ChunksExactMut<'_, u8> {
        let bs = self.raw.buffer_size();
        self.as_mut_slice().chunks_exact_mut(bs)
    }

    /// Give up writing and share: the same reference, now behind a
    /// read-only, cloneable handle.
    #[inline]
    pub fn into_shared(self) -> SharedAlloc {
        SharedAlloc { raw: self.raw }
    }
}

impl From<Alloc> for SharedAlloc {
    fn from(a: Alloc) -> SharedAlloc {
        a.into_shared()
    }
}

impl AsRef<[u8]> for Alloc {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsMut<[u8]> for Alloc {
    fn as_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

impl fmt::Debug for Alloc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Alloc")
            .field("first", &self.raw.first)
            .field("len", &self.raw.n)
            .field("bytes", &self.raw.bytes)
            .finish()
    }
}

/// A shared, read-only handle to an allocation: `Clone` takes one more
/// reference (`bufpool_alloc_retain`), and the memory goes back to the pool
/// when the last handle drops, from whichever thread.
///
/// Made from an [`Alloc`] with [`Alloc::into_shared`]; it never gives
/// `&mut`, since other handles may be reading the same bytes.
pub struct SharedAlloc {
    raw: Raw,
}

// SAFETY: every handle only reads the memory, and reads may happen from any
// number of threads at once; retain and release are thread-safe atomic
// reference counting in the C library (bufpool_alloc_retain(3)), so the
// last handle may drop on any thread; the pool's Inner outlives every
// handle and changes only atomically.
unsafe impl Send for SharedAlloc {}
// SAFETY: as for Send: `&SharedAlloc` gives reads and `clone` (a retain),
// both thread-safe.
unsafe impl Sync for SharedAlloc {}

impl SharedAlloc {
    read_only_api!();
}

impl Clone for SharedAlloc {
    #[inline]
    fn clone(&self) -> SharedAlloc {
        // SAFETY: `a` is live (we hold a reference); retain returns it with
        // one more reference, which the new handle owns.
        let a = unsafe { ffi::bufpool_alloc_retain(self.raw.a.as_ptr()) };
        let a = NonNull::new(a).expect("bufpool_alloc_retain of a live allocation returned NULL");
        SharedAlloc {
            raw: Raw {
                a,
                first: self.raw.first,
                n: self.raw.n,
                bytes: self.raw.bytes,
                pool: self.raw.pool,
            },
        }
    }
}

impl AsRef<[u8]> for SharedAlloc {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for SharedAlloc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedAlloc")
            .field("first", &self.raw.first)
            .field("len", &self.raw.n)
            .field("bytes", &self.raw.bytes)
            .finish()
    }
}
