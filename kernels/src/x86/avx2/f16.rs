//! `f16` kernels at the `avx2` level: not written yet (the level reports no `f16` kernel).

use crate::act::ActF32;
use crate::format::f16::F16Matrix;
use crate::kernel::Ops;

pub(crate) const OPS: Option<Ops<F16Matrix, ActF32>> = None;
