//! `wgsl-nn attention`: one multi-head attention layer by each path.

use super::DeviceArgs;
use clap::Args;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use wgsl_nn::app::io::attention::AttentionFiles;
use wgsl_nn::app::jobs::attention::{self as attention_job, AttentionJob, AttentionReport};
use wgsl_nn::ops::attention::AttentionPath;
use wgsl_nn::rung::{AttentionRung, Rung};

#[derive(Args, Debug, Clone)]
pub struct AttentionArgs {
    /// Query sequence length L [default: 128, or the length in --input-npy].
    #[arg(long)]
    pub tokens: Option<u64>,
    /// Key/value sequence length S (cross-attention from a second sequence); default: self-attention.
    #[arg(long)]
    pub kv_tokens: Option<u64>,
    /// Model width D; each of the H heads gets D/H features [default: 512, or the width in the files].
    #[arg(long)]
    pub dim: Option<u64>,
    /// Number of heads H [default: 8]; with --params required: the num_heads the module was built with.
    #[arg(long)]
    pub heads: Option<u64>,
    /// [default: 1, or the batch in --input-npy]
    #[arg(long)]
    pub batch: Option<u64>,
    /// Weights from nn.MultiheadAttention(D, H, batch_first=True).state_dict() saved with np.savez
    /// (in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias; a module prefix is fine).
    #[arg(long, value_name = "FILE.npz")]
    pub params: Option<PathBuf>,
    /// Queries (and, without --kv-npy, keys and values): [L, D] or [B, L, D].
    #[arg(long, value_name = "FILE")]
    pub input_npy: Option<PathBuf>,
    /// Keys and values for cross-attention: [S, D] or [B, S, D].
    #[arg(long, value_name = "FILE")]
    pub kv_npy: Option<PathBuf>,
    /// PyTorch's key_padding_mask, [S] or [B, S]: True (or 1, or -inf) hides that key from every query.
    #[arg(long, value_name = "FILE")]
    pub key_padding_mask_npy: Option<PathBuf>,
    /// Write the GPU's output (the fused path's when it ran) to a .npy file, shaped like --input-npy.
    #[arg(long, value_name = "FILE")]
    pub output_npy: Option<PathBuf>,
    /// Hide key j from query i when j > i.
    #[arg(long)]
    pub causal: bool,
    /// composed (scores in a buffer), fused (online softmax, no score buffer) or both.
    #[arg(long, default_value = "both")]
    pub path: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Check every query row up to this many, a seeded sample beyond.
    #[arg(long, default_value_t = 256)]
    pub check_rows: usize,
    /// Print each step's median GPU time too.
    #[arg(long)]
    pub explain: bool,
    #[arg(long)]
    pub json: bool,
    /// Element type: f32, or f16 (float16 storage of inputs, weights,
    /// projections and output; float32 sums and online-softmax state; the
    /// fused path only; every query row checked, --check-rows aside).
    #[arg(long, default_value = "f32", value_parser = super::selftest::parse_dtype)]
    pub dtype: wgsl_nn::dtype::DType,
    /// With --dtype f16: read float16 as WGSL f16 (native, needs
    /// SHADER_F16) or as u32 words (packed) [default: native where the
    /// adapter has it]
    #[arg(long, value_name = "native|packed", value_parser = super::conv::parse_path)]
    pub f16_path: Option<wgsl_nn::dtype::F16Path>,
}

/// `super::pick` for a u64 flag.
fn pick(
    flag: &str,
    given: Option<u64>,
    file: Option<usize>,
    source: &str,
    default: usize,
) -> wgsl_nn::Result<usize> {
    let given = given.map(|v| size(flag, v)).transpose()?;
    super::pick(flag, given, file, source, default, 1 << 20)
}

fn size(name: &str, v: u64) -> wgsl_nn::Result<usize> {
    usize::try_from(v)
        .ok()
        .filter(|&v| v <= 1 << 20)
        .ok_or_else(|| {
            wgsl_nn::Error::arg(name, format!("{v} is absurdly large (at most {})", 1 << 20))
        })
}

