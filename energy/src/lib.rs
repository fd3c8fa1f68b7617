//! CPU energy: which counters this machine has, and joules per measured window.
//!
//! Sources are tried in order, each behind [`EnergySource`]: [`powercap`] sysfs
//! (`/sys/class/powercap`, zones found by their `name`), the perf `power` PMU ([`perf_pmu`]),
//! the RAPL MSRs ([`msr`], `/dev/cpu/N/msr`), then none. [`open`] returns an [`EnergyStatus`]:
//! a [`Meter`] on the first source that works, or [`Unavailable`] naming every source tried,
//! why it failed and how to fix it, or — only when asked for — an [`EstimateModel`] whose
//! results are typed and labelled `estimated`. Nothing here ever reports a zero that looks like
//! a measurement: a domain that is absent, or whose counter did not move, is `None` with a note.
//!
//! Domains: package (summed over sockets), core, uncore, dram, psys, as present. The figure to
//! quote is `cpu_total = Σpackage + Σdram`; core and uncore are inside the package and psys
//! contains it, so they are never added. The method (gross/net, idle baseline, wrap handling,
//! the estimate model) is written up in `docs/energy.md`.
//!
//! Every path is in [`Roots`] and every file read goes through its [`Fs`], so tests run each
//! source on fake trees (see `tests.rs`). To add a source: implement [`EnergySource`] in a new
//! file, give it an `open(&Roots) -> Result<_, Attempt>`, and add it to [`EnergyChoice`] and
//! to the order in [`open`].

pub mod error;
pub mod estimate;
pub mod fs;
pub mod idle;
pub mod meter;
pub mod msr;
pub mod perf_pmu;
pub mod powercap;
pub mod selfcheck;
pub mod topology;

#[cfg(test)]
mod tests;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use error::{Error, Result};
pub use estimate::EstimateModel;
pub use fs::{Fs, RealFs};
pub use idle::{IdleBaseline, IdleCheck, IdlePlan};
pub use meter::{idle_baseline, EnergySource, IdlePower, Meter};
pub use perf_pmu::{PerfEvent2, PerfOpen};

/// An energy domain, as RAPL names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Domain {
    /// The whole socket (cores, caches, uncore, integrated graphics).
    Package,
    /// The cores (Intel PP0, AMD core energy).
    Core,
    /// Intel PP1: on clients, the integrated graphics.
    Uncore,
    /// The memory attached to the socket (Intel servers).
    Dram,
    /// The whole platform (Intel clients, some servers).
    Psys,
}

impl Domain {
    /// Every domain, in report order.
    pub const ALL: [Domain; 5] = [
        Domain::Package,
        Domain::Core,
        Domain::Uncore,
        Domain::Dram,
        Domain::Psys,
    ];

    /// The lowercase name used in results.
    pub fn name(self) -> &'static str {
        match self {
            Domain::Package => "package",
            Domain::Core => "core",
            Domain::Uncore => "uncore",
            Domain::Dram => "dram",
            Domain::Psys => "psys",
        }
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A measuring source (what `energy_source` says in results when the method is `measured`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// `/sys/class/powercap` RAPL zones.
    Powercap,
    /// The perf `power` PMU.
    Perf,
    /// The RAPL MSRs through `/dev/cpu/N/msr`.
    Msr,
}

impl SourceKind {
    /// The lowercase name used in results.
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Powercap => "powercap",
            SourceKind::Perf => "perf",
            SourceKind::Msr => "msr",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How an energy figure was obtained. Every result type carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Read from hardware energy counters.
    Measured,
    /// Computed from a power model; not a measurement.
    Estimated,
}

/// What the user asked for (`--energy`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnergyChoice {
    /// Powercap, then perf, then MSR; unavailable if none works (never an estimate).
    Auto,
    /// Only powercap sysfs.
    Powercap,
    /// Only the perf `power` PMU.
    Perf,
    /// Only the MSRs.
    Msr,
    /// No energy measurement.
    None,
    /// The TDP × utilisation model, labelled `estimated`; TDP from `--tdp` or the built-in
    /// table, else refused.
    Estimate {
        /// Watts at full load of the visible CPUs (`--tdp`).
        tdp_watts: Option<f64>,
        /// Watts of the visible CPUs at idle (`energy.idle_watts`); `None`: a default fraction
        /// of full load.
        #[serde(default)]
        idle_watts: Option<f64>,
    },
}

