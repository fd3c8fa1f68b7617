//! The MSR source: RAPL energy-status registers read through `/dev/cpu/N/msr` (module `msr`,
//! root with CAP_SYS_RAWIO).
//!
//! Registers (all counters 32 bits, `raw & 0xFFFF_FFFF`, wrapping at 2^32 units):
//!
//! | vendor | unit | package | core | uncore (PP1) | dram | psys |
//! |---|---|---|---|---|---|---|
//! | Intel | 0x606 | 0x611 | 0x639 (PP0) | 0x641 | 0x619 | 0x64D |
//! | AMD, Hygon | 0xC0010299 | 0xC001029B | 0xC001029A | – | – | – |
//!
//! The energy unit is `2^-ESU` J, ESU being bits 12:8 of the unit register. Exceptions, as in
//! the kernel's `intel_rapl_common.c`: DRAM on Intel HSW-EP, BDX, SKX, ICX and KNL/KNM servers
//! counts in a fixed 15.3 µJ; psys on Sapphire and Emerald Rapids counts in 1 J.
//!
//! A domain is present when its register reads and is non-zero (the kernel's own test). The
//! package, uncore and DRAM registers are read on the first CPU of each package (topology from
//! `cpuN/topology/physical_package_id`); psys once; AMD's core register is per physical core,
//! so it is read on one CPU of every `(package, core_id)` and summed.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::fs::{read_trimmed, Fs};
use super::meter::{Counter, EnergySource};
use super::{Attempt, Domain, Problem, Roots, SourceKind};

const NAME: &str = "msr";

/// The hardware counters are 32 bits wide.
pub const ENERGY_STATUS_MASK: u64 = 0xFFFF_FFFF;

/// Intel MSR_RAPL_POWER_UNIT.
pub const INTEL_UNIT: u64 = 0x606;
/// Intel MSR_PKG_ENERGY_STATUS.
pub const INTEL_PKG: u64 = 0x611;
/// Intel MSR_PP0_ENERGY_STATUS (cores).
pub const INTEL_PP0: u64 = 0x639;
/// Intel MSR_PP1_ENERGY_STATUS (uncore / graphics).
pub const INTEL_PP1: u64 = 0x641;
/// Intel MSR_DRAM_ENERGY_STATUS.
pub const INTEL_DRAM: u64 = 0x619;
/// Intel MSR_PLATFORM_ENERGY_STATUS (psys).
pub const INTEL_PSYS: u64 = 0x64D;
/// AMD MSR_AMD_RAPL_POWER_UNIT.
pub const AMD_UNIT: u64 = 0xC001_0299;
/// AMD MSR_AMD_CORE_ENERGY_STATUS (per core).
pub const AMD_CORE: u64 = 0xC001_029A;
/// AMD MSR_AMD_PKG_ENERGY_STATUS.
pub const AMD_PKG: u64 = 0xC001_029B;

/// Intel family-6 models whose DRAM counts in a fixed 15.3 µJ (HSW-EP 0x3F, BDX 0x4F, SKX 0x55,
/// ICX 0x6A, ICX-D 0x6C, KNL 0x57, KNM 0x85).
pub const INTEL_FIXED_DRAM_UNIT_MODELS: [u32; 7] = [0x3F, 0x4F, 0x55, 0x6A, 0x6C, 0x57, 0x85];
/// The fixed DRAM unit, joules.
pub const INTEL_FIXED_DRAM_UNIT_J: f64 = 15.3e-6;
/// Intel family-6 models whose psys counts in 1 J (SPR 0x8F, EMR 0xCF).
pub const INTEL_PSYS_1J_MODELS: [u32; 2] = [0x8F, 0xCF];

/// Fix for a missing device.
pub const FIX_ABSENT: &str = "load the msr driver: `sudo modprobe msr`";
/// Fix for a denied device.
pub const FIX_DENIED: &str = "/dev/cpu/N/msr needs root (CAP_SYS_RAWIO): run ternbench as root";

/// CPU vendors with RAPL MSRs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    /// GenuineIntel.
    Intel,
    /// AuthenticAMD or HygonGenuine.
    Amd,
}

/// What `/proc/cpuinfo` says about the first CPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuId {
    /// `vendor_id`.
    pub vendor_id: String,
    /// `cpu family`.
    pub family: u32,
    /// `model`.
    pub model: u32,
}

impl CpuId {
    /// The vendor, if it has known RAPL MSRs.
    pub fn vendor(&self) -> Option<Vendor> {
        match self.vendor_id.as_str() {
            "GenuineIntel" => Some(Vendor::Intel),
            "AuthenticAMD" | "HygonGenuine" => Some(Vendor::Amd),
            _ => None,
        }
    }
}

