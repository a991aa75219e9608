//! `wgsl-nn permute`: permutation equivariance shown on the GPU.

use super::DeviceArgs;
use clap::Args;
use serde_json::json;
use wgsl_nn::models::permutation::{self, PermuteJob, PermuteReport, Symmetry, BROKEN, HOLDS};
use wgsl_nn::models::transformer::Positional;
use wgsl_nn::ops::attention::AttentionPath;

#[derive(Args, Debug, Clone)]
pub struct PermuteArgs {
    #[arg(long, default_value_t = 16)]
    pub tokens: u64,
    #[arg(long, default_value_t = 64)]
    pub dim: u64,
    #[arg(long, default_value_t = 4)]
    pub heads: u64,
    #[arg(long, default_value_t = 2)]
    pub layers: u64,
    /// The encoding whose effect is shown: sinusoidal, learned or rope.
    #[arg(long, default_value = "sinusoidal")]
    pub positional: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Attention path: fused or composed.
    #[arg(long, default_value = "fused")]
    pub path: String,
    /// Post-norm blocks (the original transformer) instead of pre-norm.
    #[arg(long)]
    pub post_norm: bool,
    #[arg(long)]
    pub json: bool,
}

fn size(name: &str, v: u64, max: usize) -> wgsl_nn::Result<usize> {
    usize::try_from(v)
        .ok()
        .filter(|&v| (1..=max).contains(&v))
        .ok_or_else(|| wgsl_nn::Error::arg(name, format!("{v} is outside 1..={max}")))
}

impl PermuteArgs {
    pub fn job(&self) -> wgsl_nn::Result<PermuteJob> {
        let positional = Positional::parse(&self.positional)?;
        if positional == Positional::None {
            return Err(wgsl_nn::Error::arg(
                "--positional",
                "choose the encoding to compare against: sinusoidal, learned or rope",
            ));
        }
        let path = match self.path.to_ascii_lowercase().as_str() {
            "fused" => AttentionPath::Fused,
            "composed" => AttentionPath::Composed,
            other => {
                return Err(wgsl_nn::Error::arg(
                    "--path",
                    format!("'{other}' is not fused or composed"),
                ))
            }
        };
        Ok(PermuteJob {
            tokens: size("--tokens", self.tokens, 1 << 16)?,
            dim: size("--dim", self.dim, 1 << 14)?,
            heads: size("--heads", self.heads, 1 << 14)?,
            layers: size("--layers", self.layers, 256)?,
            positional,
            seed: self.seed,
            path,
            pre_norm: !self.post_norm,
            reps: 3,
        })
    }
}

pub fn run(dev: &DeviceArgs, args: &PermuteArgs) -> wgsl_nn::Result<bool> {
    let job = args.job()?;
    let gpu = dev.open()?;
    let r = permutation::run(&gpu, &job)?;
    if args.json {
        super::print_json(&to_json(&r));
    } else {
        print_text(&r);
    }
    Ok(r.without_pe.check.passed && r.with_pe.check.passed)
}

fn sym_json(s: &Symmetry) -> serde_json::Value {
    json!({
        "equivariance_error": s.equivariance_error,
        "pooled_invariance_error": s.pooled_invariance_error,
        "equivariance": s.equivariance,
        "invariance": s.invariance,
        "check": s.check,
        "timing": {"gpu_ms": s.timing.median_ms, "gpu_clock": s.timing.clock, "compile_ms": s.timing.compile_ms, "reps": s.timing.reps,
                   "reference_ms": s.reference.ms, "reference_threads": s.reference.threads},
    })
}

pub fn to_json(r: &PermuteReport) -> serde_json::Value {
    json!({
        "adapter": r.adapter,
        "seed": r.job.seed,
        "tokens": r.job.tokens, "dim": r.job.dim, "heads": r.job.heads, "layers": r.job.layers,
        "path": r.job.path.name(), "norm": if r.job.pre_norm { "pre" } else { "post" },
        "positional": r.job.positional.name(),
        "permutation": r.permutation,
        "thresholds": {"holds_below": HOLDS, "broken_above": BROKEN},
        "without_pe": sym_json(&r.without_pe),
        "with_pe": sym_json(&r.with_pe),
    })
}

fn line(label: &str, s: &Symmetry) {
    println!(
        "  {label:<24} equivariance error {:.3e} ({}), pooled invariance error {:.3e} ({}); GPU vs f64 reference {}; GPU {:.3} ms, {}",
        s.equivariance_error, s.equivariance, s.pooled_invariance_error, s.invariance, s.check.verdict(), s.timing.median_ms, s.reference
    );
}

pub fn print_text(r: &PermuteReport) {
    let j = &r.job;
    println!(
        "adapter: {} ({}, {})",
        r.adapter.name, r.adapter.backend, r.adapter.device_type
    );
    println!(
        "transformer: {} {}-norm blocks, D = {}, {} heads, {} tokens, {} attention, random weights (seed {})",
        j.layers, if j.pre_norm { "pre" } else { "post" }, j.dim, j.heads, j.tokens, j.path.name(), j.seed
    );
    println!(
        "permutation P (row i of PX is row P[i] of X): {:?}",
        r.permutation
    );
    line("without positions:", &r.without_pe);
    line(
        &format!("with {} positions:", j.positional.name()),
        &r.with_pe,
    );
    let (a, b) = (&r.without_pe, &r.with_pe);
    println!(
        "\nWithout positional encodings T(PX) = P T(X) {} (relative error {:.1e}, float rounding is ~1e-7), so mean pooling is \
         permutation-invariant ({}). With {} encodings the tokens carry their positions, and both {} (errors {:.2} and {:.2}).",
        if a.equivariance == "holds" { "holds" } else { "does NOT hold" },
        a.equivariance_error,
        a.invariance,
        j.positional.name(),
        if b.equivariance == "broken" && b.invariance == "broken" { "break" } else { "were expected to break but did not clearly" },
        b.equivariance_error,
        b.pooled_invariance_error
    );
    println!(
        "(holds: below {HOLDS:.0e}; broken: above {BROKEN:.0e}; the equivariance error is relative to the \
         largest output, the pooled one to the largest pooled entry.)"
    );
    if r.permutation.iter().enumerate().all(|(i, &p)| i == p) {
        println!(
            "note: with {} token(s) the only permutation is the identity, so nothing can break; use --tokens 2 or more",
            r.permutation.len()
        );
    }
}
