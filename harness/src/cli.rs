//! Command-line definitions (clap derive only; no behaviour here).
//!
//! One flag name per meaning across subcommands (docs/cli.md is the reference): `-o/--output`
//! the format printed on stdout, `--out` the folder (or file) written, `--weight-format` the
//! ternary engine's weight format, `-t/--threads`, `-m/--model`, `-q/--quiet`, `--plan`,
//! `--oversubscribe`. Old spellings (`--json`, `--format`, `report -o DIR`,
//! `--quiet-progress`) are rewritten with a warning before parsing ([`crate::deprecated`]).
//!
//! To add a subcommand: a variant of [`Command`] with its `Args` struct here, a module that
//! runs it, and one arm in `commands::dispatch`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use ternbench_kernels::{Format, Isa};

/// What does 1-bit LLM inference really cost on this CPU? Measured.
#[derive(Debug, Parser)]
#[command(
    name = "ternbench",
    version = VERSION,
    long_version = LONG_VERSION,
    about,
    propagate_version = true,
    after_help = "Exit status: 0 success; 1 a regression verdict (compare); 2 a usage or input \
                  error, or a failure (the message says which); 130 interrupted (Ctrl-C). \
                  Reference: docs/cli.md, or `ternbench man`."
)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// `--version`: the package version and the git commit this binary was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("TERNBENCH_GIT_SHORT"),
    env!("TERNBENCH_GIT_DIRTY_MARK"),
    ")"
);

/// `--version` in full (`ternbench -V` prints [`VERSION`]).
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("TERNBENCH_GIT_COMMIT"),
    env!("TERNBENCH_GIT_DIRTY_MARK"),
    "\nrustc: ",
    env!("TERNBENCH_RUSTC_VERSION"),
    "\ntarget: ",
    env!("TERNBENCH_TARGET"),
    " (",
    env!("TERNBENCH_BUILD_PROFILE"),
    ")"
);

/// Thread counts on the command line: at least 1 (a count above this machine's logical CPUs
/// is refused at run time unless `--oversubscribe` is given).
pub fn parse_threads(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(0) => Err("0 threads: thread counts start at 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "`{s}` is not a thread count (a whole number, 1 or more)"
        )),
    }
}

/// A text or JSON output (`-o text|json`), for commands with no other format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TextOrJson {
    /// Aligned text for a person.
    Text,
    /// JSON, for programs.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Measure this machine's memory read bandwidth (the roofline's denominator).
    Bandwidth(BandwidthArgs),
    /// Measure the int8 and f32 multiply-add peaks of every SIMD level this CPU runs.
    Peak(PeakArgs),
    /// Time the matrix kernels: formats x SIMD levels x ops x shapes x threads, against the
    /// bandwidth and peaks measured in the same run.
    Kernels(KernelsArgs),
    /// Generate tokens with the BitNet engine (or its FP16 twin) and report prefill/decode speed.
    Generate(GenerateArgs),
    /// Print every position's logits for a token sequence (the hook for checking against other
    /// implementations).
    Logits(LogitsArgs),
    /// A llama-bench-style sweep: pp (prefill) and tg (decode) tokens/s per model x engine x threads.
    Bench(BenchArgs),
    /// Run a scenario (default: the embedded quick one) and write results/<run-id>/.
    Run(RunArgs),
    /// Print this machine's fingerprint: CPU, ISA features, caches, cores, memory and its read
    /// bandwidth, frequency policy, hypervisor, OS and the build.
    Sysinfo(SysinfoArgs),
    /// Monthly cost and $ per million tokens of serving a demand on GPU FP16, CPU FP16 and CPU
    /// ternary, from a results run (or given figures), a dated GPU catalogue and CPU prices.
    Cost(Box<CostArgs>),
    /// Compare two runs cell by cell: relative change, 95% CI and a verdict per metric; or two
    /// instruction-count files (`icount`) case by case, ±1% with no statistics (exit 1 when a
    /// gating metric regressed beyond the threshold, 2 on bad input).
    Compare(CompareArgs),
    /// Count instructions (and simulated cache misses) per kernel call and per token under
    /// Valgrind, for a regression gate on machines without hardware counters. AVX-512 levels
    /// cannot be counted this way (Valgrind does not run them).
    Icount(IcountArgs),
    /// Save or list named baselines for `compare --baseline NAME`.
    Baseline(BaselineArgs),
    /// Write a synthetic zoo model as a GGUF file in a format llama.cpp or bitnet.cpp runs
    /// (F16, TQ2_0, TQ1_0, I2_S), so one model goes through every engine (docs/peers.md).
    Export(ExportArgs),
    /// Check this machine's energy counters: every source and zone found, which count toward
    /// the total and why, and whether powercap, perf and MSR agree over the same idle and busy
    /// windows.
    Energy(EnergyArgs),
    /// Turn results folders into a report: index.html (charts inline, offline, printable),
    /// summary.md, tables.csv and charts as SVG and PNG, with published claims set beside the
    /// measurements and, for several machines, a CPU comparison.
    Report(ReportArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout, or write one page per subcommand with --out.
    Man(ManArgs),
}

