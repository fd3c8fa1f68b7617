//! Machine facts under `/sys`: caches (`devices/system/cpu/cpu0/cache/index*`), topology
//! (`cpuN/topology`, `online`, `smt`), NUMA nodes (`devices/system/node`), frequency policy
//! (`cpu0/cpufreq`, `cpufreq/boost`, `intel_pstate/no_turbo`), the cpuidle driver, and the
//! hypervisor and DMI names (`hypervisor/type`, `class/dmi/id`).
//!
//! Every reader takes the sysfs root, so tests build fake trees; a file that is missing or
//! does not parse gives `None`, never a default.

use std::collections::BTreeSet;
use std::path::Path;

/// Trimmed contents of a file, `None` when unreadable or empty.
pub fn read_trim(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Parses sysfs cache sizes: `32768K`, `1M`, `512`.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mul) = match s.chars().last()? {
        'K' | 'k' => (&s[..s.len() - 1], 1u64 << 10),
        'M' | 'm' => (&s[..s.len() - 1], 1 << 20),
        'G' | 'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.trim().parse::<u64>().ok().map(|n| n * mul)
}

/// Parses a kernel CPU or node list: `0-3,8,10-11` (empty: no entries).
pub fn parse_list(s: &str) -> Option<Vec<usize>> {
    let mut v = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.trim().is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if b < a {
                    return None;
                }
                v.extend(a..=b);
            }
            None => v.push(part.trim().parse().ok()?),
        }
    }
    Some(v)
}

/// One cache of cpu0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    /// 1, 2, 3, ...
    pub level: u32,
    /// `Data`, `Instruction` or `Unified`.
    pub kind: String,
    /// Size in bytes.
    pub size_bytes: u64,
}

/// The caches listed under a sysfs `cache` directory (entries that do not parse are skipped),
/// sorted by level then kind.
pub fn caches(cache_dir: &Path) -> Vec<Cache> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(cache_dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if !p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("index"))
        {
            continue;
        }
        let (Some(level), Some(kind), Some(size)) = (
            read_trim(&p.join("level")).and_then(|l| l.parse().ok()),
            read_trim(&p.join("type")),
            read_trim(&p.join("size")).and_then(|s| parse_size(&s)),
        ) else {
            continue;
        };
        out.push(Cache {
            level,
            kind,
            size_bytes: size,
        });
    }
    out.sort_by(|a, b| (a.level, &a.kind).cmp(&(b.level, &b.kind)));
    out
}

/// The size of the cache at `level` holding data (`Data` or `Unified`), or instructions.
pub fn cache_size(caches: &[Cache], level: u32, instruction: bool) -> Option<u64> {
    caches
        .iter()
        .find(|c| c.level == level && (c.kind == "Instruction") == instruction)
        .map(|c| c.size_bytes)
}

/// The highest data or unified level's size (the last-level cache).
pub fn last_level(caches: &[Cache]) -> Option<u64> {
    caches
        .iter()
        .filter(|c| c.kind != "Instruction")
        .max_by_key(|c| c.level)
        .map(|c| c.size_bytes)
}

/// CPU topology from `devices/system/cpu`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    /// Online logical CPUs (`online`).
    pub logical: Option<usize>,
    /// Distinct `core_cpus_list` (or `thread_siblings_list`) over online CPUs.
    pub physical: Option<usize>,
    /// Distinct `physical_package_id` over online CPUs.
    pub sockets: Option<usize>,
    /// `smt/active`.
    pub smt_active: Option<bool>,
    /// `smt/control`: `on`, `off`, `forceoff`, `notsupported`, `notimplemented`.
    pub smt_control: Option<String>,
}

/// Reads the topology under `<sys>/devices/system/cpu`. Core and socket counts need every
/// online CPU's `topology` files; one missing gives `None` for that count.
pub fn topology(sys: &Path) -> Topology {
    let cpu = sys.join("devices/system/cpu");
    let online = read_trim(&cpu.join("online")).and_then(|s| parse_list(&s));
    let mut t = Topology {
        logical: online.as_ref().map(Vec::len).filter(|&n| n > 0),
        smt_active: read_trim(&cpu.join("smt/active")).and_then(|s| match s.as_str() {
            "1" => Some(true),
            "0" => Some(false),
            _ => None,
        }),
        smt_control: read_trim(&cpu.join("smt/control")),
        ..Topology::default()
    };
    if let Some(cpus) = online.filter(|c| !c.is_empty()) {
        let mut cores = BTreeSet::new();
        let mut packages = BTreeSet::new();
        let (mut all_cores, mut all_packages) = (true, true);
        for n in cpus {
            let topo = cpu.join(format!("cpu{n}/topology"));
            match read_trim(&topo.join("core_cpus_list"))
                .or_else(|| read_trim(&topo.join("thread_siblings_list")))
            {
                Some(s) => {
                    cores.insert(s);
                }
                None => all_cores = false,
            }
            match read_trim(&topo.join("physical_package_id")) {
                Some(s) => {
                    packages.insert(s);
                }
                None => all_packages = false,
            }
        }
        t.physical = all_cores.then_some(cores.len());
        t.sockets = all_packages.then_some(packages.len());
    }
    t
}

