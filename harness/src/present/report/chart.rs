//! Charts: a small data model ([`Chart`]) drawn with plotters to SVG (for the HTML page and
//! `.svg` files) and to PNG (through the bitmap backend and the `png` encoder).
//!
//! Text is laid out with DejaVu Sans, embedded in the binary and registered with plotters'
//! `ab_glyph` renderer (no fontconfig or freetype is needed); in PNGs it is rasterised by
//! [`super::glyphs`], which places each glyph where the font puts it. Two
//! kinds of chart: grouped bars over categories ([`XAxis::Categories`], a point's `x` is its
//! category index) and lines over a numeric axis ([`XAxis::Numeric`]). Every point may carry
//! a 95% interval (drawn as an error bar; an interval clipped at a feasible limit ends in an
//! open triangle and the chart draws the limit) and a [`Mark`]: SAMPLED figures are drawn
//! hatched (bars) or as hollow circles (lines), ESTIMATED ones hollow (bars) or as hollow
//! triangles, and the legend names both. Published reference values are black diamonds.
//! Colours come from [`super::palette`]: one hue per engine and format in every chart.
//! To add a chart kind: build a [`Chart`] in a file of `charts/`; draw something new here.

use std::sync::Once;

use anyhow::{anyhow, Result};
use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

/// Width of every chart, pixels.
pub const WIDTH: u32 = 900;
/// Height of the plot part, pixels (the legend adds rows below).
pub const PLOT_HEIGHT: u32 = 420;
const LEGEND_ROW: u32 = 20;

static REGISTER: Once = Once::new();

/// Registers the embedded font as `sans-serif` (once per process).
pub fn register_font() {
    REGISTER.call_once(|| {
        if plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            super::glyphs::FONT_BYTES,
        )
        .is_err()
        {
            eprintln!(
                "warning: the embedded chart font could not be read; chart text may be missing"
            );
        }
    });
}

/// How a figure was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Measured over the whole model.
    Measured,
    /// Measured over some layers only.
    Sampled,
    /// From a model (energy from TDP × utilisation), not a measurement.
    Estimated,
}

/// One value.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Category index, or the numeric x.
    pub x: f64,
    /// The value (a median).
    pub y: f64,
    /// Lower end of its 95% interval.
    pub lo: Option<f64>,
    /// Upper end of its 95% interval.
    pub hi: Option<f64>,
    /// Whether the interval was clipped at the chart's feasible limit.
    pub clipped: bool,
    /// How it was obtained.
    pub mark: Mark,
}

impl Point {
    /// A point without an interval.
    pub fn bare(x: f64, y: f64, mark: Mark) -> Point {
        Point {
            x,
            y,
            lo: None,
            hi: None,
            clipped: false,
            mark,
        }
    }
}

/// A named set of values drawn in one colour.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// The engine and format it measures (`ternary i2`, `fp16`): fixes its hue in every chart
    /// ([`super::palette`]).
    pub family: String,
    /// Values.
    pub points: Vec<Point>,
}

/// The x axis.
#[derive(Debug, Clone, PartialEq)]
pub enum XAxis {
    /// Grouped bars, one group per category.
    Categories(Vec<String>),
    /// Lines over these tick values.
    Numeric(Vec<f64>),
}

/// A chart ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// File stem (`decode_threads`).
    pub id: String,
    /// Title.
    pub title: String,
    /// X axis description.
    pub x_label: String,
    /// Y axis description.
    pub y_label: String,
    /// X axis.
    pub x: XAxis,
    /// The data.
    pub series: Vec<Series>,
    /// Published values `(x, y)`, drawn as black diamonds.
    pub references: Vec<(f64, f64)>,
    /// Legend text of the references.
    pub reference_label: String,
    /// Y values are fractions, shown as percent.
    pub percent: bool,
    /// The feasible limit of the values (100% of the roofline) and its legend text: drawn as a
    /// dashed line; intervals are clipped there.
    pub limit: Option<(f64, String)>,
    /// A sentence under the chart: what is drawn and how to read it.
    pub caption: String,
}

