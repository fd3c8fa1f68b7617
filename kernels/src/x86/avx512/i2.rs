//! `i2` kernels at the `avx512` level: not written yet (the level reports no `i2` kernel).

use crate::act::ActQ8;
use crate::format::i2::I2Matrix;
use crate::kernel::Ops;

pub(crate) const OPS: Option<Ops<I2Matrix, ActQ8>> = None;
