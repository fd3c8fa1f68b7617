//! x86-64 kernels, one module per SIMD level with the same file names in each.
//!
//! The loops of each format (row streams, token tiles, remainder dispatch, epilogues) are written
//! once, in [`drive`], generic over a level's primitives: [`simd::Simd`] (loads, byte/word/dword
//! arithmetic, `pmaddubsw`, shuffles, horizontal sums) and a small trait per format for what
//! really differs between levels (how a product is formed, how codes are unpacked). Each level's
//! folder holds its token type with those implementations, its tile sizes and measurements, and
//! its entry points.
//!
//! Every entry point carries `#[target_feature(enable = ...)]` for exactly the features its level
//! lists in [`crate::Isa::required_features`], and the driver it calls is inlined into it, so the
//! compiler may use those features there and nowhere else; reaching one requires a
//! [`crate::KernelSet`], which checked the CPU.

pub(crate) mod avx2;
pub(crate) mod avx512;
pub(crate) mod avx512vnni;
pub(crate) mod drive;
pub(crate) mod simd;
pub(crate) mod sse41;