/// Parses the first processor's vendor, family and model from `/proc/cpuinfo`.
pub fn parse_cpuinfo(s: &str) -> Option<CpuId> {
    let (mut vendor, mut family, mut model) = (None, None, None);
    for line in s.lines() {
        if line.trim().is_empty() && vendor.is_some() {
            break; // end of the first processor
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.trim() {
            "vendor_id" => vendor = Some(v.to_string()),
            "cpu family" => family = v.parse().ok(),
            "model" => model = v.parse().ok(),
            _ => {}
        }
    }
    Some(CpuId {
        vendor_id: vendor?,
        family: family?,
        model: model?,
    })
}

/// Where a register is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// Once per package.
    Package,
    /// Once per physical core.
    Core,
    /// Once for the machine.
    Platform,
}

/// A register: its domain, address and scope.
struct Reg {
    domain: Domain,
    addr: u64,
    scope: Scope,
}

fn registers(v: Vendor) -> (u64, Vec<Reg>) {
    let r = |domain, addr, scope| Reg {
        domain,
        addr,
        scope,
    };
    match v {
        Vendor::Intel => (
            INTEL_UNIT,
            vec![
                r(Domain::Package, INTEL_PKG, Scope::Package),
                r(Domain::Core, INTEL_PP0, Scope::Package),
                r(Domain::Uncore, INTEL_PP1, Scope::Package),
                r(Domain::Dram, INTEL_DRAM, Scope::Package),
                r(Domain::Psys, INTEL_PSYS, Scope::Platform),
            ],
        ),
        Vendor::Amd => (
            AMD_UNIT,
            vec![
                r(Domain::Package, AMD_PKG, Scope::Package),
                r(Domain::Core, AMD_CORE, Scope::Core),
            ],
        ),
    }
}

/// Joules per unit from the unit register: `2^-ESU`, ESU = bits 12:8.
pub fn energy_unit_joules(unit_reg: u64) -> f64 {
    let esu = ((unit_reg >> 8) & 0x1F) as i32;
    0.5f64.powi(esu)
}

/// The unit of one domain on this CPU.
fn domain_unit(cpu: &CpuId, v: Vendor, domain: Domain, esu_unit: f64) -> f64 {
    let intel6 = v == Vendor::Intel && cpu.family == 6;
    match domain {
        Domain::Dram if intel6 && INTEL_FIXED_DRAM_UNIT_MODELS.contains(&cpu.model) => {
            INTEL_FIXED_DRAM_UNIT_J
        }
        Domain::Psys if intel6 && INTEL_PSYS_1J_MODELS.contains(&cpu.model) => 1.0,
        _ => esu_unit,
    }
}

/// One CPU's place in the topology.
#[derive(Clone, Copy, Debug)]
struct Place {
    cpu: u32,
    package: u32,
    core: u32,
}

fn topology(roots: &Roots) -> Vec<Place> {
    let fs = &*roots.fs;
    let read = |cpu: u32, f: &str| {
        read_trimmed(fs, &roots.cpu_sysfs.join(format!("cpu{cpu}/topology/{f}")))
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
    };
    roots
        .cpu_list()
        .into_iter()
        .map(|cpu| Place {
            cpu,
            package: read(cpu, "physical_package_id").unwrap_or(0),
            core: read(cpu, "core_id").unwrap_or(cpu),
        })
        .collect()
}

/// The MSR source.
#[derive(Debug)]
pub struct MsrSource {
    fs: Arc<dyn Fs>,
    counters: Vec<Counter>,
    regs: Vec<(PathBuf, u64)>,
}

impl EnergySource for MsrSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Msr
    }

    fn counters(&self) -> &[Counter] {
        &self.counters
    }

    fn read(&mut self, index: usize) -> Result<u64> {
        let (path, addr) = &self.regs[index];
        let v = self
            .fs
            .read_u64_at(path, *addr)
            .with_context(|| format!("reading MSR {addr:#x} from {}", path.display()))?;
        Ok(v & ENERGY_STATUS_MASK)
    }
}

