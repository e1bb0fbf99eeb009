//! frozen-core 0.0.30's `utils`: [`BufferSize`] and [`is_power_of_2`].

/// Size of a single buffer, in bytes: a power of two from 8 B to 16 KiB
/// (the original's range; the C library takes up to 1 GiB through
/// [`crate::Config`]).  The discriminant is the size, so
/// `BufferSize::S64 as usize == 64`.
///
/// ```
/// let buf_size = bufpool::compat::utils::BufferSize::S128.bytes();
/// assert!(bufpool::compat::utils::is_power_of_2(buf_size));
/// assert_eq!(bufpool::compat::utils::BufferSize::S64 as usize, 64);
/// ```
#[repr(usize)]
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd)]
pub enum BufferSize {
    /// 8 bytes
    S8 = 8,
    /// 16 bytes
    S16 = 16,
    /// 32 bytes
    S32 = 32,
    /// 64 bytes
    S64 = 64,
    /// 128 bytes
    S128 = 128,
    /// 256 bytes
    S256 = 256,
    /// 512 bytes
    S512 = 512,
    /// 1 KiB
    S1024 = 1024,
    /// 2 KiB
    S2048 = 2048,
    /// 4 KiB
    S4096 = 4096,
    /// 8 KiB
    S8192 = 8192,
    /// 16 KiB
    S16384 = 16384,
}

impl BufferSize {
    /// The size in bytes.
    #[inline]
    pub const fn bytes(self) -> usize {
        self as usize
    }
}

/// True when `x` is a power of two (0 is not).
///
/// ```
/// use bufpool::compat::utils::is_power_of_2;
/// assert!(is_power_of_2(1u16) && is_power_of_2(4096usize));
/// assert!(!is_power_of_2(0u32) && !is_power_of_2(12u64));
/// ```
#[inline]
pub fn is_power_of_2<T>(x: T) -> bool
where
    T: Copy + Eq + From<u8> + core::ops::Sub<Output = T> + core::ops::BitAnd<Output = T>,
{
    let zero = T::from(0u8);
    x != zero && x & (x - T::from(1u8)) == zero
}
