//! [`Alloc`] (unique, read-write) and [`SharedAlloc`] (reference counted,
//! read-only).

use crate::account::{Account, AccountInner};
use crate::error::Error;
use crate::ffi;
use crate::pool::{Handle, Inner, Pool};
use std::fmt;
use std::io::{self, BufRead, IoSlice, IoSliceMut, Read, Write};
use std::ops::{Bound, Deref, DerefMut, Range, RangeBounds};
use std::ptr::NonNull;
use std::slice;
use std::sync::Arc;

/// `struct iovec`: a region piece, for `io_uring_register_buffers`
/// ([`Pool::region`], [`Pool::region_iovecs`]).
///
/// Raw on purpose: it spans memory that every allocation of the pool
/// writes, so no `&[u8]` (nor an [`IoSlice`], which is one) may be made of
/// it.  An allocation's own bytes have safe views:
/// [`Alloc::io_slice`], [`Alloc::io_slice_mut`], [`SharedAlloc::io_slice`].
pub type IoVec = ffi::iovec;

/// One C reference to an allocation, and the pool it belongs to.  Dropping
/// it releases the reference (the last one gives the memory back and wakes
/// waiters that now fit).
///
/// `pool` is not counted (no atomic operation per allocation): the pool's
/// `Inner` outlives every allocation, since it is freed only after
/// `bufpool_destroy` returns, which waits for them all (crate::pool::close).
///
/// `account` is counted: an allocation made through an
/// [`Account`] holds, with each C reference, a reference to the account,
/// dropped after the C reference is released (`Drop` releases, then the
/// fields drop).  So the account's destroy, which runs when its last
/// reference drops, never finds one of its allocations live
/// (crate::account::AccountInner).
struct Raw {
    a: NonNull<ffi::bufpool_alloc>,
    first: NonNull<u8>,
    n: usize,
    bytes: usize,
    pool: NonNull<Inner>,
    account: Option<Arc<AccountInner>>,
}

impl Raw {
    /// SAFETY: `a` is a live allocation of `pool` of `n` buffers, charged
    /// to `account` if one is given (an account of `pool`), and the caller
    /// gives its reference to the new `Raw`.
    #[inline]
    unsafe fn new(
        pool: NonNull<Inner>,
        a: *mut ffi::bufpool_alloc,
        n: usize,
        account: Option<Arc<AccountInner>>,
    ) -> Raw {
        let a = NonNull::new(a).expect("bufpool returned 0 and no allocation");
        // SAFETY: `a` is live.
        let first = unsafe { ffi::bufpool_alloc_first(a.as_ptr()) };
        let first = NonNull::new(first.cast::<u8>()).expect("an allocation without memory");
        // n * buffer_size cannot overflow: the C library granted it within
        // the budget (-E2BIG otherwise).
        // SAFETY: the Inner outlives the allocation (see Raw).
        let bs = unsafe { pool.as_ref().buffer_size };
        Raw { a, first, n, bytes: n * bs, pool, account }
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

    /// One more C reference to the same allocation.
    #[inline]
    fn retain(&self) -> Raw {
        // SAFETY: `a` is live (we hold a reference); retain returns it with
        // one more reference, which the new Raw owns.
        let a = unsafe { ffi::bufpool_alloc_retain(self.a.as_ptr()) };
        let a = NonNull::new(a).expect("bufpool_alloc_retain of a live allocation returned NULL");
        Raw {
            a,
            first: self.first,
            n: self.n,
            bytes: self.bytes,
            pool: self.pool,
            account: self.account.clone(),
        }
    }

    #[inline]
    fn buffer_range(&self, i: usize) -> Option<Range<usize>> {
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
        // waits for this release.  The account, if any, is alive too: we
        // hold a reference to it, dropped after this body.
        unsafe { ffi::bufpool_alloc_release(self.a.as_ptr()) }
    }
}

/// `range` within `0..len`, as slice indexing takes it: panics out of range.
#[track_caller]
fn bounds(range: impl RangeBounds<usize>, len: usize) -> Range<usize> {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.checked_add(1).expect("range start overflows usize"),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.checked_add(1).expect("range end overflows usize"),
        Bound::Excluded(&e) => e,
        Bound::Unbounded => len,
    };
    assert!(start <= end, "slice index starts at {start} but ends at {end}");
    assert!(end <= len, "range end index {end} out of range for a view of {len} bytes");
    start..end
}

