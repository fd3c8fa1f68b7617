//! One colour per engine and format across every chart of a report.
//!
//! A series names its *family* (the engine and format it measures: `ternary i2`, `fp16`, a
//! peer such as `llama.cpp f16`); the family fixes the hue, so orange means FP16 in every chart
//! and blue ternary I2_S. Several series of one family in one chart (thread counts, SIMD levels,
//! latency percentiles, models) are told apart by shade, darkest first, and by their legend
//! text. Hues are Okabe and Ito's colour-blind-safe set ("Color Universal Design",
//! jfly.uni-koeln.de/color/, 2008).

use plotters::style::RGBColor;

/// The fixed hues: family prefix → colour (first match wins).
const HUES: &[(&str, RGBColor)] = &[
    ("ternary i2", RGBColor(0, 114, 178)),   // blue
    ("ternary tq1", RGBColor(0, 158, 115)),  // bluish green
    ("ternary tl", RGBColor(204, 121, 167)), // reddish purple
    ("ternary", RGBColor(0, 114, 178)),      // blue: any other ternary format
    ("fp16", RGBColor(213, 94, 0)),          // vermillion
    ("llama.cpp", RGBColor(230, 159, 0)),    // orange
    ("bitnet.cpp", RGBColor(86, 180, 233)),  // sky blue
];

/// Families without a fixed hue (a future engine) take these, by a stable hash of the name.
const SPARE: &[RGBColor] = &[
    RGBColor(100, 60, 160),
    RGBColor(120, 120, 120),
    RGBColor(140, 110, 40),
];

/// The hue of a family.
pub fn hue(family: &str) -> RGBColor {
    let f = family.to_ascii_lowercase();
    HUES.iter()
        .find(|(prefix, _)| f.starts_with(prefix))
        .map(|(_, c)| *c)
        .unwrap_or_else(|| {
            let h = f
                .bytes()
                .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
            SPARE[h % SPARE.len()]
        })
}

/// Shade `k` of `of` of a family's hue: the hue itself for the first, then lighter (mixed
/// towards white, at most 60%) so every shade stays readable on white.
pub fn shade(base: RGBColor, k: usize, of: usize) -> RGBColor {
    if of <= 1 || k == 0 {
        return base;
    }
    let t = 0.6 * k as f64 / (of - 1) as f64;
    let mix = |c: u8| (f64::from(c) + (255.0 - f64::from(c)) * t).round() as u8;
    RGBColor(mix(base.0), mix(base.1), mix(base.2))
}

/// The colour of each series of a chart, from their families in order: the same family always
/// gets the same hue; within a chart its series get successive shades.
pub fn colours(families: &[&str]) -> Vec<RGBColor> {
    families
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let of = families.iter().filter(|g| *g == f).count();
            let k = families[..i].iter().filter(|g| *g == f).count();
            shade(hue(f), k, of)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hue_per_engine_and_format_whatever_the_chart() {
        // FP16 is vermillion whether it comes first or fourth in a chart.
        let a = colours(&["fp16", "ternary i2"]);
        let b = colours(&["ternary i2", "ternary i2", "ternary tq1", "fp16"]);
        assert_eq!(a[0], b[3]);
        assert_eq!(a[0], hue("fp16"));
        assert_eq!(a[1], b[0]);
        assert_ne!(hue("ternary tq1"), hue("ternary i2"));
        // Two thread counts of one engine: two shades of its hue, never another engine's hue.
        assert_ne!(b[0], b[1]);
        assert!(b.iter().take(2).all(|c| *c != hue("fp16")));
        // Peers keep their own hues.
        assert_ne!(hue("llama.cpp f16"), hue("fp16"));
        assert_eq!(hue("unknown engine"), hue("unknown engine"));
    }

    #[test]
    fn shades_lighten_towards_white_but_not_to_it() {
        let base = hue("ternary i2");
        let light = shade(base, 2, 3);
        assert!(light.0 > base.0 && light.1 > base.1 && light.2 > base.2);
        assert!(light.0 < 230 || light.1 < 230 || light.2 < 230);
    }
}
