//! The `sse41` level: SSE4.1 + SSSE3 kernels.

pub(crate) mod f16;
pub(crate) mod i2;
pub(crate) mod q8;
pub(crate) mod tl;
pub(crate) mod tq1;

use crate::isa::Isa;
use crate::table::KernelSet;

pub(crate) static KERNELS: KernelSet = KernelSet {
    isa: Isa::Sse41,
    i2: i2::OPS,
    tq1: tq1::OPS,
    tl: tl::OPS,
    q8: q8::OPS,
    f16: f16::OPS,
    // No F16C at this level: the portable reference.
    vec: &crate::vecops::SCALAR,
};
