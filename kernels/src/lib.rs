//! # ternbench-kernels
//!
//! Matrix kernels for BitNet b1.58 inference and its FP16 baseline: ternary weights packed as
//! [`format::i2`] (2 bits), [`format::tq1`] (base 3, 1.6 bits) and [`format::tl`] (lookup
//! tables), int8 [`format::q8`] weights with row scales, and IEEE half [`format::f16`] weights.
//! Ternary and q8 kernels take int8 activations quantised per token exactly as BitNet does
//! ([`act::ActQ8`]); f16 kernels take f32 activations ([`act::ActF32`]).
//!
//! ## Dispatch
//! Every SIMD level ([`Isa`]: scalar, SSE4.1, AVX2, AVX-512, AVX-512 VNNI) has a
//! [`KernelSet`] of function pointers. [`KernelSet::get`] checks the CPU at run time and errors,
//! naming the missing features, for a level it cannot run: a level can be forced, never silently
//! replaced. [`KernelSet::best`] picks the widest. The crate builds on any target with the scalar
//! level alone.
//!
//! ## Safety contract
//! Kernels are `unsafe fn(&M, r0, r1, &Act, Out)` ([`kernel`]). [`matmul`] is the safe entry:
//! it asserts shapes, cuts the rows into aligned chunks that the participants of a persistent
//! [`threads::ThreadPool`] claim one by one, so each kernel call gets a disjoint row range.
//! Every `unsafe` block says why it is sound (`// SAFETY:`).
//!
//! ## Exactness
//! Integer formats accumulate in i32 without overflow for every int8 activation (-128 included)
//! and share one float epilogue, so all levels agree bit for bit with the scalar reference.
//! f16 kernels agree within [`F16_TOL_FACTOR`]·√cols·ε·Σ|w·x|.

pub mod act;
pub mod buf;
pub mod error;
pub mod format;
pub mod isa;
pub mod kernel;
pub mod probe;
pub mod scalar;
pub mod selftest;
pub mod softmax;
pub mod table;
pub mod threads;
pub mod tune;
pub mod vecops;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use act::{ActF32, ActQ8};
pub use error::KernelError;
pub use format::{
    f16::F16Matrix, i2::I2Matrix, q8::Q8Matrix, tl::TlMatrix, tq1::Tq1Matrix, Format,
};
pub use isa::Isa;
pub use kernel::{Kernel, Ops, Out};
pub use table::KernelSet;
pub use threads::{Pinning, ThreadPool};

/// Tolerance factor of the f16 paths: `|y − y_exact| ≤ F16_TOL_FACTOR · √cols · ε_f32 · Σ|w·x|`.
pub const F16_TOL_FACTOR: f32 = 8.0;

/// Which op to run: one token at a time, or tokens tiled for weight reuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Matrix-vector (decode).
    Gemv,
    /// Matrix-matrix (prefill).
    Gemm,
}

impl Op {
    /// Name in results.
    pub fn name(self) -> &'static str {
        match self {
            Op::Gemv => "gemv",
            Op::Gemm => "gemm",
        }
    }
}

/// A packed weight matrix the kernels can multiply.
pub trait PackedMatrix: Sync + Sized + 'static {
    /// The activation type it takes.
    type Act: Sync;
    /// Its format.
    const FORMAT: Format;
    /// Rows are split across threads in multiples of this.
    const ROW_ALIGN: usize;
    /// Logical rows (outputs).
    fn rows(&self) -> usize;
    /// Logical columns (inputs).
    fn cols(&self) -> usize;
    /// Bytes one full pass over the weights reads.
    fn weight_bytes(&self) -> usize;
    /// `(batch, cols)` of an activation batch.
    fn act_shape(act: &Self::Act) -> (usize, usize);
    /// This format's ops in a kernel set, if the level implements it.
    fn ops(ks: &KernelSet) -> Option<&Ops<Self, Self::Act>>;
}

