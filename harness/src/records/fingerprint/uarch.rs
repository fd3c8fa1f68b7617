//! Microarchitecture names from CPU identity: x86 vendor + display family/model (+ stepping
//! where one model number covers two generations), Arm implementer + part number.
//!
//! Sources: Linux `arch/x86/include/asm/intel-family.h` (Intel model numbers), the AMD Zen
//! generation ranges in Linux `arch/x86/kernel/cpu/amd.c`, and Arm's MIDR part numbers. To
//! add a CPU: one row in [`INTEL`], [`AMD_EXACT`] or [`ARM`]; an AMD model without an exact
//! row still gets its generation from [`AMD_RANGES`].

use serde::{Deserialize, Serialize};

/// A microarchitecture and, where the table knows it, the product codename.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uarch {
    /// Core microarchitecture, e.g. `Zen 4`, `Golden Cove`; for an unknown CPU
    /// `unknown (family 0x19 model 0x99)`.
    pub name: String,
    /// Product codename, e.g. `Genoa`, `Sapphire Rapids`.
    pub codename: Option<String>,
}

impl Uarch {
    fn known(name: &str, codename: Option<&str>) -> Self {
        Uarch {
            name: name.to_string(),
            codename: codename.map(str::to_string),
        }
    }

    /// Whether the table knew the CPU.
    pub fn is_known(&self) -> bool {
        !self.name.starts_with("unknown")
    }
}

/// Intel family 6 (and 19) models: (family, model, microarchitecture, codename).
const INTEL: &[(u32, u32, &str, &str)] = &[
    (6, 0x3c, "Haswell", "Haswell"),
    (6, 0x45, "Haswell", "Haswell-ULT"),
    (6, 0x46, "Haswell", "Crystal Well"),
    (6, 0x3f, "Haswell", "Haswell-EP"),
    (6, 0x3d, "Broadwell", "Broadwell"),
    (6, 0x47, "Broadwell", "Broadwell-H"),
    (6, 0x4f, "Broadwell", "Broadwell-EP"),
    (6, 0x56, "Broadwell", "Broadwell-DE"),
    (6, 0x4e, "Skylake", "Skylake-U/Y"),
    (6, 0x5e, "Skylake", "Skylake-S/H"),
    (6, 0x8e, "Skylake", "Kaby Lake / Whiskey Lake / Amber Lake"),
    (6, 0x9e, "Skylake", "Kaby Lake / Coffee Lake"),
    (6, 0xa5, "Skylake", "Comet Lake"),
    (6, 0xa6, "Skylake", "Comet Lake-U"),
    (6, 0x66, "Palm Cove", "Cannon Lake"),
    (6, 0x7d, "Sunny Cove", "Ice Lake"),
    (6, 0x7e, "Sunny Cove", "Ice Lake-U/Y"),
    (6, 0x6a, "Sunny Cove", "Ice Lake-SP"),
    (6, 0x6c, "Sunny Cove", "Ice Lake-D"),
    (6, 0xa7, "Cypress Cove", "Rocket Lake"),
    (6, 0x8c, "Willow Cove", "Tiger Lake-U"),
    (6, 0x8d, "Willow Cove", "Tiger Lake-H"),
    (6, 0x8f, "Golden Cove", "Sapphire Rapids"),
    (6, 0xcf, "Raptor Cove", "Emerald Rapids"),
    (6, 0xad, "Redwood Cove", "Granite Rapids"),
    (6, 0xae, "Redwood Cove", "Granite Rapids-D"),
    (6, 0xaf, "Crestmont", "Sierra Forest"),
    (6, 0xdd, "Darkmont", "Clearwater Forest"),
    (19, 0x01, "Panther Cove", "Diamond Rapids"),
    (6, 0x97, "Golden Cove + Gracemont", "Alder Lake-S"),
    (6, 0x9a, "Golden Cove + Gracemont", "Alder Lake-P"),
    (6, 0xbe, "Gracemont", "Alder Lake-N"),
    (6, 0xb7, "Raptor Cove + Gracemont", "Raptor Lake-S"),
    (6, 0xba, "Raptor Cove + Gracemont", "Raptor Lake-P"),
    (6, 0xbf, "Raptor Cove + Gracemont", "Raptor Lake-S"),
    (6, 0xaa, "Redwood Cove + Crestmont", "Meteor Lake"),
    (6, 0xac, "Redwood Cove + Crestmont", "Meteor Lake"),
    (6, 0xbd, "Lion Cove + Skymont", "Lunar Lake"),
    (6, 0xc5, "Lion Cove + Skymont", "Arrow Lake-H"),
    (6, 0xc6, "Lion Cove + Skymont", "Arrow Lake-S"),
    (6, 0xb5, "Lion Cove + Skymont", "Arrow Lake-U"),
    (6, 0xcc, "Cougar Cove + Darkmont", "Panther Lake"),
    (6, 0x57, "Knights Landing", "Knights Landing"),
    (6, 0x85, "Knights Mill", "Knights Mill"),
    (6, 0x5c, "Goldmont", "Apollo Lake"),
    (6, 0x5f, "Goldmont", "Denverton"),
    (6, 0x7a, "Goldmont Plus", "Gemini Lake"),
    (6, 0x86, "Tremont", "Snow Ridge"),
    (6, 0x96, "Tremont", "Elkhart Lake"),
    (6, 0x9c, "Tremont", "Jasper Lake"),
];