impl EnergyChoice {
    /// The name as on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            EnergyChoice::Auto => "auto",
            EnergyChoice::Powercap => "powercap",
            EnergyChoice::Perf => "perf",
            EnergyChoice::Msr => "msr",
            EnergyChoice::None => "none",
            EnergyChoice::Estimate { .. } => "estimate",
        }
    }
}

impl FromStr for EnergyChoice {
    type Err = String;

    /// Parses `auto|powercap|perf|msr|none|estimate` (an estimate without a TDP: set
    /// `tdp_watts` from `--tdp` afterwards).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "auto" => EnergyChoice::Auto,
            "powercap" => EnergyChoice::Powercap,
            "perf" => EnergyChoice::Perf,
            "msr" => EnergyChoice::Msr,
            "none" => EnergyChoice::None,
            "estimate" => EnergyChoice::Estimate {
                tdp_watts: None,
                idle_watts: None,
            },
            _ => {
                return Err(format!(
                    "unknown energy source `{s}`: expected auto, powercap, perf, msr, none or \
                     estimate"
                ))
            }
        })
    }
}

/// Every path the energy sources read, and the file access they go through. Tests point them
/// at fake trees ([`Roots::under`]) and may swap the [`Fs`] to inject failures.
#[derive(Clone, Debug)]
pub struct Roots {
    /// `/sys/class/powercap`.
    pub powercap: PathBuf,
    /// `/sys/bus/event_source/devices/power`: the perf RAPL PMU.
    pub perf_power: PathBuf,
    /// `/proc/sys/kernel/perf_event_paranoid` (read for error messages).
    pub perf_paranoid: PathBuf,
    /// `/dev/cpu`: holds `N/msr`.
    pub msr_dev: PathBuf,
    /// `/sys/devices/system/cpu`: `online`, `cpuN/topology/{physical_package_id,core_id}`.
    pub cpu_sysfs: PathBuf,
    /// `/proc/cpuinfo`: vendor, family, model, model name.
    pub cpuinfo: PathBuf,
    /// `/proc/stat`: CPU time of everything, for the idle baseline's quiet check.
    pub proc_stat: PathBuf,
    /// The CPUs to consider; `None`: those listed in `cpu_sysfs/online`.
    pub cpus: Option<Vec<u32>>,
    /// File access.
    pub fs: Arc<dyn Fs>,
    /// How perf counters are opened ([`PerfEvent2`]; a fake in tests).
    pub perf: Arc<dyn PerfOpen>,
}

impl Roots {
    /// The real system paths.
    pub fn system() -> Roots {
        Roots::under(Path::new("/"))
    }

    /// The real system, or the layout under `$TERNBENCH_ENERGY_ROOT` when that is set: a fake
    /// tree of `sys/class/powercap`, `proc/cpuinfo`, … for end-to-end tests of the commands.
    pub fn from_env() -> Roots {
        match std::env::var_os("TERNBENCH_ENERGY_ROOT") {
            Some(p) if !p.is_empty() => Roots::under(Path::new(&p)),
            _ => Roots::system(),
        }
    }

    /// The system layout under `prefix` (a fake tree in tests), read through [`RealFs`].
    pub fn under(prefix: &Path) -> Roots {
        Roots {
            powercap: prefix.join("sys/class/powercap"),
            perf_power: prefix.join("sys/bus/event_source/devices/power"),
            perf_paranoid: prefix.join("proc/sys/kernel/perf_event_paranoid"),
            msr_dev: prefix.join("dev/cpu"),
            cpu_sysfs: prefix.join("sys/devices/system/cpu"),
            cpuinfo: prefix.join("proc/cpuinfo"),
            proc_stat: prefix.join("proc/stat"),
            cpus: None,
            fs: Arc::new(RealFs),
            perf: Arc::new(PerfEvent2),
        }
    }

    /// The same roots read through another [`Fs`].
    pub fn with_fs(mut self, fs: Arc<dyn Fs>) -> Roots {
        self.fs = fs;
        self
    }

    /// The same roots opening perf counters through another [`PerfOpen`].
    pub fn with_perf(mut self, perf: Arc<dyn PerfOpen>) -> Roots {
        self.perf = perf;
        self
    }