/// `ternbench export` tensor types of the projections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportType {
    /// IEEE half (llama.cpp's FP16 baseline; llama.cpp, bitnet.cpp and ternbench read it).
    F16,
    /// llama.cpp's 2-bit ternary blocks (llama.cpp, bitnet.cpp, ternbench).
    #[value(name = "tq2_0")]
    Tq2_0,
    /// llama.cpp's base-3 ternary blocks (llama.cpp, ternbench).
    #[value(name = "tq1_0")]
    Tq1_0,
    /// bitnet.cpp's 2-bit ternary with one scale per tensor (bitnet.cpp, ternbench).
    #[value(name = "i2_s")]
    I2s,
}

/// `ternbench export` embedding (tied head) types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportHead {
    /// IEEE half: the zoo model's embedding exactly.
    F16,
    /// ggml's 6-bit k-quant, as bitnet.cpp's --quant-embd and llama-quantize write it.
    #[value(name = "q6_k")]
    Q6k,
}

/// `ternbench export` architectures (the graph every engine runs on the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportArch {
    /// llama.cpp's BitNet graph (SiLU-gated FFN): llama.cpp, bitnet.cpp and ternbench run it.
    Bitnet,
    /// bitnet.cpp's BitNet b1.58 2B4T graph (relu²): bitnet.cpp and ternbench; llama.cpp refuses it.
    #[value(name = "bitnet-25")]
    Bitnet25,
}

/// `ternbench export`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  ternbench export -m bitnet-125m --type tq2_0 --out 125m.tq2_0.gguf\n  ternbench export -m bitnet-2b4t --type i2_s --arch bitnet-25 --out 2b4t.i2_s.gguf\nThe F16, TQ2_0, TQ1_0 and I2_S files of one model and seed hold the same weights."
)]
pub struct ExportArgs {
    /// Zoo name of the synthetic model (`ternbench bench --help` lists them; e.g. bitnet-125m).
    #[arg(short = 'm', long)]
    pub model: String,
    /// The projections' tensor type.
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub weight_type: ExportType,
    /// The embedding's (and so the tied LM head's) type.
    #[arg(long, value_enum, default_value = "f16")]
    pub head: ExportHead,
    /// The GGUF architecture (default: the one whose graph is the model's own activation:
    /// `bitnet` for SiLU, `bitnet-25` for relu²).
    #[arg(long, value_enum)]
    pub arch: Option<ExportArch>,
    /// Seed of the synthetic weights (the same seed `bench --seed` and scenarios use).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The GGUF file to write.
    #[arg(long, value_name = "FILE")]
    pub out: std::path::PathBuf,
    /// Replace the file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Output format of the summary on stdout.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: TextOrJson,
}

