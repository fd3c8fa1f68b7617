//! A deliberately slowed kernel, for proving that the instruction-count gate catches a kernel
//! regression (`ternbench icount` + `ternbench compare`, docs/regression.md). Never used
//! unless a test asks for it.
//!
//! When the environment variable [`SLOW_KERNEL_ENV`] is `avx2.i2.gemv` (read once per
//! process), [`crate::KernelSet::get`] hands out the `avx2` set with its `i2` `gemv` replaced
//! by [`slowed_i2_gemv`]: the real kernel, then an extra pass over the first sixteenth of the
//! rows it was given (rounded up to the format's row alignment), which recomputes and rewrites
//! the same outputs. Results stay exact; the kernel does about 6% more work per call. Any other
//! value leaves every set untouched.

use std::sync::OnceLock;

/// The variable that switches the slowed kernel on.
pub const SLOW_KERNEL_ENV: &str = "TERNBENCH_SELFTEST_SLOW_KERNEL";

/// The one kernel that can be slowed, as `level.format.op`.
pub const SLOWABLE: &str = "avx2.i2.gemv";

/// Whether [`SLOW_KERNEL_ENV`] asks for the slowed `avx2` `i2` `gemv` (read once).
pub fn slow_avx2_i2_gemv() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var(SLOW_KERNEL_ENV).is_ok_and(|v| v.trim().eq_ignore_ascii_case(SLOWABLE))
    })
}

/// Rows of the extra pass over `r0..r1`: a sixteenth, rounded up to `align`, at most all.
pub fn extra_rows(r0: usize, r1: usize, align: usize) -> usize {
    let n = r1 - r0;
    (n.div_ceil(16).div_ceil(align) * align).min(n)
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::AVX2_SLOWED;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use crate::act::ActQ8;
    use crate::format::i2::I2Matrix;
    use crate::isa::Isa;
    use crate::kernel::{Kernel, Ops, Out};
    use crate::table::KernelSet;
    use crate::x86::avx2;
    use crate::PackedMatrix;

    const BASE: Ops<I2Matrix, ActQ8> = match avx2::i2::OPS {
        Some(o) => o,
        None => panic!("the avx2 level has i2 kernels"),
    };
    const BASE_GEMV: Kernel<I2Matrix, ActQ8> = BASE.gemv;

    /// The `avx2` `i2` `gemv`, then an extra pass over [`super::extra_rows`] of its rows.
    ///
    /// # Safety
    /// As the `avx2` `i2` `gemv` (the kernel contract of [`crate::kernel`]).
    unsafe fn slowed_i2_gemv(m: &I2Matrix, r0: usize, r1: usize, act: &ActQ8, out: Out) {
        let extra = super::extra_rows(r0, r1, <I2Matrix as PackedMatrix>::ROW_ALIGN);
        // SAFETY: forwarded contract; the second call covers a sub-range of r0..r1 (starting at
        // the same aligned row) and rewrites the values the first call wrote.
        unsafe {
            BASE_GEMV(m, r0, r1, act, out);
            BASE_GEMV(m, r0, r0 + extra, act, out);
        }
    }

    /// The `avx2` set with [`slowed_i2_gemv`].
    pub(crate) static AVX2_SLOWED: KernelSet = KernelSet {
        isa: Isa::Avx2,
        i2: Some(Ops {
            gemv: slowed_i2_gemv,
            gemm: BASE.gemm,
        }),
        tq1: avx2::tq1::OPS,
        tl: avx2::tl::OPS,
        q8: avx2::q8::OPS,
        f16: avx2::f16::OPS,
        vec: &avx2::vecops::VEC,
    };

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::{matmul, Op, ThreadPool};

        /// The slowed kernel's outputs are the real kernel's, bit for bit.
        #[test]
        fn slowed_gives_the_same_outputs() {
            let Ok(real) = KernelSet::get(Isa::Avx2) else {
                eprintln!("skipped: this CPU has no avx2");
                return;
            };
            let (rows, cols) = (80, 512);
            let w: Vec<i8> = (0..rows * cols).map(|i| (i % 3) as i8 - 1).collect();
            let m = I2Matrix::from_ternary(rows, cols, &w, 0.5).unwrap();
            let x: Vec<f32> = (0..2 * cols).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
            let act = ActQ8::quantize(&x, 2, cols);
            let pool = ThreadPool::new(1, crate::Pinning::None);
            let (mut a, mut b) = (vec![0f32; 2 * rows], vec![0f32; 2 * rows]);
            matmul(real, &pool, 1, Op::Gemv, &m, &act, &mut a).unwrap();
            matmul(&AVX2_SLOWED, &pool, 1, Op::Gemv, &m, &act, &mut b).unwrap();
            assert_eq!(a, b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_rows_are_a_sixteenth_aligned() {
        assert_eq!(extra_rows(0, 2560, 16), 160);
        assert_eq!(extra_rows(0, 640, 16), 48);
        assert_eq!(extra_rows(32, 40, 16), 8);
        assert_eq!(extra_rows(5, 5, 16), 0);
    }
}
