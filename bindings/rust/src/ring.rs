//! [`BufRing`]: io_uring provided-buffer rings stocked from a pool, and
//! [`RingShare`], a completion's part of an incremental ring's buffer.

use crate::alloc::Alloc;
use crate::error::{Error, check};
use crate::ffi;
use crate::pool::{Handle, Pool};
use std::fmt;
use std::ops::Deref;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::raw::c_void;
use std::ptr::{self, NonNull};
use std::slice;

/// An io_uring provided-buffer ring kept stocked from a [`Pool`]
/// (`bufpool_bufring_create(3)`).
///
/// Registered with an io_uring instance as buffer group `bgid`, the ring
/// lets the kernel pick a receive's buffer when data arrives (a `recv` with
/// `IOSQE_BUFFER_SELECT` and `buf_group = bgid`), so an idle connection
/// holds no memory.  Every buffer the kernel holds is a live allocation of
/// the pool, so the pool's budget bounds every ring together; a ring that
/// runs dry (receives end with `-ENOBUFS`, [`ffi::ENOBUFS`]) is restocked as
/// memory comes back, and its fd ([`AsRawFd`]) turns readable when a
/// [`refill`](BufRing::refill) may stock a slot.
///
/// Two kinds: [`new`](BufRing::new) makes an ordinary ring, where each
/// completion uses up one buffer and [`take`](BufRing::take) hands it out as
/// an [`Alloc`]; [`new_inc`](BufRing::new_inc) one with incremental
/// consumption (Linux 6.12+), where several completions share a buffer and
/// [`take_inc`](BufRing::take_inc) hands out each one's bytes as a
/// [`RingShare`].  `take_inc` also serves an ordinary ring.
///
/// The ring holds its pool alive.  Dropping it unregisters the group and
/// releases the buffers it still holds, those of completions not taken yet
/// among them.  So, as with any memory an io_uring request uses, cancel
/// (or reap) the receives that select from the group before the ring
/// drops, or close the io_uring instance: a request in flight may have
/// picked a buffer already.
///
/// The crate has no io_uring binding: the loop that submits and reaps is
/// the caller's (liburing, a crate, raw system calls); the
/// `ring_recv` example does it with raw system calls.
pub struct BufRing {
    raw: NonNull<ffi::bufpool_bufring>,
    fd: RawFd,
    n: usize,
    bgid: u16,
    entries: u32,
    inc: bool,
    pool: Handle,
}

// SAFETY: the C ring is not tied to the thread that made it; it must be
// used by one thread at a time (bufpool_bufring_create(3), THREAD SAFETY),
// which `&mut self` on every call that uses it (take, take_inc, refill,
// drop) guarantees wherever it moves.  The allocations it hands out may be
// released from any thread.  The pool handle is Send + Sync.
unsafe impl Send for BufRing {}
// SAFETY: through `&BufRing` no C call is made: only the fd number and the
// parameters (cached at creation, never changed) and `pool()` (a handle
// clone) are reachable.
unsafe impl Sync for BufRing {}

impl BufRing {
    /// Register a ring of `entries` slots (a power of two, 1 to 32768) with
    /// the io_uring instance `ring_fd` as buffer group `bgid`, stocked with
    /// allocations of `n` buffers each (`n * buffer_size` bytes a slot), as
    /// far as the budget allows; a ring stocked partly or not at all is a
    /// success, restocked as memory comes back.  Never blocks.  Buffer ids
    /// are `0 .. entries`.
    ///
    /// The ring keeps `ring_fd`'s number to unregister at drop: keep it
    /// open until then, or close the instance before (then there is
    /// nothing to unregister).
    ///
    /// Errors: [`Error::InvalidArgument`] for `n == 0`, a bad `entries`, or
    /// a kernel without provided-buffer rings (before 5.19);
    /// [`Error::TooBig`] when `n * buffer_size` exceeds the budget or
    /// 4 GiB - 1; [`Error::Canceled`] after a shutdown;
    /// [`Error::OutOfMemory`]; [`Error::BadFd`] when `ring_fd` is not open,
    /// [`Error::NotSupported`] (`EOPNOTSUPP`) when it is no io_uring
    /// instance, `Error::Other(`[`ffi::EEXIST`]`)` when `bgid` is taken on
    /// it; any other error of `io_uring_register(2)` (`EPERM` where
    /// io_uring is not allowed) or `eventfd(2)` the same way.
    pub fn new(pool: &Pool, ring_fd: RawFd, bgid: u16, entries: u32, n: usize) -> Result<BufRing, Error> {
        BufRing::create(pool, ring_fd, bgid, entries, n, false)
    }

