//! The perf `power` PMU source: the kernel's RAPL perf driver (`arch/x86/events/rapl.c`).
//!
//! Sysfs describes it under `/sys/bus/event_source/devices/power`: `type`, `format/event`
//! (`config:0-7`), `cpumask` (one CPU per counter unit), and per event
//! `events/energy-{pkg,cores,gpu,ram,psys}` with `.scale` (joules per count, 2^-32 J) and `.unit`
//! (`Joules`). [`describe`] reads that through [`crate::Fs`]; counters are opened through
//! [`crate::Roots::perf`], by default the `perf-event2` crate ([`PerfEvent2`]): a dynamic event
//! of that PMU, system-wide on one CPU (`pid = -1`), which needs `kernel.perf_event_paranoid <=
//! 0` or CAP_PERFMON. The kernel widens the 32-bit hardware counter to 64 bits and polls it
//! against wraps, so these counters count modulo 2^64.
//!
//! Which CPUs are read. `cpumask` holds one CPU per unit the kernel scopes the counter to: per
//! package on AMD/Hygon, per die on Intel (Cascade Lake-AP has two dies per package). Linux
//! 6.10's AMD 0x80000026 topology leaf made every Zen 4 CCD a "die"; kernels with it but without
//! "perf/x86/rapl: Fix the energy-pkg event for AMD CPUs" list one CPU per CCD (a 12-CCD Genoa:
//! `0,8,…,88`), all reading the one package counter. So [`plan`] keeps one CPU per counter unit
//! ([`crate::topology::package_scope`]) and records every other as a skipped duplicate; psys is
//! platform-wide and read once.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fs::{parse_cpu_list, read_trimmed, Fs};
use crate::meter::{Counter, EnergySource};
use crate::topology::{self, package_scope, PackageScope};
use crate::{Attempt, Domain, Found, Problem, Role, Roots, SourceKind};

const NAME: &str = "perf";

/// Fix for a missing PMU.
pub const FIX_ABSENT: &str = "load the perf RAPL PMU: `sudo modprobe rapl` (kernel option \
    CONFIG_PERF_EVENTS_INTEL_RAPL)";

/// Opens perf counters: the seam tests replace with a fake.
pub trait PerfOpen: Send + Sync + fmt::Debug {
    /// Opens event `event` (a file name under `pmu_dir/events`) of the PMU at `pmu_dir`,
    /// counting system-wide on `cpu`.
    fn open(&self, pmu_dir: &Path, event: &str, cpu: u32) -> io::Result<Box<dyn PerfCounter>>;
}

/// One open counter.
pub trait PerfCounter: Send + fmt::Debug {
    /// Its current count.
    fn read(&mut self) -> io::Result<u64>;
}

/// The real opener: `perf-event2`'s dynamic PMU events.
#[derive(Clone, Copy, Debug, Default)]
pub struct PerfEvent2;

#[cfg(target_os = "linux")]
mod sys {
    use std::io;
    use std::path::Path;

    use perf_event::events::DynamicBuilder;
    use perf_event::{Builder, Counter};

    /// A `perf-event2` counter.
    #[derive(Debug)]
    pub struct Open(pub Counter);

    impl super::PerfCounter for Open {
        fn read(&mut self) -> io::Result<u64> {
            self.0.read()
        }
    }

    /// The event as sysfs describes it (type, format, event terms), counting system-wide on
    /// `cpu`. The RAPL PMU rejects exclusion bits, so none is set.
    pub fn open(pmu_dir: &Path, event: &str, cpu: u32) -> io::Result<Open> {
        let mut b = DynamicBuilder::new(pmu_dir)?;
        b.event(event)?;
        let ev = b
            .build()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        let cpu = usize::try_from(cpu)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "cpu number too large"))?;
        let counter = Builder::new(ev)
            .one_cpu(cpu)
            .any_pid()
            .exclude_kernel(false)
            .exclude_hv(false)
            .enabled(true)
            .build()?;
        Ok(Open(counter))
    }
}

impl PerfOpen for PerfEvent2 {
    #[cfg(target_os = "linux")]
    fn open(&self, pmu_dir: &Path, event: &str, cpu: u32) -> io::Result<Box<dyn PerfCounter>> {
        Ok(Box::new(sys::open(pmu_dir, event, cpu)?))
    }

    #[cfg(not(target_os = "linux"))]
    fn open(&self, _: &Path, _: &str, _: u32) -> io::Result<Box<dyn PerfCounter>> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "perf_event_open exists on Linux only",
        ))
    }
}

