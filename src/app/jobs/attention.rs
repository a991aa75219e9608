//! The job behind `wgsl-nn attention`: one multi-head attention layer
//! (projections and core) on the GPU by each requested path, checked against
//! the f64 reference (on a seeded sample of query rows when the sequence is
//! long) and timed.

use crate::app::io::attention::AttentionData;
use crate::check::{compare, Check};
use crate::cpu::attention::{mha_rows, Masks, MhaWeights};
use crate::cpu::{RefTensor, RefTime};
use crate::error::{Error, Result};
use crate::gpu::timer::{time_plans_beside, PlanTiming};
use crate::gpu::{AdapterSummary, Gpu, Plan};
use crate::ops::attention::{mha_forward, AttentionPath, AttentionShape};
use crate::ops::softmax::Mask;
use crate::tensor::Tensor;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

/// What `wgsl-nn attention` runs: one `nn.MultiheadAttention(dim, heads,
/// batch_first=True)` layer on queries [batch, tokens, dim], by each of
/// `paths`, checked and timed. The default is batch 1, 128 tokens, D 512,
/// 8 heads, both paths, 5 repetitions.
#[derive(Debug, Clone)]
pub struct AttentionJob {
    /// Sequences B (`--batch`), 1 to 2^20.
    pub batch: usize,
    /// Query tokens L per sequence (`--tokens`), 1 to 2^20; also the keys'
    /// count for self-attention.
    pub tokens: usize,
    /// Keys and values from a second sequence of this length (cross-attention).
    pub kv_tokens: Option<usize>,
    /// Model width D (`--dim`), 1 to 2^16; a multiple of `heads`.
    pub dim: usize,
    /// Heads H (`--heads`); each gets D/H features.
    pub heads: usize,
    /// Query i sees only keys j <= i (PyTorch's causal mask).
    pub causal: bool,
    /// The GPU paths run, each checked and timed on its own.
    pub paths: Vec<AttentionPath>,
    /// Seeds the random weights, inputs and the sample of checked rows.
    pub seed: u64,
    /// Timed repetitions per path (1 to 10000), after one warm-up run.
    pub reps: usize,
    /// Check every query row up to this many; beyond, a seeded sample of it.
    pub max_checked_rows: usize,
    /// Weights, inputs and key mask from files (see `attention_io`); what
    /// is absent is seeded random. Shapes must already agree with the job.
    pub data: Option<Arc<AttentionData>>,
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
            data: None,
        }
    }
}

/// Sizes beyond these are refused before any allocation.
const MAX_TOKENS: usize = 1 << 20;
const MAX_DIM: usize = 1 << 16;

/// How one path fared.
pub struct PathResult {
    /// The path run.
    pub path: AttentionPath,
    /// Err: the path refused (e.g. the score matrix exceeds a binding).
    pub outcome: std::result::Result<(Check, PlanTiming), Error>,
    /// The f64 reference of the checked rows, for this path's error model.
    pub reference: Option<RefTime>,
}

/// Everything `wgsl-nn attention` prints or writes as JSON about a run.
pub struct AttentionReport {
    /// The adapter the job ran on.
    pub adapter: AdapterSummary,
    /// The job as given.
    pub job: AttentionJob,
    /// Batch, queries, keys, heads and head size, from [`validate`].
    pub shape: AttentionShape,
    /// FLOPs of the whole layer (projections + core).
    pub flops: u64,
    /// Query rows (of D outputs each) compared with the reference: all of
    /// them up to `max_checked_rows`, else a seeded sample of that many.
    pub checked_rows: usize,
    /// Query rows in the output, B * L.
    pub total_rows: usize,
    /// One result per path of the job, in its order.
    pub paths: Vec<PathResult>,
    /// The GPU's whole output [B, L, D]: the fused path's if it ran, else
    /// the composed path's.
    pub output: Option<(AttentionPath, Vec<f32>)>,
    /// Where the weights and the inputs came from, in words.
    pub weights_from: String,
    /// Where the queries (and keys/values) came from: "--input-npy" or
    /// "seeded, seed N".
    pub inputs_from: String,
    /// Query rows that may attend to no key (all masked): wgsl-nn gives
    /// them zeros before the output projection, PyTorch NaN.
    pub rows_without_keys: usize,
}