/// `ternbench completions`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example: ternbench completions bash > ~/.local/share/bash-completion/completions/ternbench"
)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `ternbench man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write ternbench.1 and ternbench-COMMAND.1 for every subcommand into this folder
    /// instead of printing ternbench.1.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Threads beyond this machine's logical CPUs (shared by every command that spawns workers).
#[derive(Debug, Args)]
pub struct ThreadOpts {
    /// Allow more threads than this machine has logical CPUs (refused otherwise: the timings
    /// would measure the scheduler, not the kernels).
    #[arg(long)]
    pub oversubscribe: bool,
}

/// `ternbench energy`.
#[derive(Debug, Args)]
pub struct EnergyArgs {
    /// Seconds of each window (idle, then a busy loop on every CPU).
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Agreement tolerance between sources, percent of their mean power.
    #[arg(long, default_value_t = 5.0)]
    pub tolerance: f64,
    /// Output format: text, or JSON (one object).
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: TextOrJson,
}

/// `ternbench bandwidth`.
#[derive(Debug, Args)]
pub struct BandwidthArgs {
    /// Thread counts to measure, comma separated (default: 1 and every core of this machine).
    #[arg(short = 't', long, value_delimiter = ',', value_parser = parse_threads)]
    pub threads: Option<Vec<u32>>,
    /// Threads beyond the logical CPUs.
    #[command(flatten)]
    pub thread_opts: ThreadOpts,
    /// Size of the array read, MiB (default: 8x the last-level cache, at least 256 MiB).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub size_mib: Option<u64>,
    /// Timed passes per read method and thread count.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub passes: u32,
    /// Print every read method tried, not only the fastest.
    #[arg(long)]
    pub all_methods: bool,
    /// Output format: a table, or JSON (one object).
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: TextOrJson,
}

/// `ternbench peak`.
#[derive(Debug, Args)]
pub struct PeakArgs {
    /// Thread counts, comma separated (every thread runs the loop; products are summed).
    #[arg(short = 't', long, value_delimiter = ',', default_value = "1",
          value_parser = parse_threads)]
    pub threads: Vec<u32>,
    /// Threads beyond the logical CPUs.
    #[command(flatten)]
    pub thread_opts: ThreadOpts,
    /// Output format: a table, or JSON (an array of rows).
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: TextOrJson,
}

/// Which SIMD levels a sweep runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IsaChoice {
    /// Per format, the widest level this CPU runs that has a kernel for it.
    Best,
    /// Every level this CPU runs; a format a level lacks is a "no kernel" row.
    All,
    /// These levels; each must run here and have a kernel for every named format.
    Named(Vec<Isa>),
}

/// Parses `best`, `all` or a comma-separated list of level names.
pub fn parse_isa_choice(s: &str) -> Result<IsaChoice, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "best" => Ok(IsaChoice::Best),
        "all" => Ok(IsaChoice::All),
        _ => s
            .split(',')
            .map(|p| p.parse::<Isa>().map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()
            .map(IsaChoice::Named),
    }
}

/// Parses one weight format name.
pub fn parse_format(s: &str) -> Result<Format, String> {
    s.parse::<Format>().map_err(|e| e.to_string())
}

/// Op names on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OpArg {
    /// Matrix-vector, batch 1 (decode).
    Gemv,
    /// Matrix-matrix, `--batch` tokens (prefill).
    Gemm,
}

/// `ternbench kernels`.
#[derive(Debug, Args)]
pub struct KernelsArgs {
    /// Weight formats, comma separated (default: all; with --quick: i2,tq1,f16).
    #[arg(long, value_delimiter = ',', value_parser = parse_format, value_name = "FORMAT")]
    pub weight_format: Option<Vec<Format>>,
    /// SIMD levels: `best` (per format, the widest level with a kernel), `all`, or a comma
    /// separated list (scalar, sse41, avx2, avx512, avx512vnni, neon).
    #[arg(long, value_parser = parse_isa_choice)]
    pub isa: Option<IsaChoice>,
    /// Ops, comma separated (default: gemv,gemm).
    #[arg(long, value_delimiter = ',', value_enum)]
    pub op: Option<Vec<OpArg>>,
    /// Thread counts, comma separated (default: 1 and every core of this machine).
    #[arg(short = 't', long, value_delimiter = ',', value_parser = parse_threads)]
    pub threads: Option<Vec<u32>>,
    /// Threads beyond the logical CPUs.
    #[command(flatten)]
    pub thread_opts: ThreadOpts,
    /// Shapes: `2b4t` (the BitNet b1.58 2B4T projections and LM head), `stack` (distinct
    /// 6912x2560 matrices totalling over 4x the last-level cache, cycled), `l2` (a x2560 matrix
    /// filling half of each participating core's L2: the gemv's compute headroom), `all`, or
    /// shape names (qo, kv, gate_up, down, lm_head, stack, l2), comma separated. gemm skips
    /// lm_head unless it is named (one token per step reaches the LM head, even in prefill)
    /// and always skips l2. Default: all; with --quick: gemv on stack and l2, gemm on kv.
    #[arg(long, value_delimiter = ',')]
    pub shapes: Option<Vec<String>>,
    /// Tokens per gemm call (gemv always uses 1).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub batch: u32,
    /// A short subset (best level, i2/tq1/f16, gemv on the stack and gemm on kv, few
    /// repetitions, shorter bandwidth and peak runs); options given explicitly still apply.
    #[arg(long)]
    pub quick: bool,
    /// Minimum timed samples per cell.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100000))]
    pub min_reps: Option<u32>,
    /// Minimum timed seconds per cell.
    #[arg(long)]
    pub min_time: Option<f64>,
    /// Stop a cell after this many seconds once it has 3 samples (slow scalar gemm).
    #[arg(long, default_value_t = 10.0)]
    pub max_time: f64,
    /// Output format: a table, or JSON (an array of rows).
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: TextOrJson,
    /// Pin thread i to core i (Linux), so the scheduler cannot move or stack the workers.
    #[arg(long)]
    pub pin: bool,
    /// Also write `kernels.json` and `kernels.md` into this folder.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Software prefetch distance of the i2, tq1, q4 and f16 gemv weight streams: `auto`
    /// (calibrated per format, level and thread count before the sweep), `off`, or bytes (a
    /// multiple of 64 up to 65536); each gemv row records it (`prefetch_bytes`).
    #[arg(long, default_value = "auto", value_parser = crate::measure::prefetch::parse_prefetch, value_name = "auto|off|BYTES")]
    pub prefetch: crate::measure::prefetch::PrefetchArg,
}

/// Which engine runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineArg {
    /// BitNet b1.58: ternary linear layers (format from --weight-format), int8 activations.
    Ternary,
    /// The FP16 twin: the same weights dequantised to f16, f32 activations.
    Fp16,
}

/// `ternbench bench` output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutFormat {
    /// Markdown table (llama-bench style).
    Md,
    /// JSON array of rows.
    Json,
    /// CSV, one row per combination.
    Csv,
}

/// KV cache element type of `ternbench bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KvArg {
    /// 2 bytes per element (llama-bench's default cache type).
    F16,
    /// 4 bytes per element.
    F32,
}

/// Model options shared by the engine commands.
#[derive(Debug, Args)]
pub struct ModelOpts {
    /// Linear-layer format of the ternary engine: i2, tq1 or tl.
    #[arg(long, default_value = "i2", value_parser = parse_format, value_name = "FORMAT")]
    pub weight_format: Format,
    /// LM head format: f16 (tied embedding, faithful), q8 or q4 (4-bit, one f16 scale per 64).
    #[arg(long, default_value = "f16", value_parser = parse_format)]
    pub head: Format,
    /// SIMD level (default: the widest this CPU runs).
    #[arg(long, value_parser = |s: &str| s.parse::<Isa>().map_err(|e| e.to_string()))]
    pub isa: Option<Isa>,
    /// Seed of the synthetic weights.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Software prefetch distance of the decode kernels' weight streams: `auto` (time 0 to 4096
    /// bytes on this host first, about a second, and keep the fastest per format and thread
    /// count), `off`, or bytes (a multiple of 64 up to 65536). logits uses the kernels' default
    /// (2048) unless a distance is given.
    #[arg(long, default_value = "auto", value_parser = crate::measure::prefetch::parse_prefetch, value_name = "auto|off|BYTES")]
    pub prefetch: crate::measure::prefetch::PrefetchArg,
}

