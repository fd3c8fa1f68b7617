//! The powercap sysfs source: RAPL zones under `/sys/class/powercap` (Intel `intel-rapl:*`,
//! AMD Zen through the same driver on Linux >= 5.11, and `intel-rapl-mmio:*`), as
//! `drivers/powercap/intel_rapl_common.c` registers them through `powercap_sys.c`.
//!
//! Zones are found by the text of their `name` file, never by index: `package-N` (or
//! `package-N-die-M` when the kernel sees several dies per package), `core`, `uncore` and
//! `dram` below a package, `psys` at the top. Each zone gives `energy_uj` (µJ, wrapping at
//! `max_energy_range_uj`). Every zone found is listed ([`crate::Found`]) with what is done with
//! it and why:
//! - an `intel-rapl-mmio:*` zone (and its children) with the same domain and socket as an MSR
//!   zone is skipped: both read one package counter;
//! - die zones follow the kernel's counter scope (`rapl_msrs_are_pkg_scope()`): on AMD/Hygon
//!   the package counter is package-wide, so every `package-N-die-M` but the first of a package
//!   is a mirror of it (Linux 6.10's 0x80000026 topology made each Zen 4 CCD a "die"; kernels
//!   without "powercap/intel_rapl: Fix the energy-pkg event for AMD CPUs" register one zone per
//!   CCD, all reading MSR_AMD_PKG_ENERGY_STATUS) and is skipped; on Intel each die has its own
//!   counter (Cascade Lake-AP) and they are summed;
//! - AMD's `core` zone is MSR_AMD_CORE_ENERGY_STATUS read on the package's lead CPU
//!   (`intel_rapl_msr.c`): the energy of one core, not of all cores. It is not reported as
//!   `core` (the MSR source sums that register over every core); it is listed as skipped;
//! - a zone that cannot be read is skipped with the reason and the fix (a permission recipe
//!   often opens package and core but leaves psys root-only); a domain counts only when every
//!   one of its zones reads, and the source fails when a package zone cannot be read.
//!
//! `energy_uj` is readable by root only since the CVE-2020-8694 fix ([`FIX_DENIED`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::fs::{read_trimmed, read_u64, Fs};
use crate::meter::{Counter, EnergySource};
use crate::topology::{self, package_scope, PackageScope, Vendor};
use crate::{Attempt, Domain, Found, Problem, Role, Roots, SourceKind};

const NAME: &str = "powercap";

/// Fix for a missing driver.
pub const FIX_ABSENT: &str = "load the RAPL powercap driver: `sudo modprobe intel_rapl_msr` \
    (pulls in intel_rapl_common; Intel, and AMD Zen on Linux >= 5.11)";

/// Fix for root-only `energy_uj`.
pub const FIX_DENIED: &str = "energy_uj is readable by root only since the CVE-2020-8694 fix \
    (Linux 5.10, backported to 4.4.242, 4.9.242, 4.14.206, 4.19.156 and to distribution \
    kernels): run `sudo scripts/rapl-permissions.sh`, or run ternbench as root";

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

/// A zone's domain, socket and die.
type ZoneKey = (Domain, u32, Option<u32>);

/// One RAPL zone found under the powercap root.
#[derive(Clone, Debug)]
struct Zone {
    /// Directory name, e.g. `intel-rapl:0:1`.
    id: String,
    /// The text of its `name`.
    name: String,
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

    fn key(&self) -> ZoneKey {
        (self.domain, self.socket, self.die)
    }

