//! The cases `ternbench icount` counts, and their identifiers.
//!
//! * **Kernel cases** (`kernel:FORMAT:LEVEL:OP:SHAPE`): one `matmul` call on one thread of a
//!   BitNet b1.58 2B4T linear layer's shape (from the zoo's `bitnet-2b4t` config: `qo`
//!   2560x2560, `kv` 640x2560, `down` 2560x6912), as `gemv` (one token) or `gemm` at
//!   [`GEMM_BATCHES`] tokens: 8 (two whole 4-token tiles, one pass) on every shape, and 103 (two
//!   passes over the activations, tiles with a remainder of 3) on `kv`. Counted per call.
//! * **Model cases** (`model:ENGINE:LEVEL:PHASE`): the synthetic `bitnet-125m` with
//!   [`MODEL_LAYERS`] of its 11 layers built, the ternary engine (i2, f16 head) and its FP16
//!   twin, at `avx2`; `prefill` is one forward pass over [`PROMPT_TOKENS`] tokens, `decode` is
//!   [`DECODE_TOKENS`] steps after that prompt, each a forward pass of one token and a greedy
//!   pick. Counted per token.
//!
//! What is left out, to keep the Valgrind step to a few minutes on 2 cores: the `gate_up`
//! shape (6912x2560: `qo`'s kernel path with 2.7x the rows, and the costliest matrix to build
//! under Valgrind) and the LM head (128256 rows); `scalar` (the reference kernels, 10-30x
//! costlier to simulate) except `gemv` on `kv`; `f16` `gemm` at `avx2` except batch 8 on `kv`
//! (Valgrind emulates each FMA instruction in software, about 0.5 µs each); model cases at
//! `sse41`. AVX-512 levels cannot be counted at all: Valgrind does not run AVX-512 code
//! (under it the CPU reports none).

use std::fmt;

use anyhow::Result;
use ternbench_engine::kernels::{Format, Isa, Op};
use ternbench_engine::zoo;

use crate::cli::EngineArg;
use crate::error::usage;

/// The zoo model of the model cases.
pub const MODEL: &str = "bitnet-125m";
/// Layers built of it (of 11): per-token counts are for this depth.
pub const MODEL_LAYERS: usize = 2;
/// Prompt tokens of the prefill cases (and the context before decoding).
pub const PROMPT_TOKENS: usize = 8;
/// Tokens decoded in a decode case.
pub const DECODE_TOKENS: usize = 4;
/// Tokens per gemm call: two whole 4-token tiles; and 25 tiles plus a remainder of 3, more
/// than one pass over the activations (a pass holds 256 KiB of them: 100 tokens of 2560).
pub const GEMM_BATCHES: [usize; 2] = [8, 103];
/// Weight formats of the kernel cases, in order.
pub const FORMATS: [Format; 5] = [Format::I2, Format::Tq1, Format::Tl, Format::Q8, Format::F16];
/// The levels Valgrind can run, most portable first.
pub const LEVELS: [Isa; 3] = [Isa::Scalar, Isa::Sse41, Isa::Avx2];

/// A linear layer's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shape {
    /// Name in case identifiers.
    pub name: &'static str,
    /// Output features.
    pub rows: usize,
    /// Input features.
    pub cols: usize,
}

/// The 2B4T linear layers' shapes counted (module doc: why not `gate_up` and the LM head).
pub fn shapes() -> Vec<Shape> {
    let c = zoo::config("bitnet-2b4t").expect("the zoo has bitnet-2b4t");
    let (h, i, kv) = (c.hidden, c.intermediate, c.kv_dim());
    vec![
        Shape {
            name: "qo",
            rows: h,
            cols: h,
        },
        Shape {
            name: "kv",
            rows: kv,
            cols: h,
        },
        Shape {
            name: "down",
            rows: h,
            cols: i,
        },
    ]
}

/// A kernel op with its batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KOp {
    /// One token.
    Gemv,
    /// This many tokens.
    Gemm(usize),
}

impl KOp {
    /// The kernels crate's op.
    pub fn op(self) -> Op {
        match self {
            KOp::Gemv => Op::Gemv,
            KOp::Gemm(_) => Op::Gemm,
        }
    }
    /// Tokens per call.
    pub fn batch(self) -> usize {
        match self {
            KOp::Gemv => 1,
            KOp::Gemm(b) => b,
        }
    }
}

impl fmt::Display for KOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KOp::Gemv => f.write_str("gemv"),
            KOp::Gemm(b) => write!(f, "gemm{b}"),
        }
    }
}