/// NUMA nodes: `devices/system/node/online`, else the `nodeN` directories; `None` when
/// there is no node directory (a kernel without NUMA support).
pub fn numa_nodes(sys: &Path) -> Option<usize> {
    let dir = sys.join("devices/system/node");
    if let Some(v) = read_trim(&dir.join("online")).and_then(|s| parse_list(&s)) {
        if !v.is_empty() {
            return Some(v.len());
        }
    }
    let n = std::fs::read_dir(&dir)
        .ok()?
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("node"))
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        })
        .count();
    (n > 0).then_some(n)
}

/// Frequency and power policy of cpu0.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Freq {
    /// `cpufreq/base_frequency` (intel_pstate, amd-pstate), MHz.
    pub base_mhz: Option<f64>,
    /// `cpufreq/cpuinfo_max_freq`, MHz.
    pub max_mhz: Option<f64>,
    /// `cpufreq/scaling_governor`.
    pub governor: Option<String>,
    /// `cpufreq/scaling_driver`.
    pub driver: Option<String>,
    /// Turbo/boost enabled: `cpufreq/boost` (global, then cpu0's policy), else the inverse of
    /// `intel_pstate/no_turbo`.
    pub boost: Option<bool>,
    /// `cpuidle/current_driver`.
    pub cpuidle_driver: Option<String>,
}

/// Reads cpu0's frequency policy under `<sys>/devices/system/cpu`.
pub fn freq(sys: &Path) -> Freq {
    let cpu = sys.join("devices/system/cpu");
    let pol = cpu.join("cpu0/cpufreq");
    let khz = |f: &str| {
        read_trim(&pol.join(f))
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|&k| k > 0.0)
            .map(|k| k / 1000.0)
    };
    let flag = |p: &Path| {
        read_trim(p).and_then(|s| match s.as_str() {
            "1" => Some(true),
            "0" => Some(false),
            _ => None,
        })
    };
    Freq {
        base_mhz: khz("base_frequency"),
        max_mhz: khz("cpuinfo_max_freq"),
        governor: read_trim(&pol.join("scaling_governor")),
        driver: read_trim(&pol.join("scaling_driver")),
        boost: flag(&cpu.join("cpufreq/boost"))
            .or_else(|| flag(&pol.join("boost")))
            .or_else(|| flag(&cpu.join("intel_pstate/no_turbo")).map(|no| !no)),
        cpuidle_driver: read_trim(&cpu.join("cpuidle/current_driver")),
    }
}

/// Virtualisation hints sysfs gives: `hypervisor/type` (Xen and a few others), DMI
/// `sys_vendor` and `product_name` (readable without root).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Virt {
    /// `hypervisor/type`.
    pub hypervisor_type: Option<String>,
    /// DMI `sys_vendor`.
    pub dmi_sys_vendor: Option<String>,
    /// DMI `product_name`.
    pub dmi_product_name: Option<String>,
}

/// Reads the virtualisation hints under `sys`.
pub fn virt(sys: &Path) -> Virt {
    let dmi = sys.join("class/dmi/id");
    Virt {
        hypervisor_type: read_trim(&sys.join("hypervisor/type")),
        dmi_sys_vendor: read_trim(&dmi.join("sys_vendor")),
        dmi_product_name: read_trim(&dmi.join("product_name")),
    }
}

