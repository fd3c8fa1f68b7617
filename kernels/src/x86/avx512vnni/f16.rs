//! `f16` kernels at the `avx512vnni` level: the `avx512` kernels themselves. VNNI is an integer
//! dot-product instruction and has nothing to offer half/f32 arithmetic, so this level reuses
//! [`super::super::avx512::f16`] (F16C `vcvtph2ps` to `zmm`, f32 FMA), which needs only features
//! this level also has.

use crate::act::ActF32;
use crate::format::f16::F16Matrix;
use crate::kernel::Ops;

pub(crate) const OPS: Option<Ops<F16Matrix, ActF32>> = super::super::avx512::f16::OPS;
