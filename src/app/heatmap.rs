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

fn write_rgb(path: &Path, rgb: &[u8], w: usize, h: usize) -> Result<()> {
    let io = |e: &dyn std::fmt::Display| Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let file = std::fs::File::create(path).map_err(|e| io(&e))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| io(&e))?;
    writer.write_image_data(rgb).map_err(|e| io(&e))?;
    writer.finish().map_err(|e| io(&e))
}

/// A planar RGB image [3, h, w] as a PNG, each pixel drawn `scale` times.
/// Values are clamped to [0, 1], unless they leave [0, 1] by more than a
/// little (random weights), in which case the image is min-max normalised.
pub fn write_image_png(
    path: &Path,
    planes: &[f32],
    h: usize,
    w: usize,
    scale: usize,
) -> Result<()> {
    if planes.len() != 3 * h * w || h == 0 || w == 0 {
        return Err(Error::Io {
            path: path.display().to_string(),
            message: format!("expected a [3, {h}, {w}] image"),
        });
    }
    let (lo, hi) = planes
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let (off, span) = if lo < -0.05 || hi > 1.05 {
        (lo, (hi - lo).max(1e-12))
    } else {
        (0.0, 1.0)
    };
    let s = scale.max(1);
    let (ih, iw) = (h * s, w * s);
    let mut rgb = vec![0u8; ih * iw * 3];
    for y in 0..ih {
        for x in 0..iw {
            for c in 0..3 {
                let v = (planes[(c * h + y / s) * w + x / s] - off) / span;
                rgb[(y * iw + x) * 3 + c] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        }
    }
    write_rgb(path, &rgb, iw, ih)
}

/// A rows x cols matrix of weights in [0, 1] as a heat map of square cells.
pub fn write_matrix_png(path: &Path, m: &[Vec<f32>], cell: usize) -> Result<()> {
    let rows = m.len();
    let cols = m.first().map_or(0, Vec::len);
    if rows == 0 || cols == 0 {
        return Err(Error::Io {
            path: path.display().to_string(),
            message: "nothing to draw (empty matrix)".into(),
        });
    }
    let (ih, iw) = (rows * cell, cols * cell);
    let mut rgb = vec![0u8; ih * iw * 3];
    for y in 0..ih {
        for x in 0..iw {
            let v = m[y / cell].get(x / cell).copied().unwrap_or(0.0);
            // A one-pixel grid line keeps cells apart.
            let c = if y % cell == 0 || x % cell == 0 {
                [40, 40, 40]
            } else {
                colour(v.sqrt())
            };
            rgb[(y * iw + x) * 3..][..3].copy_from_slice(&c);
        }
    }
    write_rgb(path, &rgb, iw, ih)
}