/// cpu0's MIDR_EL1 (Arm), raw text.
pub fn midr(sys: &Path) -> Option<String> {
    read_trim(&sys.join("devices/system/cpu/cpu0/regs/identification/midr_el1"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::path::Path;

    /// Writes `text` to `root/rel`, creating the directories.
    pub(crate) fn put(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// A 1-socket, 2-core, 4-thread machine with 4 cache levels listed and 2 NUMA nodes.
    pub(crate) fn fake_sys(root: &Path) {
        let c = "devices/system/cpu";
        for (i, (level, ty, size)) in [
            (1, "Data", "48K"),
            (1, "Instruction", "32K"),
            (2, "Unified", "2048K"),
            (3, "Unified", "105M"),
        ]
        .iter()
        .enumerate()
        {
            let d = format!("{c}/cpu0/cache/index{i}");
            put(root, &format!("{d}/level"), &format!("{level}\n"));
            put(root, &format!("{d}/type"), &format!("{ty}\n"));
            put(root, &format!("{d}/size"), &format!("{size}\n"));
        }
        put(root, &format!("{c}/online"), "0-3\n");
        for (cpu, core) in [(0, "0,2"), (1, "1,3"), (2, "0,2"), (3, "1,3")] {
            put(
                root,
                &format!("{c}/cpu{cpu}/topology/core_cpus_list"),
                &format!("{core}\n"),
            );
            put(
                root,
                &format!("{c}/cpu{cpu}/topology/physical_package_id"),
                "0\n",
            );
        }
        put(root, &format!("{c}/smt/active"), "1\n");
        put(root, &format!("{c}/smt/control"), "on\n");
        put(root, "devices/system/node/online", "0-1\n");
        put(
            root,
            &format!("{c}/cpu0/cpufreq/cpuinfo_max_freq"),
            "3800000\n",
        );
        put(
            root,
            &format!("{c}/cpu0/cpufreq/base_frequency"),
            "2000000\n",
        );
        put(
            root,
            &format!("{c}/cpu0/cpufreq/scaling_governor"),
            "performance\n",
        );
        put(
            root,
            &format!("{c}/cpu0/cpufreq/scaling_driver"),
            "intel_pstate\n",
        );
        put(root, &format!("{c}/intel_pstate/no_turbo"), "0\n");
        put(root, &format!("{c}/cpuidle/current_driver"), "intel_idle\n");
        put(root, "class/dmi/id/sys_vendor", "Amazon EC2\n");
        put(root, "class/dmi/id/product_name", "m7i.xlarge\n");
    }

    #[test]
    fn sizes_and_lists_parse() {
        assert_eq!(parse_size("32768K"), Some(32 << 20));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(
            parse_list("0-3,8,10-11\n"),
            Some(vec![0, 1, 2, 3, 8, 10, 11])
        );
        assert_eq!(parse_list("0"), Some(vec![0]));
        assert_eq!(parse_list(""), Some(vec![]));
        assert_eq!(parse_list("3-1"), None);
        assert_eq!(parse_list("a"), None);
    }

    #[test]
    fn fake_tree_reads() {
        let d = tempfile::tempdir().unwrap();
        fake_sys(d.path());
        let cs = caches(&d.path().join("devices/system/cpu/cpu0/cache"));
        assert_eq!(cs.len(), 4);
        assert_eq!(cache_size(&cs, 1, false), Some(48 << 10));
        assert_eq!(cache_size(&cs, 1, true), Some(32 << 10));
        assert_eq!(cache_size(&cs, 2, false), Some(2 << 20));
        assert_eq!(cache_size(&cs, 3, false), Some(105 << 20));
        assert_eq!(last_level(&cs), Some(105 << 20));
        let t = topology(d.path());
        assert_eq!(
            t,
            Topology {
                logical: Some(4),
                physical: Some(2),
                sockets: Some(1),
                smt_active: Some(true),
                smt_control: Some("on".into()),
            }
        );
        assert_eq!(numa_nodes(d.path()), Some(2));
        let f = freq(d.path());
        assert_eq!(f.max_mhz, Some(3800.0));
        assert_eq!(f.base_mhz, Some(2000.0));
        assert_eq!(f.governor.as_deref(), Some("performance"));
        assert_eq!(f.driver.as_deref(), Some("intel_pstate"));
        assert_eq!(f.boost, Some(true), "no_turbo 0 means turbo on");
        assert_eq!(f.cpuidle_driver.as_deref(), Some("intel_idle"));
        let v = virt(d.path());
        assert_eq!(v.hypervisor_type, None);
        assert_eq!(v.dmi_product_name.as_deref(), Some("m7i.xlarge"));
    }

    #[test]
    fn boost_prefers_cpufreq_boost() {
        let d = tempfile::tempdir().unwrap();
        put(d.path(), "devices/system/cpu/cpufreq/boost", "0\n");
        put(d.path(), "devices/system/cpu/intel_pstate/no_turbo", "0\n");
        assert_eq!(freq(d.path()).boost, Some(false));
    }

    #[test]
    fn nodes_from_directories() {
        let d = tempfile::tempdir().unwrap();
        for n in ["node0/x", "node1/x", "nodefoo/x", "possible"] {
            put(d.path(), &format!("devices/system/node/{n}"), "");
        }
        assert_eq!(numa_nodes(d.path()), Some(2));
    }

    #[test]
    fn missing_tree_is_none() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("absent");
        assert!(caches(&p.join("cache")).is_empty());
        assert_eq!(last_level(&[]), None);
        assert_eq!(topology(&p), Topology::default());
        assert_eq!(numa_nodes(&p), None);
        assert_eq!(freq(&p), Freq::default());
        assert_eq!(virt(&p), Virt::default());
        assert_eq!(midr(&p), None);
    }

    #[test]
    fn topology_with_a_missing_core_file_counts_nothing() {
        let d = tempfile::tempdir().unwrap();
        put(d.path(), "devices/system/cpu/online", "0-1");
        put(
            d.path(),
            "devices/system/cpu/cpu0/topology/core_cpus_list",
            "0",
        );
        let t = topology(d.path());
        assert_eq!(t.logical, Some(2));
        assert_eq!(t.physical, None);
        assert_eq!(t.sockets, None);
    }
}
