//! `q4`: 4-bit weights in blocks of 64 with one f16 scale per block (4.25 bits per weight plus
//! scale padding), int8 activations — the compact LM head. The tied 128256×2560 head of 2B4T
//! takes 0.176 GB in it against 0.657 GB at f16 (bitnet.cpp ships Q6_K, 6.56 bits, for the same
//! purpose).
//!
//! **Quantisation** ([`quantize_block`]): per block of 64, `w = clamp(round(x / d), −8, 7)`
//! (16 levels) with the scale `d` of least squared error among a small search around llama.cpp's
//! `Q4_0` rule `d = m / −8` (`m` the value of largest magnitude). The block's value is `d·w`. A
//! block of zeros has `d = 0`.
//!
//! **Layout.** Columns are padded with zeros to `kp = round_up(cols, 128)`. Row `r` holds
//! `kp / 2` bytes, 64-byte aligned, in chunks of 64 bytes per pair of blocks: byte `j` of chunk
//! `p` holds `u = w + 8` (0..=15) of weight `128p + j` in its low nibble and of weight
//! `128p + 64 + j` in its high nibble. So one 64-byte load, a mask and a shift-and-mask give the
//! unsigned codes of two whole blocks in activation order. The block scales are a separate array,
//! `nbp = round_up(kp / 64, 16)` f16 per row (the padding scales are 0), so a row's scales are
//! whole 32-byte vectors.
//!
//! **Dot product.** With `A_b = Σ_{i∈b} q_i` (the activation block sums),
//! `Σ_i x_i q_i = Σ_b d_b · (Σ_{i∈b} u_i q_i − 8·A_b)`: an exact integer sum per block (`u` is
//! unsigned, as `pmaddubsw` and `vpdpbusd` want), scaled and summed in f32. Output:
//! `y = (Σ_b d_b·S_b − 8·Σ_b d_b·A_b) / s` (`s` the activation scale). The f32 sums make this a
//! float format: levels agree within [`Q4_TOL_FACTOR`] (the agreement test's bound).

use super::{check_len, check_nonempty};
use crate::act::round_up;
use crate::buf::ABuf;
use crate::error::KernelError;

/// Weights per block (one scale each).
pub const BLOCK: usize = 64;
/// Column padding unit: a 64-byte chunk holds two blocks.
pub const COL_BLOCK: usize = 2 * BLOCK;
/// Bytes of one chunk (two blocks of codes).
pub const CHUNK_BYTES: usize = 64;
/// Scales per row are padded to a multiple of this.
pub const SCALE_PAD: usize = 16;
/// Tolerance factor of the `q4` kernels: `|y − y_exact| ≤ Q4_TOL_FACTOR · √blocks · ε_f32 ·
/// Σ_b |d_b|·(|S_b| + 8·|A_b|) / s`.
pub const Q4_TOL_FACTOR: f32 = 8.0;

/// A 4-bit matrix with one f16 scale per block of 64 weights.
#[derive(Clone, Debug)]
pub struct Q4Matrix {
    rows: usize,
    cols: usize,
    kp: usize,
    nbp: usize,
    data: ABuf<u8>,
    scales: ABuf<u16>,
}

/// Quantises one block (`x`, at most [`BLOCK`] values): its scale and codes `u = w + 8`.
///
/// Starts from llama.cpp's `Q4_0` rule (`d = m / −8`, `m` the value of largest magnitude) and
/// tries the grids `d = m / (−8 + δ)` for `δ` in steps of 0.1 up to ±0.9, each with its
/// least-squares scale `d = Σ x·w / Σ w²` for the rounded `w`; keeps the one of least squared
/// error (the search of llama.cpp's `make_qx_quants`, unweighted). The scale is rounded to f16
/// before the final rounding of the codes, so the codes fit the stored scale.
pub fn quantize_block(x: &[f32]) -> (half::f16, [u8; BLOCK]) {
    let m = x
        .iter()
        .fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
    let mut u = [8u8; BLOCK];
    if m == 0.0 {
        return (half::f16::ZERO, u);
    }
    let quant = |inv: f32, v: f32| (v * inv).round().clamp(-8.0, 7.0);
    let sse = |d: f32| -> f32 {
        if d == 0.0 || !d.is_finite() {
            return f32::INFINITY;
        }
        let inv = 1.0 / d;
        x.iter().map(|&v| (v - d * quant(inv, v)).powi(2)).sum()
    };
    let mut best = m / -8.0;
    let mut best_err = sse(best);
    for step in -9..=9 {
        let grid = m / (-8.0 + 0.1 * step as f32);
        let inv = 1.0 / grid;
        let (mut xl, mut ll) = (0f32, 0f32);
        for &v in x {
            let l = quant(inv, v);
            xl += v * l;
            ll += l * l;
        }
        if ll > 0.0 {
            let d = xl / ll;
            let e = sse(d);
            if e < best_err {
                best = d;
                best_err = e;
            }
        }
    }
    let d = half::f16::from_f32(best);
    let df = d.to_f32();
    if df != 0.0 {
        let inv = 1.0 / df;
        for (o, &v) in u.iter_mut().zip(x) {
            *o = (quant(inv, v) as i32 + 8) as u8;
        }
    }
    (d, u)
}

