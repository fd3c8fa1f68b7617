//! The kernel calling convention shared by every format and level.
//!
//! A kernel computes output rows `r0..r1` of `y = W·x` for every token of a batch and writes
//! token `t`, row `r` to `out.ptr + t*out.ld + r`. `gemv` kernels take tokens one at a time (the
//! decode path); `gemm` kernels tile tokens so each unpacked weight block is reused across
//! several activation columns (the prefill path). Both are correct for any batch size.
//!
//! Kernels are `unsafe fn` because they may use CPU features the caller must have checked (the
//! only way to obtain a [`crate::KernelSet`] is through [`crate::KernelSet::get`], which checks)
//! and because they write through a raw pointer: the caller guarantees the output region is
//! valid and that no other thread writes the same rows ([`crate::matmul`] does both).
//!
//! The epilogues below are the single definition of how an integer dot product becomes a float,
//! so every level produces bit-identical outputs for the integer formats.

/// Where a kernel writes its outputs: element (token `t`, row `r`) at `ptr + t*ld + r`.
#[derive(Clone, Copy, Debug)]
pub struct Out {
    /// Base pointer.
    pub ptr: *mut f32,
    /// Distance between tokens, in elements (at least the matrix's row count).
    pub ld: usize,
}

// SAFETY: Out is a plain address; the matmul wrapper hands disjoint row ranges to threads.
unsafe impl Send for Out {}
// SAFETY: as above.
unsafe impl Sync for Out {}

impl Out {
    /// Writes one output value.
    ///
    /// # Safety
    /// `t*ld + r` must be inside the region the caller made valid.
    #[inline(always)]
    pub unsafe fn write(self, t: usize, r: usize, v: f32) {
        // SAFETY: forwarded to the caller.
        unsafe { self.ptr.add(t * self.ld + r).write(v) }
    }
}

/// A kernel: rows `r0..r1` of matrix `M` times every token of activations `A`.
pub type Kernel<M, A> = unsafe fn(m: &M, r0: usize, r1: usize, act: &A, out: Out);

/// The two ops of one format at one level.
pub struct Ops<M: 'static, A: 'static> {
    /// One token at a time (decode).
    pub gemv: Kernel<M, A>,
    /// Tokens tiled for weight reuse (prefill).
    pub gemm: Kernel<M, A>,
}

impl<M, A> std::fmt::Debug for Ops<M, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ops { gemv, gemm }")
    }
}

/// Ternary epilogue: `y = d · (β / s)`, with `β/s` computed first (`beta_over_s`).
#[inline(always)]
pub fn ternary_out(d: i32, beta_over_s: f32) -> f32 {
    d as f32 * beta_over_s
}

/// The factor of [`ternary_out`] (and of [`q8_out`], with the row scale as `beta`).
#[inline(always)]
pub fn out_factor(beta: f32, s: f32) -> f32 {
    beta / s
}

/// q8 epilogue: `y = d · (row_scale / s)`.
#[inline(always)]
pub fn q8_out(d: i32, row_scale: f32, s: f32) -> f32 {
    d as f32 * out_factor(row_scale, s)
}

/// q4 epilogue: `y = v / s` (`v` the f32 sum `Σ_b d_b·(S_b − 8·A_b)`).
#[inline(always)]
pub fn q4_out(v: f32, s: f32) -> f32 {
    v * out_factor(1.0, s)
}