    /// The CPUs to consider: [`Roots::cpus`], else `cpu_sysfs/online`, else cpu 0.
    pub fn cpu_list(&self) -> Vec<u32> {
        if let Some(c) = &self.cpus {
            return c.clone();
        }
        fs::read_trimmed(&*self.fs, &self.cpu_sysfs.join("online"))
            .ok()
            .and_then(|s| fs::parse_cpu_list(&s))
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| vec![0])
    }
}

/// Why a source could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// Not present on this machine (no driver, no device, or a VM that hides it).
    Absent,
    /// Present but not readable by this user.
    PermissionDenied,
    /// Present but reading failed or gave nonsense.
    Unreadable,
    /// Not supported here (vendor, OS) or not possible (an estimate without a TDP).
    Unsupported,
    /// Turned off by the user (`--energy none`).
    Off,
}

impl Problem {
    /// The problem an I/O error shows.
    pub fn of(e: &io::Error) -> Problem {
        match e.kind() {
            io::ErrorKind::NotFound => Problem::Absent,
            io::ErrorKind::PermissionDenied => Problem::PermissionDenied,
            _ => Problem::Unreadable,
        }
    }
}

/// One source tried and why it could not be used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// The source: `powercap`, `perf`, `msr`, `estimate` or `none`.
    pub source: String,
    /// The kind of failure.
    pub problem: Problem,
    /// What failed, naming the file.
    pub detail: String,
    /// What would make it work, if anything.
    pub fix: Option<String>,
}

impl Attempt {
    /// An attempt of `source` that failed.
    pub fn new(
        source: &str,
        problem: Problem,
        detail: impl Into<String>,
        fix: Option<&str>,
    ) -> Self {
        Attempt {
            source: source.to_string(),
            problem,
            detail: detail.into(),
            fix: fix.map(str::to_string),
        }
    }
}

/// What a source does with one counter it found (a zone, an event on a CPU, a register).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read and counted in `cpu_total = Σpackage + Σdram`.
    Total,
    /// Read and reported, never added to the total (core, uncore: inside the package; psys:
    /// contains it).
    Reported,
    /// Not read: a duplicate, a mirror, unreadable, or not what its name says.
    Skipped,
}

impl Role {
    /// The role a read counter of `domain` has.
    pub fn of(domain: Domain) -> Role {
        match domain {
            Domain::Package | Domain::Dram => Role::Total,
            _ => Role::Reported,
        }
    }

    /// Why a read counter of `domain` has its role.
    pub fn why(self, domain: Domain) -> String {
        match domain {
            Domain::Package => "counted: Σpackage over sockets".into(),
            Domain::Dram => "counted: Σdram (memory, outside the package)".into(),
            Domain::Core | Domain::Uncore => "reported, not added: inside the package".into(),
            Domain::Psys => {
                "reported, not added: the whole platform, which contains the package".into()
            }
        }
    }
}

/// One counter a source found, and whether and why it counts toward the total.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Found {
    /// The source.
    pub source: SourceKind,
    /// Where: a zone directory, `perf power/energy-pkg/ cpu 0`, `/dev/cpu/0/msr @ 0x611`.
    pub location: String,
    /// Its own name: the zone's `name`, the event, the register.
    pub name: String,
    /// Its domain, when known.
    pub domain: Option<Domain>,
    /// Counted, reported or skipped.
    pub role: Role,
    /// Why.
    pub why: String,
    /// For a counter skipped because it could not be read: the kind of failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
    /// And what would make it readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Found {
    /// A counter found by `source`.
    pub fn new(
        source: SourceKind,
        location: impl Into<String>,
        name: &str,
        domain: Option<Domain>,
        role: Role,
        why: impl Into<String>,
    ) -> Found {
        Found {
            source,
            location: location.into(),
            name: name.to_string(),
            domain,
            role,
            why: why.into(),
            problem: None,
            fix: None,
        }
    }

    /// A counter skipped because reading it failed.
    pub fn unreadable(
        source: SourceKind,
        name: &str,
        domain: Option<Domain>,
        a: &Attempt,
    ) -> Found {
        Found {
            source,
            location: a.detail.clone(),
            name: name.to_string(),
            domain,
            role: Role::Skipped,
            why: format!("unreadable: {}", a.detail),
            problem: Some(a.problem),
            fix: a.fix.clone(),
        }
    }
}

