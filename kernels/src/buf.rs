//! A heap buffer aligned to 64 bytes (one cache line, one AVX-512 register), zero-initialised.
//!
//! Packed weights and activations live in these so that SIMD loads never straddle a cache line
//! at a block start. Only plain-old-data element types are allowed (see [`Pod`]).

use std::alloc::{alloc_zeroed, dealloc, handle_alloc_error, Layout};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// Alignment of every [`ABuf`], in bytes.
pub const ALIGN: usize = 64;

/// Element types for which all-zero bytes are a valid value and which need no drop.
///
/// # Safety
/// Implementors must be `Copy`, have no padding, and accept the all-zero bit pattern.
pub unsafe trait Pod: Copy + Default + 'static {}
// SAFETY: primitive integers and floats: no padding, zero is a valid value.
unsafe impl Pod for u8 {}
// SAFETY: as above.
unsafe impl Pod for i8 {}
// SAFETY: as above.
unsafe impl Pod for u16 {}
// SAFETY: as above.
unsafe impl Pod for i16 {}
// SAFETY: as above.
unsafe impl Pod for i32 {}
// SAFETY: as above.
unsafe impl Pod for u64 {}
// SAFETY: as above.
unsafe impl Pod for f32 {}

/// A fixed-length, 64-byte-aligned, zero-initialised slice on the heap.
pub struct ABuf<T: Pod> {
    ptr: NonNull<T>,
    len: usize,
}

// SAFETY: ABuf owns its allocation exclusively, like Vec<T>.
unsafe impl<T: Pod + Send> Send for ABuf<T> {}
// SAFETY: shared access only hands out &[T], like Vec<T>.
unsafe impl<T: Pod + Sync> Sync for ABuf<T> {}

impl<T: Pod> ABuf<T> {
    fn layout(len: usize) -> Layout {
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .expect("ABuf size overflows usize");
        Layout::from_size_align(bytes.max(ALIGN), ALIGN).expect("ABuf layout")
    }

    /// `len` zeroed elements.
    pub fn zeroed(len: usize) -> Self {
        let layout = Self::layout(len);
        // SAFETY: layout has non-zero size (at least ALIGN bytes).
        let raw = unsafe { alloc_zeroed(layout) } as *mut T;
        let ptr = NonNull::new(raw).unwrap_or_else(|| handle_alloc_error(layout));
        ABuf { ptr, len }
    }

    /// A copy of `src`.
    pub fn from_slice(src: &[T]) -> Self {
        let mut b = Self::zeroed(src.len());
        b.copy_from_slice(src);
        b
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<T: Pod> Deref for ABuf<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: ptr points to `len` initialised (zeroed or written) elements we own.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Pod> DerefMut for ABuf<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in deref, and &mut self guarantees exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Pod> Drop for ABuf<T> {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with exactly this layout.
        unsafe { dealloc(self.ptr.as_ptr() as *mut u8, Self::layout(self.len)) }
    }
}

impl<T: Pod> Clone for ABuf<T> {
    fn clone(&self) -> Self {
        Self::from_slice(self)
    }
}

impl<T: Pod> fmt::Debug for ABuf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ABuf<{}>[{}]", std::any::type_name::<T>(), self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_zeroed() {
        for len in [0usize, 1, 63, 64, 1000] {
            let b = ABuf::<f32>::zeroed(len);
            assert_eq!(b.as_ptr() as usize % ALIGN, 0);
            assert!(b.iter().all(|&x| x == 0.0));
            assert_eq!(b.len(), len);
        }
    }
}