impl Q4Matrix {
    /// Quantises row-major f32 values block by block (module doc).
    pub fn from_f32(rows: usize, cols: usize, w: &[f32]) -> Result<Self, KernelError> {
        check_nonempty("q4 matrix", rows, cols)?;
        check_len("q4 matrix", rows, cols, rows * cols, w.len())?;
        let kp = round_up(cols, COL_BLOCK);
        let nb = kp / BLOCK;
        let mut codes = vec![8u8; rows * kp];
        let mut scales = vec![0f32; rows * nb];
        for r in 0..rows {
            for b in 0..nb {
                let k0 = b * BLOCK;
                if k0 >= cols {
                    break;
                }
                let k1 = (k0 + BLOCK).min(cols);
                let (d, u) = quantize_block(&w[r * cols + k0..r * cols + k1]);
                scales[r * nb + b] = d.to_f32();
                codes[r * kp + k0..r * kp + k1].copy_from_slice(&u[..k1 - k0]);
            }
        }
        Self::from_codes(rows, cols, &codes, &scales)
    }

    /// Wraps codes `u = w + 8` (row-major, `rows × round_up(cols, 128)`, each in 0..=15; the
    /// padding columns must be 8, i.e. weight 0) and block scales (`rows × round_up(cols, 128) /
    /// 64`, stored rounded to f16; each must be finite there).
    pub fn from_codes(
        rows: usize,
        cols: usize,
        codes: &[u8],
        scales: &[f32],
    ) -> Result<Self, KernelError> {
        check_nonempty("q4 matrix", rows, cols)?;
        let kp = round_up(cols, COL_BLOCK);
        let nb = kp / BLOCK;
        check_len("q4 codes", rows, kp, rows * kp, codes.len())?;
        check_len("q4 scales", rows, nb, rows * nb, scales.len())?;
        if let Some(i) = codes.iter().position(|&u| u > 15) {
            return Err(KernelError::ValueOutOfRange {
                what: "q4 codes",
                row: i / kp,
                col: i % kp,
                value: codes[i] as i32,
                range: "[0, 15]",
            });
        }
        let scales: Vec<half::f16> = scales.iter().map(|&d| half::f16::from_f32(d)).collect();
        if let Some(i) = scales.iter().position(|d| !d.is_finite()) {
            return Err(KernelError::ValueOutOfRange {
                what: "q4 scales",
                row: i / nb,
                col: i % nb,
                value: scales[i].to_bits() as i32,
                range: "finite in f16 (|d| < 65520)",
            });
        }
        let nbp = round_up(nb, SCALE_PAD);
        let mut data = ABuf::zeroed(rows * kp / 2);
        let mut sc = ABuf::zeroed(rows * nbp);
        for r in 0..rows {
            let src = &codes[r * kp..(r + 1) * kp];
            let dst = &mut data[r * kp / 2..(r + 1) * kp / 2];
            for (p, chunk) in dst.chunks_exact_mut(CHUNK_BYTES).enumerate() {
                for (j, byte) in chunk.iter_mut().enumerate() {
                    let lo = src[p * COL_BLOCK + j];
                    let hi = src[p * COL_BLOCK + BLOCK + j];
                    *byte = lo | (hi << 4);
                }
            }
            for b in 0..nb {
                sc[r * nbp + b] = scales[r * nb + b].to_bits();
            }
        }
        Ok(Q4Matrix {
            rows,
            cols,
            kp,
            nbp,
            data,
            scales: sc,
        })
    }

