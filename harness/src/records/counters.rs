//! Hardware counter records: the events counted, a reading of their totals, and whether they
//! were measured (and why not). [`crate::measure::counters`] reads them from Linux perf.

use serde::{Deserialize, Serialize};

/// The events counted, in order.
pub const EVENTS: [&str; 3] = ["instructions", "cycles", "cache_misses"];

/// Counter totals at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Reading {
    /// Retired instructions (user space).
    pub instructions: u64,
    /// CPU cycles (user space).
    pub cycles: u64,
    /// Last-level cache misses (user space).
    pub cache_misses: u64,
}

impl Reading {
    /// `self − earlier`, per event (wrapping, though 64-bit counters do not wrap in practice).
    pub fn since(&self, earlier: &Reading) -> Reading {
        Reading {
            instructions: self.instructions.wrapping_sub(earlier.instructions),
            cycles: self.cycles.wrapping_sub(earlier.cycles),
            cache_misses: self.cache_misses.wrapping_sub(earlier.cache_misses),
        }
    }
}

/// Whether counters are measured, and why not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CounterStatus {
    /// Measured with perf events.
    Available {
        /// The events.
        events: Vec<String>,
    },
    /// Not measured.
    Unavailable {
        /// Why.
        reason: String,
    },
}