/// One event of the PMU.
#[derive(Clone, Debug, PartialEq)]
pub struct PerfEvent {
    /// The sysfs name, e.g. `energy-pkg`.
    pub name: String,
    /// Its domain.
    pub domain: Domain,
    /// Joules per count (the `.scale` file).
    pub joules_per_unit: f64,
}

/// The PMU as sysfs describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct PerfDescription {
    /// The PMU directory.
    pub dir: PathBuf,
    /// The energy events with a known domain, in domain order.
    pub events: Vec<PerfEvent>,
    /// `cpumask`: one CPU per unit the kernel scopes the counters to (see the module doc).
    pub cpumask: Vec<u32>,
}

/// The domain of an event name.
fn event_domain(name: &str) -> Option<Domain> {
    Some(match name {
        "energy-pkg" => Domain::Package,
        "energy-cores" => Domain::Core,
        "energy-gpu" => Domain::Uncore,
        "energy-ram" => Domain::Dram,
        "energy-psys" => Domain::Psys,
        _ => return None,
    })
}

/// Reads the PMU description under `dir`.
pub fn describe(fs: &dyn Fs, dir: &Path) -> Result<PerfDescription, Attempt> {
    if !fs.exists(dir) {
        return Err(Attempt::new(
            NAME,
            Problem::Absent,
            format!("no `power` PMU at {}", dir.display()),
            Some(FIX_ABSENT),
        ));
    }
    let events_dir = dir.join("events");
    let files = fs.list_dir(&events_dir).map_err(|e| {
        Attempt::new(
            NAME,
            Problem::of(&e),
            format!("cannot list {}: {e}", events_dir.display()),
            Some(FIX_ABSENT),
        )
    })?;
    let mut events = Vec::new();
    for f in &files {
        let Some(name) = f.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(domain) = event_domain(name) else {
            continue; // `.scale`/`.unit` files and events of unknown domains
        };
        let unit = read_trimmed(fs, &events_dir.join(format!("{name}.unit"))).ok();
        if unit.as_deref().is_some_and(|u| u != "Joules") {
            continue;
        }
        let scale = read_trimmed(fs, &events_dir.join(format!("{name}.scale")))
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0);
        let Some(joules_per_unit) = scale else {
            continue; // without a scale a count means nothing
        };
        events.push(PerfEvent {
            name: name.to_string(),
            domain,
            joules_per_unit,
        });
    }
    events.sort_by_key(|e| e.domain);
    if events.is_empty() {
        return Err(Attempt::new(
            NAME,
            Problem::Absent,
            format!(
                "no energy-* events with a scale and `Joules` unit under {}",
                events_dir.display()
            ),
            Some(FIX_ABSENT),
        ));
    }
    let cpumask = read_trimmed(fs, &dir.join("cpumask"))
        .ok()
        .and_then(|s| parse_cpu_list(&s))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| vec![0]);
    Ok(PerfDescription {
        dir: dir.to_path_buf(),
        events,
        cpumask,
    })
}

/// One counter to open: an event on a CPU, and the socket it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    /// Index into [`PerfDescription::events`].
    pub event: usize,
    /// The CPU to open it on.
    pub cpu: u32,
    /// Its physical package.
    pub socket: u32,
}

/// Which CPUs of `cpumask` to open each event on: one per counter unit (package on AMD/Hygon,
/// die on Intel), psys once. Every CPU left out is listed with the reason.
pub fn plan(roots: &Roots, desc: &PerfDescription) -> (Vec<Planned>, Vec<Found>) {
    let vendor = topology::cpu_id(roots).and_then(|c| c.vendor());
    let scope = package_scope(vendor);
    let mut kept: Vec<((u32, u32), u32)> = Vec::new();
    let mut dup: Vec<(u32, u32)> = Vec::new(); // (cpu, the kept cpu it duplicates)
    for &cpu in &desc.cpumask {
        let p = topology::place(roots, cpu);
        match kept.iter().find(|(u, _)| *u == p.unit(scope)) {
            Some(&(_, first)) => dup.push((cpu, first)),
            None => kept.push((p.unit(scope), cpu)),
        }
    }
    let mut planned = Vec::new();
    let mut found = Vec::new();
    for (i, ev) in desc.events.iter().enumerate() {
        let units: &[((u32, u32), u32)] = if ev.domain == Domain::Psys {
            &kept[..1]
        } else {
            &kept[..]
        };
        for &((package, _), cpu) in units {
            planned.push(Planned {
                event: i,
                cpu,
                socket: package,
            });
        }
        for &(cpu, first) in &dup {
            let why = match scope {
                PackageScope::Package => format!(
                    "CPU {cpu} is in the same package as CPU {first}, and AMD/Hygon RAPL \
                     counters are package-wide: this kernel lists one CPU per CCD (the \
                     0x80000026 topology without the rapl.c energy-pkg fix), so reading it too \
                     would count the package again"
                ),
                PackageScope::Die => {
                    format!("CPU {cpu} is in the same package and die as CPU {first}: one counter")
                }
            };
            found.push(Found::new(
                SourceKind::Perf,
                format!("perf power/{}/ cpu {cpu}", ev.name),
                &ev.name,
                Some(ev.domain),
                Role::Skipped,
                why,
            ));
        }
        if ev.domain == Domain::Psys {
            for &(_, cpu) in kept.iter().skip(1) {
                found.push(Found::new(
                    SourceKind::Perf,
                    format!("perf power/{}/ cpu {cpu}", ev.name),
                    &ev.name,
                    Some(ev.domain),
                    Role::Skipped,
                    "psys is platform-wide: read once".to_string(),
                ));
            }
        }
    }
    (planned, found)
}