/// A model phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// One forward pass over the prompt.
    Prefill,
    /// Single-token steps after the prompt.
    Decode,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Prefill => "prefill",
            Phase::Decode => "decode",
        }
    }
}

/// One case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// A kernel call.
    Kernel {
        /// Weight format.
        format: Format,
        /// SIMD level.
        isa: Isa,
        /// Op and batch.
        op: KOp,
        /// Shape.
        shape: Shape,
    },
    /// A model's tokens.
    Model {
        /// Ternary (i2) or the FP16 twin.
        engine: EngineArg,
        /// SIMD level.
        isa: Isa,
        /// Prefill or decode.
        phase: Phase,
    },
}

fn engine_name(e: EngineArg) -> &'static str {
    match e {
        EngineArg::Ternary => "ternary-i2",
        EngineArg::Fp16 => "fp16",
    }
}

impl Case {
    /// The stable identifier.
    pub fn id(&self) -> String {
        match self {
            Case::Kernel {
                format,
                isa,
                op,
                shape,
            } => format!("kernel:{format}:{isa}:{op}:{}", shape.name),
            Case::Model { engine, isa, phase } => {
                format!("model:{}:{isa}:{}", engine_name(*engine), phase.name())
            }
        }
    }

    /// A label for people.
    pub fn label(&self) -> String {
        match self {
            Case::Kernel {
                format,
                isa,
                op,
                shape,
            } => format!(
                "{format} {isa} {op} {} {}x{}",
                shape.name, shape.rows, shape.cols
            ),
            Case::Model { engine, isa, phase } => {
                let n = match phase {
                    Phase::Prefill => format!("{PROMPT_TOKENS} tokens"),
                    Phase::Decode => format!("{DECODE_TOKENS} tokens after {PROMPT_TOKENS}"),
                };
                format!(
                    "{MODEL} ({MODEL_LAYERS} layers) {} {isa} {} {n}",
                    engine_name(*engine).replace('-', "/"),
                    phase.name()
                )
            }
        }
    }

    /// What one count is per.
    pub fn unit(&self) -> &'static str {
        match self {
            Case::Kernel { .. } => "call",
            Case::Model { .. } => "token",
        }
    }

    /// The SIMD level.
    pub fn isa(&self) -> Isa {
        match self {
            Case::Kernel { isa, .. } | Case::Model { isa, .. } => *isa,
        }
    }

    /// Parses an identifier of [`all`].
    pub fn parse(id: &str) -> Result<Case> {
        all().into_iter().find(|c| c.id() == id).ok_or_else(|| {
            usage(format!(
                "unknown icount case `{id}` (ternbench icount --list)"
            ))
        })
    }

    /// A rough cost in CPU seconds under Valgrind of the case's simulated calls or tokens (a
    /// warm-up call and a counted one), for spreading cases over workers.
    pub fn cost(&self) -> f64 {
        match self {
            Case::Kernel {
                format,
                isa,
                op,
                shape,
            } => {
                let macs = (shape.rows * shape.cols * op.batch()) as f64;
                // Valgrind emulates FMA in software: about 0.5 µs per 8-lane instruction.
                let per_call = if *format == Format::F16 && *isa == Isa::Avx2 {
                    macs / 8.0 * 0.5e-6
                } else {
                    let instr_per_mac = match isa {
                        Isa::Scalar => 4.0,
                        Isa::Sse41 => 0.35,
                        _ => 0.2,
                    };
                    macs * instr_per_mac / 50e6
                };
                2.0 * per_call
            }
            Case::Model { engine, phase, .. } => {
                let t = match phase {
                    Phase::Prefill => PROMPT_TOKENS,
                    Phase::Decode => DECODE_TOKENS,
                };
                let per_token = match engine {
                    EngineArg::Ternary => 1.5,
                    EngineArg::Fp16 => 2.5,
                };
                t as f64 * per_token
            }
        }
    }

    /// What the case's setup builds: cases with equal keys share one matrix or model.
    pub fn setup_key(&self) -> String {
        match self {
            Case::Kernel { format, shape, .. } => format!("matrix:{format}:{}", shape.name),
            Case::Model { engine, .. } => format!("model:{}", engine_name(*engine)),
        }
    }

    /// A rough cost in CPU seconds of that setup (building weights under Valgrind).
    pub fn setup_cost(&self) -> f64 {
        match self {
            Case::Kernel { shape, .. } => (shape.rows * shape.cols) as f64 * 0.25e-6,
            Case::Model { .. } => 12.0,
        }
    }
}

