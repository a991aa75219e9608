//! `wgsl-nn conv --dtype f16`: the stack on float16 storage, checked
//! against the f64 reference with float16's charges and timed.

use super::conv::{ConvJob, Prepared};
use crate::check::{compare_f16, Check};
use crate::cpu::half::as_f16;
use crate::cpu::{RefTensor, RefTime};
use crate::dtype::F16Path;
use crate::error::Result;
use crate::gpu::timer::{time_plans, PlanTiming};
use crate::gpu::{Gpu, Plan};
use crate::models::conv_stack::ConvStack;
use crate::tensor::Tensor;

/// What a float16 conv run found.
pub struct ConvF16Report {
    /// `"<adapter name> (<backend>)"`.
    pub adapter: String,
    /// How the kernels read float16.
    pub path: F16Path,
    /// The stack run.
    pub stack: ConvStack,
    /// The GPU's output (float16 values, as f32), NCHW.
    pub output: Vec<f32>,
    /// Output against the reference.
    pub check: Check,
    /// GPU timing of the whole stack.
    pub timing: PlanTiming,
    /// The f64 reference's time and threads.
    pub reference: RefTime,
    /// The seed of weights and input (when they were drawn).
    pub seed: u64,
    /// Where the weights and the input came from.
    pub weights_from: String,
    /// Where the input came from.
    pub input_from: String,
    /// The plan, for `--explain`.
    pub explain: String,
}

/// Runs a prepared job on float16 storage along `path`.
///
/// # Errors
///
/// A layer without a float16 kernel (named), and shape or device errors.
pub fn run_f16(
    gpu: &Gpu,
    job: &ConvJob,
    prepared: Prepared,
    path: F16Path,
) -> Result<ConvF16Report> {
    let (stack, input, weights_from, input_from) = prepared;
    stack.check_f16()?;
    let x16 = as_f16(&input);
    let weights = stack.upload_f16(gpu)?;
    let xt = Tensor::upload_f16(gpu, "input", &stack.input_shape, &x16)?;
    let mut plan = Plan::new();
    let y = stack.forward_gpu_f16(gpu, &weights, &xt, &mut plan, path)?;
    let timing = time_plans(gpu, std::slice::from_ref(&plan), 1, job.reps)?;
    let output = y.download(gpu)?;
    let (reference, ref_time) =
        RefTime::of(|| stack.forward_ref_f16(&RefTensor::from_f32(&stack.input_shape, &x16)));
    let check = compare_f16(&output, &reference);
    Ok(ConvF16Report {
        adapter: format!("{} ({:?})", gpu.info.name, gpu.info.backend),
        path,
        explain: plan.explain(),
        stack,
        output,
        check,
        timing,
        reference: ref_time,
        seed: job.seed,
        weights_from,
        input_from,
    })
}
