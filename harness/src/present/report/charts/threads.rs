//! Tokens/s against threads, prefill or decode, one line per model × engine × SIMD level × test,
//! drawn only when the run has two thread counts or more. With one thread count a line against
//! threads would be a single column of dots, so the cells are drawn as bars instead: one group
//! per model × SIMD level × test (what varies), one bar per engine, each with its 95% CI.

use super::{add, collect, mark, point, run_prefix, Figure, Groups};
use crate::present::report::cells::{self, Cell};
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
        return per_cell(&cells, decode, multi, ticks[0]);
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

/// The cells of a run with one thread count, as bars: a group per model × SIMD level × test
/// (naming only what varies), a bar per engine and format.
fn per_cell(cells: &[Cell<'_>], decode: bool, multi: bool, threads: f64) -> Figure {
    let what = if decode { "decode" } else { "prefill" };
    let value = |c: &Cell<'_>| {
        if decode {
            c.cell.decode_tokens_per_s.clone()
        } else {
            c.cell.prefill_tokens_per_s.clone()
        }
    };
    let with: Vec<&Cell<'_>> = cells.iter().filter(|c| value(c).is_some()).collect();
    let title = format!("{what} tokens/s per cell at {threads} thread(s)");
    if with.len() < 2 {
        return Figure::Omitted(
            title,
            format!(
                "the run has one {what} cell ({threads} thread(s)): its figure is in the verdict card and the results table"
            ),
        );
    }
    let varies = |f: &dyn Fn(&Cell<'_>) -> String| {
        let mut v: Vec<String> = with.iter().map(|c| f(c)).collect();
        v.sort();
        v.dedup();
        v.len() > 1
    };
    let (m, i, t) = (
        varies(&|c| c.cell.key.model.clone()),
        varies(&|c| c.cell.key.isa.clone()),
        varies(&|c| c.cell.key.test.clone()),
    );
    let category = |c: &Cell<'_>| -> String {
        let mut parts = Vec::new();
        if m || !(i || t) {
            parts.push(c.model_label());
        }
        if i {
            parts.push(c.cell.key.isa.clone());
        }
        if t {
            parts.push(c.cell.key.test.clone());
        }
        parts.join(" ")
    };
    // Categories in the order of the models' sizes, then as the run lists them.
    let order = super::models(cells);
    let mut sorted = with.clone();
    sorted.sort_by_key(|c| order.iter().position(|x| x == &c.cell.key.model));
    let mut cats: Vec<String> = Vec::new();
    for c in &sorted {
        let k = category(c);
        if !cats.contains(&k) {
            cats.push(k);
        }
    }
    let mut groups = Groups::new();
    for c in &sorted {
        let x = cats.iter().position(|k| *k == category(c)).unwrap_or(0) as f64;
        let mut name = format!("{}{}", run_prefix(c, multi), c.engine());
        if !(m || i || t) {
            name.push_str(&format!(" {} {}", c.cell.key.isa, c.cell.key.test));
        }
        let s = value(c).expect("filtered");
        add(&mut groups, name, c.engine(), point(x, &s, mark(c, false)));
    }
    Figure::Chart(Box::new(Chart {
        id: format!("{what}_cells"),
        title,
        x_label: match (m || !(i || t), i, t) {
            (true, false, false) => "model (parameters)".into(),
            (true, ..) => "model, SIMD level, test".into(),
            (false, true, false) => "SIMD level".into(),
            (false, false, true) => "test".into(),
            _ => "SIMD level, test".into(),
        },
        y_label: format!("{what} tokens/s (median, 95% CI)"),
        x: XAxis::Categories(cats),
        series: collect(groups),
        references: Vec::new(),
        reference_label: String::new(),
        percent: false,
        limit: None,
        caption: format!(
            "The run has one thread count ({threads}), so there is no line against threads: one bar per cell, the median {what} tokens/s; error bars are the 95% confidence interval of the median (order statistics; none below 6 repetitions). One colour per engine and format in every chart."
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
        // One thread count: no line against threads, a bar per cell (a group per model, one
        // colour for the one engine, every bar its own shade: no colour repeats).
        let Figure::Chart(c) = threads(std::slice::from_ref(&r), true) else {
            panic!("no per-cell chart")
        };
        assert_eq!(c.id, "decode_cells");
        assert!(c.title.contains("per cell at 2 thread(s)"), "{}", c.title);
        assert!(c.caption.contains("one thread count (2)"), "{}", c.caption);
        let XAxis::Categories(cats) = &c.x else {
            panic!("a line chart for a single thread count")
        };
        assert_eq!(cats.len(), 20);
        assert_eq!(c.series.len(), 1);
        assert_eq!(c.series[0].points.len(), 20);
        assert!(crate::present::report::chart::to_png(&c).unwrap().len() > 2000);
        // Two engines at one thread count on one model: one group, a bar per engine in its
        // own hue.
        let r = run(
            "CPU",
            "unavailable",
            vec![
                cell("bitnet-700m", "ternary", 2, 10.0, None),
                cell("bitnet-700m", "fp16", 2, 5.0, None),
            ],
        );
        let Figure::Chart(c) = threads(std::slice::from_ref(&r), false) else {
            panic!("no per-cell chart")
        };
        assert_eq!(c.x, XAxis::Categories(vec!["bitnet-700m (729M)".into()]));
        assert_eq!(c.series.len(), 2);
        let col = c.colours();
        assert_eq!(col[0], crate::present::report::palette::hue("fp16"));
        assert_eq!(col[1], crate::present::report::palette::hue("ternary i2"));
        // A single cell: no chart, and why.
        let r = run(
            "CPU",
            "unavailable",
            vec![cell("bitnet-700m", "ternary", 2, 10.0, None)],
        );
        match threads(std::slice::from_ref(&r), true) {
            Figure::Omitted(_, why) => assert!(why.contains("one decode cell"), "{why}"),
            Figure::Chart(_) => panic!("a chart of a single cell"),
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
