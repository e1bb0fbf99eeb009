//! The byte-buffer manners of the handles: `Deref` to `[u8]`, the filled
//! length with `io::Write` and `io::Read`, `IoSlice` views, shared views
//! (`slice`, `freeze`), the names that say what they count and their
//! deprecated aliases.

use bufpool::{Alloc, Config, Pool, SharedAlloc};
use std::io::{self, BufRead, IoSlice, Read, Write};

fn pool(bs: usize, max: usize) -> Pool {
    Pool::new(Config::new(bs, max)).expect("Pool::new")
}

#[test]
fn alloc_derefs_to_all_its_bytes() {
    let p = pool(64, 4096);
    let mut a = p.allocate(3).unwrap();
    assert_eq!((a.buffer_count(), a.byte_len(), a.buffer_size()), (3, 192, 64));
    // Deref: the slice's own methods, on all 192 bytes.
    a.fill(5);
    a[64] = 6;
    assert_eq!(<[u8]>::len(&a), 192);
    assert_eq!(a.iter().filter(|&&b| b == 6).count(), 1);
    assert_eq!(a.as_ptr(), (*a).as_ptr());
    fn takes_slice(s: &[u8]) -> usize {
        s.len()
    }
    fn takes_mut(s: &mut [u8]) {
        s[0] = 1;
    }
    assert_eq!(takes_slice(&a), 192);
    takes_mut(&mut a);
    assert_eq!(a.buffer(0).unwrap()[0], 1);
    assert_eq!(a.buffer(1).unwrap()[0], 6);
    assert!(!a.is_empty());
    let s = a.into_shared();
    assert_eq!(takes_slice(&s), 192);
    assert_eq!(s[64], 6);
}

#[test]
#[allow(deprecated)]
fn deprecated_aliases_keep_their_meaning() {
    let p = pool(64, 4096);
    let mut a = p.allocate(3).unwrap();
    assert_eq!(a.len(), a.buffer_count());
    // (With io::Read in scope, as here, `a.bytes()` is Read::bytes, the
    // iterator: the deprecated count is reached by path.)
    assert_eq!(Alloc::bytes(&a), a.byte_len());
    a.write_all(b"xy").unwrap();
    assert_eq!((&mut a).bytes().map(Result::unwrap).collect::<Vec<u8>>(), b"xy");
    let s = a.into_shared();
    assert_eq!((s.len(), SharedAlloc::bytes(&s)), (3, 192));
    let part = s.slice(10..20);
    assert_eq!(
        (part.len(), SharedAlloc::bytes(&part)),
        (3, 10),
        "buffers of the allocation, bytes of the view"
    );
}

#[test]
fn write_appends_and_read_reads_what_was_written() {
    let p = pool(16, 4096);
    let mut a = p.allocate(2).unwrap(); // 32 bytes
    assert_eq!((a.filled_len(), a.filled(), a.unread()), (0, &b""[..], &b""[..]));
    a.write_all(b"0123456789").unwrap();
    write!(a, "abc{:x}", 0xdef).unwrap();
    assert_eq!(a.filled(), b"0123456789abcdef");
    assert_eq!(a.spare_mut().len(), 16);
    let mut four = [0u8; 4];
    a.read_exact(&mut four).unwrap();
    assert_eq!(&four, b"0123");
    assert_eq!(a.unread(), b"456789abcdef");
    // BufRead on what is left.
    assert_eq!(a.fill_buf().unwrap(), b"456789abcdef");
    a.consume(2);
    let mut rest = Vec::new();
    a.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"6789abcdef");
    assert_eq!(a.read(&mut four).unwrap(), 0, "everything written was read");
    // Full: write takes what fits, then nothing.
    assert_eq!(a.write(&[b'x'; 20]).unwrap(), 16);
    assert_eq!(a.filled_len(), 32);
    assert_eq!(a.write(b"y").unwrap(), 0);
    assert_eq!(a.write_all(b"y").unwrap_err().kind(), io::ErrorKind::WriteZero);
    a.flush().unwrap();
    // Vectored writes go on across slices.
    a.clear();
    let n = a.write_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b""), IoSlice::new(b"cd")]).unwrap();
    assert_eq!((n, a.filled()), (4, &b"abcd"[..]));
    // Data that arrived by other means.
    a.spare_mut()[..3].copy_from_slice(b"efg");
    a.set_filled(7);
    assert_eq!(a.filled(), b"abcdefg");
    a.filled_mut()[0] = b'A';
    let mut s = String::new();
    a.read_to_string(&mut s).unwrap();
    assert_eq!(s, "Abcdefg");
    a.set_filled(3);
    assert_eq!(a.unread(), b"", "reading resumes at most at the new end");
    // Deref spans everything, whatever the filled length.
    assert_eq!(a.as_slice().len(), 32);
}