/// The perf source: one open counter per event and counter unit.
#[derive(Debug)]
pub struct PerfSource {
    counters: Vec<Counter>,
    open: Vec<Box<dyn PerfCounter>>,
    found: Vec<Found>,
}

impl EnergySource for PerfSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Perf
    }

    fn counters(&self) -> &[Counter] {
        &self.counters
    }

    fn read(&mut self, index: usize) -> Result<u64> {
        self.open[index].read().map_err(|error| Error::Read {
            location: self.counters[index].location.clone(),
            error,
        })
    }

    fn found(&self) -> Vec<Found> {
        self.found.clone()
    }
}

/// Reads the description, plans which CPUs to read, and opens every counter. An event that
/// cannot be opened on every unit is skipped with its reason (the package event must open:
/// without it there is no total); a permission denial fails the source with the fix.
pub fn open(roots: &Roots) -> Result<PerfSource, Attempt> {
    let desc = describe(&*roots.fs, &roots.perf_power)?;
    let (planned, mut found) = plan(roots, &desc);
    let mut counters = Vec::new();
    let mut open = Vec::new();
    for (i, ev) in desc.events.iter().enumerate() {
        let mine: Vec<&Planned> = planned.iter().filter(|p| p.event == i).collect();
        let mut opened = Vec::new();
        let mut failure = None;
        for p in &mine {
            match roots.perf.open(&desc.dir, &ev.name, p.cpu) {
                Ok(c) => opened.push((p, c)),
                Err(e) => {
                    failure = Some(open_failure(roots, ev, p.cpu, &e));
                    break;
                }
            }
        }
        if let Some(a) = failure {
            if ev.domain == Domain::Package || a.problem == Problem::PermissionDenied {
                return Err(a);
            }
            found.push(Found::new(
                SourceKind::Perf,
                format!("perf power/{}/", ev.name),
                &ev.name,
                Some(ev.domain),
                Role::Skipped,
                a.detail.clone(),
            ));
            continue;
        }
        for (p, c) in opened {
            let location = format!("perf power/{}/ cpu {}", ev.name, p.cpu);
            found.push(Found::new(
                SourceKind::Perf,
                location.clone(),
                &ev.name,
                Some(ev.domain),
                Role::of(ev.domain),
                Role::of(ev.domain).why(ev.domain),
            ));
            counters.push(Counter {
                domain: ev.domain,
                socket: p.socket,
                location,
                range_units: 1u128 << 64,
                joules_per_unit: ev.joules_per_unit,
            });
            open.push(c);
        }
    }
    Ok(PerfSource {
        counters,
        open,
        found,
    })
}

fn open_failure(roots: &Roots, ev: &PerfEvent, cpu: u32, e: &io::Error) -> Attempt {
    let what = format!("perf_event_open(power/{}/, cpu {cpu}) failed: {e}", ev.name);
    let denied = matches!(e.raw_os_error(), Some(EPERM | EACCES))
        || e.kind() == io::ErrorKind::PermissionDenied;
    if denied {
        let paranoid = read_trimmed(&*roots.fs, &roots.perf_paranoid)
            .map(|p| format!(" (it is {p})"))
            .unwrap_or_default();
        Attempt::new(
            NAME,
            Problem::PermissionDenied,
            what,
            Some(&format!(
                "system-wide perf events need kernel.perf_event_paranoid <= 0{paranoid} or \
                 CAP_PERFMON: `sudo sysctl kernel.perf_event_paranoid=0`, or run as root"
            )),
        )
    } else {
        Attempt::new(NAME, Problem::Unreadable, what, None)
    }
}

/// The errno values the failure report distinguishes (the same on every Linux architecture).
const EPERM: i32 = 1;
const EACCES: i32 = 13;