/// Every case, in suite order: kernels by format, shape, level and op, then the model cases
/// (module doc: what is left out and why).
pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    for format in FORMATS {
        for shape in shapes() {
            for isa in LEVELS {
                let fma_emulated = format == Format::F16 && isa == Isa::Avx2;
                let mut ops = vec![KOp::Gemv];
                match isa {
                    Isa::Scalar if shape.name != "kv" => continue,
                    Isa::Scalar => {}
                    _ => {
                        if !fma_emulated || shape.name == "kv" {
                            ops.push(KOp::Gemm(GEMM_BATCHES[0]));
                        }
                        if !fma_emulated && shape.name == "kv" {
                            ops.push(KOp::Gemm(GEMM_BATCHES[1]));
                        }
                    }
                }
                for op in ops {
                    v.push(Case::Kernel {
                        format,
                        isa,
                        op,
                        shape,
                    });
                }
            }
        }
    }
    for engine in [EngineArg::Ternary, EngineArg::Fp16] {
        for phase in [Phase::Prefill, Phase::Decode] {
            v.push(Case::Model {
                engine,
                isa: Isa::Avx2,
                phase,
            });
        }
    }
    v
}

/// Whether `id` matches `pattern` (`*` matches any run of characters).
pub fn glob(pattern: &str, id: &str) -> bool {
    fn rec(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => (0..=s.len()).any(|i| rec(rest, &s[i..])),
            Some((c, rest)) => s.first() == Some(c) && rec(rest, &s[1..]),
        }
    }
    rec(pattern.as_bytes(), id.as_bytes())
}

/// The cases matching any of `patterns` (every case when empty), in suite order. A pattern
/// matching nothing is a usage error.
pub fn select(patterns: &[String]) -> Result<Vec<Case>> {
    let all = all();
    if patterns.is_empty() {
        return Ok(all);
    }
    for p in patterns {
        if !all.iter().any(|c| glob(p, &c.id())) {
            return Err(usage(format!(
                "--cases {p}: matches no case (list them with ternbench icount --list)"
            )));
        }
    }
    Ok(all
        .into_iter()
        .filter(|c| patterns.iter().any(|p| glob(p, &c.id())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_parse_back() {
        let all = all();
        let mut ids: Vec<String> = all.iter().map(Case::id).collect();
        for (c, id) in all.iter().zip(&ids) {
            assert_eq!(&Case::parse(id).unwrap(), c);
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), all.len());
        assert!(Case::parse("kernel:i2:avx512:gemv:qo").is_err());
    }

    #[test]
    fn the_suite_covers_formats_levels_shapes_and_batches() {
        let ids: Vec<String> = all().iter().map(Case::id).collect();
        for f in FORMATS {
            for l in ["sse41", "avx2"] {
                for s in ["qo", "kv", "down"] {
                    assert!(ids.contains(&format!("kernel:{f}:{l}:gemv:{s}")));
                }
                assert!(ids.contains(&format!("kernel:{f}:{l}:gemm8:kv")));
            }
            assert!(ids.contains(&format!("kernel:{f}:scalar:gemv:kv")));
            assert!(ids.contains(&format!("kernel:{f}:sse41:gemm103:kv")));
        }
        for f in ["i2", "tq1", "tl", "q8"] {
            assert!(ids.contains(&format!("kernel:{f}:avx2:gemm8:down")));
            assert!(ids.contains(&format!("kernel:{f}:avx2:gemm103:kv")));
        }
        assert!(!ids.contains(&"kernel:f16:avx2:gemm103:kv".to_string()));
        assert!(!ids.contains(&"kernel:f16:avx2:gemm8:qo".to_string()));
        assert!(ids.contains(&"model:ternary-i2:avx2:decode".to_string()));
        assert!(ids.contains(&"model:fp16:avx2:prefill".to_string()));
        assert!(!ids.iter().any(|i| i.contains("avx512")));
        assert_eq!(shapes()[2].cols, 6912);
    }

    #[test]
    fn globs_select() {
        assert!(glob("kernel:i2:*:gemv:*", "kernel:i2:avx2:gemv:qo"));
        assert!(!glob("kernel:i2:*:gemv:*", "kernel:i2:avx2:gemm8:qo"));
        assert!(glob("*", ""));
        let s = select(&["model:*".into()]).unwrap();
        assert_eq!(s.len(), 4);
        assert!(select(&["nothing*".into()]).is_err());
    }
}
