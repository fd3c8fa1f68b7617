//! The `avx512vnni` level: AVX-512 F/BW/VL + VNNI kernels.

pub(crate) mod f16;
pub(crate) mod i2;
pub(crate) mod q8;
pub(crate) mod tl;
pub(crate) mod tq1;

use crate::isa::Isa;
use crate::table::KernelSet;

pub(crate) static KERNELS: KernelSet = KernelSet {
    isa: Isa::Avx512Vnni,
    i2: i2::OPS,
    tq1: tq1::OPS,
    tl: tl::OPS,
    q8: q8::OPS,
    f16: f16::OPS,
    // The avx512 level's (AVX2 attention primitives, AVX-512 quantiser).
    vec: &crate::x86::avx512::VEC,
};
