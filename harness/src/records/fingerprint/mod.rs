//! The machine fingerprint: what a results file records about the machine and the build
//! (reference §3); `ternbench sysinfo` ([`crate::commands::sysinfo`]) prints it.
//!
//! [`Fingerprint::collect`] reads everything from injectable roots ([`Roots`]: `/proc`,
//! `/sys`), so tests run on fake trees; on the live machine (`Roots::system`) x86 CPU
//! identity and ISA features come from CPUID (raw-cpuid) and everything else from the files.
//! A fact that cannot be read is `None` (JSON `null`), never a made-up default. Build facts
//! (git commit and dirty flag, rustc, profile, target features) come from `build.rs`.
//!
//! To add a field: read it in one of the submodules ([`cpu`], [`sysfs`], [`os`]), add it to
//! [`Fingerprint`] with its unit in the name, fill it in `collect`, show it in `render_text`,
//! and if runs that differ in it cannot be compared, add it to [`ComparableKey`].

pub mod cpu;
pub mod os;
pub mod sysfs;
pub mod uarch;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where the fingerprint reads the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    /// `/proc`.
    pub proc_dir: PathBuf,
    /// `/sys`.
    pub sys_dir: PathBuf,
    /// Whether this is the machine running us: then x86 identity and ISA come from CPUID, and
    /// the threads this process may use are recorded. `false` for fake trees.
    pub live: bool,
}

impl Roots {
    /// The running machine: `/proc`, `/sys`, CPUID, and the operating system through `sysinfo`.
    pub fn system() -> Self {
        Roots {
            proc_dir: "/proc".into(),
            sys_dir: "/sys".into(),
            live: true,
        }
    }

    /// A fake tree: `root/proc`, `root/sys`, no CPUID (for tests).
    #[cfg(test)]
    pub fn under(root: &std::path::Path) -> Self {
        Roots {
            proc_dir: root.join("proc"),
            sys_dir: root.join("sys"),
            live: false,
        }
    }
}

/// The machine and build a measurement ran on. Units are in the field names; `None` is
/// "could not be read here".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// When it was collected, RFC 3339 UTC.
    pub timestamp_utc: String,

    /// x86 vendor string (`AuthenticAMD`, `GenuineIntel`) or the Arm implementer's name.
    pub cpu_vendor: Option<String>,
    /// Model name (`/proc/cpuinfo` `model name`, else the CPUID brand string; Arm: implementer
    /// and core).
    pub cpu_model: Option<String>,
    /// x86 display family; Arm: architecture.
    pub cpu_family: Option<u32>,
    /// x86 display model; Arm: part number.
    pub cpu_model_number: Option<u32>,
    /// x86 stepping; Arm: revision.
    pub cpu_stepping: Option<u32>,
    /// Core microarchitecture (`Zen 4`), or `unknown (family 0x.. model 0x..)`.
    pub microarchitecture: String,
    /// Product codename (`Genoa`) where the table knows it.
    pub codename: Option<String>,
    /// Every ISA feature checked, with whether this CPU has it (x86: `sse4.1` ... `amx_bf16`;
    /// Arm: `neon` ... `sme`). Empty when neither CPUID nor `/proc/cpuinfo` could say.
    pub isa_features: BTreeMap<String, bool>,
    /// Where `isa_features` came from: `cpuid` or `/proc/cpuinfo`.
    pub isa_source: Option<String>,

    /// cpu0's level-1 data cache, bytes.
    pub l1d_bytes: Option<u64>,
    /// cpu0's level-1 instruction cache, bytes.
    pub l1i_bytes: Option<u64>,
    /// cpu0's level-2 cache, bytes.
    pub l2_bytes: Option<u64>,
    /// cpu0's level-3 cache (the slice cpu0 shares, not the package total), bytes.
    pub l3_bytes: Option<u64>,

    /// Online logical CPUs.
    pub logical_cpus: Option<usize>,
    /// Physical cores.
    pub physical_cores: Option<usize>,
    /// Sockets (packages).
    pub sockets: Option<usize>,
    /// Whether SMT (hyper-threading) is active.
    pub smt: Option<bool>,
    /// The kernel's SMT control: `on`, `off`, `forceoff`, `notsupported`, `notimplemented`.
    pub smt_control: Option<String>,
    /// NUMA nodes online.
    pub numa_nodes: Option<usize>,
    /// Threads this process may run at once (affinity and cgroup quota); live machine only.
    pub available_parallelism: Option<usize>,

    /// Memory size (`MemTotal`: installed memory less what the firmware and kernel keep), bytes.
    pub memory_bytes: Option<u64>,
    /// Memory read bandwidth, GB/s (10^9 bytes/s), filled by whoever measured it.
    pub read_bandwidth_gbps: Option<f64>,
    /// Threads reading at once when `read_bandwidth_gbps` was measured.
    pub read_bandwidth_threads: Option<usize>,

    /// Base frequency (sysfs `base_frequency`, else Intel CPUID leaf 0x16), MHz.
    pub base_freq_mhz: Option<f64>,
    /// Maximum frequency (sysfs `cpuinfo_max_freq`, else Intel CPUID leaf 0x16), MHz.
    pub max_freq_mhz: Option<f64>,
    /// cpu0's clock when collected (`/proc/cpuinfo` `cpu MHz`; in a VM often the nominal clock).
    pub current_freq_mhz: Option<f64>,
    /// cpufreq governor of cpu0.
    pub governor: Option<String>,
    /// cpufreq scaling driver of cpu0.
    pub scaling_driver: Option<String>,
    /// Turbo/boost enabled.
    pub boost: Option<bool>,
    /// cpuidle driver.
    pub cpuidle_driver: Option<String>,

    /// Whether a hypervisor is present (CPUID leaf 1 ECX bit 31 or the `hypervisor` flag of
    /// `/proc/cpuinfo`; `/sys/hypervisor/type` also counts).
    pub hypervisor: Option<bool>,
    /// The hypervisor's name (CPUID leaf 0x4000_0000 signature, else `/sys/hypervisor/type`).
    pub hypervisor_vendor: Option<String>,
    /// DMI `sys_vendor` (e.g. the cloud).
    pub dmi_sys_vendor: Option<String>,
    /// DMI `product_name` (e.g. the instance type).
    pub dmi_product_name: Option<String>,

    /// Load average over 1 minute when collected.
    pub load_avg_1m: Option<f64>,
    /// Load average over 5 minutes.
    pub load_avg_5m: Option<f64>,
    /// Load average over 15 minutes.
    pub load_avg_15m: Option<f64>,
    /// Kernel release (`uname -r`).
    pub kernel_release: Option<String>,
    /// Kernel build (`uname -v`).
    pub kernel_version: Option<String>,
    /// The operating system and distribution (e.g. `Linux (Debian GNU/Linux 12)`).
    pub os: Option<String>,
    /// Other processes using the CPU when the fingerprint was taken (at least 5% of a CPU over
    /// a quarter second, busiest first): the neighbours a measurement shares the machine with.
    #[serde(default)]
    pub busy_processes: Vec<os::BusyProcess>,

    /// ternbench's version.
    pub ternbench_version: String,
    /// Git commit of the build (`None`: built outside a git checkout).
    pub git_commit: Option<String>,
    /// Whether the checkout had uncommitted changes when built.
    pub git_dirty: Option<bool>,
    /// `rustc -V` of the compiler.
    pub rustc_version: String,
    /// Cargo profile (`debug` or `release`).
    pub build_profile: String,
    /// Optimisation level.
    pub opt_level: String,
    /// Whether debug assertions were compiled in.
    pub debug_assertions: bool,
    /// Target triple.
    pub target: String,
    /// Target features enabled at build time (the baseline every kernel may assume; faster
    /// levels are picked at run time).
    pub target_features: Vec<String>,
}

