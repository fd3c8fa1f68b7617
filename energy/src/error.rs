//! The crate's error type: what went wrong reading counters or measuring a window. Failures
//! to *open* a source are not errors but [`crate::Attempt`]s (a reason and a fix, recorded in
//! results); these are the failures after a source is open.

use std::io;

use crate::SourceKind;

/// Errors of an open energy source, meter or window.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One counter could not be read.
    #[error("reading {location}: {error}")]
    Read {
        /// Where: a file path, `path @ MSR 0x611` or `perf power/energy-pkg/ cpu 0`.
        location: String,
        /// The underlying failure.
        error: io::Error,
    },
    /// A source that found no counters.
    #[error("energy source {0} has no counters")]
    NoCounters(SourceKind),
    /// The first reading of a source failed.
    #[error("first reading of the {kind} energy counters: {error}")]
    FirstReading {
        /// The source.
        kind: SourceKind,
        /// The read that failed.
        error: Box<Error>,
    },
    /// A read failed between or during windows, so a wrap may have been missed.
    #[error("an energy counter read failed {when} (a wrap may be lost): {message}")]
    Lost {
        /// `before this window` or `during the window`.
        when: &'static str,
        /// The failure.
        message: String,
    },
    /// A panic in a counter read poisoned the meter.
    #[error("energy meter state poisoned by a panic in a counter read")]
    Poisoned,
    /// The sampler thread could not start.
    #[error("starting the energy sampler thread: {0}")]
    Thread(io::Error),
    /// An idle window without a length.
    #[error("an idle window of {0} s has no mean power")]
    EmptyWindow(f64),
    /// A baseline from one source subtracted from a window of another.
    #[error(
        "idle baseline read from {idle} cannot be subtracted from a window read from {window}"
    )]
    SourceMismatch {
        /// The baseline's source.
        idle: SourceKind,
        /// The window's source.
        window: SourceKind,
    },
    /// The machine was not quiet during the idle baseline and the policy is to refuse.
    #[error("idle baseline refused: {0}")]
    NotQuiet(String),
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