    /// As [`new`](BufRing::new), with incremental consumption
    /// (`bufpool_bufring_create_inc(3)`, `IOU_PBUF_RING_INC`, Linux 6.12+):
    /// one buffer serves several receives, each starting where the one
    /// before ended, until it is used up.  Take its completions with
    /// [`take_inc`](BufRing::take_inc).  A kernel without it:
    /// [`Error::InvalidArgument`].
    pub fn new_inc(pool: &Pool, ring_fd: RawFd, bgid: u16, entries: u32, n: usize) -> Result<BufRing, Error> {
        BufRing::create(pool, ring_fd, bgid, entries, n, true)
    }

    fn create(
        pool: &Pool,
        ring_fd: RawFd,
        bgid: u16,
        entries: u32,
        n: usize,
        inc: bool,
    ) -> Result<BufRing, Error> {
        let handle = pool.handle.clone();
        let p = handle.inner().raw.as_ptr();
        let mut br = ptr::null_mut();
        // SAFETY: the pool is alive (we hold a handle) and `br` is writable;
        // the fd is only passed to io_uring_register, which checks it.
        check(unsafe {
            if inc {
                ffi::bufpool_bufring_create_inc(p, ring_fd, bgid, entries, n, &mut br)
            } else {
                ffi::bufpool_bufring_create(p, ring_fd, bgid, entries, n, &mut br)
            }
        })?;
        let raw = NonNull::new(br).expect("bufpool_bufring_create returned 0 and no ring");
        // SAFETY: `raw` is a live ring.
        let fd = unsafe { ffi::bufpool_bufring_fd(raw.as_ptr()) };
        assert!(fd >= 0, "a live ring without an fd");
        Ok(BufRing { raw, fd, n, bgid, entries, inc, pool: handle })
    }

    /// The buffer id a completion carries: `cqe_flags >> 16` when
    /// `IORING_CQE_F_BUFFER` is set, else `None`.
    pub fn buffer_id(cqe_flags: u32) -> Option<u16> {
        (cqe_flags & ffi::IORING_CQE_F_BUFFER != 0)
            .then_some((cqe_flags >> ffi::IORING_CQE_BUFFER_SHIFT) as u16)
    }

    /// The allocation behind buffer id `bid` of a completion
    /// (`bufpool_bufring_take(3)`), now the caller's alone: its data is the
    /// first `cqe.res` bytes (count them in with [`Alloc::set_filled`]).
    /// Its slot is restocked at once if the budget allows.
    ///
    /// `None` when the kernel holds no buffer under `bid` (`bid >=
    /// entries`, never stocked, taken already), and on an incremental ring,
    /// where the data may sit anywhere in the buffer: use
    /// [`take_inc`](BufRing::take_inc) there.
    ///
    /// # Safety
    ///
    /// `bid` was carried by a completion (see [`buffer_id`](BufRing::buffer_id))
    /// of a request that selected from this ring's group, and was not taken
    /// since.  The library cannot tell such an id from one still in the
    /// ring, whose memory the kernel may write at any time.
    pub unsafe fn take(&mut self, bid: u16) -> Option<Alloc> {
        // SAFETY: the ring is alive and `&mut self` makes this the only
        // call on it.
        let a = unsafe { ffi::bufpool_bufring_take(self.raw.as_ptr(), bid.into()) };
        if a.is_null() {
            return None;
        }
        // SAFETY: the ring's reference to a live allocation of n buffers of
        // our pool is ours now, and no other exists; the caller promises
        // that the kernel is done with it.
        Some(unsafe { Alloc::from_raw(self.pool.ptr(), a, self.n) })
    }

    /// A completion's bytes (`bufpool_bufring_take_inc(3)`): the `res`
    /// bytes it received, read-only.  On an incremental ring the kernel may
    /// keep the rest of the buffer for later receives
    /// (`IORING_CQE_F_BUF_MORE`); the memory goes back to the pool once the
    /// kernel and every share of it are done.  On an ordinary ring a share
    /// is the start of the whole buffer, whose slot is restocked.
    ///
    /// `None` when `res` is not positive, `cqe_flags` lacks
    /// `IORING_CQE_F_BUFFER` or names a buffer the kernel does not hold, or
    /// `res` is more than is left of that buffer.
    ///
    /// # Safety
    ///
    /// `cqe_flags` and `res` are those of one completion of a request that
    /// selected from this ring's group, and that completion was not taken
    /// before: the ring tracks where each share starts from them, and the
    /// kernel may be writing after the share.
    pub unsafe fn take_inc(&mut self, cqe_flags: u32, res: i32) -> Option<RingShare> {
        let mut data = ptr::null_mut::<c_void>();
        // SAFETY: the ring is alive, `&mut self` as in take; `data` is writable.
        let a = unsafe { ffi::bufpool_bufring_take_inc(self.raw.as_ptr(), cqe_flags, res, &mut data) };
        let a = NonNull::new(a)?;
        let data = NonNull::new(data.cast::<u8>()).expect("bufpool_bufring_take_inc: no data pointer");
        // A successful take had res > 0.
        Some(RingShare { a, data, len: res as usize })
    }