/// What must match for two runs to be compared: the same CPU model, logical CPU count, ISA
/// feature set and memory size class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComparableKey {
    /// [`Fingerprint::cpu_model`].
    pub cpu_model: Option<String>,
    /// [`Fingerprint::logical_cpus`].
    pub logical_cpus: Option<usize>,
    /// The ISA features present, in table order.
    pub isa_features: Vec<String>,
    /// [`memory_class_gib`] of the memory size.
    pub memory_class_gib: Option<u64>,
}

/// A memory size's class: the smallest of 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, ... GiB (powers
/// of two and 1.5x them) at least as large, so `MemTotal` (a little under the installed size,
/// by an amount that varies with kernel and firmware) lands on the installed size.
pub fn memory_class_gib(bytes: u64) -> u64 {
    let gib = bytes as f64 / (1u64 << 30) as f64;
    let mut p = 1u64;
    loop {
        for c in [p, p + p / 2] {
            if c > 0 && c as f64 >= gib {
                return c;
            }
        }
        p *= 2;
    }
}

const BUILD_GIT_COMMIT: &str = env!("TERNBENCH_GIT_COMMIT");
const BUILD_GIT_DIRTY: &str = env!("TERNBENCH_GIT_DIRTY");
const BUILD_RUSTC: &str = env!("TERNBENCH_RUSTC_VERSION");
const BUILD_PROFILE: &str = env!("TERNBENCH_BUILD_PROFILE");
const BUILD_OPT_LEVEL: &str = env!("TERNBENCH_OPT_LEVEL");
const BUILD_TARGET: &str = env!("TERNBENCH_TARGET");
const BUILD_TARGET_FEATURES: &str = env!("TERNBENCH_TARGET_FEATURES");

impl Fingerprint {
    /// Reads the machine under `roots` and this binary's build facts. Bandwidth is left
    /// `None` for the caller who measures it.
    pub fn collect(roots: &Roots) -> Self {
        let os_facts = if roots.live {
            os::OsFacts::live()
        } else {
            os::OsFacts::default()
        };
        Self::collect_with(roots, os_facts)
    }

