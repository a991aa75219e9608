//! `wgsl-nn run --profile-svg`: the per-node profile as a bar chart (SVG,
//! no dependency), slowest node first, the GPU's time beside the CPU
//! baseline's for the same node, each bar labelled with its milliseconds
//! and the kernels that ran.

/// One bar pair: a node's name, its kernels, and its times in ms (None:
/// not measured, e.g. no CPU baseline run).
#[derive(Debug, Clone)]
pub struct ProfileRow {
    /// The node's name (ONNX nodes joined by " + " where fused).
    pub name: String,
    /// The kernels (rungs) its steps ran.
    pub kernels: String,
    /// GPU time per run, ms.
    pub gpu_ms: Option<f64>,
    /// The CPU baseline's time for the same node, ms.
    pub cpu_ms: Option<f64>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let tail: String = s
            .chars()
            .rev()
            .take(n - 1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }
}

/// The chart for `rows` (drawn in the order given) under `title`; bars
/// share one linear scale so GPU and CPU compare by length.
///
/// ```
/// use wgsl_nn::app::profile_svg::{profile_svg, ProfileRow};
/// let rows = vec![ProfileRow { name: "conv1".into(), kernels: "matmul_tex".into(), gpu_ms: Some(2.0), cpu_ms: Some(1.0) }];
/// let svg = profile_svg("resnet18", &rows);
/// assert!(svg.starts_with("<svg") && svg.contains("conv1") && svg.contains("2.000 ms"));
/// ```
pub fn profile_svg(title: &str, rows: &[ProfileRow]) -> String {
    let (label_w, bar_w, row_h, top) = (330.0, 520.0, 30.0, 56.0);
    let width = label_w + bar_w + 150.0;
    let height = top + row_h * rows.len() as f64 + 20.0;
    let max = rows
        .iter()
        .flat_map(|r| [r.gpu_ms, r.cpu_ms])
        .flatten()
        .fold(1e-9, f64::max);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"8\" y=\"18\" font-size=\"14\">{}</text>\n\
         <rect x=\"8\" y=\"28\" width=\"12\" height=\"10\" fill=\"#3b6fb6\"/><text x=\"24\" y=\"37\">GPU ms per run</text>\n\
         <rect x=\"130\" y=\"28\" width=\"12\" height=\"10\" fill=\"#e08a2c\"/><text x=\"146\" y=\"37\">CPU baseline ms (same node)</text>\n",
        escape(title)
    );
    for (i, r) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        s += &format!(
            "<text x=\"8\" y=\"{:.1}\">{}</text><text x=\"8\" y=\"{:.1}\" fill=\"#666\" font-size=\"9\">{}</text>\n",
            y + 11.0,
            escape(&clip(&r.name, 52)),
            y + 22.0,
            escape(&clip(&r.kernels, 60))
        );
        for (k, (v, colour)) in [(r.gpu_ms, "#3b6fb6"), (r.cpu_ms, "#e08a2c")]
            .into_iter()
            .enumerate()
        {
            let by = y + 2.0 + 12.0 * k as f64;
            match v {
                Some(ms) => {
                    let w = (ms / max * bar_w).max(0.5);
                    s += &format!(
                        "<rect x=\"{label_w}\" y=\"{by:.1}\" width=\"{w:.1}\" height=\"10\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{:.1}\">{ms:.3} ms</text>\n",
                        label_w + w + 4.0,
                        by + 9.0
                    );
                }
                None => {
                    s += &format!(
                        "<text x=\"{label_w}\" y=\"{:.1}\" fill=\"#999\">not measured</text>\n",
                        by + 9.0
                    );
                }
            }
        }
    }
    s + "</svg>\n"
}