/// `ternbench generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Zoo name of a synthetic model (bitnet-2b4t, bitnet-700m, bitnet-125m ... bitnet-100b), a
    /// Hugging Face checkpoint directory (config.json + safetensors) or a .gguf file.
    #[arg(short = 'm', long)]
    pub model: String,
    /// Prompt text (needs a tokenizer; synthetic models take --tokens).
    #[arg(long, conflicts_with = "tokens")]
    pub prompt: Option<String>,
    /// Prompt token ids, comma separated.
    #[arg(long)]
    pub tokens: Option<String>,
    /// Tokens to generate.
    #[arg(long, default_value_t = 32)]
    pub max_tokens: usize,
    /// ternary or fp16.
    #[arg(long, value_enum, default_value = "ternary")]
    pub engine: EngineArg,
    /// Threads.
    #[arg(long, short = 't', default_value = "1", value_parser = parse_threads)]
    pub threads: u32,
    /// Threads beyond the logical CPUs.
    #[command(flatten)]
    pub thread_opts: ThreadOpts,
    /// Sampling temperature (0 = greedy).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// Top-k (0 = off).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Top-p (1 = off).
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,
    /// Build only K layers, time them and scale to the full depth (marked SAMPLED).
    #[arg(long)]
    pub sample_layers: Option<usize>,
    /// Model options.
    #[command(flatten)]
    pub opts: ModelOpts,
}

/// `ternbench logits`.
#[derive(Debug, Args)]
pub struct LogitsArgs {
    /// Zoo name of a synthetic model, a checkpoint directory or a .gguf file.
    #[arg(short = 'm', long)]
    pub model: String,
    /// Token ids, comma separated.
    #[arg(long)]
    pub tokens: String,
    /// ternary or fp16.
    #[arg(long, value_enum, default_value = "ternary")]
    pub engine: EngineArg,
    /// Threads.
    #[arg(long, short = 't', default_value = "1", value_parser = parse_threads)]
    pub threads: u32,
    /// Threads beyond the logical CPUs.
    #[command(flatten)]
    pub thread_opts: ThreadOpts,
    /// Output format: the argmax per position, or JSON
    /// `{"tokens":[...],"logits":[[...],...]}` (every logit).
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: TextOrJson,
    /// Model options.
    #[command(flatten)]
    pub opts: ModelOpts,
}

/// `ternbench bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Zoo names, checkpoint directories or .gguf files, comma separated.
    #[arg(long, short = 'm', value_delimiter = ',', required = true)]
    pub model: Vec<String>,
    /// Engines, comma separated.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "ternary,fp16"
    )]
    pub engine: Vec<EngineArg>,
    /// Prompt tokens of the prefill test (0 = skip).
    #[arg(short = 'p', long = "n-prompt", default_value_t = 128)]
    pub n_prompt: usize,
    /// Generated tokens of the decode test (0 = skip).
    #[arg(short = 'n', long = "n-gen", default_value_t = 64)]
    pub n_gen: usize,

    /// Depths, comma separated: each test also runs with this many tokens already in the
    /// cache (prefilled untimed before every repetition), as llama-bench's `-d` (0: empty).
    #[arg(
        short = 'd',
        long = "n-depth",
        value_delimiter = ',',
        default_value = "0"
    )]
    pub n_depth: Vec<usize>,

    /// Batch sizes, comma separated: each test also runs with this many sequences at once,
    /// each with its own KV cache and position (llama-batched-bench's `-npl`): one forward pass
    /// per step over all of them. With a size above 1 the table gains per-stream tokens/s,
    /// per-token latency p50/p99, each row's fraction of the compute peaks, its ratio to batch
    /// 1 and to the ceiling row `ppP+head` (a prefill with every position's logits), added when
    /// -p > 0.
    #[arg(
        long = "batch",
        alias = "npl",
        value_delimiter = ',',
        default_value = "1",
        value_parser = clap::value_parser!(u32).range(1..=256)
    )]
    pub batch: Vec<u32>,

    /// KV cache element type (f16, as llama-bench's default `-ctk f16 -ctv f16`).
    #[arg(long, value_enum, default_value = "f16")]
    pub kv: KvArg,
    /// Thread counts, comma separated.
    #[arg(short = 't', long, value_delimiter = ',', default_value = "1", value_parser = parse_threads)]
    pub threads: Vec<u32>,
    /// Threads beyond the logical CPUs.
    #[command(flatten)]
    pub thread_opts: ThreadOpts,
    /// Repetitions (after one warm-up). 6, the default, is the fewest that give a
    /// distribution-free 95% CI of the median; fewer still run, without a CI.
    #[arg(short = 'r', long, default_value_t = 6)]
    pub repetitions: usize,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "md")]
    pub output: OutFormat,
    /// Build only K layers (marked SAMPLED).
    #[arg(long)]
    pub sample_layers: Option<usize>,
    /// List the cells, the memory each model needs and an estimated duration, then stop
    /// (measures nothing but a short kernel calibration); `-o json` prints it as JSON.
    #[arg(long)]
    pub plan: bool,
    /// No progress on stderr (the table is still printed).
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Pin thread i to core i (Linux).
    #[arg(long)]
    pub pin: bool,
    /// Model options.
    #[command(flatten)]
    pub opts: ModelOpts,
}

