//! Receive on a UDP loopback socket through io_uring, with the buffers
//! picked by the kernel from a `BufRing` (a provided-buffer group stocked
//! from a pool), using raw system calls: `io_uring_setup`, `mmap` of the
//! rings, `io_uring_enter`.  No io_uring crate, no libc crate.
//!
//! The pool's budget is 4 buffers, so the ring holds 4.  The program
//! receives 4 datagrams and keeps their buffers: the ring is dry, so the
//! 5th receive ends with `-ENOBUFS`.  Releasing the kept buffers makes the
//! ring's fd readable; `refill` restocks it and the receive, re-armed,
//! gets the datagram.  Every received byte is checked.
//!
//! `cargo run --example ring_recv`.  Where io_uring is not allowed (a
//! seccomp'd container, `kernel.io_uring_disabled`) or the kernel lacks
//! provided-buffer rings, it prints `SKIP: ring_recv: ...` and exits 0.

use bufpool::{Alloc, BufRing, Config, Pool, ffi};
use std::net::UdpSocket;
use std::os::fd::AsRawFd;

/// Just enough io_uring, by hand, for a receive loop.
pub mod uring {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::os::raw::{c_int, c_long, c_short, c_uint, c_ulong, c_void};
    use std::ptr;
    use std::sync::atomic::{AtomicU32, Ordering};

    unsafe extern "C" {
        fn syscall(num: c_long, ...) -> c_long;
        fn mmap(
            addr: *mut c_void,
            len: usize,
            prot: c_int,
            flags: c_int,
            fd: c_int,
            off: c_long,
        ) -> *mut c_void;
        fn munmap(addr: *mut c_void, len: usize) -> c_int;
        fn poll(fds: *mut PollFd, nfds: c_ulong, timeout_ms: c_int) -> c_int;
    }

    // asm-generic numbers, shared by every architecture but alpha.
    const SYS_IO_URING_SETUP: c_long = 425;
    const SYS_IO_URING_ENTER: c_long = 426;
    const IORING_ENTER_GETEVENTS: c_uint = 1;
    const IORING_OFF_SQ_RING: c_long = 0;
    const IORING_OFF_CQ_RING: c_long = 0x800_0000;
    const IORING_OFF_SQES: c_long = 0x1000_0000;
    const PROT_READ_WRITE: c_int = 0x1 | 0x2;
    const MAP_SHARED_POPULATE: c_int = 0x01 | 0x8000;
    /// `IORING_OP_RECV`.
    pub const OP_RECV: u8 = 27;
    /// `IOSQE_BUFFER_SELECT`.
    pub const IOSQE_BUFFER_SELECT: u8 = 1 << 5;

    #[repr(C)]
    #[derive(Default)]
    struct SqOffsets {
        head: u32,
        tail: u32,
        ring_mask: u32,
        ring_entries: u32,
        flags: u32,
        dropped: u32,
        array: u32,
        resv1: u32,
        user_addr: u64,
    }

    #[repr(C)]
    #[derive(Default)]
    struct CqOffsets {
        head: u32,
        tail: u32,
        ring_mask: u32,
        ring_entries: u32,
        overflow: u32,
        cqes: u32,
        flags: u32,
        resv1: u32,
        user_addr: u64,
    }

    #[repr(C)]
    #[derive(Default)]
    struct Params {
        sq_entries: u32,
        cq_entries: u32,
        flags: u32,
        sq_thread_cpu: u32,
        sq_thread_idle: u32,
        features: u32,
        wq_fd: u32,
        resv: [u32; 3],
        sq_off: SqOffsets,
        cq_off: CqOffsets,
    }
    const _: () = assert!(size_of::<Params>() == 120);

    /// `struct io_uring_sqe`, the fields a receive uses.
    #[repr(C)]
    #[derive(Default, Clone, Copy, Debug)]
    pub struct Sqe {
        pub opcode: u8,
        pub flags: u8,
        pub ioprio: u16,
        pub fd: i32,
        pub off: u64,
        pub addr: u64,
        pub len: u32,
        pub msg_flags: u32,
        pub user_data: u64,
        pub buf_group: u16,
        pub personality: u16,
        pub splice_fd_in: i32,
        pub addr3: u64,
        pub pad2: u64,
    }
    const _: () = assert!(size_of::<Sqe>() == 64);

    /// `struct io_uring_cqe`.
    #[repr(C)]
    #[derive(Default, Clone, Copy, Debug)]
    pub struct Cqe {
        pub user_data: u64,
        pub res: i32,
        pub flags: u32,
    }

    /// A receive of up to `len` bytes on `fd` into a buffer the kernel
    /// picks from group `bgid`.
    pub fn recv(fd: RawFd, bgid: u16, len: u32, user_data: u64) -> Sqe {
        Sqe {
            opcode: OP_RECV,
            flags: IOSQE_BUFFER_SELECT,
            fd,
            len,
            buf_group: bgid,
            user_data,
            ..Sqe::default()
        }
    }

    struct Map {
        p: *mut u8,
        len: usize,
    }

