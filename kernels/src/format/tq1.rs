//! `tq1`: ternary weights in base 3, five per byte (1.6 bits per weight, near log2 3 = 1.585).
//!
//! **Layout.** Rows are padded to `kp = round_up(cols, 320)` columns with zero weights; a row is
//! `kp / 5` bytes, a run of 64-byte blocks of 320 weights. In block `b`, byte `j` (0..64) holds
//! the five codes `c_d = w + 1` of weights `b*320 + d*64 + j`, `d = 0..5`, as the base-3 number
//! `v = Σ c_d · 3^(4-d)` (digit 0 most significant), **stored scaled**: `q = ceil(v·256/243)`.
//!
//! Why scaled (the trick llama.cpp's TQ1_0 uses): digit `d` is then the top base-3 digit of the
//! byte `x = q·3^d mod 256`, i.e. `(3x) >> 8`, which is also `(x >= 86) + (x >= 171)`: byte
//! adds (`x·3 = x+x+x`, wrapping) and two unsigned compares per digit, all in 8-bit lanes with no
//! multiply. As in `i2`, a 64-byte load yields 64 consecutive weights per digit, and any 32- or
//! 16-byte part of a block does the same for narrower registers.

use super::{check_nonempty, check_ternary};
use crate::act::round_up;
use crate::buf::ABuf;
use crate::error::KernelError;

/// Weights per block.
pub const BLOCK: usize = 320;
/// Bytes per block.
pub const BLOCK_BYTES: usize = 64;
/// Weights per byte.
pub const TRITS: usize = 5;

/// Encodes five codes (each 0..3, most significant first) into one scaled byte.
#[inline]
pub fn encode_byte(codes: [u8; 5]) -> u8 {
    let v = codes.iter().fold(0u32, |acc, &c| acc * 3 + c as u32);
    (v * 256).div_ceil(243) as u8
}

/// Digit `d` (0 = most significant) of a scaled byte, as a code 0..3.
#[inline]
pub fn decode_digit(q: u8, d: usize) -> u8 {
    const POW3: [u8; 5] = [1, 3, 9, 27, 81];
    let x = q.wrapping_mul(POW3[d]);
    ((x as u16 * 3) >> 8) as u8
}

/// A ternary matrix in the `tq1` layout.
#[derive(Clone, Debug)]
pub struct Tq1Matrix {
    rows: usize,
    cols: usize,
    kp: usize,
    data: ABuf<u8>,
    scale: f32,
}

impl Tq1Matrix {
    /// Packs row-major ternary values (`rows * cols`, each -1/0/+1) with scale β.
    pub fn from_ternary(
        rows: usize,
        cols: usize,
        w: &[i8],
        scale: f32,
    ) -> Result<Self, KernelError> {
        check_nonempty("tq1 matrix", rows, cols)?;
        check_ternary("tq1 matrix", rows, cols, w)?;
        let kp = round_up(cols, BLOCK);
        let rb = kp / TRITS;
        let mut data = ABuf::zeroed(rows * rb);
        for r in 0..rows {
            let src = &w[r * cols..(r + 1) * cols];
            let dst = &mut data[r * rb..(r + 1) * rb];
            for (b, out) in dst.chunks_exact_mut(BLOCK_BYTES).enumerate() {
                for (j, o) in out.iter_mut().enumerate() {
                    let mut codes = [1u8; 5];
                    for (d, c) in codes.iter_mut().enumerate() {
                        let k = b * BLOCK + d * 64 + j;
                        if k < cols {
                            *c = (src[k] + 1) as u8;
                        }
                    }
                    *o = encode_byte(codes);
                }
            }
        }
        Ok(Tq1Matrix {
            rows,
            cols,
            kp,
            data,
            scale,
        })
    }

    /// Weight at row `r`, column `k`.
    pub fn get(&self, r: usize, k: usize) -> i8 {
        let (b, w) = (k / BLOCK, k % BLOCK);
        decode_digit(self.row(r)[b * BLOCK_BYTES + w % 64], w / 64) as i8 - 1
    }

    /// Unpacks row `r` into `out` (`cols` values).
    pub fn unpack_row(&self, r: usize, out: &mut [i8]) {
        for (k, o) in out.iter_mut().enumerate().take(self.cols) {
            *o = self.get(r, k);
        }
    }

    /// Packed bytes of row `r` (`kp / 5`).
    #[inline]
    pub fn row(&self, r: usize) -> &[u8] {
        let rb = self.kp / TRITS;
        &self.data[r * rb..(r + 1) * rb]
    }
    /// All packed bytes.
    pub fn data(&self) -> &[u8] {
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
    /// Padded columns (multiple of [`BLOCK`]).
    pub fn padded_cols(&self) -> usize {
        self.kp
    }
    /// Bytes per packed row.
    pub fn row_bytes(&self) -> usize {
        self.kp / TRITS
    }
    /// The per-tensor scale β.
    pub fn scale(&self) -> f32 {
        self.scale
    }
    /// Bytes a full pass reads.
    pub fn weight_bytes(&self) -> usize {
        self.data.len() + 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_value_round_trips() {
        for v in 0..243u32 {
            let mut codes = [0u8; 5];
            let mut x = v;
            for d in (0..5).rev() {
                codes[d] = (x % 3) as u8;
                x /= 3;
            }
            let q = encode_byte(codes);
            for (d, &c) in codes.iter().enumerate() {
                assert_eq!(decode_digit(q, d), c, "v={v} d={d}");
                // The compare form the SIMD kernels use.
                let x = q.wrapping_mul([1u8, 3, 9, 27, 81][d]);
                assert_eq!((x >= 86) as u8 + (x >= 171) as u8, c);
            }
        }
    }

    #[test]
    fn round_trip_awkward_shapes() {
        for (rows, cols) in [(1, 1), (3, 319), (2, 320), (2, 321), (3, 2560)] {
            let w: Vec<i8> = (0..rows * cols)
                .map(|i| ((i * 7 + i / 3) % 3) as i8 - 1)
                .collect();
            let m = Tq1Matrix::from_ternary(rows, cols, &w, 1.0).unwrap();
            let mut row = vec![0i8; cols];
            for r in 0..rows {
                m.unpack_row(r, &mut row);
                assert_eq!(&row[..], &w[r * cols..(r + 1) * cols]);
            }
        }
    }
}
