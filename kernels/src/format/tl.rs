//! `tl`: ternary weights through lookup tables (the T-MAC / bitnet.cpp TL1 idea), exact.
//!
//! Weights are taken in pairs along a row. For each activation pair `(a0, a1)` the kernel builds
//! a 16-entry table `T[i] = w0·a0 + w1·a1` over the nine ternary pairs, `i = 3(w0+1) + (w1+1)`
//! (entries 9..16 are zero), and each weight pair is a 4-bit index into it: no multiplies, one
//! `pshufb` per 16/32/64 weight pairs. The sums span [-256, 256], more than a byte holds, so the
//! table is split into a low byte (unsigned) and a high byte (signed) and both are looked up;
//! the result is exact for every int8 input (unlike TL1/T-MAC, which quantise the table).
//!
//! **Layout.** Rows are padded to `rp = round_up(rows, 32)` (padding rows are zero weights) and
//! columns to `kp = round_up(cols, 128)`. The matrix is a run of row groups of 32 rows; a group is
//! `kp/2` chunks of 16 bytes, one per column pair `p` (columns `2p`, `2p+1`); in chunk `p`, byte
//! `i` holds the index of row `32g + i` in its low nibble and of row `32g + 16 + i` in its high
//! nibble. So one table (one activation pair) serves 32 rows, and a 16-byte chunk is one `pshufb`
//! lane. Two bits per weight, like `i2`; TL2's 1.67-bit three-weight groups are not implemented.

use super::{check_nonempty, check_ternary};
use crate::act::round_up;
use crate::buf::ABuf;
use crate::error::KernelError;

/// Rows per group.
pub const ROW_GROUP: usize = 32;
/// Column padding unit.
pub const COL_BLOCK: usize = 128;
/// Bytes per (group, column pair) chunk.
pub const CHUNK: usize = 16;

/// The table index of a weight pair.
#[inline]
pub fn index(w0: i8, w1: i8) -> u8 {
    (3 * (w0 + 1) + (w1 + 1)) as u8
}

/// The 16-entry table of an activation pair, as i16 (entries 9..16 zero).
#[inline]
pub fn table(a0: i8, a1: i8) -> [i16; 16] {
    let mut t = [0i16; 16];
    for w0 in -1i16..=1 {
        for w1 in -1i16..=1 {
            t[(3 * (w0 + 1) + (w1 + 1)) as usize] = w0 * a0 as i16 + w1 * a1 as i16;
        }
    }
    t
}

/// A ternary matrix in the `tl` layout.
#[derive(Clone, Debug)]
pub struct TlMatrix {
    rows: usize,
    cols: usize,
    rp: usize,
    kp: usize,
    data: ABuf<u8>,
    scale: f32,
}

impl TlMatrix {
    /// Packs row-major ternary values with scale β.
    pub fn from_ternary(
        rows: usize,
        cols: usize,
        w: &[i8],
        scale: f32,
    ) -> Result<Self, KernelError> {
        check_nonempty("tl matrix", rows, cols)?;
        check_ternary("tl matrix", rows, cols, w)?;
        let rp = round_up(rows, ROW_GROUP);
        let kp = round_up(cols, COL_BLOCK);
        let zero = index(0, 0);
        let mut data = ABuf::zeroed(rp / ROW_GROUP * kp / 2 * CHUNK);
        data.fill(zero | (zero << 4));
        let at = |r: usize, k: usize| {
            if r < rows && k < cols {
                w[r * cols + k]
            } else {
                0
            }
        };
        for g in 0..rp / ROW_GROUP {
            for p in 0..kp / 2 {
                let off = (g * kp / 2 + p) * CHUNK;
                for i in 0..16 {
                    let (r_lo, r_hi) = (g * 32 + i, g * 32 + 16 + i);
                    let lo = index(at(r_lo, 2 * p), at(r_lo, 2 * p + 1));
                    let hi = index(at(r_hi, 2 * p), at(r_hi, 2 * p + 1));
                    data[off + i] = lo | (hi << 4);
                }
            }
        }
        Ok(TlMatrix {
            rows,
            cols,
            rp,
            kp,
            data,
            scale,
        })
    }

    /// The 4-bit index of row `r`, column pair `p`.
    #[inline]
    pub fn index_at(&self, r: usize, p: usize) -> u8 {
        let (g, i) = (r / 32, r % 32);
        let byte = self.data[(g * self.kp / 2 + p) * CHUNK + i % 16];
        if i < 16 {
            byte & 15
        } else {
            byte >> 4
        }
    }

    /// Weight at row `r`, column `k`.
    pub fn get(&self, r: usize, k: usize) -> i8 {
        let idx = self.index_at(r, k / 2);
        let (w0, w1) = (idx / 3, idx % 3);
        (if k.is_multiple_of(2) { w0 } else { w1 }) as i8 - 1
    }

    /// Unpacks row `r` into `out` (`cols` values).
    pub fn unpack_row(&self, r: usize, out: &mut [i8]) {
        for (k, o) in out.iter_mut().enumerate().take(self.cols) {
            *o = self.get(r, k);
        }
    }

    /// The chunks of row group `g` (`kp/2 * 16` bytes).
    #[inline]
    pub fn group(&self, g: usize) -> &[u8] {
        let gb = self.kp / 2 * CHUNK;
        &self.data[g * gb..(g + 1) * gb]
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
    /// Padded rows (multiple of [`ROW_GROUP`]).
    pub fn padded_rows(&self) -> usize {
        self.rp
    }
    /// Padded columns (multiple of [`COL_BLOCK`]).
    pub fn padded_cols(&self) -> usize {
        self.kp
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
    fn round_trip_awkward_shapes() {
        for (rows, cols) in [(1, 1), (3, 127), (33, 130), (64, 256)] {
            let w: Vec<i8> = (0..rows * cols)
                .map(|i| ((i * 5 + i / 7) % 3) as i8 - 1)
                .collect();
            let m = TlMatrix::from_ternary(rows, cols, &w, 1.0).unwrap();
            let mut row = vec![0i8; cols];
            for r in 0..rows {
                m.unpack_row(r, &mut row);
                assert_eq!(&row[..], &w[r * cols..(r + 1) * cols]);
            }
        }
    }

    #[test]
    fn table_is_exact_at_extremes() {
        let t = table(-128, -128);
        assert_eq!(t[index(1, 1) as usize], -256);
        assert_eq!(t[index(-1, -1) as usize], 256);
        assert_eq!(t[index(0, 0) as usize], 0);
    }
}
