//! Per-token decode latency percentiles (p50 / p90 / p99): one group per setting (model ×
//! threads), one bar per engine and percentile, each engine in its own hue (p50 darkest).

use super::{add, collect, mark, Figure, Groups};
use crate::present::report::cells::{self, Cell};
use crate::present::report::chart::{Chart, Point, XAxis};
use crate::present::report::load::Loaded;

/// p50 / p90 / p99 per-token decode latency per setting and engine.
pub fn latency(runs: &[Loaded]) -> Figure {
    let cells = cells::all(runs);
    let multi = runs.len() > 1;
    let title = "Decode latency per token: p50 / p90 / p99".to_string();
    let with: Vec<Cell> = cells
        .iter()
        .filter(|c| c.cell.decode_latency_ms.is_some())
        .copied()
        .collect();
    if with.is_empty() {
        return Figure::Omitted(title, "no cell decoded tokens (no tg test)".into());
    }
    let setting = |c: &Cell<'_>| {
        format!(
            "{}{} {} thr",
            if multi {
                format!("#{} ", c.run.index)
            } else {
                String::new()
            },
            c.cell.key.model.trim_start_matches("bitnet-"),
            c.cell.key.threads
        )
    };
    let mut cats: Vec<String> = Vec::new();
    for c in &with {
        let s = setting(c);
        if !cats.contains(&s) {
            cats.push(s);
        }
    }
    if cats.len() < 2 {
        return Figure::Omitted(
            title,
            format!(
                "one setting ({}): the p50/p90/p99 per engine are in the results table",
                cats[0]
            ),
        );
    }
    let mut groups = Groups::new();
    for c in &with {
        let p = c.cell.decode_latency_ms.as_ref().expect("filtered");
        let x = cats.iter().position(|s| *s == setting(c)).unwrap_or(0) as f64;
        let tail = if c.cell.key.test.contains('@')
            || with.iter().any(|o| o.cell.key.test != c.cell.key.test)
        {
            format!(" {}", c.cell.key.test)
        } else {
            String::new()
        };
        for (q, v) in [("p50", p.p50), ("p90", p.p90), ("p99", p.p99)] {
            add(
                &mut groups,
                format!("{} {q}{tail}", c.engine()),
                c.engine(),
                Point::bare(x, v, mark(c, false)),
            );
        }
    }
    Figure::Chart(Box::new(Chart {
        id: "latency".into(),
        title,
        x_label: "setting (model, threads)".into(),
        y_label: "ms per token".into(),
        x: XAxis::Categories(cats),
        series: collect(groups),
        references: Vec::new(),
        reference_label: String::new(),
        percent: false,
        limit: None,
        caption: "Percentiles over every decode step of every repetition of the cell: per engine, p50 darkest, p99 lightest.".into(),
    }))
}
