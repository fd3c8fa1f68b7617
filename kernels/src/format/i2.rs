//! `i2`: ternary weights at 2 bits each, one f32 scale per tensor.
//!
//! **Layout.** Rows are padded to `kp = round_up(cols, 256)` columns; each row is `kp / 4` bytes,
//! rows back to back. A row is a run of 64-byte blocks of 256 weights. In block `b`, byte `j`
//! (0..64) holds the codes of weights `b*256 + d*64 + j` for `d = 0..4` in bits `2d+1..2d`
//! (weight `j` in the lowest two bits). The code is `w + 1` (0, 1, 2 for -1, 0, +1), as in
//! bitnet.cpp's I2_S. Padding weights are 0 (code 1).
//!
//! Why this layout: one 64-byte load, a shift by `2d` and a mask by 3 give 64 *consecutive*
//! weights' codes, so the activations are read with plain contiguous loads, and a 32- or 16-byte
//! part of a block does the same for AVX2/SSE (byte `j` of the half starting at `h` holds weights
//! `h + d*64 + j`). Kernels compute `Σ code·q − Σq` (`maddubs`/`vpdpbusd` take unsigned codes).
//!
//! Conversions: from bitnet.cpp's I2_S ([`I2Matrix::from_i2s`]) and from the Hugging Face
//! packed layout ([`I2Matrix::from_hf_packed`]), both by whole bytes without unpacking to i8.

use super::{check_len, check_nonempty, check_ternary};
use crate::act::round_up;
use crate::buf::ABuf;
use crate::error::KernelError;

/// Weights per block.
pub const BLOCK: usize = 256;
/// Bytes per block.
pub const BLOCK_BYTES: usize = 64;
/// Weights per I2_S block (bitnet.cpp).
pub const I2S_BLOCK: usize = 128;

/// A ternary matrix in the `i2` layout.
#[derive(Clone, Debug)]
pub struct I2Matrix {
    rows: usize,
    cols: usize,
    kp: usize,
    data: ABuf<u8>,
    scale: f32,
}

impl I2Matrix {
    /// An all-zero matrix (every code 1) to fill row by row.
    fn blank(rows: usize, cols: usize, scale: f32) -> Self {
        let kp = round_up(cols, BLOCK);
        let mut data = ABuf::zeroed(rows * kp / 4);
        data.fill(0b0101_0101);
        I2Matrix {
            rows,
            cols,
            kp,
            data,
            scale,
        }
    }

    /// Packs row-major ternary values (`rows * cols`, each -1/0/+1) with scale `scale` (β).
    pub fn from_ternary(
        rows: usize,
        cols: usize,
        w: &[i8],
        scale: f32,
    ) -> Result<Self, KernelError> {
        check_nonempty("i2 matrix", rows, cols)?;
        check_ternary("i2 matrix", rows, cols, w)?;
        let mut m = Self::blank(rows, cols, scale);
        let rb = m.kp / 4;
        for r in 0..rows {
            let src = &w[r * cols..(r + 1) * cols];
            let dst = &mut m.data[r * rb..(r + 1) * rb];
            for (k, &v) in src.iter().enumerate() {
                let (byte, shift) = Self::pos(k);
                let code = (v + 1) as u8;
                dst[byte] = (dst[byte] & !(3 << shift)) | (code << shift);
            }
        }
        Ok(m)
    }

    /// Converts bitnet.cpp I2_S bytes: the tensor flattened row-major into blocks of 128
    /// weights in 32 bytes, byte `j` holding weights `j, j+32, j+64, j+96` in bits 7-6, 5-4,
    /// 3-2, 1-0, codes 0/1/2 = -1/0/+1. `bytes` is the packed part only (`rows*cols/4` bytes,
    /// without the trailing scale). `cols` must be a multiple of 128.
    pub fn from_i2s(
        rows: usize,
        cols: usize,
        bytes: &[u8],
        scale: f32,
    ) -> Result<Self, KernelError> {
        check_nonempty("I2_S tensor", rows, cols)?;
        if !cols.is_multiple_of(I2S_BLOCK) {
            return Err(KernelError::BadShape {
                what: "I2_S tensor",
                reason: format!("row length {cols} is not a multiple of {I2S_BLOCK}"),
            });
        }
        check_len("I2_S tensor", rows, cols, rows * cols / 4, bytes.len())?;
        let mut m = Self::blank(rows, cols, scale);
        let rb = m.kp / 4;
        let src_rb = cols / 4;
        for r in 0..rows {
            let src = &bytes[r * src_rb..(r + 1) * src_rb];
            let dst = &mut m.data[r * rb..(r + 1) * rb];
            // Each of our 64-byte blocks covers two I2_S blocks (A = weights 0..128, B = 128..256).
            for (b, out) in dst.chunks_exact_mut(BLOCK_BYTES).enumerate() {
                let base = b * 64; // byte offset of I2_S block A in this row
                for (j, o) in out.iter_mut().enumerate() {
                    let mut byte = 0u8;
                    for d in 0..4 {
                        let i = d * 64 + j; // weight index within our block
                        let sb = base + (i / 128) * 32 + (i % 32);
                        if sb >= src.len() {
                            byte |= 1 << (2 * d); // padding past the last full I2_S block
                            continue;
                        }
                        let shift = 6 - 2 * ((i % 128) / 32);
                        byte |= ((src[sb] >> shift) & 3) << (2 * d);
                    }
                    *o = byte;
                }
            }
        }
        Ok(m)
    }

