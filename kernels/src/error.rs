//! Errors of the kernels crate. Bad input (a shape that does not fit, an unknown level name, a
//! level this CPU lacks) is an error value, never a panic; the safe wrappers still `assert!` the
//! invariants that only a programming error can break.

use thiserror::Error;

/// Everything that can go wrong when choosing kernels or building packed matrices.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum KernelError {
    /// The level exists but this CPU lacks some of its features.
    #[error("SIMD level `{isa}` cannot run on this CPU: missing CPU features {missing}")]
    IsaUnsupported { isa: &'static str, missing: String },
    /// The level belongs to another architecture.
    #[error("SIMD level `{isa}` does not exist on {arch}")]
    IsaWrongArch {
        isa: &'static str,
        arch: &'static str,
    },
    /// The level is known but has no kernels in this build.
    #[error(
        "SIMD level `{isa}` has no kernels yet in this build (needs a machine to verify them)"
    )]
    IsaNotImplemented { isa: &'static str },
    /// A level name that is not known.
    #[error("unknown SIMD level `{name}`; known levels: {known}")]
    UnknownIsa { name: String, known: String },
    /// The level has no kernel for this format.
    #[error("no `{format}` kernel at SIMD level `{isa}`")]
    NoKernel {
        format: &'static str,
        isa: &'static str,
    },
    /// A format name that is not known.
    #[error("unknown weight format `{name}`; known formats: {known}")]
    UnknownFormat { name: String, known: String },
    /// Input buffer length does not match the declared shape.
    #[error("{what}: expected {expected} elements/bytes for shape {rows}x{cols}, got {got}")]
    ShapeMismatch {
        what: &'static str,
        rows: usize,
        cols: usize,
        expected: usize,
        got: usize,
    },
    /// A weight outside the format's range (ternary values must be -1, 0 or +1).
    #[error("{what}: value {value} at row {row}, column {col} is outside {range}")]
    ValueOutOfRange {
        what: &'static str,
        row: usize,
        col: usize,
        value: i32,
        range: &'static str,
    },
    /// A shape the format cannot represent.
    #[error("{what}: {reason}")]
    BadShape { what: &'static str, reason: String },
}