/// No energy figures: every source tried, with reasons and fixes. Recorded in results and shown
/// in every report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unavailable {
    /// The `--energy` choice.
    pub requested: String,
    /// One line: what was tried and why each failed.
    pub reason: String,
    /// What to do about it (`None` when the user turned energy off).
    pub fix: Option<String>,
    /// Every source tried, in order.
    pub tried: Vec<Attempt>,
}

impl Unavailable {
    /// Summarises failed attempts; `vm`: this machine is a virtual machine.
    pub fn from_attempts(requested: &EnergyChoice, tried: Vec<Attempt>, vm: bool) -> Unavailable {
        let reason = tried
            .iter()
            .map(|a| format!("{}: {}", a.source, a.detail))
            .collect::<Vec<_>>()
            .join("; ");
        // Fixes for sources that are present but denied come first: they are the likely ones.
        let mut fixes: Vec<&str> = Vec::new();
        for want in [true, false] {
            for a in &tried {
                if (a.problem == Problem::PermissionDenied) == want {
                    if let Some(f) = a.fix.as_deref() {
                        if !fixes.contains(&f) {
                            fixes.push(f);
                        }
                    }
                }
            }
        }
        let all_absent = !tried.is_empty() && tried.iter().all(|a| a.problem == Problem::Absent);
        let mut fix = fixes.join("; or ");
        let mut reason = format!("no energy counters could be read ({reason})");
        if all_absent {
            if vm {
                reason.push_str(
                    "; this is a virtual machine (CPU flag `hypervisor`), and hypervisors rarely \
                     pass energy counters through",
                );
            }
            fix.push_str(
                ". In a VM (most expose no energy counter at all) run on bare metal instead, or \
                 ask for a labelled estimate with `--energy estimate --tdp WATTS`",
            );
        }
        Unavailable {
            requested: requested.name().to_string(),
            reason,
            fix: (!fix.is_empty()).then_some(fix),
            tried,
        }
    }
}

/// The outcome of [`open`].
#[derive(Debug)]
pub enum EnergyStatus {
    /// A working measuring source.
    Available(Meter),
    /// No measurement, and why.
    Unavailable(Unavailable),
    /// A power model, asked for with `--energy estimate`; every figure it gives is labelled
    /// estimated.
    Estimated(EstimateModel),
}

/// What the results file records about the energy source of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// `powercap`, `perf`, `msr`, `estimate-tdp` or `none`.
    pub energy_source: String,
    /// `measured` or `estimated`; `None` when there are no energy figures.
    pub method: Option<Method>,
    /// The domains measured.
    pub domains: Vec<Domain>,
    /// Where each counter is read.
    pub counters: Vec<String>,
    /// The sampler period that guards against missed wraps.
    pub sample_period_seconds: Option<f64>,
    /// Why there are no figures (unavailable only).
    pub reason: Option<String>,
    /// How to get figures (unavailable only).
    pub fix: Option<String>,
    /// The power model's formula and inputs (estimated only).
    pub estimate_model: Option<String>,
    /// Sources that failed before the one used, or all of them.
    pub tried: Vec<Attempt>,
    /// Every counter the source used found, and whether and why it counts toward the total.
    #[serde(default)]
    pub found: Vec<Found>,
    /// What every figure of this source carries: vendor caveats, a VM's borrowed counters.
    #[serde(default)]
    pub caveats: Vec<String>,
    /// Whether DRAM energy is in `cpu_total` (`None` without measured figures).
    #[serde(default)]
    pub dram_in_total: Option<bool>,
}

impl EnergyStatus {
    /// The provenance block for results files.
    pub fn provenance(&self) -> Provenance {
        match self {
            EnergyStatus::Available(m) => Provenance {
                energy_source: m.kind().to_string(),
                method: Some(Method::Measured),
                domains: m.domains(),
                counters: m.counters().iter().map(|c| c.location.clone()).collect(),
                sample_period_seconds: m.period().map(|p| p.as_secs_f64()),
                reason: None,
                fix: None,
                estimate_model: None,
                tried: m.tried().to_vec(),
                found: m.found().to_vec(),
                caveats: m.caveats().to_vec(),
                dram_in_total: Some(m.domains().contains(&Domain::Dram)),
            },
            EnergyStatus::Unavailable(u) => Provenance {
                energy_source: "none".into(),
                method: None,
                domains: Vec::new(),
                counters: Vec::new(),
                sample_period_seconds: None,
                reason: Some(u.reason.clone()),
                fix: u.fix.clone(),
                estimate_model: None,
                tried: u.tried.clone(),
                found: Vec::new(),
                caveats: Vec::new(),
                dram_in_total: None,
            },
            EnergyStatus::Estimated(e) => Provenance {
                energy_source: estimate::SOURCE_NAME.into(),
                method: Some(Method::Estimated),
                domains: Vec::new(),
                counters: Vec::new(),
                sample_period_seconds: None,
                reason: None,
                fix: None,
                estimate_model: Some(e.formula.clone()),
                tried: Vec::new(),
                found: Vec::new(),
                caveats: vec![e.caveat()],
                dram_in_total: None,
            },
        }
    }
}

