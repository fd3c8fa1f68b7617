//! Run-time tunables of the kernels: the software prefetch distance of the decode (gemv) weight
//! streams of the `i2`, `tq1`, `q4` and `f16` drivers (each stream is prefetched this many bytes
//! ahead of where it is read).
//!
//! The right distance depends on the host: far enough ahead that a line arrives before it is
//! needed (the memory latency times the rate the kernel consumes bytes), near enough that the
//! lines are not evicted first and the prefetches do not crowd out the hardware prefetchers. 2 KiB
//! measured best on the Zen 4 hosts this was tuned on; `ternbench kernels --prefetch` times every
//! decode kernel at a list of distances side by side (calibration on the host at hand), and the
//! engine commands take the chosen one (`--prefetch`), which [`set_gemv_prefetch`] applies
//! process-wide.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::KernelError;

/// The distance the kernels start with, bytes.
pub const DEFAULT_GEMV_PREFETCH: usize = 2048;
/// The largest distance accepted, bytes.
pub const MAX_GEMV_PREFETCH: usize = 64 << 10;

static GEMV_PREFETCH: AtomicUsize = AtomicUsize::new(DEFAULT_GEMV_PREFETCH);

/// The gemv prefetch distance in force, bytes (read once per kernel call).
#[inline]
pub fn gemv_prefetch() -> usize {
    GEMV_PREFETCH.load(Ordering::Relaxed)
}

/// Sets the gemv prefetch distance for every later kernel call, process-wide: a multiple of 64
/// (a cache line) up to [`MAX_GEMV_PREFETCH`]; 0 prefetches the line being read (in effect no
/// software prefetch). Errors otherwise, naming the allowed values.
pub fn set_gemv_prefetch(bytes: usize) -> Result<(), KernelError> {
    if !bytes.is_multiple_of(64) || bytes > MAX_GEMV_PREFETCH {
        return Err(KernelError::BadShape {
            what: "gemv prefetch distance",
            reason: format!(
                "{bytes} bytes; allowed: a multiple of 64 from 0 to {MAX_GEMV_PREFETCH}"
            ),
        });
    }
    GEMV_PREFETCH.store(bytes, Ordering::Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_lines_within_the_limit() {
        assert!(set_gemv_prefetch(100).is_err());
        assert!(set_gemv_prefetch(MAX_GEMV_PREFETCH + 64).is_err());
        assert_eq!(gemv_prefetch(), DEFAULT_GEMV_PREFETCH);
    }
}