    impl Map {
        fn new(fd: RawFd, len: usize, off: c_long) -> io::Result<Map> {
            // SAFETY: a fresh shared mapping of the io_uring fd at the
            // offset the kernel documents; nothing else is touched.
            let p = unsafe { mmap(ptr::null_mut(), len, PROT_READ_WRITE, MAP_SHARED_POPULATE, fd, off) };
            if p as isize == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(Map { p: p.cast(), len })
        }

        /// SAFETY: `off` is a 4-aligned offset of a u32 inside the map.
        unsafe fn u32_at(&self, off: u32) -> &AtomicU32 {
            // SAFETY: the caller's promise; the kernel shares it, so atomics.
            unsafe { &*self.p.add(off as usize).cast::<AtomicU32>() }
        }
    }

    impl Drop for Map {
        fn drop(&mut self) {
            // SAFETY: our mapping, unmapped once.
            unsafe { munmap(self.p.cast(), self.len) };
        }
    }

    /// An io_uring instance: its fd and its three mappings.
    pub struct Ring {
        sq: Map,
        cq: Map,
        sqes: Map,
        p: Params,
        fd: OwnedFd,
    }

    /// io_uring is refused here (seccomp, `kernel.io_uring_disabled`) or
    /// unknown to the kernel.
    pub fn not_allowed(e: &io::Error) -> bool {
        matches!(e.raw_os_error(), Some(1 | 13 | 38)) // EPERM, EACCES, ENOSYS
    }

