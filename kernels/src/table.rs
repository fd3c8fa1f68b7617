//! The dispatch table: one [`KernelSet`] per SIMD level, each holding the ops of every format
//! that level implements.
//!
//! [`KernelSet::get`] is the only way to obtain a set, and it refuses a level this CPU cannot
//! run, naming the missing features: nothing falls back silently. A format a level does not
//! implement is an error too ([`KernelSet::ops`]).

use crate::act::{ActF32, ActQ8};
use crate::error::KernelError;
use crate::format::{
    f16::F16Matrix, i2::I2Matrix, q8::Q8Matrix, tl::TlMatrix, tq1::Tq1Matrix, Format,
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
    /// half weights, f32 activations.
    pub f16: Option<Ops<F16Matrix, ActF32>>,
    /// Vector primitives (attention over the KV cache).
    pub vec: &'static crate::vecops::VecOps,
}

static SCALAR: KernelSet = KernelSet {
    isa: Isa::Scalar,
    i2: Some(crate::scalar::I2),
    tq1: Some(crate::scalar::TQ1),
    tl: Some(crate::scalar::TL),
    q8: Some(crate::scalar::Q8),
    f16: Some(crate::scalar::F16),
    vec: &crate::vecops::SCALAR,
};

impl KernelSet {
    /// The set for `isa`, if this CPU can run it. (A test may ask for a deliberately slowed
    /// `avx2` set through an environment variable: [`crate::selftest`].)
    pub fn get(isa: Isa) -> Result<&'static KernelSet, KernelError> {
        isa.check()?;
        match isa {
            Isa::Scalar => Ok(&SCALAR),
            #[cfg(target_arch = "x86_64")]
            Isa::Sse41 => Ok(&crate::x86::sse41::KERNELS),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 if crate::selftest::slow_avx2_i2_gemv() => Ok(&crate::selftest::AVX2_SLOWED),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => Ok(&crate::x86::avx2::KERNELS),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => Ok(&crate::x86::avx512::KERNELS),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => Ok(&crate::x86::avx512vnni::KERNELS),
            _ => Err(KernelError::IsaNotImplemented { isa: isa.name() }),
        }
    }

    /// The widest set this CPU can run.
    pub fn best() -> &'static KernelSet {
        Self::get(Isa::best()).unwrap_or(&SCALAR)
    }

    /// Every set this CPU can run, most portable first.
    pub fn available() -> Vec<&'static KernelSet> {
        Isa::available()
            .into_iter()
            .filter_map(|i| Self::get(i).ok())
            .collect()
    }

    /// Whether this level implements `format`.
    pub fn has(&self, format: Format) -> bool {
        match format {
            Format::I2 => self.i2.is_some(),
            Format::Tq1 => self.tq1.is_some(),
            Format::Tl => self.tl.is_some(),
            Format::Q8 => self.q8.is_some(),
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
