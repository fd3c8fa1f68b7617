//! CPU identity and ISA features: `/proc/cpuinfo` (x86 `flags`; Arm `Features`, `CPU
//! implementer` and `CPU part`), the Arm MIDR register in sysfs, and on x86 the CPUID
//! instruction (raw-cpuid) when the live machine is read.
//!
//! To report another ISA feature: add its name and its `/proc/cpuinfo` flag to [`X86_FLAGS`]
//! or [`ARM_FEATURES`], and on x86 its raw-cpuid test to `x86::features`.

use std::collections::BTreeMap;
use std::path::Path;

/// The x86 features reported, as (our name, `/proc/cpuinfo` flag).
pub const X86_FLAGS: [(&str, &str); 16] = [
    ("sse4.1", "sse4_1"),
    ("ssse3", "ssse3"),
    ("avx", "avx"),
    ("avx2", "avx2"),
    ("fma", "fma"),
    ("f16c", "f16c"),
    ("avx512f", "avx512f"),
    ("avx512bw", "avx512bw"),
    ("avx512vl", "avx512vl"),
    ("avx512_vnni", "avx512_vnni"),
    ("avx_vnni", "avx_vnni"),
    ("avx512_bf16", "avx512_bf16"),
    ("avx512_fp16", "avx512_fp16"),
    ("amx_tile", "amx_tile"),
    ("amx_int8", "amx_int8"),
    ("amx_bf16", "amx_bf16"),
];

/// The Arm features reported, as (our name, `/proc/cpuinfo` `Features` word).
pub const ARM_FEATURES: [(&str, &str); 8] = [
    ("neon", "asimd"),
    ("dotprod", "asimddp"),
    ("i8mm", "i8mm"),
    ("fp16", "asimdhp"),
    ("bf16", "bf16"),
    ("sve", "sve"),
    ("sve2", "sve2"),
    ("sme", "sme"),
];

/// What `/proc/cpuinfo` says: the first processor's identity, and counts over all of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuInfo {
    /// `vendor_id` (x86).
    pub vendor: Option<String>,
    /// The first of `model name`, `cpu model`, `Model` (as the file orders them).
    pub model_name: Option<String>,
    /// `cpu family` (x86, decimal in the file).
    pub family: Option<u32>,
    /// `model` (x86).
    pub model: Option<u32>,
    /// `stepping` (x86).
    pub stepping: Option<u32>,
    /// `CPU implementer` (Arm).
    pub arm_implementer: Option<u32>,
    /// `CPU architecture` (Arm).
    pub arm_architecture: Option<u32>,
    /// `CPU part` (Arm).
    pub arm_part: Option<u32>,
    /// `CPU revision` (Arm).
    pub arm_revision: Option<u32>,
    /// The `flags` words (x86), when the line is there.
    pub flags: Option<Vec<String>>,
    /// The `Features` words (Arm), when the line is there.
    pub features: Option<Vec<String>>,
    /// `cpu MHz` of the first processor.
    pub mhz: Option<f64>,
    /// `processor` entries.
    pub processors: usize,
    /// Distinct (`physical id`, `core id`) pairs, when every processor has both.
    pub cores: Option<usize>,
    /// Distinct `physical id`s, when every processor has one.
    pub sockets: Option<usize>,
}