/// The methods that describe the whole allocation, the same on both handles.
macro_rules! allocation_api {
    () => {
        /// The number of buffers in the allocation, `n` (the request's).
        #[inline]
        pub fn buffer_count(&self) -> usize {
            self.raw.n
        }

        /// The number of buffers (`n`).  Renamed: a handle derefs to its
        /// bytes, whose `len()` this would shadow.
        #[deprecated(
            since = "0.2.0",
            note = "counts buffers, not bytes: use `buffer_count()` (or `byte_len()`)"
        )]
        #[inline]
        pub fn len(&self) -> usize {
            self.raw.n
        }

        /// Bytes per buffer.
        #[inline]
        pub fn buffer_size(&self) -> usize {
            self.raw.buffer_size()
        }

        /// Buffer `i` of the allocation, or `None` for `i >= buffer_count()`.
        #[inline]
        pub fn buffer(&self, i: usize) -> Option<&[u8]> {
            let r = self.raw.buffer_range(i)?;
            Some(&self.raw.slice()[r])
        }

        /// The allocation's buffers in order, each `buffer_size` bytes.
        #[inline]
        pub fn buffers(&self) -> slice::ChunksExact<'_, u8> {
            self.raw.slice().chunks_exact(self.raw.buffer_size())
        }

        /// Region mode: byte offset of the allocation's first buffer from the
        /// region's base (`bufpool_alloc_offset`); `None` without `region`.
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
            unsafe { Handle::upgrade(self.raw.pool) }.map(Pool::from_handle)
        }

        /// A handle to the [`Account`] this allocation is charged to, or
        /// `None` for one made by a plain [`Pool`] call (or a
        /// [`BufRing`](crate::BufRing)).  The allocation keeps its account
        /// alive, so this works after every other handle of it has dropped.
        pub fn account(&self) -> Option<Account> {
            self.raw.account.as_ref().map(|inner| Account::from_inner(inner.clone()))
        }

        /// The bytes as one [`IoSlice`], for vectored writes
        /// (`write_vectored`, `writev(2)`, `sendmsg(2)`).
        #[inline]
        pub fn io_slice(&self) -> IoSlice<'_> {
            IoSlice::new(self.as_slice())
        }

        /// The number of bytes: `as_slice().len()`.  Renamed: Rust's
        /// `bytes()` is an iterator, and with [`io::Read`] in scope
        /// `handle.bytes()` already means `Read::bytes`.
        #[deprecated(since = "0.2.0", note = "use `byte_len()` (`bytes()` is io::Read's iterator)")]
        #[inline]
        pub fn bytes(&self) -> usize {
            self.byte_len()
        }

        /// True when there are no bytes: `byte_len() == 0`.
        #[inline]
        pub fn is_empty(&self) -> bool {
            self.byte_len() == 0
        }
    };
}

/// An allocation with a unique handle: `n` contiguous buffers, readable and
/// writable, returned to the pool when it drops.
///
/// It derefs to all its bytes, `n * buffer_size` of them: `&[u8]`, and
/// `&mut [u8]` through `&mut`, since it is the only handle to its memory.
/// It is deliberately not `Clone`: to share it, [`into_shared`](Alloc::into_shared)
/// (or [`freeze`](Alloc::freeze)) consumes it and yields a [`SharedAlloc`],
/// whose `Clone` takes a reference (`bufpool_alloc_retain`) and which only
/// reads.  Once a second handle can exist, no handle can write, and the type
/// system says so.
///
/// The bytes are initialized but unspecified (zero, or what the memory's
/// previous holder wrote).
///
/// # The filled length: `Write` and `Read`
///
/// An `Alloc` also keeps a *filled length*, 0 at first: the bytes written
/// so far, at the front.  [`io::Write`] appends after them (and writes
/// nothing once the allocation is full: `write_all` then fails with
/// [`io::ErrorKind::WriteZero`]); [`io::Read`] and [`io::BufRead`] read
/// what was written, from the front, once.  Data that arrives another way
/// (a `read(2)` into [`spare_mut`](Alloc::spare_mut), a kernel completion)
/// is counted in with [`set_filled`](Alloc::set_filled).  `Deref`,
/// [`as_slice`](Alloc::as_slice) and the buffers always span the whole
/// allocation, whatever the filled length.
///
/// ```
/// use bufpool::{Config, Pool};
/// use std::io::{Read, Write};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = Pool::new(Config::new(64, 4096))?;
/// let mut a = pool.allocate(2)?;             // 128 bytes
/// write!(a, "hello, {}", "world")?;
/// assert_eq!(a.filled(), b"hello, world");
/// assert_eq!(a.buffer_count(), 2);
/// assert_eq!(a.byte_len(), 128);
///
/// let mut word = [0u8; 5];
/// a.read_exact(&mut word)?;                   // what was written, once
/// assert_eq!(&word, b"hello");
///
/// let frame = a.freeze().slice(7..);          // shared, read-only, the filled bytes
/// assert_eq!(&*frame, b"world");
/// # Ok(()) }
/// ```
pub struct Alloc {
    raw: Raw,
    /// Bytes written, at the front: `..filled`.  At most `raw.bytes`.
    filled: usize,
    /// Bytes of those read back: `..read`.  At most `filled`.
    read: usize,
}

