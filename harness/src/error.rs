//! The binary's one error type of its own: a usage error (bad arguments, or a request this
//! machine cannot honour). Every error, usage or not, exits with [`EXIT_ERROR`] (2): exit code 1
//! is kept for a regression verdict (`compare`), so a CI gate can tell the two apart.

use std::fmt;

/// The exit code of every error (usage, input or failure).
pub const EXIT_ERROR: i32 = 2;

/// The exit code of a command stopped by Ctrl-C (128 + SIGINT, the shell's convention).
pub const EXIT_INTERRUPTED: i32 = 130;

/// The arguments ask for something invalid or something this machine cannot do.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Shorthand: an `anyhow` error carrying a [`UsageError`].
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg.into()))
}
