//! The drivers: one per format, written once for the x86 levels and generic over the level's
//! primitives ([`crate::x86::simd::Simd`] and the format's own trait, defined in each file here).
//!
//! A level keeps its own hand-written kernel where the generic driver measured slower there
//! (interleaved A/B of `ternbench kernels` gemv cells on the out-of-cache stack, 1 thread, new ÷
//! old time per call with its 95% CI, December 2026, Zen 4 VM): `i2` at sse41 (1.010 [1.003,
//! 1.020]) and avx512vnni (0.965 [0.920, 1.006] in the first A/B, 1.066 [1.017, 1.129] in the
//! second); `tq1` at sse41, avx2 and avx512 (1.026, 1.019, 1.045, every CI above 1); `tl`
//! everywhere (avx2 1.192 [1.165, 1.227]: its levels share one hand-written generic kernel,
//! `x86/sse41/tl.rs`); `f16` at avx512 and avx512vnni (1.039 [1.003, 1.069], 1.047 [1.006,
//! 1.086]). Every other cell uses its driver (`i2` avx2/avx512, `tq1` avx512vnni, `q8` and `q4`
//! everywhere, `f16` sse41/avx2): in the second A/B, 20 interleaved runs each, none was slower
//! beyond its CI (the widest, `i2` avx2, 1.034 [0.998, 1.072]); cells whose code was identical
//! in both builds read 0.999-1.016, the noise floor of the method on this VM.
//!
//! A driver is an `#[inline(always)]` generic function that takes the level's token; the level
//! instantiates it inside its `#[target_feature]` entry points ([`entries!`]), so each level's
//! kernel is compiled as one function with that level's instructions, as if written out by hand
//! for it. Tile sizes are const parameters the entry point passes, so the loops unroll per level.
//!
//! | format | driver | what a level supplies |
//! |---|---|---|
//! | `i2`  | [`i2`]  | widening cadence; the `vpdpbusd` level its own gemv block |
//! | `tq1` | [`tq1`] | code decoding; the gemv identity (F or x) |
//! | `q8`  | [`q8`]  | how an int8 × int8 product is formed |
//! | `q4`  | [`q4`]  | f32 block-scale arithmetic |
//! | `f16` | [`f16`] | half widening, float multiply-add, loads |

pub(crate) mod f16;
pub(crate) mod i2;
pub(crate) mod q4;
pub(crate) mod q8;
pub(crate) mod tq1;

use crate::x86::simd::Simd;

/// Writes a level's `OPS` for one format: `gemv` and `gemm` entry points compiled with the
/// level's features (`features`), each making the level's token and running a driver
/// monomorphised for it:
///
/// ```ignore
/// entries! {
///     features: "avx2,fma,f16c", token: Avx2,
///     matrix: Q8Matrix, act: ActQ8,
///     gemv: drive::q8::gemv::<_, 4>, gemm: drive::q8::gemm::<_, 3, 4>,
/// }
/// ```
macro_rules! entries {
    (
        features: $feat:literal,
        token: $tok:ident,
        matrix: $m:ty,
        act: $a:ty,
        gemv: $gemv:expr,
        gemm: $gemm:expr $(,)?
    ) => {
        pub(crate) const OPS: Option<$crate::kernel::Ops<$m, $a>> =
            Some($crate::kernel::Ops { gemv, gemm });

        /// Decode entry point: the format's gemv driver with this level's token, compiled with
        /// its features.
        ///
        /// # Safety
        /// The CPU has this level's features and `out` is valid for rows `r0..r1` of every
        /// token (the kernel contract of [`crate::kernel`]).
        #[target_feature(enable = $feat)]
        unsafe fn gemv(m: &$m, r0: usize, r1: usize, act: &$a, out: $crate::kernel::Out) {
            // SAFETY: the CPU has the level's features (contract above).
            let l = unsafe { $tok::new() };
            // SAFETY: forwarded kernel contract.
            unsafe { $gemv(l, m, r0, r1, act, out) }
        }

        /// Prefill entry point: the format's gemm driver with this level's token, compiled with
        /// its features.
        ///
        /// # Safety
        /// As `gemv`.
        #[target_feature(enable = $feat)]
        unsafe fn gemm(m: &$m, r0: usize, r1: usize, act: &$a, out: $crate::kernel::Out) {
            // SAFETY: the CPU has the level's features (contract above).
            let l = unsafe { $tok::new() };
            // SAFETY: forwarded kernel contract.
            unsafe { $gemm(l, m, r0, r1, act, out) }
        }
    };
}
pub(crate) use entries;

/// Runs `f(token, first)` for every token remainder `n` in `1..=8` by a const parameter: `match`
/// arms written out so each width is its own monomorphised tile. Used by the drivers for the
/// last, narrower token tile.
macro_rules! by_width {
    ($n:expr, $f:ident :: <$($pre:tt),*>($($arg:expr),*)) => {
        match $n {
            1 => $f::<$($pre,)* 1>($($arg),*),
            2 => $f::<$($pre,)* 2>($($arg),*),
            3 => $f::<$($pre,)* 3>($($arg),*),
            4 => $f::<$($pre,)* 4>($($arg),*),
            5 => $f::<$($pre,)* 5>($($arg),*),
            6 => $f::<$($pre,)* 6>($($arg),*),
            7 => $f::<$($pre,)* 7>($($arg),*),
            8 => $f::<$($pre,)* 8>($($arg),*),
            _ => unreachable!("tiles are 1 to 8 tokens wide"),
        }
    };
}
pub(crate) use by_width;

/// The dword lane sums `[token][row]` of a register tile's accumulators `acc[row][token]`,
/// reduced four at a time (a partial last group reduces stale vectors, whose sums are dropped).
#[inline(always)]
pub(crate) fn reduce_tile<L: Simd, const R: usize, const T: usize>(
    l: L,
    acc: &[[L::I; T]; R],
) -> [[i32; R]; T] {
    let mut sums = [[0i32; R]; T];
    let mut quad = [l.zero(); 4];
    let mut n = 0;
    for j in 0..T {
        for row in acc {
            quad[n % 4] = row[j];
            n += 1;
            if n % 4 == 0 || n == R * T {
                let s = l.hsum4(quad);
                let base = (n - 1) / 4 * 4;
                for (q, &v) in s.iter().enumerate().take(n - base) {
                    let idx = base + q;
                    sums[idx / R][idx % R] = v;
                }
            }
        }
    }
    sums
}
