//! Text in the PNG charts, laid out and rasterised here instead of by plotters.
//!
//! plotters 0.3.7 draws `ab_glyph` text (`style/font/ab_glyph.rs`, `FontDataInternal::draw`)
//! by placing each glyph's coverage bitmap at the pen position truncated to a whole pixel,
//! relative to the bitmap's own top-left corner: the glyph's left side bearing and the pen's
//! fractional part are lost, so every glyph lands up to a pixel and a half left of where the
//! font puts it, each by a different amount. At 10-13 px that opens visible gaps inside words
//! ("avx51 2vnni", "h ardware") and closes others. [`GlyphBackend`] wraps a drawing backend
//! and takes over `draw_text` and `estimate_text_size` only: glyphs are positioned at the
//! exact (sub-pixel) pen position, advances and kerning from the font's tables, each outline
//! rasterised at its true offset (`OutlinedGlyph::px_bounds`), and blended with its coverage.
//! Anchors and rotations mean what plotters means by them, and the layout box has plotters'
//! size, so labels sit where the chart layout expects them. Everything else (lines, shapes,
//! fills) goes to the wrapped backend untouched.

use ab_glyph::{point, Font, FontRef, GlyphId, PxScale, ScaleFont};
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};

/// The embedded chart font (DejaVu Sans, the one registered with plotters for SVG layout).
pub static FONT_BYTES: &[u8] = include_bytes!("../../../../assets/fonts/DejaVuSans.ttf");

/// The font, parsed once.
pub fn font() -> &'static FontRef<'static> {
    static F: std::sync::OnceLock<FontRef<'static>> = std::sync::OnceLock::new();
    F.get_or_init(|| FontRef::try_from_slice(FONT_BYTES).expect("the embedded font parses"))
}

/// One glyph placed on a line: its id and the pen's x (sub-pixel) where it starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placed {
    /// The glyph.
    pub id: GlyphId,
    /// Pen position, pixels from the start of the line.
    pub x: f32,
}

/// Lays out `text` at `size` px (plotters' size: the font scaled so ascent − descent =
/// `size`): each glyph at the sum of the advances and kerning before it. Returns the glyphs and
/// the line's advance width.
pub fn layout(text: &str, size: f32) -> (Vec<Placed>, f32) {
    let f = font().as_scaled(PxScale::from(size));
    let mut x = 0.0f32;
    let mut prev: Option<GlyphId> = None;
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        let id = f.glyph_id(c);
        if let Some(p) = prev {
            x += f.kern(p, id);
        }
        out.push(Placed { id, x });
        x += f.h_advance(id);
        prev = Some(id);
    }
    (out, x)
}

/// plotters' layout box of `text`: the advance width, and `size / 1.24` high (as plotters'
/// ab_glyph estimate), so the chart's label areas are the ones plotters computed.
fn box_size(text: &str, size: f64) -> (i32, i32) {
    let (_, w) = layout(text, size as f32);
    (w.ceil() as i32, (size / 1.24) as i32)
}

/// Rasterises `text` at `size` px with its em box's top-left at the origin; calls `put` with
/// each covered pixel (relative to the origin) and its coverage in (0, 1].
pub fn raster(text: &str, size: f32, mut put: impl FnMut(i32, i32, f32)) {
    let fnt = font();
    let scale = PxScale::from(size);
    let ascent = fnt.as_scaled(scale).ascent();
    let (glyphs, _) = layout(text, size);
    for g in glyphs {
        let glyph = g.id.with_scale_and_position(scale, point(g.x, ascent));
        if let Some(o) = fnt.outline_glyph(glyph) {
            let b = o.px_bounds();
            let (x0, y0) = (b.min.x as i32, b.min.y as i32);
            o.draw(|x, y, c| {
                if c > 0.0 {
                    put(x0 + x as i32, y0 + y as i32, c.min(1.0));
                }
            });
        }
    }
}

/// A backend that draws text with [`raster`] and everything else through `B`.
pub struct GlyphBackend<B: DrawingBackend> {
    inner: B,
}

impl<B: DrawingBackend> GlyphBackend<B> {
    /// Wraps `inner`.
    pub fn new(inner: B) -> Self {
        GlyphBackend { inner }
    }
}

impl<B: DrawingBackend> DrawingBackend for GlyphBackend<B> {
    type ErrorType = B::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        (iw, ih): (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.blit_bitmap(pos, (iw, ih), src)
    }

    fn estimate_text_size<TStyle: BackendTextStyle>(
        &self,
        text: &str,
        style: &TStyle,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        let (w, h) = box_size(text, style.size());
        Ok((w.max(0) as u32, h.max(0) as u32))
    }