    fn found(&self, role: Role, why: impl Into<String>) -> Found {
        Found::new(
            SourceKind::Powercap,
            self.dir.display().to_string(),
            &self.name,
            Some(self.domain),
            role,
            why,
        )
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
            named.push((id, name, dir, zn));
        }
    }
    let mut zones = Vec::new();
    for (id, name, dir, zn) in &named {
        let mmio = id.split(':').next().is_some_and(|t| t.contains("mmio"));
        let (domain, socket, die) = match *zn {
            ZoneName::Package { socket, die } => (Domain::Package, socket, die),
            ZoneName::Psys(s) => (Domain::Psys, s, None),
            ZoneName::Sub(d) => {
                // The socket (and die) is the parent package's.
                let parent = Zone::parent_id(id)
                    .and_then(|p| named.iter().find(|(pid, _, _, _)| pid == p))
                    .map(|(_, _, _, pz)| *pz);
                match parent {
                    Some(ZoneName::Package { socket, die }) => (d, socket, die),
                    _ => (d, 0, None),
                }
            }
        };
        zones.push(Zone {
            id: id.clone(),
            name: name.clone(),
            dir: dir.clone(),
            mmio,
            domain,
            socket,
            die,
        });
    }
    Ok(zones)
}

/// Removes the zones `drop` names (with their children), recording each with `why(zone)`.
fn drop_zones(
    zones: &mut Vec<Zone>,
    found: &mut Vec<Found>,
    drop: &[String],
    why: &dyn Fn(&Zone) -> String,
) {
    let gone = |z: &Zone| {
        drop.contains(&z.id) || Zone::parent_id(&z.id).is_some_and(|p| drop.iter().any(|d| d == p))
    };
    for z in zones.iter().filter(|z| gone(z)) {
        let w = if drop.contains(&z.id) {
            why(z)
        } else {
            format!(
                "child of skipped zone {}",
                Zone::parent_id(&z.id).unwrap_or("?")
            )
        };
        found.push(z.found(Role::Skipped, w));
    }
    zones.retain(|z| !gone(z));
}

/// Skips MMIO zones that duplicate an MSR zone's domain and socket.
fn drop_mmio_duplicates(zones: &mut Vec<Zone>, found: &mut Vec<Found>) {
    let msr: Vec<(String, ZoneKey)> = zones
        .iter()
        .filter(|z| !z.mmio)
        .map(|z| (z.id.clone(), z.key()))
        .collect();
    let dropped: Vec<String> = zones
        .iter()
        .filter(|z| z.mmio && msr.iter().any(|(_, k)| *k == z.key()))
        .map(|z| z.id.clone())
        .collect();
    drop_zones(zones, found, &dropped, &|z| {
        let twin = msr
            .iter()
            .find(|(_, k)| *k == z.key())
            .map_or("?", |(id, _)| id.as_str());
        format!("the MMIO interface to the counter {twin} reads: a duplicate")
    });
}

/// Skips die zones that mirror one package-wide counter (AMD/Hygon): every die zone of a
/// package but the lowest-numbered.
fn drop_mirrored_dies(zones: &mut Vec<Zone>, found: &mut Vec<Found>, scope: PackageScope) {
    if scope != PackageScope::Package {
        return;
    }
    let mut dropped = Vec::new();
    let mut firsts: Vec<(u32, u32, String)> = Vec::new(); // (socket, die, name)
    let mut dies: Vec<&Zone> = zones
        .iter()
        .filter(|z| z.domain == Domain::Package && z.die.is_some())
        .collect();
    dies.sort_by_key(|z| (z.socket, z.die));
    for z in dies {
        match firsts.iter().find(|f| f.0 == z.socket) {
            Some(_) => dropped.push(z.id.clone()),
            None => firsts.push((z.socket, z.die.unwrap_or(0), z.name.clone())),
        }
    }
    drop_zones(zones, found, &dropped, &|z| {
        let first = firsts
            .iter()
            .find(|f| f.0 == z.socket)
            .map_or("?".to_string(), |f| f.2.clone());
        format!(
            "a mirror of {first}: AMD/Hygon package counters are package-wide (the kernel's \
             rapl_msrs_are_pkg_scope); this kernel registers one zone per CCD (the \
             0x80000026 topology without the intel_rapl_common energy-pkg fix), all reading \
             the same counter"
        )
    });
}

