//! `tl` kernels at the `avx512vnni` level: the `avx512` kernels ([`crate::x86::avx512::tl`]),
//! unchanged. A table-lookup kernel has no multiply to fuse: its work is `vpshufb` lookups and
//! byte adds, and its widening (`vpmaddubsw` of interleaved `l`/`h` bytes with `(1, 32)`) must
//! keep every row in its own 16-bit lane, which `vpdpbusd` (4 adjacent bytes into one i32) cannot.
//! The functions carry the `avx512` level's features, a subset of this level's.

use crate::act::ActQ8;
use crate::format::tl::TlMatrix;
use crate::kernel::Ops;

pub(crate) const OPS: Option<Ops<TlMatrix, ActQ8>> = super::super::avx512::tl::OPS;
