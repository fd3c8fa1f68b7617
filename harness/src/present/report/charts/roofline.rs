//! The fraction of the memory-bandwidth roofline reached in decode, per model (or per thread
//! count with one model) and engine, its interval clipped at 100% where a repetition passed it.

use super::{add, collect, estimate_point, mark, run_prefix, Figure, Groups, XDim};
use crate::present::report::cells::{self, Cell};
use crate::present::report::chart::Chart;
use crate::present::report::load::Loaded;
use crate::records::stats::ROOFLINE_LIMIT_WHY;

/// Fraction of the read-bandwidth roofline reached in decode.
pub fn roofline(runs: &[Loaded]) -> Figure {
    let cells = cells::all(runs);
    let multi = runs.len() > 1;
    let title = "Decode: fraction of the memory-bandwidth roofline reached".to_string();
    let with: Vec<Cell> = cells
        .iter()
        .filter(|c| c.cell.roofline().is_some())
        .copied()
        .collect();
    if with.is_empty() {
        return Figure::Omitted(
            title,
            "no cell has a roofline fraction (it needs decode tokens/s, the bytes one decode step reads and the run's bandwidth measurement)".into(),
        );
    }
    let xd = match XDim::pick(&with, "the roofline fractions") {
        Ok(x) => x,
        Err(why) => return Figure::Omitted(title, why),
    };
    let mut groups = Groups::new();
    let mut clipped = false;
    for c in &with {
        let e = c.cell.roofline().expect("filtered");
        clipped |= e.clipped.is_some();
        let k = format!(
            "{}{}{} {}",
            run_prefix(c, multi),
            c.engine(),
            xd.threads_in_name(c),
            c.cell.key.isa
        );
        add(
            &mut groups,
            k,
            c.engine(),
            estimate_point(xd.x(c), &e, mark(c, false)),
        );
    }
    let (x, x_label) = xd.axis();
    Figure::Chart(Box::new(Chart {
        id: "roofline".into(),
        title,
        x_label,
        y_label: "tokens/s × bytes/token ÷ read bandwidth".into(),
        x,
        series: collect(groups),
        references: Vec::new(),
        reference_label: String::new(),
        percent: true,
        limit: Some((1.0, "the roofline: 100% of the read bandwidth".into())),
        caption: format!(
            "Median over repetitions of decode tokens/s × bytes one decode step reads ÷ the read bandwidth measured just before and after that repetition, at the same threads; bars: its 95% CI (order statistics). Near 100%: memory-bound; well below: compute-bound.{}",
            if clipped {
                format!(" A triangle marks an interval clipped at 100%: {ROOFLINE_LIMIT_WHY}.")
            } else {
                String::new()
            }
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::present::report::testutil::{cell, run};

    #[test]
    fn the_interval_stays_within_100_percent_and_is_marked_where_clipped() {
        let mut r = run(
            "CPU",
            "unavailable",
            vec![
                cell("bitnet-700m", "ternary", 1, 20.0, None),
                cell("bitnet-700m", "ternary", 2, 30.0, None),
            ],
        );
        for (c, f) in r.run.cells.iter_mut().zip([
            vec![0.80, 0.85, 0.9, 0.95, 1.2, 0.88],
            vec![0.5, 0.52, 0.55, 0.51, 0.53, 0.54],
        ]) {
            c.decode_roofline = crate::records::stats::roofline_fraction(&f, true);
            c.decode_roofline_fraction = c.decode_roofline.as_ref().map(|e| e.value);
            c.samples_decode_roofline_fraction = f;
        }
        let Figure::Chart(c) = roofline(&[r]) else {
            panic!("no chart")
        };
        let pts: Vec<_> = c.series.iter().flat_map(|s| s.points.iter()).collect();
        assert!(pts.iter().all(|p| p.hi.unwrap() <= 1.0), "{pts:?}");
        assert_eq!(pts.iter().filter(|p| p.clipped).count(), 1);
        assert!(c.caption.contains("clipped at 100%"), "{}", c.caption);
        assert_eq!(c.limit.as_ref().unwrap().0, 1.0);
        // One engine, two thread counts: the x axis is the threads, both of the engine's hue.
        assert_eq!(c.x_label, "threads");
        // The legend says where and that it was clipped.
        let svg = crate::present::report::chart::to_svg(&c).unwrap();
        assert!(svg.contains("CI clipped at 100%"), "no clipped legend");
        let png = crate::present::report::chart::to_png(&c).unwrap();
        assert!(png.len() > 2000);
    }
}