/// AMD models the table names exactly: (family, first model, last model, uarch, codename).
const AMD_EXACT: &[(u32, u32, u32, &str, &str)] = &[
    (0x17, 0x01, 0x01, "Zen", "Naples / Summit Ridge"),
    (0x17, 0x08, 0x08, "Zen+", "Pinnacle Ridge / Colfax"),
    (0x17, 0x11, 0x11, "Zen", "Raven Ridge"),
    (0x17, 0x18, 0x18, "Zen+", "Picasso"),
    (0x17, 0x20, 0x20, "Zen", "Dali"),
    (0x17, 0x31, 0x31, "Zen 2", "Rome / Castle Peak"),
    (0x17, 0x60, 0x60, "Zen 2", "Renoir"),
    (0x17, 0x68, 0x68, "Zen 2", "Lucienne"),
    (0x17, 0x71, 0x71, "Zen 2", "Matisse"),
    (0x17, 0x90, 0x91, "Zen 2", "Van Gogh"),
    (0x17, 0xa0, 0xaf, "Zen 2", "Mendocino"),
    (0x19, 0x00, 0x01, "Zen 3", "Milan"),
    (0x19, 0x08, 0x08, "Zen 3", "Chagall"),
    (0x19, 0x10, 0x11, "Zen 4", "Genoa"),
    (0x19, 0x18, 0x18, "Zen 4", "Storm Peak"),
    (0x19, 0x21, 0x21, "Zen 3", "Vermeer"),
    (0x19, 0x40, 0x44, "Zen 3+", "Rembrandt"),
    (0x19, 0x50, 0x50, "Zen 3", "Cezanne"),
    (0x19, 0x61, 0x61, "Zen 4", "Raphael"),
    (0x19, 0x74, 0x75, "Zen 4", "Phoenix / Hawk Point"),
    (0x19, 0x78, 0x78, "Zen 4 + Zen 4c", "Phoenix 2"),
    (0x19, 0xa0, 0xaf, "Zen 4c", "Bergamo / Siena"),
    (0x1a, 0x00, 0x0f, "Zen 5", "Turin"),
    (0x1a, 0x10, 0x1f, "Zen 5c", "Turin Dense"),
    (0x1a, 0x20, 0x2f, "Zen 5 + Zen 5c", "Strix Point"),
    (0x1a, 0x40, 0x4f, "Zen 5", "Granite Ridge"),
    (0x1a, 0x60, 0x6f, "Zen 5 + Zen 5c", "Krackan Point"),
    (0x1a, 0x70, 0x77, "Zen 5", "Strix Halo"),
];

