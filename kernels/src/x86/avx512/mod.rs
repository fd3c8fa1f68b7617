//! The `avx512` level: AVX-512 F/BW/VL (no VNNI) kernels.

pub(crate) mod f16;
pub(crate) mod i2;
pub(crate) mod q8;
pub(crate) mod tl;
pub(crate) mod tq1;

use crate::isa::Isa;
use crate::table::KernelSet;
use crate::vecops::VecOps;
use crate::x86::avx2::vecops;

pub(crate) static KERNELS: KernelSet = KernelSet {
    isa: Isa::Avx512,
    i2: i2::OPS,
    tq1: tq1::OPS,
    tl: tl::OPS,
    q8: q8::OPS,
    f16: f16::OPS,
    vec: &VEC,
};

/// The AVX2 + FMA + F16C attention primitives (this level requires those features too), with
/// the activation quantiser and the softmax compiled for AVX-512 (16 lanes). Also the
/// `avx512vnni` level's.
pub(crate) static VEC: VecOps = VecOps {
    scores_f16: vecops::f16_rows::scores,
    scores_f32: vecops::f32_rows::scores,
    mix_f16: vecops::f16_rows::mix,
    mix_f32: vecops::f32_rows::mix,
    quantize,
    softmax,
};

crate::vecops::compiled_copies!("avx512f,avx512bw,avx512vl,avx2,fma,f16c");
