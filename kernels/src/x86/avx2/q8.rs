//! `q8` kernels at the `avx2` level: not written yet (the level reports no `q8` kernel).

use crate::act::ActQ8;
use crate::format::q8::Q8Matrix;
use crate::kernel::Ops;

pub(crate) const OPS: Option<Ops<Q8Matrix, ActQ8>> = None;
