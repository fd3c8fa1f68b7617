//! Per-token decode latency percentiles (p50 / p90 / p99) per cell.

use super::{mark, series_name, Figure};
use crate::present::report::cells::{self, Cell};
use crate::present::report::chart::{Chart, Point, Series, XAxis};
use crate::present::report::load::Loaded;

/// p50 / p90 / p99 per-token decode latency per cell.
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
    let mut cats = Vec::new();
    let mut groups: Vec<Series> = ["p50", "p90", "p99"]
        .iter()
        .map(|n| Series {
            name: (*n).to_string(),
            points: Vec::new(),
        })
        .collect();
    for (i, c) in with.iter().enumerate() {
        let p = c.cell.decode_latency_ms.as_ref().expect("filtered");
        let short_model = c.cell.key.model.trim_start_matches("bitnet-");
        cats.push(format!(
            "{}{} {} {}t",
            if multi {
                format!("#{} ", c.run.index)
            } else {
                String::new()
            },
            short_model,
            if c.cell.key.engine == "ternary" {
                "tern"
            } else {
                "fp16"
            },
            c.cell.key.threads
        ));
        for (s, v) in groups.iter_mut().zip([p.p50, p.p90, p.p99]) {
            s.points.push(Point {
                x: i as f64,
                y: v,
                lo: None,
                hi: None,
                mark: mark(c, false),
            });
        }
    }
    let groups: Vec<Series> = groups
        .into_iter()
        .map(|s| Series {
            name: series_name(s.name, &s.points),
            points: s.points,
        })
        .collect();
    Figure::Chart(Box::new(Chart {
        id: "latency".into(),
        title,
        x_label: "cell (model, engine, threads)".into(),
        y_label: "ms per token".into(),
        x: XAxis::Categories(cats),
        series: groups,
        references: Vec::new(),
        reference_label: String::new(),
        percent: false,
        caption: "Percentiles over every decode step of every repetition of the cell.".into(),
    }))
}
