//! `tl` kernels at the `avx512` level: not written yet (the level reports no `tl` kernel).

use crate::act::ActQ8;
use crate::format::tl::TlMatrix;
use crate::kernel::Ops;

pub(crate) const OPS: Option<Ops<TlMatrix, ActQ8>> = None;
