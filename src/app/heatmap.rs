//! Heat maps as PNG: a square-root colour scale (so the faint edge of a
//! field is still visible), zero drawn black, an optional box outline, and
//! small maps scaled up so each cell is visible. Matrices can carry their
//! row and column names and a colour scale, drawn with a built-in bitmap
//! font (`font`), so a figure can be read without its caption.

mod font;

use crate::error::{Error, Result};
use font::{Canvas, Direction};
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

/// What a labelled matrix heat map names: one label per row and per
/// column, and a title above it.
pub struct MatrixLabels<'a> {
    /// Drawn above the map, left-aligned.
    pub title: &'a str,
    /// One per row of the matrix, to its left.
    pub rows: &'a [String],
    /// One per column, above it, reading bottom to top so long words fit
    /// narrow cells.
    pub cols: &'a [String],
}

/// Where `write_labelled_matrix_png` put things, in image pixels, so a
/// caller (or a test) can find the cells, the labels and the scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatrixLayout {
    /// Image width.
    pub width: usize,
    /// Image height.
    pub height: usize,
    /// Left edge of the cell grid; row labels lie left of it.
    pub grid_x: usize,
    /// Top edge of the cell grid; column labels lie above it.
    pub grid_y: usize,
    /// Side of one square cell.
    pub cell: usize,
    /// Left edge of the colour bar, which spans the grid's height; its
    /// value labels lie right of it.
    pub bar_x: usize,
    /// Width of the colour bar.
    pub bar_w: usize,
}

const TEXT: [u8; 3] = [20, 20, 20];
const PAPER: [u8; 3] = [255, 255, 255];
const GRID: [u8; 3] = [40, 40, 40];
/// Font pixels are drawn 2x2 for labels, 1x1 inside cells.
const LABEL_SCALE: usize = 2;
const PAD: usize = 8;
/// Between the colour bar and its values.
const GAP: usize = 6;
/// Values the colour bar names, besides its ends (0 and 1).
const TICKS: [f32; 4] = [0.1, 0.25, 0.5, 0.75];

/// A rows x cols matrix of weights in [0, 1] (attention probabilities) as a
/// labelled heat map: row names left, column names above, each cell's value
/// printed in it when it fits, and a colour bar from 0 to 1 with its values.
/// The colour is `sqrt(v)` on the same ramp as `write_matrix_png`, so the
/// small weights of a spread-out row stay visible; the bar's ticks are
/// placed on that square-root scale. Returns where everything went.
pub fn write_labelled_matrix_png(
    path: &Path,
    m: &[Vec<f32>],
    cell: usize,
    labels: &MatrixLabels,
) -> Result<MatrixLayout> {
    let rows = m.len();
    let cols = m.first().map_or(0, Vec::len);
    let bad = |message: String| Error::Io {
        path: path.display().to_string(),
        message,
    };
    if rows == 0 || cols == 0 || m.iter().any(|r| r.len() != cols) {
        return Err(bad("nothing to draw (empty or ragged matrix)".into()));
    }
    if labels.rows.len() != rows || labels.cols.len() != cols {
        return Err(bad(format!(
            "{} row and {} column labels for a {rows} x {cols} matrix",
            labels.rows.len(),
            labels.cols.len()
        )));
    }
    let cell = cell.max(2);
    let s = LABEL_SCALE;
    let line = font::HEIGHT * s;
    let longest = |v: &[String]| v.iter().map(|t| font::text_len(t, s)).max().unwrap_or(0);
    let scale_labels: Vec<String> = [0.0f32, 1.0]
        .iter()
        .chain(&TICKS)
        .map(|v| format!("{v:.2}"))
        .collect();
    let bar_w = 16;
    let grid_x = PAD + longest(labels.rows) + PAD;
    let grid_y = PAD + line + PAD + longest(labels.cols) + PAD;
    let (gw, gh) = (cols * cell, rows * cell);
    let bar_x = grid_x + gw + 2 * PAD;
    let width = (bar_x + bar_w + GAP + longest(&scale_labels) + PAD)
        .max(PAD + font::text_len(labels.title, s) + PAD);
    // The bar's end labels sit half a line beyond the grid's edges.
    let height = grid_y + gh + line / 2 + PAD;
    let mut rgb = PAPER.repeat(width * height);
    let mut c = Canvas {
        rgb: &mut rgb,
        width,
        height,
    };
    let at = |x: usize, y: usize| (x as i64, y as i64);
    c.text(at(PAD, PAD), labels.title, s, TEXT, Direction::Right);
    for (i, row) in m.iter().enumerate() {
        let y0 = grid_y + i * cell;
        c.text(
            at(PAD, y0 + cell.saturating_sub(line) / 2),
            &labels.rows[i],
            s,
            TEXT,
            Direction::Right,
        );
        for (j, &v) in row.iter().enumerate() {
            let x0 = grid_x + j * cell;
            let fill = colour(v.clamp(0.0, 1.0).sqrt());
            for y in y0..y0 + cell {
                for x in x0..x0 + cell {
                    let edge = y == y0 || x == x0 || y == y0 + cell - 1 || x == x0 + cell - 1;
                    c.put(x as i64, y as i64, if edge { GRID } else { fill });
                }
            }
            let value = format!("{v:.2}");
            let tw = font::text_len(&value, 1);
            if tw + 4 <= cell && font::HEIGHT + 4 <= cell {
                // Dark text on the bright end of the ramp, light on the dark.
                let luma =
                    0.3 * f32::from(fill[0]) + 0.6 * f32::from(fill[1]) + 0.1 * f32::from(fill[2]);
                let ink = if luma > 128.0 {
                    [0, 0, 0]
                } else {
                    [255, 255, 255]
                };
                let pos = at(x0 + (cell - tw) / 2, y0 + (cell - font::HEIGHT) / 2);
                c.text(pos, &value, 1, ink, Direction::Right);
            }
        }
    }
    for (j, word) in labels.cols.iter().enumerate() {
        let x = grid_x + j * cell + cell.saturating_sub(line) / 2;
        c.text(at(x, grid_y - PAD), word, s, TEXT, Direction::Up);
    }
    // The bar: value v sits at height sqrt(v) of the grid, as in the cells.
    for y in 0..gh {
        let f = 1.0 - y as f32 / (gh - 1).max(1) as f32;
        for x in bar_x..bar_x + bar_w {
            c.put(x as i64, (grid_y + y) as i64, colour(f));
        }
    }
    let tick_y = |v: f32| grid_y + ((1.0 - v.sqrt()) * (gh - 1) as f32).round() as usize;
    let mut taken: Vec<usize> = Vec::new();
    for v in [0.0f32, 1.0].iter().chain(&TICKS) {
        let y = tick_y(*v);
        // Ends first, then the inner values whose label has room; no tick
        // mark, since one beside a number reads as a minus sign.
        if taken.iter().any(|&t| t.abs_diff(y) < line + 4) {
            continue;
        }
        taken.push(y);
        let pos = at(bar_x + bar_w + GAP, y.saturating_sub(line / 2));
        c.text(pos, &format!("{v:.2}"), s, TEXT, Direction::Right);
    }
    write_rgb(path, &rgb, width, height)?;
    Ok(MatrixLayout {
        width,
        height,
        grid_x,
        grid_y,
        cell,
        bar_x,
        bar_w,
    })
}
