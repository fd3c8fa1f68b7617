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

/// Families without a fixed hue (a future engine) take these, by a stable hash of the name;
/// where two families of one chart would share a colour, the later takes the first unused one.
const SPARE: &[RGBColor] = &[
    RGBColor(100, 60, 160),  // violet
    RGBColor(120, 120, 120), // grey
    RGBColor(140, 110, 40),  // olive brown
    RGBColor(240, 228, 66),  // yellow (Okabe and Ito)
    RGBColor(0, 0, 0),       // black
    RGBColor(160, 30, 60),   // crimson
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

/// The `k`-th of an endless sequence of distinct, mid-dark colours (hues a golden angle apart,
/// three lightness steps): for charts with more families than named colours.
fn golden(k: usize) -> RGBColor {
    let h = (k as f64 * 137.507_764) % 360.0;
    let v = [0.55, 0.7, 0.85][(k / 3) % 3] + (k / 9) as f64 * 1e-3;
    let s = 0.75;
    let c = v * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let m = v - c;
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let u = |f: f64| ((f + m).min(1.0) * 255.0).round() as u8;
    RGBColor(u(r), u(g), u(b))
}

/// The colour of each series of a chart, from their families in order: the same family always
/// gets the same hue (unless two families of the chart would share one: the later then takes
/// an unused spare); within a chart a family's series get successive shades. No two series of
/// one chart get the same colour.
pub fn colours(families: &[&str]) -> Vec<RGBColor> {
    let mut distinct: Vec<&str> = Vec::new();
    for f in families {
        if !distinct.contains(f) {
            distinct.push(f);
        }
    }
    let mut bases: Vec<RGBColor> = Vec::new();
    for f in &distinct {
        let mut c = hue(f);
        if bases.contains(&c) {
            c = SPARE
                .iter()
                .chain(HUES.iter().map(|(_, h)| h))
                .copied()
                .chain((0..).map(golden))
                .find(|s| !bases.contains(s))
                .expect("an endless supply");
        }
        bases.push(c);
    }
    families
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let base = bases[distinct.iter().position(|d| d == f).expect("listed")];
            let of = families.iter().filter(|g| *g == f).count();
            let k = families[..i].iter().filter(|g| *g == f).count();
            shade(base, k, of)
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
    fn thread_counts_are_shades_of_their_engine_never_another_engines_hue() {
        // Ternary and FP16 at 1, 2 and 4 threads (the threads chart's series).
        let fams = [
            "fp16",
            "fp16",
            "fp16",
            "ternary i2",
            "ternary i2",
            "ternary i2",
        ];
        let c = colours(&fams);
        let all_hues: Vec<RGBColor> = HUES.iter().map(|(_, h)| *h).collect();
        for (i, col) in c.iter().enumerate() {
            // The first shade is the engine's hue; the others are lighter, and none is any
            // other family's hue.
            if i % 3 == 0 {
                assert_eq!(*col, hue(fams[i]));
            } else {
                assert!(!all_hues.contains(col), "shade {i} reuses a family hue");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn no_colour_repeats_within_a_chart(
            fams in proptest::collection::vec(
                proptest::sample::select(vec![
                    "fp16", "ternary i2", "ternary tq1", "ternary tl", "ternary", "llama.cpp f16",
                    "bitnet.cpp i2_s", "engine-a", "engine-b", "engine-c", "engine-d",
                    "engine-e", "engine-f", "engine-g",
                ]),
                1..24,
            )
        ) {
            let c = colours(&fams);
            for i in 0..c.len() {
                for j in 0..i {
                    proptest::prop_assert!(c[i] != c[j], "series {} and {} share {:?}: {:?}", j, i, c[i], fams);
                }
            }
        }
    }

    #[test]
    fn shades_lighten_towards_white_but_not_to_it() {
        let base = hue("ternary i2");
        let light = shade(base, 2, 3);
        assert!(light.0 > base.0 && light.1 > base.1 && light.2 > base.2);
        assert!(light.0 < 230 || light.1 < 230 || light.2 < 230);
    }
}
