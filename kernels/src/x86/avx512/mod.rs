//! The `avx512` level: AVX-512 F/BW/VL (no VNNI) kernels.

pub(crate) mod f16;
pub(crate) mod i2;
pub(crate) mod q8;
pub(crate) mod tl;
pub(crate) mod tq1;

use crate::isa::Isa;
use crate::table::KernelSet;

pub(crate) static KERNELS: KernelSet = KernelSet {
    isa: Isa::Avx512,
    i2: i2::OPS,
    tq1: tq1::OPS,
    tl: tl::OPS,
    q8: q8::OPS,
    f16: f16::OPS,
    // AVX2 + FMA + F16C, which this level requires too.
    vec: &crate::x86::avx2::vecops::VEC,
};