/// AMD generations by model range (Linux `bsp_init_amd`): (family, first, last, uarch).
const AMD_RANGES: &[(u32, u32, u32, &str)] = &[
    (0x17, 0x00, 0x2f, "Zen"),
    (0x17, 0x50, 0x5f, "Zen"),
    (0x17, 0x30, 0x4f, "Zen 2"),
    (0x17, 0x60, 0x7f, "Zen 2"),
    (0x17, 0x90, 0x91, "Zen 2"),
    (0x17, 0xa0, 0xaf, "Zen 2"),
    (0x19, 0x00, 0x0f, "Zen 3"),
    (0x19, 0x20, 0x5f, "Zen 3"),
    (0x19, 0x10, 0x1f, "Zen 4"),
    (0x19, 0x60, 0xaf, "Zen 4"),
    (0x1a, 0x00, 0x2f, "Zen 5"),
    (0x1a, 0x40, 0x4f, "Zen 5"),
    (0x1a, 0x60, 0x7f, "Zen 5"),
];

/// Arm cores by (implementer, part): name.
const ARM: &[(u32, u32, &str)] = &[
    (0x41, 0xd03, "Cortex-A53"),
    (0x41, 0xd05, "Cortex-A55"),
    (0x41, 0xd07, "Cortex-A57"),
    (0x41, 0xd08, "Cortex-A72"),
    (0x41, 0xd0b, "Cortex-A76"),
    (0x41, 0xd0c, "Neoverse N1"),
    (0x41, 0xd40, "Neoverse V1"),
    (0x41, 0xd41, "Cortex-A78"),
    (0x41, 0xd44, "Cortex-X1"),
    (0x41, 0xd49, "Neoverse N2"),
    (0x41, 0xd4f, "Neoverse V2"),
    (0x41, 0xd84, "Neoverse V3"),
    (0x41, 0xd8e, "Neoverse N3"),
    (0x46, 0x001, "A64FX"),
    (0x48, 0xd01, "TaiShan v110"),
    (0xc0, 0xac3, "AmpereOne"),
];

/// The microarchitecture of an x86 CPU from its vendor string (`GenuineIntel`,
/// `AuthenticAMD`, `HygonGenuine`) and display family, model and stepping.
pub fn x86(vendor: &str, family: u32, model: u32, stepping: Option<u32>) -> Uarch {
    match vendor {
        "GenuineIntel" => {
            if (family, model) == (6, 0x55) {
                // One model number, three generations told apart by stepping.
                return match stepping {
                    Some(0..=4) => Uarch::known("Skylake", Some("Skylake-SP")),
                    Some(5..=7) => Uarch::known("Skylake", Some("Cascade Lake")),
                    Some(10 | 11) => Uarch::known("Skylake", Some("Cooper Lake")),
                    _ => Uarch::known("Skylake", Some("Skylake-SP / Cascade Lake")),
                };
            }
            if let Some(&(_, _, n, c)) = INTEL
                .iter()
                .find(|&&(f, m, _, _)| (f, m) == (family, model))
            {
                return Uarch::known(n, Some(c));
            }
        }
        "AuthenticAMD" => {
            if let Some(&(_, _, _, n, c)) = AMD_EXACT
                .iter()
                .find(|&&(f, lo, hi, _, _)| f == family && (lo..=hi).contains(&model))
            {
                return Uarch::known(n, Some(c));
            }
            if let Some(&(_, _, _, n)) = AMD_RANGES
                .iter()
                .find(|&&(f, lo, hi, _)| f == family && (lo..=hi).contains(&model))
            {
                return Uarch::known(n, None);
            }
        }
        "HygonGenuine" if family == 0x18 => return Uarch::known("Zen (Hygon)", Some("Dhyana")),
        _ => {}
    }
    unknown_x86(family, model)
}