/// FLOPs of the whole layer: the four projections and the core.
pub fn layer_flops(job: &AttentionJob, shape: &AttentionShape) -> u64 {
    let (b, l, s, d) = (
        shape.batch as u64,
        shape.queries as u64,
        shape.keys as u64,
        job.dim as u64,
    );
    4 * (b * l * d * d + b * s * d * d) + shape.core_flops()
}

/// The layer's shape, once the job's sizes are in range, D divides into
/// its heads, the host can hold the inputs and weights, and the loaded
/// files (if any) agree with the job.
///
/// # Errors
///
/// `Error::Argument` naming the flag for a size outside its range, a D
/// not divisible by the heads, `reps` outside 1..=10000, or a file whose
/// shape disagrees with the job; `Error::Shape` for a tensor over 2^28
/// elements.
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
                "model width {} is not divisible by {} heads; each head gets D/H features, so choose \
                 --heads dividing D (or another --dim)",
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
    // The four D x D projections live on the host too (seeded or loaded).
    crate::models::conv_stack::check_size(
        "--dim",
        "four D x D projection weights",
        &[4, job.dim, job.dim],
    )?;
    if job.reps == 0 || job.reps > 10_000 {
        return Err(Error::arg(
            "--reps",
            format!("{} is not between 1 and 10000", job.reps),
        ));
    }
    if let Some(data) = &job.data {
        check_data(
            data,
            job.batch,
            job.tokens,
            s,
            job.dim,
            job.kv_tokens.is_some(),
        )?;
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

/// Runs the job: validates it, takes the weights and inputs from
/// `job.data` or seeds them (weights uniform in ±1/sqrt(D), inputs in
/// [-1, 1)), then for each path plans `mha_forward`, times it
/// (`time_plan`: one warm-up, `reps` timed), downloads the output and
/// compares the checked rows with the f64 reference accumulated in that
/// path's order.
///
/// # Errors
///
/// Those of [`validate`], and upload errors. A path that fails (a limit
/// it exceeds, a device error) does not fail the job: its
/// [`PathResult::outcome`] holds the error.
pub fn run(gpu: &Gpu, job: &AttentionJob) -> Result<AttentionReport> {
    let shape = validate(job)?;
    let (b, l, s, d) = (shape.batch, shape.queries, shape.keys, job.dim);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(job.seed);
    let Inputs {
        w,
        weights_from,
        xq,
        inputs_from,
        xkv,
        keep,
    } = inputs(job, &shape, &mut rng);
    let up = |name: &str, shape: &[usize], v: &[f32]| Tensor::upload(gpu, name, shape, v);
    let wt = crate::models::upload_mha(gpu, &w)?;
    let xq_t = up("queries", &[b, l, d], &xq)?;
    let xkv_t = match &xkv {
        Some(v) => up("keys/values", &[b, s, d], v)?,
        None => xq_t.clone(),
    };
    let keep_t = keep
        .as_deref()
        .map(|v| up("key padding mask", &[b, s], v))
        .transpose()?;
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
        keys: keep.as_deref(),
    };
    let mask = Mask {
        causal: job.causal,
        keys: keep_t.as_ref(),
    };
    let mut paths = Vec::new();
    let mut output = None;
    for &path in &job.paths {
        let mut reference_time = None;
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
            let order = path.order();
            let (timing, (reference, ref_time)) =
                time_plans_beside(gpu, std::slice::from_ref(&plan), 1, job.reps, || {
                    RefTime::of(|| {
                        mha_rows(
                            &w,
                            &xq_ref,
                            xkv_ref.as_ref().unwrap_or(&xq_ref),
                            job.heads,
                            &masks,
                            None,
                            order,
                            &rows,
                        )
                    })
                })?;
            let out = y.download(gpu)?;
            reference_time = Some(ref_time.beside());
            let got: Vec<f32> = rows
                .iter()
                .flat_map(|&(bb, i)| out[(bb * l + i) * d..(bb * l + i + 1) * d].iter().copied())
                .collect();
            Ok((compare(&got, &reference), timing, out))
        })();
        let outcome = outcome.map(|(check, timing, out)| {
            if output.is_none() || path == AttentionPath::Fused {
                output = Some((path, out));
            }
            (check, timing)
        });
        paths.push(PathResult {
            path,
            outcome,
            reference: reference_time,
        });
    }

    // Row i of batch bb sees key j when the mask keeps j and (causal) j <= i;
    // with the first kept key at j0 that is every row i >= j0.
    let rows_without_keys = (0..b)
        .map(|bb| {
            let first = match &keep {
                Some(k) => k[bb * s..(bb + 1) * s].iter().position(|&v| v != 0.0),
                None => Some(0),
            };
            match first {
                None => l,
                Some(j0) if job.causal => j0.min(l),
                Some(_) => 0,
            }
        })
        .sum();
    Ok(AttentionReport {
        adapter: gpu.summary(),
        job: job.clone(),
        shape,
        flops: layer_flops(job, &shape),
        checked_rows: rows.len(),
        total_rows,
        paths,
        output,
        weights_from,
        inputs_from,
        rows_without_keys,
    })
}

