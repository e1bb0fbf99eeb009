//! BufRing against a real io_uring instance (raw system calls, the
//! ring_recv example's): create and destroy, bad input, takes the kernel
//! could not have given, refill after releases, the budget.  Where io_uring
//! is not allowed, each test prints "SKIP: bufring: ..." and passes.

use bufpool::{BufRing, Config, Error, Pool, ffi};
use std::fs::File;
use std::io::Write;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;

// The io_uring helpers: one copy, the example's.
#[path = "../examples/ring_recv.rs"]
#[allow(dead_code)]
mod ring_recv;
use ring_recv::uring::{self, Ring};

const BS: usize = 4096;

fn skip(reason: impl std::fmt::Display) {
    // past the harness's capture, for tests/run.sh to count
    let _ = writeln!(std::io::stderr(), "SKIP: bufring: {reason}");
}

/// An io_uring instance, or None (with a SKIP line) where it is refused.
fn ring() -> Option<Ring> {
    match Ring::new(8) {
        Ok(r) => Some(r),
        Err(e) if uring::not_allowed(&e) => {
            skip(format_args!("io_uring not allowed here: io_uring_setup: {e}"));
            None
        }
        Err(e) => panic!("io_uring_setup: {e}"),
    }
}

/// A ring, or None (with a SKIP line) where the kernel refuses
/// provided-buffer rings.
fn bufring(pool: &Pool, ring: &Ring, bgid: u16, entries: u32, n: usize) -> Option<BufRing> {
    match BufRing::new(pool, ring.as_raw_fd(), bgid, entries, n) {
        Ok(br) => Some(br),
        Err(e) if matches!(e.errno(), ffi::EINVAL | ffi::EPERM | 38) => {
            skip(format_args!("no provided-buffer rings here (io_uring_register: {e})"));
            None
        }
        Err(e) => panic!("BufRing::new: {e}"),
    }
}

/// A connected UDP loopback pair: (receiver, sender).
fn udp_pair() -> (UdpSocket, UdpSocket) {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    tx.connect(rx.local_addr().unwrap()).unwrap();
    rx.connect(tx.local_addr().unwrap()).unwrap();
    (rx, tx)
}

fn recv(ring: &mut Ring, rx: &UdpSocket, bgid: u16) -> uring::Cqe {
    ring.run(uring::recv(rx.as_raw_fd(), bgid, BS as u32, 1)).expect("io_uring_enter")
}

#[test]
fn create_stocks_and_destroy_releases() {
    let Some(ring) = ring() else { return };
    let pool = Pool::new(Config::new(BS, 64 * BS)).unwrap();
    let Some(mut br) = bufring(&pool, &ring, 1, 8, 2) else { return };
    assert_eq!((br.bgid(), br.entries(), br.buffers_per_slot(), br.is_incremental()), (1, 8, 2, false));
    let s = pool.stats();
    assert_eq!(
        (s.live_allocations, s.in_use_bytes),
        (8, 8 * 2 * BS),
        "every slot stocked, charged to the pool"
    );
    assert_eq!(br.refill(), Ok(8));
    assert!(br.as_raw_fd() >= 0);
    assert!(!uring::readable(br.as_raw_fd(), 0), "a full ring's fd is readable");

    // The group is registered: the same bgid again is taken.
    let again = BufRing::new(&pool, ring.as_raw_fd(), 1, 8, 1).unwrap_err();
    assert_eq!(again, Error::Other(ffi::EEXIST));
    let other = BufRing::new(&pool, ring.as_raw_fd(), 2, 4, 1).unwrap();
    assert_eq!(pool.stats().live_allocations, 12);
    drop(other);

    // The ring holds its pool alive: it works with no Pool left.
    drop(pool);
    assert_eq!(br.refill(), Ok(8));
    let pool = br.pool();
    // Its drop unregisters and releases.
    drop(br);
    assert_eq!(pool.stats().live_allocations, 0);
    assert_eq!(pool.stats().in_use_bytes, 0);
    let br = BufRing::new(&pool, ring.as_raw_fd(), 1, 8, 1).expect("bgid 1 free again after the drop");
    drop(br);
}

