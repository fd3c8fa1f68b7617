//! The dispatch table: [`KernelSet::get`] hands out the [`KernelSet`] of a SIMD level (each level
//! folder builds its own; [`crate::set`] defines the record, so the levels do not import this
//! table and the table imports them, one way).
//!
//! [`KernelSet::get`] is the only way to obtain a set, and it refuses a level this CPU cannot
//! run, naming the missing features: nothing falls back silently. A format a level does not
//! implement is an error too ([`KernelSet::ops`]).

use crate::error::KernelError;
use crate::isa::Isa;
pub use crate::set::KernelSet;

static SCALAR: KernelSet = KernelSet {
    isa: Isa::Scalar,
    i2: Some(crate::scalar::I2),
    tq1: Some(crate::scalar::TQ1),
    tl: Some(crate::scalar::TL),
    q8: Some(crate::scalar::Q8),
    q4: Some(crate::scalar::Q4),
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
}
