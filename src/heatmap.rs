//! Heat maps as PNG: a square-root colour scale (so the faint edge of a
//! field is still visible), zero drawn black, an optional box outline, and
//! small maps scaled up so each cell is visible.

use crate::error::{Error, Result};
use std::path::Path;

/// A dark-to-bright ramp (black, purple, orange, pale yellow), close to
/// matplotlib's "inferno", by linear interpolation between stops.
fn colour(t: f32) -> [u8; 3] {
    const STOPS: [[f32; 3]; 5] = [
        [0.0, 0.0, 4.0],
        [87.0, 16.0, 110.0],
        [188.0, 55.0, 84.0],
        [249.0, 142.0, 9.0],
        [252.0, 255.0, 164.0],
    ];
    let t = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f32;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f32;
    let mut out = [0u8; 3];
    for c in 0..3 {
        out[c] = (STOPS[i][c] + (STOPS[i + 1][c] - STOPS[i][c]) * f).round() as u8;
    }
    out
}

/// Writes `map` (row-major, `h` x `w`) as a PNG. `outline` is an inclusive
/// box [first_row, first_col, last_row, last_col] drawn in cyan.
pub fn write_png(
    path: &Path,
    map: &[f32],
    h: usize,
    w: usize,
    outline: Option<[i64; 4]>,
) -> Result<()> {
    let io = |e: &dyn std::fmt::Display| Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    if h == 0 || w == 0 || map.len() != h * w {
        return Err(io(&"nothing to draw (empty map)"));
    }
    let scale = (512 / h.max(w)).clamp(1, 16);
    let (ih, iw) = (h * scale, w * scale);
    let max = map
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f32, f32::max);
    let mut rgb = vec![0u8; ih * iw * 3];
    for y in 0..ih {
        for x in 0..iw {
            let v = map[(y / scale) * w + x / scale];
            let c = if v > 0.0 && max > 0.0 {
                colour(0.15 + 0.85 * (v / max).sqrt())
            } else {
                [0, 0, 0]
            };
            rgb[(y * iw + x) * 3..][..3].copy_from_slice(&c);
        }
    }
    if let Some([r0, c0, r1, c1]) = outline {
        let s = scale as i64;
        let (y0, x0, y1, x1) = (r0 * s, c0 * s, (r1 + 1) * s - 1, (c1 + 1) * s - 1);
        let mut put = |y: i64, x: i64| {
            if y >= 0 && x >= 0 && (y as usize) < ih && (x as usize) < iw {
                rgb[(y as usize * iw + x as usize) * 3..][..3].copy_from_slice(&[0, 230, 255]);
            }
        };
        for x in x0..=x1 {
            put(y0, x);
            put(y1, x);
        }
        for y in y0..=y1 {
            put(y, x0);
            put(y, x1);
        }
    }
    let file = std::fs::File::create(path).map_err(|e| io(&e))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), iw as u32, ih as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| io(&e))?;
    writer.write_image_data(&rgb).map_err(|e| io(&e))?;
    writer.finish().map_err(|e| io(&e))
}