#[test]
fn bad_input_errors() {
    let pool = Pool::new(Config::new(BS, 16 * BS)).unwrap();
    // Checked before the kernel is asked: no io_uring needed.
    for entries in [0, 3, 6, 65536, 1 << 20] {
        let e = BufRing::new(&pool, -1, 1, entries, 1).unwrap_err();
        assert_eq!(e, Error::InvalidArgument, "entries {entries}");
    }
    assert_eq!(BufRing::new(&pool, -1, 1, 8, 0).unwrap_err(), Error::InvalidArgument);
    assert_eq!(BufRing::new(&pool, -1, 1, 8, 17).unwrap_err(), Error::TooBig);
    assert_eq!(BufRing::new_inc(&pool, -1, 1, 8, usize::MAX).unwrap_err(), Error::TooBig);
    let big = Pool::new(Config::new(1 << 30, 8 << 30)).unwrap();
    assert_eq!(BufRing::new(&big, -1, 1, 1, 4).unwrap_err(), Error::TooBig, "a slot beyond 4 GiB - 1");
    let shut = Pool::new(Config::new(BS, 16 * BS)).unwrap();
    shut.shutdown();
    assert_eq!(BufRing::new(&shut, -1, 1, 8, 1).unwrap_err(), Error::Canceled);

    // The kernel's answers.
    let Some(_ring) = ring() else { return };
    // (Not -1: Linux 6.13+ takes it for a few ring-less operations, EINVAL.)
    assert_eq!(BufRing::new(&pool, 999_999, 1, 8, 1).unwrap_err(), Error::BadFd, "an fd nothing has open");
    let file = File::open("/dev/null").unwrap();
    assert_eq!(BufRing::new(&pool, file.as_raw_fd(), 1, 8, 1).unwrap_err(), Error::NotSupported);
    // A failed create changes nothing.
    let s = pool.stats();
    assert_eq!((s.live_allocations, s.in_use_bytes), (0, 0));
}

#[test]
fn takes_the_kernel_could_not_have_given() {
    let Some(mut ring) = ring() else { return };
    // Budget for 2 of the 4 slots: bids 0 and 1 are stocked, 2 and 3 not.
    let pool = Pool::new(Config::new(BS, 2 * BS)).unwrap();
    let Some(mut br) = bufring(&pool, &ring, 3, 4, 1) else { return };
    // SAFETY (every take below): no request selects from the group yet,
    // and each bid is one the kernel holds no buffer under, or a
    // completion's.
    unsafe {
        for bid in [2, 3, 4, 100, u16::MAX] {
            assert!(br.take(bid).is_none(), "bid {bid}");
        }
        // No buffer flag, res not positive, a bid not held, more than a
        // buffer: none is a completion of this ring.
        let b0 = ffi::IORING_CQE_F_BUFFER;
        assert!(br.take_inc(0, 10).is_none());
        assert!(br.take_inc(b0 | (2 << 16), 10).is_none());
        assert!(br.take_inc(b0, 0).is_none());
        assert!(br.take_inc(b0, -105).is_none());
        assert!(br.take_inc(b0, BS as i32 + 1).is_none());
    }
    assert_eq!(BufRing::buffer_id(0), None);
    assert_eq!(BufRing::buffer_id(ffi::IORING_CQE_F_BUFFER | (3 << 16)), Some(3));
    assert_eq!(pool.stats().live_allocations, 2, "a refused take changes nothing");

    // A real completion's bid, taken twice: the second is refused.
    let (rx, tx) = udp_pair();
    tx.send(b"hello").unwrap();
    let cqe = recv(&mut ring, &rx, 3);
    assert_eq!(cqe.res, 5);
    let bid = BufRing::buffer_id(cqe.flags).expect("a buffer id");
    // SAFETY: a completion's bid, then the same one again.
    let mut a = unsafe { br.take(bid) }.expect("the completion's buffer");
    assert!(unsafe { br.take(bid) }.is_none(), "bid {bid} taken twice");
    a.set_filled(cqe.res as usize);
    assert_eq!(a.filled(), b"hello");
    assert_eq!((a.buffer_count(), a.byte_len()), (1, BS));
}

#[test]
fn refill_after_releases() {
    let Some(ring) = ring() else { return };
    let pool = Pool::new(Config::new(BS, 4 * BS)).unwrap();
    let held = pool.allocate(3).unwrap();
    let Some(mut br) = bufring(&pool, &ring, 4, 4, 1) else { return };
    assert_eq!(br.refill(), Ok(1), "what the budget left");
    assert!(!uring::readable(br.as_raw_fd(), 0), "readable before any release");
    drop(held);
    assert!(uring::readable(br.as_raw_fd(), 5000), "the release did not wake the ring");
    assert_eq!(br.refill(), Ok(4));
    assert!(!uring::readable(br.as_raw_fd(), 0), "refill resets the fd");
    assert_eq!(pool.stats().in_use_bytes, 4 * BS);

    // A shutdown wakes the ring, whose refill says so.
    pool.shutdown();
    assert!(uring::readable(br.as_raw_fd(), 5000), "the shutdown did not wake the ring");
    assert_eq!(br.refill(), Err(Error::Canceled));
}