/// Parses a decimal or `0x` hexadecimal number.
pub fn parse_num(s: &str) -> Option<u32> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Parses the text of `/proc/cpuinfo`.
pub fn parse_cpuinfo(text: &str) -> CpuInfo {
    let mut c = CpuInfo::default();
    let mut pairs = std::collections::BTreeSet::new();
    let mut sockets = std::collections::BTreeSet::new();
    let (mut phys, mut core): (Option<String>, Option<String>) = (None, None);
    let mut blocks_with_ids = 0usize;
    let mut close_block = |phys: &mut Option<String>, core: &mut Option<String>| {
        if let Some(p) = phys.take() {
            sockets.insert(p.clone());
            if let Some(k) = core.take() {
                pairs.insert((p, k));
                blocks_with_ids += 1;
            }
        }
        *core = None;
    };
    for line in text.lines() {
        if line.trim().is_empty() {
            close_block(&mut phys, &mut core);
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        let set = |slot: &mut Option<String>| {
            if slot.is_none() && !v.is_empty() {
                *slot = Some(v.to_string());
            }
        };
        let set_num = |slot: &mut Option<u32>| {
            if slot.is_none() {
                *slot = parse_num(v);
            }
        };
        let words = || v.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        match k {
            "processor" => c.processors += 1,
            "vendor_id" => set(&mut c.vendor),
            "model name" | "cpu model" | "Model" => set(&mut c.model_name),
            "cpu family" => set_num(&mut c.family),
            "model" => set_num(&mut c.model),
            "stepping" => set_num(&mut c.stepping),
            "CPU implementer" => set_num(&mut c.arm_implementer),
            "CPU architecture" => set_num(&mut c.arm_architecture),
            "CPU part" => set_num(&mut c.arm_part),
            "CPU revision" => set_num(&mut c.arm_revision),
            "flags" if c.flags.is_none() => c.flags = Some(words()),
            "Features" if c.features.is_none() => c.features = Some(words()),
            "cpu MHz" if c.mhz.is_none() => c.mhz = v.parse().ok(),
            "physical id" => phys = Some(v.to_string()),
            "core id" => core = Some(v.to_string()),
            _ => {}
        }
    }
    close_block(&mut phys, &mut core);
    if c.processors > 0 && blocks_with_ids == c.processors {
        c.cores = Some(pairs.len());
        c.sockets = Some(sockets.len());
    }
    c
}

/// Reads and parses `<proc>/cpuinfo`; `None` when unreadable.
pub fn read_cpuinfo(proc_dir: &Path) -> Option<CpuInfo> {
    std::fs::read_to_string(proc_dir.join("cpuinfo"))
        .ok()
        .map(|s| parse_cpuinfo(&s))
}

/// The reported features present in `/proc/cpuinfo`: every name of [`X86_FLAGS`] (from
/// `flags`) or [`ARM_FEATURES`] (from `Features`) with whether it is there; `None` when the
/// file has neither line.
pub fn features_from_cpuinfo(c: &CpuInfo) -> Option<BTreeMap<String, bool>> {
    let (table, words): (&[(&str, &str)], &Vec<String>) = match (&c.flags, &c.features) {
        (Some(f), _) => (&X86_FLAGS, f),
        (None, Some(f)) => (&ARM_FEATURES, f),
        (None, None) => return None,
    };
    Some(
        table
            .iter()
            .map(|(name, word)| (name.to_string(), words.iter().any(|w| w == word)))
            .collect(),
    )
}

/// Arm identity from the MIDR_EL1 register (sysfs `regs/identification/midr_el1`, hex):
/// (implementer, architecture, part, revision).
pub fn parse_midr(text: &str) -> Option<(u32, u32, u32, u32)> {
    let t = text.trim();
    let v = u64::from_str_radix(t.strip_prefix("0x").unwrap_or(t), 16).ok()? as u32;
    Some((v >> 24, (v >> 16) & 0xf, (v >> 4) & 0xfff, v & 0xf))
}

/// The name of an Arm implementer code (MIDR bits 31:24).
pub fn arm_implementer_name(code: u32) -> Option<&'static str> {
    Some(match code {
        0x41 => "ARM",
        0x42 => "Broadcom",
        0x46 => "Fujitsu",
        0x48 => "HiSilicon",
        0x4e => "NVIDIA",
        0x51 => "Qualcomm",
        0x61 => "Apple",
        0xc0 => "Ampere",
        _ => return None,
    })
}

/// What the CPUID instruction says about the live x86 CPU.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cpuid {
    /// Vendor string, e.g. `AuthenticAMD`.
    pub vendor: Option<String>,
    /// Brand string.
    pub brand: Option<String>,
    /// Display family (base plus extended where the vendor's rule says so).
    pub family: Option<u32>,
    /// Display model.
    pub model: Option<u32>,
    /// Stepping.
    pub stepping: Option<u32>,
    /// Every name of [`X86_FLAGS`] with whether CPUID reports it.
    pub features: BTreeMap<String, bool>,
    /// The hypervisor-present bit (leaf 1, ECX bit 31).
    pub hypervisor: bool,
    /// The hypervisor's signature (leaf 0x4000_0000), named.
    pub hypervisor_vendor: Option<String>,
    /// Leaf 0x16 base frequency (Intel), MHz; `None` when 0 or absent.
    pub base_mhz: Option<u32>,
    /// Leaf 0x16 maximum frequency (Intel), MHz; `None` when 0 or absent.
    pub max_mhz: Option<u32>,
}

