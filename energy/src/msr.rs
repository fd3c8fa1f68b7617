//! The MSR source: RAPL energy-status registers read through `/dev/cpu/N/msr` (module `msr`,
//! root with CAP_SYS_RAWIO), as `drivers/powercap/intel_rapl_msr.c` and
//! `intel_rapl_common.c` read them.
//!
//! Registers (all counters 32 bits, `raw & 0xFFFF_FFFF`, wrapping at 2^32 units):
//!
//! | vendor | unit | package | core | uncore (PP1) | dram | psys |
//! |---|---|---|---|---|---|---|
//! | Intel | 0x606 | 0x611 | 0x639 (PP0) | 0x641 | 0x619 | 0x64D |
//! | AMD, Hygon | 0xC0010299 | 0xC001029B | 0xC001029A | – | – | – |
//!
//! Units, as the kernel's `rapl_check_unit_core` / `rapl_check_unit_atom` and
//! `rapl_get_domain_unit`: ESU is bits 12:8 of the unit register; one count is `2^-ESU` J,
//! except on the Silvermont and Airmont Atoms (family 6 models 0x37, 0x4A, 0x4C, 0x5A), where
//! it is `2^ESU` µJ. DRAM on Intel HSW-EP, BDX, SKX, ICX and KNL/KNM servers counts in a fixed
//! 15.3 µJ; psys on Sapphire and Emerald Rapids in 1 J.
//!
//! Where each register is read (the kernel's `rapl_msrs_are_pkg_scope()`): on AMD/Hygon the
//! package register is package-wide, read on one CPU of each physical package; on Intel the
//! package, core, uncore and DRAM registers are per die, read on one CPU of each die (Cascade
//! Lake-AP has two dies per package, each with its own counters). psys is read once. AMD's core
//! register is per physical core, read on one CPU of every core and summed, so `core` means
//! all cores here as on Intel. A register is present when it reads and is non-zero (the
//! kernel's `rapl_check_domain`).

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::fs::Fs;
use crate::meter::{Counter, EnergySource};
use crate::topology::{self, lead_cpus, package_scope, CpuId, PackageScope, Vendor};
use crate::{Attempt, Domain, Found, Problem, Role, Roots, SourceKind};

pub use crate::topology::parse_cpuinfo;

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
/// Intel family-6 Atoms whose unit is `2^ESU` µJ (`rapl_check_unit_atom`): Silvermont 0x37
/// (Bay Trail), Silvermont-MID 0x4A (Tangier), Airmont 0x4C (Cherry Trail), Airmont-MID 0x5A
/// (Anniedale).
pub const INTEL_ATOM_UNIT_MODELS: [u32; 4] = [0x37, 0x4A, 0x4C, 0x5A];

/// Fix for a missing device.
pub const FIX_ABSENT: &str = "load the msr driver: `sudo modprobe msr`";
/// Fix for a denied device.
pub const FIX_DENIED: &str = "/dev/cpu/N/msr needs root (CAP_SYS_RAWIO): run ternbench as root";

/// Where a register is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// Once per counter unit: package (AMD/Hygon) or die (Intel).
    Unit,
    /// Once per physical core.
    Core,
    /// Once for the machine.
    Platform,
}

/// A register: its domain, address, name and scope.
struct Reg {
    domain: Domain,
    addr: u64,
    name: &'static str,
    scope: Scope,
}

fn registers(v: Vendor) -> (u64, Vec<Reg>) {
    let r = |domain, addr, name, scope| Reg {
        domain,
        addr,
        name,
        scope,
    };
    match v {
        Vendor::Intel => (
            INTEL_UNIT,
            vec![
                r(
                    Domain::Package,
                    INTEL_PKG,
                    "MSR_PKG_ENERGY_STATUS",
                    Scope::Unit,
                ),
                r(
                    Domain::Core,
                    INTEL_PP0,
                    "MSR_PP0_ENERGY_STATUS",
                    Scope::Unit,
                ),
                r(
                    Domain::Uncore,
                    INTEL_PP1,
                    "MSR_PP1_ENERGY_STATUS",
                    Scope::Unit,
                ),
                r(
                    Domain::Dram,
                    INTEL_DRAM,
                    "MSR_DRAM_ENERGY_STATUS",
                    Scope::Unit,
                ),
                r(
                    Domain::Psys,
                    INTEL_PSYS,
                    "MSR_PLATFORM_ENERGY_STATUS",
                    Scope::Platform,
                ),
            ],
        ),
        Vendor::Amd => (
            AMD_UNIT,
            vec![
                r(
                    Domain::Package,
                    AMD_PKG,
                    "MSR_AMD_PKG_ENERGY_STATUS",
                    Scope::Unit,
                ),
                r(
                    Domain::Core,
                    AMD_CORE,
                    "MSR_AMD_CORE_ENERGY_STATUS",
                    Scope::Core,
                ),
            ],
        ),
    }
}

/// Joules per unit from the unit register on most CPUs: `2^-ESU`, ESU = bits 12:8
/// (`rapl_check_unit_core`).
pub fn energy_unit_joules(unit_reg: u64) -> f64 {
    let esu = ((unit_reg >> 8) & 0x1F) as i32;
    0.5f64.powi(esu)
}

/// Joules per unit on the Silvermont/Airmont Atoms: `2^ESU` µJ (`rapl_check_unit_atom`).
pub fn atom_energy_unit_joules(unit_reg: u64) -> f64 {
    let esu = ((unit_reg >> 8) & 0x1F) as i32;
    2f64.powi(esu) * 1e-6
}

