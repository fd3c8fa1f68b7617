//! Packed weight formats: byte layouts, packing, unpacking and conversions from the layouts
//! other tools write. No arithmetic kernels live here (see [`crate::scalar`] and `x86`).
//!
//! | format | bits/weight | block | activations | scale |
//! |---|---|---|---|---|
//! | [`i2`]  | 2     | 256 weights in 64 bytes | int8 per token | one f32 per tensor |
//! | [`tq1`] | 1.6   | 320 weights in 64 bytes (5 trits/byte) | int8 per token | one f32 per tensor |
//! | [`tl`]  | 2     | 32 rows x 2 columns per 16 bytes (4-bit table index) | int8, via tables | one f32 per tensor |
//! | [`q8`]  | 8     | row of int8 in [-127, 127] | int8 per token | one f32 per row |
//! | [`q4`]  | 4.25  | 64 weights, codes in nibbles | int8 per token | one f16 per 64 weights |
//! | [`f16`] | 16    | row of IEEE half | f32 | none |
//!
//! To add a format: a module here with the matrix type and its layout doc, a scalar reference in
//! `scalar/`, one entry per level in [`crate::set::KernelSet`], and a [`PackedMatrix`] impl so
//! the generic agreement test and benches pick it up.

pub mod f16;
pub mod i2;
pub mod q4;
pub mod q8;
pub mod tl;
pub mod tq1;

use std::fmt;
use std::str::FromStr;

use crate::error::KernelError;

/// The weight formats, as named in results (`gemv/i2/avx2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// 2-bit ternary.
    I2,
    /// base-3 ternary, 5 weights per byte.
    Tq1,
    /// ternary through lookup tables of activation pair sums.
    Tl,
    /// int8 weights with per-row scales.
    Q8,
    /// 4-bit weights with one scale per 64 (the compact LM head).
    Q4,
    /// IEEE half weights, f32 activations.
    F16,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 6] = [
        Format::I2,
        Format::Tq1,
        Format::Tl,
        Format::Q8,
        Format::Q4,
        Format::F16,
    ];

    /// Name in results and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::I2 => "i2",
            Format::Tq1 => "tq1",
            Format::Tl => "tl",
            Format::Q8 => "q8",
            Format::Q4 => "q4",
            Format::F16 => "f16",
        }
    }

    /// Whether the weights are ternary (int8 activations, one scale per tensor).
    pub fn is_ternary(self) -> bool {
        matches!(self, Format::I2 | Format::Tq1 | Format::Tl)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = KernelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let n = s.trim().to_ascii_lowercase();
        Format::ALL
            .into_iter()
            .find(|f| f.name() == n)
            .ok_or_else(|| KernelError::UnknownFormat {
                name: s.to_string(),
                known: Format::ALL.map(|f| f.name()).join(", "),
            })
    }
}

/// Checks that every value of a ternary slice is -1, 0 or +1.
pub(crate) fn check_ternary(
    what: &'static str,
    rows: usize,
    cols: usize,
    w: &[i8],
) -> Result<(), KernelError> {
    if w.len() != rows * cols {
        return Err(KernelError::ShapeMismatch {
            what,
            rows,
            cols,
            expected: rows * cols,
            got: w.len(),
        });
    }
    if let Some(i) = w.iter().position(|&v| !(-1..=1).contains(&v)) {
        return Err(KernelError::ValueOutOfRange {
            what,
            row: i / cols.max(1),
            col: i % cols.max(1),
            value: w[i] as i32,
            range: "{-1, 0, +1}",
        });
    }
    Ok(())
}

pub(crate) fn check_len(
    what: &'static str,
    rows: usize,
    cols: usize,
    expected: usize,
    got: usize,
) -> Result<(), KernelError> {
    if expected != got {
        return Err(KernelError::ShapeMismatch {
            what,
            rows,
            cols,
            expected,
            got,
        });
    }
    Ok(())
}

pub(crate) fn check_nonempty(
    what: &'static str,
    rows: usize,
    cols: usize,
) -> Result<(), KernelError> {
    if rows == 0 || cols == 0 {
        return Err(KernelError::BadShape {
            what,
            reason: format!("shape {rows}x{cols} is empty"),
        });
    }
    Ok(())
}