impl AttentionArgs {
    pub fn job(&self) -> wgsl_nn::Result<AttentionJob> {
        let paths = match self.path.to_ascii_lowercase().as_str() {
            "composed" => vec![AttentionPath::Composed],
            "fused" => vec![AttentionPath::Fused],
            "both" => vec![AttentionPath::Composed, AttentionPath::Fused],
            other => {
                return Err(wgsl_nn::Error::arg(
                    "--path",
                    format!("'{other}' is not composed, fused or both"),
                ))
            }
        };
        let files = AttentionFiles {
            params: self.params.clone(),
            input: self.input_npy.clone(),
            kv_input: self.kv_npy.clone(),
            key_padding_mask: self.key_padding_mask_npy.clone(),
        };
        let data = (!files.is_empty()).then(|| files.load()).transpose()?;
        let d = data.as_ref();
        let q = d.and_then(|d| d.queries.as_ref()).map(|(_, s)| *s);
        let kv = d.and_then(|d| d.kv.as_ref()).map(|(_, s)| *s);
        let wd = d.and_then(|d| d.weights.as_ref()).map(|w| w.d_model);
        let job = AttentionJob {
            batch: pick("--batch", self.batch, q.map(|s| s[0]), "--input-npy", 1)?,
            tokens: pick("--tokens", self.tokens, q.map(|s| s[1]), "--input-npy", 128)?,
            kv_tokens: match (self.kv_tokens, kv) {
                (None, None) => None,
                (given, file) => Some(pick(
                    "--kv-tokens",
                    given,
                    file.map(|s| s[1]),
                    "--kv-npy",
                    0,
                )?),
            },
            dim: pick("--dim", self.dim, q.map(|s| s[2]).or(wd), "the files", 512)?,
            heads: match (self.heads, &self.params) {
                (Some(h), _) => size("--heads", h)?,
                (None, Some(p)) => {
                    return Err(wgsl_nn::Error::arg(
                        "--heads",
                        format!(
                            "give the num_heads {} was built with: a state_dict does not record it",
                            p.display()
                        ),
                    ))
                }
                (None, None) => 8,
            },
            causal: self.causal,
            paths,
            seed: self.seed,
            reps: self.reps,
            max_checked_rows: self.check_rows.max(1),
            data: data.map(Arc::new),
        };
        attention_job::validate(&job)?;
        Ok(job)
    }
}

pub fn run(dev: &DeviceArgs, args: &AttentionArgs) -> wgsl_nn::Result<bool> {
    super::check_outputs(&[("--output-npy", args.output_npy.as_deref())])?;
    let job = args.job()?;
    // A forced attention rung belongs to one path; the other would ignore it.
    for (family, k) in dev.forced_kernels()? {
        let want = AttentionRung::parse(&k).map_or(AttentionPath::Fused, |r| r.path());
        if family == "attention" && !job.paths.contains(&want) {
            return Err(wgsl_nn::Error::arg(
                "--kernel",
                format!("attention={k} is a kernel of the {} path, which --path leaves out; use --path {} or both", want.name(), want.name()),
            ));
        }
    }
    let gpu = dev.open()?;
    if args.dtype == wgsl_nn::dtype::DType::F16 {
        return run_f16(&gpu, args, &job);
    }
    let shape = attention_job::validate(&job)?;
    let flops = attention_job::layer_flops(&job, &shape);
    super::note_if_long(&gpu, flops, job.paths.len());
    let report = attention_job::run(&gpu, &job)?;
    if let (Some(path), Some((_, out))) = (&args.output_npy, &report.output) {
        let s = &report.shape;
        let unbatched = job.data.as_ref().is_some_and(|d| d.unbatched);
        let shape = if unbatched {
            vec![s.queries, job.dim]
        } else {
            vec![s.batch, s.queries, job.dim]
        };
        wgsl_nn::app::io::npy::write_npy(path, &shape, out)?;
    }
    if args.json {
        super::print_json(&to_json(&report));
    } else {
        print_text(&report);
        if args.explain {
            for p in &report.paths {
                if let Ok((_, t)) = &p.outcome {
                    println!("  steps of the {} path:", p.path.name());
                    if t.steps.is_empty() {
                        println!(
                            "    n/a: per-step times need GPU timestamps and this run used the wall clock ({})",
                            t.note.as_deref().unwrap_or("no timestamps")
                        );
                    }
                    for (label, ms) in &t.steps {
                        println!("    {label:<44} {ms:>10.3} ms");
                    }
                }
            }
        }
    }
    let all_passed = report
        .paths
        .iter()
        .all(|p| p.outcome.as_ref().map_or(true, |(c, _)| c.passed));
    if report.paths.iter().all(|p| p.outcome.is_err()) {
        // Nothing could run: the refusal is the answer, as an error.
        if let Some(Err(e)) = report.paths.into_iter().next().map(|p| p.outcome) {
            return Err(e);
        }
    }
    Ok(all_passed)
}

