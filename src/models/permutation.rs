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
pub const BROKEN: f64 = 1e-2;

#[derive(Debug, Clone)]
pub struct PermuteJob {
    pub tokens: usize,
    pub dim: usize,
    pub heads: usize,
    pub layers: usize,
    pub positional: Positional,
    pub seed: u64,
    pub path: AttentionPath,
    pub pre_norm: bool,
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

#[derive(Debug, Clone, Serialize)]
pub struct Symmetry {
    /// max |T(PX) - P T(X)| / max |T(X)|
    pub equivariance_error: f64,
    /// max |mean T(PX) - mean T(X)| / max |mean T(X)|
    pub pooled_invariance_error: f64,
    /// "holds", "broken" or "unclear".
    pub equivariance: &'static str,
    pub invariance: &'static str,
    /// GPU output against the f64 reference, both sequences.
    pub check: Check,
    pub timing: PlanTiming,
    pub reference: crate::cpu::RefTime,
}

pub struct PermuteReport {
    pub adapter: AdapterSummary,
    pub job: PermuteJob,
    pub permutation: Vec<usize>,
    pub without_pe: Symmetry,
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