// SAFETY: the C allocation may be released from any thread (bufpool(3),
// THREAD SAFETY) and is not tied to the thread that made it; the pool's
// Inner, which it reads (buffer_size, the handle count), outlives it and
// changes only atomically; the account reference, if any, is an Arc of a
// Send + Sync AccountInner (its destroy may run on any thread); the memory
// is plain bytes that this handle alone reaches.  Moving an Alloc to
// another thread moves all access with it.
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
        Alloc { raw: unsafe { Raw::new(pool, a, n, None) }, filled: 0, read: 0 }
    }

    /// SAFETY: `a` is a live allocation of `n` buffers charged to
    /// `account`, whose reference the caller gives to the new `Alloc`, and
    /// no other reference to it exists.
    #[inline]
    pub(crate) unsafe fn from_account(
        account: Arc<AccountInner>,
        a: *mut ffi::bufpool_alloc,
        n: usize,
    ) -> Alloc {
        let pool = account.pool.ptr();
        // SAFETY: the caller's promise; the account's pool is `pool`.
        Alloc { raw: unsafe { Raw::new(pool, a, n, Some(account)) }, filled: 0, read: 0 }
    }

    allocation_api!();

    /// `n * buffer_size`: the number of bytes, `as_slice().len()`.
    #[inline]
    pub fn byte_len(&self) -> usize {
        self.raw.bytes
    }

    /// The first byte; buffer `i` starts at `as_ptr() + i * buffer_size`.
    /// Aligned to `min(buffer_size, 4096)`.
    #[inline]
    pub fn as_ptr(&self) -> *const u8 {
        self.raw.first.as_ptr()
    }

    /// All `n` buffers, contiguous (also `&*alloc`).
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        self.raw.slice()
    }

    /// The first byte, writable.
    #[inline]
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.raw.first.as_ptr()
    }

    /// All `n` buffers, contiguous and writable (also `&mut *alloc`).
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `Raw::slice`, and `&mut self` makes this the only
        // access: `Alloc` is the only handle and is borrowed for the result.
        unsafe { slice::from_raw_parts_mut(self.raw.first.as_ptr(), self.raw.bytes) }
    }

    /// Buffer `i`, writable, or `None` for `i >= buffer_count()`.
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

    /// All the bytes as one [`IoSliceMut`], for vectored reads
    /// (`read_vectored`, `readv(2)`, `recvmsg(2)`).  To read after the
    /// filled bytes instead, take `IoSliceMut::new(alloc.spare_mut())` and
    /// then [`set_filled`](Alloc::set_filled).
    #[inline]
    pub fn io_slice_mut(&mut self) -> IoSliceMut<'_> {
        IoSliceMut::new(self.as_mut_slice())
    }

    /// The filled length: the bytes written through [`io::Write`] or
    /// counted in with [`set_filled`](Alloc::set_filled), at the front.
    #[inline]
    pub fn filled_len(&self) -> usize {
        self.filled
    }

    /// The filled bytes, `..filled_len()`.
    #[inline]
    pub fn filled(&self) -> &[u8] {
        &self.as_slice()[..self.filled]
    }

    /// The filled bytes, writable.
    #[inline]
    pub fn filled_mut(&mut self) -> &mut [u8] {
        let f = self.filled;
        &mut self.as_mut_slice()[..f]
    }

    /// The bytes after the filled ones, where [`io::Write`] appends: fill
    /// some by other means (a `read(2)`), then count them in with
    /// [`set_filled`](Alloc::set_filled).
    #[inline]
    pub fn spare_mut(&mut self) -> &mut [u8] {
        let f = self.filled;
        &mut self.as_mut_slice()[f..]
    }

    /// Set the filled length: the first `len` bytes hold data.  Reading
    /// resumes where it was, or at `len` if that is before.
    ///
    /// # Panics
    ///
    /// When `len > byte_len()`.
    #[track_caller]
    #[inline]
    pub fn set_filled(&mut self, len: usize) {
        assert!(
            len <= self.raw.bytes,
            "Alloc::set_filled({len}): beyond the allocation's {} bytes",
            self.raw.bytes
        );
        self.filled = len;
        self.read = self.read.min(len);
    }

    /// The filled bytes not read yet through [`io::Read`] / [`io::BufRead`].
    #[inline]
    pub fn unread(&self) -> &[u8] {
        &self.as_slice()[self.read..self.filled]
    }

    /// Forget what was written and read: the filled length and the read
    /// position go back to 0.  The bytes stay as they are.
    #[inline]
    pub fn clear(&mut self) {
        self.filled = 0;
        self.read = 0;
    }

    /// Give up writing and share: the same reference, now behind a
    /// read-only, cloneable handle that views all the bytes.
    #[inline]
    pub fn into_shared(self) -> SharedAlloc {
        let bytes = self.raw.bytes;
        SharedAlloc { raw: self.raw, view: 0..bytes }
    }

    /// Share the filled bytes: as [`into_shared`](Alloc::into_shared), with
    /// a view of `..filled_len()` alone (as `bytes::BytesMut::freeze`).
    #[inline]
    pub fn freeze(self) -> SharedAlloc {
        let filled = self.filled;
        SharedAlloc { raw: self.raw, view: 0..filled }
    }
}