/// `ternbench run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario file (scenarios/*.toml); default: the embedded scenarios/quick.toml.
    #[arg(conflicts_with = "resume")]
    pub scenario: Option<PathBuf>,
    /// Finish an interrupted run: the folder `results/<run-id>` it left.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Where run folders are created.
    #[arg(long, default_value = "results", value_name = "DIR")]
    pub out: PathBuf,
    /// List the cells, the memory each model needs and an estimated duration, then stop
    /// (measures nothing but a short kernel calibration; writes nothing).
    #[arg(long, conflicts_with = "resume")]
    pub plan: bool,
    /// Threads beyond the logical CPUs (a scenario's explicit thread counts above them are
    /// refused otherwise).
    #[command(flatten)]
    pub thread_opts: ThreadOpts,
    /// No progress or summary on the terminal (results are still written).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Output format at the end: the summary table, or run.json (with --plan: the plan).
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: TextOrJson,
    /// Energy source, overriding the scenario's `energy.source`: auto (powercap, perf, msr in
    /// turn), powercap, perf, msr, none, or estimate (a TDP x utilisation model, labelled
    /// ESTIMATED everywhere).
    #[arg(long, value_parser = ["auto", "powercap", "perf", "msr", "none", "estimate"])]
    pub energy: Option<String>,
    /// Package watts at full load for `--energy estimate` (overrides `energy.tdp_watts`).
    #[arg(long)]
    pub tdp: Option<f64>,
    /// What to call this machine in reports (an instance type, a lab host), stored in
    /// run.json; reports show it in place of the CPU name. Kept on --resume unless given.
    #[arg(long, value_parser = parse_label)]
    pub label: Option<String>,
    /// This machine's price in USD per hour, stored in run.json: the CPU comparison's tokens
    /// per dollar. Kept on --resume unless given.
    #[arg(long, value_name = "USD", value_parser = parse_price_per_hour, allow_negative_numbers = true)]
    pub price_per_hour: Option<f64>,
    /// Software prefetch distance of the decode kernels' weight streams: `auto` (calibrated on
    /// this host before the cells, recorded in run.json `prefetch`), `off`, or bytes (a multiple
    /// of 64 up to 65536). A resumed run keeps the distances it started with.
    #[arg(long, default_value = "auto", value_parser = crate::measure::prefetch::parse_prefetch, value_name = "auto|off|BYTES")]
    pub prefetch: crate::measure::prefetch::PrefetchArg,
}

/// Parses `--label`: 1 to 100 printable characters, trimmed.
pub fn parse_label(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("a label needs at least one visible character".into());
    }
    if t.chars().any(char::is_control) {
        return Err("a label may not hold control characters (newlines, tabs)".into());
    }
    if t.chars().count() > 100 {
        return Err(format!(
            "a label is at most 100 characters; this one has {}",
            t.chars().count()
        ));
    }
    Ok(t.to_string())
}

/// Parses `--price-per-hour`: a positive, finite number of US dollars.
pub fn parse_price_per_hour(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| format!("`{s}` is not a positive number of US dollars per hour (e.g. 0.17)"))
}

/// `ternbench sysinfo`.
#[derive(Debug, Args)]
pub struct SysinfoArgs {
    /// Output format: text, or JSON (one object).
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: TextOrJson,
    /// Skip the short read-bandwidth measurement (`read_bandwidth_gbps` is then null).
    #[arg(long)]
    pub no_bandwidth: bool,
    /// Compare this machine with a fingerprint saved by `sysinfo -o json` and print what differs
    /// among the settings that must match for runs to be comparable (CPU model, logical CPUs,
    /// ISA features, memory size class); measures nothing.
    #[arg(long, value_name = "FILE")]
    pub compare: Option<PathBuf>,
}

/// `ternbench cost` output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CostFormat {
    /// Aligned text with the figures and assumptions.
    Text,
    /// Markdown.
    Md,
    /// JSON (one object).
    Json,
}

/// `ternbench cost` (docs/cost.md). Every figure left out takes a labelled default.
#[derive(Debug, Args)]
pub struct CostArgs {
    /// Requests per day, average (default 100000).
    #[arg(long, allow_negative_numbers = true)]
    pub requests_per_day: Option<f64>,
    /// Prompt tokens per request (default 128).
    #[arg(long, allow_negative_numbers = true)]
    pub prompt_tokens: Option<f64>,
    /// Output tokens per request (default 128).
    #[arg(long, allow_negative_numbers = true)]
    pub output_tokens: Option<f64>,
    /// Peak request rate over the average, >= 1 (default 2).
    #[arg(long, allow_negative_numbers = true)]
    pub peak_factor: Option<f64>,
    /// Busy fraction instances are sized for at the peak, in (0, 1] (default 0.6).
    #[arg(long, allow_negative_numbers = true)]
    pub utilisation: Option<f64>,

