//! The `avx2` level: AVX2 + FMA + F16C kernels.

pub(crate) mod f16;
pub(crate) mod i2;
pub(crate) mod q8;
pub(crate) mod tl;
pub(crate) mod tq1;
pub(crate) mod vecops;

use crate::isa::Isa;
use crate::table::KernelSet;

pub(crate) static KERNELS: KernelSet = KernelSet {
    isa: Isa::Avx2,
    i2: i2::OPS,
    tq1: tq1::OPS,
    tl: tl::OPS,
    q8: q8::OPS,
    f16: f16::OPS,
    vec: &vecops::VEC,
};
