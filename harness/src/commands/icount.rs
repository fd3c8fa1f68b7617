//! `ternbench icount`: instructions per kernel call and per token, counted under Valgrind
//! ([`crate::measure::icount`]), written to `--out DIR` as `icount.json` (the counts file,
//! [`crate::records::icount`], that `ternbench compare` judges) and `icount.md`. `--list` prints the cases; `--worker` is what each Valgrind
//! worker runs.

use anyhow::{Context, Result};

use crate::cli::{IcountArgs, IcountOutput};
use crate::measure::icount::{self, cases, Plan};
use crate::output::Table;
use crate::present;
use crate::records;

/// Runs `ternbench icount`.
pub fn run(a: &IcountArgs) -> Result<()> {
    if a.worker {
        let stdout = std::io::stdout();
        return icount::worker::run(&a.cases, &mut stdout.lock());
    }
    let selected = cases::select(&a.cases)?;
    if a.list {
        let mut t = Table::new(&["case", "label", "per"]);
        for c in &selected {
            t.row(vec![c.id(), c.label(), c.unit().to_string()]);
        }
        print!("{}", t.render());
        println!(
            "{} cases; levels {} (AVX-512 cannot be counted: {})",
            selected.len(),
            cases::LEVELS.map(|l| l.name()).join(", "),
            icount::AVX512_REASON
        );
        return Ok(());
    }
    let jobs = a.jobs.map_or_else(
        || {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(4)
        },
        |j| j as usize,
    );
    let plan = Plan {
        cases: selected,
        jobs,
        cache_sim: !a.no_cache_sim,
        valgrind: a.valgrind.clone(),
    };
    let quiet = a.quiet;
    let counts = icount::measure(&plan, &|s| {
        if !quiet {
            eprintln!("icount: {s}");
        }
    })?;
    let file = a.out.join(records::icount::FILE_NAME);
    records::icount::write(&file, &counts)
        .with_context(|| format!("writing the counts file {}", file.display()))?;
    let md = present::icount::markdown(&counts);
    let table = a.out.join("icount.md");
    std::fs::write(&table, &md).with_context(|| format!("writing {}", table.display()))?;
    match a.output {
        IcountOutput::Md => print!("{md}"),
        IcountOutput::Json => println!("{}", serde_json::to_string_pretty(&counts)?),
    }
    if !quiet {
        eprintln!("icount: wrote {} and {}", file.display(), table.display());
    }
    Ok(())
}