/// Reads CPUID on this CPU; `None` off x86.
pub fn cpuid() -> Option<Cpuid> {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        Some(x86::read())
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    {
        None
    }
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
mod x86 {
    //! CPUID through raw-cpuid (whose calls are safe: the instruction exists on every x86-64).

    use raw_cpuid::{CpuId, Hypervisor};

    use super::Cpuid;

    pub(super) fn read() -> Cpuid {
        let id = CpuId::new();
        let mut c = Cpuid {
            vendor: id.get_vendor_info().map(|v| v.as_str().to_string()),
            brand: id
                .get_processor_brand_string()
                .map(|b| b.as_str().trim().to_string())
                .filter(|b| !b.is_empty()),
            ..Cpuid::default()
        };
        let fi = id.get_feature_info();
        let ext = id.get_extended_feature_info();
        if let Some(f) = &fi {
            c.family = Some(f.family_id().into());
            c.model = Some(f.model_id().into());
            c.stepping = Some(f.stepping_id().into());
            c.hypervisor = f.has_hypervisor();
        }
        let basic = |g: fn(&raw_cpuid::FeatureInfo) -> bool| fi.as_ref().is_some_and(g);
        let extended = |g: fn(&raw_cpuid::ExtendedFeatures) -> bool| ext.as_ref().is_some_and(g);
        let table: [(&str, bool); 16] = [
            ("sse4.1", basic(|f| f.has_sse41())),
            ("ssse3", basic(|f| f.has_ssse3())),
            ("avx", basic(|f| f.has_avx())),
            ("avx2", extended(|e| e.has_avx2())),
            ("fma", basic(|f| f.has_fma())),
            ("f16c", basic(|f| f.has_f16c())),
            ("avx512f", extended(|e| e.has_avx512f())),
            ("avx512bw", extended(|e| e.has_avx512bw())),
            ("avx512vl", extended(|e| e.has_avx512vl())),
            ("avx512_vnni", extended(|e| e.has_avx512vnni())),
            ("avx_vnni", extended(|e| e.has_avx_vnni())),
            ("avx512_bf16", extended(|e| e.has_avx512_bf16())),
            ("avx512_fp16", extended(|e| e.has_avx512_fp16())),
            ("amx_tile", extended(|e| e.has_amx_tile())),
            ("amx_int8", extended(|e| e.has_amx_int8())),
            ("amx_bf16", extended(|e| e.has_amx_bf16())),
        ];
        c.features = table.iter().map(|(n, b)| (n.to_string(), *b)).collect();
        c.hypervisor_vendor = id.get_hypervisor_info().map(|h| {
            match h.identify() {
                Hypervisor::Xen => "Xen",
                Hypervisor::VMware => "VMware",
                Hypervisor::HyperV => "Hyper-V",
                Hypervisor::KVM => "KVM",
                Hypervisor::QEMU => "QEMU",
                Hypervisor::Bhyve => "bhyve",
                Hypervisor::QNX => "QNX",
                Hypervisor::ACRN => "ACRN",
                Hypervisor::Unknown(..) => "unknown",
            }
            .to_string()
        });
        if let Some(f) = id.get_processor_frequency_info() {
            c.base_mhz = Some(f.processor_base_frequency().into()).filter(|&m: &u32| m > 0);
            c.max_mhz = Some(f.processor_max_frequency().into()).filter(|&m: &u32| m > 0);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTEL: &str = "\
processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8480+
stepping\t: 8
cpu MHz\t\t: 2000.000
physical id\t: 0
core id\t\t: 0
flags\t\t: fpu sse4_1 sse4_2 ssse3 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni avx_vnni avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8 hypervisor

processor\t: 1
vendor_id\t: GenuineIntel
physical id\t: 0
core id\t\t: 0

processor\t: 2
vendor_id\t: GenuineIntel
physical id\t: 1
core id\t\t: 0

processor\t: 3
vendor_id\t: GenuineIntel
physical id\t: 1
core id\t\t: 1
";

    const AMD: &str = "\
processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC 9654 96-Core Processor
stepping\t: 1
cpu MHz\t\t: 2596.128
flags\t\t: fpu sse4_1 ssse3 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_bf16 avx512_vnni hypervisor

processor\t: 1
vendor_id\t: AuthenticAMD
";

    const ARM: &str = "\
processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x3
CPU part\t: 0xd0c
CPU revision\t: 1

processor\t: 1
Features\t: fp asimd
CPU implementer\t: 0x41
CPU part\t: 0xd0c
";

    #[test]
    fn intel_cpuinfo() {
        let c = parse_cpuinfo(INTEL);
        assert_eq!(c.vendor.as_deref(), Some("GenuineIntel"));
        assert_eq!(
            c.model_name.as_deref(),
            Some("Intel(R) Xeon(R) Platinum 8480+")
        );
        assert_eq!(
            (c.family, c.model, c.stepping),
            (Some(6), Some(143), Some(8))
        );
        assert_eq!(c.processors, 4);
        assert_eq!(c.cores, Some(3));
        assert_eq!(c.sockets, Some(2));
        assert_eq!(c.mhz, Some(2000.0));
        let f = features_from_cpuinfo(&c).unwrap();
        assert_eq!(f.len(), X86_FLAGS.len());
        assert!(f.values().all(|&b| b), "{f:?}");
    }

    #[test]
    fn amd_cpuinfo() {
        let c = parse_cpuinfo(AMD);
        assert_eq!(c.vendor.as_deref(), Some("AuthenticAMD"));
        assert_eq!(
            (c.family, c.model, c.stepping),
            (Some(0x19), Some(0x11), Some(1))
        );
        assert_eq!(c.processors, 2);
        assert_eq!(c.cores, None, "no physical/core ids: no count");
        let f = features_from_cpuinfo(&c).unwrap();
        assert!(f["avx512f"] && f["avx512_vnni"] && f["avx512_bf16"] && f["sse4.1"]);
        assert!(!f["avx_vnni"] && !f["amx_tile"] && !f["avx512_fp16"]);
    }

    #[test]
    fn arm_cpuinfo() {
        let c = parse_cpuinfo(ARM);
        assert_eq!(c.vendor, None);
        assert_eq!(c.model_name, None);
        assert_eq!(c.arm_implementer, Some(0x41));
        assert_eq!(c.arm_architecture, Some(8));
        assert_eq!(c.arm_part, Some(0xd0c));
        assert_eq!(c.arm_revision, Some(1));
        assert_eq!(c.flags, None);
        let f = features_from_cpuinfo(&c).unwrap();
        assert_eq!(f.len(), ARM_FEATURES.len());
        assert!(f["neon"] && f["dotprod"] && f["fp16"]);
        assert!(!f["sve"] && !f["i8mm"] && !f["bf16"]);
    }

    #[test]
    fn empty_cpuinfo_has_nothing() {
        let c = parse_cpuinfo("");
        assert_eq!(c, CpuInfo::default());
        assert_eq!(features_from_cpuinfo(&c), None);
        assert_eq!(read_cpuinfo(Path::new("/nonexistent/proc")), None);
    }

    #[test]
    fn midr_decodes() {
        // Neoverse N1 r3p1.
        assert_eq!(
            parse_midr("0x00000000413fd0c1\n"),
            Some((0x41, 0xf, 0xd0c, 1))
        );
        assert_eq!(parse_midr("zz"), None);
        assert_eq!(arm_implementer_name(0x41), Some("ARM"));
        assert_eq!(arm_implementer_name(0x99), None);
    }

    #[test]
    fn numbers_parse() {
        assert_eq!(parse_num("25"), Some(25));
        assert_eq!(parse_num(" 0xd0c "), Some(0xd0c));
        assert_eq!(parse_num("AArch64"), None);
    }

    #[test]
    fn live_cpuid_is_consistent() {
        let Some(c) = cpuid() else {
            return; // not x86
        };
        assert_eq!(c.features.len(), X86_FLAGS.len());
        // Every x86-64 CPU has SSE4.1's predecessors; the AVX-512 subsets need the foundation.
        if c.features["avx512bw"] || c.features["avx512vl"] {
            assert!(c.features["avx512f"]);
        }
    }
}