/// Skips AMD's `core` zones: one core's energy, not all cores'.
fn drop_amd_core(zones: &mut Vec<Zone>, found: &mut Vec<Found>, vendor: Option<Vendor>) {
    if vendor != Some(Vendor::Amd) {
        return;
    }
    let dropped: Vec<String> = zones
        .iter()
        .filter(|z| z.domain == Domain::Core)
        .map(|z| z.id.clone())
        .collect();
    drop_zones(zones, found, &dropped, &|_| {
        "one core only: on AMD this zone is MSR_AMD_CORE_ENERGY_STATUS read on the package's \
         lead CPU (intel_rapl_msr.c), the energy of that one core, not of all cores; not \
         reported as `core` (`--energy msr` sums the register over every core)"
            .to_string()
    });
}

/// The powercap source: one `energy_uj` file per counter.
#[derive(Debug)]
pub struct PowercapSource {
    fs: Arc<dyn Fs>,
    counters: Vec<Counter>,
    found: Vec<Found>,
}

impl EnergySource for PowercapSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Powercap
    }

    fn counters(&self) -> &[Counter] {
        &self.counters
    }

    fn read(&mut self, index: usize) -> Result<u64> {
        let location = &self.counters[index].location;
        read_u64(&*self.fs, Path::new(location)).map_err(|error| Error::Read {
            location: location.clone(),
            error,
        })
    }

    fn found(&self) -> Vec<Found> {
        self.found.clone()
    }
}

/// Reads one zone's `energy_uj` and `max_energy_range_uj`: the range, or why it cannot be used.
fn check_zone(fs: &dyn Fs, z: &Zone) -> Result<u64, Attempt> {
    let p = z.dir.join("energy_uj");
    read_u64(fs, &p).map_err(|e| {
        let problem = Problem::of(&e);
        let fix = (problem == Problem::PermissionDenied).then_some(FIX_DENIED);
        Attempt::new(
            NAME,
            problem,
            format!("cannot read {}: {e}", p.display()),
            fix,
        )
    })?;
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
    Ok(range)
}

/// Finds the RAPL zones under `roots.powercap`, decides which to read (see the module doc) and
/// checks each can be read.
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
    let vendor = topology::cpu_id(roots).and_then(|c| c.vendor());
    let mut found = Vec::new();
    drop_mmio_duplicates(&mut zones, &mut found);
    drop_mirrored_dies(&mut zones, &mut found, package_scope(vendor));
    drop_amd_core(&mut zones, &mut found, vendor);
    zones.sort_by_key(|z| (z.domain, z.socket, z.die, z.id.clone()));

    // Read every zone; an unreadable one is skipped, and takes its whole domain with it (a
    // partial sum is not a figure). A package zone that cannot be read fails the source.
    let mut ranges = Vec::new();
    let mut bad: Vec<(Domain, String)> = Vec::new();
    for z in &zones {
        match check_zone(fs, z) {
            Ok(r) => ranges.push(Some(r)),
            Err(a) => {
                if z.domain == Domain::Package {
                    return Err(a);
                }
                let mut f = Found::unreadable(SourceKind::Powercap, &z.name, Some(z.domain), &a);
                f.location = z.dir.display().to_string();
                found.push(f);
                bad.push((z.domain, z.id.clone()));
                ranges.push(None);
            }
        }
    }
    let mut counters = Vec::new();
    for (z, range) in zones.iter().zip(ranges) {
        let Some(range) = range else { continue };
        if let Some((_, other)) = bad.iter().find(|(d, _)| *d == z.domain) {
            found.push(z.found(
                Role::Skipped,
                format!(
                    "readable, but zone {other} of the same domain is not: {} is left out \
                     rather than summed in part",
                    z.domain
                ),
            ));
            continue;
        }
        let role = Role::of(z.domain);
        found.push(z.found(role, role.why(z.domain)));
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
        found,
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
