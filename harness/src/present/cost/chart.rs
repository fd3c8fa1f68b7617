//! The monthly-cost chart: each deployment's monthly dollars against requests/day on log-log
//! axes (whole instances make the steps), the demand costed, and the crossovers marked, drawn
//! with plotters to SVG and to PNG (the embedded font of [`crate::present::report::chart`]).
//! The title's first line is the size mismatch when `--allow-size-mismatch` let one through.

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::present::cost::crossover::{fmt_rate, Sweep};
use crate::present::cost::render::wrap;
use crate::present::report::chart::register_font;

/// Width, pixels.
pub const WIDTH: u32 = 900;
/// Height of the plot (the title adds its lines).
const PLOT_HEIGHT: u32 = 480;
const TITLE_LINE: u32 = 18;

const COLOURS: [RGBColor; 6] = [
    RGBColor(192, 80, 77),
    RGBColor(79, 129, 189),
    RGBColor(85, 150, 70),
    RGBColor(128, 100, 162),
    RGBColor(75, 172, 198),
    RGBColor(247, 150, 70),
];

/// The title's lines, wrapped, each with whether it belongs to a size-mismatch warning.
fn title_lines(title: &str) -> Vec<(String, bool)> {
    title
        .lines()
        .flat_map(|l| {
            let warn = l.starts_with("SIZE MISMATCH");
            wrap(l, 115).into_iter().map(move |w| (w, warn))
        })
        .collect()
}

fn height(title: &str) -> u32 {
    PLOT_HEIGHT + TITLE_LINE * title_lines(title).len() as u32 + 12
}

/// `$1.2k`, `$350`.
fn money(v: f64) -> String {
    if v >= 1e6 {
        format!("${:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("${:.1}k", v / 1e3)
    } else {
        format!("${v:.0}")
    }
}

fn draw<DB: DrawingBackend>(
    sw: &Sweep,
    title: &str,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    register_font();
    root.fill(&WHITE)?;
    let lines = title_lines(title);
    for (i, (l, warn)) in lines.iter().enumerate() {
        let colour = if *warn { RGBColor(176, 0, 0) } else { BLACK };
        root.draw(&Text::new(
            l.clone(),
            (10, 6 + (TITLE_LINE as i32) * i as i32),
            ("sans-serif", 14).into_font().color(&colour),
        ))?;
    }
    let top = TITLE_LINE * lines.len() as u32 + 8;
    let (_, area) = root.split_vertically(top);
    let (lo, hi) = (sw.lo, sw.hi);
    let mut ymin = f64::INFINITY;
    let mut ymax: f64 = 0.0;
    for c in &sw.curves {
        ymin = ymin.min(c.monthly(lo));
        ymax = ymax.max(c.monthly(hi));
    }
    let (ymin, ymax) = ((ymin * 0.7).max(1e-3), (ymax * 1.5).max(ymin * 10.0));
    let mut chart = ChartBuilder::on(&area)
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(72)
        .build_cartesian_2d((lo..hi).log_scale(), (ymin..ymax).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("requests per day")
        .y_desc("$ per month")
        .x_label_formatter(&|x| fmt_rate(*x))
        .y_label_formatter(&|y| money(*y))
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 13))
        .draw()?;
    // Each curve through a log grid plus its steps (both sides of each), so the steps are
    // vertical.
    for (i, c) in sw.curves.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let n = 400;
        let mut xs: Vec<(f64, bool)> = (0..=n)
            .map(|k| (lo * (hi / lo).powf(k as f64 / n as f64), false))
            .collect();
        let a = c.instances_per_request_day;
        if (hi - lo) * a <= 3000.0 {
            let mut k = (lo * a).floor() + 1.0;
            while k / a < hi {
                if k / a > lo {
                    xs.push((k / a, true));
                }
                k += 1.0;
            }
        }
        xs.sort_by(|p, q| p.0.total_cmp(&q.0));
        let mut pts = Vec::with_capacity(xs.len() * 2);
        for (x, step) in xs {
            pts.push((x, c.monthly(x)));
            if step {
                pts.push((x, c.monthly(x * (1.0 + 1e-9))));
            }
        }
        chart
            .draw_series(LineSeries::new(pts, colour.stroke_width(2)))?
            .label(c.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], colour.stroke_width(3))
            });
    }
    // The demand costed.
    if let Some(row) = sw.table.iter().find(|r| r.why.contains("your demand")) {
        let x = row.requests_per_day;
        let grey = RGBColor(120, 120, 120);
        chart.draw_series(LineSeries::new(
            vec![(x, ymin), (x, ymax)],
            grey.stroke_width(1),
        ))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("your demand: {}/day", fmt_rate(x)),
            (x * 1.05, ymax / 1.6),
            ("sans-serif", 12).into_font().color(&grey),
        )))?;
    }
    // Crossovers: every one of a pair that crosses a few times, else its first and last.
    let mut label_row = 0;
    for p in &sw.pairs {
        let xs = &p.crossovers;
        let shown: Vec<&crate::present::cost::crossover::Crossover> = if xs.len() <= 3 {
            xs.iter().collect()
        } else {
            vec![&xs[0], &xs[xs.len() - 1]]
        };
        let Some(curve) = sw.curves.iter().find(|c| c.name == p.a) else {
            continue;
        };
        for c in shown {
            let x = c.requests_per_day;
            let y = curve.monthly(x);
            chart.draw_series(std::iter::once(Circle::new(
                (x, y),
                6,
                BLACK.stroke_width(2),
            )))?;
            chart.draw_series(LineSeries::new(
                vec![(x, ymin), (x, y)],
                BLACK.mix(0.35).stroke_width(1),
            ))?;
            let ly = ymin * (ymax / ymin).powf(0.06 + 0.07 * (label_row % 5) as f64);
            label_row += 1;
            chart.draw_series(std::iter::once(Text::new(
                format!("{}: {} cheaper above", fmt_rate(x), c.cheaper_above),
                (x * 1.04, ly),
                ("sans-serif", 11).into_font().color(&BLACK),
            )))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 12))
        .draw()?;
    Ok(())
}

/// The chart as SVG text.
pub fn to_svg(sw: &Sweep, title: &str) -> Result<String> {
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, (WIDTH, height(title))).into_drawing_area();
        draw(sw, title, &root)
            .map_err(|e| anyhow!("drawing the monthly-cost chart as SVG: {e}"))?;
    }
    Ok(s)
}

/// The chart as a PNG file's bytes.
pub fn to_png(sw: &Sweep, title: &str) -> Result<Vec<u8>> {
    let (w, h) = (WIDTH, height(title));
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        draw(sw, title, &root)
            .map_err(|e| anyhow!("drawing the monthly-cost chart as PNG: {e}"))?;
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc
            .write_header()
            .map_err(|e| anyhow!("encoding the monthly-cost chart as PNG: {e}"))?;
        wr.write_image_data(&buf)
            .map_err(|e| anyhow!("encoding the monthly-cost chart as PNG: {e}"))?;
    }
    Ok(out)
}
