//! The powercap sysfs source: RAPL zones under `/sys/class/powercap` (Intel `intel-rapl:*`,
//! AMD Zen through the same driver on Linux ≥ 5.11, and `intel-rapl-mmio:*`).
//!
//! Zones are found by the text of their `name` file, never by index: `package-N` (or
//! `package-N-die-M` on multi-die parts), `core`, `uncore` and `dram` below a package, `psys`
//! at the top. Each zone gives `energy_uj` (µJ, wrapping at `max_energy_range_uj`).
//! Duplicates are skipped:
//! - an `intel-rapl-mmio:*` zone (and its children) when an MSR zone has the same domain and
//!   socket: both read the same package counter;
//! - mirrored die zones: when every `package-N-die-M` of a socket reads the same value (within
//!   [`MIRROR_TOLERANCE_UJ`]), they are one counter seen several times and only die 0 is kept;
//!   dies that read different values are distinct counters and are summed.
//!
//! Since Linux 5.10 `energy_uj` is readable by root only (CVE-2020-8694); the error says so and
//! points at `scripts/rapl-permissions.sh`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};

use super::fs::{read_trimmed, read_u64, Fs};
use super::meter::{Counter, EnergySource};
use super::{Attempt, Domain, Problem, Roots, SourceKind};

const NAME: &str = "powercap";

/// Two die zones of one socket whose readings differ by no more than this (µJ) are taken as
/// mirrors of one counter: read microseconds apart, one counter moves by well under 1 J, while
/// two distinct dies' totals since boot differ by far more.
pub const MIRROR_TOLERANCE_UJ: u64 = 1_000_000;

/// Fix for a missing driver.
pub const FIX_ABSENT: &str = "load the RAPL powercap driver: `sudo modprobe intel_rapl_msr` \
    (pulls in intel_rapl_common; Intel, and AMD Zen on Linux >= 5.11)";

/// Fix for root-only `energy_uj`.
pub const FIX_DENIED: &str = "energy_uj is readable by root only since Linux 5.10 \
    (CVE-2020-8694): run `sudo scripts/rapl-permissions.sh`, or run ternbench as root";

/// What a zone's `name` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneName {
    /// `package-N` or `package-N-die-M`.
    Package {
        /// N.
        socket: u32,
        /// M, on multi-die parts.
        die: Option<u32>,
    },
    /// `core`, `uncore` or `dram`: a child of a package zone.
    Sub(Domain),
    /// `psys` (or `psys-N`).
    Psys(u32),
}

/// Parses a zone's `name`; `None` for names that are not RAPL domains.
pub fn parse_zone_name(s: &str) -> Option<ZoneName> {
    let s = s.trim();
    match s {
        "core" => return Some(ZoneName::Sub(Domain::Core)),
        "uncore" => return Some(ZoneName::Sub(Domain::Uncore)),
        "dram" => return Some(ZoneName::Sub(Domain::Dram)),
        "psys" => return Some(ZoneName::Psys(0)),
        _ => {}
    }
    if let Some(n) = s.strip_prefix("psys-") {
        return n.parse().ok().map(ZoneName::Psys);
    }
    let rest = s.strip_prefix("package-")?;
    match rest.split_once("-die-") {
        Some((p, d)) => Some(ZoneName::Package {
            socket: p.parse().ok()?,
            die: Some(d.parse().ok()?),
        }),
        None => Some(ZoneName::Package {
            socket: rest.parse().ok()?,
            die: None,
        }),
    }
}

/// One RAPL zone found under the powercap root.
#[derive(Clone, Debug)]
struct Zone {
    /// Directory name, e.g. `intel-rapl:0:1`.
    id: String,
    dir: PathBuf,
    mmio: bool,
    domain: Domain,
    socket: u32,
    die: Option<u32>,
}

impl Zone {
    /// The zone id of the parent, e.g. `intel-rapl:0` for `intel-rapl:0:1`.
    fn parent_id(id: &str) -> Option<&str> {
        let (head, _) = id.rsplit_once(':')?;
        head.contains(':').then_some(head)
    }