    /// Converts the Hugging Face packed layout of a `out x in` BitLinear weight: `uint8
    /// [out/4, in]`, where packed row `r`, column `k`, bits `2i+1..2i` hold original row
    /// `r + i*out/4` with value `w + 1`. `rows` (= out) must be a multiple of 4.
    pub fn from_hf_packed(
        rows: usize,
        cols: usize,
        packed: &[u8],
        scale: f32,
    ) -> Result<Self, KernelError> {
        check_nonempty("HF packed weight", rows, cols)?;
        if !rows.is_multiple_of(4) {
            return Err(KernelError::BadShape {
                what: "HF packed weight",
                reason: format!("output features {rows} not a multiple of 4"),
            });
        }
        check_len(
            "HF packed weight",
            rows,
            cols,
            rows / 4 * cols,
            packed.len(),
        )?;
        let mut m = Self::blank(rows, cols, scale);
        let rb = m.kp / 4;
        let q = rows / 4;
        for r in 0..rows {
            let (i, pr) = (r / q, r % q);
            let src = &packed[pr * cols..(pr + 1) * cols];
            let dst = &mut m.data[r * rb..(r + 1) * rb];
            let shift_in = 2 * i;
            for (blk, out) in dst.chunks_exact_mut(BLOCK_BYTES).enumerate() {
                let k0 = blk * BLOCK;
                for (j, o) in out.iter_mut().enumerate() {
                    let mut byte = 0u8;
                    for d in 0..4 {
                        let k = k0 + d * 64 + j;
                        let code = if k < cols {
                            let c = (src[k] >> shift_in) & 3;
                            if c == 3 {
                                1
                            } else {
                                c
                            } // 3 is not a valid code: read as 0
                        } else {
                            1
                        };
                        byte |= code << (2 * d);
                    }
                    *o = byte;
                }
            }
        }
        Ok(m)
    }

    #[inline]
    fn pos(k: usize) -> (usize, u32) {
        let (b, w) = (k / BLOCK, k % BLOCK);
        (b * BLOCK_BYTES + w % 64, 2 * (w / 64) as u32)
    }

    /// Weight at row `r`, column `k` (-1, 0 or +1).
    pub fn get(&self, r: usize, k: usize) -> i8 {
        let (byte, shift) = Self::pos(k);
        ((self.row(r)[byte] >> shift) & 3) as i8 - 1
    }

    /// Unpacks row `r` into `out` (`cols` values).
    pub fn unpack_row(&self, r: usize, out: &mut [i8]) {
        for (k, o) in out.iter_mut().enumerate().take(self.cols) {
            *o = self.get(r, k);
        }
    }

    /// Packed bytes of row `r` (`kp / 4`).
    #[inline]
    pub fn row(&self, r: usize) -> &[u8] {
        let rb = self.kp / 4;
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
        self.kp / 4
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

/// Encodes row-major ternary values as bitnet.cpp's I2_S bytes (without the scale); the
/// independent encoder used to test [`I2Matrix::from_i2s`] and to write GGUF fixtures.
pub fn encode_i2s(rows: usize, cols: usize, w: &[i8]) -> Vec<u8> {
    assert_eq!(w.len(), rows * cols);
    assert_eq!(cols % I2S_BLOCK, 0);
    let mut out = vec![0u8; rows * cols / 4];
    for (blk, chunk) in w.chunks_exact(I2S_BLOCK).enumerate() {
        let o = &mut out[blk * 32..blk * 32 + 32];
        for (i, &v) in chunk.iter().enumerate() {
            let code = (v + 1) as u8;
            o[i % 32] |= code << (6 - 2 * (i / 32));
        }
    }
    out
}

/// Encodes row-major ternary values (`rows` = out features) in the Hugging Face packed layout.
pub fn encode_hf_packed(rows: usize, cols: usize, w: &[i8]) -> Vec<u8> {
    assert_eq!(w.len(), rows * cols);
    assert_eq!(rows % 4, 0);
    let q = rows / 4;
    let mut out = vec![0u8; q * cols];
    for r in 0..rows {
        let (i, pr) = (r / q, r % q);
        for k in 0..cols {
            out[pr * cols + k] |= ((w[r * cols + k] + 1) as u8) << (2 * i);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tern(n: usize, seed: u64) -> Vec<i8> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) % 3) as i8 - 1
            })
            .collect()
    }

    #[test]
    fn round_trip_awkward_shapes() {
        for (rows, cols) in [(1, 1), (3, 255), (2, 256), (5, 257), (4, 640)] {
            let w = tern(rows * cols, 7);
            let m = I2Matrix::from_ternary(rows, cols, &w, 0.5).unwrap();
            let mut row = vec![0i8; cols];
            for r in 0..rows {
                m.unpack_row(r, &mut row);
                assert_eq!(&row[..], &w[r * cols..(r + 1) * cols]);
            }
            assert_eq!(m.row_bytes() % BLOCK_BYTES, 0);
        }
    }

    #[test]
    fn i2s_and_hf_conversions_match_direct_packing() {
        for (rows, cols) in [(4, 128), (8, 384), (12, 2560)] {
            let w = tern(rows * cols, 11);
            let direct = I2Matrix::from_ternary(rows, cols, &w, 1.0).unwrap();
            let i2s = I2Matrix::from_i2s(rows, cols, &encode_i2s(rows, cols, &w), 1.0).unwrap();
            let hf = I2Matrix::from_hf_packed(rows, cols, &encode_hf_packed(rows, cols, &w), 1.0)
                .unwrap();
            assert_eq!(direct.data(), i2s.data());
            assert_eq!(direct.data(), hf.data());
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(I2Matrix::from_ternary(2, 2, &[0, 1, 2, 0], 1.0).is_err());
        assert!(I2Matrix::from_ternary(2, 2, &[0, 1], 1.0).is_err());
        assert!(I2Matrix::from_i2s(1, 100, &[0; 25], 1.0).is_err());
        assert!(I2Matrix::from_hf_packed(6, 4, &[0; 6], 1.0).is_err());
    }
}