    fn draw_text<TStyle: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &TStyle,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let size = style.size();
        let (width, height) = box_size(text, size);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        // The em box (size px high) centred on plotters' shorter layout box.
        let em_top = (height - size.round() as i32) / 2;
        let trans = style.transform();
        let (w, h) = self.inner.get_size();
        let mut pixels = Vec::new();
        raster(text, size as f32, |x, y, c| pixels.push((x, y, c)));
        for (x, y, c) in pixels {
            let (x, y) = trans.transform(x + dx, y + dy + em_top);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if x >= 0 && y >= 0 && (x as u32) < w && (y as u32) < h {
                self.inner.draw_pixel(
                    (x, y),
                    BackendColor {
                        alpha: color.alpha * f64::from(c),
                        rgb: color.rgb,
                    },
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::prelude::*;

    /// Ink columns of `text` drawn at 13 px at (10, 10) into a white 400×40 bitmap, through
    /// [`GlyphBackend`] (`fixed`) or plotters' own text drawing: for each column, whether any
    /// pixel is darker than mid-grey.
    fn ink_columns(fixed: bool, text: &str) -> Vec<bool> {
        crate::present::report::chart::register_font();
        let (w, h) = (400u32, 40u32);
        let mut buf = vec![255u8; (w * h * 3) as usize];
        {
            let style = TextStyle::from(("sans-serif", 13).into_font()).color(&BLACK);
            let b = BitMapBackend::with_buffer(&mut buf, (w, h));
            if fixed {
                let mut g = GlyphBackend::new(b);
                g.draw_text(text, &style, (10, 10)).unwrap();
                g.present().unwrap();
            } else {
                let mut b = b;
                b.draw_text(text, &style, (10, 10)).unwrap();
                b.present().unwrap();
            }
        }
        (0..w as usize)
            .map(|x| (0..h as usize).any(|y| buf[(y * w as usize + x) * 3] < 128))
            .collect()
    }

    /// The left ink edge of each glyph: where the ink of `text[..=k]` first exceeds that of
    /// `text[..k]` (glyphs of these strings do not overlap).
    fn left_edges(fixed: bool, text: &str) -> Vec<Option<usize>> {
        let chars: Vec<char> = text.chars().collect();
        (0..chars.len())
            .map(|k| {
                let before: String = chars[..k].iter().collect();
                let with: String = chars[..=k].iter().collect();
                let (a, b) = (ink_columns(fixed, &before), ink_columns(fixed, &with));
                (0..a.len()).find(|&x| b[x] && !a[x])
            })
            .collect()
    }

    /// Where the font's tables put each glyph's left ink edge: pen + left side bearing.
    fn expected_edges(text: &str, size: f32, x0: f32) -> Vec<Option<f32>> {
        let f = font().as_scaled(PxScale::from(size));
        let (glyphs, _) = layout(text, size);
        glyphs
            .iter()
            .map(|g| {
                let o = font().outline_glyph(
                    g.id.with_scale_and_position(f.scale(), point(x0 + g.x, f.ascent())),
                )?;
                Some(o.px_bounds().min.x)
            })
            .collect()
    }

    #[test]
    fn every_glyph_sits_where_the_font_puts_it() {
        for text in [
            "avx512vnni",
            "hardware",
            "tokens/s × bytes/token",
            "ternary i2 ÷ fp16",
        ] {
            let got = left_edges(true, text);
            let want = expected_edges(text, 13.0, 10.0);
            for (k, (g, w)) in got.iter().zip(&want).enumerate() {
                if let (Some(g), Some(w)) = (g, w) {
                    // Ink starts in the pixel the outline starts in (or its antialiased
                    // neighbour).
                    assert!(
                        (*g as f32 - w.floor()).abs() <= 1.0,
                        "{text:?} glyph {k}: ink at {g}, the font says {w}"
                    );
                }
            }
        }
    }

    #[test]
    fn no_gap_inside_a_word_is_wider_than_the_font_gives() {
        // The widest blank run between glyph inks inside "avx512vnni" (and "hardware") must
        // match the font's own spacing (right bearing + next left bearing) within a pixel; plotters' own
        // ab_glyph drawing misplaces glyphs by up to 1.5 px each, which is what opened
        // "avx51 2vnni".
        let off_in = |fixed: bool, text: &str| -> i64 {
            let got = left_edges(fixed, text);
            let want = expected_edges(text, 13.0, 10.0);
            got.iter()
                .zip(&want)
                .filter_map(|(g, w)| Some(((*g)? as f32 - (*w)?.floor()).abs() as i64))
                .max()
                .unwrap_or(0)
        };
        for text in ["avx512vnni", "hardware"] {
            assert!(
                off_in(true, text) <= 1,
                "{text:?}: ours is off by {} px",
                off_in(true, text)
            );
        }
        let off = |fixed: bool| off_in(fixed, "avx512vnni");
        // The fault this module exists for: if plotters ever places glyphs right, this
        // fails and GlyphBackend can go.
        assert!(
            off(false) >= 2,
            "plotters' own text placement is now within {} px of the font",
            off(false)
        );
    }

    #[test]
    fn the_layout_box_is_plotters_own() {
        crate::present::report::chart::register_font();
        let (mut b1, mut b2) = (vec![0u8; 300], vec![0u8; 300]);
        let b = BitMapBackend::with_buffer(&mut b1, (10, 10));
        let g = GlyphBackend::new(BitMapBackend::with_buffer(&mut b2, (10, 10)));
        let style = TextStyle::from(("sans-serif", 13).into_font());
        for t in ["avx512vnni", "hardware", "1 thr"] {
            let a = b.estimate_text_size(t, &style).unwrap();
            let o = g.estimate_text_size(t, &style).unwrap();
            assert!(
                (a.0 as i32 - o.0 as i32).abs() <= 1 && a.1 == o.1,
                "{t}: {a:?} {o:?}"
            );
        }
    }
}
