//! The perf `power` PMU source: the kernel's RAPL perf driver, opened with `perf_event_open`.
//!
//! The description lives in sysfs under `/sys/bus/event_source/devices/power`: `type` (the PMU
//! number), `cpumask` (one CPU per package), and per event `events/energy-{pkg,cores,gpu,ram,psys}`
//! (`event=0x02`), `.scale` (joules per count, 2^-32 J) and `.unit` (`Joules`). Parsing it
//! ([`describe`]) is plain file reading and is tested on fake trees; the system calls are in
//! the small `sys` module. The events count system-wide, so they are opened per package CPU of
//! `cpumask` with `pid = -1`; that needs `kernel.perf_event_paranoid <= 0` or CAP_PERFMON.
//! The kernel widens the 32-bit hardware counter to 64 bits (and polls it against wraps), so
//! these counters count modulo 2^64.

use std::path::Path;

use anyhow::Result;

use super::fs::{parse_cpu_list, read_trimmed, Fs};
use super::meter::{Counter, EnergySource};
use super::{Attempt, Domain, Problem, Roots, SourceKind};

const NAME: &str = "perf";

/// Fix for a missing PMU.
pub const FIX_ABSENT: &str = "load the perf RAPL PMU: `sudo modprobe rapl` (kernel option \
    CONFIG_PERF_EVENTS_INTEL_RAPL)";

/// One event of the PMU.
#[derive(Clone, Debug, PartialEq)]
pub struct PerfEvent {
    /// The sysfs name, e.g. `energy-pkg`.
    pub name: String,
    /// Its domain.
    pub domain: Domain,
    /// `attr.config` (the `event=` value; the RAPL PMU's format is `config:0-7`).
    pub config: u64,
    /// Joules per count (the `.scale` file).
    pub joules_per_unit: f64,
}

/// The PMU as sysfs describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct PerfDescription {
    /// `attr.type`.
    pub pmu_type: u32,
    /// The energy events with a known domain, in domain order.
    pub events: Vec<PerfEvent>,
    /// One CPU per package, from `cpumask`.
    pub cpus: Vec<u32>,
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

/// Parses an event's config (`event=0x02`). Other terms are not expected from this PMU.
pub fn parse_event_config(s: &str) -> Option<u64> {
    let mut config = None;
    for term in s.trim().split(',') {
        let (k, v) = term.split_once('=')?;
        if k.trim() != "event" {
            return None;
        }
        let v = v.trim();
        config = Some(match v.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).ok()?,
            None => v.parse().ok()?,
        });
    }
    config
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
    let type_path = dir.join("type");
    let pmu_type = read_trimmed(fs, &type_path)
        .map_err(|e| e.to_string())
        .and_then(|s| s.parse::<u32>().map_err(|e| format!("`{s}`: {e}")))
        .map_err(|e| {
            Attempt::new(
                NAME,
                Problem::Unreadable,
                format!("cannot read {}: {e}", type_path.display()),
                None,
            )
        })?;
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
        let Some(config) = read_trimmed(fs, f)
            .ok()
            .and_then(|s| parse_event_config(&s))
        else {
            continue;
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
            config,
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
    let cpus = read_trimmed(fs, &dir.join("cpumask"))
        .ok()
        .and_then(|s| parse_cpu_list(&s))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| vec![0]);
    Ok(PerfDescription {
        pmu_type,
        events,
        cpus,
    })
}

/// The perf source: one open counter per event and package CPU.
#[derive(Debug)]
pub struct PerfSource {
    counters: Vec<Counter>,
    files: Vec<std::fs::File>,
}

impl EnergySource for PerfSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Perf
    }

    fn counters(&self) -> &[Counter] {
        &self.counters
    }

    fn read(&mut self, index: usize) -> Result<u64> {
        sys::read_counter(&self.files[index])
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", self.counters[index].location))
    }
}

