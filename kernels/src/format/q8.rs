//! `q8`: int8 weights with one f32 scale per row, int8 activations — for a quantised LM head and
//! as the "8-bit what users would pick instead" point.
//!
//! **Layout.** Row-major int8, rows padded to `kp = round_up(cols, 64)` with zeros. Weights are
//! restricted to [-127, 127] (symmetric absmax quantisation never makes -128), which lets the
//! x86 kernels compute `Σ w·a` as `maddubs(|a|, sign(w, a))` or `vpdpbusd(a ^ 0x80, w) −
//! 128·Σw` exactly for every int8 activation, -128 included. Each row also stores `Σw` for the
//! second form. Output: `y = (Σ w·q) · (row_scale / s)`.

use super::{check_len, check_nonempty};
use crate::act::round_up;
use crate::buf::ABuf;
use crate::error::KernelError;

/// Column padding unit.
pub const COL_BLOCK: usize = 64;

/// An int8 matrix with per-row scales.
#[derive(Clone, Debug)]
pub struct Q8Matrix {
    rows: usize,
    cols: usize,
    kp: usize,
    data: ABuf<i8>,
    row_scale: Vec<f32>,
    row_sum: Vec<i32>,
}

impl Q8Matrix {
    /// Quantises row-major f32 values: per row `scale = max|w| / 127`, `q = round_half_even(w /
    /// scale)` (a zero row gets scale 0 and zero weights).
    pub fn from_f32(rows: usize, cols: usize, w: &[f32]) -> Result<Self, KernelError> {
        check_nonempty("q8 matrix", rows, cols)?;
        check_len("q8 matrix", rows, cols, rows * cols, w.len())?;
        let mut q = vec![0i8; rows * cols];
        let mut scales = vec![0f32; rows];
        for r in 0..rows {
            let src = &w[r * cols..(r + 1) * cols];
            let amax = src.iter().fold(0f32, |m, &v| m.max(v.abs()));
            let scale = amax / 127.0;
            scales[r] = scale;
            if scale > 0.0 {
                let inv = 1.0 / scale;
                for (o, &v) in q[r * cols..(r + 1) * cols].iter_mut().zip(src) {
                    *o = (v * inv).round_ties_even().clamp(-127.0, 127.0) as i8;
                }
            }
        }
        Self::from_quantized(rows, cols, &q, &scales)
    }

    /// Wraps already-quantised rows; values must lie in [-127, 127].
    pub fn from_quantized(
        rows: usize,
        cols: usize,
        q: &[i8],
        scales: &[f32],
    ) -> Result<Self, KernelError> {
        check_nonempty("q8 matrix", rows, cols)?;
        check_len("q8 matrix", rows, cols, rows * cols, q.len())?;
        check_len("q8 row scales", rows, 1, rows, scales.len())?;
        if let Some(i) = q.iter().position(|&v| v == i8::MIN) {
            return Err(KernelError::ValueOutOfRange {
                what: "q8 matrix",
                row: i / cols,
                col: i % cols,
                value: -128,
                range: "[-127, 127]",
            });
        }
        let kp = round_up(cols, COL_BLOCK);
        let mut data = ABuf::zeroed(rows * kp);
        let mut row_sum = vec![0i32; rows];
        for r in 0..rows {
            let src = &q[r * cols..(r + 1) * cols];
            data[r * kp..r * kp + cols].copy_from_slice(src);
            row_sum[r] = src.iter().map(|&v| v as i32).sum();
        }
        Ok(Q8Matrix {
            rows,
            cols,
            kp,
            data,
            row_scale: scales.to_vec(),
            row_sum,
        })
    }

    /// Weights of row `r` (`kp` values, zero-padded).
    #[inline]
    pub fn row(&self, r: usize) -> &[i8] {
        &self.data[r * self.kp..(r + 1) * self.kp]
    }
    /// All weights.
    pub fn data(&self) -> &[i8] {
        &self.data
    }
    /// Scale of row `r`.
    pub fn row_scale(&self, r: usize) -> f32 {
        self.row_scale[r]
    }
    /// All row scales.
    pub fn row_scales(&self) -> &[f32] {
        &self.row_scale
    }
    /// Σw of row `r`.
    pub fn row_sum(&self, r: usize) -> i32 {
        self.row_sum[r]
    }
    /// All row sums.
    pub fn row_sums(&self) -> &[i32] {
        &self.row_sum
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
    /// Bytes a full pass reads (weights and row scales; the row sums only on VNNI paths).
    pub fn weight_bytes(&self) -> usize {
        self.data.len() + 4 * self.rows
    }
}
