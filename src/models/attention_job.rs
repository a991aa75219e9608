//! The job behind `wgsl-nn attention`: one multi-head attention layer
//! (projections and core) on the GPU by each requested path, checked against
//! the f64 reference (on a seeded sample of query rows when the sequence is
//! long) and timed.

use crate::check::{compare, Check};
use crate::cpu::attention::{mha_rows, Masks, MhaWeights, Order};
use crate::cpu::RefTensor;
use crate::error::{Error, Result};
use crate::gpu::timer::{time_plan, PlanTiming};
use crate::gpu::{AdapterSummary, Gpu, Plan};
use crate::ops::attention::{mha_forward, AttentionPath, AttentionShape};
use crate::ops::softmax::Mask;
use crate::tensor::Tensor;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone)]
pub struct AttentionJob {
    pub batch: usize,
    pub tokens: usize,
    /// Keys and values from a second sequence of this length (cross-attention).
    pub kv_tokens: Option<usize>,
    pub dim: usize,
    pub heads: usize,
    pub causal: bool,
    pub paths: Vec<AttentionPath>,
    pub seed: u64,
    pub reps: usize,
    /// Check every query row up to this many; beyond, a seeded sample of it.
    pub max_checked_rows: usize,
}

impl Default for AttentionJob {
    fn default() -> Self {
        AttentionJob {
            batch: 1,
            tokens: 128,
            kv_tokens: None,
            dim: 512,
            heads: 8,
            causal: false,
            paths: vec![AttentionPath::Composed, AttentionPath::Fused],
            seed: 0,
            reps: 5,
            max_checked_rows: 256,
        }
    }
}

/// Sizes beyond these are refused before any allocation.
const MAX_TOKENS: usize = 1 << 20;
const MAX_DIM: usize = 1 << 16;

pub struct PathResult {
    pub path: AttentionPath,
    /// Err: the path refused (e.g. the score matrix exceeds a binding).
    pub outcome: std::result::Result<(Check, PlanTiming), Error>,
}

pub struct AttentionReport {
    pub adapter: AdapterSummary,
    pub job: AttentionJob,
    pub shape: AttentionShape,
    /// FLOPs of the whole layer (projections + core).
    pub flops: u64,
    pub checked_rows: usize,
    pub total_rows: usize,
    pub paths: Vec<PathResult>,
}

pub fn validate(job: &AttentionJob) -> Result<AttentionShape> {
    let s = job.kv_tokens.unwrap_or(job.tokens);
    for (name, v, max) in [
        ("--tokens", job.tokens, MAX_TOKENS),
        ("--kv-tokens", s, MAX_TOKENS),
        ("--dim", job.dim, MAX_DIM),
        ("--heads", job.heads, MAX_DIM),
        ("--batch", job.batch, MAX_TOKENS),
    ] {
        if v == 0 || v > max {
            return Err(Error::arg(name, format!("{v} is outside 1..={max}")));
        }
    }
    if !job.dim.is_multiple_of(job.heads) {
        return Err(Error::arg(
            "--dim",
            format!(
                "model width {} is not divisible by {} heads; each head gets D/H features",
                job.dim, job.heads
            ),
        ));
    }
    for (what, n) in [
        ("queries", job.batch * job.tokens),
        ("keys/values", job.batch * s),
    ] {
        crate::models::conv_stack::check_size("attention", what, &[n, job.dim])?;
    }
    if job.reps == 0 || job.reps > 10_000 {
        return Err(Error::arg(
            "--reps",
            format!("{} is not between 1 and 10000", job.reps),
        ));
    }
    Ok(AttentionShape {
        batch: job.batch,
        queries: job.tokens,
        keys: s,
        heads: job.heads,
        head_dim: job.dim / job.heads,
    })
}

fn weights(d: usize, rng: &mut rand_chacha::ChaCha8Rng) -> MhaWeights {
    let bound = 1.0 / (d as f32).sqrt();
    let mut u =
        |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-bound..bound)).collect() };
    MhaWeights {
        d_model: d,
        wq: u(d * d),
        bq: u(d),
        wk: u(d * d),
        bk: u(d),
        wv: u(d * d),
        bv: u(d),
        wo: u(d * d),
        bo: u(d),
    }
}

pub fn run(gpu: &Gpu, job: &AttentionJob) -> Result<AttentionReport> {
    let shape = validate(job)?;
    let (b, l, s, d) = (shape.batch, shape.queries, shape.keys, job.dim);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(job.seed);
    let w = weights(d, &mut rng);
    let xq: Vec<f32> = (0..b * l * d)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    let xkv: Option<Vec<f32>> = job.kv_tokens.map(|_| {
        (0..b * s * d)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect()
    });
    let up = |name: &str, shape: &[usize], v: &[f32]| Tensor::upload(gpu, name, shape, v);
    let wt = super::upload_mha(gpu, &w)?;
    let xq_t = up("queries", &[b, l, d], &xq)?;
    let xkv_t = match &xkv {
        Some(v) => up("keys/values", &[b, s, d], v)?,
        None => xq_t.clone(),
    };
    // Which query rows the reference computes.
    let total_rows = b * l;
    let rows: Vec<(usize, usize)> = if total_rows <= job.max_checked_rows {
        (0..total_rows).map(|r| (r / l, r % l)).collect()
    } else {
        let mut picked = sample(&mut rng, total_rows, job.max_checked_rows).into_vec();
        picked.sort_unstable();
        picked.into_iter().map(|r| (r / l, r % l)).collect()
    };
    let xq_ref = RefTensor::from_f32(&[b, l, d], &xq);
    let xkv_ref = xkv.as_ref().map(|v| RefTensor::from_f32(&[b, s, d], v));
    let masks = Masks {
        causal: job.causal,
        keys: None,
    };
    let mask = Mask {
        causal: job.causal,
        keys: None,
    };
    let mut paths = Vec::new();
    for &path in &job.paths {
        let outcome = (|| {
            let mut plan = Plan::new();
            let y = mha_forward(
                gpu,
                &mut plan,
                "attention",
                path,
                job.heads,
                &wt,
                &xq_t,
                &xkv_t,
                &mask,
                None,
            )?;
            let timing = time_plan(gpu, &plan, 1, job.reps)?;
            let out = y.download(gpu)?;
            let order = if path == AttentionPath::Fused {
                Order::Online
            } else {
                Order::Stored
            };
            let reference = mha_rows(
                &w,
                &xq_ref,
                xkv_ref.as_ref().unwrap_or(&xq_ref),
                job.heads,
                &masks,
                None,
                order,
                &rows,
            );
            let got: Vec<f32> = rows
                .iter()
                .flat_map(|&(bb, i)| out[(bb * l + i) * d..(bb * l + i + 1) * d].iter().copied())
                .collect();
            Ok((compare(&got, &reference), timing))
        })();
        paths.push(PathResult { path, outcome });
    }
    let proj = 2 * (2 * b * l * d * d + 2 * b * s * d * d) as u64;
    Ok(AttentionReport {
        adapter: gpu.summary(),
        job: job.clone(),
        shape,
        flops: proj + shape.core_flops(),
        checked_rows: rows.len(),
        total_rows,
        paths,
    })
}
