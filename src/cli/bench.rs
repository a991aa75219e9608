//! `wgsl-nn bench`: sweeps with tables, CSV, JSON and an SVG plot.

use super::DeviceArgs;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;
use wgsl_nn::app::bench::cases::OpKind;
use wgsl_nn::app::bench::sweep::Sweep;
use wgsl_nn::app::bench::{plot, table};
use wgsl_nn::gpu::{enumerate, Gpu};
use wgsl_nn::Error;

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// conv, matmul, attention or all.
    #[arg(default_value = "all")]
    pub op: String,
    /// Sizes to sweep instead of the defaults: matmul N, attention L, conv batch (1 = the exercise stack, >1 = the wide stack).
    #[arg(long, value_delimiter = ',')]
    pub sizes: Option<Vec<usize>>,
    /// Timed repetitions per row (fewer when one run is very slow).
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Run every adapter wgpu finds, not just the chosen one.
    #[arg(long)]
    pub all_adapters: bool,
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// The rows as one JSON document on stdout (instead of the table).
    #[arg(long)]
    pub json: bool,
    /// GFLOP/s against size, log scales, one line per implementation and adapter.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// The table as Markdown (what BENCHMARKS.md embeds).
    #[arg(long, value_name = "FILE.md")]
    pub markdown: Option<PathBuf>,
    /// One small size per op (for CI).
    #[arg(long)]
    pub quick: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// f16: add float16 rows (matmul: every float16 path and accumulation
    /// the adapter has) after the float32 ones.
    #[arg(long, default_value = "f32", value_parser = super::selftest::parse_dtype)]
    pub dtype: wgsl_nn::dtype::DType,
}

pub fn run(dev: &DeviceArgs, args: &BenchArgs) -> wgsl_nn::Result<bool> {
    super::check_outputs(&[
        ("--csv", args.csv.as_deref()),
        ("--plot", args.plot.as_deref()),
        ("--markdown", args.markdown.as_deref()),
    ])?;
    let ops = match args.op.to_ascii_lowercase().as_str() {
        "conv" => vec![OpKind::Conv],
        "matmul" => vec![OpKind::Matmul],
        "attention" => vec![OpKind::Attention],
        "all" => vec![OpKind::Conv, OpKind::Matmul, OpKind::Attention],
        other => {
            return Err(Error::arg(
                "bench",
                format!("'{other}' is not conv, matmul, attention or all"),
            ))
        }
    };
    if let Some(s) = &args.sizes {
        if let Some(bad) = s.iter().find(|&&v| v == 0 || v > 16384) {
            return Err(Error::arg("--sizes", format!("{bad} is outside 1..=16384")));
        }
    }
    if args.reps == 0 || args.reps > 1000 {
        return Err(Error::arg(
            "--reps",
            format!("{} is not between 1 and 1000", args.reps),
        ));
    }
    let gpus: Vec<Gpu> = if args.all_adapters {
        let list = enumerate(&dev.choice())?;
        if list.is_empty() {
            return Err(wgsl_nn::gpu::not_found(&dev.choice()));
        }
        list.iter()
            .map(|a| {
                let mut g = Gpu::from_adapter(a)?;
                g.timeout = Duration::from_secs_f64(dev.gpu_timeout.clamp(0.001, 86_400.0));
                dev.configure(g)
            })
            .collect::<wgsl_nn::Result<_>>()?
    } else {
        vec![dev.open()?]
    };
    let sweep = Sweep {
        ops,
        sizes: args.sizes.clone(),
        reps: args.reps,
        seed: args.seed,
        quick: args.quick,
        quiet: args.quiet || args.json,
        rungs: dev.forced_kernels()?,
        dtype: args.dtype,
    };
    let rows = sweep.run(&gpus)?;
    let write = |path: &PathBuf, text: String| {
        std::fs::write(path, text).map_err(|e| Error::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    };
    if let Some(p) = &args.csv {
        write(p, table::csv(&rows))?;
    }
    if let Some(p) = &args.plot {
        let adapters: Vec<String> = gpus.iter().map(|g| g.info.name.clone()).collect();
        write(
            p,
            plot::svg(
                &rows,
                &format!(
                    "wgsl-nn bench: {} (seed {})",
                    adapters.join(", "),
                    args.seed
                ),
            ),
        )?;
    }
    if let Some(p) = &args.markdown {
        write(p, table::markdown(&rows))?;
    }
    if args.json {
        super::print_json(&serde_json::json!({
            "seed": args.seed,
            "reference_threads": rayon::current_num_threads(),
            "rows": rows,
        }));
    } else {
        print!("{}", table::text(&rows));
        println!(
            "seed {}; {}; every row checked against the f64 reference before timing \
             (ref ms: the reference on {} threads)",
            args.seed,
            gpu_clocks(&rows),
            rayon::current_num_threads()
        );
    }
    Ok(rows.iter().all(|r| r.passed))
}

/// Which clocks timed the GPU rows: "GPU times from gpu-timestamps", or the
/// count of each where rows differ (a row's note says why it fell back).
fn gpu_clocks(rows: &[wgsl_nn::app::bench::Row]) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.implementation.starts_with("gpu") && r.passed)
    {
        *counts.entry(r.clock.as_str()).or_insert(0) += 1;
    }
    match counts.len() {
        0 => "no GPU rows timed".to_string(),
        1 => format!("GPU times from {}", counts.keys().next().copied().unwrap_or("-")),
        _ => format!(
            "GPU times from {} (rows that fell back to the wall clock say why in the CSV/JSON note)",
            counts
                .iter()
                .map(|(clock, n)| format!("{clock} in {n} rows"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
