//! A counts file (`ternbench icount`) for people: what was counted, how, and the table of
//! counts per kernel call and per token.

use crate::present::compare::counts::fmt_count;
use crate::records::icount::CountsFile;

/// Markdown: the method and levels, then one row per case.
pub fn markdown(f: &CountsFile) -> String {
    let mut s = format!(
        "## ternbench instruction counts ({} cases, {} {})\n\n",
        f.cases.len(),
        f.tool.valgrind,
        f.tool.tool
    );
    s += &format!(
        "Build {} ({}, {} profile); host {}, {}, {}.\n\n",
        f.commit_short(),
        f.build.rustc,
        f.build.profile,
        f.host.cpu_model.as_deref().unwrap_or("unknown CPU"),
        f.host.os.as_deref().unwrap_or("unknown OS"),
        f.host.libc.as_deref().unwrap_or("unknown C library"),
    );
    s += &format!("Levels counted: {}.", f.levels.counted.join(", "));
    // Levels left out for the same reason are named together.
    let mut reasons: Vec<(&str, Vec<&str>)> = Vec::new();
    for n in &f.levels.not_counted {
        match reasons.iter_mut().find(|r| r.0 == n.reason) {
            Some(r) => r.1.push(&n.isa),
            None => reasons.push((&n.reason, vec![&n.isa])),
        }
    }
    for (why, isas) in reasons {
        s += &format!(" Not counted: {} ({why}).", isas.join(", "));
    }
    s += "\n\n";
    s += &format!(
        "Kernel cases: one call on one thread, per call. Model cases: {} with {} of {} layers built (synthetic weights), per token; prefill is one pass over {} tokens, decode {} steps after them.\n\n",
        f.suite.model,
        f.suite.layers,
        f.suite.layers_total,
        f.suite.prompt_tokens,
        f.suite.decode_tokens
    );
    let sim = f.tool.cache_sim;
    s += if sim {
        "| case | per | instructions | sim. D1 misses | sim. LL misses |\n|---|---|---:|---:|---:|\n"
    } else {
        "| case | per | instructions |\n|---|---|---:|\n"
    };
    let opt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), fmt_count);
    for c in &f.cases {
        if sim {
            s += &format!(
                "| `{}` | {} | {} | {} | {} |\n",
                c.label,
                c.unit,
                fmt_count(c.instructions),
                opt(c.d1_misses),
                opt(c.ll_misses)
            );
        } else {
            s += &format!(
                "| `{}` | {} | {} |\n",
                c.label,
                c.unit,
                fmt_count(c.instructions)
            );
        }
    }
    s += &format!(
        "\nValgrind step: {:.1} s wall{} in {} worker(s).\n",
        f.duration_s,
        f.cpu_s
            .map(|c| format!(", {c:.1} s CPU"))
            .unwrap_or_default(),
        f.jobs
    );
    if !f.notes.is_empty() {
        s += "\nNotes:\n";
        for n in &f.notes {
            s += &format!("- {n}\n");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::icount::tests::sample;

    #[test]
    fn the_table_names_every_case_and_the_levels() {
        let md = markdown(&sample());
        assert!(
            md.contains("| `i2 avx2 gemv qo 2560x2560` | call | 1,000,000 | 1,000 | 10 |"),
            "{md}"
        );
        assert!(md.contains("per token") || md.contains("| token |"), "{md}");
        assert!(md.contains("Levels counted: avx2."), "{md}");
    }
}
