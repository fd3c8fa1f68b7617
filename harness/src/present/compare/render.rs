//! The Markdown form of a [`Report`]: fit for a pull-request comment or
//! `$GITHUB_STEP_SUMMARY`. A headline verdict, the two runs side by side, the machine, what
//! gates and why, then one table per metric; plain words, no emoji.

use super::{Report, Row, Side};
use crate::output::Table;
use crate::records::results::CellKey;
use crate::records::stats::{fmt_num, Summary};

/// A number as every command prints one ([`fmt_num`]).
pub fn num(v: f64) -> String {
    fmt_num(v)
}

/// One side of a row: the median with its 95% interval and the repetitions,
/// `14.44 [13.90, 14.80] (n=6)`, as `run`, `bench` and `report` show the cell.
pub fn summary(s: &Summary) -> String {
    match s.ci() {
        Some(_) => format!("{} (n={})", s.show(), s.n),
        None => s.show(),
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:+.1}%"))
}

fn side(s: &Option<Side>) -> String {
    s.as_ref().map_or_else(|| "-".into(), |s| s.shown.clone())
}

fn p_value(p: Option<f64>) -> String {
    match p {
        None => "-".into(),
        Some(p) if p < 0.001 => "<0.001".into(),
        Some(p) => format!("{p:.3}"),
    }
}

fn verdict(r: &Row) -> String {
    match &r.note {
        Some(n) => format!("{} ({n})", r.verdict.word()),
        None => r.verdict.word().to_string(),
    }
}

fn commit(c: &Option<String>, dirty: Option<bool>) -> String {
    match c {
        Some(c) => format!(
            "`{}`{}",
            c.chars().take(10).collect::<String>(),
            if dirty == Some(true) { " (dirty)" } else { "" }
        ),
        None => "-".into(),
    }
}