impl Deref for Alloc {
    type Target = [u8];

    /// All the bytes (`as_slice`), whatever the filled length.
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl DerefMut for Alloc {
    /// All the bytes, writable (`as_mut_slice`).
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

impl From<Alloc> for SharedAlloc {
    /// [`Alloc::into_shared`]: a view of all the bytes.
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

impl Write for Alloc {
    /// Append to the filled bytes as much of `buf` as fits; `Ok(0)` once
    /// the allocation is full.
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let spare = self.spare_mut();
        let k = buf.len().min(spare.len());
        spare[..k].copy_from_slice(&buf[..k]);
        self.filled += k;
        Ok(k)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut total = 0;
        for b in bufs {
            let k = self.write(b)?;
            total += k;
            if k < b.len() {
                break;
            }
        }
        Ok(total)
    }

    /// Nothing to do: the bytes are in memory already.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for Alloc {
    /// Read the filled bytes not read yet, from the front; `Ok(0)` when
    /// every written byte has been read.
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.unread().read(buf)?;
        self.read += k;
        Ok(k)
    }
}

impl BufRead for Alloc {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        Ok(self.unread())
    }

    fn consume(&mut self, amt: usize) {
        self.read = (self.read + amt).min(self.filled);
    }
}

impl fmt::Debug for Alloc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Alloc")
            .field("first", &self.raw.first)
            .field("buffer_count", &self.raw.n)
            .field("byte_len", &self.raw.bytes)
            .field("filled", &self.filled)
            .field("read", &self.read)
            .finish()
    }
}

