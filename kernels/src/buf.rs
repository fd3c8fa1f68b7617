//! A heap buffer aligned to 64 bytes (one cache line, one AVX-512 register), zero-initialised.
//!
//! Packed weights and activations live in these so that SIMD loads never straddle a cache line
//! at a block start. Only plain-old-data element types are allowed (see [`Pod`]).
//!
//! **Huge pages.** On Linux a buffer of at least [`HUGE_MIN`] bytes is its own anonymous mapping,
//! 2 MiB-aligned and advised `MADV_HUGEPAGE` before first touch, so transparent huge pages back
//! it where the kernel allows them (`/sys/kernel/mm/transparent_hugepage/enabled` = `always` or
//! `madvise`, as on most distributions). Streaming a 0.66 GB LM head through 4 KiB pages costs a
//! TLB miss every 4 KiB: on our Zen 4 VM the f16 head ran at 0.69 of the read bandwidth on one
//! thread against 0.88 for the same kernel on smaller matrices. The bandwidth probe allocates
//! through here too, so the roofline's denominator gets the same pages as the kernels.

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

/// Buffers of at least this many bytes get their own huge-page-advised mapping (Linux).
pub const HUGE_MIN: usize = 4 << 20;

/// Huge page size the mappings are aligned to.
const HUGE_PAGE: usize = 2 << 20;

/// A fixed-length, 64-byte-aligned, zero-initialised slice on the heap.
pub struct ABuf<T: Pod> {
    ptr: NonNull<T>,
    len: usize,
    /// `(base, length)` of the mapping when the buffer is one (see the module doc).
    map: Option<(NonNull<u8>, usize)>,
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
        if layout.size() >= HUGE_MIN {
            if let Some((base, map_len, data)) = map_huge(layout.size()) {
                return ABuf {
                    ptr: data.cast(),
                    len,
                    map: Some((base, map_len)),
                };
            }
        }
        // SAFETY: layout has non-zero size (at least ALIGN bytes).
        let raw = unsafe { alloc_zeroed(layout) } as *mut T;
        let ptr = NonNull::new(raw).unwrap_or_else(|| handle_alloc_error(layout));
        ABuf {
            ptr,
            len,
            map: None,
        }
    }

    /// Whether this buffer is its own huge-page-advised mapping (see the module doc). Whether
    /// the kernel actually backs it with huge pages shows in `/proc/self/smaps`.
    pub fn is_mapped(&self) -> bool {
        self.map.is_some()
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
        match self.map {
            Some((base, map_len)) => unmap(base, map_len),
            // SAFETY: allocated in `zeroed` with exactly this layout.
            None => unsafe { dealloc(self.ptr.as_ptr() as *mut u8, Self::layout(self.len)) },
        }
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

/// An anonymous mapping of at least `bytes` (zero-filled by the kernel), 2 MiB-aligned inside
/// and advised for huge pages: `(base, mapped length, aligned data pointer)`, or `None` if the
/// mapping fails (the caller then uses the allocator).
#[cfg(target_os = "linux")]
fn map_huge(bytes: usize) -> Option<(NonNull<u8>, usize, NonNull<u8>)> {
    let map_len = bytes.checked_add(HUGE_PAGE)?.next_multiple_of(HUGE_PAGE);
    // SAFETY: a fresh private anonymous mapping; no existing memory is touched.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            map_len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return None;
    }
    let base = base as *mut u8;
    let data = (base as usize).next_multiple_of(HUGE_PAGE) - base as usize;
    // SAFETY: `data + bytes <= map_len` (the mapping has a whole huge page of slack), so the
    // aligned pointer and the advised range lie inside the mapping. The advice is a hint: its
    // failure (THP disabled) leaves ordinary pages, which is still correct.
    let ptr = unsafe {
        let p = base.add(data);
        libc::madvise(p.cast(), map_len - data, libc::MADV_HUGEPAGE);
        p
    };
    Some((NonNull::new(base)?, map_len, NonNull::new(ptr)?))
}

#[cfg(not(target_os = "linux"))]
fn map_huge(_bytes: usize) -> Option<(NonNull<u8>, usize, NonNull<u8>)> {
    None
}

#[cfg(target_os = "linux")]
fn unmap(base: NonNull<u8>, map_len: usize) {
    // SAFETY: `base, map_len` is exactly a mapping made by `map_huge` and owned by the buffer
    // being dropped; nothing refers into it afterwards.
    unsafe { libc::munmap(base.as_ptr().cast(), map_len) };
}

#[cfg(not(target_os = "linux"))]
fn unmap(_base: NonNull<u8>, _map_len: usize) {
    unreachable!("no mappings off Linux")
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

    #[test]
    fn large_buffers_are_aligned_zeroed_mappings_and_clone() {
        let len = HUGE_MIN / 4 + 3;
        let mut b = ABuf::<f32>::zeroed(len);
        assert_eq!(b.is_mapped(), cfg!(target_os = "linux"));
        assert_eq!(b.as_ptr() as usize % ALIGN, 0);
        assert!(b.iter().all(|&x| x == 0.0));
        b[len - 1] = 7.0;
        b[0] = 1.0;
        let c = b.clone();
        assert_eq!((c.len(), c[0], c[len - 1]), (len, 1.0, 7.0));
        drop(b);
        assert_eq!(c[len - 1], 7.0);
    }
}