impl Chart {
    fn has(&self, m: Mark) -> bool {
        self.series
            .iter()
            .any(|s| s.points.iter().any(|p| p.mark == m))
    }

    fn any_clipped(&self) -> bool {
        self.series
            .iter()
            .any(|s| s.points.iter().any(|p| p.clipped))
    }

    fn legend_entries(&self) -> usize {
        self.series.len()
            + usize::from(self.has(Mark::Sampled))
            + usize::from(self.has(Mark::Estimated))
            + usize::from(self.limit.is_some())
            + usize::from(self.any_clipped())
            + usize::from(!self.references.is_empty())
    }

    /// The series' colours: one hue per family ([`super::palette::colours`]).
    pub fn colours(&self) -> Vec<RGBColor> {
        let fams: Vec<&str> = self.series.iter().map(|s| s.family.as_str()).collect();
        super::palette::colours(&fams)
    }

    /// Legend columns: two, or one when a series name is too long for half the width.
    fn legend_cols(&self) -> usize {
        if self.series.iter().any(|s| s.name.chars().count() > 55)
            || self.reference_label.chars().count() > 55
        {
            1
        } else {
            2
        }
    }

    /// Total height in pixels, legend included.
    pub fn height(&self) -> u32 {
        PLOT_HEIGHT + (self.legend_entries().div_ceil(self.legend_cols()) as u32) * LEGEND_ROW + 12
    }

    fn y_max(&self) -> f64 {
        let m = self
            .series
            .iter()
            .flat_map(|s| s.points.iter())
            .map(|p| p.hi.unwrap_or(p.y).max(p.y))
            .chain(self.references.iter().map(|r| r.1))
            .chain(self.limit.iter().map(|l| l.0))
            .fold(0.0f64, f64::max);
        if m > 0.0 && m.is_finite() {
            m * 1.12
        } else {
            1.0
        }
    }
}

/// A linear f64 axis whose ticks are exactly the given values (category centres or thread
/// counts), labelled by the chart's formatter.
#[derive(Debug, Clone)]
struct KeyedAxis {
    lo: f64,
    hi: f64,
    keys: Vec<f64>,
}

impl Ranged for KeyedAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let f = (v - self.lo) / (self.hi - self.lo);
        limit.0 + (f * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, _hint: H) -> Vec<f64> {
        self.keys.clone()
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

type DrawResult = std::result::Result<(), String>;

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// Diagonal hatching inside the pixel rectangle `(x0, y0)-(x1, y1)`.
fn hatch<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (x0, y0): (i32, i32),
    (x1, y1): (i32, i32),
    c: RGBColor,
) -> DrawResult {
    let (x0, x1) = (x0.min(x1), x0.max(x1));
    let (y0, y1) = (y0.min(y1), y0.max(y1));
    let mut k = x0 + y0;
    while k <= x1 + y1 {
        let xa = x0.max(k - y1);
        let xb = x1.min(k - y0);
        if xa <= xb {
            area.draw(&PathElement::new(
                vec![(xa, k - xa), (xb, k - xb)],
                c.stroke_width(1),
            ))
            .map_err(err)?;
        }
        k += 7;
    }
    Ok(())
}

