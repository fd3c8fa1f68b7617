//! What the sources need to know about the CPU: its vendor, family and model (from
//! `/proc/cpuinfo`), where each logical CPU sits (`cpuN/topology/{physical_package_id, die_id,
//! core_id}`), and the scope of the RAPL package counter on this vendor.
//!
//! The scope rule is the kernel's (`drivers/powercap/intel_rapl_common.c`,
//! `rapl_msrs_are_pkg_scope()`; `arch/x86/events/rapl.c` since "perf/x86/rapl: Fix the
//! energy-pkg event for AMD CPUs"): AMD and Hygon package counters are package-wide, so one
//! reading per physical package; Intel package counters are per die (Cascade Lake-AP has two
//! dies per package, each with its own counter; single-die parts have one die per package).
//! Since the AMD 0x80000026 topology leaf (Linux 6.10) `die_id` numbers CCDs on Zen 4 and
//! later, so a kernel without that fix lists one "die" per CCD, all reading the same package
//! counter.

use crate::fs::read_trimmed;
use crate::Roots;

/// CPU vendors with RAPL counters.
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
    /// `model name` (empty when absent).
    pub model_name: String,
}

impl CpuId {
    /// The vendor, if it has known RAPL counters.
    pub fn vendor(&self) -> Option<Vendor> {
        match self.vendor_id.as_str() {
            "GenuineIntel" => Some(Vendor::Intel),
            "AuthenticAMD" | "HygonGenuine" => Some(Vendor::Amd),
            _ => None,
        }
    }

    /// An Intel family-6 part of one of `models`.
    pub fn is_intel6(&self, models: &[u32]) -> bool {
        self.vendor() == Some(Vendor::Intel) && self.family == 6 && models.contains(&self.model)
    }
}

/// Parses the first processor's vendor, family, model and name from `/proc/cpuinfo`.
pub fn parse_cpuinfo(s: &str) -> Option<CpuId> {
    let (mut vendor, mut family, mut model, mut name) = (None, None, None, String::new());
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
            "model name" => name = v.to_string(),
            _ => {}
        }
    }
    Some(CpuId {
        vendor_id: vendor?,
        family: family?,
        model: model?,
        model_name: name,
    })
}

/// The CPU of `roots.cpuinfo`, if it can be read and parsed.
pub fn cpu_id(roots: &Roots) -> Option<CpuId> {
    roots
        .fs
        .read_to_string(&roots.cpuinfo)
        .ok()
        .and_then(|s| parse_cpuinfo(&s))
}

/// Where a RAPL package counter lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackageScope {
    /// One counter per physical package (AMD, Hygon).
    Package,
    /// One counter per die (Intel; most parts have one die per package).
    Die,
}

/// The package counter's scope on this vendor (the kernel's `rapl_msrs_are_pkg_scope()`).
pub fn package_scope(vendor: Option<Vendor>) -> PackageScope {
    match vendor {
        Some(Vendor::Amd) => PackageScope::Package,
        _ => PackageScope::Die,
    }
}

/// One logical CPU's place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    /// Logical CPU number.
    pub cpu: u32,
    /// `physical_package_id` (0 when unreadable).
    pub package: u32,
    /// `die_id` (0 when absent: kernels before 5.2, or one die).
    pub die: u32,
    /// `core_id` (the CPU number when unreadable, so each CPU is its own core).
    pub core: u32,
}

impl Place {
    /// The unit a package counter of `scope` belongs to.
    pub fn unit(&self, scope: PackageScope) -> (u32, u32) {
        match scope {
            PackageScope::Package => (self.package, 0),
            PackageScope::Die => (self.package, self.die),
        }
    }
}

/// The place of one CPU.
pub fn place(roots: &Roots, cpu: u32) -> Place {
    let read = |f: &str| {
        read_trimmed(
            &*roots.fs,
            &roots.cpu_sysfs.join(format!("cpu{cpu}/topology/{f}")),
        )
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
    };
    Place {
        cpu,
        package: read("physical_package_id").unwrap_or(0),
        die: read("die_id").unwrap_or(0),
        core: read("core_id").unwrap_or(cpu),
    }
}

/// The places of every CPU considered ([`Roots::cpu_list`]).
pub fn places(roots: &Roots) -> Vec<Place> {
    roots
        .cpu_list()
        .into_iter()
        .map(|c| place(roots, c))
        .collect()
}

/// The lowest-numbered CPU of each counter unit of `scope`, in unit order: `(unit, cpu)`.
pub fn lead_cpus(places: &[Place], scope: PackageScope) -> Vec<((u32, u32), u32)> {
    let mut out: Vec<((u32, u32), u32)> = Vec::new();
    for p in places {
        let u = p.unit(scope);
        match out.iter_mut().find(|(k, _)| *k == u) {
            Some((_, c)) => *c = (*c).min(p.cpu),
            None => out.push((u, p.cpu)),
        }
    }
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuinfo_parses() {
        let s = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n\
                 model name\t: Intel(R) Xeon(R)\n\nprocessor\t: 1\nvendor_id\t: Other\n";
        let c = parse_cpuinfo(s).unwrap();
        assert_eq!(c.vendor(), Some(Vendor::Intel));
        assert_eq!((c.family, c.model), (6, 85));
        assert_eq!(c.model_name, "Intel(R) Xeon(R)");
        assert!(c.is_intel6(&[85]));
        assert_eq!(parse_cpuinfo("processor : 0\n"), None);
    }

    #[test]
    fn leads_per_scope() {
        let p = |cpu, package, die| Place {
            cpu,
            package,
            die,
            core: cpu,
        };
        let places = [p(3, 0, 1), p(0, 0, 0), p(2, 0, 1), p(5, 1, 0), p(4, 1, 0)];
        assert_eq!(
            lead_cpus(&places, PackageScope::Die),
            vec![((0, 0), 0), ((0, 1), 2), ((1, 0), 4)]
        );
        assert_eq!(
            lead_cpus(&places, PackageScope::Package),
            vec![((0, 0), 0), ((1, 0), 4)]
        );
    }
}