/// The unit of one domain on this CPU, from the unit register.
pub fn domain_unit(cpu: &CpuId, domain: Domain, unit_reg: u64) -> f64 {
    match domain {
        Domain::Dram if cpu.is_intel6(&INTEL_FIXED_DRAM_UNIT_MODELS) => INTEL_FIXED_DRAM_UNIT_J,
        Domain::Psys if cpu.is_intel6(&INTEL_PSYS_1J_MODELS) => 1.0,
        _ if cpu.is_intel6(&INTEL_ATOM_UNIT_MODELS) => atom_energy_unit_joules(unit_reg),
        _ => energy_unit_joules(unit_reg),
    }
}

/// The MSR source.
#[derive(Debug)]
pub struct MsrSource {
    fs: Arc<dyn Fs>,
    counters: Vec<Counter>,
    regs: Vec<(PathBuf, u64)>,
    found: Vec<Found>,
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
            .map_err(|error| Error::Read {
                location: format!("MSR {addr:#x} from {}", path.display()),
                error,
            })?;
        Ok(v & ENERGY_STATUS_MASK)
    }

    fn found(&self) -> Vec<Found> {
        self.found.clone()
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
    let places = topology::places(roots);
    let scope = package_scope(Some(vendor));
    let units = lead_cpus(&places, scope);
    let dev = |cpu: u32| roots.msr_dev.join(cpu.to_string()).join("msr");

    // The unit register, on the first unit's lead CPU, tells whether the device works.
    let first = units.first().map_or(0, |u| u.1);
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

    // One CPU of every physical core, for AMD's per-core register.
    let mut cores: Vec<((u32, u32, u32), u32)> = Vec::new(); // ((package, die, core), cpu)
    for p in &places {
        let k = (p.package, p.die, p.core);
        match cores.iter_mut().find(|c| c.0 == k) {
            Some(c) => c.1 = c.1.min(p.cpu),
            None => cores.push((k, p.cpu)),
        }
    }
    cores.sort_unstable();
    let mut counters = Vec::new();
    let mut reads = Vec::new();
    let mut found = Vec::new();
    for reg in &regs {
        let sites: Vec<(u32, u32)> = match reg.scope {
            Scope::Unit => units.iter().map(|&((pkg, _), c)| (pkg, c)).collect(),
            Scope::Platform => vec![(units.first().map_or(0, |u| u.0 .0), first)],
            Scope::Core => cores.iter().map(|&((pkg, _, _), c)| (pkg, c)).collect(),
        };
        let unit = domain_unit(&cpu, reg.domain, unit);
        let mut here = Vec::new();
        let mut missing = Vec::new();
        for (socket, c) in sites {
            let p = dev(c);
            match fs.read_u64_at(&p, reg.addr) {
                Ok(v) if v & ENERGY_STATUS_MASK != 0 => here.push((socket, c, p)),
                Ok(_) => missing.push(format!("reads zero on CPU {c}")),
                Err(e) if Problem::of(&e) == Problem::PermissionDenied => {
                    return Err(Attempt::new(
                        NAME,
                        Problem::PermissionDenied,
                        format!("cannot open {}: {e}", p.display()),
                        Some(FIX_DENIED),
                    ))
                }
                Err(e) => missing.push(format!("fails on CPU {c}: {e}")),
            }
        }
        let loc = |c: u32| format!("{} @ MSR {:#x}", dev(c).display(), reg.addr);
        if here.is_empty() {
            continue; // not implemented on this CPU (the kernel's test): nothing to list
        }
        if !missing.is_empty() {
            // Present on some units only: a partial sum is not a figure.
            for (_, c, _) in &here {
                found.push(Found::new(
                    SourceKind::Msr,
                    loc(*c),
                    reg.name,
                    Some(reg.domain),
                    Role::Skipped,
                    format!(
                        "{} is present on some CPUs only ({}): left out rather than summed in \
                         part",
                        reg.domain,
                        missing.join("; ")
                    ),
                ));
            }
            continue;
        }
        for (socket, c, p) in here {
            let role = Role::of(reg.domain);
            let why = match (reg.scope, scope) {
                (Scope::Core, _) => {
                    format!("{}; one per physical core, summed", role.why(reg.domain))
                }
                (Scope::Unit, PackageScope::Die) => {
                    format!("{}; one per die", role.why(reg.domain))
                }
                _ => role.why(reg.domain),
            };
            found.push(Found::new(
                SourceKind::Msr,
                loc(c),
                reg.name,
                Some(reg.domain),
                role,
                why,
            ));
            counters.push(Counter {
                domain: reg.domain,
                socket,
                location: loc(c),
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
        found,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_from_esu() {
        assert_eq!(energy_unit_joules(0x000A_0E03), 0.5f64.powi(14));
        assert_eq!(energy_unit_joules(0x000A_1003), 0.5f64.powi(16));
        // 61.035 µJ and 15.259 µJ, the kernel's 61035 and 15258 pJ
        // (torvalds/linux drivers/powercap/intel_rapl_common.c, `rapl_check_unit_core`).
        assert!((energy_unit_joules(0xE00) * 1e9 - 61_035.156).abs() < 0.01);
        assert!((energy_unit_joules(0x1000) * 1e9 - 15_258.789).abs() < 0.01);
        // Atom: 2^ESU µJ (ESU 5: 32 µJ).
        assert!((atom_energy_unit_joules(0x505) - 32e-6).abs() < 1e-15);
    }

    #[test]
    fn domain_units_follow_the_model() {
        let s = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n\
                 model name\t: Intel(R) Xeon(R)\n\n";
        let c = parse_cpuinfo(s).unwrap();
        assert_eq!(domain_unit(&c, Domain::Dram, 0xE00), 15.3e-6);
        assert_eq!(domain_unit(&c, Domain::Package, 0xE00), 0.5f64.powi(14));
    }
}
