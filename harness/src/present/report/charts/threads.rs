//! Tokens/s against threads, prefill or decode, one line per model × engine × SIMD level × test,
//! drawn only when the run has two thread counts or more.

use super::{add, collect, mark, point, run_prefix, Figure, Groups};
use crate::present::report::cells;
use crate::present::report::chart::{Chart, XAxis};
use crate::present::report::load::Loaded;

/// Tokens/s against threads, one line per model × engine × SIMD level × test.
pub fn threads(runs: &[Loaded], decode: bool) -> Figure {
    let cells = cells::all(runs);
    let multi = runs.len() > 1;
    let (what, id) = if decode {
        ("decode", "decode_threads")
    } else {
        ("prefill", "prefill_threads")
    };
    let mut groups = Groups::new();
    let mut ticks: Vec<f64> = Vec::new();
    for c in &cells {
        let s = if decode {
            c.cell.decode_tokens_per_s.as_ref()
        } else {
            c.cell.prefill_tokens_per_s.as_ref()
        };
        let Some(s) = s else { continue };
        let x = c.cell.key.threads as f64;
        if !ticks.contains(&x) {
            ticks.push(x);
        }
        let k = format!(
            "{}{} {} {} {}",
            run_prefix(c, multi),
            c.engine(),
            c.cell.key.model,
            c.cell.key.isa,
            c.cell.key.test
        );
        add(&mut groups, k, c.engine(), point(x, s, mark(c, false)));
    }
    let title = format!("{what} tokens/s vs threads");
    if groups.is_empty() {
        return Figure::Omitted(
            title,
            format!(
                "no cell measured {what} (the scenario's tests have no {})",
                if decode { "tg" } else { "pp" }
            ),
        );
    }
    if ticks.len() < 2 {
        return Figure::Omitted(
            title,
            format!(
                "the run has one thread count ({}), so a line against threads would be a single column of dots; the {what} figures are in the results table (list several thread counts in the scenario's `threads` to draw it)",
                ticks[0]
            ),
        );
    }
    ticks.sort_by(f64::total_cmp);
    Figure::Chart(Box::new(Chart {
        id: id.into(),
        title,
        x_label: "threads".into(),
        y_label: format!("{what} tokens/s (median, 95% CI)"),
        x: XAxis::Numeric(ticks),
        series: collect(groups),
        references: Vec::new(),
        reference_label: String::new(),
        percent: false,
        limit: None,
        caption: format!(
            "Median {what} tokens/s per cell; bars are the 95% confidence interval of the median (order statistics; none below 6 repetitions). One colour per engine and format in every chart."
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::present::report::testutil::{cell, run};

    #[test]
    fn one_thread_count_draws_no_line_and_says_why() {
        let r = run(
            "CPU",
            "unavailable",
            (0..20)
                .map(|i| cell(&format!("m{i}"), "ternary", 2, 10.0 + i as f64, None))
                .collect(),
        );
        match threads(std::slice::from_ref(&r), true) {
            Figure::Omitted(_, why) => assert!(why.contains("one thread count (2)"), "{why}"),
            Figure::Chart(_) => panic!("a vs-threads chart for a single thread count"),
        }
        let r = run(
            "CPU",
            "unavailable",
            vec![
                cell("bitnet-700m", "ternary", 1, 10.0, None),
                cell("bitnet-700m", "ternary", 2, 18.0, None),
                cell("bitnet-700m", "fp16", 1, 5.0, None),
                cell("bitnet-700m", "fp16", 2, 8.0, None),
            ],
        );
        let Figure::Chart(c) = threads(&[r], true) else {
            panic!("no chart")
        };
        assert_eq!(c.series.len(), 2);
        // Six repetitions: every point has its interval.
        assert!(c
            .series
            .iter()
            .all(|s| s.points.iter().all(|p| p.lo.is_some())));
    }
}