macro_rules! packed {
    ($m:ty, $act:ty, $fmt:expr, $field:ident, $align:expr) => {
        impl PackedMatrix for $m {
            type Act = $act;
            const FORMAT: Format = $fmt;
            const ROW_ALIGN: usize = $align;
            fn rows(&self) -> usize {
                <$m>::rows(self)
            }
            fn cols(&self) -> usize {
                <$m>::cols(self)
            }
            fn weight_bytes(&self) -> usize {
                <$m>::weight_bytes(self)
            }
            fn act_shape(act: &$act) -> (usize, usize) {
                (act.batch(), act.cols())
            }
            fn ops(ks: &KernelSet) -> Option<&Ops<Self, $act>> {
                ks.$field.as_ref()
            }
        }
    };
}

packed!(I2Matrix, ActQ8, Format::I2, i2, 16);
packed!(Tq1Matrix, ActQ8, Format::Tq1, tq1, 16);
packed!(TlMatrix, ActQ8, Format::Tl, tl, 32);
packed!(Q8Matrix, ActQ8, Format::Q8, q8, 16);
packed!(F16Matrix, ActF32, Format::F16, f16, 16);

/// `out = W · act` for every token: `out[t * rows + r]`, on `threads` participants of `pool`.
///
/// Errors if `ks` has no kernel for this format. Panics if shapes disagree (`act` columns vs
/// matrix columns, `out` length vs `batch * rows`). A group of one [`matmul_group`].
pub fn matmul<M: PackedMatrix>(
    ks: &KernelSet,
    pool: &ThreadPool,
    threads: usize,
    op: Op,
    m: &M,
    act: &M::Act,
    out: &mut [f32],
) -> Result<(), KernelError> {
    matmul_group(ks, pool, threads, op, &[m], act, &mut [out])
}

/// `outs[g] = ms[g] · act` for a group of matrices sharing one activation batch (q/k/v, or
/// gate/up), in a single pool dispatch: every matrix's rows are cut into [`threads::Chunks`] of
/// at least [`threads::MIN_CHUNK_ROWS`] rows, and the participants claim chunks across matrix
/// boundaries, so they synchronise once per group instead of once per matrix.
///
/// Errors if `ks` has no kernel for this format. Panics if `ms` and `outs` differ in length or
/// any matrix's shape disagrees with `act` or its output (as in [`matmul`]).
pub fn matmul_group<M: PackedMatrix>(
    ks: &KernelSet,
    pool: &ThreadPool,
    threads: usize,
    op: Op,
    ms: &[&M],
    act: &M::Act,
    outs: &mut [&mut [f32]],
) -> Result<(), KernelError> {
    let ops = ks.ops::<M>()?;
    let kernel = match op {
        Op::Gemv => ops.gemv,
        Op::Gemm => ops.gemm,
    };
    assert_eq!(ms.len(), outs.len(), "matmul: matrices vs outputs");
    let (batch, cols) = M::act_shape(act);
    let threads = threads.clamp(1, pool.size());
    // Per matrix: (first chunk index, rows per chunk, destination).
    let mut parts = Vec::with_capacity(ms.len());
    let mut total = 0;
    for (m, out) in ms.iter().zip(outs.iter_mut()) {
        let rows = m.rows();
        assert_eq!(
            cols,
            m.cols(),
            "matmul: activation columns vs matrix columns"
        );
        assert_eq!(
            out.len(),
            batch * rows,
            "matmul: output length vs batch x rows"
        );
        let chunks = threads::Chunks::new(rows, M::ROW_ALIGN, threads, threads::MIN_CHUNK_ROWS);
        let dst = Out {
            ptr: out.as_mut_ptr(),
            ld: rows,
        };
        parts.push((total, chunks, dst));
        total += chunks.count;
    }
    pool.run_chunks(threads, total, |c| {
        let g = parts.partition_point(|p| p.0 <= c) - 1;
        let (first, chunks, dst) = parts[g];
        let m = ms[g];
        let rows = chunks.range(c - first);
        let (r0, r1) = (rows.start, rows.end);
        // SAFETY: `ks` came from KernelSet::get (CPU features checked); output `g` holds
        // batch x rows(g) elements and each chunk (run exactly once) is a disjoint, non-empty row
        // range of one matrix.
        unsafe { kernel(m, r0, r1, act, dst) };
    });
    Ok(())
}