fn unknown_x86(family: u32, model: u32) -> Uarch {
    Uarch {
        name: format!("unknown (family {family:#x} model {model:#x})"),
        codename: None,
    }
}

/// The core of an Arm CPU from its MIDR implementer and part number.
pub fn arm(implementer: u32, part: u32) -> Uarch {
    match ARM.iter().find(|&&(i, p, _)| (i, p) == (implementer, part)) {
        Some(&(_, _, n)) => Uarch::known(n, None),
        None => Uarch {
            name: format!("unknown (implementer {implementer:#x} part {part:#x})"),
            codename: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amd() {
        let g = x86("AuthenticAMD", 0x19, 0x11, Some(1));
        assert_eq!(g, Uarch::known("Zen 4", Some("Genoa")));
        assert_eq!(
            x86("AuthenticAMD", 0x19, 0x01, None).codename.unwrap(),
            "Milan"
        );
        assert_eq!(x86("AuthenticAMD", 0x17, 0x31, None).name, "Zen 2");
        assert_eq!(
            x86("AuthenticAMD", 0x1a, 0x02, None).codename.unwrap(),
            "Turin"
        );
        // No exact row: the generation from the range table, no codename.
        assert_eq!(
            x86("AuthenticAMD", 0x19, 0x62, None),
            Uarch::known("Zen 4", None)
        );
        assert_eq!(
            x86("AuthenticAMD", 0x17, 0x55, None),
            Uarch::known("Zen", None)
        );
    }

    #[test]
    fn intel() {
        assert_eq!(
            x86("GenuineIntel", 6, 0x8f, Some(8)),
            Uarch::known("Golden Cove", Some("Sapphire Rapids"))
        );
        assert_eq!(
            x86("GenuineIntel", 6, 0xcf, None).codename.unwrap(),
            "Emerald Rapids"
        );
        assert_eq!(
            x86("GenuineIntel", 6, 0x55, Some(7)).codename.unwrap(),
            "Cascade Lake"
        );
        assert_eq!(
            x86("GenuineIntel", 6, 0x55, Some(4)).codename.unwrap(),
            "Skylake-SP"
        );
        assert_eq!(x86("GenuineIntel", 6, 0x6a, None).name, "Sunny Cove");
    }

    #[test]
    fn unknown_says_what_it_saw() {
        let u = x86("AuthenticAMD", 0x19, 0xf0, None);
        assert_eq!(u.name, "unknown (family 0x19 model 0xf0)");
        assert!(!u.is_known());
        assert_eq!(
            x86("GenuineIntel", 6, 0x01, None).name,
            "unknown (family 0x6 model 0x1)"
        );
        assert_eq!(
            x86("CentaurHauls", 7, 0x3b, None).name,
            "unknown (family 0x7 model 0x3b)"
        );
        // A model number means nothing under another vendor.
        assert!(!x86("GenuineIntel", 0x19, 0x11, None).is_known());
    }

    #[test]
    fn arm_cores() {
        assert_eq!(arm(0x41, 0xd0c).name, "Neoverse N1");
        assert_eq!(arm(0x41, 0xd4f).name, "Neoverse V2");
        assert_eq!(
            arm(0x41, 0xfff).name,
            "unknown (implementer 0x41 part 0xfff)"
        );
    }

    #[test]
    fn table_rows_are_unique() {
        for (i, a) in INTEL.iter().enumerate() {
            assert!(
                INTEL[i + 1..].iter().all(|b| (a.0, a.1) != (b.0, b.1)),
                "{a:?}"
            );
        }
        for (i, a) in AMD_EXACT.iter().enumerate() {
            assert!(a.1 <= a.2, "{a:?}");
            assert!(
                AMD_EXACT[i + 1..]
                    .iter()
                    .all(|b| a.0 != b.0 || a.2 < b.1 || b.2 < a.1),
                "overlap {a:?}"
            );
        }
    }
}
