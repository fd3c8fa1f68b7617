//! Run-time tunables of the kernels: the software prefetch distance of the decode (gemv) weight
//! streams, one per weight format whose gemv prefetches (`i2`, `tq1`, `q4`, `f16`).
//!
//! Each gemv row stream is prefetched this many bytes ahead of where it is read; 0 issues no
//! software prefetch at all and leaves the streams to the hardware prefetchers. The right
//! distance depends on the host — far enough ahead that a line arrives before it is needed, near
//! enough that the prefetches neither evict lines first nor crowd out the hardware prefetchers —
//! and no constant holds on every host: on the December 2026 Zen 4 VM a 2 KiB distance had lifted
//! the f16 LM head from 0.65-0.75 to 0.89-1.09 of the read bandwidth; on the same kind of host a
//! day later the same 2 KiB cost the f16 gemv about a fifth of its speed against no prefetch.
//! So the harness calibrates it per host at start-up (`--prefetch auto`, its default: each
//! distance timed side by side on a matrix stack larger than the last-level cache) or takes it
//! from the command line, and [`set_gemv_prefetch`] applies it process-wide. `tl` is not tuned
//! here: its gemv prefetches whole table chunks into L2 (a fixed 16 KiB, a different scheme).

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::KernelError;
use crate::format::Format;
use crate::isa::Isa;

/// The distance the kernels start with, bytes (the value tuned on the December 2026 Zen 4 host).
pub const DEFAULT_GEMV_PREFETCH: usize = 2048;
/// The largest distance accepted, bytes.
pub const MAX_GEMV_PREFETCH: usize = 64 << 10;
/// The formats whose gemv reads a tunable prefetch distance.
pub const TUNED_FORMATS: [Format; 4] = [Format::I2, Format::Tq1, Format::Q4, Format::F16];

static I2: AtomicUsize = AtomicUsize::new(DEFAULT_GEMV_PREFETCH);
static TQ1: AtomicUsize = AtomicUsize::new(DEFAULT_GEMV_PREFETCH);
static Q4: AtomicUsize = AtomicUsize::new(DEFAULT_GEMV_PREFETCH);
static F16: AtomicUsize = AtomicUsize::new(DEFAULT_GEMV_PREFETCH);

fn slot(format: Format) -> Option<&'static AtomicUsize> {
    match format {
        Format::I2 => Some(&I2),
        Format::Tq1 => Some(&TQ1),
        Format::Q4 => Some(&Q4),
        Format::F16 => Some(&F16),
        _ => None,
    }
}

/// Whether `format`'s gemv at level `isa` reads the distance: `i2`, `tq1` and `q4` at every x86 SIMD
/// level, `f16` at `avx2` and above (the `sse41` f16 gemv and the scalar and NEON kernels issue
/// no software prefetch).
pub fn is_tuned_at(format: Format, isa: Isa) -> bool {
    match format {
        Format::I2 | Format::Tq1 | Format::Q4 => {
            matches!(isa, Isa::Sse41 | Isa::Avx2 | Isa::Avx512 | Isa::Avx512Vnni)
        }
        Format::F16 => matches!(isa, Isa::Avx2 | Isa::Avx512 | Isa::Avx512Vnni),
        _ => false,
    }
}

/// The gemv prefetch distance in force for `format`, bytes (0: none); the default for a format
/// that is not tuned. Kernels read it once per call.
#[inline]
pub fn gemv_prefetch(format: Format) -> usize {
    slot(format).map_or(DEFAULT_GEMV_PREFETCH, |s| s.load(Ordering::Relaxed))
}

/// Sets `format`'s gemv prefetch distance for every later kernel call, process-wide: a multiple
/// of 64 (a cache line) up to [`MAX_GEMV_PREFETCH`], 0 for none. Errors, naming what is allowed,
/// for another value or a format whose gemv has no tunable distance.
pub fn set_gemv_prefetch(format: Format, bytes: usize) -> Result<(), KernelError> {
    check_gemv_prefetch(bytes)?;
    let s = slot(format).ok_or_else(|| KernelError::BadShape {
        what: "gemv prefetch distance",
        reason: format!(
            "format {format} has no tunable prefetch distance (tuned: i2, tq1, q4, f16)"
        ),
    })?;
    s.store(bytes, Ordering::Relaxed);
    Ok(())
}

/// Checks a distance: a multiple of 64 up to [`MAX_GEMV_PREFETCH`].
pub fn check_gemv_prefetch(bytes: usize) -> Result<(), KernelError> {
    if !bytes.is_multiple_of(64) || bytes > MAX_GEMV_PREFETCH {
        return Err(KernelError::BadShape {
            what: "gemv prefetch distance",
            reason: format!(
                "{bytes} bytes; allowed: a multiple of 64 from 0 (none) to {MAX_GEMV_PREFETCH}"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_lines_within_the_limit() {
        assert!(check_gemv_prefetch(100).is_err());
        assert!(check_gemv_prefetch(MAX_GEMV_PREFETCH + 64).is_err());
        assert!(check_gemv_prefetch(0).is_ok());
        assert!(set_gemv_prefetch(Format::Tl, 1024).is_err());
        assert!(set_gemv_prefetch(Format::Q8, 1024).is_err());
        assert!(is_tuned_at(Format::F16, Isa::Avx512) && !is_tuned_at(Format::Tl, Isa::Avx512));
        assert!(is_tuned_at(Format::I2, Isa::Sse41) && !is_tuned_at(Format::F16, Isa::Sse41));
        assert!(!is_tuned_at(Format::I2, Isa::Scalar) && is_tuned_at(Format::F16, Isa::Avx2));
        assert!(is_tuned_at(Format::Q4, Isa::Avx2) && !is_tuned_at(Format::Q8, Isa::Avx2));
    }
}
