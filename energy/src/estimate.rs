//! `--energy estimate`: a power model for machines without counters. Its results are a type of
//! their own ([`Estimate`], field `estimated_joules`, `method: "estimated"`, `energy_source:
//! "estimate-tdp"`), so they cannot be mistaken for, or added to, a [`super::Measurement`].
//!
//! Model: `E = P_full × u × T`, where
//! - `T` is the window's wall-clock seconds;
//! - `u = process CPU seconds / (T × visible logical CPUs)`, clamped to 0..=1;
//! - `P_full` is the power of the visible CPUs at full load: `--tdp` as given (on a whole
//!   machine, the sum of its packages' TDP; in a VM, your share of it), or from the built-in
//!   [`TDP_TABLE`] as `TDP × visible CPUs / threads per package`.
//!
//! With neither a flag nor a table entry the estimate is refused. TDP is a thermal design
//! figure, not a measurement: real package power can sit well under it (memory-bound decode) or
//! above it (turbo); idle power, DRAM and the rest of the platform are not in the model.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::fs::read_trimmed;
use super::{Attempt, Method, Problem, Roots};

/// The `energy_source` of every estimate.
pub const SOURCE_NAME: &str = "estimate-tdp";

/// One CPU's published TDP.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TdpEntry {
    /// A token sequence of the `model name`, matched whole (`EPYC 7763` does not match
    /// `EPYC 7763X`).
    pub model: &'static str,
    /// Thermal design power of one package, watts (vendor specification).
    pub tdp_watts: f64,
    /// Hardware threads per package.
    pub threads: u32,
}

/// Vendor-specified TDPs of a few server and desktop CPUs. Extend with care: each row is a
/// datasheet figure for one exact model.
pub const TDP_TABLE: &[TdpEntry] = &[
    TdpEntry {
        model: "EPYC 7763",
        tdp_watts: 280.0,
        threads: 128,
    },
    TdpEntry {
        model: "EPYC 7543",
        tdp_watts: 225.0,
        threads: 64,
    },
    TdpEntry {
        model: "EPYC 9654",
        tdp_watts: 360.0,
        threads: 192,
    },
    TdpEntry {
        model: "Platinum 8380",
        tdp_watts: 270.0,
        threads: 80,
    },
    TdpEntry {
        model: "Platinum 8480+",
        tdp_watts: 350.0,
        threads: 112,
    },
    TdpEntry {
        model: "Gold 6248",
        tdp_watts: 150.0,
        threads: 40,
    },
    TdpEntry {
        model: "i9-13900K",
        tdp_watts: 125.0,
        threads: 32,
    },
];