    impl Ring {
        /// `io_uring_setup(entries)` and the mappings.
        pub fn new(entries: u32) -> io::Result<Ring> {
            let mut p = Params::default();
            // SAFETY: io_uring_setup(u32, struct io_uring_params *), `p`
            // is writable and of the kernel's layout.
            let fd = unsafe { syscall(SYS_IO_URING_SETUP, entries as c_uint, &mut p as *mut Params) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: a new fd that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
            let raw = fd.as_raw_fd();
            let sq = Map::new(raw, p.sq_off.array as usize + 4 * p.sq_entries as usize, IORING_OFF_SQ_RING)?;
            let cq = Map::new(
                raw,
                p.cq_off.cqes as usize + size_of::<Cqe>() * p.cq_entries as usize,
                IORING_OFF_CQ_RING,
            )?;
            let sqes = Map::new(raw, size_of::<Sqe>() * p.sq_entries as usize, IORING_OFF_SQES)?;
            Ok(Ring { sq, cq, sqes, p, fd })
        }

        /// Queue one request; false when the submission queue is full.
        pub fn push(&mut self, sqe: Sqe) -> bool {
            // SAFETY: the offsets are the kernel's, inside the maps.
            let (head, tail) =
                unsafe { (self.sq.u32_at(self.p.sq_off.head), self.sq.u32_at(self.p.sq_off.tail)) };
            let t = tail.load(Ordering::Relaxed);
            if t.wrapping_sub(head.load(Ordering::Acquire)) >= self.p.sq_entries {
                return false;
            }
            let i = t & self.p.sq_entries.wrapping_sub(1);
            // SAFETY: slot `i` < sq_entries of the SQE array and of the
            // index array; the kernel reads neither before the tail moves.
            unsafe {
                self.sqes.p.cast::<Sqe>().add(i as usize).write(sqe);
                self.sq.p.add(self.p.sq_off.array as usize).cast::<u32>().add(i as usize).write(i);
            }
            tail.store(t.wrapping_add(1), Ordering::Release);
            true
        }

        /// Submit what was queued and wait for `want` completions.
        pub fn submit_and_wait(&mut self, want: u32) -> io::Result<()> {
            // SAFETY: the offsets are the kernel's.
            let (head, tail) =
                unsafe { (self.sq.u32_at(self.p.sq_off.head), self.sq.u32_at(self.p.sq_off.tail)) };
            let pending = tail.load(Ordering::Relaxed).wrapping_sub(head.load(Ordering::Acquire));
            loop {
                // SAFETY: io_uring_enter(fd, to_submit, min_complete, flags, sigset NULL, 0).
                let r = unsafe {
                    syscall(
                        SYS_IO_URING_ENTER,
                        self.fd.as_raw_fd(),
                        pending as c_uint,
                        want as c_uint,
                        IORING_ENTER_GETEVENTS,
                        ptr::null::<c_void>(),
                        0usize,
                    )
                };
                if r >= 0 {
                    return Ok(());
                }
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }

        /// The next completion, if any.
        pub fn pop(&mut self) -> Option<Cqe> {
            // SAFETY: the offsets are the kernel's.
            let (head, tail) =
                unsafe { (self.cq.u32_at(self.p.cq_off.head), self.cq.u32_at(self.p.cq_off.tail)) };
            let h = head.load(Ordering::Relaxed);
            if h == tail.load(Ordering::Acquire) {
                return None;
            }
            let i = h & self.p.cq_entries.wrapping_sub(1);
            // SAFETY: entry `i` < cq_entries, written before the tail moved.
            let cqe =
                unsafe { self.cq.p.add(self.p.cq_off.cqes as usize).cast::<Cqe>().add(i as usize).read() };
            head.store(h.wrapping_add(1), Ordering::Release);
            Some(cqe)
        }

        /// Submit `sqe` and wait for its completion (the only one in flight).
        pub fn run(&mut self, sqe: Sqe) -> io::Result<Cqe> {
            assert!(self.push(sqe), "submission queue full");
            self.submit_and_wait(1)?;
            Ok(self.pop().expect("io_uring_enter returned without a completion"))
        }
    }

    impl AsRawFd for Ring {
        fn as_raw_fd(&self) -> RawFd {
            self.fd.as_raw_fd()
        }
    }

    #[repr(C)]
    struct PollFd {
        fd: c_int,
        events: c_short,
        revents: c_short,
    }

    /// Whether `fd` turns readable within `ms` milliseconds.
    pub fn readable(fd: RawFd, ms: i32) -> bool {
        let mut p = PollFd { fd, events: 1, revents: 0 }; // POLLIN
        // SAFETY: one valid pollfd.
        let r = unsafe { poll(&mut p, 1, ms) };
        r > 0 && p.revents & 1 != 0
    }
}

const BGID: u16 = 7;
const BUF: usize = 4096;

fn skip(reason: impl std::fmt::Display) -> ! {
    println!("SKIP: ring_recv: {reason}");
    std::process::exit(0)
}

fn message(i: usize) -> Vec<u8> {
    format!("datagram {i}: {}", "x".repeat(i * 100)).into_bytes()
}

/// Receive one datagram through the ring: its completion.
fn receive(ring: &mut uring::Ring, sock: &UdpSocket, i: usize) -> uring::Cqe {
    ring.run(uring::recv(sock.as_raw_fd(), BGID, BUF as u32, i as u64)).expect("io_uring_enter")
}

/// Take the completion's buffer and check its bytes against message `i`.
fn take_checked(br: &mut BufRing, cqe: uring::Cqe, i: usize) -> Alloc {
    assert!(cqe.res > 0, "recv {i}: {}", std::io::Error::from_raw_os_error(-cqe.res));
    let bid = BufRing::buffer_id(cqe.flags).expect("a completion without a buffer id");
    // SAFETY: the id comes from this completion of a receive from br's group.
    let mut a = unsafe { br.take(bid) }.expect("take of a completion's buffer id");
    a.set_filled(cqe.res as usize);
    assert_eq!(a.filled(), &message(i)[..], "datagram {i}'s bytes");
    a
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::new(Config::new(BUF, 4 * BUF))?;
    let mut ring = match uring::Ring::new(8) {
        Ok(r) => r,
        Err(e) if uring::not_allowed(&e) => {
            skip(format_args!("io_uring not allowed here: io_uring_setup: {e}"))
        }
        Err(e) => return Err(e.into()),
    };
    let mut br = match BufRing::new(&pool, ring.as_raw_fd(), BGID, 8, 1) {
        Ok(br) => br,
        Err(e) if matches!(e.errno(), ffi::EINVAL | ffi::EPERM | 38) => {
            skip(format_args!("no provided-buffer rings here (io_uring_register: {e})"))
        }
        Err(e) => return Err(e.into()),
    };
    println!("ring: 8 slots of {BUF} bytes, {} stocked (the budget's 4 buffers)", br.refill()?);

    let rx = UdpSocket::bind("127.0.0.1:0")?;
    let tx = UdpSocket::bind("127.0.0.1:0")?;
    tx.connect(rx.local_addr()?)?;
    rx.connect(tx.local_addr()?)?;
    for i in 0..6 {
        tx.send(&message(i))?;
    }

    // Keep the first four: the ring cannot be restocked.
    let mut kept = Vec::new();
    for i in 0..4 {
        let cqe = receive(&mut ring, &rx, i);
        kept.push(take_checked(&mut br, cqe, i));
        assert!(pool.stats().in_use_bytes <= 4 * BUF);
    }
    let cqe = receive(&mut ring, &rx, 4);
    assert_eq!(cqe.res, -ffi::ENOBUFS, "a receive from a dry ring");
    println!("4 datagrams held: the ring is dry, the 5th receive ended with -ENOBUFS");
    assert!(!uring::readable(br.as_raw_fd(), 0), "the ring's fd is readable with nothing released");

    drop(kept); // memory back: the ring's fd turns readable
    assert!(uring::readable(br.as_raw_fd(), 5000), "the ring's fd did not turn readable");
    println!("released: fd readable, refill stocked {}", br.refill()?);

    // Re-armed, the receive gets the datagram that waited.
    for i in 4..6 {
        let cqe = receive(&mut ring, &rx, i);
        drop(take_checked(&mut br, cqe, i));
    }
    let s = pool.stats();
    assert!(s.peak_in_use_bytes <= s.max_memory, "over budget: {s:?}");
    drop(br);
    assert_eq!(pool.stats().live_allocations, 0);
    println!(
        "ring_recv: 6 datagrams received and checked, peak {} of {} bytes",
        s.peak_in_use_bytes, s.max_memory
    );
    Ok(())
}