/// The ignored settings that differ between the matched cells: `isa avx2 vs scalar`.
fn ignored_differences(ignore: &[String], a: &CellKey, b: &CellKey) -> String {
    let get = |k: &CellKey, f: &str| match f {
        "model" => k.model.clone(),
        "engine" => k.engine.clone(),
        "format" => k.format.clone(),
        "head" => k.head.clone(),
        "isa" => k.isa.clone(),
        "threads" => k.threads.to_string(),
        "test" => k.test.clone(),
        _ => String::new(),
    };
    ignore
        .iter()
        .filter(|f| get(a, f) != get(b, f))
        .map(|f| format!("{f} {} vs {}", get(a, f), get(b, f)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Renders the report as Markdown.
pub fn markdown(r: &Report) -> String {
    let mut out = String::new();
    let any_comparable = r.metrics.iter().any(|m| {
        m.rows
            .iter()
            .any(|x| x.verdict != super::Verdict::NotComparable)
    });
    let headline = if r.regressed {
        "REGRESSED"
    } else if !any_comparable {
        "NOT COMPARABLE"
    } else {
        "no regression"
    };
    out += &format!("## ternbench compare: {headline}\n\n");

    let mut t = Table::new(&["", "baseline", "new"]);
    let (a, b) = (&r.baseline, &r.new);
    t.row(vec![
        "source".into(),
        format!("`{}`", a.source),
        format!("`{}`", b.source),
    ]);
    t.row(vec!["run".into(), a.run_id.clone(), b.run_id.clone()]);
    t.row(vec![
        "scenario".into(),
        a.scenario.clone(),
        b.scenario.clone(),
    ]);
    t.row(vec![
        "started (UTC)".into(),
        a.started_utc.clone(),
        b.started_utc.clone(),
    ]);
    t.row(vec![
        "commit".into(),
        commit(&a.git_commit, a.git_dirty),
        commit(&b.git_commit, b.git_dirty),
    ]);
    t.row(vec![
        "build".into(),
        a.build_profile.clone().unwrap_or_else(|| "-".into()),
        b.build_profile.clone().unwrap_or_else(|| "-".into()),
    ]);
    t.row(vec![
        "cells".into(),
        a.cells.to_string(),
        b.cells.to_string(),
    ]);
    t.row(vec![
        "counters".into(),
        a.counters.clone(),
        b.counters.clone(),
    ]);
    out += &t.markdown();
    out += "\n";

    if r.same_machine && r.machine_unchecked.is_empty() {
        out += &format!(
            "**Machine:** {} (the same in both runs: CPU model, logical CPUs, ISA features and memory class match).\n\n",
            a.machine
        );
    } else if r.same_machine {
        out += &format!(
            "**Machine:** {} (no difference found, but a machine block is partial: {} unchecked).\n\n",
            a.machine,
            r.machine_unchecked.join(", ")
        );
    } else {
        out += &format!(
            "**Machine: NOT COMPARABLE.** Baseline: {}. New: {}. Differences: {}. Every verdict below is `not comparable`; save a baseline on this machine.\n\n",
            a.machine,
            b.machine,
            r.machine_differences.join("; ")
        );
    }
    out += &format!("**Gate:** {}.\n\n", r.gate.explanation);
    if !r.ignore.is_empty() {
        out += &format!(
            "**Matching:** cells matched by their settings less {} (shown as `*`).\n\n",
            r.ignore.join(", ")
        );
    }
    out += &format!("**Method:** {}\n\n", r.method);

    for m in &r.metrics {
        out += &format!(
            "### {} ({} is better; {}, threshold ±{}%)\n\n",
            m.label,
            m.better,
            if m.gating {
                "gating"
            } else {
                "shown, not gating"
            },
            m.threshold_pct
        );
        let mut t = Table::new(&[
            "cell",
            "baseline (median [95% CI])",
            "new (median [95% CI])",
            "change",
            "95% CI",
            "p",
            "verdict",
        ]);
        for row in &m.rows {
            let mut cell = format!("`{}`", row.cell);
            let diffs = ignored_differences(&r.ignore, &row.baseline_key, &row.new_key);
            if !diffs.is_empty() {
                cell += &format!(" ({diffs})");
            }
            t.row(vec![
                cell,
                side(&row.baseline),
                side(&row.new),
                pct(row.change_pct),
                match (row.ci95_low_pct, row.ci95_high_pct) {
                    (Some(l), Some(h)) => format!("[{l:+.1}%, {h:+.1}%]"),
                    _ => "-".into(),
                },
                p_value(row.p_value),
                verdict(row),
            ]);
        }
        out += &t.markdown();
        out += &format!(
            "\n{} regressed, {} improved, {} unchanged, {} not comparable.\n\n",
            m.counts.regressed, m.counts.improved, m.counts.unchanged, m.counts.not_comparable
        );
    }
    if !r.only_in_baseline.is_empty() || !r.only_in_new.is_empty() {
        out += "### Settings in one run only (not comparable)\n\n";
        for c in &r.only_in_baseline {
            out += &format!("- only in the baseline: `{c}`\n");
        }
        for c in &r.only_in_new {
            out += &format!("- only in the new run: `{c}`\n");
        }
        out += "\n";
    }
    if !r.notes.is_empty() {
        out += "### Notes\n\n";
        for n in &r.notes {
            out += &format!("- {n}\n");
        }
        out += "\n";
    }
    out += &format!(
        "Result: {} (exit code {}).\n",
        if r.regressed {
            "a gating metric regressed beyond its threshold"
        } else {
            "nothing gating regressed beyond its threshold"
        },
        r.exit_code
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_four_digits() {
        assert_eq!(num(37.601), "37.60");
        assert_eq!(num(0.012345), "0.01235");
        assert_eq!(num(123_456_789.4), "123456789");
        assert_eq!(num(0.0), "0");
        assert_eq!(pct(Some(-9.96)), "-10.0%");
        assert_eq!(p_value(Some(0.0001)), "<0.001");
    }
}