#[test]
fn io_slices_for_vectored_io() {
    let p = pool(16, 4096);
    let mut a = p.allocate(1).unwrap();
    let mut b = p.allocate(2).unwrap();
    // read_vectored into two allocations
    let src = [7u8; 40];
    let got = (&src[..]).read_vectored(&mut [a.io_slice_mut(), b.io_slice_mut()]).unwrap();
    assert_eq!(got, 40);
    assert!(a.iter().all(|&x| x == 7));
    assert_eq!(&b[..24], &[7u8; 24]);
    // write_vectored from an Alloc and a shared view
    a.fill(1);
    let s = b.into_shared().slice(..4);
    let mut out = Vec::new();
    let put = out.write_vectored(&[a.io_slice(), s.io_slice()]).unwrap();
    assert_eq!(put, 20);
    assert_eq!(out, [&[1u8; 16][..], &[7u8; 4][..]].concat());
}

#[test]
fn shared_views_slice_without_copying() {
    let p = pool(16, 4096);
    let mut a = p.allocate(2).unwrap();
    a.write_all(b"header:payload").unwrap();
    let frame = a.freeze();
    assert_eq!(&*frame, b"header:payload");
    assert_eq!((frame.byte_len(), frame.buffer_count()), (14, 2));
    let head = frame.slice(..6);
    let body = frame.slice(7..);
    let inner = body.slice(1..=3);
    assert_eq!((&*head, &*body, &*inner), (&b"header"[..], &b"payload"[..], &b"ayl"[..]));
    assert_eq!(body.as_ptr(), frame.as_ptr().wrapping_add(7));
    assert!(frame.slice(14..).is_empty());
    assert_eq!(frame.slice(..).as_slice(), frame.as_slice());
    // The buffers are the allocation's, whatever the view.
    assert_eq!(inner.buffer(1).unwrap().len(), 16);
    assert_eq!(inner.buffers().count(), 2);
    // One allocation, released by the last view.
    drop((frame, head));
    assert_eq!(p.stats().live_allocations, 1);
    let mut c = inner.clone();
    drop((body, inner));
    assert_eq!(&*c, b"ayl");
    // Reading consumes this handle's view only.
    let d = c.clone();
    let mut one = [0u8; 1];
    c.read_exact(&mut one).unwrap();
    assert_eq!((&one, &*c, &*d), (b"a", &b"yl"[..], &b"ayl"[..]));
    assert_eq!(c.fill_buf().unwrap(), b"yl");
    c.consume(5);
    assert!(c.is_empty());
    drop((c, d));
    assert_eq!(p.stats().live_allocations, 0);
    // into_shared views everything.
    let s: SharedAlloc = p.allocate(1).unwrap().into();
    assert_eq!(s.byte_len(), 16);
}

#[test]
#[should_panic(expected = "out of range for a view of 14 bytes")]
fn slice_out_of_range_panics() {
    let p = pool(16, 4096);
    let mut a = p.allocate(1).unwrap();
    a.write_all(b"header:payload").unwrap();
    let _ = a.freeze().slice(10..15);
}

#[test]
#[should_panic(expected = "beyond the allocation's 16 bytes")]
fn set_filled_beyond_panics() {
    let p = pool(16, 4096);
    let mut a: Alloc = p.allocate(1).unwrap();
    a.set_filled(17);
}

#[test]
fn debug_shows_the_lengths() {
    let p = pool(16, 4096);
    let mut a = p.allocate(1).unwrap();
    a.write_all(b"abc").unwrap();
    let d = format!("{a:?}");
    assert!(d.contains("buffer_count: 1") && d.contains("filled: 3"), "{d}");
    let s = a.freeze().slice(1..);
    assert!(format!("{s:?}").contains("view: 1..3"));
}
