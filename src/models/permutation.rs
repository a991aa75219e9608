//! The exercise's transformer question, run: a stack of self-attention and
//! feed-forward blocks is permutation-equivariant, T(PX) = P T(X), so its
//! mean-pooled output is permutation-invariant; positional encodings break
//! both. Both sides are computed on the GPU in one batch [X; PX], and the
//! GPU output is checked against the f64 reference.

use crate::check::{compare, Check};
use crate::cpu::RefTensor;
use crate::error::{Error, Result};
use crate::gpu::timer::{time_plan, PlanTiming};
use crate::gpu::{AdapterSummary, Gpu, Plan};
use crate::models::transformer::{Positional, Transformer, TransformerConfig};
use crate::ops::attention::AttentionPath;
use crate::tensor::Tensor;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// Below this relative error the property holds (float rounding); above
/// `BROKEN` it is broken. Between the two the report says "unclear".
pub const HOLDS: f64 = 1e-5;
/// Above this relative error the property is broken (see [`HOLDS`]).
pub const BROKEN: f64 = 1e-2;

/// What [`run`] measures: one sequence X of `tokens` random tokens of
/// width `dim`, through a seeded transformer. The default is 16 tokens of
/// width 64, 4 heads, 2 pre-norm layers, sinusoidal encodings, the fused
/// path, seed 0 and 3 timed repetitions.
#[derive(Debug, Clone)]
pub struct PermuteJob {
    /// Sequence length L.
    pub tokens: usize,
    /// Model width D (the feed-forward layer is 4 D wide).
    pub dim: usize,
    /// Attention heads; must divide `dim`.
    pub heads: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// The encoding compared against none (`Positional::None` here means
    /// sinusoidal).
    pub positional: Positional,
    /// Seeds the weights, the input and the permutation.
    pub seed: u64,
    /// Which attention kernels run: composed or fused.
    pub path: AttentionPath,
    /// Pre-norm blocks (layer norm before each sublayer) rather than
    /// post-norm.
    pub pre_norm: bool,
    /// Timed repetitions of each plan.
    pub reps: usize,
}

impl Default for PermuteJob {
    fn default() -> Self {
        PermuteJob {
            tokens: 16,
            dim: 64,
            heads: 4,
            layers: 2,
            positional: Positional::Sinusoidal,
            seed: 0,
            path: AttentionPath::Fused,
            pre_norm: true,
            reps: 3,
        }
    }
}

/// The two symmetries measured on one model, with or without positional
/// encodings.
#[derive(Debug, Clone, Serialize)]
pub struct Symmetry {
    /// max |T(PX) - P T(X)| / max |T(X)|
    pub equivariance_error: f64,
    /// max |mean T(PX) - mean T(X)| / max |mean T(X)|
    pub pooled_invariance_error: f64,
    /// "holds", "broken" or "unclear".
    pub equivariance: &'static str,
    /// The same verdict for `pooled_invariance_error`.
    pub invariance: &'static str,
    /// GPU output against the f64 reference, both sequences.
    pub check: Check,
    /// GPU time of the plan for [X; PX].
    pub timing: PlanTiming,
    /// How long the f64 reference took.
    pub reference: crate::cpu::RefTime,
}

/// The result of [`run`]: the symmetries without and with positional
/// encodings.
pub struct PermuteReport {
    /// The adapter it ran on.
    pub adapter: AdapterSummary,
    /// The job as run (its `positional` never `None`).
    pub job: PermuteJob,
    /// The permutation P: `(PX)[i] = X[permutation[i]]`.
    pub permutation: Vec<usize>,
    /// No positional encoding: both symmetries are expected to hold.
    pub without_pe: Symmetry,
    /// With the job's encoding: both are expected to break.
    pub with_pe: Symmetry,
}

fn verdict(e: f64) -> &'static str {
    if e < HOLDS {
        "holds"
    } else if e > BROKEN {
        "broken"
    } else {
        "unclear"
    }
}

