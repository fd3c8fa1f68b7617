//! Scalar reference kernels: the simplest correct code for every format, portable Rust with no
//! explicit SIMD. They are the ground truth of the agreement tests and the `scalar` level.
//!
//! Each computes the exact integer dot product `Σ w·q` (i32, cannot overflow: at most
//! 128 · 127 · cols < 2³¹ for any cols below 131 000) and applies the shared epilogue of
//! [`crate::kernel`]. `gemv` and `gemm` are the same function here.

use crate::act::{ActF32, ActQ8};
use crate::format::{
    f16::F16Matrix, i2::I2Matrix, q4, q4::Q4Matrix, q8::Q8Matrix, tl, tl::TlMatrix, tq1,
    tq1::Tq1Matrix,
};
use crate::kernel::{out_factor, q4_out, q8_out, ternary_out, Ops, Out};

/// Integer dot product of row `r` of an `i2` matrix with a padded activation row.
pub fn dot_i2(m: &I2Matrix, r: usize, a: &[i8]) -> i32 {
    let mut d = 0i32;
    for (b, blk) in m.row(r).chunks_exact(64).enumerate() {
        for (j, &byte) in blk.iter().enumerate() {
            for dd in 0..4 {
                let w = ((byte >> (2 * dd)) & 3) as i32 - 1;
                d += w * a[b * 256 + dd * 64 + j] as i32;
            }
        }
    }
    d
}

/// Integer dot product of row `r` of a `tq1` matrix with a padded activation row.
pub fn dot_tq1(m: &Tq1Matrix, r: usize, a: &[i8]) -> i32 {
    let mut d = 0i32;
    for (b, blk) in m.row(r).chunks_exact(64).enumerate() {
        for (j, &byte) in blk.iter().enumerate() {
            for dd in 0..5 {
                let w = tq1::decode_digit(byte, dd) as i32 - 1;
                d += w * a[b * 320 + dd * 64 + j] as i32;
            }
        }
    }
    d
}

/// Integer dot product of row `r` of a `tl` matrix with a padded activation row, through the
/// pair tables (the lookup-table algorithm itself, in scalar form).
pub fn dot_tl(m: &TlMatrix, r: usize, a: &[i8]) -> i32 {
    let mut d = 0i32;
    for p in 0..m.padded_cols() / 2 {
        let t = tl::table(a[2 * p], a[2 * p + 1]);
        d += t[m.index_at(r, p) as usize] as i32;
    }
    d
}

/// Integer dot product of row `r` of a `q8` matrix with a padded activation row.
pub fn dot_q8(m: &Q8Matrix, r: usize, a: &[i8]) -> i32 {
    m.row(r)
        .iter()
        .zip(a)
        .map(|(&w, &x)| w as i32 * x as i32)
        .sum()
}

/// `Σ_b d_b·(S_b − 8·A_b)` of row `r` of a `q4` matrix with a padded activation row: the exact
/// integer block sums `S_b = Σ u·q` and `A_b = Σ q`, scaled and summed in f32 in block order.
pub fn dot_q4(m: &Q4Matrix, r: usize, a: &[i8]) -> f32 {
    let (mut acc, mut corr) = (0f32, 0f32);
    for b in 0..m.blocks() {
        let (mut s, mut sa) = (0i32, 0i32);
        for (k, &q) in a.iter().enumerate().skip(b * q4::BLOCK).take(q4::BLOCK) {
            s += m.code(r, k) as i32 * q as i32;
            sa += q as i32;
        }
        let d = m.scale(r, b);
        acc += d * s as f32;
        corr += d * sa as f32;
    }
    acc - 8.0 * corr
}

/// f32 dot product of row `r` of an `f16` matrix with a padded activation row, in order.
pub fn dot_f16(m: &F16Matrix, r: usize, x: &[f32]) -> f32 {
    m.row(r)
        .iter()
        .zip(x)
        .map(|(&w, &v)| half::f16::from_bits(w).to_f32() * v)
        .fold(0.0, |s, p| s + p)
}

macro_rules! ternary_kernel {
    ($name:ident, $mat:ty, $dot:ident) => {
        /// Scalar kernel (see the module doc).
        ///
        /// # Safety
        /// `out` must be valid for every (token, row) in range; see [`crate::kernel`].
        pub unsafe fn $name(m: &$mat, r0: usize, r1: usize, act: &ActQ8, out: Out) {
            for t in 0..act.batch() {
                let a = act.row(t);
                let f = out_factor(m.scale(), act.scale(t));
                for r in r0..r1 {
                    // SAFETY: the caller guarantees the output region (kernel contract).
                    unsafe { out.write(t, r, ternary_out($dot(m, r, a), f)) };
                }
            }
        }
    };
}

ternary_kernel!(i2, I2Matrix, dot_i2);
ternary_kernel!(tq1, Tq1Matrix, dot_tq1);
ternary_kernel!(tl, TlMatrix, dot_tl);

/// Scalar `q8` kernel.
///
/// # Safety
/// See [`crate::kernel`].
pub unsafe fn q8(m: &Q8Matrix, r0: usize, r1: usize, act: &ActQ8, out: Out) {
    for t in 0..act.batch() {
        let a = act.row(t);
        for r in r0..r1 {
            // SAFETY: kernel contract.
            unsafe { out.write(t, r, q8_out(dot_q8(m, r, a), m.row_scale(r), act.scale(t))) };
        }
    }
}

/// Scalar `q4` kernel.
///
/// # Safety
/// See [`crate::kernel`].
pub unsafe fn q4(m: &Q4Matrix, r0: usize, r1: usize, act: &ActQ8, out: Out) {
    for t in 0..act.batch() {
        let a = act.row(t);
        for r in r0..r1 {
            // SAFETY: kernel contract.
            unsafe { out.write(t, r, q4_out(dot_q4(m, r, a), act.scale(t))) };
        }
    }
}

/// Scalar `f16` kernel.
///
/// # Safety
/// See [`crate::kernel`].
pub unsafe fn f16(m: &F16Matrix, r0: usize, r1: usize, act: &ActF32, out: Out) {
    for t in 0..act.batch() {
        let x = act.row(t);
        for r in r0..r1 {
            // SAFETY: kernel contract.
            unsafe { out.write(t, r, dot_f16(m, r, x)) };
        }
    }
}

/// The scalar level's ops.
pub(crate) const I2: Ops<I2Matrix, ActQ8> = Ops { gemv: i2, gemm: i2 };
pub(crate) const TQ1: Ops<Tq1Matrix, ActQ8> = Ops {
    gemv: tq1,
    gemm: tq1,
};
pub(crate) const TL: Ops<TlMatrix, ActQ8> = Ops { gemv: tl, gemm: tl };
pub(crate) const Q8: Ops<Q8Matrix, ActQ8> = Ops { gemv: q8, gemm: q8 };
pub(crate) const Q4: Ops<Q4Matrix, ActQ8> = Ops { gemv: q4, gemm: q4 };
pub(crate) const F16: Ops<F16Matrix, ActF32> = Ops {
    gemv: f16,
    gemm: f16,
};