    /// Code `u = w + 8` of weight (r, k), k < padded columns.
    pub fn code(&self, r: usize, k: usize) -> u8 {
        let (p, j) = (k / COL_BLOCK, k % COL_BLOCK);
        let byte = self.data[r * self.kp / 2 + p * CHUNK_BYTES + j % BLOCK];
        if j < BLOCK {
            byte & 15
        } else {
            byte >> 4
        }
    }

    /// Scale of block `b` of row `r`.
    pub fn scale(&self, r: usize, b: usize) -> f32 {
        half::f16::from_bits(self.scales[r * self.nbp + b]).to_f32()
    }

    /// Dequantised weight (r, k).
    pub fn get(&self, r: usize, k: usize) -> f32 {
        (self.code(r, k) as i32 - 8) as f32 * self.scale(r, k / BLOCK)
    }

    /// Packed codes of row `r` (`kp / 2` bytes).
    #[inline]
    pub fn row(&self, r: usize) -> &[u8] {
        &self.data[r * self.kp / 2..(r + 1) * self.kp / 2]
    }
    /// All packed codes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
    /// The f16 scale bits of row `r` ([`Self::scales_per_row`] values, zero-padded).
    #[inline]
    pub fn row_scales(&self, r: usize) -> &[u16] {
        &self.scales[r * self.nbp..(r + 1) * self.nbp]
    }
    /// All scale bits.
    pub fn scales(&self) -> &[u16] {
        &self.scales
    }
    /// Scales stored per row (a multiple of [`SCALE_PAD`]).
    pub fn scales_per_row(&self) -> usize {
        self.nbp
    }
    /// Blocks per row (`padded_cols / 64`).
    pub fn blocks(&self) -> usize {
        self.kp / BLOCK
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
    /// Bytes a full pass reads (codes and scales).
    pub fn weight_bytes(&self) -> usize {
        self.data.len() + 2 * self.scales.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_is_no_worse_than_the_q4_0_rule() {
        let x: Vec<f32> = (0..BLOCK)
            .map(|i| ((i * 29 % 64) as f32 / 8.0 - 4.0).powi(3) / 9.0)
            .collect();
        let (d, u) = quantize_block(&x);
        let err = |d: f32, w: &dyn Fn(usize) -> f32| -> f32 {
            x.iter()
                .enumerate()
                .map(|(i, &v)| (v - d * w(i)).powi(2))
                .sum()
        };
        let got = err(d.to_f32(), &|i| u[i] as f32 - 8.0);
        let d0 = half::f16::from_f32(-64.0 / 9.0 / -8.0).to_f32();
        let q0 = err(d0, &|i| (x[i] / d0).round().clamp(-8.0, 7.0));
        assert!(got <= q0 * 1.0001, "{got} vs Q4_0 rule {q0}");
        assert!(u.iter().all(|&c| c <= 15));
        // A constant block is exact.
        let (d, u) = quantize_block(&[0.75; BLOCK]);
        assert!(u.iter().all(|&c| (c as f32 - 8.0) * d.to_f32() == 0.75));
    }

    #[test]
    fn layout_round_trips_and_pads() {
        let (rows, cols) = (3, 200);
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.1)
            .collect();
        let m = Q4Matrix::from_f32(rows, cols, &w).unwrap();
        assert_eq!(m.padded_cols(), 256);
        assert_eq!(m.blocks(), 4);
        assert_eq!(m.scales_per_row(), 16);
        assert_eq!(m.weight_bytes(), rows * 128 + rows * 16 * 2);
        for r in 0..rows {
            for k in 0..cols {
                let b = k / BLOCK;
                let d = m.scale(r, b);
                assert!((m.get(r, k) - w[r * cols + k]).abs() <= d.abs() * 0.5 + 1e-6);
            }
            for k in cols..256 {
                assert_eq!(m.code(r, k), 8, "padding is weight 0");
            }
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(Q4Matrix::from_f32(0, 4, &[]).is_err());
        assert!(Q4Matrix::from_f32(2, 4, &[0.0; 7]).is_err());
        let codes = vec![16u8; 128];
        let scales = vec![1.0; 2];
        assert!(Q4Matrix::from_codes(1, 128, &codes, &scales).is_err());
        let codes = vec![8u8; 128];
        let scales = vec![1e6; 2];
        assert!(Q4Matrix::from_codes(1, 128, &codes, &scales).is_err());
    }
}