    /// Results run for the CPU figures: a folder `results/<id>` or its run.json.
    #[arg(long, visible_alias = "results")]
    pub run: Option<PathBuf>,
    /// Model whose cells to use from the run (default: the run's only model).
    #[arg(short = 'm', long)]
    pub model: Option<String>,
    /// Thread count of the cells to use (default: the cell with the best decode tokens/s).
    #[arg(short = 't', long, requires = "run")]
    pub threads: Option<usize>,
    /// CPU ternary decode tokens/s of one stream (overrides the run).
    #[arg(long, allow_negative_numbers = true)]
    pub cpu_ternary_decode_tps: Option<f64>,
    /// CPU ternary prefill tokens/s (overrides the run).
    #[arg(long, allow_negative_numbers = true)]
    pub cpu_ternary_prefill_tps: Option<f64>,
    /// CPU FP16 decode tokens/s (overrides the run).
    #[arg(long, allow_negative_numbers = true)]
    pub cpu_fp16_decode_tps: Option<f64>,
    /// CPU FP16 prefill tokens/s (overrides the run).
    #[arg(long, allow_negative_numbers = true)]
    pub cpu_fp16_prefill_tps: Option<f64>,
    /// CPU ternary joules per generated token (overrides the run).
    #[arg(long, allow_negative_numbers = true)]
    pub cpu_ternary_j_per_token: Option<f64>,
    /// CPU FP16 joules per generated token (overrides the run).
    #[arg(long, allow_negative_numbers = true)]
    pub cpu_fp16_j_per_token: Option<f64>,
    /// Average power of one CPU instance, W (used when no J/token is known).
    #[arg(long, allow_negative_numbers = true)]
    pub cpu_watts: Option<f64>,
    /// CPU instance from the price table (default c7a.xlarge).
    #[arg(long, conflicts_with_all = ["cpu_price_hour", "cpu_hardware_price"])]
    pub cpu_instance: Option<String>,
    /// CPU price table replacing the built-in data/cpu-prices.toml.
    #[arg(long, value_name = "FILE")]
    pub cpu_prices: Option<PathBuf>,
    /// CPU instance $/hour (instead of --cpu-instance).
    #[arg(
        long,
        allow_negative_numbers = true,
        conflicts_with = "cpu_hardware_price"
    )]
    pub cpu_price_hour: Option<f64>,
    /// Owned CPU server: hardware $ per instance (needs --cpu-amortisation-months).
    #[arg(
        long,
        allow_negative_numbers = true,
        requires = "cpu_amortisation_months"
    )]
    pub cpu_hardware_price: Option<f64>,
    /// Months over which the CPU hardware is amortised.
    #[arg(long, allow_negative_numbers = true, requires = "cpu_hardware_price")]
    pub cpu_amortisation_months: Option<f64>,
    /// Copies of the measured configuration one CPU instance runs side by side (default 1).
    #[arg(long, allow_negative_numbers = true)]
    pub cpu_streams_per_instance: Option<f64>,

    /// GPU catalogue entry, or `custom` (figures from the --gpu-* flags). Default a100-80gb.
    #[arg(long)]
    pub gpu: Option<String>,
    /// GPU catalogue replacing the built-in data/gpu-catalogue.toml.
    #[arg(long, value_name = "FILE")]
    pub catalogue: Option<PathBuf>,
    /// GPU $/hour (overrides the catalogue).
    #[arg(
        long,
        allow_negative_numbers = true,
        conflicts_with = "gpu_hardware_price"
    )]
    pub gpu_price_hour: Option<f64>,
    /// GPU aggregate decode (output) tokens/s at --gpu-batch (overrides the catalogue).
    #[arg(long, allow_negative_numbers = true)]
    pub gpu_decode_tps: Option<f64>,
    /// GPU aggregate prefill tokens/s (overrides the catalogue).
    #[arg(long, allow_negative_numbers = true)]
    pub gpu_prefill_tps: Option<f64>,
    /// Batch (concurrent sequences) of the GPU figures, for the record.
    #[arg(long)]
    pub gpu_batch: Option<u32>,
    /// Power of one GPU while serving, W (overrides the catalogue).
    #[arg(long, allow_negative_numbers = true)]
    pub gpu_watts: Option<f64>,
    /// Owned GPU server: hardware $ per GPU (needs --gpu-amortisation-months).
    #[arg(
        long,
        allow_negative_numbers = true,
        requires = "gpu_amortisation_months"
    )]
    pub gpu_hardware_price: Option<f64>,
    /// Months over which the GPU hardware is amortised.
    #[arg(long, allow_negative_numbers = true, requires = "gpu_hardware_price")]
    pub gpu_amortisation_months: Option<f64>,

    /// Electricity $/kWh for owned hardware (default 0.1199, EIA commercial, Pennsylvania,
    /// April 2025).
    #[arg(long, allow_negative_numbers = true)]
    pub usd_per_kwh: Option<f64>,
    /// Power usage effectiveness of owned hardware's facility (default 1.56, Uptime Institute
    /// 2024 survey).
    #[arg(long, allow_negative_numbers = true)]
    pub pue: Option<f64>,

    /// Defaults of a known calculator: `calculator-2026` (the defaults of a widely read 2026
    /// online GPU-vs-CPU "run the numbers" calculator: 8B model, 100K requests/day, A100 at
    /// $2/h, CPU instance at $0.40/h), with measured throughput instead of its unpublished
    /// estimate. Without --run or --cpu-* figures it uses the newest run in --results-dir with
    /// a 7-8B model's batched ternary cells (as scenarios/cost-8b.toml writes), or says what to
    /// run. Flags given still win.
    #[arg(long, value_parser = ["calculator-2026"])]
    pub preset: Option<String>,
    /// Per-stream latency target: each deployment is sized from its largest batch whose streams
    /// meet it. A per-stream decode rate ("5", "5tok/s") or a p99 time per output token
    /// ("p99=200ms"). Default 5 tokens/s per stream, human reading speed. GPU rows without
    /// published latency points are throughput-bound, and said so.
    #[arg(long, value_name = "TARGET")]
    pub slo: Option<String>,
    /// Allow CPU and GPU figures of different model size classes (1-3B, 7-8B, 70B, ...); then
    /// the first line of every output says so.
    #[arg(long)]
    pub allow_size_mismatch: bool,
    /// A GPU results folder written by scripts/gpu/decode_bench.py (engine gpu-fp16): its
    /// measured batches replace the catalogue's throughput, sized by --slo like the CPU's; the
    /// price comes from --gpu-price-hour or the --gpu entry.
    #[arg(long, value_name = "DIR")]
    pub gpu_run: Option<PathBuf>,
    /// Where --preset looks for runs.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub results_dir: PathBuf,
    /// Requests/day range of the monthly-cost sweep and its crossovers, LO..HI.
    #[arg(long, value_name = "LO..HI", default_value = "1000..10000000")]
    pub sweep: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: CostFormat,
    /// Also write an SVG bar chart of $/Mtok by deployment to this file.
    #[arg(long, value_name = "FILE")]
    pub chart: Option<PathBuf>,
    /// Write the charts into this folder: monthly-cost.svg and monthly-cost.png (monthly cost
    /// against requests/day, crossovers marked) and cost-per-mtok.svg.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `ternbench compare` output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompareFormat {
    /// Markdown (a PR comment or `$GITHUB_STEP_SUMMARY`).
    Md,
    /// One JSON object.
    Json,
}

