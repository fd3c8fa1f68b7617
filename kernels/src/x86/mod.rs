//! x86-64 kernels, one module per SIMD level with the same file names in each.
//!
//! Every function with SIMD intrinsics carries `#[target_feature(enable = ...)]` for exactly the
//! features its level lists in [`crate::Isa::required_features`], so the compiler may use them
//! there and nowhere else; reaching one requires a [`crate::KernelSet`], which checked the CPU.

/// Writes the `gemm` driver shared by the `q8` kernels of every level: blocks of rows holding
/// about `ROW_BLOCK_BYTES` of weights (kept in L2) × tiles of `TILE_T` tokens (remainder tiles of
/// 1..7) × groups of `TILE_R` rows, each calling the level's register tile
/// `unsafe fn tile<const R: usize, const T: usize>(m, act, out, r, t)`. The level defines
/// `TILE_R`, `TILE_T`, `ROW_BLOCK_BYTES` and `tile`; the macro takes its `#[target_feature]` list.
macro_rules! q8_gemm_driver {
    ($feat:literal) => {
        /// gemm: row blocks × token tiles × row groups (see the module doc).
        ///
        /// # Safety
        /// Kernel contract ([`$crate::kernel`]); the CPU has this level's features.
        #[target_feature(enable = $feat)]
        unsafe fn gemm(
            m: &$crate::format::q8::Q8Matrix,
            r0: usize,
            r1: usize,
            act: &$crate::act::ActQ8,
            out: $crate::kernel::Out,
        ) {
            let batch = act.batch();
            let mc = (ROW_BLOCK_BYTES / m.padded_cols() / TILE_R).max(1) * TILE_R;
            let mut rb = r0;
            while rb < r1 {
                let rb1 = (rb + mc).min(r1);
                let mut t = 0;
                while t + TILE_T <= batch {
                    // SAFETY: rows rb..rb1 inside the matrix, tokens t..t+TILE_T inside the batch.
                    unsafe { block::<TILE_T>(m, act, out, rb, rb1, t) };
                    t += TILE_T;
                }
                // SAFETY: the remaining tokens t..batch (fewer than TILE_T); rows as above.
                unsafe {
                    match batch - t {
                        0 => {}
                        1 => block::<1>(m, act, out, rb, rb1, t),
                        2 => block::<2>(m, act, out, rb, rb1, t),
                        3 => block::<3>(m, act, out, rb, rb1, t),
                        4 => block::<4>(m, act, out, rb, rb1, t),
                        5 => block::<5>(m, act, out, rb, rb1, t),
                        6 => block::<6>(m, act, out, rb, rb1, t),
                        _ => block::<7>(m, act, out, rb, rb1, t),
                    }
                }
                rb = rb1;
            }
        }

        const _: () = assert!(TILE_T <= 8, "gemm dispatches remainders up to 7 tokens");

        /// Rows rb..rb1 (groups of `TILE_R`, then single rows) × tokens t..t+T.
        ///
        /// # Safety
        /// Rows inside the matrix, tokens inside the batch, outputs valid.
        #[inline]
        #[target_feature(enable = $feat)]
        unsafe fn block<const T: usize>(
            m: &$crate::format::q8::Q8Matrix,
            act: &$crate::act::ActQ8,
            out: $crate::kernel::Out,
            rb: usize,
            rb1: usize,
            t: usize,
        ) {
            let mut r = rb;
            while r + TILE_R <= rb1 {
                // SAFETY: rows r..r+TILE_R inside rb..rb1; tokens from the caller.
                unsafe { tile::<TILE_R, T>(m, act, out, r, t) };
                r += TILE_R;
            }
            while r < rb1 {
                // SAFETY: as above, one row.
                unsafe { tile::<1, T>(m, act, out, r, t) };
                r += 1;
            }
        }
    };
}
pub(crate) use q8_gemm_driver;

pub(crate) mod avx2;
pub(crate) mod avx512;
pub(crate) mod avx512vnni;
pub(crate) mod sse41;