/// A shared, read-only handle to an allocation: `Clone` takes one more
/// reference (`bufpool_alloc_retain`), and the memory goes back to the pool
/// when the last handle drops, from whichever thread.
///
/// Made from an [`Alloc`] with [`Alloc::into_shared`] (a view of all its
/// bytes) or [`Alloc::freeze`] (of its filled bytes); it never gives
/// `&mut`, since other handles may be reading the same bytes.
///
/// Each handle *views* a range of the allocation's bytes: it derefs to
/// them, and [`as_slice`](SharedAlloc::as_slice), [`byte_len`](SharedAlloc::byte_len),
/// [`as_ptr`](SharedAlloc::as_ptr), [`io_slice`](SharedAlloc::io_slice)
/// and [`io::Read`] work on them.  [`slice`](SharedAlloc::slice) makes a
/// handle that views a part (zero-copy: one more reference), and reading
/// consumes the view from the front, as `&[u8]`'s `Read` does (other
/// handles keep theirs).  The methods about buffers
/// ([`buffer_count`](SharedAlloc::buffer_count), [`buffer`](SharedAlloc::buffer),
/// [`buffers`](SharedAlloc::buffers), [`offset`](SharedAlloc::offset),
/// [`buf_index`](SharedAlloc::buf_index)) describe the whole allocation,
/// whatever the view.
///
/// ```
/// use bufpool::{Config, Pool};
/// # fn main() -> Result<(), bufpool::Error> {
/// let pool = Pool::new(Config::new(64, 4096))?;
/// let mut a = pool.allocate(1)?;
/// a[..11].copy_from_slice(b"HEADERbody!");
/// let msg = a.into_shared().slice(..11);
/// let (header, body) = (msg.slice(..6), msg.slice(6..));
/// drop(msg);
/// assert_eq!((&*header, &*body), (&b"HEADER"[..], &b"body!"[..]));
/// assert_eq!(header.buffer_count(), 1);       // the allocation's
/// assert_eq!(pool.stats().live_allocations, 1);
/// drop((header, body));                       // the last reference
/// assert_eq!(pool.stats().live_allocations, 0);
/// # Ok(()) }
/// ```
pub struct SharedAlloc {
    raw: Raw,
    /// The bytes this handle views, within `0..raw.bytes`.
    view: Range<usize>,
}

// SAFETY: every handle only reads the memory, and reads may happen from any
// number of threads at once; retain and release are thread-safe atomic
// reference counting in the C library (bufpool_alloc_retain(3)), so the
// last handle may drop on any thread; the pool's Inner outlives every
// handle and changes only atomically; the account reference, if any, is an
// Arc of a Send + Sync AccountInner.
unsafe impl Send for SharedAlloc {}
// SAFETY: as for Send: `&SharedAlloc` gives reads and `clone` (a retain),
// both thread-safe.
unsafe impl Sync for SharedAlloc {}

impl SharedAlloc {
    allocation_api!();

    /// The number of bytes this handle views (all `n * buffer_size` of the
    /// allocation, unless sliced, frozen or read from).
    #[inline]
    pub fn byte_len(&self) -> usize {
        self.view.len()
    }

    /// The first byte of the view.  Unsliced, buffer `i` starts at
    /// `as_ptr() + i * buffer_size`.
    #[inline]
    pub fn as_ptr(&self) -> *const u8 {
        self.as_slice().as_ptr()
    }

    /// The bytes this handle views (also `&*shared`).
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        &self.raw.slice()[self.view.clone()]
    }

    /// A handle viewing `range` of this one's bytes (indices relative to
    /// this view), sharing the allocation: one more reference, no copy.
    ///
    /// # Panics
    ///
    /// When `range` is out of `0..byte_len()` or decreasing, as slice
    /// indexing.
    #[track_caller]
    #[inline]
    pub fn slice(&self, range: impl RangeBounds<usize>) -> SharedAlloc {
        let r = bounds(range, self.view.len());
        let start = self.view.start + r.start;
        SharedAlloc { raw: self.raw.retain(), view: start..start + r.len() }
    }
}

impl Clone for SharedAlloc {
    /// One more reference (`bufpool_alloc_retain`), with the same view
    /// (and, for an account's allocation, one more reference to the account).
    #[inline]
    fn clone(&self) -> SharedAlloc {
        SharedAlloc { raw: self.raw.retain(), view: self.view.clone() }
    }
}

impl Deref for SharedAlloc {
    type Target = [u8];

    /// The bytes this handle views.
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for SharedAlloc {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Read for SharedAlloc {
    /// Read from the front of the view, which shrinks by what was read
    /// (this handle's view only); `Ok(0)` once it is empty.
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.as_slice().read(buf)?;
        self.view.start += k;
        Ok(k)
    }
}

impl BufRead for SharedAlloc {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        Ok(self.as_slice())
    }

    fn consume(&mut self, amt: usize) {
        self.view.start = (self.view.start + amt).min(self.view.end);
    }
}

impl fmt::Debug for SharedAlloc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedAlloc")
            .field("first", &self.raw.first)
            .field("buffer_count", &self.raw.n)
            .field("view", &self.view)
            .finish()
    }
}
