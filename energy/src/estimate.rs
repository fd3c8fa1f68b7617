//! `--energy estimate`: a power model for machines without counters. Its results are a type of
//! their own ([`Estimate`], field `estimated_joules`, `method: "estimated"`, `energy_source:
//! "estimate-tdp"`), so they cannot be mistaken for, or added to, a [`crate::meter::Measurement`].
//!
//! Model (linear in utilisation, with an idle term):
//! `E = [P_idle + (P_full − P_idle) × u] × T`, where
//! - `T` is the window's wall-clock seconds;
//! - `u = process CPU seconds / (T × visible logical CPUs)`, clamped to 0..=1;
//! - `P_full` is the power of the visible CPUs at full load: `--tdp` as given (on a whole
//!   machine, the sum of its packages' power; in a VM, your share of it), or from the built-in
//!   [`TDP_TABLE`] as `base power × visible CPUs / threads per package`;
//! - `P_idle` is their power doing nothing: `energy.idle_watts` as given, else
//!   [`DEFAULT_IDLE_FRACTION`] × `P_full`. Cloud Carbon Footprint's SPECpower-derived
//!   coefficients (minimum and maximum watts per vCPU) put idle at 16-24% of full load for
//!   Skylake, Cascade Lake and Milan servers; the same linear form is its model.
//!
//! `E_net = (P_full − P_idle) × u × T` is the estimated marginal energy. With neither a flag
//! nor a table entry the estimate is refused. The table's power is the vendor's base figure
//! (Intel "Processor Base Power", AMD "Default TDP"); under sustained all-core load a desktop
//! part may draw up to its maximum turbo power (the i9-13900K: 125 W base, 253 W maximum
//! turbo), which the row also records and the model states. DRAM and the rest of the platform
//! are not in the model.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::fs::read_trimmed;
use crate::{Attempt, Method, Problem, Roots};

/// The `energy_source` of every estimate.
pub const SOURCE_NAME: &str = "estimate-tdp";

/// Idle power as a fraction of full-load power when `idle_watts` is not given (see the module
/// doc for the source).
pub const DEFAULT_IDLE_FRACTION: f64 = 0.2;

/// One CPU's published power figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TdpEntry {
    /// A token sequence of the `model name`, matched whole (`EPYC 7763` does not match
    /// `EPYC 7763X`).
    pub model: &'static str,
    /// Base power of one package, watts (Intel "Processor Base Power" / TDP; AMD "Default
    /// TDP"): the figure the model uses.
    pub tdp_watts: f64,
    /// Maximum turbo power (Intel PL2), watts, where the vendor publishes one.
    pub max_turbo_watts: Option<f64>,
    /// Cores per package.
    pub cores: u32,
    /// Hardware threads per package.
    pub threads: u32,
}

/// Vendor-specified power of a few server and desktop CPUs (Intel ARK and AMD product pages).
/// Extend with care: each row is a datasheet figure for one exact model, checked in
/// `tdp_rows_match_the_datasheets`.
pub const TDP_TABLE: &[TdpEntry] = &[
    TdpEntry {
        model: "EPYC 7763",
        tdp_watts: 280.0,
        max_turbo_watts: None,
        cores: 64,
        threads: 128,
    },
    TdpEntry {
        model: "EPYC 7543",
        tdp_watts: 225.0,
        max_turbo_watts: None,
        cores: 32,
        threads: 64,
    },
    TdpEntry {
        model: "EPYC 9654",
        tdp_watts: 360.0,
        max_turbo_watts: None,
        cores: 96,
        threads: 192,
    },
    TdpEntry {
        model: "Platinum 8380",
        tdp_watts: 270.0,
        max_turbo_watts: None,
        cores: 40,
        threads: 80,
    },
    TdpEntry {
        model: "Platinum 8480+",
        tdp_watts: 350.0,
        max_turbo_watts: None,
        cores: 56,
        threads: 112,
    },
    TdpEntry {
        model: "Gold 6248",
        tdp_watts: 150.0,
        max_turbo_watts: None,
        cores: 20,
        threads: 40,
    },
    TdpEntry {
        model: "i9-13900K",
        tdp_watts: 125.0,
        max_turbo_watts: Some(253.0),
        cores: 24,
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
        /// Its package base power.
        package_tdp_watts: f64,
        /// Its maximum turbo power, where published.
        #[serde(default)]
        package_max_turbo_watts: Option<f64>,
        /// Its threads per package.
        threads_per_package: u32,
    },
}

/// Where `P_idle` came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum IdleFrom {
    /// `energy.idle_watts`.
    Given,
    /// [`DEFAULT_IDLE_FRACTION`] of `P_full`.
    DefaultFraction {
        /// The fraction.
        fraction: f64,
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
    /// Power of the visible CPUs idle, watts (the model's idle term).
    #[serde(default)]
    pub idle_watts: f64,
    /// Where it came from.
    #[serde(default = "default_idle_from")]
    pub idle_from: IdleFrom,
    /// The formula in words, with the numbers.
    pub formula: String,
}