/// AMD's caveat on its RAPL domains.
pub const AMD_CAVEAT: &str = "AMD RAPL: AMD does not document what its package and core \
    energy domains cover (nor how the figures are derived); compare AMD figures with AMD \
    figures, and with wall power where it matters";

/// The caveat every figure read inside a virtual machine carries.
pub const VM_CAVEAT: &str = "virtual machine (CPU flag `hypervisor`) with RAPL counters passed \
    through: the figures are the host socket's, including every other guest's load, not this \
    VM's";

/// The caveats of a measuring source on this machine.
pub fn caveats(roots: &Roots) -> Vec<String> {
    let mut out = Vec::new();
    if topology::cpu_id(roots).and_then(|c| c.vendor()) == Some(topology::Vendor::Amd) {
        out.push(AMD_CAVEAT.to_string());
    }
    if is_vm(roots) {
        out.push(VM_CAVEAT.to_string());
    }
    out
}

/// Opens one measuring source and its meter, with this machine's caveats.
pub fn open_source(kind: SourceKind, roots: &Roots) -> Result<Meter, Attempt> {
    let source: Box<dyn EnergySource> = match kind {
        SourceKind::Powercap => Box::new(powercap::open(roots)?),
        SourceKind::Perf => Box::new(perf_pmu::open(roots)?),
        SourceKind::Msr => Box::new(msr::open(roots)?),
    };
    let mut m = Meter::new(source)
        .map_err(|e| Attempt::new(kind.name(), Problem::Unreadable, e.to_string(), None))?;
    m.set_caveats(caveats(roots));
    Ok(m)
}

/// Opens the energy source `choice` asks for: the first that works, in the order powercap,
/// perf, MSR for [`EnergyChoice::Auto`].
pub fn open(choice: &EnergyChoice, roots: &Roots) -> EnergyStatus {
    let order: &[SourceKind] = match choice {
        EnergyChoice::Auto => &[SourceKind::Powercap, SourceKind::Perf, SourceKind::Msr],
        EnergyChoice::Powercap => &[SourceKind::Powercap],
        EnergyChoice::Perf => &[SourceKind::Perf],
        EnergyChoice::Msr => &[SourceKind::Msr],
        EnergyChoice::None => {
            return EnergyStatus::Unavailable(Unavailable {
                requested: choice.name().into(),
                reason: "energy measurement turned off (`--energy none`)".into(),
                fix: None,
                tried: vec![Attempt::new("none", Problem::Off, "turned off", None)],
            })
        }
        EnergyChoice::Estimate {
            tdp_watts,
            idle_watts,
        } => {
            return match estimate::model(*tdp_watts, *idle_watts, roots) {
                Ok(m) => EnergyStatus::Estimated(m),
                Err(a) => {
                    EnergyStatus::Unavailable(Unavailable::from_attempts(choice, vec![a], false))
                }
            }
        }
    };
    let mut tried = Vec::new();
    for &kind in order {
        match open_source(kind, roots) {
            Ok(mut m) => {
                m.set_tried(tried);
                return EnergyStatus::Available(m);
            }
            Err(a) => tried.push(a),
        }
    }
    EnergyStatus::Unavailable(Unavailable::from_attempts(choice, tried, is_vm(roots)))
}

/// Whether `/proc/cpuinfo` carries the `hypervisor` flag (a virtual machine).
pub fn is_vm(roots: &Roots) -> bool {
    roots.fs.read_to_string(&roots.cpuinfo).is_ok_and(|s| {
        s.lines()
            .filter(|l| l.starts_with("flags"))
            .any(|l| l.split_whitespace().any(|f| f == "hypervisor"))
    })
}
