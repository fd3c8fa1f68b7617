//! `ternbench peak`: the int8 and f32 multiply-add peaks of every SIMD level this CPU runs,
//! measured by [`crate::measure::peak`].

use anyhow::Result;
use ternbench_kernels::probe::peak_probes;
use ternbench_kernels::{Pinning, ThreadPool};

use crate::cli::PeakArgs;
use crate::measure::peak::{measure, CLOCK, REPS, TARGET_S};
use crate::output::{fmt_f, Table};
use crate::records::machine;

/// Runs `ternbench peak`.
pub fn run(args: &PeakArgs) -> Result<()> {
    let threads = machine::thread_list(Some(&args.threads));
    crate::commands::check_threads(&threads, &args.thread_opts, "--threads")?;
    let pool = ThreadPool::new(*threads.iter().max().unwrap_or(&1), Pinning::None);
    let mut rows = Vec::new();
    for probe in peak_probes() {
        for &t in &threads {
            rows.push(measure(&pool, &probe, t, TARGET_S, REPS));
        }
    }
    if args.output == crate::cli::TextOrJson::Json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{}; each thread's products over its own {CLOCK}, summed",
        machine::cpu_model()
    );
    let mut t = Table::new(&[
        "isa",
        "kind",
        "instruction",
        "threads",
        "median Gprod/s",
        "max Gprod/s",
    ]);
    for r in &rows {
        t.row(vec![
            r.isa.clone(),
            r.kind.clone(),
            r.instr.clone(),
            r.threads.to_string(),
            fmt_f(r.median_gops, 1),
            fmt_f(r.max_gops, 1),
        ]);
    }
    print!("{}", t.render());
    Ok(())
}