fn gflops(flops: u64, ms: f64) -> f64 {
    flops as f64 / (ms * 1e6)
}

pub fn to_json(r: &AttentionReport) -> serde_json::Value {
    let paths: Vec<_> = r
        .paths
        .iter()
        .map(|p| match &p.outcome {
            Ok((check, t)) => json!({
                "path": p.path.name(), "ran": true, "check": check,
                "passed": check.passed,
                "timing": {"gpu_ms": t.median_ms, "gpu_min_ms": t.min_ms, "gpu_max_ms": t.max_ms, "gpu_clock": t.clock, "compile_ms": t.compile_ms, "first_run_ms": t.first_run_ms, "reps": t.reps, "gflops": gflops(r.flops, t.median_ms),
                    "reference_ms": p.reference.map(|t| t.ms), "reference_threads": p.reference.map(|t| t.threads), "reference_beside_gpu": p.reference.map(|t| t.beside_gpu)},
            }),
            Err(e) => json!({"path": p.path.name(), "ran": false, "passed": false, "error": e.to_string()}),
        })
        .collect();
    let s = &r.shape;
    json!({
        "adapter": r.adapter,
        "seed": r.job.seed,
        "batch": s.batch, "tokens": s.queries, "kv_tokens": s.keys, "dim": r.job.dim, "heads": s.heads, "head_dim": s.head_dim,
        "causal": r.job.causal,
        "cross_attention": r.job.kv_tokens.is_some(),
        "key_padding_mask": r.job.data.as_ref().is_some_and(|d| d.keep_keys.is_some()),
        "weights": r.weights_from, "inputs": r.inputs_from,
        "output_from": r.output.as_ref().map(|(p, _)| p.name()),
        "rows_without_keys": r.rows_without_keys,
        "gflop": r.flops as f64 / 1e9,
        "checked_rows": r.checked_rows, "total_rows": r.total_rows,
        "paths": paths,
    })
}

