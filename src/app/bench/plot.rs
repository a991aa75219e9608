//! A dependency-free SVG line plot: GFLOP/s against problem size, both on
//! log scales, one panel per op, one line per implementation and adapter,
//! with named axes and a legend, readable without the table.

use super::Row;
use std::collections::BTreeMap;
use std::fmt::Write;

const PANEL_W: f64 = 420.0;
const PANEL_H: f64 = 300.0;
const MARGIN: f64 = 60.0;
/// Sixteen distinguishable colours; with a marker shape each (cycling
/// through four, out of step with the colours), no two of up to 64 series
/// look alike, and up to 16 differ in colour too.
const COLOURS: [&str; 16] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#bcbd22", "#7f7f7f", "#000080", "#800000", "#008080", "#ff1493", "#556b2f", "#daa520",
];

/// An SVG marker of shape `shape` (0 circle, 1 square, 2 triangle, 3
/// diamond) at (x, y).
fn marker(shape: usize, x: f64, y: f64, colour: &str) -> String {
    match shape % 4 {
        0 => format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{colour}"/>"#),
        1 => format!(
            r#"<rect x="{:.1}" y="{:.1}" width="7" height="7" fill="{colour}"/>"#,
            x - 3.5,
            y - 3.5
        ),
        2 => format!(
            r#"<polygon points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="{colour}"/>"#,
            x,
            y - 4.5,
            x - 4.0,
            y + 3.5,
            x + 4.0,
            y + 3.5
        ),
        _ => format!(
            r#"<polygon points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="{colour}"/>"#,
            x,
            y - 4.5,
            x + 4.5,
            y,
            x,
            y + 4.5,
            x - 4.5,
            y
        ),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    (a..=b).map(|e| 10f64.powi(e)).collect()
}

/// (size, GFLOP/s) points of each series, per op panel.
type Panels<'a> = BTreeMap<&'a str, BTreeMap<String, Vec<(f64, f64)>>>;

/// Renders every row that passed its check and has a speed.
pub fn svg(rows: &[Row], title: &str) -> String {
    let mut panels: Panels = BTreeMap::new();
    for r in rows {
        if let (true, Some(g)) = (r.passed, r.gflops) {
            if g > 0.0 && r.size > 0 {
                let series = format!("{} @ {}", r.implementation, r.adapter);
                panels
                    .entry(r.op.as_str())
                    .or_default()
                    .entry(series)
                    .or_default()
                    .push((r.size as f64, g));
            }
        }
    }
    let n = panels.len().max(1);
    let most = panels.values().map(|s| s.len()).max().unwrap_or(0) as f64;
    let (w, h) = (
        n as f64 * (PANEL_W + MARGIN) + MARGIN,
        PANEL_H + 2.0 * MARGIN + 40.0 + most * 16.0,
    );
    let mut out = String::new();
    let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{:.0}" y="24" text-anchor="middle" font-size="16">{}</text>"#,
        w / 2.0,
        esc(title)
    );
    for (pi, (op, series)) in panels.iter().enumerate() {
        let x0 = MARGIN + pi as f64 * (PANEL_W + MARGIN);
        let y0 = MARGIN;
        let pts: Vec<(f64, f64)> = series.values().flatten().copied().collect();
        let (xmin, xmax) = pts
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
        let (ymin, ymax) = pts
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
        let (xl, xh) = ((xmin / 1.5).log10(), (xmax * 1.5).log10());
        let (yl, yh) = ((ymin / 2.0).log10(), (ymax * 2.0).log10());
        let px = |x: f64| x0 + (x.log10() - xl) / (xh - xl) * PANEL_W;
        let py = |y: f64| y0 + PANEL_H - (y.log10() - yl) / (yh - yl) * PANEL_H;
        let _ = writeln!(
            out,
            r##"<rect x="{x0:.1}" y="{y0:.1}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="#333"/>"##
        );
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="14">{}</text>"#,
            x0 + PANEL_W / 2.0,
            y0 - 8.0,
            esc(op)
        );
        for t in log_ticks(10f64.powf(yl), 10f64.powf(yh))
            .into_iter()
            .filter(|&t| t.log10() >= yl && t.log10() <= yh)
        {
            let y = py(t);
            let _ = writeln!(
                out,
                r##"<line x1="{x0:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                x0 + PANEL_W,
                x0 - 4.0,
                y + 4.0,
                t
            );
        }
        let mut xs: Vec<f64> = pts.iter().map(|p| p.0).collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        for x in xs {
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                px(x),
                y0 + PANEL_H + 16.0,
                x
            );
        }
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">problem size (log scale)</text>"#,
            x0 + PANEL_W / 2.0,
            y0 + PANEL_H + 36.0
        );
        let _ = writeln!(
            out,
            r#"<text transform="translate({:.1},{:.1}) rotate(-90)" text-anchor="middle">GFLOP/s (log scale)</text>"#,
            x0 - 42.0,
            y0 + PANEL_H / 2.0
        );
        for (si, (name, points)) in series.iter().enumerate() {
            let colour = COLOURS[si % COLOURS.len()];
            let mut p = points.clone();
            p.sort_by(|a, b| a.0.total_cmp(&b.0));
            let path: Vec<String> = p
                .iter()
                .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
                .collect();
            let _ = writeln!(
                out,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
                path.join(" ")
            );
            let shape = si / COLOURS.len() + si;
            for &(x, y) in &p {
                let _ = writeln!(out, "{}", marker(shape, px(x), py(y), colour));
            }
            let ly = y0 + PANEL_H + 56.0 + si as f64 * 16.0;
            let _ = writeln!(
                out,
                r#"<line x1="{x0:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="3"/>{}<text x="{:.1}" y="{:.1}">{}</text>"#,
                ly - 4.0,
                x0 + 24.0,
                ly - 4.0,
                marker(shape, x0 + 12.0, ly - 4.0, colour),
                x0 + 30.0,
                ly,
                esc(name)
            );
        }
    }
    out.push_str("</svg>\n");
    out
}