/// `ternbench compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// BASELINE then NEW (with --baseline: NEW only): run folders, run.json files, counts
    /// files of `ternbench icount`, or names of saved baselines.
    #[arg(value_name = "RUN", required = true, num_args = 1..=2)]
    pub runs: Vec<String>,
    /// Compare against this saved baseline (`ternbench baseline save`) instead of a BASELINE
    /// argument.
    #[arg(long, value_name = "NAME")]
    pub baseline: Option<String>,
    /// Metrics, comma separated: decode_tps, prefill_tps, j_per_token, instructions_per_token,
    /// latency_p50, latency_p99. Every metric named gates the exit code. Default: gate on
    /// instructions_per_token when both runs have counters, else on decode_tps, and show the
    /// others beside it. For counts files: instructions (default), d1_misses, ll_misses.
    #[arg(long, value_delimiter = ',', value_name = "METRIC")]
    pub metric: Option<Vec<String>>,
    /// Noise band in percent: a change counts only when its whole 95% CI lies beyond it.
    /// Default: 1 for instructions_per_token, 10 for wall-time metrics.
    #[arg(long, value_name = "PCT")]
    pub threshold: Option<f64>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "md")]
    pub output: CompareFormat,
    /// Settings to leave out when matching cells, comma separated (model, engine, format,
    /// head, isa, threads, test): `--ignore isa` compares scalar against avx2 cell by cell.
    #[arg(long, value_delimiter = ',', value_name = "SETTING")]
    pub ignore: Vec<String>,
    /// Significance level of the t-test.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Where named baselines are kept.
    #[arg(long, default_value = "results/baselines", value_name = "DIR")]
    pub baselines_dir: PathBuf,
}

/// `ternbench icount` stdout formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IcountOutput {
    /// The counts as a Markdown table.
    Md,
    /// The counts file's JSON.
    Json,
}

/// `ternbench icount` (docs/regression.md, "Instruction counts without a PMU").
#[derive(Debug, Args)]
pub struct IcountArgs {
    /// Cases to count: identifiers or patterns with `*`, comma separated (default: the whole
    /// suite; see --list), e.g. `kernel:i2:avx2:*` or `model:*`.
    #[arg(long, value_delimiter = ',', value_name = "PATTERN")]
    pub cases: Vec<String>,
    /// List the cases (identifier, label, unit) and exit without counting.
    #[arg(long)]
    pub list: bool,
    /// The folder written: `icount.json` (the counts file `compare` reads) and `icount.md`.
    #[arg(long, default_value = "results/icount", value_name = "DIR")]
    pub out: PathBuf,
    /// What stdout gets: the Markdown table, or the counts file's JSON.
    #[arg(
        short = 'o',
        long,
        value_enum,
        default_value = "md",
        value_name = "FORMAT"
    )]
    pub output: IcountOutput,
    /// Worker processes side by side (default: the logical CPUs, at most 4). Counts do not
    /// depend on it.
    #[arg(short = 'j', long, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: Option<u32>,
    /// Skip Valgrind's cache simulator: instructions only, about a third faster.
    #[arg(long)]
    pub no_cache_sim: bool,
    /// The Valgrind program (default: `valgrind` on PATH).
    #[arg(long, value_name = "PATH")]
    pub valgrind: Option<PathBuf>,
    /// No progress lines on stderr.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Internal: run the cases in this process (what each Valgrind worker runs).
    #[arg(long, hide = true)]
    pub worker: bool,
}

/// `ternbench baseline`.
#[derive(Debug, Args)]
pub struct BaselineArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: BaselineAction,
}