    /// [`Fingerprint::collect`] with the operating system's facts given (tests build them by
    /// hand: `sysinfo` reads only the live machine).
    pub fn collect_with(roots: &Roots, os_facts: os::OsFacts) -> Self {
        let info = cpu::read_cpuinfo(&roots.proc_dir).unwrap_or_default();
        let cpuid = if roots.live { cpu::cpuid() } else { None };
        let cpuid = cpuid.as_ref();

        // Arm identity: /proc/cpuinfo, else the MIDR register.
        let midr = sysfs::midr(&roots.sys_dir).and_then(|m| cpu::parse_midr(&m));
        let arm_impl = info.arm_implementer.or(midr.map(|m| m.0));
        let arm_part = info.arm_part.or(midr.map(|m| m.2));
        let is_arm = arm_impl.is_some() && info.flags.is_none() && cpuid.is_none();

        let x86_vendor = cpuid.and_then(|c| c.vendor.clone()).or(info.vendor.clone());
        let arm_vendor = arm_impl.map(|i| {
            cpu::arm_implementer_name(i).map_or_else(|| format!("implementer {i:#x}"), Into::into)
        });
        let (family, model, stepping) = match cpuid {
            Some(c) if c.family.is_some() => (c.family, c.model, c.stepping),
            _ if is_arm => (
                info.arm_architecture.or(midr.map(|m| m.1)),
                arm_part,
                info.arm_revision.or(midr.map(|m| m.3)),
            ),
            _ => (info.family, info.model, info.stepping),
        };
        let ua = match (is_arm, &x86_vendor, family, model, arm_impl, arm_part) {
            (true, _, _, _, Some(i), Some(p)) => uarch::arm(i, p),
            (false, Some(v), Some(f), Some(m), _, _) => uarch::x86(v, f, m, stepping),
            (false, None, Some(f), Some(m), _, _) => uarch::x86("", f, m, stepping),
            _ => uarch::Uarch {
                name: "unknown".into(),
                codename: None,
            },
        };
        let cpu_model = info
            .model_name
            .clone()
            .or_else(|| cpuid.and_then(|c| c.brand.clone()))
            .or_else(|| {
                (is_arm && ua.is_known())
                    .then(|| format!("{} {}", arm_vendor.as_deref().unwrap_or("Arm"), ua.name))
            });
        let (isa_features, isa_source) = match cpuid {
            Some(c) => (c.features.clone(), Some("cpuid".to_string())),
            None => match cpu::features_from_cpuinfo(&info) {
                Some(f) => (f, Some("/proc/cpuinfo".to_string())),
                None => (BTreeMap::new(), None),
            },
        };

        let cache_list = sysfs::caches(&roots.sys_dir.join("devices/system/cpu/cpu0/cache"));
        let topo = sysfs::topology(&roots.sys_dir);
        let logical = topo
            .logical
            .or((info.processors > 0).then_some(info.processors));
        let physical = topo.physical.or(info.cores);
        let smt = topo.smt_active.or(match (logical, physical) {
            (Some(l), Some(p)) => Some(l > p),
            _ => None,
        });
        let freq = sysfs::freq(&roots.sys_dir);
        let virt = sysfs::virt(&roots.sys_dir);
        let hypervisor_bit = match cpuid {
            Some(c) => Some(c.hypervisor),
            None => info
                .flags
                .as_ref()
                .map(|f| f.iter().any(|w| w == "hypervisor")),
        };
        let hypervisor = if virt.hypervisor_type.is_some() {
            Some(true)
        } else {
            hypervisor_bit
        };
        let load = os_facts.load_avg;

        Fingerprint {
            timestamp_utc: os::rfc3339(std::time::SystemTime::now()),
            cpu_vendor: if is_arm { arm_vendor } else { x86_vendor },
            cpu_model,
            cpu_family: family,
            cpu_model_number: model,
            cpu_stepping: stepping,
            microarchitecture: ua.name,
            codename: ua.codename,
            isa_features,
            isa_source,
            l1d_bytes: sysfs::cache_size(&cache_list, 1, false),
            l1i_bytes: sysfs::cache_size(&cache_list, 1, true),
            l2_bytes: sysfs::cache_size(&cache_list, 2, false),
            l3_bytes: sysfs::cache_size(&cache_list, 3, false),
            logical_cpus: logical,
            physical_cores: physical,
            sockets: topo.sockets.or(info.sockets),
            smt,
            smt_control: topo.smt_control,
            numa_nodes: sysfs::numa_nodes(&roots.sys_dir),
            available_parallelism: roots
                .live
                .then(|| std::thread::available_parallelism().ok().map(|n| n.get()))
                .flatten(),
            memory_bytes: os_facts.memory_bytes,
            read_bandwidth_gbps: None,
            read_bandwidth_threads: None,
            base_freq_mhz: freq
                .base_mhz
                .or(cpuid.and_then(|c| c.base_mhz).map(f64::from)),
            max_freq_mhz: freq
                .max_mhz
                .or(cpuid.and_then(|c| c.max_mhz).map(f64::from)),
            current_freq_mhz: info.mhz,
            governor: freq.governor,
            scaling_driver: freq.driver,
            boost: freq.boost,
            cpuidle_driver: freq.cpuidle_driver,
            hypervisor,
            hypervisor_vendor: cpuid
                .and_then(|c| c.hypervisor_vendor.clone())
                .or(virt.hypervisor_type),
            dmi_sys_vendor: virt.dmi_sys_vendor,
            dmi_product_name: virt.dmi_product_name,
            load_avg_1m: load.map(|l| l[0]),
            load_avg_5m: load.map(|l| l[1]),
            load_avg_15m: load.map(|l| l[2]),
            kernel_release: os_facts.kernel_release,
            kernel_version: os::kernel_build(&roots.proc_dir),
            os: os_facts.os,
            busy_processes: os_facts.busy_processes,
            ternbench_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: (BUILD_GIT_COMMIT != "unknown").then(|| BUILD_GIT_COMMIT.to_string()),
            git_dirty: match BUILD_GIT_DIRTY {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            rustc_version: BUILD_RUSTC.to_string(),
            build_profile: BUILD_PROFILE.to_string(),
            opt_level: BUILD_OPT_LEVEL.to_string(),
            debug_assertions: cfg!(debug_assertions),
            target: BUILD_TARGET.to_string(),
            target_features: BUILD_TARGET_FEATURES
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }

    /// The ISA features present (`true`) or absent (`false`), x86 or Arm table order first,
    /// then any others by name.
    pub fn isa_list(&self, present: bool) -> Vec<String> {
        let order: Vec<&str> = cpu::X86_FLAGS
            .iter()
            .chain(cpu::ARM_FEATURES.iter())
            .map(|(n, _)| *n)
            .collect();
        let rank = |n: &str| order.iter().position(|o| *o == n).unwrap_or(order.len());
        let mut v: Vec<String> = self
            .isa_features
            .iter()
            .filter(|(_, &b)| b == present)
            .map(|(n, _)| n.clone())
            .collect();
        v.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
        v
    }

    fn has(&self, f: &str) -> bool {
        self.isa_features.get(f).copied().unwrap_or(false)
    }

    /// A short name for the widest SIMD this CPU has, e.g. `AVX-512+VNNI+BF16`, `AVX2`,
    /// `NEON+dotprod`; `None` when the features are unknown.
    pub fn isa_label(&self) -> Option<String> {
        let mut s = if self.has("avx512f") {
            let mut s = "AVX-512".to_string();
            for (f, tag) in [
                ("avx512_vnni", "+VNNI"),
                ("avx512_bf16", "+BF16"),
                ("avx512_fp16", "+FP16"),
            ] {
                if self.has(f) {
                    s += tag;
                }
            }
            s
        } else if self.has("avx2") {
            if self.has("avx_vnni") {
                "AVX2+VNNI".into()
            } else {
                "AVX2".into()
            }
        } else if self.has("avx") {
            "AVX".into()
        } else if self.has("sse4.1") {
            "SSE4.1".into()
        } else if self.has("sve2") || self.has("sve") || self.has("neon") {
            let mut s = if self.has("sve2") {
                "SVE2".to_string()
            } else if self.has("sve") {
                "SVE".into()
            } else {
                "NEON".into()
            };
            for (f, tag) in [("dotprod", "+dotprod"), ("i8mm", "+i8mm")] {
                if self.has(f) {
                    s += tag;
                }
            }
            s
        } else {
            return (!self.isa_features.is_empty()).then(|| "no SIMD listed".into());
        };
        if self.has("amx_tile") {
            s += "+AMX";
        }
        Some(s)
    }

    /// The memory size class in GiB (see [`memory_class_gib`]).
    pub fn memory_class_gib(&self) -> Option<u64> {
        self.memory_bytes.map(memory_class_gib)
    }

    /// The settings that must match for two runs to be comparable.
    pub fn comparable_key(&self) -> ComparableKey {
        ComparableKey {
            cpu_model: self.cpu_model.clone(),
            logical_cpus: self.logical_cpus,
            isa_features: self.isa_list(true),
            memory_class_gib: self.memory_class_gib(),
        }
    }

    /// The differences between this machine's [`comparable_key`](Self::comparable_key) and
    /// `other`'s, one sentence each ("this" is `self`); empty when runs are comparable.
    pub fn matches(&self, other: &Fingerprint) -> Vec<String> {
        let (a, b) = (self.comparable_key(), other.comparable_key());
        let mut out = Vec::new();
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".into());
        if a.cpu_model != b.cpu_model {
            out.push(format!(
                "CPU model: {} here, {} there",
                show(&a.cpu_model),
                show(&b.cpu_model)
            ));
        }
        if a.logical_cpus != b.logical_cpus {
            out.push(format!(
                "logical CPUs: {} here, {} there",
                show(&a.logical_cpus.map(|n| n.to_string())),
                show(&b.logical_cpus.map(|n| n.to_string()))
            ));
        }
        if a.isa_features != b.isa_features {
            let only = |x: &[String], y: &[String]| {
                let v: Vec<&str> = x
                    .iter()
                    .filter(|f| !y.contains(f))
                    .map(String::as_str)
                    .collect();
                if v.is_empty() {
                    "none".to_string()
                } else {
                    v.join(" ")
                }
            };
            out.push(format!(
                "ISA features: only here {}; only there {}",
                only(&a.isa_features, &b.isa_features),
                only(&b.isa_features, &a.isa_features)
            ));
        }
        if a.memory_class_gib != b.memory_class_gib {
            let gib = |v: Option<u64>| v.map_or("unknown".into(), |g| format!("{g} GiB"));
            out.push(format!(
                "memory class: {} here, {} there",
                gib(a.memory_class_gib),
                gib(b.memory_class_gib)
            ));
        }
        out
    }

    /// One line, e.g. `AMD EPYC (Zen 4, Genoa), 2 logical / 2 physical cores,
    /// AVX-512+VNNI+BF16, 24 GiB, KVM guest`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        let mut cpu = self
            .cpu_model
            .clone()
            .unwrap_or_else(|| "unknown CPU".into());
        if !self.microarchitecture.starts_with("unknown") {
            cpu += &match &self.codename {
                Some(c) => format!(" ({}, {c})", self.microarchitecture),
                None => format!(" ({})", self.microarchitecture),
            };
        }
        parts.push(cpu);
        let n = |v: Option<usize>| v.map_or("?".into(), |n| n.to_string());
        parts.push(format!(
            "{} logical / {} physical cores",
            n(self.logical_cpus),
            n(self.physical_cores)
        ));
        if let Some(isa) = self.isa_label() {
            parts.push(isa);
        }
        if let Some(g) = self.memory_class_gib() {
            parts.push(format!("{g} GiB"));
        }
        if let Some(bw) = self.read_bandwidth_gbps {
            parts.push(format!("{bw:.1} GB/s read"));
        }
        if self.hypervisor == Some(true) {
            parts.push(match &self.hypervisor_vendor {
                Some(v) if v != "unknown" => format!("{v} guest"),
                _ => "VM guest".into(),
            });
        }
        parts.join(", ")
    }

    /// The fingerprint as aligned `name  value` lines for the terminal; `-` is "not readable".
    pub fn render_text(&self) -> String {
        let na = || "-".to_string();
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(na);
        let num = |v: Option<usize>| v.map_or_else(na, |n| n.to_string());
        let mhz = |v: Option<f64>| v.map_or_else(na, |m| format!("{m:.0} MHz"));
        let yes_no = |v: Option<bool>, y: &str, n: &str| {
            v.map_or_else(na, |b| if b { y.to_string() } else { n.to_string() })
        };
        let hex = |v: Option<u32>| v.map_or_else(na, |n| format!("{n:#x}"));
        let mut rows: Vec<(&str, String)> = Vec::new();
        rows.push(("summary", self.summary()));
        rows.push(("cpu", opt(&self.cpu_model)));
        rows.push((
            "identity",
            format!(
                "{}, family {} model {} stepping {}",
                opt(&self.cpu_vendor),
                hex(self.cpu_family),
                hex(self.cpu_model_number),
                self.cpu_stepping.map_or_else(na, |s| s.to_string())
            ),
        ));
        rows.push((
            "uarch",
            match &self.codename {
                Some(c) => format!("{} ({c})", self.microarchitecture),
                None => self.microarchitecture.clone(),
            },
        ));
        let present = self.isa_list(true);
        rows.push((
            "isa",
            match &self.isa_source {
                Some(src) => format!("{} (from {src})", present.join(" ")),
                None => na(),
            },
        ));
        let absent = self.isa_list(false);
        if !absent.is_empty() {
            rows.push(("isa absent", absent.join(" ")));
        }
        let size = |v: Option<u64>| v.map_or_else(na, fmt_bytes);
        rows.push((
            "caches",
            format!(
                "L1d {}, L1i {}, L2 {}, L3 {} (cpu0's)",
                size(self.l1d_bytes),
                size(self.l1i_bytes),
                size(self.l2_bytes),
                size(self.l3_bytes)
            ),
        ));
        rows.push((
            "cpus",
            format!(
                "{} logical, {} physical, {} socket(s), {} NUMA node(s); this process may use {}",
                num(self.logical_cpus),
                num(self.physical_cores),
                num(self.sockets),
                num(self.numa_nodes),
                num(self.available_parallelism)
            ),
        ));
        rows.push((
            "smt",
            format!(
                "{} (control: {})",
                yes_no(self.smt, "on", "off"),
                opt(&self.smt_control)
            ),
        ));
        rows.push((
            "memory",
            match self.memory_bytes {
                Some(b) => format!("{} ({} GiB class)", fmt_bytes(b), memory_class_gib(b)),
                None => na(),
            },
        ));
        rows.push((
            "read bandwidth",
            match self.read_bandwidth_gbps {
                Some(g) => format!("{g:.2} GB/s ({} threads)", num(self.read_bandwidth_threads)),
                None => "not measured".into(),
            },
        ));
        rows.push((
            "frequency",
            format!(
                "base {}, max {}, cpu0 now {}",
                mhz(self.base_freq_mhz),
                mhz(self.max_freq_mhz),
                mhz(self.current_freq_mhz)
            ),
        ));
        rows.push((
            "policy",
            format!(
                "governor {}, driver {}, boost {}, cpuidle {}",
                opt(&self.governor),
                opt(&self.scaling_driver),
                yes_no(self.boost, "on", "off"),
                opt(&self.cpuidle_driver)
            ),
        ));
        rows.push((
            "hypervisor",
            match (self.hypervisor, &self.hypervisor_vendor) {
                (Some(true), Some(v)) => format!("yes ({v})"),
                (h, _) => yes_no(h, "yes", "none seen"),
            },
        ));
        rows.push((
            "dmi",
            format!(
                "{} / {}",
                opt(&self.dmi_sys_vendor),
                opt(&self.dmi_product_name)
            ),
        ));
        rows.push((
            "load average",
            match (self.load_avg_1m, self.load_avg_5m, self.load_avg_15m) {
                (Some(a), Some(b), Some(c)) => format!("{a:.2} {b:.2} {c:.2}"),
                _ => na(),
            },
        ));
        rows.push(("os", opt(&self.os)));
        if !self.busy_processes.is_empty() {
            let busy: Vec<String> = self
                .busy_processes
                .iter()
                .map(|p| format!("{} ({:.0}%)", p.name, p.cpu_percent))
                .collect();
            rows.push(("busy neighbours", busy.join(", ")));
        }
        rows.push((
            "kernel",
            format!(
                "{} {}",
                opt(&self.kernel_release),
                self.kernel_version.clone().unwrap_or_default()
            )
            .trim_end()
            .to_string(),
        ));
        rows.push((
            "ternbench",
            format!(
                "{}, git {}{}",
                self.ternbench_version,
                self.git_commit.as_deref().unwrap_or("unknown"),
                match self.git_dirty {
                    Some(true) => " (dirty)",
                    Some(false) => "",
                    None => " (dirty: unknown)",
                }
            ),
        ));
        rows.push((
            "build",
            format!(
                "{} profile, opt-level {}, debug assertions {}, {}, {}",
                self.build_profile,
                self.opt_level,
                if self.debug_assertions { "on" } else { "off" },
                self.rustc_version,
                self.target
            ),
        ));
        rows.push(("target features", self.target_features.join(",")));
        rows.push(("collected", self.timestamp_utc.clone()));
        let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        rows.iter()
            .map(|(k, v)| format!("{k:<w$}  {v}\n"))
            .collect()
    }
}

/// Bytes as `32 KiB`, `1 MiB`, `23.5 GiB`.
pub fn fmt_bytes(b: u64) -> String {
    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    if b >= GIB {
        let g = b as f64 / GIB as f64;
        if b.is_multiple_of(GIB) {
            format!("{g:.0} GiB")
        } else {
            format!("{g:.1} GiB")
        }
    } else if b >= MIB && b.is_multiple_of(MIB) {
        format!("{} MiB", b / MIB)
    } else if b >= KIB && b.is_multiple_of(KIB) {
        format!("{} KiB", b / KIB)
    } else {
        format!("{b} B")
    }
}

#[cfg(test)]
mod tests {
    use super::sysfs::tests::{fake_sys, put};
    use super::*;
    use std::path::Path;

