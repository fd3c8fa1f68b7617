//! `tq1` kernels at the `sse41` level: not written yet (the level reports no `tq1` kernel).

use crate::act::ActQ8;
use crate::format::tq1::Tq1Matrix;
use crate::kernel::Ops;

pub(crate) const OPS: Option<Ops<Tq1Matrix, ActQ8>> = None;