/// A seeded permutation that moves something whenever it can.
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5045_524d);
    let mut p: Vec<usize> = (0..n).collect();
    while n > 1 && p.iter().enumerate().all(|(i, &v)| i == v) {
        p.shuffle(&mut rng);
    }
    p
}

/// Runs the experiment: a seeded transformer on X and on PX in one batch,
/// once without positional encodings and once with the job's, each on the
/// GPU (timed) and on the f64 reference.
///
/// # Errors
///
/// [`Error::Argument`] for zero tokens or layers, an invalid model (see
/// `TransformerConfig::validate`) or an odd head size with RoPE;
/// [`Error::Shape`] for inputs over the size limit; any GPU error.
pub fn run(gpu: &Gpu, job: &PermuteJob) -> Result<PermuteReport> {
    if job.tokens == 0 || job.layers == 0 {
        return Err(Error::arg(
            "--tokens/--layers",
            "need at least one token and one layer",
        ));
    }
    crate::models::conv_stack::check_size("permute", "input", &[2, job.tokens, 4 * job.dim])?;
    let cfg = TransformerConfig {
        d_model: job.dim,
        heads: job.heads,
        ffn_hidden: 4 * job.dim,
        layers: job.layers,
        pre_norm: job.pre_norm,
        causal: false,
        path: job.path,
    };
    let model = Transformer::random(&cfg, job.tokens, job.seed)?;
    let (l, d) = (job.tokens, job.dim);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(job.seed.wrapping_add(1));
    let x: Vec<f32> = (0..l * d).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let perm = permutation(l, job.seed);
    // (PX)[i] = X[perm[i]]
    let mut both = x.clone();
    for i in 0..l {
        both.extend_from_slice(&x[perm[i] * d..(perm[i] + 1) * d]);
    }
    let weights = model.upload(gpu)?;
    let input = Tensor::upload(gpu, "[X; PX]", &[2, l, d], &both)?;
    let measure = |pe: Positional| -> Result<Symmetry> {
        let mut plan = Plan::new();
        let y = model.forward_gpu(gpu, &weights, &mut plan, &input, pe)?;
        let timing = time_plan(gpu, &plan, 1, job.reps)?;
        let out = y.download(gpu)?;
        let (reference, ref_time) = crate::cpu::RefTime::of(|| {
            model.forward_ref(&RefTensor::from_f32(&[2, l, d], &both), pe)
        });
        let reference = reference?;
        let check = compare(&out, &reference);
        let (tx, tpx) = out.split_at(l * d);
        let max_tx = tx.iter().fold(0.0f64, |m, &v| m.max(f64::from(v).abs()));
        let mut eq = 0.0f64;
        for i in 0..l {
            for c in 0..d {
                eq = eq.max((f64::from(tpx[i * d + c]) - f64::from(tx[perm[i] * d + c])).abs());
            }
        }
        let mean =
            |t: &[f32], c: usize| (0..l).map(|i| f64::from(t[i * d + c])).sum::<f64>() / l as f64;
        let (mut pooled, mut max_pool) = (0.0f64, 0.0f64);
        for c in 0..d {
            let (a, b) = (mean(tx, c), mean(tpx, c));
            pooled = pooled.max((a - b).abs());
            max_pool = max_pool.max(a.abs());
        }
        let (equivariance_error, pooled_invariance_error) = (
            eq / max_tx.max(f64::MIN_POSITIVE),
            pooled / max_pool.max(f64::MIN_POSITIVE),
        );
        Ok(Symmetry {
            equivariance_error,
            pooled_invariance_error,
            equivariance: verdict(equivariance_error),
            invariance: verdict(pooled_invariance_error),
            check,
            timing,
            reference: ref_time,
        })
    };
    let pe = if job.positional == Positional::None {
        Positional::Sinusoidal
    } else {
        job.positional
    };
    Ok(PermuteReport {
        adapter: gpu.summary(),
        without_pe: measure(Positional::None)?,
        with_pe: measure(pe)?,
        job: PermuteJob {
            positional: pe,
            ..job.clone()
        },
        permutation: perm,
    })
}
