//! The [`KernelSet`] record: every kernel of one SIMD level (the ops of every format it
//! implements, and its vector primitives). Each x86 level builds its set in `x86/<level>/mod.rs`,
//! the portable one stands in [`crate::table`], which hands them out, checking the CPU first.

use crate::act::{ActF32, ActQ8};
use crate::error::KernelError;
use crate::format::{
    f16::F16Matrix, i2::I2Matrix, q4::Q4Matrix, q8::Q8Matrix, tl::TlMatrix, tq1::Tq1Matrix, Format,
};
use crate::isa::Isa;
use crate::kernel::Ops;

/// Every kernel of one SIMD level.
#[derive(Debug)]
pub struct KernelSet {
    /// The level.
    pub isa: Isa,
    /// 2-bit ternary.
    pub i2: Option<Ops<I2Matrix, ActQ8>>,
    /// base-3 ternary.
    pub tq1: Option<Ops<Tq1Matrix, ActQ8>>,
    /// lookup-table ternary.
    pub tl: Option<Ops<TlMatrix, ActQ8>>,
    /// int8 with row scales.
    pub q8: Option<Ops<Q8Matrix, ActQ8>>,
    /// 4-bit with block scales.
    pub q4: Option<Ops<Q4Matrix, ActQ8>>,
    /// half weights, f32 activations.
    pub f16: Option<Ops<F16Matrix, ActF32>>,
    /// Vector primitives (attention over the KV cache).
    pub vec: &'static crate::vecops::VecOps,
}

impl KernelSet {
    /// Whether this level implements `format`.
    pub fn has(&self, format: Format) -> bool {
        match format {
            Format::I2 => self.i2.is_some(),
            Format::Tq1 => self.tq1.is_some(),
            Format::Tl => self.tl.is_some(),
            Format::Q8 => self.q8.is_some(),
            Format::Q4 => self.q4.is_some(),
            Format::F16 => self.f16.is_some(),
        }
    }

    /// The ops of matrix type `M` at this level, or an error naming format and level.
    pub fn ops<M: crate::PackedMatrix>(&self) -> Result<&Ops<M, M::Act>, KernelError> {
        M::ops(self).ok_or(KernelError::NoKernel {
            format: M::FORMAT.name(),
            isa: self.isa.name(),
        })
    }
}