/// Finds the RAPL MSRs this CPU has and checks they can be read.
pub fn open(roots: &Roots) -> Result<MsrSource, Attempt> {
    let fs = &*roots.fs;
    let cpuinfo = fs.read_to_string(&roots.cpuinfo).map_err(|e| {
        Attempt::new(
            NAME,
            Problem::of(&e),
            format!(
                "cannot read {} to tell the CPU vendor: {e}",
                roots.cpuinfo.display()
            ),
            None,
        )
    })?;
    let cpu = parse_cpuinfo(&cpuinfo).ok_or_else(|| {
        Attempt::new(
            NAME,
            Problem::Unreadable,
            format!(
                "no vendor_id, cpu family and model in {}",
                roots.cpuinfo.display()
            ),
            None,
        )
    })?;
    let vendor = cpu.vendor().ok_or_else(|| {
        Attempt::new(
            NAME,
            Problem::Unsupported,
            format!(
                "CPU vendor `{}` has no RAPL MSRs known to ternbench",
                cpu.vendor_id
            ),
            None,
        )
    })?;
    let places = topology(roots);
    let mut packages: Vec<u32> = places.iter().map(|p| p.package).collect();
    packages.sort_unstable();
    packages.dedup();
    let lead = |pkg: u32| {
        places
            .iter()
            .filter(|p| p.package == pkg)
            .map(|p| p.cpu)
            .min()
    };
    let dev = |cpu: u32| roots.msr_dev.join(cpu.to_string()).join("msr");

    // The unit register, on the first package's lead CPU, tells whether the device works.
    let first = lead(packages[0]).unwrap_or(0);
    let path = dev(first);
    if !fs.exists(&path) {
        return Err(Attempt::new(
            NAME,
            Problem::Absent,
            format!("{} does not exist", path.display()),
            Some(FIX_ABSENT),
        ));
    }
    let (unit_addr, regs) = registers(vendor);
    let unit = fs.read_u64_at(&path, unit_addr).map_err(|e| {
        let problem = Problem::of(&e);
        let (detail, fix) = if problem == Problem::PermissionDenied {
            (
                format!("cannot open {}: {e}", path.display()),
                Some(FIX_DENIED),
            )
        } else {
            (
                format!(
                    "cannot read the RAPL unit MSR {unit_addr:#x} from {}: {e} (this CPU or its \
                     hypervisor does not implement it)",
                    path.display()
                ),
                None,
            )
        };
        Attempt::new(NAME, problem, detail, fix)
    })?;
    let esu_unit = energy_unit_joules(unit);

    // Where each register is read.
    let mut cores: Vec<(u32, u32, u32)> = Vec::new(); // (package, core, lead cpu)
    for p in &places {
        match cores.iter_mut().find(|c| c.0 == p.package && c.1 == p.core) {
            Some(c) => c.2 = c.2.min(p.cpu),
            None => cores.push((p.package, p.core, p.cpu)),
        }
    }
    let mut counters = Vec::new();
    let mut reads = Vec::new();
    for reg in &regs {
        let sites: Vec<(u32, u32)> = match reg.scope {
            Scope::Package => packages
                .iter()
                .filter_map(|&k| Some((k, lead(k)?)))
                .collect(),
            Scope::Platform => vec![(packages[0], first)],
            Scope::Core => cores.iter().map(|&(k, _, c)| (k, c)).collect(),
        };
        let unit = domain_unit(&cpu, vendor, reg.domain, esu_unit);
        let mut found = Vec::new();
        for (socket, c) in sites {
            let p = dev(c);
            match fs.read_u64_at(&p, reg.addr) {
                Ok(v) if v & ENERGY_STATUS_MASK != 0 => found.push((socket, p)),
                Ok(_) => {} // reads zero: not implemented here
                Err(e) if Problem::of(&e) == Problem::PermissionDenied => {
                    return Err(Attempt::new(
                        NAME,
                        Problem::PermissionDenied,
                        format!("cannot open {}: {e}", p.display()),
                        Some(FIX_DENIED),
                    ))
                }
                Err(_) => {} // EIO: the register does not exist on this CPU
            }
        }
        for (socket, p) in found {
            counters.push(Counter {
                domain: reg.domain,
                socket,
                location: format!("{} @ MSR {:#x}", p.display(), reg.addr),
                range_units: 1u128 << 32,
                joules_per_unit: unit,
            });
            reads.push((p, reg.addr));
        }
    }
    if !counters.iter().any(|c| c.domain == Domain::Package) {
        return Err(Attempt::new(
            NAME,
            Problem::Unreadable,
            format!(
                "the package energy MSR reads zero or fails on {} (RAPL not implemented here)",
                path.display()
            ),
            None,
        ));
    }
    Ok(MsrSource {
        fs: Arc::clone(&roots.fs),
        counters,
        regs: reads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_from_esu() {
        assert_eq!(energy_unit_joules(0x000A_0E03), 0.5f64.powi(14));
        assert_eq!(energy_unit_joules(0x000A_1003), 0.5f64.powi(16));
        // 61.035 µJ and 15.259 µJ, the kernel's 61035 and 15258 (reference.md §4).
        assert!((energy_unit_joules(0xE00) * 1e9 - 61_035.156).abs() < 0.01);
        assert!((energy_unit_joules(0x1000) * 1e9 - 15_258.789).abs() < 0.01);
    }

    #[test]
    fn cpuinfo_parses() {
        let s = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n\
                 model name\t: Intel(R) Xeon(R)\n\nprocessor\t: 1\nvendor_id\t: Other\n";
        let c = parse_cpuinfo(s).unwrap();
        assert_eq!(c.vendor(), Some(Vendor::Intel));
        assert_eq!((c.family, c.model), (6, 85));
        assert_eq!(domain_unit(&c, Vendor::Intel, Domain::Dram, 1.0), 15.3e-6);
        assert_eq!(domain_unit(&c, Vendor::Intel, Domain::Package, 1.0), 1.0);
        assert_eq!(parse_cpuinfo("processor : 0\n"), None);
    }
}