pub fn print_text(r: &AttentionReport) {
    let s = &r.shape;
    println!(
        "adapter: {} ({}, {})",
        r.adapter.name, r.adapter.backend, r.adapter.device_type
    );
    println!(
        "{}-attention: batch {}, {} queries x {} keys, D = {} ({} heads of {}), {}seed {}; {:.3} GFLOP per layer (projections + core)",
        if r.job.kv_tokens.is_some() { "cross" } else { "self" },
        s.batch, s.queries, s.keys, r.job.dim, s.heads, s.head_dim,
        if r.job.causal { "causal, " } else { "" },
        r.job.seed,
        r.flops as f64 / 1e9
    );
    println!(
        "weights: {}; inputs: {}{}",
        r.weights_from,
        r.inputs_from,
        if r.job.data.as_ref().is_some_and(|d| d.keep_keys.is_some()) {
            "; key padding mask from --key-padding-mask-npy"
        } else {
            ""
        }
    );
    if r.rows_without_keys > 0 {
        println!(
            "note: {} query row(s) may attend to no key (all masked); wgsl-nn gives them zeros before the output \
             projection (PyTorch gives NaN there)",
            r.rows_without_keys
        );
    }
    println!(
        "checked {} of {} query rows against the f64 reference{}",
        r.checked_rows,
        r.total_rows,
        if r.checked_rows < r.total_rows {
            " (a seeded sample)"
        } else {
            ""
        }
    );
    for p in &r.paths {
        match &p.outcome {
            Ok((check, t)) => println!(
                "  {:<9} {:>9.3} ms median of {} (min {:.3}, max {:.3}; {}), {:.2} GFLOP/s, compile {:.1} ms; {}{}",
                p.path.name(), t.median_ms, t.reps, t.min_ms, t.max_ms, t.clock, gflops(r.flops, t.median_ms), t.compile_ms, check.summary(),
                p.reference.map_or(String::new(), |t| format!("; {t}"))
            ),
            Err(e) => println!("  {:<9} refused: {e}", p.path.name()),
        }
    }
}

/// `--dtype f16`: the layer on float16 storage, every row checked.
fn run_f16(
    gpu: &wgsl_nn::gpu::Gpu,
    args: &AttentionArgs,
    job: &AttentionJob,
) -> wgsl_nn::Result<bool> {
    if args.path != "both" && args.path != "fused" {
        return Err(wgsl_nn::Error::arg(
            "--path",
            "float16 attention runs the fused path only; drop --path or use --path fused",
        ));
    }
    let path = args
        .f16_path
        .unwrap_or_else(|| wgsl_nn::dtype::F16Path::for_features(gpu.device.features()));
    let r = wgsl_nn::app::jobs::attention_half::run_f16(gpu, job, path)?;
    let s = &r.shape;
    if let Some(p) = &args.output_npy {
        let unbatched = job.data.as_ref().is_some_and(|d| d.unbatched);
        let shape = if unbatched {
            vec![s.queries, job.dim]
        } else {
            vec![s.batch, s.queries, job.dim]
        };
        wgsl_nn::app::io::npy::write_npy_f16(p, &shape, &r.output)?;
    }
    let t = &r.timing;
    if args.json {
        super::print_json(&json!({
            "adapter": r.adapter,
            "dtype": "f16",
            "f16_path": r.path.name(),
            "accumulation": "f32",
            "path": "fused",
            "seed": job.seed,
            "weights": r.weights_from,
            "inputs": r.inputs_from,
            "batch": s.batch, "queries": s.queries, "keys": s.keys,
            "heads": s.heads, "head_dim": s.head_dim, "causal": job.causal,
            "check": r.check,
            "passed": r.check.passed,
            "timing": super::conv_half::timing_json(t),
            "reference_ms": r.reference.ms,
            "reference_threads": r.reference.threads,
        }));
    } else {
        println!("adapter: {}", r.adapter);
        println!(
            "float16 storage ({}), float32 sums and online-softmax state; B={} L={} S={}, {} heads of {}{}; weights: {}; inputs: {}",
            r.path.name(),
            s.batch,
            s.queries,
            s.keys,
            s.heads,
            s.head_dim,
            if job.causal { ", causal" } else { "" },
            r.weights_from,
            r.inputs_from
        );
        if args.explain {
            print!("{}", r.explain);
        }
        println!(
            "check (every row; float16 store of Q, K, V, the attention and the output charged): {}",
            r.check.summary()
        );
        println!("{}", super::conv_half::timing_line(t, &r.reference));
        if let Some(p) = &args.output_npy {
            println!("output written to {} (float16)", p.display());
        }
    }
    Ok(r.check.passed)
}