/// Whether `key` occurs in `name` bounded by non-alphanumerics (or the ends).
fn contains_token(name: &str, key: &str) -> bool {
    name.match_indices(key).any(|(i, _)| {
        let before = name[..i].chars().next_back();
        let after = name[i + key.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// The table entry for a CPU model name.
pub fn lookup_tdp(model_name: &str) -> Option<&'static TdpEntry> {
    TDP_TABLE
        .iter()
        .find(|e| contains_token(model_name, e.model))
}

/// Where `P_full` came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TdpFrom {
    /// `--tdp`, taken as the full-load power of the visible CPUs.
    Flag,
    /// The built-in table.
    Table {
        /// The row matched.
        model: String,
        /// Its package TDP.
        package_tdp_watts: f64,
        /// Its threads per package.
        threads_per_package: u32,
    },
}

/// The power model, ready to estimate windows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EstimateModel {
    /// Always `estimated`.
    pub method: Method,
    /// Always `estimate-tdp`.
    pub energy_source: String,
    /// The CPU's `model name`.
    pub cpu_model: String,
    /// Logical CPUs visible to this process.
    pub logical_cpus: usize,
    /// Power of the visible CPUs at full load, watts.
    pub full_load_watts: f64,
    /// Where it came from.
    pub tdp_from: TdpFrom,
    /// The formula in words, with the numbers.
    pub formula: String,
}

fn refuse(detail: String, fix: &str) -> Attempt {
    Attempt::new("estimate", Problem::Unsupported, detail, Some(fix))
}

/// Builds the model: from `--tdp` if given, else from the table, else refused.
pub fn model(tdp_flag: Option<f64>, roots: &Roots) -> Result<EstimateModel, Attempt> {
    let cpu_model = roots
        .fs
        .read_to_string(&roots.cpuinfo)
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == "model name").then(|| v.trim().to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let logical_cpus = match &roots.cpus {
        Some(c) => c.len(),
        None => read_trimmed(&*roots.fs, &roots.cpu_sysfs.join("online"))
            .ok()
            .and_then(|s| super::fs::parse_cpu_list(&s))
            .map(|v| v.len())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
    };
    let (full_load_watts, tdp_from) =
        match tdp_flag {
            Some(w) if w.is_finite() && w > 0.0 => (w, TdpFrom::Flag),
            Some(w) => {
                return Err(refuse(
                    format!("--tdp {w} is not a positive number of watts"),
                    "pass --tdp WATTS, the full-load power of the CPUs this run uses",
                ))
            }
            None => match lookup_tdp(&cpu_model) {
                Some(e) => (
                    e.tdp_watts * logical_cpus as f64 / f64::from(e.threads),
                    TdpFrom::Table {
                        model: e.model.to_string(),
                        package_tdp_watts: e.tdp_watts,
                        threads_per_package: e.threads,
                    },
                ),
                None => return Err(refuse(
                    format!(
                        "no TDP known for `{cpu_model}` (not in the built-in table) and no --tdp: \
                         refusing to guess"
                    ),
                    "pass --tdp WATTS, the full-load power of the CPUs this run uses (in a VM: \
                     package TDP × your vCPUs / the package's threads)",
                )),
            },
        };
    let formula = format!(
        "estimated_joules = {full_load_watts:.2} W × utilisation × seconds, utilisation = \
         process CPU seconds / (seconds × {logical_cpus} CPUs); not a measurement"
    );
    Ok(EstimateModel {
        method: Method::Estimated,
        energy_source: SOURCE_NAME.to_string(),
        cpu_model,
        logical_cpus,
        full_load_watts,
        tdp_from,
        formula,
    })
}

/// An estimated window. Its field is `estimated_joules`, never `joules`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Always `estimated`.
    pub method: Method,
    /// Always `estimate-tdp`.
    pub energy_source: String,
    /// Window length, wall clock.
    pub seconds: f64,
    /// CPU time of this process during the window (`None`: not available here).
    pub process_cpu_seconds: Option<f64>,
    /// `process_cpu_seconds / (seconds × logical_cpus)`, clamped to 0..=1.
    pub utilisation: f64,
    /// The model's full-load power.
    pub full_load_watts: f64,
    /// `full_load_watts × utilisation × seconds`.
    pub estimated_joules: f64,
    /// Caveats.
    pub notes: Vec<String>,
}

impl EstimateModel {
    /// The estimate for a window of `seconds` during which the process used `cpu_seconds`.
    pub fn estimate(&self, seconds: f64, cpu_seconds: Option<f64>) -> Estimate {
        let mut notes = vec![format!(
            "estimated from TDP, not measured: {}",
            self.formula
        )];
        let utilisation = match cpu_seconds {
            Some(c) if seconds > 0.0 => (c / (seconds * self.logical_cpus as f64)).clamp(0.0, 1.0),
            _ => {
                notes.push("process CPU time unavailable: utilisation taken as 1".to_string());
                1.0
            }
        };
        Estimate {
            method: Method::Estimated,
            energy_source: SOURCE_NAME.to_string(),
            seconds,
            process_cpu_seconds: cpu_seconds,
            utilisation,
            full_load_watts: self.full_load_watts,
            estimated_joules: self.full_load_watts * utilisation * seconds,
            notes,
        }
    }

    /// Opens a window.
    pub fn start(&self) -> EstimateSpan<'_> {
        EstimateSpan {
            model: self,
            started: Instant::now(),
            cpu_at_start: process_cpu_seconds(),
        }
    }
}

/// An open estimated window.
#[derive(Debug)]
pub struct EstimateSpan<'a> {
    model: &'a EstimateModel,
    started: Instant,
    cpu_at_start: Option<f64>,
}

impl EstimateSpan<'_> {
    /// Closes the window.
    pub fn stop(self) -> Estimate {
        let seconds = self.started.elapsed().as_secs_f64();
        let cpu = match (self.cpu_at_start, process_cpu_seconds()) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        self.model.estimate(seconds, cpu)
    }
}

/// CPU seconds used by this process, all threads (Linux `CLOCK_PROCESS_CPUTIME_ID`).
fn process_cpu_seconds() -> Option<f64> {
    #[cfg(target_os = "linux")]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; the call only writes it.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
        (rc == 0).then_some(ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_whole() {
        assert!(contains_token(
            "AMD EPYC 7763 64-Core Processor",
            "EPYC 7763"
        ));
        assert!(!contains_token("AMD EPYC 7763X 64-Core", "EPYC 7763"));
        assert!(!contains_token("AMD EPYC", "EPYC 7763"));
        assert!(lookup_tdp("Intel(R) Xeon(R) Gold 6248R CPU").is_none());
        assert_eq!(
            lookup_tdp("Intel(R) Xeon(R) Gold 6248 CPU")
                .unwrap()
                .tdp_watts,
            150.0
        );
    }
}