    const INTEL_CPUINFO: &str = "\
processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8488C
stepping\t: 8
cpu MHz\t\t: 2400.000
physical id\t: 0
core id\t\t: 0
flags\t\t: sse4_1 ssse3 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni avx512_bf16 amx_tile amx_int8 amx_bf16 hypervisor

processor\t: 1
physical id\t: 0
core id\t\t: 1

processor\t: 2
physical id\t: 0
core id\t\t: 0

processor\t: 3
physical id\t: 0
core id\t\t: 1
";

    /// A full fake machine: Intel Sapphire Rapids guest, sysfs of [`fake_sys`].
    /// What `sysinfo` would say on the fake Intel guest.
    fn intel_os() -> os::OsFacts {
        os::OsFacts {
            memory_bytes: Some(16_092_404 * 1024),
            memory_available_bytes: Some(12 << 30),
            load_avg: Some([0.10, 0.20, 0.30]),
            kernel_release: Some("6.8.0-1015-aws".into()),
            os: Some("Linux (Ubuntu 24.04.1 LTS)".into()),
            busy_processes: vec![os::BusyProcess {
                name: "rustc".into(),
                pid: 4242,
                cpu_percent: 97.0,
            }],
        }
    }

    fn fake_intel(root: &Path) {
        put(root, "proc/cpuinfo", INTEL_CPUINFO);
        put(root, "proc/sys/kernel/version", "#16-Ubuntu SMP\n");
        fake_sys(&root.join("sys"));
    }

