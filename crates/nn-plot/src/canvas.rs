//! The drawing surface of every plot: plotters' bitmap backend over an RGB buffer in
//! memory, with text drawn in DejaVu Sans, and the PNG file written from that buffer.
//!
//! Why draw text ourselves: plotters' default text support (font-kit) loads the system's
//! fonts through fontconfig and freetype, which a fresh machine may lack; its pure-Rust
//! `ab_glyph` feature keeps a process-wide font table that every plotters user must fill
//! before drawing text, and since Cargo unifies features, turning it on here would turn it
//! on for every other plotters user in a build (criterion's plots among them), which would
//! then fail. So plotters is built without a font feature, and [`Canvas`] wraps its bitmap
//! backend, taking over the two text methods of the `DrawingBackend` trait: it lays out
//! and rasterises the text with ab_glyph, from the bytes of DejaVu Sans that the `dejavu`
//! crate embeds with `include_bytes!`. Plotting needs no system library and no system file.
//!
//! Why a buffer rather than plotters' file target: that target writes the file when the
//! backend is dropped, even after a failed drawing, and cannot say which file failed. Here
//! the picture is drawn in memory, then encoded and written in one step whose error names
//! the file; the tests read the pixels of the buffer.

use std::path::Path;

use ab_glyph::{point, Font, FontRef, Glyph, PxScale, ScaleFont};
use plotters::prelude::*;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};

use crate::PlotError;

type Result<T> = std::result::Result<T, PlotError>;

/// The smallest and largest side of a plot, in pixels.
pub(crate) const SIDES: std::ops::RangeInclusive<u32> = 400..=8192;

/// An RGB image of `size` pixels, white, after checking the size.
pub(crate) fn white_buffer(size: (u32, u32)) -> Result<Vec<u8>> {
    let (width, height) = size;
    if !SIDES.contains(&width) || !SIDES.contains(&height) {
        return Err(PlotError::InvalidSize { width, height });
    }
    Ok(vec![255; 3 * width as usize * height as usize])
}

/// Encodes the RGB `buffer` of `size` pixels as a PNG image and writes it to `path`.
pub(crate) fn write_png(path: &Path, buffer: &[u8], size: (u32, u32)) -> Result<()> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, size.0, size.1);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .and_then(|mut writer| writer.write_image_data(buffer))
        .map_err(|e| PlotError::Draw {
            path: path.to_path_buf(),
            message: format!("cannot encode the PNG image: {e}"),
        })?;
    std::fs::write(path, bytes).map_err(|source| PlotError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// An RGB buffer to draw on: plotters' `BitMapBackend`, with text drawn in DejaVu Sans.
pub(crate) struct Canvas<'a> {
    bitmap: BitMapBackend<'a>,
    font: FontRef<'static>,
}

impl<'a> Canvas<'a> {
    /// A canvas of `size` = `(width, height)` pixels over `buffer` (`3·width·height`
    /// bytes, RGB; see [`white_buffer`]).
    pub(crate) fn new(buffer: &'a mut [u8], size: (u32, u32)) -> Result<Self> {
        let font = FontRef::try_from_slice(dejavu::sans::regular())
            .map_err(|e| PlotError::Font(e.to_string()))?;
        Ok(Canvas {
            bitmap: BitMapBackend::with_buffer(buffer, size),
            font,
        })
    }

    /// Places the glyphs of `text`, `size` pixels high, along a line: the text's box has
    /// its top-left corner at (0, 0) and the baseline at the font's ascent. Returns the
    /// glyphs and the box's width and height.
    fn layout(&self, text: &str, size: f64) -> (Vec<Glyph>, (i32, i32)) {
        let scale = PxScale::from(size as f32);
        let font = self.font.as_scaled(scale);
        let mut glyphs = Vec::with_capacity(text.len());
        let (mut x, mut previous) = (0.0, None);
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(previous) = previous {
                x += font.kern(previous, id);
            }
            glyphs.push(id.with_scale_and_position(scale, point(x, font.ascent())));
            x += font.h_advance(id);
            previous = Some(id);
        }
        let height = font.ascent() - font.descent();
        (glyphs, (x.ceil() as i32, height.ceil() as i32))
    }
}

impl<'a> DrawingBackend for Canvas<'a> {
    type ErrorType = <BitMapBackend<'a> as DrawingBackend>::ErrorType;

    /// Draws `text` as plotters' default implementation does with a font backend: the box
    /// placed by the style's anchor, then turned by its transform (the rotated label of a
    /// vertical axis), each pixel blended by the glyph's coverage.
    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let (glyphs, (width, height)) = self.layout(text, style.size());
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Center => -width / 2,
            HPos::Right => -width,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let transform = style.transform();
        let (w, h) = self.bitmap.get_size();
        let mut pixels = Vec::new();
        for glyph in glyphs {
            // A space has no outline.
            let Some(outline) = self.font.outline_glyph(glyph) else {
                continue;
            };
            let corner = outline.px_bounds().min;
            outline.draw(|x, y, coverage| {
                pixels.push((
                    corner.x as i32 + x as i32,
                    corner.y as i32 + y as i32,
                    coverage,
                ))
            });
        }
        for (x, y, coverage) in pixels {
            let (x, y) = transform.transform(x + dx, y + dy);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if coverage > 0.0 && x >= 0 && y >= 0 && x < w as i32 && y < h as i32 {
                let alpha = color.alpha * f64::from(coverage.min(1.0));
                self.bitmap
                    .draw_pixel((x, y), BackendColor { alpha, ..color })?;
            }
        }
        Ok(())
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> std::result::Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        let (_, (width, height)) = self.layout(text, style.size());
        Ok((width.max(0) as u32, height.max(0) as u32))
    }

    // Everything else is the bitmap backend's.

    fn get_size(&self) -> (u32, u32) {
        self.bitmap.get_size()
    }

    fn ensure_prepared(&mut self) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.bitmap.ensure_prepared()
    }

    fn present(&mut self) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.bitmap.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.bitmap.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.bitmap.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.bitmap.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.bitmap.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.bitmap.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vertices: I,
        style: &S,
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.bitmap.fill_polygon(vertices, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.bitmap.blit_bitmap(pos, size, src)
    }
}
