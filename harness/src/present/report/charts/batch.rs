//! Decode tokens/s against batch size (sequences decoded together, as llama-batched-bench):
//! aggregate and per-stream, one pair of lines per model × engine × SIMD level × threads × test.
//! Batching reads each weight once per step for every sequence, so the aggregate climbs while
//! decode is bandwidth-bound and flattens where it turns compute-bound; per-stream tokens/s is
//! what each user sees.

use super::{add, collect, mark, point, run_prefix, Figure, Groups};
use crate::present::report::cells;
use crate::present::report::chart::{Chart, XAxis};
use crate::present::report::load::Loaded;

/// A test name without its ` @ bN` part: the cells of one line.
pub(crate) fn unbatched(test: &str) -> &str {
    match test.rfind(" @ b") {
        Some(i) if test[i + 4..].chars().all(|c| c.is_ascii_digit()) => &test[..i],
        _ => test,
    }
}

/// Aggregate and per-stream decode tokens/s against batch size.
pub fn batch(runs: &[Loaded]) -> Figure {
    let cells = cells::all(runs);
    let multi = runs.len() > 1;
    let title = "decode tokens/s vs batch (aggregate and per stream)".to_string();
    if !cells.iter().any(|c| c.cell.batch > 1) {
        return Figure::Omitted(
            title,
            "no batched cell (a test \"tgN @ bB\", a scenario's `batch` axis or bench --batch)"
                .into(),
        );
    }
    let mut groups: Groups = Groups::new();
    let mut ticks: Vec<f64> = Vec::new();
    for c in &cells {
        let (Some(agg), Some(per)) = (
            c.cell.decode_tokens_per_s.as_ref(),
            c.cell.decode_tokens_per_s_per_stream.as_ref(),
        ) else {
            continue;
        };
        let x = c.cell.batch.max(1) as f64;
        if !ticks.contains(&x) {
            ticks.push(x);
        }
        let base = format!(
            "{}{} {} {} t{} {}",
            run_prefix(c, multi),
            c.cell.key.model,
            c.engine(),
            c.cell.key.isa,
            c.cell.key.threads,
            unbatched(&c.cell.key.test)
        );
        let m = mark(c, false);
        // One family per engine: its aggregate and per-stream lines share a hue.
        add(
            &mut groups,
            format!("{base} aggregate"),
            c.engine(),
            point(x, agg, m),
        );
        add(
            &mut groups,
            format!("{base} per stream"),
            c.engine(),
            point(x, per, m),
        );
    }
    // A line needs the same test at two batch sizes at least.
    groups.retain(|_, (_, pts)| pts.len() > 1);
    if groups.is_empty() {
        return Figure::Omitted(
            title,
            "no decode test was measured at two batch sizes or more".into(),
        );
    }
    for (_, pts) in groups.values_mut() {
        pts.sort_by(|a, b| a.x.total_cmp(&b.x));
    }
    ticks.sort_by(f64::total_cmp);
    Figure::Chart(Box::new(Chart {
        id: "decode_batch".into(),
        title,
        x_label: "batch (sequences decoded together, each its own KV cache)".into(),
        y_label: "decode tokens/s (median, 95% CI)".into(),
        x: XAxis::Numeric(ticks),
        series: collect(groups),
        references: Vec::new(),
        reference_label: String::new(),
        percent: false,
        limit: None,
        caption:
            "Aggregate: tokens/s of all sequences together (one forward pass per step over the \
                  batch); per stream: what each sequence gets (aggregate ÷ batch). Medians; bars \
                  are the 95% confidence interval over repetitions."
                .into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::present::report::chart;
    use crate::present::report::testutil::{cell, run};

    #[test]
    fn batch_names_strip_only_the_batch() {
        assert_eq!(unbatched("tg64 @ b8"), "tg64");
        assert_eq!(unbatched("tg64 @ d512 @ b16"), "tg64 @ d512");
        assert_eq!(unbatched("tg64 @ d512"), "tg64 @ d512");
        assert_eq!(unbatched("pp128+head"), "pp128+head");
    }

    #[test]
    fn aggregate_and_per_stream_lines_per_engine() {
        let mut cs = Vec::new();
        for (engine, rates) in [("ternary", [17.0, 45.0, 60.0]), ("fp16", [4.0, 20.0, 30.0])] {
            for (b, r) in [1usize, 8, 16].iter().zip(rates) {
                let mut c = cell("bitnet-2b4t", engine, 1, r, None);
                c["batch"] = (*b).into();
                c["key"]["test"] = if *b > 1 {
                    format!("tg64 @ b{b}")
                } else {
                    "tg64".to_string()
                }
                .into();
                c["decode_tokens_per_s_per_stream"] =
                    serde_json::to_value(crate::records::stats::Summary::of(&[r / *b as f64]))
                        .unwrap();
                cs.push(c);
            }
        }
        let r = run("CPU", "unavailable", cs);
        let Figure::Chart(c) = batch(&[r]) else {
            panic!("no chart")
        };
        assert_eq!(c.series.len(), 4);
        let agg = c
            .series
            .iter()
            .find(|s| s.name.contains("ternary") && s.name.ends_with("aggregate"))
            .unwrap();
        assert_eq!(
            agg.points.iter().map(|p| (p.x, p.y)).collect::<Vec<_>>(),
            [(1.0, 17.0), (8.0, 45.0), (16.0, 60.0)]
        );
        let per = c
            .series
            .iter()
            .find(|s| s.name.contains("fp16") && s.name.ends_with("per stream"))
            .unwrap();
        assert_eq!(per.points[2].y, 30.0 / 16.0);
        let svg = chart::to_svg(&c).unwrap();
        assert!(svg.contains("per stream"));
        // Without batched cells the chart says why it is absent.
        let r = run(
            "CPU",
            "unavailable",
            vec![cell("bitnet-2b4t", "ternary", 1, 17.0, None)],
        );
        assert!(matches!(batch(&[r]), Figure::Omitted(_, w) if w.contains("no batched cell")));
    }
}