fn refuse(detail: String, fix: &str) -> Attempt {
    Attempt::new("estimate", Problem::Unsupported, detail, Some(fix))
}

fn default_idle_from() -> IdleFrom {
    IdleFrom::DefaultFraction {
        fraction: DEFAULT_IDLE_FRACTION,
    }
}

/// Builds the model: from `--tdp` if given, else from the table, else refused; the idle term
/// from `idle_watts` if given, else [`DEFAULT_IDLE_FRACTION`] of full load.
pub fn model(
    tdp_flag: Option<f64>,
    idle_watts: Option<f64>,
    roots: &Roots,
) -> Result<EstimateModel, Attempt> {
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
                        package_max_turbo_watts: e.max_turbo_watts,
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
    let (idle_watts, idle_from) = match idle_watts {
        Some(w) if w.is_finite() && w >= 0.0 && w <= full_load_watts => (w, IdleFrom::Given),
        Some(w) => {
            return Err(refuse(
                format!(
                    "idle_watts {w} is not between 0 and the full-load power \
                     {full_load_watts:.2} W"
                ),
                "set energy.idle_watts to the idle power of the CPUs this run uses",
            ))
        }
        None => (
            full_load_watts * DEFAULT_IDLE_FRACTION,
            IdleFrom::DefaultFraction {
                fraction: DEFAULT_IDLE_FRACTION,
            },
        ),
    };
    let turbo = match &tdp_from {
        TdpFrom::Table {
            package_max_turbo_watts: Some(t),
            package_tdp_watts,
            ..
        } => format!(
            "; base power {package_tdp_watts:.0} W per package: sustained all-core load may draw \
             up to the maximum turbo power, {t:.0} W"
        ),
        _ => String::new(),
    };
    let formula = format!(
        "estimated_joules = [{idle_watts:.2} W idle + ({full_load_watts:.2} − {idle_watts:.2}) W \
         × utilisation] × seconds, utilisation = process CPU seconds / (seconds × \
         {logical_cpus} CPUs){turbo}; not a measurement"
    );
    Ok(EstimateModel {
        method: Method::Estimated,
        energy_source: SOURCE_NAME.to_string(),
        cpu_model,
        logical_cpus,
        full_load_watts,
        tdp_from,
        idle_watts,
        idle_from,
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
    /// The model's idle power.
    #[serde(default)]
    pub idle_watts: f64,
    /// `[idle_watts + (full_load_watts − idle_watts) × utilisation] × seconds`.
    pub estimated_joules: f64,
    /// `(full_load_watts − idle_watts) × utilisation × seconds`: the marginal part.
    #[serde(default)]
    pub estimated_net_joules: f64,
    /// Caveats.
    pub notes: Vec<String>,
}

impl EstimateModel {
    /// The caveat every estimate carries.
    pub fn caveat(&self) -> String {
        format!("ESTIMATED from TDP, not measured: {}", self.formula)
    }

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
            idle_watts: self.idle_watts,
            estimated_joules: (self.idle_watts
                + (self.full_load_watts - self.idle_watts) * utilisation)
                * seconds,
            estimated_net_joules: (self.full_load_watts - self.idle_watts) * utilisation * seconds,
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
pub fn process_cpu_seconds() -> Option<f64> {
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

    /// Each row against its public datasheet: Intel ARK (Processor Base Power, Maximum Turbo
    /// Power, cores, threads) and AMD's product pages (Default TDP, cores, threads).
    #[test]
    fn tdp_rows_match_the_datasheets() {
        let want: [(&str, f64, Option<f64>, u32, u32); 7] = [
            ("EPYC 7763", 280.0, None, 64, 128),
            ("EPYC 7543", 225.0, None, 32, 64),
            ("EPYC 9654", 360.0, None, 96, 192),
            ("Platinum 8380", 270.0, None, 40, 80),
            ("Platinum 8480+", 350.0, None, 56, 112),
            ("Gold 6248", 150.0, None, 20, 40),
            // i9-13900K: 8 P-cores (2 threads) + 16 E-cores = 24 cores, 32 threads; Processor
            // Base Power 125 W, Maximum Turbo Power 253 W.
            ("i9-13900K", 125.0, Some(253.0), 24, 32),
        ];
        assert_eq!(TDP_TABLE.len(), want.len());
        for (m, base, turbo, cores, threads) in want {
            let e = TDP_TABLE.iter().find(|e| e.model == m).unwrap();
            assert_eq!(
                (e.tdp_watts, e.max_turbo_watts, e.cores, e.threads),
                (base, turbo, cores, threads),
                "{m}"
            );
        }
    }
}
