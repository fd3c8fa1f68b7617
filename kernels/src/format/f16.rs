//! `f16`: IEEE half-precision weights, f32 activations, f32 accumulation — the FP16 baseline.
//!
//! **Layout.** Row-major `u16` bit patterns, rows padded to `kp = round_up(cols, 64)` with zeros
//! (so 64-byte blocks hold 32 weights and every SIMD width sees whole blocks). Activations stay
//! f32 end to end: BitNet's relu² overflows f16.

use half::f16;

use super::{check_len, check_nonempty};
use crate::act::round_up;
use crate::buf::ABuf;
use crate::error::KernelError;

/// Column padding unit.
pub const COL_BLOCK: usize = 64;

/// A half-precision matrix.
#[derive(Clone, Debug)]
pub struct F16Matrix {
    rows: usize,
    cols: usize,
    kp: usize,
    data: ABuf<u16>,
}

impl F16Matrix {
    /// Converts row-major f32 values (round to nearest even).
    pub fn from_f32(rows: usize, cols: usize, w: &[f32]) -> Result<Self, KernelError> {
        check_nonempty("f16 matrix", rows, cols)?;
        check_len("f16 matrix", rows, cols, rows * cols, w.len())?;
        Ok(Self::build(rows, cols, |r, k| {
            f16::from_f32(w[r * cols + k]).to_bits()
        }))
    }

    /// Wraps row-major half bit patterns.
    pub fn from_bits(rows: usize, cols: usize, w: &[u16]) -> Result<Self, KernelError> {
        check_nonempty("f16 matrix", rows, cols)?;
        check_len("f16 matrix", rows, cols, rows * cols, w.len())?;
        Ok(Self::build(rows, cols, |r, k| w[r * cols + k]))
    }

    fn build(rows: usize, cols: usize, f: impl Fn(usize, usize) -> u16) -> Self {
        let kp = round_up(cols, COL_BLOCK);
        let mut data = ABuf::zeroed(rows * kp);
        for r in 0..rows {
            for k in 0..cols {
                data[r * kp + k] = f(r, k);
            }
        }
        F16Matrix {
            rows,
            cols,
            kp,
            data,
        }
    }

    /// Weight at row `r`, column `k`, as f32.
    pub fn get(&self, r: usize, k: usize) -> f32 {
        f16::from_bits(self.row(r)[k]).to_f32()
    }
    /// Half bit patterns of row `r` (`kp` values).
    #[inline]
    pub fn row(&self, r: usize) -> &[u16] {
        &self.data[r * self.kp..(r + 1) * self.kp]
    }
    /// All bit patterns.
    pub fn data(&self) -> &[u16] {
        &self.data
    }
    /// Logical rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Logical columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Padded columns.
    pub fn padded_cols(&self) -> usize {
        self.kp
    }
    /// Bytes a full pass reads.
    pub fn weight_bytes(&self) -> usize {
        self.data.len() * 2
    }
}
