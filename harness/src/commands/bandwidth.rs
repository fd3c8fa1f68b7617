//! `ternbench bandwidth`: the machine's memory read bandwidth (the roofline's denominator),
//! measured by [`crate::measure::bandwidth`] and printed as a table or JSON.

use anyhow::Result;
use serde::Serialize;
use ternbench_kernels::probe::read_probes;
use ternbench_kernels::{Pinning, ThreadPool};

use crate::cli::BandwidthArgs;
use crate::measure::bandwidth::{default_bytes, default_probes, measure, Bandwidth, ReadBuffer};
use crate::output::{fmt_f, Table};
use crate::records::machine;

/// What `ternbench bandwidth -o json` prints.
#[derive(Debug, Serialize)]
struct Report {
    cpu: String,
    llc_bytes: u64,
    llc_from_sysfs: bool,
    size_bytes: usize,
    passes: usize,
    results: Vec<Bandwidth>,
}

/// Runs `ternbench bandwidth`.
pub fn run(args: &BandwidthArgs) -> Result<()> {
    let threads = machine::thread_list(args.threads.as_deref());
    crate::commands::check_threads(&threads, &args.thread_opts, "--threads")?;
    let bytes = match args.size_mib {
        Some(m) => (m as usize) << 20,
        None => default_bytes(),
    };
    let probes = if args.all_methods {
        read_probes()
    } else {
        default_probes()
    };
    let pool = ThreadPool::new(*threads.iter().max().unwrap_or(&1), Pinning::None);
    let buf = ReadBuffer::new(&pool, bytes);
    let (llc, llc_from_sysfs) = machine::llc_bytes();
    let passes = args.passes as usize;
    let results: Vec<Bandwidth> = threads
        .iter()
        .map(|&t| measure(&pool, &buf, t, &probes, passes))
        .collect();
    let report = Report {
        cpu: machine::cpu_model(),
        llc_bytes: llc,
        llc_from_sysfs,
        size_bytes: bytes,
        passes,
        results,
    };
    if args.output == crate::cli::TextOrJson::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{}; last-level cache {} MiB{}; array {} MiB; {} passes per method",
        report.cpu,
        llc >> 20,
        if llc_from_sysfs {
            ""
        } else {
            " (assumed: sysfs unreadable)"
        },
        bytes >> 20,
        passes
    );
    let mut t = Table::new(&["threads", "median GB/s", "max GB/s", "re-run", "method"]);
    for r in &report.results {
        if args.all_methods {
            for m in &r.methods {
                t.row(vec![
                    r.threads.to_string(),
                    fmt_f(m.median_gbps, 2),
                    fmt_f(m.max_gbps, 2),
                    m.disturbed_passes.to_string(),
                    format!(
                        "{}{}",
                        m.method,
                        if m.method == r.method {
                            "  <- fastest"
                        } else {
                            ""
                        }
                    ),
                ]);
            }
        } else {
            t.row(vec![
                r.threads.to_string(),
                fmt_f(r.median_gbps, 2),
                fmt_f(r.max_gbps, 2),
                r.disturbed_passes.to_string(),
                r.method.clone(),
            ]);
        }
    }
    print!("{}", t.render());
    Ok(())
}