/// Draws `c` onto `root` (already sized `WIDTH × c.height()`).
pub fn draw<DB: DrawingBackend>(c: &Chart, root: &DrawingArea<DB, Shift>) -> DrawResult {
    register_font();
    root.fill(&WHITE).map_err(err)?;
    let (plot, legend) = root.split_vertically(PLOT_HEIGHT);
    let y_max = c.y_max();
    let (x_lo, x_hi, keys, labels): (f64, f64, Vec<f64>, Vec<String>) = match &c.x {
        XAxis::Categories(cats) => (
            -0.5,
            cats.len() as f64 - 0.5,
            (0..cats.len()).map(|i| i as f64).collect(),
            cats.clone(),
        ),
        XAxis::Numeric(ticks) => {
            let lo = ticks.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = ticks.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let pad = ((hi - lo) * 0.08).max(0.5);
            (
                lo - pad,
                hi + pad,
                ticks.clone(),
                ticks.iter().map(|t| format!("{t}")).collect(),
            )
        }
    };
    let n_keys = keys.len();
    let label_size = if n_keys > 8 { 10 } else { 13 };
    let mut chart = ChartBuilder::on(&plot)
        .caption(&c.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(
            KeyedAxis {
                lo: x_lo,
                hi: x_hi,
                keys: keys.clone(),
            },
            0.0..y_max,
        )
        .map_err(err)?;
    let fmt_x = |v: &f64| {
        keys.iter()
            .position(|k| (k - v).abs() < 1e-9)
            .map(|i| labels[i].clone())
            .unwrap_or_default()
    };
    let percent = c.percent;
    let fmt_y = |v: &f64| {
        if percent {
            format!("{:.0}%", v * 100.0)
        } else if y_max < 1.0 {
            format!("{v:.3}")
        } else {
            format!("{v}")
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(RGBColor(246, 246, 246))
        .bold_line_style(RGBColor(215, 215, 215))
        .x_labels(n_keys)
        .x_label_formatter(&fmt_x)
        .y_label_formatter(&fmt_y)
        .x_desc(&c.x_label)
        .y_desc(&c.y_label)
        .x_label_style(("sans-serif", label_size))
        .y_label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 14))
        .draw()
        .map_err(err)?;

    let n_series = c.series.len().max(1);
    let colours = c.colours();
    let base = plot.get_base_pixel();
    let to_px = |chart: &ChartContext<DB, _>, x: f64, y: f64| {
        let (px, py) = chart.backend_coord(&(x, y));
        (px - base.0, py - base.1)
    };
    if let Some((limit, _)) = &c.limit {
        // The feasible limit, dashed across the plot.
        let (a, py) = to_px(&chart, x_lo, *limit);
        let (b, _) = to_px(&chart, x_hi, *limit);
        let mut px = a;
        while px < b {
            plot.draw(&PathElement::new(
                vec![(px, py), ((px + 8).min(b), py)],
                RGBColor(90, 90, 90).stroke_width(1),
            ))
            .map_err(err)?;
            px += 14;
        }
    }
    for (si, s) in c.series.iter().enumerate() {
        let col = colours[si];
        match &c.x {
            XAxis::Categories(_) => {
                let w = 0.8 / n_series as f64;
                for p in &s.points {
                    let x0 = p.x - 0.4 + si as f64 * w;
                    let x1 = x0 + w * 0.92;
                    let (fill, stroke) = match p.mark {
                        Mark::Measured => (col.filled(), col.stroke_width(1)),
                        Mark::Sampled => (col.mix(0.15).filled(), col.stroke_width(2)),
                        Mark::Estimated => (WHITE.filled(), col.stroke_width(2)),
                    };
                    chart
                        .draw_series([
                            Rectangle::new([(x0, 0.0), (x1, p.y)], fill),
                            Rectangle::new([(x0, 0.0), (x1, p.y)], stroke),
                        ])
                        .map_err(err)?;
                    if p.mark == Mark::Sampled {
                        let a = to_px(&chart, x0, 0.0);
                        let b = to_px(&chart, x1, p.y);
                        hatch(&plot, a, b, col)?;
                    }
                    let xc = (x0 + x1) / 2.0;
                    if let (Some(lo), Some(hi)) = (p.lo, p.hi) {
                        let cap = w * 0.08;
                        chart
                            .draw_series([
                                PathElement::new(vec![(xc, lo), (xc, hi)], BLACK.stroke_width(1)),
                                PathElement::new(
                                    vec![(xc - cap, lo), (xc + cap, lo)],
                                    BLACK.stroke_width(1),
                                ),
                                PathElement::new(
                                    vec![(xc - cap, hi), (xc + cap, hi)],
                                    BLACK.stroke_width(1),
                                ),
                            ])
                            .map_err(err)?;
                        if p.clipped {
                            let (px, py) = to_px(&chart, xc, hi);
                            clipped_mark(&plot, px, py)?;
                        }
                    }
                }
            }
            XAxis::Numeric(_) => {
                let mut pts = s.points.clone();
                pts.sort_by(|a, b| a.x.total_cmp(&b.x));
                chart
                    .draw_series(LineSeries::new(
                        pts.iter().map(|p| (p.x, p.y)),
                        col.stroke_width(2),
                    ))
                    .map_err(err)?;
                for p in &pts {
                    if let (Some(lo), Some(hi)) = (p.lo, p.hi) {
                        chart
                            .draw_series([ErrorBar::new_vertical(
                                p.x,
                                lo,
                                p.y,
                                hi,
                                col.stroke_width(1),
                                8,
                            )])
                            .map_err(err)?;
                        if p.clipped {
                            let (px, py) = to_px(&chart, p.x, hi);
                            clipped_mark(&plot, px, py)?;
                        }
                    }
                    match p.mark {
                        Mark::Measured => chart
                            .draw_series([Circle::new((p.x, p.y), 5, col.filled())])
                            .map_err(err)?,
                        Mark::Sampled => chart
                            .draw_series([
                                Circle::new((p.x, p.y), 6, WHITE.filled()),
                                Circle::new((p.x, p.y), 6, col.stroke_width(2)),
                            ])
                            .map_err(err)?,
                        Mark::Estimated => chart
                            .draw_series([TriangleMarker::new((p.x, p.y), 7, col.stroke_width(2))])
                            .map_err(err)?,
                    };
                }
            }
        }
    }
    for &(x, y) in &c.references {
        let xc = match &c.x {
            XAxis::Categories(_) => {
                // A dashed level across the category's group, the diamond at its end.
                let (a, py) = to_px(&chart, x - 0.42, y);
                let (b, _) = to_px(&chart, x + 0.42, y);
                let mut px = a;
                while px < b {
                    plot.draw(&PathElement::new(
                        vec![(px, py), ((px + 6).min(b), py)],
                        BLACK.stroke_width(1),
                    ))
                    .map_err(err)?;
                    px += 10;
                }
                x + 0.44
            }
            XAxis::Numeric(_) => x,
        };
        let (px, py) = to_px(&chart, xc.min(x_hi), y);
        plot.draw(&Polygon::new(
            vec![(px, py - 7), (px + 6, py), (px, py + 7), (px - 6, py)],
            BLACK.filled(),
        ))
        .map_err(err)?;
    }

    // Legend: two columns under the plot.
    let mut entries: Vec<(RGBColor, String, Option<Mark>)> = c
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| (colours[i], s.name.clone(), None))
        .collect();
    if c.has(Mark::Sampled) {
        entries.push((
            RGBColor(60, 60, 60),
            "SAMPLED: hatched / hollow circle — some layers only".into(),
            Some(Mark::Sampled),
        ));
    }
    if c.has(Mark::Estimated) {
        entries.push((
            RGBColor(60, 60, 60),
            "ESTIMATED: hollow / triangle — modelled, not measured".into(),
            Some(Mark::Estimated),
        ));
    }
    let style = ("sans-serif", 13).into_font().color(&BLACK);
    let cols = c.legend_cols();
    let col_w = WIDTH as i32 / cols as i32;
    let max_chars = if cols == 1 { 120 } else { 58 };
    let fit = |t: &str| -> String {
        if t.chars().count() > max_chars {
            let mut s: String = t.chars().take(max_chars - 1).collect();
            s.push('…');
            s
        } else {
            t.to_string()
        }
    };
    for (i, (col, text, mark)) in entries.iter().enumerate() {
        let x = 16 + (i % cols) as i32 * col_w;
        let y = 4 + (i / cols) as i32 * LEGEND_ROW as i32;
        let sw = [(x, y + 2), (x + 22, y + 14)];
        match mark {
            None => legend.draw(&Rectangle::new(sw, col.filled())),
            Some(Mark::Sampled) => {
                legend
                    .draw(&Rectangle::new(sw, col.stroke_width(2)))
                    .map_err(err)?;
                hatch(&legend, sw[0], sw[1], *col)?;
                Ok(())
            }
            Some(_) => legend.draw(&Rectangle::new(sw, col.stroke_width(2))),
        }
        .map_err(err)?;
        legend
            .draw(&Text::new(fit(text), (x + 30, y + 1), style.clone()))
            .map_err(err)?;
    }
    if !c.references.is_empty() {
        let i = entries.len();
        let x = 16 + (i % cols) as i32 * col_w;
        let y = 4 + (i / cols) as i32 * LEGEND_ROW as i32;
        legend
            .draw(&Polygon::new(
                vec![
                    (x + 11, y + 1),
                    (x + 17, y + 8),
                    (x + 11, y + 15),
                    (x + 5, y + 8),
                ],
                BLACK.filled(),
            ))
            .map_err(err)?;
        legend
            .draw(&Text::new(
                fit(&c.reference_label),
                (x + 30, y + 1),
                style.clone(),
            ))
            .map_err(err)?;
    }
    let mut i = entries.len() + usize::from(!c.references.is_empty());
    if let Some((_, text)) = &c.limit {
        let x = 16 + (i % cols) as i32 * col_w;
        let y = 4 + (i / cols) as i32 * LEGEND_ROW as i32;
        legend
            .draw(&PathElement::new(
                vec![(x, y + 8), (x + 9, y + 8)],
                RGBColor(90, 90, 90).stroke_width(1),
            ))
            .map_err(err)?;
        legend
            .draw(&PathElement::new(
                vec![(x + 14, y + 8), (x + 22, y + 8)],
                RGBColor(90, 90, 90).stroke_width(1),
            ))
            .map_err(err)?;
        legend
            .draw(&Text::new(fit(text), (x + 30, y + 1), style.clone()))
            .map_err(err)?;
        i += 1;
    }
    if c.any_clipped() {
        let x = 16 + (i % cols) as i32 * col_w;
        let y = 4 + (i / cols) as i32 * LEGEND_ROW as i32;
        clipped_mark(&legend, x + 11, y + 12)?;
        let at = match &c.limit {
            Some((l, _)) if c.percent => format!("{:.0}%", l * 100.0),
            Some((l, _)) => format!("{l}"),
            None => "the feasible limit".into(),
        };
        legend
            .draw(&Text::new(
                fit(&format!(
                    "CI clipped at {at}: it cannot pass it (see caption)"
                )),
                (x + 30, y + 1),
                style.clone(),
            ))
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// An open triangle pointing up, its base on `(px, py)`: the end of a clipped interval.
fn clipped_mark<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, px: i32, py: i32) -> DrawResult {
    area.draw(&Polygon::new(
        vec![(px - 6, py), (px + 6, py), (px, py - 10)],
        WHITE.filled(),
    ))
    .map_err(err)?;
    area.draw(&PathElement::new(
        vec![(px - 6, py), (px + 6, py), (px, py - 10), (px - 6, py)],
        BLACK.stroke_width(1),
    ))
    .map_err(err)
}

/// The chart as an SVG document.
pub fn to_svg(c: &Chart) -> Result<String> {
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, (WIDTH, c.height())).into_drawing_area();
        draw(c, &root).map_err(|e| anyhow!("drawing chart {} as SVG: {e}", c.id))?;
    }
    Ok(s)
}

/// The chart as a PNG file's bytes.
pub fn to_png(c: &Chart) -> Result<Vec<u8>> {
    let (w, h) = (WIDTH, c.height());
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        // Text through our own glyph placement (plotters' ab_glyph drawing misplaces glyphs).
        let root = super::glyphs::GlyphBackend::new(BitMapBackend::with_buffer(&mut buf, (w, h)))
            .into_drawing_area();
        draw(c, &root).map_err(|e| anyhow!("drawing chart {} as PNG: {e}", c.id))?;
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc
            .write_header()
            .map_err(|e| anyhow!("encoding chart {} as PNG: {e}", c.id))?;
        wr.write_image_data(&buf)
            .map_err(|e| anyhow!("encoding chart {} as PNG: {e}", c.id))?;
    }
    Ok(out)
}