#[test]
fn receives_stay_within_the_budget() {
    let Some(mut ring) = ring() else { return };
    let pool = Pool::new(Config::new(BS, 3 * BS)).unwrap();
    let Some(mut br) = bufring(&pool, &ring, 5, 8, 1) else { return };
    let (rx, tx) = udp_pair();
    let mut kept = Vec::new();
    for i in 0..3u8 {
        tx.send(&[i; 100]).unwrap();
        let cqe = recv(&mut ring, &rx, 5);
        let bid = BufRing::buffer_id(cqe.flags).expect("a buffer id");
        // SAFETY: a completion's bid.
        let a = unsafe { br.take(bid) }.unwrap();
        assert_eq!(&a[..100], &[i; 100][..]);
        kept.push(a);
        assert!(pool.stats().in_use_bytes <= 3 * BS);
    }
    // Everything is held: the kernel finds no buffer.
    tx.send(b"late").unwrap();
    assert_eq!(recv(&mut ring, &rx, 5).res, -ffi::ENOBUFS);
    kept.pop();
    assert!(uring::readable(br.as_raw_fd(), 5000));
    assert_eq!(br.refill(), Ok(1));
    let cqe = recv(&mut ring, &rx, 5);
    // SAFETY: a completion's bid.
    let a = unsafe { br.take(BufRing::buffer_id(cqe.flags).unwrap()) }.unwrap();
    assert_eq!(&a[..cqe.res as usize], b"late");
    let s = pool.stats();
    assert!(s.peak_in_use_bytes <= s.max_memory, "{s:?}");

    // take_inc on an ordinary ring: the share is the buffer's start.
    tx.send(b"share").unwrap();
    drop(kept);
    assert_eq!(br.refill(), Ok(2));
    let cqe = recv(&mut ring, &rx, 5);
    // SAFETY: one completion's flags and res.
    let share = unsafe { br.take_inc(cqe.flags, cqe.res) }.unwrap();
    assert_eq!(&*share, b"share");
    let copy = share.clone();
    drop(share);
    assert_eq!(&*copy, b"share");
}

#[test]
fn incremental_shares() {
    let Some(mut ring) = ring() else { return };
    let pool = Pool::new(Config::new(BS, 4 * BS)).unwrap();
    let mut br = match BufRing::new_inc(&pool, ring.as_raw_fd(), 6, 1, 1) {
        Ok(br) => br,
        Err(Error::InvalidArgument) => {
            return skip("inc: the kernel has no incremental provided-buffer rings (6.12+)");
        }
        Err(e) => return skip(format_args!("inc: BufRing::new_inc: {e}")),
    };
    assert!(br.is_incremental());
    let (rx, tx) = udp_pair();
    let mut shares = Vec::new();
    for msg in [&b"one"[..], b"two!", b"three"] {
        tx.send(msg).unwrap();
        let cqe = recv(&mut ring, &rx, 6);
        assert_eq!(cqe.res, msg.len() as i32);
        assert_ne!(cqe.flags & ffi::IORING_CQE_F_BUF_MORE, 0, "the kernel keeps the buffer");
        // SAFETY: a completion's bid, on an incremental ring: refused.
        assert!(unsafe { br.take(BufRing::buffer_id(cqe.flags).unwrap()) }.is_none());
        // SAFETY: one completion's flags and res.
        let s = unsafe { br.take_inc(cqe.flags, cqe.res) }.unwrap();
        assert_eq!(&*s, msg);
        shares.push(s);
    }
    // One buffer, shares one after the other.
    assert_eq!(shares[1].as_ptr() as usize, shares[0].as_ptr() as usize + 3);
    assert_eq!(shares[2].as_ptr() as usize, shares[1].as_ptr() as usize + 4);
    assert_eq!(pool.stats().live_allocations, 1);
    drop(br); // the kernel's part goes; the shares stay valid
    assert_eq!(&*shares[2], b"three");
    assert_eq!(pool.stats().live_allocations, 1);
    drop(shares);
    assert_eq!(pool.stats().live_allocations, 0);
}

#[test]
fn auto_traits() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<BufRing>();
    send_sync::<bufpool::RingShare>();
}