    fn key(&self) -> (Domain, u32, Option<u32>) {
        (self.domain, self.socket, self.die)
    }
}

/// Lists RAPL zones: directories with `name` and `energy_uj`, named as RAPL domains.
fn find_zones(fs: &dyn Fs, root: &Path) -> Result<Vec<Zone>, Attempt> {
    let entries = fs.list_dir(root).map_err(|e| {
        let detail = if Problem::of(&e) == Problem::Absent {
            format!(
                "{} does not exist (no powercap driver loaded)",
                root.display()
            )
        } else {
            format!("cannot list {}: {e}", root.display())
        };
        Attempt::new(NAME, Problem::of(&e), detail, Some(FIX_ABSENT))
    })?;
    let mut named = Vec::new();
    for dir in entries {
        let Some(id) = dir.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        if !id.contains(':') || !fs.exists(&dir.join("energy_uj")) {
            continue; // a control type (`intel-rapl`) or not an energy zone
        }
        let Ok(name) = read_trimmed(fs, &dir.join("name")) else {
            continue;
        };
        if let Some(zn) = parse_zone_name(&name) {
            named.push((id, dir, zn));
        }
    }
    let mut zones = Vec::new();
    for (id, dir, zn) in &named {
        let mmio = id.split(':').next().is_some_and(|t| t.contains("mmio"));
        let (domain, socket, die) = match *zn {
            ZoneName::Package { socket, die } => (Domain::Package, socket, die),
            ZoneName::Psys(s) => (Domain::Psys, s, None),
            ZoneName::Sub(d) => {
                // The socket (and die) is the parent package's.
                let parent = Zone::parent_id(id)
                    .and_then(|p| named.iter().find(|(pid, _, _)| pid == p))
                    .map(|(_, _, pz)| *pz);
                match parent {
                    Some(ZoneName::Package { socket, die }) => (d, socket, die),
                    _ => (d, 0, None),
                }
            }
        };
        zones.push(Zone {
            id: id.clone(),
            dir: dir.clone(),
            mmio,
            domain,
            socket,
            die,
        });
    }
    Ok(zones)
}

/// Drops zones whose parent zone was dropped.
fn drop_orphans(zones: &mut Vec<Zone>, dropped: &[String]) {
    zones.retain(|z| !Zone::parent_id(&z.id).is_some_and(|p| dropped.iter().any(|d| d == p)));
}

/// Drops MMIO zones that duplicate an MSR zone's domain and socket.
fn drop_mmio_duplicates(zones: &mut Vec<Zone>) {
    let msr_keys: Vec<_> = zones.iter().filter(|z| !z.mmio).map(Zone::key).collect();
    let dropped: Vec<String> = zones
        .iter()
        .filter(|z| z.mmio && msr_keys.contains(&z.key()))
        .map(|z| z.id.clone())
        .collect();
    zones.retain(|z| !dropped.contains(&z.id));
    drop_orphans(zones, &dropped);
}

/// Drops mirrored die zones (same reading as die 0 of the socket), given each zone's reading.
fn drop_mirrored_dies(zones: &mut Vec<Zone>, values: &[(String, u64)]) {
    let value = |id: &str| values.iter().find(|(i, _)| i == id).map(|&(_, v)| v);
    let mut dropped = Vec::new();
    let mut sockets: Vec<u32> = zones
        .iter()
        .filter(|z| z.domain == Domain::Package && z.die.is_some())
        .map(|z| z.socket)
        .collect();
    sockets.sort_unstable();
    sockets.dedup();
    for s in sockets {
        let mut dies: Vec<&Zone> = zones
            .iter()
            .filter(|z| z.domain == Domain::Package && z.socket == s && z.die.is_some())
            .collect();
        dies.sort_by_key(|z| z.die);
        let Some(first) = dies.first().and_then(|z| value(&z.id)) else {
            continue;
        };
        let mirrored = dies.len() > 1
            && dies
                .iter()
                .all(|z| value(&z.id).is_some_and(|v| v.abs_diff(first) <= MIRROR_TOLERANCE_UJ));
        if mirrored {
            dropped.extend(dies[1..].iter().map(|z| z.id.clone()));
        }
    }
    zones.retain(|z| !dropped.contains(&z.id));
    drop_orphans(zones, &dropped);
}