/// Reads the description and opens every counter.
pub fn open(roots: &Roots) -> Result<PerfSource, Attempt> {
    let desc = describe(&*roots.fs, &roots.perf_power)?;
    let mut counters = Vec::new();
    let mut files = Vec::new();
    for ev in &desc.events {
        // psys is platform-wide: once, on the first package's CPU.
        let cpus = if ev.domain == Domain::Psys {
            &desc.cpus[..1]
        } else {
            &desc.cpus[..]
        };
        for (socket, &cpu) in cpus.iter().enumerate() {
            let file = sys::open_counter(desc.pmu_type, ev.config, cpu)
                .map_err(|e| open_failure(roots, &desc, ev, cpu, &e))?;
            files.push(file);
            counters.push(Counter {
                domain: ev.domain,
                socket: socket as u32,
                location: format!("perf power/{}/ cpu {cpu}", ev.name),
                range_units: 1u128 << 64,
                joules_per_unit: ev.joules_per_unit,
            });
        }
    }
    Ok(PerfSource { counters, files })
}

fn open_failure(
    roots: &Roots,
    desc: &PerfDescription,
    ev: &PerfEvent,
    cpu: u32,
    e: &std::io::Error,
) -> Attempt {
    let what = format!(
        "perf_event_open(type {}, config {:#x} = {}, cpu {cpu}) failed: {e}",
        desc.pmu_type, ev.config, ev.name
    );
    let denied = matches!(
        e.raw_os_error(),
        Some(libc_errno::EACCES | libc_errno::EPERM)
    );
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
mod libc_errno {
    pub const EPERM: i32 = 1;
    pub const EACCES: i32 = 13;
}

/// The thin system-call layer: open one system-wide counter, read its value.
#[cfg(target_os = "linux")]
mod sys {
    use std::io::{self, Read};
    use std::os::fd::{FromRawFd, OwnedFd};

    /// `struct perf_event_attr` up to `config1` (PERF_ATTR_SIZE_VER0, 64 bytes). The bit-field
    /// word `flags` is all zero: counting starts at open, nothing excluded (the RAPL PMU rejects
    /// exclusion bits).
    #[repr(C)]
    #[derive(Default)]
    struct PerfEventAttr {
        type_: u32,
        size: u32,
        config: u64,
        sample_period: u64,
        sample_type: u64,
        read_format: u64,
        flags: u64,
        wakeup_events: u32,
        bp_type: u32,
        config1: u64,
    }

    const PERF_ATTR_SIZE_VER0: u32 = 64;
    const _: () = assert!(std::mem::size_of::<PerfEventAttr>() == PERF_ATTR_SIZE_VER0 as usize);
    const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;

    /// Opens event `config` of PMU `pmu_type` counting system-wide on `cpu`.
    pub fn open_counter(pmu_type: u32, config: u64, cpu: u32) -> io::Result<std::fs::File> {
        let attr = PerfEventAttr {
            type_: pmu_type,
            size: PERF_ATTR_SIZE_VER0,
            config,
            ..Default::default()
        };
        let cpu = libc::c_int::try_from(cpu)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "cpu number too large"))?;
        // SAFETY: `attr` is a fully initialised perf_event_attr of the size it declares and
        // outlives the call, which only reads it; the other arguments are plain integers
        // (pid -1 = all processes, group_fd -1 = no group).
        let fd = unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                &attr as *const PerfEventAttr,
                -1 as libc::pid_t,
                cpu,
                -1 as libc::c_int,
                PERF_FLAG_FD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = libc::c_int::try_from(fd)
            .map_err(|_| io::Error::other("perf_event_open returned an out-of-range fd"))?;
        // SAFETY: `fd` is a descriptor the kernel has just returned to us; nothing else owns
        // it, so `OwnedFd` may take it over and close it on drop.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(std::fs::File::from(owned))
    }

    /// The counter's current value (read_format 0: one u64).
    pub fn read_counter(file: &std::fs::File) -> io::Result<u64> {
        let mut buf = [0u8; 8];
        (&*file).read_exact(&mut buf)?;
        Ok(u64::from_ne_bytes(buf))
    }
}

/// Elsewhere there is no perf: opening always fails.
#[cfg(not(target_os = "linux"))]
mod sys {
    use std::io;

    pub fn open_counter(_: u32, _: u64, _: u32) -> io::Result<std::fs::File> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "perf_event_open exists on Linux only",
        ))
    }

    pub fn read_counter(_: &std::fs::File) -> io::Result<u64> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "perf_event_open exists on Linux only",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_parse() {
        assert_eq!(parse_event_config("event=0x02\n"), Some(2));
        assert_eq!(parse_event_config("event=5"), Some(5));
        assert_eq!(parse_event_config("event=0x02,umask=0x1"), None);
        assert_eq!(parse_event_config("garbage"), None);
    }
}