/// `ternbench baseline save|list`.
#[derive(Debug, Subcommand)]
pub enum BaselineAction {
    /// Keep a run as a named baseline: copies its run.json, cells.csv and cells.jsonl to
    /// DIR/NAME/ (or an instruction-count file to DIR/NAME/icount.json).
    Save {
        /// Baseline name (letters, digits, `.`, `_`, `-`).
        name: String,
        /// The run: a results folder or its run.json; or a counts file of `ternbench icount`.
        run: PathBuf,
        /// Replace a baseline of that name.
        #[arg(long)]
        force: bool,
        /// Where named baselines are kept.
        #[arg(long, default_value = "results/baselines", value_name = "DIR")]
        dir: PathBuf,
    },
    /// List the named baselines.
    List {
        /// Where named baselines are kept.
        #[arg(long, default_value = "results/baselines", value_name = "DIR")]
        dir: PathBuf,
        /// Output format: a table, or JSON (an array).
        #[arg(short = 'o', long, value_enum, default_value = "text")]
        output: TextOrJson,
    },
}

/// `ternbench report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Results folders written by `ternbench run` (or their run.json), or folders holding
    /// them (a fleet folder from deploy/ansible or deploy/slurm, a results/ folder): every
    /// complete run under such a folder, unfinished ones left out with a note. Several runs of
    /// the same scenario, from different machines, make a CPU comparison.
    #[arg(required = true, value_name = "RUN")]
    pub runs: Vec<PathBuf>,
    /// Output folder (default: reports/<run id>, or reports/compare-<first run id> for
    /// several runs). Holds index.html, summary.md, tables.csv, claims.csv and each chart
    /// as .svg and .png.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Price of a run's machine, `RUNID_OR_INDEX=USD_PER_HOUR` (index 1 is the first RUN);
    /// repeat for each machine. Adds tokens/s per dollar to the CPU comparison.
    #[arg(long, value_name = "RUN=USD_PER_HOUR")]
    pub price: Vec<String>,
    /// Report runs whose scenario settings differ (refused otherwise, exit 2); the report
    /// then flags every differing setting.
    #[arg(long)]
    pub allow_mismatch: bool,
    /// Published claims to set beside the measurements (default: the data/claims.toml built
    /// into the binary).
    #[arg(long, value_name = "FILE")]
    pub claims: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every subcommand (nested ones included) with its path, e.g. `baseline list`.
    fn commands() -> Vec<(String, clap::Command)> {
        fn walk(prefix: &str, c: &clap::Command, out: &mut Vec<(String, clap::Command)>) {
            for s in c.get_subcommands().filter(|s| s.get_name() != "help") {
                let name = format!("{prefix}{}", s.get_name()).trim().to_string();
                out.push((name.clone(), s.clone()));
                walk(&format!("{name} "), s, out);
            }
        }
        let mut out = Vec::new();
        walk("", &Cli::command(), &mut out);
        out
    }

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn one_flag_name_per_meaning() {
        for (name, c) in commands() {
            for a in c.get_arguments().filter(|a| !a.is_hide_set()) {
                let long = a.get_long().unwrap_or("");
                assert!(
                    long != "format" && long != "json" && long != "quiet-progress",
                    "`{name}` has --{long}: use -o/--output or --weight-format (docs/cli.md)"
                );
                if a.get_short() == Some('o') {
                    assert_eq!(long, "output", "`{name}`: -o is the output format");
                }
                if long == "output" {
                    assert_eq!(a.get_short(), Some('o'), "`{name}`: --output is -o");
                }
                if a.get_short() == Some('t') {
                    assert_eq!(long, "threads", "`{name}`: -t is --threads");
                }
                if long == "threads" && name != "cost" {
                    assert_eq!(a.get_short(), Some('t'), "`{name}`: --threads is -t");
                }
                if a.get_short() == Some('m') {
                    assert_eq!(long, "model", "`{name}`: -m is --model");
                }
                if long == "quiet" {
                    assert_eq!(a.get_short(), Some('q'), "`{name}`: --quiet is -q");
                }
            }
            // Every command that spawns workers refuses more than the logical CPUs unless asked.
            let spawns =
                c.get_arguments().any(|a| a.get_long() == Some("threads")) && name != "cost";
            if spawns {
                assert!(
                    c.get_arguments()
                        .any(|a| a.get_long() == Some("oversubscribe")),
                    "`{name}` takes --threads but not --oversubscribe"
                );
            }
        }
    }

    #[test]
    fn docs_cli_md_lists_every_command_and_flag() {
        let doc = include_str!("../../docs/cli.md");
        for (name, c) in commands() {
            let top = name.split(' ').next().unwrap();
            let head = format!("### `ternbench {top}`");
            let at = doc
                .find(&head)
                .unwrap_or_else(|| panic!("docs/cli.md has no section `{head}`"));
            let section = &doc[at..];
            let end = section[head.len()..]
                .find("\n### ")
                .map_or(section.len(), |e| e + head.len());
            let section = &section[..end];
            for a in c.get_arguments().filter(|a| !a.is_hide_set()) {
                if let Some(long) = a.get_long() {
                    if long == "help" || long == "version" {
                        continue;
                    }
                    assert!(
                        section.contains(&format!("--{long}")),
                        "docs/cli.md, section `{head}`, does not mention --{long} of `{name}`"
                    );
                }
            }
        }
    }

    #[test]
    fn version_names_the_commit() {
        let v = super::VERSION;
        assert!(v.starts_with(env!("CARGO_PKG_VERSION")), "{v}");
        assert!(v.contains("(commit "), "{v}");
    }
}