    /// Restock the empty slots as far as the budget allows
    /// (`bufpool_bufring_refill(3)`), and reset the fd's readiness: how
    /// many buffers the kernel holds now.  Call it when the fd turns
    /// readable, then re-arm the receives that ended with `-ENOBUFS`.
    ///
    /// Errors, when it could stock nothing: [`Error::Canceled`] once the
    /// pool is shut down, [`Error::TooBig`] while the budget is shrunk
    /// below a slot's size (the fd turns readable once it grows back),
    /// [`Error::OutOfMemory`].
    pub fn refill(&mut self) -> Result<usize, Error> {
        // SAFETY: the ring is alive; `&mut self` as in take.
        let r = unsafe { ffi::bufpool_bufring_refill(self.raw.as_ptr()) };
        if r < 0 { Err(Error::from_code(r)) } else { Ok(r as usize) }
    }

    /// The buffer group id the ring was registered as.
    pub fn bgid(&self) -> u16 {
        self.bgid
    }

    /// The number of slots (buffer ids `0 .. entries`).
    pub fn entries(&self) -> u32 {
        self.entries
    }

    /// Buffers per slot, `n`: a slot is `n * buffer_size` bytes.
    pub fn buffers_per_slot(&self) -> usize {
        self.n
    }

    /// True for a ring made by [`new_inc`](BufRing::new_inc).
    pub fn is_incremental(&self) -> bool {
        self.inc
    }

    /// A handle to the ring's pool.
    pub fn pool(&self) -> Pool {
        Pool::from_handle(self.pool.clone())
    }
}

impl AsRawFd for BufRing {
    /// The ring's eventfd (`bufpool_bufring_fd(3)`): `POLLIN` when the ring
    /// has empty slots and memory has come back that could fill one, or the
    /// pool was shut down.  Poll it (epoll, poll, an io_uring poll request);
    /// do not read, write or close it.  It stays open as long as the ring.
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl AsFd for BufRing {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the fd is open until bufpool_bufring_destroy, which only
        // Drop calls, so for as long as `self` is borrowed.
        unsafe { BorrowedFd::borrow_raw(self.fd) }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: the ring is alive and no other call on it can run; the
        // pool outlives this body (`self.pool` drops after it), as destroy
        // requires.
        unsafe { ffi::bufpool_bufring_destroy(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for BufRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufRing")
            .field("fd", &self.fd)
            .field("bgid", &self.bgid)
            .field("entries", &self.entries)
            .field("n", &self.n)
            .field("inc", &self.inc)
            .finish_non_exhaustive()
    }
}

/// The bytes of one completion taken from a [`BufRing`] with
/// [`take_inc`](BufRing::take_inc): a read-only view of part of an
/// allocation, holding one reference to it.
///
/// Read-only, and no view of the rest of the buffer, because the kernel may
/// still be writing there (later receives into the same buffer).  `Clone`
/// takes one more reference (`bufpool_alloc_retain`); the memory goes back
/// to the pool when the kernel and every share of it are done, from
/// whichever thread.
pub struct RingShare {
    a: NonNull<ffi::bufpool_alloc>,
    data: NonNull<u8>,
    len: usize,
}

// SAFETY: the share only reads bytes that the kernel has finished writing
// (it posted their completion) and nobody writes again while a reference is
// held; retain and release are thread-safe (bufpool_alloc_retain(3)), and
// the pool outlives every reference (its destroy waits for them).
unsafe impl Send for RingShare {}
// SAFETY: as for Send: `&RingShare` gives reads and `clone` (a retain).
unsafe impl Sync for RingShare {}

impl RingShare {
    /// The received bytes (also `&*share`).
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `data` points to `len` bytes inside the allocation we hold
        // a reference to, written by the kernel before it posted the
        // completion, and not written again while the allocation lives
        // (the ring hands each byte out once, and no handle writes).
        unsafe { slice::from_raw_parts(self.data.as_ptr(), self.len) }
    }
}

impl Clone for RingShare {
    /// One more reference to the allocation (`bufpool_alloc_retain`).
    fn clone(&self) -> RingShare {
        // SAFETY: the allocation is live (we hold a reference).
        let a = unsafe { ffi::bufpool_alloc_retain(self.a.as_ptr()) };
        let a = NonNull::new(a).expect("bufpool_alloc_retain of a live allocation returned NULL");
        RingShare { a, data: self.data, len: self.len }
    }
}

impl Deref for RingShare {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for RingShare {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Drop for RingShare {
    fn drop(&mut self) {
        // SAFETY: we own one reference; the pool is alive (its destroy
        // waits for this release).
        unsafe { ffi::bufpool_alloc_release(self.a.as_ptr()) }
    }
}

impl fmt::Debug for RingShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingShare").field("data", &self.data).field("len", &self.len).finish()
    }
}
