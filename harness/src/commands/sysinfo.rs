//! `ternbench sysinfo [-o json] [--no-bandwidth] [--compare FILE]`: this machine's fingerprint
//! ([`crate::records::fingerprint`]), with a short read-bandwidth measurement beside it.

use anyhow::{Context, Result};
use serde::Serialize;
use ternbench_kernels::{Pinning, ThreadPool};

use crate::cli::SysinfoArgs;
use crate::measure::bandwidth;
use crate::records::fingerprint::{Fingerprint, Roots};
use crate::records::machine;

/// The read bandwidth with every logical CPU reading, briefly: the default array and read
/// methods of `ternbench bandwidth`, 3 passes. Returns (median GB/s, threads).
pub fn measure_bandwidth() -> (f64, usize) {
    let threads = machine::cores();
    let bytes = bandwidth::default_bytes();
    eprintln!(
        "measuring read bandwidth ({} MiB, {threads} threads; --no-bandwidth skips this)",
        bytes >> 20
    );
    let pool = ThreadPool::new(threads, Pinning::None);
    (bandwidth::quick_medians(&pool, &[threads])[0].1, threads)
}

/// What `sysinfo --compare FILE -o json` prints.
#[derive(Debug, Serialize)]
struct Comparison {
    comparable: bool,
    differences: Vec<String>,
}

/// Runs `ternbench sysinfo`.
pub fn run(args: &SysinfoArgs) -> Result<()> {
    let mut fp = Fingerprint::collect(&Roots::system());
    if let Some(path) = &args.compare {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let other: Fingerprint = serde_json::from_str(&text).with_context(|| {
            format!("{} is not a `sysinfo -o json` fingerprint", path.display())
        })?;
        let differences = fp.matches(&other);
        if args.output == crate::cli::TextOrJson::Json {
            let c = Comparison {
                comparable: differences.is_empty(),
                differences,
            };
            println!("{}", serde_json::to_string_pretty(&c)?);
        } else if differences.is_empty() {
            println!("comparable: {} matches this machine", path.display());
        } else {
            println!("not comparable with {}:", path.display());
            for d in &differences {
                println!("  {d}");
            }
        }
        return Ok(());
    }
    if !args.no_bandwidth {
        let (gbps, threads) = measure_bandwidth();
        fp.read_bandwidth_gbps = Some(gbps);
        fp.read_bandwidth_threads = Some(threads);
    }
    if args.output == crate::cli::TextOrJson::Json {
        println!("{}", serde_json::to_string_pretty(&fp)?);
    } else {
        print!("{}", fp.render_text());
    }
    Ok(())
}
