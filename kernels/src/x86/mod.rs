//! x86-64 kernels, one module per SIMD level with the same file names in each.
//!
//! Every function with SIMD intrinsics carries `#[target_feature(enable = ...)]` for exactly the
//! features its level lists in [`crate::Isa::required_features`], so the compiler may use them
//! there and nowhere else; reaching one requires a [`crate::KernelSet`], which checked the CPU.

pub(crate) mod avx2;
pub(crate) mod avx512;
pub(crate) mod avx512vnni;
pub(crate) mod sse41;
