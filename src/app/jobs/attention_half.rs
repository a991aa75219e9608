//! `wgsl-nn attention --dtype f16`: the layer on float16 storage (Q, K, V
//! and output projections as float16 products with float32 sums, the fused
//! float16 attention between them), every query row checked against the
//! f64 reference with each float16 store charged, and timed.

use super::attention::{inputs, validate, AttentionJob, Inputs};
use crate::check::{compare_f16, Check};
use crate::cpu::attention::{sdpa, Masks, Order};
use crate::cpu::half::{as_f16, stored_f16};
use crate::cpu::matmul::linear as linear_ref;
use crate::cpu::{RefTensor, RefTime};
use crate::dtype::F16Path;
use crate::error::Result;
use crate::gpu::timer::{time_plans, PlanTiming};
use crate::gpu::{Gpu, Plan};
use crate::ops::attention::half::sdpa_f16_forward;
use crate::ops::attention::AttentionShape;
use crate::ops::matmul::Activation;
use crate::ops::softmax::Mask;
use crate::tensor::Tensor;
use rand::SeedableRng;

/// What a float16 attention run found.
pub struct AttentionF16Report {
    /// `"<adapter name> (<backend>)"`.
    pub adapter: String,
    /// How the kernels read float16.
    pub path: F16Path,
    /// The layer's sizes.
    pub shape: AttentionShape,
    /// The GPU's output (float16 values, as f32), [B, L, D].
    pub output: Vec<f32>,
    /// Every query row against the reference.
    pub check: Check,
    /// GPU timing of the whole layer.
    pub timing: PlanTiming,
    /// The f64 reference's time and threads.
    pub reference: RefTime,
    /// Where the weights came from.
    pub weights_from: String,
    /// Where the inputs came from.
    pub inputs_from: String,
    /// The plan, for `--explain`.
    pub explain: String,
}

/// x [.., D] (x) W [D, D] + b on float16 storage, float32 sums.
fn linear_f16(
    gpu: &Gpu,
    plan: &mut Plan,
    layer: &str,
    x: &Tensor,
    (w, b): (&Tensor, &Tensor),
    path: F16Path,
) -> Result<Tensor> {
    crate::ops::matmul::half::linear_f16(gpu, plan, layer, x, w, Some(b), path)
}

/// Runs the job's layer on float16 storage along `path` (fused attention;
/// `--path` does not apply).
///
/// # Errors
///
/// Shapes the float16 kernels refuse (an odd head size, too many keys for
/// one invocation here), and shape or device errors.
pub fn run_f16(gpu: &Gpu, job: &AttentionJob, path: F16Path) -> Result<AttentionF16Report> {
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
    // Everything as float16 holds it: the reference starts from these.
    let h = |v: &[f32]| as_f16(v);
    let (wq, wk, wv, wo) = (h(&w.wq), h(&w.wk), h(&w.wv), h(&w.wo));
    let (bq, bk, bv, bo) = (h(&w.bq), h(&w.bk), h(&w.bv), h(&w.bo));
    let xq = h(&xq);
    let xkv = xkv.as_deref().map(h);
    let up = |name: &str, shape: &[usize], v: &[f32]| Tensor::upload_f16(gpu, name, shape, v);
    let pair = |name: &str, wt: &[f32], bt: &[f32]| -> Result<(Tensor, Tensor)> {
        Ok((up(name, &[d, d], wt)?, up(name, &[d], bt)?))
    };
    let (tq, tk, tv, to) = (
        pair("W_q", &wq, &bq)?,
        pair("W_k", &wk, &bk)?,
        pair("W_v", &wv, &bv)?,
        pair("W_o", &wo, &bo)?,
    );
    let xq_t = up("queries", &[b, l, d], &xq)?;
    let xkv_t = match &xkv {
        Some(v) => up("keys/values", &[b, s, d], v)?,
        None => xq_t.clone(),
    };
    let keep_t = keep
        .as_deref()
        .map(|v| up("key padding mask", &[b, s], v))
        .transpose()?;
    let mask = Mask {
        causal: job.causal,
        keys: keep_t.as_ref(),
    };
    let mut plan = Plan::new();
    let q = linear_f16(
        gpu,
        &mut plan,
        "attention Q proj",
        &xq_t,
        (&tq.0, &tq.1),
        path,
    )?;
    let k = linear_f16(
        gpu,
        &mut plan,
        "attention K proj",
        &xkv_t,
        (&tk.0, &tk.1),
        path,
    )?;
    let v = linear_f16(
        gpu,
        &mut plan,
        "attention V proj",
        &xkv_t,
        (&tv.0, &tv.1),
        path,
    )?;
    let o = sdpa_f16_forward(
        gpu,
        &mut plan,
        "attention",
        job.heads,
        &q,
        &k,
        &v,
        &mask,
        path,
    )?;
    let y = linear_f16(
        gpu,
        &mut plan,
        "attention out proj",
        &o,
        (&to.0, &to.1),
        path,
    )?;
    let timing = time_plans(gpu, std::slice::from_ref(&plan), 1, job.reps)?;
    let output = y.download(gpu)?;
    let (reference, ref_time) = RefTime::of(|| {
        let xq_r = RefTensor::from_f32(&[b, l, d], &xq);
        let xkv_r = xkv.as_ref().map(|v| RefTensor::from_f32(&[b, s, d], v));
        let xkv_r = xkv_r.as_ref().unwrap_or(&xq_r);
        let proj = |x: &RefTensor, wt: &[f32], bt: &[f32]| {
            stored_f16(linear_ref(x, wt, d, d, Some(bt), Activation::None))
        };
        let (qr, kr, vr) = (
            proj(&xq_r, &wq, &bq),
            proj(xkv_r, &wk, &bk),
            proj(xkv_r, &wv, &bv),
        );
        let masks = Masks {
            causal: job.causal,
            keys: keep.as_deref(),
        };
        let or = stored_f16(sdpa(&qr, &kr, &vr, job.heads, &masks, Order::Online));
        proj(&or, &wo, &bo)
    });
    Ok(AttentionF16Report {
        adapter: format!("{} ({:?})", gpu.info.name, gpu.info.backend),
        path,
        shape,
        check: compare_f16(&output, &reference),
        output,
        timing,
        reference: ref_time,
        weights_from,
        inputs_from,
        explain: plan.explain(),
    })
}
