//! The bench table as text and CSV (the JSON is the rows serialised).

use super::Row;

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}")).unwrap_or_default()
}

/// Six significant digits in plain notation: a CSV is read by programs, and
/// fixed decimals would turn a slow tiny workload's 0.0004 GFLOP/s into 0.
fn sig(v: Option<f64>) -> String {
    v.map(|x| {
        if x == 0.0 || !x.is_finite() {
            return format!("{x}");
        }
        if x.abs() < 1e-9 {
            return format!("{x:.5e}");
        }
        let decimals = (5 - x.abs().log10().floor() as i32).clamp(0, 15) as usize;
        format!("{x:.decimals$}")
    })
    .unwrap_or_default()
}

/// The CSV's first line: one column per [`Row`] field, in declaration
/// order.
pub const CSV_HEADER: &str = "op,shape,implementation,adapter,size,median_ms,min_ms,max_ms,gflops,gbps,speedup_vs_cpu,reference_ms,passed,checked,clock,compile_ms,note";

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The rows as CSV under [`CSV_HEADER`], one line each: numbers with six
/// significant digits in plain notation, absent values as empty fields,
/// text quoted where it holds commas, quotes or newlines.
pub fn csv(rows: &[Row]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for r in rows {
        let fields = [
            csv_field(&r.op),
            csv_field(&r.shape),
            csv_field(&r.implementation),
            csv_field(&r.adapter),
            r.size.to_string(),
            sig(r.median_ms),
            sig(r.min_ms),
            sig(r.max_ms),
            sig(r.gflops),
            sig(r.gbps),
            sig(r.speedup_vs_cpu),
            sig(r.reference_ms),
            r.passed.to_string(),
            csv_field(&r.checked),
            csv_field(&r.clock),
            sig(r.compile_ms),
            csv_field(r.note.as_deref().unwrap_or("")),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

/// The human table: op, shape, implementation, adapter, median (min-max),
/// GFLOP/s, GB/s, speed-up over the CPU baseline, reference time, check.
pub fn text(rows: &[Row]) -> String {
    let head = [
        "op",
        "shape",
        "implementation",
        "adapter",
        "median ms (min-max)",
        "GFLOP/s",
        "GB/s",
        "vs CPU",
        "ref ms",
        "check",
    ];
    let body: Vec<[String; 10]> = rows
        .iter()
        .map(|r| {
            [
                r.op.clone(),
                r.shape.clone(),
                r.implementation.clone(),
                r.adapter.clone(),
                match (r.median_ms, r.min_ms, r.max_ms) {
                    (Some(m), Some(a), Some(b)) => format!("{m:.3} ({a:.3}-{b:.3})"),
                    _ => "-".into(),
                },
                opt(r.gflops, 2),
                opt(r.gbps, 2),
                r.speedup_vs_cpu
                    .map(|s| format!("{s:.2}x"))
                    .unwrap_or_default(),
                opt(r.reference_ms, 1),
                if r.checked == super::cases::NOT_CHECKED {
                    r.checked.clone()
                } else if r.passed {
                    // A rung that fell back is timed under its own name:
                    // say so beside the verdict.
                    match r.note.as_deref().filter(|n| n.contains("fell back")) {
                        Some(n) => format!("PASS ({}); {n}", r.checked),
                        None => format!("PASS ({})", r.checked),
                    }
                } else {
                    format!("FAIL {}", r.note.as_deref().unwrap_or(""))
                },
            ]
        })
        .collect();
    let mut widths = head.map(str::len);
    for row in &body {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
            + "\n"
    };
    let mut out = line(head.to_vec());
    out.push_str(&line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    ));
    for row in &body {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// Markdown table for BENCHMARKS.md.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from("| op | shape | implementation | adapter | median ms (min-max) | GFLOP/s | vs CPU baseline | check | checked | clock |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        let time = match (r.median_ms, r.min_ms, r.max_ms) {
            (Some(m), Some(a), Some(b)) => format!("{m:.3} ({a:.3}-{b:.3})"),
            _ => "-".into(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.op,
            r.shape,
            r.implementation,
            r.adapter,
            time,
            opt(r.gflops, 2),
            r.speedup_vs_cpu
                .map(|s| format!("{s:.2}x"))
                .unwrap_or_default(),
            verdict_word(r),
            r.checked,
            r.clock
        ));
    }
    out
}

/// "pass" only where a check ran over every element, "sampled" where it
/// ran on a sample (the `checked` column says how many), "not checked".
pub fn verdict_word(r: &Row) -> &'static str {
    if r.checked == super::cases::NOT_CHECKED {
        "not checked"
    } else if !r.passed {
        "FAIL"
    } else if r.checked.contains("sample") {
        "pass (sampled)"
    } else {
        "pass"
    }
}