/// The powercap source: one `energy_uj` file per counter.
#[derive(Debug)]
pub struct PowercapSource {
    fs: Arc<dyn Fs>,
    counters: Vec<Counter>,
}

impl EnergySource for PowercapSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Powercap
    }

    fn counters(&self) -> &[Counter] {
        &self.counters
    }

    fn read(&mut self, index: usize) -> Result<u64> {
        let path = Path::new(&self.counters[index].location);
        read_u64(&*self.fs, path).with_context(|| format!("reading {}", path.display()))
    }
}

/// Finds the RAPL zones under `roots.powercap` and checks each can be read.
pub fn open(roots: &Roots) -> Result<PowercapSource, Attempt> {
    let fs = &*roots.fs;
    let mut zones = find_zones(fs, &roots.powercap)?;
    if zones.is_empty() {
        return Err(Attempt::new(
            NAME,
            Problem::Absent,
            format!(
                "no RAPL zones (directories with `name` and `energy_uj`) under {}",
                roots.powercap.display()
            ),
            Some(FIX_ABSENT),
        ));
    }
    drop_mmio_duplicates(&mut zones);
    let mut values = Vec::new();
    for z in &zones {
        let p = z.dir.join("energy_uj");
        let v = read_u64(fs, &p).map_err(|e| {
            let problem = Problem::of(&e);
            let fix = (problem == Problem::PermissionDenied).then_some(FIX_DENIED);
            Attempt::new(
                NAME,
                problem,
                format!("cannot read {}: {e}", p.display()),
                fix,
            )
        })?;
        values.push((z.id.clone(), v));
    }
    drop_mirrored_dies(&mut zones, &values);
    zones.sort_by_key(|z| (z.domain, z.socket, z.die, z.id.clone()));
    let mut counters = Vec::new();
    for z in &zones {
        let p = z.dir.join("max_energy_range_uj");
        let range = read_u64(fs, &p).map_err(|e| {
            Attempt::new(
                NAME,
                Problem::of(&e),
                format!(
                    "cannot read {} (needed to handle wraparound): {e}",
                    p.display()
                ),
                None,
            )
        })?;
        if range == 0 {
            return Err(Attempt::new(
                NAME,
                Problem::Unreadable,
                format!("{} is 0: wraparound cannot be handled", p.display()),
                None,
            ));
        }
        counters.push(Counter {
            domain: z.domain,
            socket: z.socket,
            location: z.dir.join("energy_uj").display().to_string(),
            range_units: u128::from(range),
            joules_per_unit: 1e-6,
        });
    }
    Ok(PowercapSource {
        fs: Arc::clone(&roots.fs),
        counters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_names_parse() {
        assert_eq!(
            parse_zone_name("package-1\n"),
            Some(ZoneName::Package {
                socket: 1,
                die: None
            })
        );
        assert_eq!(
            parse_zone_name("package-0-die-1"),
            Some(ZoneName::Package {
                socket: 0,
                die: Some(1)
            })
        );
        assert_eq!(parse_zone_name("dram"), Some(ZoneName::Sub(Domain::Dram)));
        assert_eq!(parse_zone_name("psys"), Some(ZoneName::Psys(0)));
        assert_eq!(parse_zone_name("psys-1"), Some(ZoneName::Psys(1)));
        assert_eq!(parse_zone_name("package-x"), None);
        assert_eq!(parse_zone_name("dtpm"), None);
    }

    #[test]
    fn parent_ids() {
        assert_eq!(Zone::parent_id("intel-rapl:0:1"), Some("intel-rapl:0"));
        assert_eq!(Zone::parent_id("intel-rapl:0"), None);
        assert_eq!(Zone::parent_id("intel-rapl-mmio:0"), None);
    }
}