/// The layer's weights, queries, keys/values (cross-attention) and key
/// mask (1 = kept, [B, S]): from the job's files, else seeded draws.
pub(crate) struct Inputs {
    pub w: MhaWeights,
    pub weights_from: String,
    pub xq: Vec<f32>,
    pub inputs_from: String,
    pub xkv: Option<Vec<f32>>,
    pub keep: Option<Vec<f32>>,
}

pub(crate) fn inputs(
    job: &AttentionJob,
    shape: &AttentionShape,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> Inputs {
    let (b, l, s, d) = (shape.batch, shape.queries, shape.keys, job.dim);
    let data = job.data.as_deref().cloned().unwrap_or_default();
    let seeded = format!("seeded, seed {}", job.seed);
    let (w, weights_from) = match data.weights {
        Some(w) => (w, "--params".to_string()),
        None => (weights(d, rng), seeded.clone()),
    };
    let mut random =
        |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect() };
    let (xq, inputs_from) = match data.queries {
        Some((v, _)) => (v, "--input-npy".to_string()),
        None => (random(b * l * d), seeded),
    };
    let xkv: Option<Vec<f32>> = match data.kv {
        Some((v, _)) => Some(v),
        None => job.kv_tokens.map(|_| random(b * s * d)),
    };
    // A [1, S] mask applies to every batch, as a [S] one does in PyTorch.
    let keep: Option<Vec<f32>> = data
        .keep_keys
        .map(|(v, [mb, _])| if mb == b { v } else { v.repeat(b) });
    Inputs {
        w,
        weights_from,
        xq,
        inputs_from,
        xkv,
        keep,
    }
}

/// Files and job must describe the same layer; the CLI derives the job from
/// the files, so a mismatch here is a caller's bug reported as an error.
fn check_data(
    data: &AttentionData,
    b: usize,
    l: usize,
    s: usize,
    d: usize,
    cross: bool,
) -> Result<()> {
    let mismatch = |what: &str, got: String, want: String| {
        Error::arg(
            what,
            format!("has shape {got} but the layer is {want}; make them agree"),
        )
    };
    if let Some(w) = &data.weights {
        if w.d_model != d {
            return Err(mismatch(
                "--params",
                format!("D = {}", w.d_model),
                format!("D = {d}"),
            ));
        }
    }
    if let Some((_, sh)) = &data.queries {
        if *sh != [b, l, d] {
            return Err(mismatch(
                "--input-npy",
                format!("{sh:?}"),
                format!("[{b}, {l}, {d}]"),
            ));
        }
    }
    if let Some((_, sh)) = &data.kv {
        if !cross || *sh != [b, s, d] {
            return Err(mismatch(
                "--kv-npy",
                format!("{sh:?}"),
                format!("[{b}, {s}, {d}]"),
            ));
        }
    }
    if let Some((_, [mb, ms])) = &data.keep_keys {
        if (*mb != 1 && *mb != b) || *ms != s {
            return Err(mismatch(
                "--key-padding-mask-npy",
                format!("[{mb}, {ms}]"),
                format!("[{b}, {s}] (batch, keys; a [{s}] mask serves every batch)"),
            ));
        }
    }
    Ok(())
}