    #[test]
    fn collects_a_fake_intel_machine() {
        let d = tempfile::tempdir().unwrap();
        fake_intel(d.path());
        let f = Fingerprint::collect_with(&Roots::under(d.path()), intel_os());
        assert_eq!(f.cpu_vendor.as_deref(), Some("GenuineIntel"));
        assert_eq!(
            f.cpu_model.as_deref(),
            Some("Intel(R) Xeon(R) Platinum 8488C")
        );
        assert_eq!(
            (f.cpu_family, f.cpu_model_number, f.cpu_stepping),
            (Some(6), Some(0x8f), Some(8))
        );
        assert_eq!(f.microarchitecture, "Golden Cove");
        assert_eq!(f.codename.as_deref(), Some("Sapphire Rapids"));
        assert_eq!(f.isa_source.as_deref(), Some("/proc/cpuinfo"));
        assert!(f.isa_features["amx_tile"] && !f.isa_features["avx_vnni"]);
        assert_eq!(f.isa_label().as_deref(), Some("AVX-512+VNNI+BF16+AMX"));
        assert_eq!(f.l1d_bytes, Some(48 << 10));
        assert_eq!(f.l3_bytes, Some(105 << 20));
        // sysfs wins over /proc/cpuinfo for counts.
        assert_eq!(f.logical_cpus, Some(4));
        assert_eq!(f.physical_cores, Some(2));
        assert_eq!(f.sockets, Some(1));
        assert_eq!(f.smt, Some(true));
        assert_eq!(f.numa_nodes, Some(2));
        assert_eq!(f.available_parallelism, None, "not the live machine");
        assert_eq!(f.memory_bytes, Some(16_092_404 * 1024));
        assert_eq!(f.memory_class_gib(), Some(16));
        assert_eq!(f.max_freq_mhz, Some(3800.0));
        assert_eq!(f.base_freq_mhz, Some(2000.0));
        assert_eq!(f.current_freq_mhz, Some(2400.0));
        assert_eq!(f.boost, Some(true));
        assert_eq!(f.hypervisor, Some(true));
        assert_eq!(f.hypervisor_vendor, None);
        assert_eq!(f.dmi_product_name.as_deref(), Some("m7i.xlarge"));
        assert_eq!(f.load_avg_15m, Some(0.30));
        assert_eq!(f.kernel_release.as_deref(), Some("6.8.0-1015-aws"));
        assert_eq!(f.os.as_deref(), Some("Linux (Ubuntu 24.04.1 LTS)"));
        assert_eq!(f.busy_processes[0].name, "rustc");
        assert!(f.render_text().contains("busy neighbours  rustc (97%)"));
        assert_eq!(f.read_bandwidth_gbps, None);
        assert_eq!(
            f.summary(),
            "Intel(R) Xeon(R) Platinum 8488C (Golden Cove, Sapphire Rapids), \
             4 logical / 2 physical cores, AVX-512+VNNI+BF16+AMX, 16 GiB, VM guest"
        );
        let text = f.render_text();
        assert!(
            text.contains("L1d 48 KiB, L1i 32 KiB, L2 2 MiB, L3 105 MiB"),
            "{text}"
        );
        assert!(
            text.contains("governor performance, driver intel_pstate"),
            "{text}"
        );
        // The fingerprint round-trips through JSON.
        let back: Fingerprint = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn cpuinfo_alone_gives_counts() {
        let d = tempfile::tempdir().unwrap();
        put(d.path(), "proc/cpuinfo", INTEL_CPUINFO);
        let f = Fingerprint::collect(&Roots::under(d.path()));
        assert_eq!(f.logical_cpus, Some(4));
        assert_eq!(f.physical_cores, Some(2));
        assert_eq!(f.sockets, Some(1));
        assert_eq!(f.smt, Some(true), "derived: more logical CPUs than cores");
        assert_eq!(f.l1d_bytes, None);
        assert_eq!(f.numa_nodes, None);
        assert_eq!(f.max_freq_mhz, None);
    }

    #[test]
    fn arm_machine() {
        let d = tempfile::tempdir().unwrap();
        put(
            d.path(),
            "proc/cpuinfo",
            "processor\t: 0\nFeatures\t: fp asimd asimddp i8mm sve sve2\n\
             CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\n\
             CPU part\t: 0xd4f\nCPU revision\t: 1\n",
        );
        let f = Fingerprint::collect(&Roots::under(d.path()));
        assert_eq!(f.cpu_vendor.as_deref(), Some("ARM"));
        assert_eq!(f.microarchitecture, "Neoverse V2");
        assert_eq!(f.cpu_model.as_deref(), Some("ARM Neoverse V2"));
        assert_eq!(
            (f.cpu_family, f.cpu_model_number, f.cpu_stepping),
            (Some(8), Some(0xd4f), Some(1))
        );
        assert_eq!(f.isa_label().as_deref(), Some("SVE2+dotprod+i8mm"));
        assert_eq!(f.hypervisor, None, "Arm cpuinfo has no hypervisor flag");
    }

    #[test]
    fn arm_identity_from_midr() {
        let d = tempfile::tempdir().unwrap();
        put(
            d.path(),
            "sys/devices/system/cpu/cpu0/regs/identification/midr_el1",
            "0x00000000413fd0c1\n",
        );
        let f = Fingerprint::collect(&Roots::under(d.path()));
        assert_eq!(f.microarchitecture, "Neoverse N1");
        assert_eq!(f.cpu_model_number, Some(0xd0c));
    }

    #[test]
    fn empty_tree_is_all_none() {
        let d = tempfile::tempdir().unwrap();
        let f = Fingerprint::collect(&Roots::under(d.path()));
        assert_eq!(f.cpu_vendor, None);
        assert_eq!(f.cpu_model, None);
        assert_eq!(f.microarchitecture, "unknown");
        assert!(f.isa_features.is_empty());
        assert_eq!(f.isa_source, None);
        assert_eq!(f.isa_label(), None);
        assert_eq!(f.logical_cpus, None);
        assert_eq!(f.smt, None);
        assert_eq!(f.memory_bytes, None);
        assert_eq!(f.hypervisor, None);
        assert_eq!(f.os, None);
        assert_eq!(f.kernel_release, None);
        assert_eq!(f.load_avg_1m, None);
        // Build facts do not depend on the tree.
        assert!(!f.rustc_version.is_empty());
        assert!(!f.target.is_empty());
        assert!(f
            .summary()
            .starts_with("unknown CPU, ? logical / ? physical cores"));
        assert!(f.render_text().contains("read bandwidth   not measured"));
        let json = serde_json::to_value(&f).unwrap();
        assert!(json["memory_bytes"].is_null());
    }

    #[test]
    fn hypervisor_type_file_counts() {
        let d = tempfile::tempdir().unwrap();
        put(d.path(), "sys/hypervisor/type", "xen\n");
        let f = Fingerprint::collect(&Roots::under(d.path()));
        assert_eq!(f.hypervisor, Some(true));
        assert_eq!(f.hypervisor_vendor.as_deref(), Some("xen"));
    }

    #[test]
    fn memory_classes() {
        let gib = 1u64 << 30;
        assert_eq!(memory_class_gib(24_684_084 * 1024), 24);
        assert_eq!(memory_class_gib(16 * gib), 16);
        assert_eq!(memory_class_gib(16 * gib - (300 << 20)), 16);
        assert_eq!(memory_class_gib(16 * gib + 1), 24);
        assert_eq!(memory_class_gib(gib / 2), 1);
        assert_eq!(memory_class_gib(2 * gib + 1), 3);
        assert_eq!(memory_class_gib(1000 * gib), 1024);
    }

    #[test]
    fn comparable_key_and_differences() {
        let d = tempfile::tempdir().unwrap();
        fake_intel(d.path());
        let a = Fingerprint::collect_with(&Roots::under(d.path()), intel_os());
        let mut b = a.clone();
        b.timestamp_utc = "2000-01-01T00:00:00Z".into();
        b.load_avg_1m = Some(9.0);
        b.read_bandwidth_gbps = Some(100.0);
        assert_eq!(a.comparable_key(), b.comparable_key());
        assert!(a.matches(&b).is_empty(), "{:?}", a.matches(&b));
        b.cpu_model = Some("AMD EPYC 9654".into());
        b.logical_cpus = Some(8);
        b.isa_features.insert("amx_tile".into(), false);
        b.isa_features.insert("avx_vnni".into(), true);
        b.memory_bytes = Some(31 << 30);
        assert_eq!(
            a.matches(&b),
            vec![
                "CPU model: Intel(R) Xeon(R) Platinum 8488C here, AMD EPYC 9654 there",
                "logical CPUs: 4 here, 8 there",
                "ISA features: only here amx_tile; only there avx_vnni",
                "memory class: 16 GiB here, 32 GiB there",
            ]
        );
    }

    #[test]
    fn bytes_format() {
        assert_eq!(fmt_bytes(32 << 10), "32 KiB");
        assert_eq!(fmt_bytes(1 << 20), "1 MiB");
        assert_eq!(fmt_bytes(24_684_084 * 1024), "23.5 GiB");
        assert_eq!(fmt_bytes(16 << 30), "16 GiB");
        assert_eq!(fmt_bytes(1000), "1000 B");
    }

    #[test]
    fn live_machine_reads_something() {
        let f = Fingerprint::collect(&Roots::system());
        assert!(f.available_parallelism.is_some());
        if cfg!(target_os = "linux") {
            assert!(f.logical_cpus.is_some_and(|n| n >= 1));
            assert!(f.memory_bytes.is_some());
        }
        if cfg!(any(target_arch = "x86", target_arch = "x86_64")) {
            assert_eq!(f.isa_source.as_deref(), Some("cpuid"));
            assert!(f.cpu_vendor.is_some());
        }
    }
}
