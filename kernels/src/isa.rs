//! SIMD levels ("ISAs"): names, the CPU features each needs, and run-time detection.
//!
//! A level is usable only when every feature it lists is detected at run time. Nothing here
//! falls back silently: [`Isa::check`] names the missing features so the caller can say so.
//! To add a level, add a variant, its name and its feature list, then a column in
//! [`crate::table`].

use std::fmt;
use std::str::FromStr;

use crate::error::KernelError;

/// One SIMD level. Ordered from the most portable to the widest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Portable Rust, no explicit SIMD: the reference every other level is checked against.
    Scalar,
    /// SSE4.1 + SSSE3 (128-bit integer; no FMA or F16C).
    Sse41,
    /// AVX2 + FMA + F16C (256-bit).
    Avx2,
    /// AVX-512 F/BW/VL (512-bit), without VNNI.
    Avx512,
    /// AVX-512 F/BW/VL plus VNNI (`vpdpbusd`).
    Avx512Vnni,
    /// AArch64 NEON (no kernels yet: needs an ARM machine to verify them).
    Neon,
}

impl Isa {
    /// Every level, in order.
    pub const ALL: [Isa; 6] = [
        Isa::Scalar,
        Isa::Sse41,
        Isa::Avx2,
        Isa::Avx512,
        Isa::Avx512Vnni,
        Isa::Neon,
    ];

    /// Short lower-case name used on the command line and in results (`avx2`).
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Sse41 => "sse41",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Avx512Vnni => "avx512vnni",
            Isa::Neon => "neon",
        }
    }

    /// The CPU features (as `is_x86_feature_detected!` spells them) this level needs.
    pub fn required_features(self) -> &'static [&'static str] {
        match self {
            Isa::Scalar => &[],
            Isa::Sse41 => &["sse4.1", "ssse3"],
            Isa::Avx2 => &["avx2", "fma", "f16c"],
            Isa::Avx512 => &["avx512f", "avx512bw", "avx512vl", "avx2", "fma", "f16c"],
            Isa::Avx512Vnni => &[
                "avx512f",
                "avx512bw",
                "avx512vl",
                "avx512vnni",
                "avx2",
                "fma",
                "f16c",
            ],
            Isa::Neon => &["neon"],
        }
    }

    /// Features this level needs that this CPU (or this build's target) lacks.
    pub fn missing_features(self) -> Vec<&'static str> {
        self.required_features()
            .iter()
            .copied()
            .filter(|f| !feature_detected(f, self))
            .collect()
    }

    /// Whether this CPU can run the level and this build has kernels for it.
    pub fn is_available(self) -> bool {
        self.check().is_ok()
    }

    /// `Ok` when the level can run here; otherwise an error naming what is missing.
    pub fn check(self) -> Result<(), KernelError> {
        let missing = self.missing_features();
        if !missing.is_empty() {
            return Err(KernelError::IsaUnsupported {
                isa: self.name(),
                missing: missing.join(", "),
            });
        }
        if self == Isa::Neon {
            // The CPU has NEON, but no kernels exist for it yet.
            return Err(KernelError::IsaNotImplemented { isa: self.name() });
        }
        if self != Isa::Scalar && !cfg!(target_arch = "x86_64") {
            return Err(KernelError::IsaWrongArch {
                isa: self.name(),
                arch: std::env::consts::ARCH,
            });
        }
        Ok(())
    }

    /// Every level this CPU can run, most portable first.
    pub fn available() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.is_available()).collect()
    }

    /// The widest level this CPU can run.
    pub fn best() -> Isa {
        Isa::available().into_iter().max().unwrap_or(Isa::Scalar)
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Isa {
    type Err = KernelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace(['-', '_', '.'], "");
        Isa::ALL
            .into_iter()
            .find(|i| i.name() == norm)
            .ok_or_else(|| KernelError::UnknownIsa {
                name: s.to_string(),
                known: Isa::ALL.map(|i| i.name()).join(", "),
            })
    }
}

#[cfg(target_arch = "x86_64")]
fn feature_detected(f: &str, _isa: Isa) -> bool {
    match f {
        "sse4.1" => std::arch::is_x86_feature_detected!("sse4.1"),
        "ssse3" => std::arch::is_x86_feature_detected!("ssse3"),
        "avx2" => std::arch::is_x86_feature_detected!("avx2"),
        "fma" => std::arch::is_x86_feature_detected!("fma"),
        "f16c" => std::arch::is_x86_feature_detected!("f16c"),
        "avx512f" => std::arch::is_x86_feature_detected!("avx512f"),
        "avx512bw" => std::arch::is_x86_feature_detected!("avx512bw"),
        "avx512vl" => std::arch::is_x86_feature_detected!("avx512vl"),
        "avx512vnni" => std::arch::is_x86_feature_detected!("avx512vnni"),
        _ => false,
    }
}

#[cfg(target_arch = "aarch64")]
fn feature_detected(f: &str, _isa: Isa) -> bool {
    match f {
        "neon" => std::arch::is_aarch64_feature_detected!("neon"),
        _ => false,
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn feature_detected(_f: &str, _isa: Isa) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for isa in Isa::ALL {
            assert_eq!(isa.name().parse::<Isa>().unwrap(), isa);
        }
        assert_eq!("AVX-512".parse::<Isa>().unwrap(), Isa::Avx512);
        assert!("avx3".parse::<Isa>().is_err());
    }

    #[test]
    fn scalar_always_available_and_best_is_available() {
        assert!(Isa::Scalar.is_available());
        assert!(Isa::best().is_available());
    }

    #[test]
    fn unsupported_level_names_missing_features() {
        for isa in Isa::ALL {
            if let Err(e) = isa.check() {
                let msg = e.to_string();
                assert!(msg.contains(isa.name()), "{msg}");
            }
        }
    }
}
